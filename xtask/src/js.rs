//! JavaScript entry scripts: the guest SDK's npm packages and the example plugins.
//!
//! `npm ci` installs the pinned componentize-js into `guest-sdk/js/node_modules`;
//! `guest-sdk/js/build.mjs` then turns each `plugins/js/NAME/score.js` into
//! `target/plugins/js/NAME.wasm`. A component is rebuilt only when a script, the SDK or the
//! WIT changed (each build takes several seconds).

use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::scripts::{build_script_plugins, is_fresh};
use crate::{repo_root, run};

/// Builds every `plugins/js/NAME/score.js` whose component is out of date and returns the
/// folder holding the `NAME.wasm` components (`target/plugins/js`).
pub fn build_js_plugins() -> io::Result<PathBuf> {
    let root = repo_root();
    let sdk = root.join("guest-sdk").join("js");
    install_sdk(&sdk)?;
    let sdk_inputs = [
        sdk.join("src"),
        sdk.join("build.mjs"),
        sdk.join("package-lock.json"),
        root.join("wit"),
    ];
    build_script_plugins("js", &sdk_inputs, |plugin, output| {
        let mut build = Command::new("node");
        build
            .arg(sdk.join("build.mjs"))
            .arg(plugin.join("score.js"))
            .arg(output);
        build
    })
}

/// Runs `npm ci` in `sdk` unless `node_modules` already matches `package-lock.json` (npm
/// writes `node_modules/.package-lock.json` at the end of every install).
fn install_sdk(sdk: &Path) -> io::Result<()> {
    let installed = sdk.join("node_modules").join(".package-lock.json");
    if is_fresh(
        &installed,
        &[sdk.join("package.json"), sdk.join("package-lock.json")],
    )? {
        return Ok(());
    }
    run(Command::new("npm")
        .current_dir(sdk)
        .args(["ci", "--no-audit", "--no-fund"]))
}
