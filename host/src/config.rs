//! Settings of a deployment and of the server, with their defaults.
//!
//! Plain data: the CLI or a deployments file ([`crate::manifest`]) fills these in; [`crate::deployment`] and
//! [`crate::http`] read them.

use std::path::PathBuf;
use std::time::Duration;

/// Default address; the Azure ML scoring server listens on port 5001 too.
pub const DEFAULT_ADDR: &str = "127.0.0.1:5001";

/// One entry script with its model folder and limits.
#[derive(Debug, Clone)]
pub struct DeploymentSettings {
    /// Name used in logs (and, with several deployments, in routes).
    pub name: String,
    /// The entry script: a Wasm component targeting the `scorer` world.
    pub plugin: PathBuf,
    /// The model folder, mounted read-only in the guest as `$AZUREML_MODEL_DIR`.
    pub model_dir: PathBuf,
    /// Resource limits for each instance and request.
    pub limits: Limits,
    /// What the Swagger/OpenAPI documents say about the deployment.
    pub swagger: SwaggerSettings,
    /// Origins allowed to call the deployment from a browser (CORS), like the Azure ML
    /// server's `AML_CORS_ORIGINS`: exact origins such as `https://app.example.com`, or `*`
    /// for any. Default: none (no CORS headers are added).
    pub cors_origins: Vec<String>,
    /// Keys that open the deployment (`Authorization: Bearer <key>`): primary and secondary.
    /// Empty: no authentication (the single-deployment default, as the Azure ML server itself
    /// checks no key).
    pub keys: Vec<String>,
    /// Adaptive batching of typed requests. Default: off.
    pub batch: BatchSettings,
}

/// Adaptive batching: concurrent typed requests joined along the first dimension of their
/// tensor inputs into one `run`, the result split back by rows (see `crate::batch`). Needs a
/// script that declares itself batchable; a deployment that sets `max_batch_size` for one
/// that does not refuses to load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchSettings {
    /// Most rows (first dimension of the tensor inputs) in one `run`; a batch is scored as
    /// soon as it holds this many. 0 or 1: batching off. Default: 0 (off).
    pub max_batch_size: usize,
    /// Longest a request waits for others to join its batch, from the first request of the
    /// batch. Default: 2 ms.
    pub max_batch_time: Duration,
}

impl BatchSettings {
    /// Whether requests are batched.
    pub fn enabled(&self) -> bool {
        self.max_batch_size > 1
    }
}

impl Default for BatchSettings {
    fn default() -> Self {
        BatchSettings {
            max_batch_size: 0,
            max_batch_time: Duration::from_millis(2),
        }
    }
}

impl DeploymentSettings {
    /// A deployment of `plugin` with `model_dir`, everything else at its default: default
    /// limits and documents, no CORS origins, no keys.
    pub fn new(name: impl Into<String>, plugin: PathBuf, model_dir: PathBuf) -> Self {
        DeploymentSettings {
            name: name.into(),
            plugin,
            model_dir,
            limits: Limits::default(),
            swagger: SwaggerSettings::default(),
            cors_origins: Vec::new(),
            keys: Vec::new(),
            batch: BatchSettings::default(),
        }
    }
}

/// Settings of the generated Swagger/OpenAPI documents.
#[derive(Debug, Clone)]
pub struct SwaggerSettings {
    /// `info.title`. Default: `ML service` (the Azure ML server's `SERVICE_NAME` default).
    pub title: String,
    /// `info.version`. Default: `1.0` (`SERVICE_VERSION`).
    pub version: String,
    /// Prefix of the documented paths, e.g. `/api/v1/service/NAME`. Default: none
    /// (`SERVICE_PATH_PREFIX`).
    pub path_prefix: String,
    /// Whether the samples appear as `example` values. Default: shown, as Azure ML does.
    pub samples: SampleVisibility,
    /// A folder whose `swagger.json` or `swagger2.json` (version 2), `swagger3.json` (3.0) and
    /// `swagger3.1.json` (3.1) are served instead of the generated documents, as the Azure ML
    /// server serves those of its app root (`AML_APP_ROOT`). Default: none.
    pub app_root: Option<PathBuf>,
}

impl Default for SwaggerSettings {
    fn default() -> Self {
        SwaggerSettings {
            title: "ML service".to_owned(),
            version: "1.0".to_owned(),
            path_prefix: String::new(),
            samples: SampleVisibility::Show,
            app_root: None,
        }
    }
}

/// Whether sample values may appear in the Swagger page. The seed warns that samples are
/// public: redact them when they come from private data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SampleVisibility {
    /// The samples are the documents' `example` values.
    #[default]
    Show,
    /// Examples keep their structure and types, with every value replaced by a placeholder
    /// (`0`, `0.0`, `"string"`, `false`).
    Redact,
}

