//! The HTTP surface: a hyper 1 server speaking the Azure ML scoring server's protocol.
//!
//! - `routes`: dispatch, keys, the common headers.
//! - `score`: the `/score` and `/swagger.json` handlers of one deployment.
//! - `admin`: the deployment list and hot swap.
//! - `body`: body limits, the scoring payload, multipart forms.
//! - `cors`: CORS headers and preflights per deployment.
//! - `request_id`: `x-request-id`, `x-ms-request-id`, `x-ms-client-request-id`, `TraceId`.
//! - `error`: the one mapping from failures to status codes and JSON bodies.
//! - `tls`: HTTPS with rustls.

mod admin;
mod body;
mod cors;
mod error;
mod request_id;
mod routes;
mod score;
mod tls;

pub use tls::Tls;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use bytes::Bytes;
use http_body_util::Full;

use crate::registry::Registry;
use routes::{App, Role};

type HttpResponse = hyper::Response<Full<Bytes>>;

/// Content type of plain answers, as the Azure ML server sends them.
const TEXT_HTML: &str = "text/html; charset=utf-8";

/// How the server exposes the registry.
#[derive(Debug, Clone, Default)]
pub struct ServerOptions {
    /// The deployment also served at `/score` and `/swagger.json` (the `--plugin` shorthand).
    pub default_deployment: Option<String>,
    /// Key of the admin API; `None` turns the admin API off.
    pub admin_key: Option<String>,
    /// Serve HTTPS with this certificate; `None`: plain HTTP.
    pub tls: Option<Tls>,
    /// Collect the inputs and outputs of opted-in deployments; `None`: off.
    pub collect: Option<crate::collect::CollectSettings>,
    /// Leave out `x-ms-server-version` (the Azure ML server's
    /// `SERVER_VERSION_LOG_RESPONSE_ENABLED=false`). Default: sent.
    pub hide_server_version: bool,
}

/// How long a client may take to send its request headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);
/// How long shutdown waits for requests under way.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// A running server.
pub struct Server {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Server {
    /// Binds `addr` (port 0 picks a free port) and serves the registry's deployments on a
    /// background task.
    pub async fn start(
        addr: SocketAddr,
        registry: Arc<Registry>,
        options: ServerOptions,
    ) -> std::io::Result<Server> {
        let listener = TcpListener::bind(addr).await?;
        let collector = match options.collect.clone() {
            Some(settings) => Some(crate::collect::Collector::start(
                settings,
                registry.metrics().collect_dropped.clone(),
            )?),
            None => None,
        };
        let app = App {
            registry,
            options,
            role: Role::Main,
            collector,
        };
        Self::serve(listener, app)
    }

    /// Binds `addr` and serves only `/metrics` (without a key) and `/` there: a listener for
    /// the scraper that is not exposed where clients are (`--metrics-addr`).
    pub async fn start_metrics(
        addr: SocketAddr,
        registry: Arc<Registry>,
    ) -> std::io::Result<Server> {
        let listener = TcpListener::bind(addr).await?;
        let app = App {
            registry,
            options: ServerOptions::default(),
            role: Role::Metrics,
            collector: None,
        };
        Self::serve(listener, app)
    }

    fn serve(listener: TcpListener, app: App) -> std::io::Result<Server> {
        let addr = listener.local_addr()?;
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(accept_loop(listener, Arc::new(app), stopped));
        Ok(Server { addr, stop, task })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, lets requests under way finish (up to 30 s), then returns.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

async fn accept_loop(listener: TcpListener, app: Arc<App>, mut stopped: watch::Receiver<bool>) {
    let graceful = GracefulShutdown::new();
    let tls = app.options.tls.clone();
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stopped.changed() => break,
        };
        // Small responses must not wait for Nagle's algorithm.
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let watcher = graceful.watcher();
        match &tls {
            None => {
                tokio::spawn(serve_connection(TokioIo::new(stream), app, watcher));
            }
            Some(tls) => {
                let acceptor = tls.acceptor.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(tls::HANDSHAKE_TIMEOUT, acceptor.accept(stream))
                        .await
                    {
                        Ok(Ok(stream)) => {
                            serve_connection(TokioIo::new(stream), app, watcher).await;
                        }
                        // Plain HTTP on the TLS port, an unknown CA, a port scan: close it.
                        Ok(Err(e)) => tracing::debug!("TLS handshake failed: {e}"),
                        Err(_) => tracing::debug!("TLS handshake timed out"),
                    }
                });
            }
        }
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("shutdown grace period over; dropping open connections");
    }
}

/// Serves HTTP/1.1 on one connection (plain or TLS) until it closes or shutdown ends it.
async fn serve_connection<I>(io: TokioIo<I>, app: Arc<App>, watcher: Watcher)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req| {
        let app = app.clone();
        async move { Ok::<_, Infallible>(app.handle(req).await) }
    });
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .serve_connection(io, service);
    if let Err(e) = watcher.watch(connection).await {
        tracing::debug!("connection ended: {e}");
    }
}
