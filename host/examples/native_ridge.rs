//! The benchmark's ceiling: the seed's Power BI scoring done natively in a hyper handler (no
//! Wasm, no validation beyond what the computation needs), on the same model file.
//!
//! `GET /` answers `Healthy` and nothing else: the floor of any server on this machine.
//!
//! `cargo run --release -p scorehost --example native_ridge -- ADDR MODEL_DIR [EXTRA_NS] [--envelope]`
//!
//! `EXTRA_NS` (default 0) adds that many nanoseconds of busy CPU to every `/score` request:
//! the calibration in BENCHMARKS.md (what a microsecond of server CPU per request costs in
//! req/s when the load generator shares the cores).
//!
//! `--envelope` makes the twin: the same handler carrying the per-request envelope scorehost
//! sends (request ids, `x-ms-*` headers, the plugin digest, request metrics, the log line), so
//! that scorehost's ratio to it is the sandbox's own cost. Without it the bare handler runs as
//! before and pays nothing for the switch (the choice is made once per connection). The twin
//! also serves its metrics at `GET /metrics`.

use std::convert::Infallible;
use std::io::IsTerminal as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use tracing::Instrument as _;

struct Model {
    coef: Vec<f64>,
    intercept: f64,
}

fn score(model: &Model, body: &[u8]) -> Result<Value, String> {
    let body: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let rows = body["Inputs"]["input1"]
        .as_array()
        .ok_or("no Inputs.input1")?;
    let results = rows
        .iter()
        .map(|row| {
            let row = row.as_array().ok_or("row is not a list")?;
            let dot: f64 = row
                .iter()
                .zip(&model.coef)
                .map(|(x, c)| x.as_f64().unwrap_or(f64::NAN) * c)
                .sum();
            Ok(model.intercept + dot)
        })
        .collect::<Result<Vec<f64>, String>>()?;
    Ok(json!({ "Results": results }))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let (flags, args): (Vec<String>, Vec<String>) =
        std::env::args().skip(1).partition(|a| a.starts_with("--"));
    let envelope = match flags.as_slice() {
        [] => false,
        [flag] if flag == "--envelope" => true,
        _ => anyhow::bail!("unknown flags {flags:?} (the one flag is --envelope)"),
    };
    let mut args = args.into_iter();
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:5003".to_owned());
    let model_dir = args
        .next()
        .unwrap_or_else(|| "plugins/ridge/model".to_owned());
    let extra = Duration::from_nanos(match args.next() {
        Some(ns) => ns.parse()?,
        None => 0,
    });
    anyhow::ensure!(
        extra.is_zero() || !envelope,
        "EXTRA_NS is for the bare handler"
    );
    let text = std::fs::read_to_string(format!("{model_dir}/sklearn_regression_model.json"))?;
    let file: Value = serde_json::from_str(&text)?;
    let model = Arc::new(Model {
        coef: serde_json::from_value(file["coef"].clone())?,
        intercept: file["intercept"].as_f64().unwrap_or(0.0),
    });
    let envelope = envelope.then(|| Arc::new(Envelope::new(text.as_bytes())));
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("Listening on http://{}", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let io = TokioIo::new(stream);
        let model = model.clone();
        let Some(envelope) = envelope.clone() else {
            let service = service_fn(move |req| bare(model.clone(), extra, req));
            tokio::spawn(http1::Builder::new().serve_connection(io, service));
            continue;
        };
        let service = service_fn(move |req| enveloped(model.clone(), envelope.clone(), req));
        tokio::spawn(http1::Builder::new().serve_connection(io, service));
    }
}

/// The bare handler: the computation and its answer, nothing else.
async fn bare(
    model: Arc<Model>,
    extra: Duration,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    // The loopback floor: an answer that costs nothing to make.
    if req.method() == Method::GET && req.uri().path() == "/" {
        return Ok(Response::new(Full::new(Bytes::from_static(b"Healthy"))));
    }
    if !extra.is_zero() {
        let started = Instant::now();
        while started.elapsed() < extra {
            std::hint::spin_loop();
        }
    }
    let body = req.into_body().collect().await.map(|b| b.to_bytes());
    let (status, out) = match body
        .map_err(|e| e.to_string())
        .and_then(|b| score(&model, &b))
    {
        Ok(v) => (StatusCode::OK, v),
        Err(e) => (StatusCode::BAD_REQUEST, json!({ "message": e })),
    };
    let mut response = Response::new(Full::new(Bytes::from(out.to_string())));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert("content-type", "application/json".parse().expect("static"));
    Ok(response)
}

