//! Rebuilds the host when a file is added to or removed from the guest SDKs or `wit/`, which
//! `src/lib.rs` embeds with `include_dir!` (rustc tracks the embedded files' contents,
//! but not new files in those folders).

fn main() {
    for dir in [
        "../../guest-sdk/python/scorehost",
        "../../guest-sdk/python/wasi_site",
        "../../guest-sdk/python/pyproject.toml",
        "../../guest-sdk/js/src",
        "../../guest-sdk/js/build.mjs",
        "../../guest-sdk/js/package.json",
        "../../guest-sdk/js/package-lock.json",
        "../../wit",
    ] {
        println!("cargo:rerun-if-changed={dir}");
    }
}
