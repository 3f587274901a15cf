//! scorehost: hosts machine-learning entry scripts compiled to WebAssembly components and
//! serves them over HTTP exactly as the Azure ML scoring server does.
//!
//! An entry script (a component of the `scorehost:plugin/scorer` world in `wit/`) runs `init`
//! once per instance and `run` per request, sandboxed: it sees its model folder read-only and
//! nothing else of the host.
//!
//! Modules:
//! - `batch`: adaptive batching, concurrent typed requests joined into one `run`.
//! - [`builder`]: builds Python and JavaScript entry scripts into components on the fly, with
//!   the embedded SDKs and a cached toolchain.
//! - [`collect`]: opt-in data collection of inputs and outputs as rotated JSON Lines.
//! - [`config`]: settings of a deployment and of the runtime, with their defaults.
//! - [`runtime`]: the wasmtime engine, compile cache, host imports, warm instance pool, limits.
//! - [`deployment`]: one loaded entry script with its model folder and instances.
//! - [`Host`]: scorehost as a library: a host made from settings, its deployments loaded or
//!   swapped, served on listeners the application binds, or scored directly.
//! - [`http`]: the HTTP server, routes, request ids and the error-to-response mapping.
//! - [`manifest`]: the deployments file (many tenants on one host).
//! - [`metrics`]: Prometheus metrics of requests, latencies, pools and guest failures.
//! - `oip`: the Open Inference Protocol v2: tensors on the wire and their mapping onto a
//!   script's declared parameters.
//! - [`registry`]: the deployments being served, and hot swap.
//! - `recent`: the last minute of traffic per deployment and the last swaps (the console's feed).
//! - `schema`: samples → Swagger/OpenAPI documents and typed, validated request values.
//! - [`scoring`]: the one way into scoring: a request's input, the scored output, the failures.

mod batch;
pub mod builder;
pub mod collect;
pub mod config;
pub mod deployment;
mod host;
pub mod http;
pub mod manifest;
pub mod metrics;
mod oip;
mod recent;
pub mod registry;
pub mod runtime;
mod schema;
pub mod scoring;

pub use collect::{CollectMode, CollectSettings};
pub use config::{
    BatchSettings, DeploymentSettings, Limits, RuntimeSettings, SampleVisibility, SwaggerSettings,
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
    pub use crate::runtime::onnx::name_unknown_dims;

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
            .score_on_fresh_instance(Input::Body(body.as_bytes()))
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
        let tensor = crate::schema::tensor_for_bench(raw, cols).map_err(|e| e.to_string())?;
        Ok(match tensor.elements {
            crate::runtime::bindings::Elements::Bytes(b) => b.len(),
            crate::runtime::bindings::Elements::Strings(s) => s.len(),
        })
    }
}
