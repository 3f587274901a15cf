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
//! Modules: [`model`] (where the model files are), [`nn`] (run the deployment's ONNX models
//! in the host's engine, `wasi:nn`), [`log`] (the host's structured log),
//! [`schema`] (samples that type the inputs);
//! the input types ([`Inputs`], [`Param`], [`Matrix`]) and [`RunError`] live at the root.

use std::any::Any;
use std::cell::RefCell;

pub use serde_json::{Value, json};

pub mod log;
pub mod model;
pub mod nn;
mod packed;
mod param;
pub mod raw;
pub mod schema;

#[cfg(any(
    test,
    all(
        feature = "talc",
        target_family = "wasm",
        not(target_feature = "atomics")
    )
))]
mod alloc;

/// The allocator of every Rust entry script (feature `talc`, on by default): a request makes
/// a few dozen small allocations (the unpacked arguments, the result and its JSON text) that
/// are freed when `run` returns. Talc does those in fewer instructions than dlmalloc, the
/// wasm default, and a cache of freed small blocks in front of it in fewer still (measured in
/// ARCHITECTURE.md).
#[cfg(all(
    feature = "talc",
    target_family = "wasm",
    not(target_feature = "atomics")
))]
#[global_allocator]
static ALLOCATOR: alloc::SizeClassCache<talc::wasm::WasmDynamicTalc> =
    alloc::SizeClassCache::new(talc::wasm::new_wasm_dynamic_allocator());

pub use param::{Argument, Arguments, Inputs, Matrix, Param};
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
        // `wasi:nn` (wit/deps) is generated here too; `nn` wraps it.
        generate_all,
    });
}

/// An entry script in the Power BI form: `run(Inputs, GlobalParameters)`, `init` once per
/// instance, `run` once per request.
pub trait EntryScript: Sized + 'static {
    /// Loads the model; called once per instance before any request (like Azure ML's
    /// `init()`). Read files under [`model::model_dir`] here, not in `run`.
    /// An `Err` keeps the deployment from becoming ready; the host logs the message.
    fn init() -> Result<Self, String>;

    /// The inputs and outputs, described by samples (see [`schema`]). The default, `None`,
    /// declares nothing: every `Inputs` entry then arrives as [`Param::Json`], and
    /// `GlobalParameters` as any JSON.
    fn schema() -> Option<Schema> {
        None
    }

    /// Scores one request. `inputs` are the entries of the request's `Inputs` object,
    /// `global_parameters` its `GlobalParameters`. The returned value is the response body.
    fn run(&mut self, inputs: Inputs, global_parameters: Option<Param>) -> Result<Value, RunError>;
}

/// An entry script with top-level parameters of any name, like `inference-schema`'s
/// `@input_schema("data", NumpyParameterType(sample))` with `def run(data)`.
pub trait Script: Sized + 'static {
    /// Loads the model; called once per instance before any request.
    fn init() -> Result<Self, String>;

    /// The top-level parameters (see [`Schema::parameter`]) and the output sample.
    fn schema() -> Schema;

    /// Scores one request with its declared parameters, checked and converted by the host.
    fn run(&mut self, arguments: Arguments) -> Result<Value, RunError>;
}

/// An undecorated entry script, Azure ML's `def run(raw_data)`: `run` gets the request body
/// as the Azure ML server passes it (the POST body as text, any content type, possibly empty;
/// for GET, `json.dumps` of the query arguments). The Swagger page documents a free-form body.
pub trait UndecoratedScript: Sized + 'static {
    /// Loads the model; called once per instance before any request.
    fn init() -> Result<Self, String>;

    /// Scores one request from its raw text, e.g. `serde_json::from_str(raw_data)`.
    fn run(&mut self, raw_data: &str) -> Result<Value, RunError>;
}

