//! Compiled components cached on disk, so a restart does not recompile.
//!
//! A cache file is named by the SHA-256 of the component and a hash of the engine's
//! compatibility settings (wasmtime version, target, compiler flags); anything else is a miss.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context as _;
use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// The SHA-256 of a component's bytes, in hex: its version identity.
pub(crate) fn digest(bytes: &[u8]) -> String {
    let hash = Sha256::digest(bytes);
    hash.iter().map(|b| format!("{b:02x}")).collect()
}

/// Loads components through an on-disk cache of their compiled form.
pub(crate) struct ComponentCache {
    dir: PathBuf,
    engine_key: String,
}

impl ComponentCache {
    pub(crate) fn new(engine: &Engine, dir: PathBuf) -> Self {
        let mut hasher = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        ComponentCache {
            dir,
            engine_key: format!("{:016x}", hasher.finish()),
        }
    }

    /// The compiled component for `bytes`, from the cache or freshly compiled (and then stored).
    /// Returns the component and whether it came from the cache.
    pub(crate) fn load(
        &self,
        engine: &Engine,
        bytes: &[u8],
        digest: &str,
    ) -> anyhow::Result<(Component, bool)> {
        let path = self.dir.join(format!("{digest}-{}.cwasm", self.engine_key));
        if path.is_file() {
            match deserialize(engine, &path) {
                Ok(component) => return Ok((component, true)),
                // A stale or damaged entry is not fatal: compile again and overwrite it.
                Err(e) => tracing::warn!(path = %path.display(), "ignoring cache entry: {e:#}"),
            }
        }
        let compiled = engine
            .precompile_component(bytes)
            .map_err(anyhow::Error::from)
            .context("compiling the component")?;
        if let Err(e) = self.store(&path, &compiled) {
            tracing::warn!(dir = %self.dir.display(), "cannot write the compile cache: {e:#}");
        }
        // SAFETY: `compiled` was produced just now by `precompile_component` of this engine.
        #[allow(unsafe_code)]
        let component = unsafe { Component::deserialize(engine, &compiled) }
            .map_err(anyhow::Error::from)
            .context("loading the compiled component")?;
        Ok((component, false))
    }

    /// Writes through a temporary file and a rename, so a reader never sees half a file.
    fn store(&self, path: &Path, compiled: &[u8]) -> anyhow::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let unique = NEXT.fetch_add(1, Ordering::Relaxed);
        let tmp = path.with_extension(format!("tmp-{}-{unique}", std::process::id()));
        std::fs::write(&tmp, compiled)?;
        std::fs::rename(&tmp, path)?;
        Ok(())
    }
}

fn deserialize(engine: &Engine, path: &Path) -> anyhow::Result<Component> {
    // SAFETY: files in the cache folder are written only by `ComponentCache::store` from
    // `precompile_component` output, named by the engine's compatibility hash; wasmtime checks
    // the header and rejects artifacts of another version or configuration.
    #[allow(unsafe_code)]
    let component = unsafe { Component::deserialize_file(engine, path) };
    component.map_err(anyhow::Error::from)
}
