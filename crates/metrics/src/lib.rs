//! Prometheus metrics of one host: requests, latencies (host overhead vs guest `run`), pool
//! occupancy, guest failures, swaps and `init` durations, served as Prometheus text at
//! `/metrics`.
//!
//! The request path only touches atomics: every per-deployment handle (a counter, gauge or
//! histogram) is looked up once when the deployment loads and kept in `DeploymentMetrics`;
//! request counters by status are cached per (route, status) in a `OnceLock` after the first
//! hit. prometheus-client's own `Histogram` takes a mutex per observation, so latencies use
//! `Histogram` here: fixed buckets of atomic counts, encoded through the crate's encoder.
//! A swap's new version of a deployment gets the same handles as the old one (same labels), so
//! series continue across versions.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use prometheus_client::encoding::{
    EncodeLabelSet, EncodeLabelValue, EncodeMetric, MetricEncoder, NoLabelSet,
};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::{MetricType, TypedMetric};

/// Content type of the Prometheus text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Upper bounds of the latency buckets, in seconds: 50 µs (a warm Rust `run`) to 5 min (the
/// default `init` budget).
const BUCKETS: [f64; 21] = [
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];

/// The latency buckets' upper bounds in seconds (the console's quantiles interpolate in them).
pub const BUCKET_BOUNDS: &[f64] = &BUCKETS;

/// What a request asked for, as the `route` label.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum Route {
    /// `/score` (either spelling of the path).
    score,
    /// `/swagger.json` and the try-it pages.
    swagger,
    /// `/`.
    liveness,
    /// `/v2/health/ready`.
    readiness,
    /// `/metrics`.
    metrics,
    /// The admin API and the console.
    admin,
    /// No such route.
    not_found,
    /// Open Inference Protocol: `GET /v2`.
    server_metadata,
    /// Open Inference Protocol: `GET /v2/models/NAME`.
    model_metadata,
    /// Open Inference Protocol: `GET /v2/models/NAME/ready`.
    model_ready,
    /// Open Inference Protocol: `POST /v2/models/NAME/infer`.
    infer,
    /// Open Inference Protocol over gRPC: `ServerLive`.
    grpc_server_live,
    /// Open Inference Protocol over gRPC: `ServerReady`.
    grpc_server_ready,
    /// Open Inference Protocol over gRPC: `ServerMetadata`.
    grpc_server_metadata,
    /// Open Inference Protocol over gRPC: `ModelMetadata`.
    grpc_model_metadata,
    /// Open Inference Protocol over gRPC: `ModelReady`.
    grpc_model_ready,
    /// Open Inference Protocol over gRPC: `ModelInfer`.
    grpc_infer,
}

impl Route {
    const COUNT: usize = 17;

    /// The gRPC twin of a REST route (itself when it has none).
    pub fn over_grpc(self) -> Route {
        match self {
            Route::liveness => Route::grpc_server_live,
            Route::readiness => Route::grpc_server_ready,
            Route::server_metadata => Route::grpc_server_metadata,
            Route::model_metadata => Route::grpc_model_metadata,
            Route::model_ready => Route::grpc_model_ready,
            Route::infer => Route::grpc_infer,
            other => other,
        }
    }
}