/// Why [`EntryScript::run`] gave no result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunError {
    /// The request does not fit the model: the client gets 400 with this message.
    BadInput(String),
    /// Scoring failed: the client gets 500 with this message and
    /// `x-ms-run-function-failed: True`.
    Failed(String),
    /// Scoring failed in a way the client should not see (Python's uncaught exception): the
    /// host logs the text with the request id, the client gets Azure ML's generic 500.
    Exception(String),
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

    /// A 500 with Azure ML's generic message; `text` goes to the host's log only.
    pub fn exception(text: impl Into<String>) -> Self {
        RunError::Exception(text.into())
    }
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunError::BadInput(m) | RunError::Failed(m) | RunError::Exception(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for RunError {}

/// Exports a type implementing [`EntryScript`] as the component's `scorer` world.
#[macro_export]
macro_rules! export_entry_script {
    ($script:ty) => {
        $crate::__export_scorer!(
            $script,
            EntryScript,
            schema_of_entry_script,
            run_entry_script
        );
    };
}

/// Exports a type implementing [`Script`] as the component's `scorer` world.
#[macro_export]
macro_rules! export_script {
    ($script:ty) => {
        $crate::__export_scorer!($script, Script, schema_of_script, run_script);
    };
}

/// Exports a type implementing [`UndecoratedScript`] as the component's `scorer` world.
#[macro_export]
macro_rules! export_undecorated_script {
    ($script:ty) => {
        $crate::__export_scorer!(
            $script,
            UndecoratedScript,
            schema_of_undecorated,
            run_undecorated
        );
    };
}

/// The `scorer` world's exports for one of the script traits; not part of the API.
#[doc(hidden)]
#[macro_export]
macro_rules! __export_scorer {
    ($script:ty, $kind:ident, $schema:ident, $run:ident) => {
        const _: () = {
            struct ScorehostExport;

            impl $crate::wit::Guest for ScorehostExport {
                fn init() -> ::std::result::Result<(), ::std::string::String> {
                    $crate::__private::init(<$script as $crate::$kind>::init)
                }

                fn schema() -> ::std::option::Option<$crate::wit::scorehost::plugin::types::Schema>
                {
                    $crate::__private::$schema::<$script>()
                }

                fn run(
                    input: $crate::wit::scorehost::plugin::types::Input,
                ) -> ::std::result::Result<
                    ::std::string::String,
                    $crate::wit::scorehost::plugin::types::RunError,
                > {
                    $crate::__private::$run::<$script>(input)
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

    /// Runs a script's `init` and keeps its state for `run`.
    pub fn init<S: 'static>(init: fn() -> Result<S, String>) -> Result<(), String> {
        keep(init()?);
        Ok(())
    }

    pub fn schema_of_entry_script<S: EntryScript>() -> Option<wit_types::Schema> {
        Some(
            S::schema()
                .unwrap_or_else(Schema::open_power_bi)
                .into_wit(true),
        )
    }

    pub fn schema_of_script<S: Script>() -> Option<wit_types::Schema> {
        Some(S::schema().into_wit(false))
    }

    pub fn schema_of_undecorated<S: UndecoratedScript>() -> Option<wit_types::Schema> {
        None
    }

    /// Stores the script's state for later `run` calls.
    pub fn keep<S: 'static>(script: S) {
        SCRIPT.with(|slot| *slot.borrow_mut() = Some(Box::new(script)));
    }

    /// Calls `f` with the script's state; `None` before `init`.
    pub fn with_script<S: 'static, R>(f: impl FnOnce(&mut S) -> R) -> Option<R> {
        SCRIPT.with(|slot| slot.borrow_mut().as_mut()?.downcast_mut::<S>().map(f))
    }

    pub fn run_entry_script<S: EntryScript>(
        input: wit_types::Input,
    ) -> Result<String, wit_types::RunError> {
        finish((|| {
            let mut arguments = arguments(input)?;
            let inputs = match arguments.take("Inputs") {
                Some(Argument::Group(inputs)) => inputs,
                _ => Inputs::default(),
            };
            let global = match arguments.take("GlobalParameters") {
                Some(Argument::Value(param)) => Some(param),
                _ => None,
            };
            with_script(|script: &mut S| script.run(inputs, global))
                .ok_or_else(|| RunError::failed("run() was called before init()"))?
        })())
    }

    pub fn run_script<S: Script>(input: wit_types::Input) -> Result<String, wit_types::RunError> {
        finish((|| {
            let arguments = arguments(input)?;
            with_script(|script: &mut S| script.run(arguments))
                .ok_or_else(|| RunError::failed("run() was called before init()"))?
        })())
    }

    pub fn run_undecorated<S: UndecoratedScript>(
        input: wit_types::Input,
    ) -> Result<String, wit_types::RunError> {
        finish((|| {
            let wit_types::Input::Text(raw_data) = input else {
                return Err(RunError::failed(
                    "the host sent arguments to an undecorated script",
                ));
            };
            with_script(|script: &mut S| script.run(&raw_data))
                .ok_or_else(|| RunError::failed("run() was called before init()"))?
        })())
    }

    fn arguments(input: wit_types::Input) -> Result<Arguments, RunError> {
        match input {
            wit_types::Input::Arguments(packed) => packed::unpack(&packed),
            wit_types::Input::Text(_) => Err(RunError::failed(
                "the host sent text to a script with a schema",
            )),
        }
    }

    fn finish(result: Result<Value, RunError>) -> Result<String, wit_types::RunError> {
        match result {
            Ok(value) => serde_json::to_string(&value)
                .map_err(|e| wit_types::RunError::Failed(format!("result is not JSON: {e}"))),
            Err(RunError::BadInput(m)) => Err(wit_types::RunError::BadInput(m)),
            Err(RunError::Failed(m)) => Err(wit_types::RunError::Failed(m)),
            Err(RunError::Exception(m)) => Err(wit_types::RunError::Exception(m)),
        }
    }
}