/// Limits that keep one entry script from hurting the host or other requests.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Most instances (each initialised once): the number of requests scored at the same
    /// time. The pool grows up to this under load. Default: 2 (one per core of the reference
    /// machine).
    pub instances: usize,
    /// Instances kept even when idle (started at load). `None`: as many as `instances` (a
    /// fixed pool). Clamped to `instances`. Default: `None` (the `--config` file's default is
    /// 0, see [`crate::manifest`]).
    pub min_instances: Option<usize>,
    /// Idle instances above `min_instances` are dropped once unused this long (scale to zero
    /// when `min_instances` is 0); the next request starts one again. `None`: never. Default:
    /// `None` (the `--config` file's default is 300 s).
    pub idle_timeout: Option<Duration>,
    /// Wall-clock budget of one `run` call. Default: 60 s (Azure ML's `SCORING_TIMEOUT_MS`
    /// defaults to an hour, far too long to hold a connection).
    pub timeout: Duration,
    /// Wall-clock budget of `init` (model loading). Default: 300 s, gunicorn's worker timeout
    /// in the Azure ML server.
    pub init_timeout: Duration,
    /// How long a request may wait for a free instance before it gets 503 with `Retry-After`;
    /// a request whose expected wait (requests ahead × recent run time ÷ instances) is already
    /// longer is refused at once. Default: 2 s (at 1000 connections on the ridge example the
    /// real wait stays in milliseconds; see BENCHMARKS.md).
    pub queue_timeout: Duration,
    /// How many requests may wait for a free instance at once; more get 503 at once. A cap
    /// for memory, not the admission rule (that is `queue_timeout`). Default: 4096.
    pub queue: usize,
    /// How many bytes of request bodies may wait for a free instance at once; more get 503 at
    /// once (a single request may always wait). Default: 256 MiB.
    pub queue_memory: usize,
    /// Linear memory one instance may grow to, in bytes. Default: 512 MiB.
    pub max_memory: usize,
    /// Largest request body accepted, in bytes; larger gets 413. Default: 8 MiB (the Azure ML
    /// server has no limit; 8 MiB holds a 40 000 × 10 float64 JSON matrix).
    pub max_body: usize,
    /// Whether the entry script may load ONNX models from bytes through `wasi:nn`'s
    /// `graph.load` (parsed in the host, outside the instance's memory limit). Default: false,
    /// only the model folder's models, loaded once at load time (`load-by-name`).
    pub nn_load_bytes: bool,
}

impl Limits {
    /// Instances kept when idle: `min_instances`, else `instances`, at most `instances`.
    pub fn min(&self) -> usize {
        self.min_instances.unwrap_or(self.instances).min(self.max())
    }

    /// Most instances: `instances`, at least 1.
    pub fn max(&self) -> usize {
        self.instances.max(1)
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            instances: 2,
            min_instances: None,
            idle_timeout: None,
            timeout: Duration::from_secs(60),
            init_timeout: Duration::from_secs(300),
            queue_timeout: Duration::from_secs(2),
            queue: 4096,
            queue_memory: 256 << 20,
            max_memory: 512 << 20,
            max_body: 8 << 20,
            nn_load_bytes: false,
        }
    }
}

/// Process-wide settings of the Wasm runtime.
#[derive(Debug, Clone, Default)]
pub struct RuntimeSettings {
    /// Most bytes of linear memory and tables all instances together may hold. `None`: a
    /// default derived from the machine's (or its cgroup's) memory, see
    /// [`default_host_memory`].
    pub max_host_memory: Option<usize>,
    /// Where compiled components are cached (`NAME.cwasm` keyed by content hash and engine
    /// settings). Default: `$XDG_CACHE_HOME/scorehost`, else `$HOME/.cache/scorehost`, else a
    /// folder in the system temp dir.
    pub cache_dir: Option<PathBuf>,
    /// Boot every wasi-python instance (the script's imports and `init()` each time) instead
    /// of restoring later ones from a snapshot taken after the first one's `init()`.
    pub no_python_snapshots: bool,
}

impl RuntimeSettings {
    /// The cache folder to use: the configured one or the platform default.
    pub fn cache_dir(&self) -> PathBuf {
        if let Some(dir) = &self.cache_dir {
            return dir.clone();
        }
        let env_dir = |var: &str| {
            std::env::var_os(var)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        env_dir("XDG_CACHE_HOME")
            .or_else(|| env_dir("HOME").map(|home| home.join(".cache")))
            .unwrap_or_else(std::env::temp_dir)
            .join("scorehost")
    }
}

/// The host-wide memory budget when none is set: three quarters of the memory the process may
/// use (the cgroup's `memory.max` when set, else the machine's `MemTotal`), leaving a quarter
/// for the host's own heap, compiled code and the page cache. 3 GiB (of an assumed 4) when neither can be read.
pub fn default_host_memory() -> usize {
    let cgroup = std::fs::read_to_string("/sys/fs/cgroup/memory.max")
        .ok()
        .and_then(|text| text.trim().parse::<u64>().ok());
    let machine = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|line| line.strip_prefix("MemTotal:"))
                .and_then(|rest| {
                    rest.trim()
                        .trim_end_matches("kB")
                        .trim()
                        .parse::<u64>()
                        .ok()
                })
                .map(|kib| kib * 1024)
        });
    let total = match (cgroup, machine) {
        (Some(c), Some(m)) => c.min(m),
        (Some(c), None) => c,
        (None, Some(m)) => m,
        (None, None) => 4 << 30,
    };
    usize::try_from(total / 4 * 3).unwrap_or(usize::MAX)
}
