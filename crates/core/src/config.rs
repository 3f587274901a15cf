//! Settings of a deployment and of the server, with their defaults.
//!
//! Plain data: the CLI or a deployments file fills these in; [`crate::deployment`] and the
//! HTTP surface read them. The runtime's and the documents' settings live in their crates and
//! are re-exported here.

use std::path::PathBuf;
use std::time::Duration;

pub use scorehost_runtime::{NnBackend, RuntimeSettings, default_host_memory};
pub use scorehost_schema::{SampleVisibility, SwaggerSettings};

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
/// tensor inputs into one `run`, the result split back by rows (see [`crate::batch`]). Needs a
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

/// Limits that keep one entry script from hurting the host or other requests.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Most instances (each initialised once): the number of requests scored at the same
    /// time. The pool grows up to this under load. Default: 2 (one per core of the reference
    /// machine).
    pub instances: usize,
    /// Instances kept even when idle (started at load). `None`: as many as `instances` (a
    /// fixed pool). Clamped to `instances`. Default: `None` (the `--config` file's default is
    /// 0, see the deployments file).
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
    /// Which engine runs the model folder's ONNX models. Default: `auto` (onnxruntime when its
    /// library is found, else tract).
    pub nn_backend: NnBackend,
    /// Intra-op threads of each onnxruntime session. Default: 1, so one request cannot take
    /// every core of a many-tenant host.
    pub nn_threads: usize,
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
            nn_backend: NnBackend::Auto,
            nn_threads: 1,
        }
    }
}
