//! scorehost as a library: a [`Host`] made from settings, deployments loaded into it or
//! swapped, served on listeners the embedding application binds, inside its own tokio
//! runtime, or scored directly without HTTP. The `scorehost` binary is this API behind a
//! command line.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::config::{DeploymentSettings, RuntimeSettings};
use crate::deployment::Deployment;
use crate::http::{Server, ServerOptions};
use crate::registry::{Registry, SwapError, SwapRequest};
use crate::runtime::Runtime;

/// One host: the Wasm runtime (engine, compile cache, host-wide memory budget) and the
/// deployments it serves. Cheap to clone; clones share everything.
///
/// ```no_run
/// use std::time::Duration;
///
/// use scorehost::scoring::{Input, Output};
/// use scorehost::{DeploymentSettings, Host, RuntimeSettings, ServerOptions};
///
/// # async fn example() -> anyhow::Result<()> {
/// let host = Host::new(&RuntimeSettings::default())?;
/// host.load(vec![DeploymentSettings::new(
///     "ridge",
///     "target/plugins/wasm32-wasip2/release/ridge.wasm".into(),
///     "plugins/ridge/model".into(),
/// )])
/// .await?;
///
/// // Directly, without HTTP: the same checks and answers as `/score`.
/// let ridge = host.deployment("ridge").expect("loaded above");
/// let body = br#"{"Inputs": {"input1": [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]]}}"#;
/// let scored = ridge.score("request-1", Input::Body(body)).await?;
/// if let Output::Json(text) = scored.output {
///     println!("{text} in {:?}", scored.run_time);
/// }
///
/// // Over HTTP, on a listener the application bound.
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// let server = host.serve(listener, ServerOptions::default())?;
/// println!("serving on http://{}", server.local_addr());
/// tokio::time::sleep(Duration::from_secs(1)).await;
/// server.shutdown().await;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Host {
    registry: Arc<Registry>,
}

/// What [`Host::run`] serves: the listeners, the deployments and how.
pub struct Service {
    /// Where clients connect.
    pub listener: TcpListener,
    /// Where a scraper reads `/metrics` without a key; `None`: only on `listener`, behind
    /// the admin key.
    pub metrics_listener: Option<TcpListener>,
    /// A second address for the same routes and the gRPC service (`--grpc-addr`), for clients
    /// and platforms that expect gRPC on a port of its own (Triton's 8001); `None`: only
    /// `listener`, which serves both.
    pub grpc_listener: Option<TcpListener>,
    /// How the routes behave.
    pub options: ServerOptions,
    /// What to load once the listeners answer.
    pub deployments: Vec<DeploymentSettings>,
    /// Reload a deployment whose plugin file changed, checking this often; `None`: never.
    pub watch: Option<Duration>,
}

/// Why [`Host::run`] ended without serving.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A deployment could not load; the host never became ready.
    #[error("cannot serve: {0:#}")]
    Load(anyhow::Error),
    /// A listener could not be served.
    #[error("cannot serve the listener: {0}")]
    Listen(std::io::Error),
}

impl Host {
    /// A host with no deployment yet.
    pub fn new(settings: &RuntimeSettings) -> anyhow::Result<Host> {
        Ok(Host {
            registry: Registry::new(Runtime::new(settings)?),
        })
    }

    /// Loads `deployments` one by one (compile or take from the cache, start the warm
    /// instances, run their `init`, read the schema). The first failure is returned and the
    /// host does not become ready.
    pub async fn load(&self, deployments: Vec<DeploymentSettings>) -> anyhow::Result<()> {
        self.registry.load_all(deployments).await
    }

    /// Loads a new version of deployment `name` beside the active one and switches to it
    /// without failing a request; a version that fails to load is refused and the active
    /// one keeps serving.
    pub async fn swap(
        &self,
        name: &str,
        change: SwapRequest,
    ) -> Result<Arc<Deployment>, SwapError> {
        self.registry.swap(name, change).await
    }

    /// Deployment `name`'s active version, to score directly ([`Deployment::score`]).
    pub fn deployment(&self, name: &str) -> Option<Arc<Deployment>> {
        self.registry.get(name)
    }

    /// Whether every deployment has loaded and each has a healthy instance.
    pub fn is_ready(&self) -> bool {
        self.registry.is_ready()
    }

    /// The deployments and their metrics.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// Serves the deployments over HTTP on `listener`, on a task of the current tokio
    /// runtime, until [`Server::shutdown`].
    pub fn serve(&self, listener: TcpListener, options: ServerOptions) -> std::io::Result<Server> {
        Server::on(listener, self.registry.clone(), options)
    }

    /// A server's whole life: answers on the listeners at once (readiness says no while the
    /// deployments load, which for a large model can take minutes), loads them, calls
    /// `ready` with the address, serves until `shutdown` completes, then stops accepting
    /// and lets the requests under way finish (30 s at most). Stopped while loading, it
    /// returns `Ok`.
    pub async fn run(
        &self,
        service: Service,
        shutdown: impl Future<Output = ()>,
        ready: impl FnOnce(SocketAddr),
    ) -> Result<(), RunError> {
        let grpc = match service.grpc_listener {
            Some(listener) => Some(
                self.serve(listener, service.options.clone())
                    .map_err(RunError::Listen)?,
            ),
            None => None,
        };
        let server = self
            .serve(service.listener, service.options)
            .map_err(RunError::Listen)?;
        let metrics = match service.metrics_listener {
            Some(listener) => Some(
                Server::metrics_on(listener, self.registry.clone()).map_err(RunError::Listen)?,
            ),
            None => None,
        };
        tracing::info!(addr = %server.local_addr(), "listening; loading the deployments");
        let mut shutdown = std::pin::pin!(shutdown);
        tokio::select! {
            loaded = self.load(service.deployments) => loaded.map_err(RunError::Load)?,
            () = &mut shutdown => {
                tracing::info!("stopped while loading");
                return Ok(());
            }
        }
        if let Some(interval) = service.watch {
            self.registry.watch(interval);
        }
        ready(server.local_addr());
        tracing::info!(addr = %server.local_addr(), "ready");
        shutdown.await;
        tracing::info!("shutting down: no new connections; finishing requests under way");
        server.shutdown().await;
        if let Some(grpc) = grpc {
            grpc.shutdown().await;
        }
        if let Some(metrics) = metrics {
            metrics.shutdown().await;
        }
        tracing::info!("stopped");
        Ok(())
    }
}
