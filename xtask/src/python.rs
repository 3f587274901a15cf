//! Python entry scripts: the guest SDK's venv, its unit tests, and the example plugins.
//!
//! `guest-sdk/python` is installed (editable) into `target/python-guest-venv`, which brings
//! the pinned componentize-py from PyPI; `scorehost-build` then turns each
//! `plugins/python/NAME/score.py` into `target/plugins/python/NAME.wasm`. A component is
//! rebuilt only when a script, the SDK or the WIT changed (each build takes several seconds).

use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::scripts::{build_script_plugins, is_fresh};
use crate::{repo_root, run};

/// Builds every `plugins/python/NAME/score.py` whose component is out of date and returns
/// the folder holding the `NAME.wasm` components (`target/plugins/python`).
pub fn build_python_plugins() -> io::Result<PathBuf> {
    let root = repo_root();
    let venv = guest_venv(&root)?;
    let sdk_inputs = [root.join("guest-sdk/python/scorehost"), root.join("wit")];
    build_script_plugins("python", &sdk_inputs, |plugin, output| {
        let mut build = Command::new(venv.join("bin").join("scorehost-build"));
        build
            .arg(plugin.join("score.py"))
            .arg("--output")
            .arg(output)
            .arg("--wit")
            .arg(root.join("wit"));
        build
    })
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

/// `target/python-guest-venv` with the SDK and its `test` extra (numpy from PyPI, which the
/// unit tests compare the numpy stand-in with) installed, created on first use.
fn guest_venv(root: &Path) -> io::Result<PathBuf> {
    let venv = root.join("target").join("python-guest-venv");
    let stamp = venv.join(".scorehost-sdk-installed");
    if is_fresh(&stamp, &[root.join("guest-sdk/python/pyproject.toml")])? {
        return Ok(venv);
    }
    run(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
    let mut sdk_with_tests = root.join("guest-sdk/python").into_os_string();
    sdk_with_tests.push("[test]");
    run(Command::new(venv.join("bin").join("pip"))
        .args([
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--editable",
        ])
        .arg(sdk_with_tests))?;
    std::fs::write(&stamp, b"")?;
    Ok(venv)
}
