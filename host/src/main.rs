//! The `scorehost` command: parses the command line and hands over to the library.

use std::io::IsTerminal as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use scorehost::{
    Deployment, DeploymentSettings, Limits, Runtime, RuntimeSettings, SampleVisibility, Server,
    SwaggerSettings,
};

/// Exit code when the entry script cannot start (the Azure ML server exits with 3 too).
const EXIT_NOT_READY: u8 = 3;

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
    /// Serve one entry script at /score, like the Azure ML scoring server.
    Serve(ServeArgs),
}

#[derive(clap::Args)]
struct ServeArgs {
    /// The entry script: a Wasm component of the scorehost:plugin/scorer world.
    #[arg(long, env = "SCOREHOST_PLUGIN")]
    plugin: PathBuf,
    /// The model folder, mounted read-only in the guest as $AZUREML_MODEL_DIR.
    #[arg(long, env = "AZUREML_MODEL_DIR")]
    model_dir: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = scorehost::config::DEFAULT_ADDR)]
    addr: SocketAddr,
    /// Warm instances (requests scored at the same time).
    #[arg(long, default_value_t = Limits::default().instances)]
    instances: usize,
    /// Time budget of one run() call, in milliseconds.
    #[arg(long, env = "SCORING_TIMEOUT_MS", default_value_t = Limits::default().timeout.as_millis() as u64)]
    timeout_ms: u64,
    /// Linear memory limit per instance, in MiB.
    #[arg(long, default_value_t = Limits::default().max_memory >> 20)]
    max_memory_mib: usize,
    /// Largest request body, in bytes.
    #[arg(long, default_value_t = Limits::default().max_body)]
    max_body: usize,
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
    #[arg(long, env = "AML_CORS_ORIGINS", value_delimiter = ',')]
    cors_origins: Vec<String>,
    /// Where compiled components are cached.
    #[arg(long, env = "SCOREHOST_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
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
enum LogFormat {
    Text,
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve(args),
    }
}

fn serve(args: ServeArgs) -> ExitCode {
    init_logging(args.log_format);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("scorehost: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let settings = DeploymentSettings {
            name: "default".to_owned(),
            plugin: args.plugin,
            model_dir: args.model_dir,
            limits: Limits {
                instances: args.instances,
                timeout: Duration::from_millis(args.timeout_ms),
                max_memory: args.max_memory_mib << 20,
                max_body: args.max_body,
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
            },
            cors_origins: args
                .cors_origins
                .iter()
                .map(|o| o.trim().to_owned())
                .filter(|o| !o.is_empty())
                .collect(),
        };
        let loaded = async {
            let wasm = Runtime::new(&RuntimeSettings {
                cache_dir: args.cache_dir,
            })?;
            Deployment::load(&wasm, settings).await
        };
        let deployment = match loaded.await {
            Ok(d) => Arc::new(d),
            Err(e) => {
                tracing::error!("the entry script cannot serve: {e:#}");
                return ExitCode::from(EXIT_NOT_READY);
            }
        };
        let server = match Server::start(args.addr, deployment).await {
            Ok(s) => s,
            Err(e) => {
                tracing::error!("cannot listen on {}: {e}", args.addr);
                return ExitCode::FAILURE;
            }
        };
        println!("Listening on http://{}", server.local_addr());
        tracing::info!(addr = %server.local_addr(), "ready");
        shutdown_signal().await;
        tracing::info!("shutting down");
        server.shutdown().await;
        ExitCode::SUCCESS
    })
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
