//! The HTTP surface: a hyper 1 server speaking the Azure ML scoring server's protocol.
//!
//! - `routes`: dispatch, keys, the common headers.
//! - `score`: the `/score` and `/swagger.json` handlers of one deployment.
//! - `oip`: the Open Inference Protocol v2 routes (`/v2…`) beside the Azure ML ones.
//! - `admin`: the deployment list and hot swap.
//! - `pages`: `/docs` (try a deployment in the browser) and `/console` (the operator's view).
//! - `body`: body limits, the scoring payload, multipart forms.
//! - `cors`: CORS headers and preflights per deployment.
//! - `request_id`: `x-request-id`, `x-ms-request-id`, `x-ms-client-request-id`, `TraceId`.
//! - `error`: the one mapping from failures to status codes and JSON bodies.
//! - `tls`: HTTPS with rustls.

mod admin;
mod body;
mod cors;
mod error;
mod grpc;
/// The Open Inference Protocol's gRPC messages (`inference` package), for clients and tools
/// that speak to the gRPC service (the benchmark's load generator).
pub use grpc::messages as grpc_messages;
mod oip;
mod pages;
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

use routes::{App, Role};
use scorehost_core::registry::Registry;

type HttpResponse = hyper::Response<Full<Bytes>>;

/// A request's body: hyper's, or one the host made itself (a gRPC call put in its REST form).
pub(crate) type RequestBody = http_body_util::Either<hyper::body::Incoming, Full<Bytes>>;

/// A scoring route's answer: the response, and the guest's run time when the route called
/// the guest (the rest of the request's time is the host's, in the metrics).
struct Routed {
    response: HttpResponse,
    run_time: Option<Duration>,
}

impl From<HttpResponse> for Routed {
    fn from(response: HttpResponse) -> Routed {
        Routed {
            response,
            run_time: None,
        }
    }
}

/// Content type of plain answers, as the Azure ML server sends them.
const TEXT_HTML: &str = "text/html; charset=utf-8";

/// The first value of each of `names` in `headers` (what `HeaderMap::get` gives), found in one
/// pass over the request's few fields. `get` hashes the name it looks up, and the ids read on
/// every request (`x-request-id`, `x-ms-…`) are custom names, hashed byte by byte (a standard
/// name's hash is cheap): one pass of comparisons costs a fraction of that.
fn first_values<'h, const N: usize>(
    headers: &'h hyper::HeaderMap,
    names: [&hyper::header::HeaderName; N],
) -> [Option<&'h hyper::header::HeaderValue>; N] {
    let mut found = [None; N];
    for (name, value) in headers {
        if let Some(at) = names.iter().position(|wanted| *wanted == name)
            && found[at].is_none()
        {
            found[at] = Some(value);
        }
    }
    found
}

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
    pub collect: Option<scorehost_core::collect::CollectSettings>,
    /// Most bytes of a request's line and header fields; more get 431. `None`:
    /// [`DEFAULT_MAX_HEADER_BYTES`].
    pub max_header_bytes: Option<usize>,
    /// Folders an admin swap may take plugins and model folders from; `None`: the folders
    /// holding the deployments' plugins and model folders when the swap is asked for.
    pub swap_roots: Option<scorehost_core::registry::SwapRoots>,
    /// Leave out `x-ms-server-version` (the Azure ML server's
    /// `SERVER_VERSION_LOG_RESPONSE_ENABLED=false`). Default: sent.
    pub hide_server_version: bool,
}

/// Default cap on a request's line and header fields: 64 KiB (gunicorn, behind the Azure ML
/// server, caps one header field at 8 KiB and 100 fields).
pub const DEFAULT_MAX_HEADER_BYTES: usize = 64 << 10;

impl ServerOptions {
    /// The header cap in force.
    pub(crate) fn max_header_bytes(&self) -> usize {
        self.max_header_bytes.unwrap_or(DEFAULT_MAX_HEADER_BYTES)
    }
}

