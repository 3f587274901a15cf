//! scorehost: hosts machine-learning entry scripts compiled to WebAssembly components and
//! serves them over HTTP exactly as the Azure ML scoring server does.
//!
//! An entry script (a component of the `scorehost:plugin/scorer` world in `wit/`) runs `init`
//! once per instance and `run` per request, sandboxed: it sees its model folder read-only and
//! nothing else of the host.
//!
//! Modules:
//! - [`config`]: settings of a deployment and of the runtime, with their defaults.
//! - [`runtime`]: the wasmtime engine, compile cache, host imports, warm instance pool, limits.
//! - [`deployment`]: one loaded entry script with its model folder and instances.
//! - [`http`]: the HTTP server, routes, request ids and the error-to-response mapping.

pub mod config;
pub mod deployment;
pub mod http;
pub mod runtime;

pub use config::{DeploymentSettings, Limits, RuntimeSettings};
pub use deployment::Deployment;
pub use http::Server;
pub use runtime::Runtime;