/// The twin: the bare handler's work inside the envelope scorehost's `App::handle`
/// (crates/http/src/routes.rs) puts around every request. Written here rather than borrowed, so
/// the host's private code stays private; what it mirrors is named on each part.
async fn enveloped(
    model: Arc<Model>,
    envelope: Arc<Envelope>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let started = Instant::now();
    let method = req.method().clone();
    let uri = req.uri().clone();
    // A look at the counts; not a measured route.
    if method == Method::GET && uri.path() == "/metrics" {
        let mut text = String::new();
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut text, &envelope.registry);
        return Ok(Response::new(Full::new(Bytes::from(text))));
    }
    let ids = Ids::from_headers(req.headers());
    let span = tracing::info_span!(
        "request",
        request_id = %ids.request_id.to_str().unwrap_or("-"),
        deployment = DEPLOYMENT,
    );
    let liveness = method == Method::GET && uri.path() == "/";
    let (mut response, run_time) = if liveness {
        let mut response = Response::new(Full::new(Bytes::from_static(b"Healthy")));
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static(TEXT_HTML));
        (response, None)
    } else {
        scored(&model, req).instrument(span.clone()).await
    };
    let headers = response.headers_mut();
    if !liveness {
        headers.insert(PLUGIN_DIGEST, envelope.digest.clone());
    }
    ids.apply(headers);
    headers.insert(
        SERVER_VERSION_HEADER,
        HeaderValue::from_static(SERVER_VERSION),
    );
    let status = response.status();
    let elapsed = started.elapsed();
    envelope.record(liveness, status, elapsed, run_time);
    span.in_scope(|| {
        tracing::info!(
            %method,
            path = uri.path(),
            status = status.as_u16(),
            ms = format_args!("{:.3}", elapsed.as_secs_f64() * 1e3),
            "request"
        )
    });
    Ok(response)
}

/// `/score` in the twin: the bare handler's body and computation, answered as scorehost's
/// `scored_response` and its errors answer (crates/http/src/score.rs, error.rs). The run time
/// covers what a guest's `run` would do: parse, compute, write the output JSON.
async fn scored(
    model: &Model,
    req: Request<Incoming>,
) -> (Response<Full<Bytes>>, Option<Duration>) {
    let body = req.into_body().collect().await.map(|b| b.to_bytes());
    let run_started = Instant::now();
    let result = body
        .map_err(|e| e.to_string())
        .and_then(|b| score(model, &b))
        .map(|v| v.to_string());
    let run_time = result.is_ok().then(|| run_started.elapsed());
    let (status, out) = match result {
        Ok(out) => (StatusCode::OK, out),
        Err(e) => (StatusCode::BAD_REQUEST, json!({ "message": e }).to_string()),
    };
    let mut response = Response::new(Full::new(Bytes::from(out)));
    *response.status_mut() = status;
    // Sized for every header of the way out, as scorehost sizes it.
    *response.headers_mut() = HeaderMap::with_capacity(16);
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(RUN_FUNCTION_FAILED, HeaderValue::from_static("False"));
    if let Some(run_time) = run_time {
        // `%.3f` ms, rounded to the microsecond, in integer formatting as scorehost writes it.
        let micros = (run_time.as_nanos() + 500) / 1000;
        let text = format!("{}.{:03}", micros / 1000, micros % 1000);
        headers.insert(EXEC_MS, HeaderValue::from_str(&text).expect("digits"));
    }
    (response, run_time)
}

/// The deployment label and log field of the twin.
const DEPLOYMENT: &str = "native";
const TEXT_HTML: &str = "text/html; charset=utf-8";
const SERVER_VERSION: &str = concat!("scorehost/", env!("CARGO_PKG_VERSION"));
const SERVER_VERSION_HEADER: HeaderName = HeaderName::from_static("x-ms-server-version");
const PLUGIN_DIGEST: HeaderName = HeaderName::from_static("x-scorehost-plugin-sha256");
const RUN_FUNCTION_FAILED: HeaderName = HeaderName::from_static("x-ms-run-function-failed");
const EXEC_MS: HeaderName = HeaderName::from_static("x-ms-run-fn-exec-ms");
const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const X_MS_REQUEST_ID: HeaderName = HeaderName::from_static("x-ms-request-id");
const X_MS_CLIENT_REQUEST_ID: HeaderName = HeaderName::from_static("x-ms-client-request-id");
const TRACE_ID: HeaderName = HeaderName::from_static("traceid");

/// A request's ids, by scorehost's rules (crates/http/src/request_id.rs): `x-request-id` echoed
/// or a fresh UUID v4; `x-ms-request-id` the legacy header, else the client id, else the
/// request id; `x-ms-client-request-id` the client id, else the legacy header, when given;
/// `TraceId` echoed. (scorehost also answers 431 to an id over 100 characters.)
struct Ids {
    request_id: HeaderValue,
    ms_request_id: Option<HeaderValue>,
    client_request_id: Option<HeaderValue>,
    trace_id: Option<HeaderValue>,
}