/// How long a client may take to send its request headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);
/// hyper's default read buffer limit (8 KiB + 100 × 4 KiB).
const HYPER_DEFAULT_MAX_BUF: usize = 8192 + 4096 * 100;
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
        Server::on(TcpListener::bind(addr).await?, registry, options)
    }

    /// Serves the registry's deployments on `listener` (bound by the caller) on a task of the
    /// current tokio runtime.
    pub fn on(
        listener: TcpListener,
        registry: Arc<Registry>,
        options: ServerOptions,
    ) -> std::io::Result<Server> {
        if let Some(settings) = options.collect.clone() {
            registry.collect_with(scorehost_core::collect::Collector::start(
                settings,
                registry.metrics().collect_dropped.clone(),
            )?);
        }
        // The console's last minute of traffic.
        registry.start_sampling();
        let app = App {
            registry,
            options,
            role: Role::Main,
        };
        Self::serve(listener, app)
    }

    /// Binds `addr` and serves only `/metrics` (without a key) and `/` there: a listener for
    /// the scraper that is not exposed where clients are (`--metrics-addr`).
    pub async fn start_metrics(
        addr: SocketAddr,
        registry: Arc<Registry>,
    ) -> std::io::Result<Server> {
        Server::metrics_on(TcpListener::bind(addr).await?, registry)
    }

    /// [`Server::start_metrics`] on a listener bound by the caller.
    pub fn metrics_on(listener: TcpListener, registry: Arc<Registry>) -> std::io::Result<Server> {
        let app = App {
            registry,
            options: ServerOptions::default(),
            role: Role::Metrics,
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
                tokio::spawn(async move {
                    // HTTP/2 with prior knowledge (h2c: gRPC clients) or HTTP/1.1, told apart
                    // by the first bytes, which stay in the socket.
                    match starts_with_h2_preface(&stream).await {
                        Some(true) => serve_h2(TokioIo::new(stream), app, watcher).await,
                        Some(false) => {
                            serve_connection(TokioIo::new(stream), app, watcher).await;
                        }
                        // Nothing sent within the header timeout, or closed: HTTP/1.1 would
                        // only wait as long again.
                        None => {}
                    }
                });
            }
            Some(tls) => {
                let acceptor = tls.acceptor.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(tls::HANDSHAKE_TIMEOUT, acceptor.accept(stream))
                        .await
                    {
                        Ok(Ok(stream)) => {
                            let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
                            if h2 {
                                serve_h2(TokioIo::new(stream), app, watcher).await;
                            } else {
                                serve_connection(TokioIo::new(stream), app, watcher).await;
                            }
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

/// Whether the connection starts with HTTP/2's connection preface (`PRI * HTTP/2.0…`), read
/// without taking it from the socket: false at the first byte that differs (the second of any
/// HTTP/1.1 request); `None` when the stream ends or errs, or when nothing conclusive comes
/// within the header timeout.
async fn starts_with_h2_preface(stream: &tokio::net::TcpStream) -> Option<bool> {
    const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    let mut seen = [0u8; 24];
    let check = async {
        loop {
            let n = match stream.peek(&mut seen).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => n,
            };
            if seen[..n] != PREFACE[..n] {
                return Some(false);
            }
            if n == PREFACE.len() {
                return Some(true);
            }
            // A preface split across packets: look again once more has arrived.
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    };
    tokio::time::timeout(HEADER_TIMEOUT, check)
        .await
        .ok()
        .flatten()
}

/// Serves HTTP/2 on one connection: gRPC calls (`application/grpc`) to the Open Inference
/// Protocol's gRPC service, everything else to the same routes as HTTP/1.1.
async fn serve_h2<I>(io: TokioIo<I>, app: Arc<App>, watcher: Watcher)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let max_header_bytes = u32::try_from(app.options.max_header_bytes()).unwrap_or(u32::MAX);
    let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let app = app.clone();
        async move {
            let response = if grpc::is_grpc(&req) {
                grpc::call(app, req)
                    .await
                    .map(http_body_util::Either::Right)
            } else {
                app.handle(req.map(http_body_util::Either::Left))
                    .await
                    .map(http_body_util::Either::Left)
            };
            Ok::<_, Infallible>(response)
        }
    });
    let connection = hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
        .timer(TokioTimer::new())
        .max_header_list_size(max_header_bytes.saturating_mul(2))
        .serve_connection(io, service);
    if let Err(e) = watcher.watch(connection).await {
        tracing::debug!("HTTP/2 connection ended: {e}");
    }
}

/// Serves HTTP/1.1 on one connection (plain or TLS) until it closes or shutdown ends it.
async fn serve_connection<I>(io: TokioIo<I>, app: Arc<App>, watcher: Watcher)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    // hyper's own buffer must hold more than the cap, so that the routes, not hyper, answer a
    // request over it (with a JSON body and the usual headers); far larger ones hyper refuses
    // with a bare 431 and closes the connection.
    let max_buf = app
        .options
        .max_header_bytes()
        .saturating_mul(2)
        .max(HYPER_DEFAULT_MAX_BUF);
    let service = service_fn(move |req| {
        let app = app.clone();
        async move { Ok::<_, Infallible>(app.handle(req.map(http_body_util::Either::Left)).await) }
    });
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .max_buf_size(max_buf)
        .header_read_timeout(HEADER_TIMEOUT)
        .serve_connection(io, service);
    if let Err(e) = watcher.watch(connection).await {
        tracing::debug!("connection ended: {e}");
    }
}
