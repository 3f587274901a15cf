//! Integration tests: real servers on 127.0.0.1:0 spoken to over HTTP.
//!
//! One test binary with modules (it links once). Plugins are built from source on first use
//! (`xtask::build_plugins`, `xtask::build_python_plugins`), so a fresh clone needs nothing
//! prebuilt. The examples written in several languages share their tests (`support::twins!`).

// Panicking on a broken fixture is how a test fails.
#![allow(clippy::unwrap_used)]

mod batch;
mod browser;
mod cli;
mod dropin;
mod embed;
mod entry_script;
mod js;
mod load;
mod oip;
mod onnx;
mod onnx_backends;
mod onnx_guests;
mod ops;
mod packaging;
mod pages;
mod protocol;
mod python;
mod raw;
mod sandbox;
mod scale;
mod schema;
mod score;
mod soak;
mod support;
mod tenancy;
mod wasi_python;