/// Statuses counted without touching the family's lock after their first request.
const CACHED_STATUSES: [u16; 18] = [
    200, 201, 204, 400, 401, 403, 404, 405, 408, 413, 415, 422, 431, 500, 501, 502, 503, 504,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    deployment: String,
    route: Route,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeploymentLabel {
    deployment: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    deployment: String,
    route: Route,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SwapLabels {
    deployment: String,
    outcome: &'static str,
}

/// Reads the host-wide memory budget: bytes used, the limit, growths refused so far.
struct MemoryReading(Box<dyn Fn() -> (usize, usize, u64) + Send + Sync>);

impl std::fmt::Debug for MemoryReading {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MemoryReading")
    }
}

/// Every metric family of one host (one per registry, so two servers in one process
/// count apart).
#[derive(Debug)]
pub struct Metrics {
    registry: prometheus_client::registry::Registry,
    requests: Family<RequestLabels, Counter>,
    request_seconds: Family<RouteLabels, Histogram>,
    host_seconds: Family<DeploymentLabel, Histogram>,
    run_seconds: Family<DeploymentLabel, Histogram>,
    init_seconds: Family<DeploymentLabel, Histogram>,
    init_failures: Family<DeploymentLabel, Counter>,
    traps: Family<DeploymentLabel, Counter>,
    timeouts: Family<DeploymentLabel, Counter>,
    memory_limit_hits: Family<DeploymentLabel, Counter>,
    run_errors: Family<DeploymentLabel, Counter>,
    overloaded: Family<DeploymentLabel, Counter>,
    swaps: Family<SwapLabels, Counter>,
    pool_size: Family<DeploymentLabel, Gauge>,
    pool_in_use: Family<DeploymentLabel, Gauge>,
    pool_waiting: Family<DeploymentLabel, Gauge>,
    pool_replacing: Family<DeploymentLabel, Gauge>,
    batch_requests: Family<DeploymentLabel, SizeHistogram, fn() -> SizeHistogram>,
    batch_rows: Family<DeploymentLabel, SizeHistogram, fn() -> SizeHistogram>,
    cold_starts: Family<DeploymentLabel, Counter>,
    cold_start_seconds: Family<DeploymentLabel, Histogram>,
    /// Bytes of linear memory and tables charged to the host-wide budget (set at scrape).
    host_memory_bytes: Gauge,
    /// The host-wide budget in bytes (set at scrape).
    host_memory_limit_bytes: Gauge,
    /// Growths refused because the host-wide budget was full (brought up to date at scrape).
    host_memory_refusals: Counter,
    /// Reads those three series at scrape time: bytes used, the limit, refusals so far.
    memory: OnceLock<MemoryReading>,
    /// Collected records dropped because the writer fell behind.
    pub collect_dropped: Counter,
    /// Requests that belong to no deployment (`/`, `/metrics`, admin, 404s).
    host_requests: OnceLock<RequestCounters>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every family under the `scorehost_` prefix.
    pub fn new() -> Metrics {
        let mut registry = prometheus_client::registry::Registry::with_prefix("scorehost");
        let metrics = Metrics {
            requests: Family::default(),
            request_seconds: Family::default(),
            host_seconds: Family::default(),
            run_seconds: Family::default(),
            init_seconds: Family::default(),
            init_failures: Family::default(),
            traps: Family::default(),
            timeouts: Family::default(),
            memory_limit_hits: Family::default(),
            run_errors: Family::default(),
            overloaded: Family::default(),
            swaps: Family::default(),
            pool_size: Family::default(),
            pool_in_use: Family::default(),
            pool_waiting: Family::default(),
            pool_replacing: Family::default(),
            batch_requests: Family::new_with_constructor(size_histogram),
            batch_rows: Family::new_with_constructor(size_histogram),
            cold_starts: Family::default(),
            cold_start_seconds: Family::default(),
            host_memory_bytes: Gauge::default(),
            host_memory_limit_bytes: Gauge::default(),
            host_memory_refusals: Counter::default(),
            memory: OnceLock::new(),
            collect_dropped: Counter::default(),
            host_requests: OnceLock::new(),
            registry: Default::default(),
        };
        let r = &mut registry;
        r.register(
            "requests",
            "HTTP requests answered, by deployment, route and status",
            metrics.requests.clone(),
        );
        r.register(
            "request_duration_seconds",
            "Time from request head to response, by deployment and route",
            metrics.request_seconds.clone(),
        );
        r.register(
            "host_overhead_seconds",
            "Time of a scoring request spent outside the guest's run (routing, body, \
             validation, conversion, waiting for an instance)",
            metrics.host_seconds.clone(),
        );
        r.register(
            "run_duration_seconds",
            "Time spent in the guest's run call",
            metrics.run_seconds.clone(),
        );
        r.register(
            "init_duration_seconds",
            "Time to instantiate an instance and run its init",
            metrics.init_seconds.clone(),
        );
        r.register(
            "init_failures",
            "Instances whose instantiation or init failed",
            metrics.init_failures.clone(),
        );
        r.register("traps", "Guest calls that trapped", metrics.traps.clone());
        r.register(
            "timeouts",
            "Guest calls stopped at their time budget",
            metrics.timeouts.clone(),
        );
        r.register(
            "memory_limit_hits",
            "Guest calls stopped at their memory limit",
            metrics.memory_limit_hits.clone(),
        );
        r.register(
            "run_errors",
            "run calls that returned the entry script's own error",
            metrics.run_errors.clone(),
        );
        r.register(
            "overloaded",
            "Requests refused because every instance stayed busy or the wait list was full",
            metrics.overloaded.clone(),
        );
        r.register(
            "swaps",
            "Hot swaps, by outcome (ok, refused)",
            metrics.swaps.clone(),
        );
        r.register(
            "collect_dropped",
            "Data-collection records dropped because the writer fell behind",
            metrics.collect_dropped.clone(),
        );
        r.register(
            "pool_instances",
            "Warm instances per deployment (all live versions)",
            metrics.pool_size.clone(),
        );
        r.register(
            "pool_in_use",
            "Instances lent to a request now",
            metrics.pool_in_use.clone(),
        );
        r.register(
            "pool_waiting",
            "Requests waiting for a free instance now",
            metrics.pool_waiting.clone(),
        );
        r.register(
            "pool_replacing",
            "Failed instances whose replacement is not ready yet",
            metrics.pool_replacing.clone(),
        );
        r.register(
            "batch_requests",
            "Requests joined into one run by adaptive batching (one observation per batch)",
            metrics.batch_requests.clone(),
        );
        r.register(
            "batch_rows",
            "Rows (first dimension of the tensor inputs) of one batched run",
            metrics.batch_rows.clone(),
        );
        r.register(
            "cold_starts",
            "Instances started for a request that found none idle (after scaling to zero, or \
             growing the pool under load)",
            metrics.cold_starts.clone(),
        );
        r.register(
            "cold_start_duration_seconds",
            "Time a request waited for its cold start (instantiate and init)",
            metrics.cold_start_seconds.clone(),
        );
        r.register(
            "host_memory_bytes",
            "Linear memory and tables of every live instance, charged to the host-wide budget",
            metrics.host_memory_bytes.clone(),
        );
        r.register(
            "host_memory_limit_bytes",
            "The host-wide memory budget (max_host_memory_mib)",
            metrics.host_memory_limit_bytes.clone(),
        );
        r.register(
            "host_memory_refusals",
            "Memory or table growths refused because the host-wide budget was full",
            metrics.host_memory_refusals.clone(),
        );
        Metrics {
            registry,
            ..metrics
        }
    }

    /// The handles of deployment `name`, looked up once.
    pub fn deployment(&self, name: &str) -> Arc<DeploymentMetrics> {
        let label = DeploymentLabel {
            deployment: name.to_owned(),
        };
        let one = |family: &Family<DeploymentLabel, Counter>| family.get_or_create(&label).clone();
        let gauge = |family: &Family<DeploymentLabel, Gauge>| family.get_or_create(&label).clone();
        let histogram =
            |family: &Family<DeploymentLabel, Histogram>| family.get_or_create(&label).clone();
        let size = |family: &Family<DeploymentLabel, SizeHistogram, fn() -> SizeHistogram>| {
            family.get_or_create(&label).clone()
        };
        // Each lookup's read guard must end before the next lookup (which may write): the
        // closures return owned clones, so no guard outlives its statement.
        let swap = |outcome: &'static str| {
            self.swaps
                .get_or_create(&SwapLabels {
                    deployment: name.to_owned(),
                    outcome,
                })
                .clone()
        };
        Arc::new(DeploymentMetrics {
            requests: self.request_counters(name),
            host_seconds: histogram(&self.host_seconds),
            run_seconds: histogram(&self.run_seconds),
            init_seconds: histogram(&self.init_seconds),
            init_failures: one(&self.init_failures),
            traps: one(&self.traps),
            timeouts: one(&self.timeouts),
            memory_limit_hits: one(&self.memory_limit_hits),
            run_errors: one(&self.run_errors),
            overloaded: one(&self.overloaded),
            swaps_ok: swap("ok"),
            swaps_refused: swap("refused"),
            pool_size: gauge(&self.pool_size),
            pool_in_use: gauge(&self.pool_in_use),
            pool_waiting: gauge(&self.pool_waiting),
            pool_replacing: gauge(&self.pool_replacing),
            cold_starts: one(&self.cold_starts),
            cold_start_seconds: histogram(&self.cold_start_seconds),
            batch_requests: size(&self.batch_requests),
            batch_rows: size(&self.batch_rows),
        })
    }

    /// Reports the host-wide memory budget at every scrape, as `read` gives it (bytes used,
    /// the limit, refusals so far).
    pub fn watch_memory(&self, read: impl Fn() -> (usize, usize, u64) + Send + Sync + 'static) {
        let _ = self.memory.set(MemoryReading(Box::new(read)));
    }

    /// Brings the host-wide memory budget's series up to date (called before a scrape).
    fn observe_memory(&self, used: usize, limit: usize, refused: u64) {
        self.host_memory_bytes
            .set(i64::try_from(used).unwrap_or(i64::MAX));
        self.host_memory_limit_bytes
            .set(i64::try_from(limit).unwrap_or(i64::MAX));
        let counted = self.host_memory_refusals.get();
        if refused > counted {
            self.host_memory_refusals.inc_by(refused - counted);
        }
    }

    /// Counters of requests that belong to no deployment.
    pub fn host_requests(&self) -> &RequestCounters {
        self.host_requests.get_or_init(|| self.request_counters(""))
    }

    fn request_counters(&self, deployment: &str) -> RequestCounters {
        RequestCounters {
            deployment: deployment.to_owned(),
            requests: self.requests.clone(),
            request_seconds: self.request_seconds.clone(),
            seconds: std::array::from_fn(|_| OnceLock::new()),
            by_status: std::array::from_fn(|_| std::array::from_fn(|_| OnceLock::new())),
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn encode(&self) -> String {
        if let Some(read) = self.memory.get() {
            let (used, limit, refused) = (read.0)();
            self.observe_memory(used, limit, refused);
        }
        let mut text = String::with_capacity(8 << 10);
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry);
        text
    }
}

/// Request counters and latency of one deployment (or of the host's own routes).
#[derive(Debug)]
pub struct RequestCounters {
    deployment: String,
    requests: Family<RequestLabels, Counter>,
    request_seconds: Family<RouteLabels, Histogram>,
    /// Per route, looked up on the route's first request (so unused routes show no series).
    seconds: [OnceLock<Histogram>; Route::COUNT],
    by_status: [[OnceLock<Counter>; CACHED_STATUSES.len()]; Route::COUNT],
}

impl RequestCounters {
    /// Counts one answered request and its duration.
    pub fn record(&self, route: Route, status: u16, elapsed: Duration) {
        let r = route as usize;
        self.seconds[r]
            .get_or_init(|| {
                self.request_seconds
                    .get_or_create(&RouteLabels {
                        deployment: self.deployment.clone(),
                        route,
                    })
                    .clone()
            })
            .observe(elapsed);
        let labels = || RequestLabels {
            deployment: self.deployment.clone(),
            route,
            status,
        };
        match CACHED_STATUSES.binary_search(&status) {
            Ok(s) => {
                self.by_status[r][s]
                    .get_or_init(|| self.requests.get_or_create(&labels()).clone())
                    .inc();
            }
            // Rare statuses (a raw script's 418) take the family's lock.
            Err(_) => {
                self.requests.get_or_create(&labels()).inc();
            }
        }
    }

    /// The latency histogram of `route`, once it has had a request.
    pub fn histogram(&self, route: Route) -> Option<&Histogram> {
        self.seconds[route as usize].get()
    }
}

/// The metric handles of one deployment; every method is a few atomic operations.
#[derive(Debug)]
pub struct DeploymentMetrics {
    /// Requests by route and status, with their latency.
    pub requests: RequestCounters,
    /// A scored request's time outside the guest (routing, parsing, binding, the response).
    pub host_seconds: Histogram,
    /// Guest `run` calls.
    pub run_seconds: Histogram,
    /// Instances' `init`.
    pub init_seconds: Histogram,
    /// `init` calls that failed.
    pub init_failures: Counter,
    /// Guest calls that trapped.
    pub traps: Counter,
    /// Guest calls stopped at their time budget.
    pub timeouts: Counter,
    /// Guest calls stopped at their memory limit.
    pub memory_limit_hits: Counter,
    /// Calls where the script's `run` returned an error.
    pub run_errors: Counter,
    /// Requests refused with 503 because every instance stayed busy.
    pub overloaded: Counter,
    /// Hot swaps that took effect.
    pub swaps_ok: Counter,
    /// Hot swaps refused (the new version did not load).
    pub swaps_refused: Counter,
    /// Instances alive.
    pub pool_size: Gauge,
    /// Instances lent to a request now.
    pub pool_in_use: Gauge,
    /// Requests waiting for an instance.
    pub pool_waiting: Gauge,
    /// Replacements of failed instances under way.
    pub pool_replacing: Gauge,
    /// Requests per batch (adaptive batching; one observation per batch).
    pub batch_requests: SizeHistogram,
    /// Rows per batch.
    pub batch_rows: SizeHistogram,
    /// Instances started on demand (above the minimum, or from zero).
    pub cold_starts: Counter,
    /// Time from the start of a cold start to its instance being ready.
    pub cold_start_seconds: Histogram,
}

/// A histogram of batch sizes (observed once per batch, so prometheus-client's own histogram
/// and its mutex are fine here).
pub type SizeHistogram = prometheus_client::metrics::histogram::Histogram;

/// Buckets 1, 2, 4, … 1024.
fn size_histogram() -> SizeHistogram {
    SizeHistogram::new(prometheus_client::metrics::histogram::exponential_buckets(
        1.0, 2.0, 11,
    ))
}

impl DeploymentMetrics {
    /// Handles registered nowhere (a deployment loaded outside a registry, e.g. by a bench).
    pub fn detached(name: &str) -> Arc<DeploymentMetrics> {
        Metrics::new().deployment(name)
    }
}

/// A latency histogram with fixed buckets ([`BUCKET_BOUNDS`]) whose observations are lock-free.
///
/// The count is the sum of the buckets at scrape time, so `+Inf` always equals `_count` even
/// while requests are being recorded.
#[derive(Clone, Debug, Default)]
pub struct Histogram(Arc<HistogramCells>);

#[derive(Debug)]
struct HistogramCells {
    /// Observations per bucket (not cumulative); the last one is `+Inf`.
    buckets: [AtomicU64; BUCKETS.len() + 1],
    /// Sum of the observations in nanoseconds.
    sum_nanos: AtomicU64,
}

impl Default for HistogramCells {
    fn default() -> Self {
        HistogramCells {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_nanos: AtomicU64::new(0),
        }
    }
}

impl Histogram {
    /// Records one duration.
    pub fn observe(&self, d: Duration) {
        let seconds = d.as_secs_f64();
        let bucket = BUCKETS.partition_point(|&bound| bound < seconds);
        self.0.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.0.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// Observations so far per bucket (not cumulative; the last one is `+Inf`).
    pub fn counts(&self) -> Vec<u64> {
        self.0
            .buckets
            .iter()
            .map(|n| n.load(Ordering::Relaxed))
            .collect()
    }
}

impl TypedMetric for Histogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for Histogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let mut count = 0;
        let buckets: Vec<(f64, u64)> = self
            .0
            .buckets
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let n = n.load(Ordering::Relaxed);
                count += n;
                (BUCKETS.get(i).copied().unwrap_or(f64::INFINITY), n)
            })
            .collect();
        let sum = self.0.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_and_sum_are_encoded_cumulatively() {
        let metrics = Metrics::new();
        let d = metrics.deployment("ridge");
        d.run_seconds.observe(Duration::from_micros(30));
        d.run_seconds.observe(Duration::from_millis(3));
        d.requests
            .record(Route::score, 200, Duration::from_millis(4));
        d.requests
            .record(Route::score, 418, Duration::from_millis(4));
        let text = metrics.encode();
        for line in [
            r#"scorehost_run_duration_seconds_bucket{deployment="ridge",le="5e-05"} 1"#,
            r#"scorehost_run_duration_seconds_bucket{deployment="ridge",le="0.0025"} 1"#,
            r#"scorehost_run_duration_seconds_bucket{deployment="ridge",le="0.005"} 2"#,
            r#"scorehost_run_duration_seconds_bucket{deployment="ridge",le="+Inf"} 2"#,
            r#"scorehost_run_duration_seconds_count{deployment="ridge"} 2"#,
            r#"scorehost_run_duration_seconds_sum{deployment="ridge"} 0.00303"#,
            r#"scorehost_requests_total{deployment="ridge",route="score",status="200"} 1"#,
            r#"scorehost_requests_total{deployment="ridge",route="score",status="418"} 1"#,
        ] {
            assert!(text.lines().any(|l| l == line), "{line} not in {text}");
        }
        // Routes never requested show no series.
        assert!(!text.contains(r#"route="swagger""#), "{text}");
    }
}
