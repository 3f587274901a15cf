//! Write scorehost entry scripts in Rust.
//!
//! An entry script is as short as its Azure ML Python twin: a type that loads the model in
//! [`EntryScript::init`] and scores a request in [`EntryScript::run`], exported with
//! [`export_entry_script!`]. The crate hides the `wit-bindgen` plumbing.
//!
//! ```ignore
//! use scorehost_guest::{EntryScript, Inputs, Param, RunError, Value, json};
//!
//! struct Doubler;
//!
//! impl EntryScript for Doubler {
//!     fn init() -> Result<Self, String> {
//!         Ok(Doubler)
//!     }
//!     fn run(&mut self, inputs: Inputs, _global: Option<Param>) -> Result<Value, RunError> {
//!         let x = inputs.require("x")?.as_f64()?;
//!         Ok(json!(x * 2.0))
//!     }
//! }
//!
//! scorehost_guest::export_entry_script!(Doubler);
//! ```
//!
//! Modules: [`model`] (where the model files are), [`log`] (the host's structured log),
//! [`schema`] (samples that type the inputs);
//! the input types ([`Inputs`], [`Param`], [`Matrix`]) and [`RunError`] live at the root.

use std::any::Any;
use std::cell::RefCell;

pub use serde_json::{Value, json};

pub mod log;
pub mod model;
mod param;
pub mod raw;
pub mod schema;

pub use param::{Inputs, Matrix, Param};
pub use schema::{Orient, Sample, Schema, column};
/// Tensor and frame types exactly as the host sends them (see `wit/scorehost.wit`).
pub use wit::scorehost::plugin::types::{Column, Dtype, Elements, Frame, Tensor};

/// The generated bindings. Not part of the API: use the types re-exported at the root.
///
/// The `scorer` world is generated here; the `raw-scorer` world in [`raw::wit`] reuses its
/// shared interfaces. A plugin exports one of them; the other's component-type section is not
/// referenced and the linker drops it.
#[doc(hidden)]
#[allow(missing_docs, unsafe_code, unused_qualifications, clippy::all)]
pub mod wit {
    wit_bindgen::generate!({
        path: "../wit",
        world: "scorer",
        pub_export_macro: true,
        export_macro_name: "__export_scorer_world",
        additional_derives: [PartialEq],
    });
}

/// What an entry script implements: `init` once per instance, `run` once per request.
pub trait EntryScript: Sized + 'static {
    /// Loads the model; called once per instance before any request (like Azure ML's
    /// `init()`). Read files under [`model::model_dir`] here, not in `run`.
    /// An `Err` keeps the deployment from becoming ready; the host logs the message.
    fn init() -> Result<Self, String>;

    /// The inputs and outputs, described by samples (see [`schema`]). The default, `None`,
    /// means "not described": every `Inputs` entry then arrives as [`Param::Json`].
    fn schema() -> Option<Schema> {
        None
    }

    /// Scores one request. `inputs` are the entries of the request's `Inputs` object,
    /// `global_parameters` its `GlobalParameters`. The returned value is the response body.
    fn run(&mut self, inputs: Inputs, global_parameters: Option<Param>) -> Result<Value, RunError>;
}

/// Why [`EntryScript::run`] gave no result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunError {
    /// The request does not fit the model: the client gets 400 with this message.
    BadInput(String),
    /// Scoring failed: the client gets 500 with this message and
    /// `x-ms-run-function-failed: True`.
    Failed(String),
}

impl RunError {
    /// A 400 for the client, with this message.
    pub fn bad_input(message: impl Into<String>) -> Self {
        RunError::BadInput(message.into())
    }

    /// A 500 for the client, with this message.
    pub fn failed(message: impl Into<String>) -> Self {
        RunError::Failed(message.into())
    }
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunError::BadInput(m) | RunError::Failed(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for RunError {}

/// Exports a type implementing [`EntryScript`] as the component's `scorer` world.
#[macro_export]
macro_rules! export_entry_script {
    ($script:ty) => {
        const _: () = {
            struct ScorehostExport;

            impl $crate::wit::Guest for ScorehostExport {
                fn init() -> ::std::result::Result<(), ::std::string::String> {
                    $crate::__private::init::<$script>()
                }

                fn schema() -> ::std::option::Option<$crate::wit::scorehost::plugin::types::Schema>
                {
                    <$script as $crate::EntryScript>::schema().map($crate::__private::schema_to_wit)
                }

                fn run(
                    inputs: ::std::vec::Vec<$crate::wit::scorehost::plugin::types::NamedParam>,
                    global_parameters: ::std::option::Option<
                        $crate::wit::scorehost::plugin::types::Param,
                    >,
                ) -> ::std::result::Result<
                    ::std::string::String,
                    $crate::wit::scorehost::plugin::types::RunError,
                > {
                    $crate::__private::run::<$script>(inputs, global_parameters)
                }
            }

    $crate::wit::__export_scorer_world!(ScorehostExport with_types_in $crate::wit);
        };
    };
}

/// Glue called by [`export_entry_script!`]; not part of the API.
#[doc(hidden)]
pub mod __private {
    use super::*;
    use crate::wit::scorehost::plugin::types as wit_types;

    thread_local! {
        /// The script's state after `init`. A component instance is single-threaded, so a
        /// thread-local is simply the instance's global.
        static SCRIPT: RefCell<Option<Box<dyn Any>>> = const { RefCell::new(None) };
    }

    pub fn schema_to_wit(schema: Schema) -> wit_types::Schema {
        schema.into_wit()
    }

    pub fn init<S: EntryScript>() -> Result<(), String> {
        keep(S::init()?);
        Ok(())
    }

    /// Stores the script's state for later `run` calls.
    pub fn keep<S: 'static>(script: S) {
        SCRIPT.with(|slot| *slot.borrow_mut() = Some(Box::new(script)));
    }

    /// Calls `f` with the script's state; `None` before `init`.
    pub fn with_script<S: 'static, R>(f: impl FnOnce(&mut S) -> R) -> Option<R> {
        SCRIPT.with(|slot| slot.borrow_mut().as_mut()?.downcast_mut::<S>().map(f))
    }

    pub fn run<S: EntryScript>(
        inputs: Vec<wit_types::NamedParam>,
        global_parameters: Option<wit_types::Param>,
    ) -> Result<String, wit_types::RunError> {
        let result = (|| {
            let inputs = Inputs::from_wit(inputs)?;
            let global = global_parameters.map(Param::from_wit).transpose()?;
            with_script(|script: &mut S| script.run(inputs, global))
                .ok_or_else(|| RunError::failed("run() was called before init()"))?
        })();
        match result {
            Ok(value) => serde_json::to_string(&value)
                .map_err(|e| wit_types::RunError::Failed(format!("result is not JSON: {e}"))),
            Err(RunError::BadInput(m)) => Err(wit_types::RunError::BadInput(m)),
            Err(RunError::Failed(m)) => Err(wit_types::RunError::Failed(m)),
        }
    }
}
