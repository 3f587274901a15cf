//! Entry scripts in the `@rawhttp` style: the whole request in, the whole response out.
//!
//! ```ignore
//! use scorehost_guest::raw::{RawEntryScript, Request, Response};
//!
//! struct Echo;
//!
//! impl RawEntryScript for Echo {
//!     fn init() -> Result<Self, String> { Ok(Echo) }
//!     fn run(&mut self, request: Request) -> Result<Response, String> {
//!         Ok(match request.method.as_str() {
//!             "GET" => Response::new(200, request.full_path()),
//!             "POST" => Response::new(200, request.body),
//!             _ => Response::new(405, "bad request"),
//!         })
//!     }
//! }
//!
//! scorehost_guest::export_raw_entry_script!(Echo);
//! ```

pub use wit::scorehost::plugin::http::{FormFile, Request, Response};

/// The generated bindings of the `raw-scorer` world. Not part of the API.
#[doc(hidden)]
#[allow(missing_docs, unsafe_code, unused_qualifications, clippy::all)]
pub mod wit {
    wit_bindgen::generate!({
        path: "../wit",
        world: "raw-scorer",
        pub_export_macro: true,
        export_macro_name: "__export_raw_scorer_world",
        type_section_suffix: "raw",
        with: {
            "scorehost:plugin/host@0.2.0": crate::wit::scorehost::plugin::host,
            "wasi:nn/tensor@0.2.0-rc-2024-10-28": crate::wit::wasi::nn::tensor,
            "wasi:nn/errors@0.2.0-rc-2024-10-28": crate::wit::wasi::nn::errors,
            "wasi:nn/inference@0.2.0-rc-2024-10-28": crate::wit::wasi::nn::inference,
            "wasi:nn/graph@0.2.0-rc-2024-10-28": crate::wit::wasi::nn::graph,
            "scorehost:plugin/nn-info@0.2.0": crate::wit::scorehost::plugin::nn_info,
            "scorehost:plugin/http@0.2.0": generate,
        },
    });
}

/// What a raw entry script implements.
pub trait RawEntryScript: Sized + 'static {
    /// Loads the model; called once per instance before any request.
    fn init() -> Result<Self, String>;

    /// Answers one request to `/score`, whatever its method. An `Err` is logged by the host and
    /// the client gets a generic 500, as for an exception in an Azure ML `run()`.
    fn run(&mut self, request: Request) -> Result<Response, String>;
}

impl Request {
    /// Path and query as Flask's `request.full_path` gives them: always with a `?`.
    pub fn full_path(&self) -> String {
        format!("{}?{}", self.path, self.query)
    }

    /// The first value of a header (names are matched case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The uploaded file of form field `field` (`request.files["image"]`).
    pub fn file(&self, field: &str) -> Option<&FormFile> {
        self.files.iter().find(|f| f.field == field)
    }

    /// The raw body (`request.get_data()`).
    pub fn get_data(&self) -> &[u8] {
        &self.body
    }
}

impl Response {
    /// A response with `status` and `body`; the content type defaults to the Azure ML server's
    /// `text/html; charset=utf-8` unless a `content-type` header is added.
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Response {
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// A JSON response.
    pub fn json(status: u16, value: &serde_json::Value) -> Self {
        Response::new(status, value.to_string()).with_header("content-type", "application/json")
    }

    /// Adds a header.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// Exports a type implementing [`RawEntryScript`] as the component's `raw-scorer` world.
#[macro_export]
macro_rules! export_raw_entry_script {
    ($script:ty) => {
        const _: () = {
            struct ScorehostRawExport;

            impl $crate::raw::wit::Guest for ScorehostRawExport {
                fn init() -> ::std::result::Result<(), ::std::string::String> {
                    $crate::__private::keep(<$script as $crate::raw::RawEntryScript>::init()?);
                    Ok(())
                }

                fn run(
                    request: $crate::raw::Request,
                ) -> ::std::result::Result<$crate::raw::Response, ::std::string::String> {
                    $crate::__private::with_script(|script: &mut $script| {
                        <$script as $crate::raw::RawEntryScript>::run(script, request)
                    })
                    .unwrap_or_else(|| Err("run() was called before init()".to_owned()))
                }
            }

            $crate::raw::wit::__export_raw_scorer_world!(ScorehostRawExport with_types_in $crate::raw::wit);
        };
    };
}