impl Ids {
    fn from_headers(headers: &HeaderMap) -> Ids {
        let given = |name: HeaderName| {
            headers
                .get(name)
                .filter(|v| !v.is_empty() && v.to_str().is_ok())
                .cloned()
        };
        let legacy = given(X_MS_REQUEST_ID);
        let client = given(X_MS_CLIENT_REQUEST_ID);
        let request_id = given(X_REQUEST_ID).unwrap_or_else(|| {
            let mut buffer = uuid::Uuid::encode_buffer();
            let id = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut buffer);
            HeaderValue::from_str(id).expect("a UUID is a valid header value")
        });
        Ids {
            ms_request_id: legacy.clone().or_else(|| client.clone()),
            client_request_id: client.or(legacy),
            trace_id: given(TRACE_ID),
            request_id,
        }
    }

    fn apply(self, headers: &mut HeaderMap) {
        let ms_request_id = self
            .ms_request_id
            .unwrap_or_else(|| self.request_id.clone());
        headers.insert(X_REQUEST_ID, self.request_id);
        headers.insert(X_MS_REQUEST_ID, ms_request_id);
        if let Some(client) = self.client_request_id {
            headers.insert(X_MS_CLIENT_REQUEST_ID, client);
        }
        if let Some(trace_id) = self.trace_id {
            headers.insert(TRACE_ID, trace_id);
        }
    }
}

/// What the twin keeps across requests: the digest header and the request metrics, whose
/// handles are looked up once (scorehost caches them per route and status the same way,
/// crates/metrics/src/lib.rs). scorehost's latency histograms are lock-free; prometheus-client's,
/// used here, take an uncontended mutex per observation.
struct Envelope {
    /// Every family, served at `GET /metrics`.
    registry: Registry,
    /// `x-scorehost-plugin-sha256`: here the model file's SHA-256 (scorehost's is the
    /// component's), made once.
    digest: HeaderValue,
    score: RouteMetrics,
    liveness: RouteMetrics,
    run_seconds: Histogram,
    host_seconds: Histogram,
}

/// One route's latency histogram and its counters by status.
struct RouteMetrics {
    seconds: Histogram,
    ok: Counter,
    bad_request: Counter,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    deployment: &'static str,
    route: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    deployment: &'static str,
    route: &'static str,
}

/// Latency buckets from 50 µs (where scorehost's start) to about 47 s.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_05, 2.5, 16))
}

impl Envelope {
    /// Registers the metrics and starts the log subscriber the way scorehost's `serve` does
    /// (host/src/main.rs `init_logging`, text format): `SCOREHOST_LOG` filters, default `info`.
    fn new(model_file: &[u8]) -> Envelope {
        let filter = tracing_subscriber::EnvFilter::try_from_env("SCOREHOST_LOG")
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal())
            .init();
        let mut registry = Registry::with_prefix("native");
        let requests = Family::<RequestLabels, Counter>::default();
        let seconds: Family<RouteLabels, Histogram> =
            Family::new_with_constructor(latency_histogram);
        registry.register(
            "requests",
            "HTTP requests answered, by route and status",
            requests.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Time from request head to response, by route",
            seconds.clone(),
        );
        let run_seconds = latency_histogram();
        let host_seconds = latency_histogram();
        registry.register(
            "run_duration_seconds",
            "Time spent scoring",
            run_seconds.clone(),
        );
        registry.register(
            "host_overhead_seconds",
            "Time of a scoring request spent outside the scoring",
            host_seconds.clone(),
        );
        let route_metrics = |route| {
            let counter = |status| {
                let labels = RequestLabels {
                    deployment: DEPLOYMENT,
                    route,
                    status,
                };
                requests.get_or_create(&labels).clone()
            };
            RouteMetrics {
                seconds: seconds
                    .get_or_create(&RouteLabels {
                        deployment: DEPLOYMENT,
                        route,
                    })
                    .clone(),
                ok: counter(200),
                bad_request: counter(400),
            }
        };
        let digest = format!("{:x}", Sha256::digest(model_file));
        Envelope {
            digest: HeaderValue::from_str(&digest).expect("hex digits"),
            score: route_metrics("score"),
            liveness: route_metrics("liveness"),
            run_seconds,
            host_seconds,
            registry,
        }
    }

    /// Counts one answered request, as `App::handle` and `Deployment::score` do.
    fn record(&self, liveness: bool, status: StatusCode, elapsed: Duration, run: Option<Duration>) {
        let route = if liveness {
            &self.liveness
        } else {
            &self.score
        };
        route.seconds.observe(elapsed.as_secs_f64());
        // The twin answers 200 or 400, nothing else.
        let requests = match status {
            StatusCode::OK => &route.ok,
            _ => &route.bad_request,
        };
        requests.inc();
        if let Some(run) = run {
            self.run_seconds.observe(run.as_secs_f64());
            self.host_seconds
                .observe(elapsed.saturating_sub(run).as_secs_f64());
        }
    }
}
