//! Project tasks shared by the `xtask` command and the integration tests.
//!
//! - [`build_plugins`]: compiles every plugin in `plugins/` to a `wasm32-wasip2` component.
//! - [`build_python_plugins`], [`test_python_sdk`]: the Python guest SDK and its examples.
//! - [`build_js_plugins`]: the JavaScript guest SDK's examples (`plugins/js`).
//! - [`repo_root`]: where the repository is, whoever asks.
//!
//! Kept free of dependencies so it builds in a second and can be a dev-dependency of the host.

use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

mod js;
mod python;
mod scripts;

pub use js::build_js_plugins;
pub use python::{build_python_plugins, test_python_sdk};

/// The Wasm target every plugin is built for.
pub const WASM_TARGET: &str = "wasm32-wasip2";

/// The repository's top folder (the one holding `rust-toolchain.toml`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the repository root")
        .to_path_buf()
}

/// Builds every plugin of the `plugins/` workspace in release mode and returns the folder
/// holding the `NAME.wasm` components (`target/plugins/wasm32-wasip2/release`).
///
/// Installs the Wasm target through rustup first when the toolchain lacks it, so a fresh
/// machine needs nothing by hand. Cargo's own fingerprinting makes a second call cheap.
pub fn build_plugins() -> io::Result<PathBuf> {
    let root = repo_root();
    ensure_wasm_target(&root)?;
    let target_dir = root.join("target").join("plugins");
    let mut cargo = cargo_command(&root.join("plugins"));
    cargo
        .args(["build", "--release", "--workspace", "--target", WASM_TARGET])
        .arg("--target-dir")
        .arg(&target_dir);
    run(&mut cargo)?;
    Ok(target_dir.join(WASM_TARGET).join("release"))
}

/// Builds the release `scorehost` binary and the programs the benchmarks run beside it (the
/// native baseline `native_ridge`, the gRPC load generator `grpc_load`), always with the same
/// arguments: a build with a different set of targets unifies dependency features differently
/// and would recompile the server on every switch between `bench` and `bench --density`.
/// Returns `target/release`.
pub fn build_release_server(root: &Path) -> io::Result<PathBuf> {
    println!("xtask: building scorehost and the native handler (release)");
    build_bench_programs(root, true)
}

/// The same in the dev profile, which `cargo test` has built already (the quick benchmark at
/// the end of `cargo xtask test` only checks the harness; a second, release build of the
/// world would add a quarter of a fresh clone's test run). Returns `target/debug`.
pub fn build_dev_server(root: &Path) -> io::Result<PathBuf> {
    println!("xtask: building scorehost and the native handler (dev profile, as the tests did)");
    build_bench_programs(root, false)
}

fn build_bench_programs(root: &Path, release: bool) -> io::Result<PathBuf> {
    let mut cargo = cargo_command(root);
    cargo.arg("build");
    if release {
        cargo.arg("--release");
    }
    run(cargo.args([
        "--package",
        "scorehost",
        "--bin",
        "scorehost",
        "--example",
        "native_ridge",
        "--example",
        "grpc_load",
    ]))?;
    Ok(root.join(if release {
        "target/release"
    } else {
        "target/debug"
    }))
}

/// A `cargo` command for another workspace, cleaned of what the calling cargo exported
/// (its target dir, flags and wrappers belong to the caller's build, not this one).
pub fn cargo_command(dir: &Path) -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(dir);
    for var in [
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_MAKEFLAGS",
        "MAKEFLAGS",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

/// Runs a command, turning a non-zero exit into an error that names the command.
pub fn run(cmd: &mut Command) -> io::Result<()> {
    let status = cmd.status()?;
    if status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!("`{cmd:?}` failed: {status}")))
    }
}

/// `rustup` installs the toolchain pinned in `rust-toolchain.toml` with its targets only when
/// the toolchain itself is missing; on a machine that already has 1.95.0 the target may not be
/// there, so add it explicitly.
fn ensure_wasm_target(root: &Path) -> io::Result<()> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = Command::new(rustc)
        .current_dir(root)
        .args(["--print", "target-libdir", "--target", WASM_TARGET])
        .output()?;
    let libdir = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if out.status.success() && Path::new(&libdir).is_dir() {
        return Ok(());
    }
    run(Command::new("rustup")
        .current_dir(root)
        .args(["target", "add", WASM_TARGET]))
}
