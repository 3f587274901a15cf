//! JavaScript entry scripts: the guest SDK's npm packages and the example plugins.
//!
//! `npm ci` installs the pinned componentize-js into `guest-sdk/js/node_modules`;
//! `guest-sdk/js/build.mjs` then turns each `plugins/js/NAME/score.js` into
//! `target/plugins/js/NAME.wasm`. A component is rebuilt only when a script, the SDK or the
//! WIT changed (each build takes several seconds).

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::SystemTime;

use crate::{repo_root, run};

/// Builds every `plugins/js/NAME/score.js` whose component is out of date and returns the
/// folder holding the `NAME.wasm` components (`target/plugins/js`).
pub fn build_js_plugins() -> io::Result<PathBuf> {
    let root = repo_root();
    let sdk = root.join("guest-sdk").join("js");
    install_sdk(&sdk)?;
    let out_dir = root.join("target").join("plugins").join("js");
    std::fs::create_dir_all(&out_dir)?;
    let sdk_inputs = [
        sdk.join("src"),
        sdk.join("build.mjs"),
        sdk.join("package-lock.json"),
        root.join("wit"),
    ];
    let mut builds: Vec<(PathBuf, Child)> = Vec::new();
    for plugin in subfolders(&root.join("plugins").join("js"))? {
        let script = plugin.join("score.js");
        let name = plugin.file_name().unwrap_or_default().to_string_lossy();
        let output = out_dir.join(format!("{name}.wasm"));
        let mut inputs = vec![plugin.clone()];
        inputs.extend(sdk_inputs.iter().cloned());
        if is_fresh(&output, &inputs)? {
            continue;
        }
        let child = Command::new("node")
            .arg(sdk.join("build.mjs"))
            .arg(&script)
            .arg(&output)
            .spawn()?;
        builds.push((script, child));
    }
    // Each build is mostly single-threaded; running them side by side uses both cores.
    let mut failed = Vec::new();
    for (script, mut child) in builds {
        if !child.wait()?.success() {
            failed.push(script.display().to_string());
        }
    }
    if !failed.is_empty() {
        return Err(io::Error::other(format!(
            "guest-sdk/js/build.mjs failed for {}",
            failed.join(", ")
        )));
    }
    Ok(out_dir)
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

/// The folders directly inside `dir`, sorted.
fn subfolders(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut folders = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            folders.push(path);
        }
    }
    folders.sort();
    Ok(folders)
}

/// Whether `output` exists and is newer than every file under `inputs`.
fn is_fresh(output: &Path, inputs: &[PathBuf]) -> io::Result<bool> {
    let Ok(built) = output.metadata().and_then(|m| m.modified()) else {
        return Ok(false);
    };
    let mut newest = SystemTime::UNIX_EPOCH;
    for input in inputs {
        newest = newest.max(newest_mtime(input)?);
    }
    Ok(built > newest)
}

/// The newest modification time of a file, or of any file below a folder.
fn newest_mtime(path: &Path) -> io::Result<SystemTime> {
    let meta = path.metadata()?;
    if !meta.is_dir() {
        return meta.modified();
    }
    let mut newest = meta.modified()?;
    for entry in std::fs::read_dir(path)? {
        let child = entry?.path();
        if child.file_name().is_some_and(|n| n == "node_modules") {
            continue;
        }
        newest = newest.max(newest_mtime(&child)?);
    }
    Ok(newest)
}
