//! Python entry scripts: the guest SDK's venv, its unit tests, and the example plugins.
//!
//! `guest-sdk/python` is installed (editable) into `target/python-guest-venv`, which brings
//! the pinned componentize-py from PyPI; `scorehost-build` then turns each
//! `plugins/python/NAME/score.py` into `target/plugins/python/NAME.wasm`. A component is
//! rebuilt only when a script, the SDK or the WIT changed (each build takes several seconds).

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::SystemTime;

use crate::{repo_root, run};

/// Builds every `plugins/python/NAME/score.py` whose component is out of date and returns
/// the folder holding the `NAME.wasm` components (`target/plugins/python`).
pub fn build_python_plugins() -> io::Result<PathBuf> {
    let root = repo_root();
    let venv = guest_venv(&root)?;
    let out_dir = root.join("target").join("plugins").join("python");
    std::fs::create_dir_all(&out_dir)?;
    let sdk_inputs = [root.join("guest-sdk/python/scorehost"), root.join("wit")];
    let mut builds: Vec<(PathBuf, Child)> = Vec::new();
    for plugin in subfolders(&root.join("plugins").join("python"))? {
        let script = plugin.join("score.py");
        let name = plugin.file_name().unwrap_or_default().to_string_lossy();
        let output = out_dir.join(format!("{name}.wasm"));
        let mut inputs = vec![plugin.clone()];
        inputs.extend(sdk_inputs.iter().cloned());
        if is_fresh(&output, &inputs)? {
            continue;
        }
        let child = Command::new(venv.join("bin").join("scorehost-build"))
            .arg(&script)
            .arg("--output")
            .arg(&output)
            .arg("--wit")
            .arg(root.join("wit"))
            .spawn()?;
        builds.push((script, child));
    }
    // The builds are single-threaded; running them side by side uses both cores.
    let mut failed = Vec::new();
    for (script, mut child) in builds {
        if !child.wait()?.success() {
            failed.push(script.display().to_string());
        }
    }
    if !failed.is_empty() {
        return Err(io::Error::other(format!(
            "scorehost-build failed for {}",
            failed.join(", ")
        )));
    }
    Ok(out_dir)
}

/// Runs the Python SDK's unit tests (`guest-sdk/python/tests`) on the machine's CPython,
/// against bindings componentize-py generates from `wit/`.
pub fn test_python_sdk() -> io::Result<()> {
    let root = repo_root();
    let venv = guest_venv(&root)?;
    let bindings = root.join("target").join("python-bindings");
    // componentize-py refuses to write into a folder that exists.
    if bindings.exists() {
        std::fs::remove_dir_all(&bindings)?;
    }
    for world in ["scorer", "raw-scorer"] {
        run(Command::new(venv.join("bin").join("componentize-py"))
            .arg("--wit-path")
            .arg(root.join("wit"))
            .args(["--world", world, "bindings"])
            .arg(bindings.join(world)))?;
    }
    run(Command::new(venv.join("bin").join("python"))
        .current_dir(root.join("guest-sdk/python"))
        .env("SCOREHOST_BINDINGS", &bindings)
        .args(["-m", "unittest", "discover", "--start-directory", "tests"]))
}

/// `target/python-guest-venv` with the SDK installed, created on first use.
fn guest_venv(root: &Path) -> io::Result<PathBuf> {
    let venv = root.join("target").join("python-guest-venv");
    let stamp = venv.join(".scorehost-sdk-installed");
    if is_fresh(&stamp, &[root.join("guest-sdk/python/pyproject.toml")])? {
        return Ok(venv);
    }
    run(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
    run(Command::new(venv.join("bin").join("pip"))
        .args([
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--editable",
        ])
        .arg(root.join("guest-sdk/python")))?;
    std::fs::write(&stamp, b"")?;
    Ok(venv)
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

/// The newest modification time of a file, or of any file below a folder (skipping caches).
fn newest_mtime(path: &Path) -> io::Result<SystemTime> {
    let meta = path.metadata()?;
    if !meta.is_dir() {
        return meta.modified();
    }
    let mut newest = meta.modified()?;
    for entry in std::fs::read_dir(path)? {
        let child = entry?.path();
        if child.file_name().is_some_and(|n| n == "__pycache__") {
            continue;
        }
        newest = newest.max(newest_mtime(&child)?);
    }
    Ok(newest)
}
