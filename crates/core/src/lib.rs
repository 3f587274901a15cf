//! scorehost's core: deployments and the registry that serves them, scoring without HTTP.
//!
//! - [`scoring`]: the one way into scoring: a request's input, the scored output, the
//!   failures.
//! - [`deployment`]: one loaded entry script with its model folder, instances and form.
//! - [`registry`]: the deployments being served, and hot swap.
//! - [`batch`]: adaptive batching, concurrent typed requests joined into one `run`.
//! - [`collect`]: opt-in data collection of inputs and outputs as rotated JSON Lines.
//! - [`recent`]: the last minute of traffic per deployment and the last swaps (the console's
//!   feed), a passive store the registry's sampler fills.
//! - [`config`]: settings of a deployment, with their defaults.

pub mod batch;
pub mod collect;
pub mod config;
pub mod deployment;
pub mod recent;
pub mod registry;
pub mod scoring;

pub use collect::{CollectMode, CollectSettings};
pub use config::{BatchSettings, DeploymentSettings, Limits};
pub use deployment::{Deployment, Form};
pub use registry::Registry;
pub use scorehost_runtime::{Runtime, RuntimeSettings};
pub use scorehost_schema::{SampleVisibility, SwaggerSettings};
