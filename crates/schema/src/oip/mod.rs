//! The Open Inference Protocol v2 (KServe V2, Triton's and MLServer's HTTP API), beside the
//! Azure ML routes: tensors on the wire, and how they meet an entry script's declared
//! parameters.
//!
//! - `mapping`: the one place that knows how a script's schema becomes input and output
//!   tensors, how input tensors become the `/score` request the script already accepts, and
//!   how the script's JSON result becomes output tensors.
//! - `wire`: the request and response bodies, JSON and the binary tensor data extension.
//!
//! The HTTP side (routes, keys, error bodies) is `http::oip`.

mod mapping;
mod wire;

pub use mapping::Signature;

pub use wire::{binary_header_length, encode_response, parse_request};

/// A tensor element type, as the protocol names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)] // The protocol's own names, each the element type it says.
pub enum Datatype {
    Bool,
    Uint8,
    Uint16,
    Uint32,
    Uint64,
    Int8,
    Int16,
    Int32,
    Int64,
    Fp16,
    Fp32,
    Fp64,
    Bf16,
    Bytes,
}

impl Datatype {
    /// The protocol's name (`FP32`, `BYTES`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Datatype::Bool => "BOOL",
            Datatype::Uint8 => "UINT8",
            Datatype::Uint16 => "UINT16",
            Datatype::Uint32 => "UINT32",
            Datatype::Uint64 => "UINT64",
            Datatype::Int8 => "INT8",
            Datatype::Int16 => "INT16",
            Datatype::Int32 => "INT32",
            Datatype::Int64 => "INT64",
            Datatype::Fp16 => "FP16",
            Datatype::Fp32 => "FP32",
            Datatype::Fp64 => "FP64",
            Datatype::Bf16 => "BF16",
            Datatype::Bytes => "BYTES",
        }
    }

    /// Parses a protocol name; `None` for a name the protocol does not have.
    pub fn parse(name: &str) -> Option<Datatype> {
        Some(match name {
            "BOOL" => Datatype::Bool,
            "UINT8" => Datatype::Uint8,
            "UINT16" => Datatype::Uint16,
            "UINT32" => Datatype::Uint32,
            "UINT64" => Datatype::Uint64,
            "INT8" => Datatype::Int8,
            "INT16" => Datatype::Int16,
            "INT32" => Datatype::Int32,
            "INT64" => Datatype::Int64,
            "FP16" => Datatype::Fp16,
            "FP32" => Datatype::Fp32,
            "FP64" => Datatype::Fp64,
            "BF16" => Datatype::Bf16,
            "BYTES" => Datatype::Bytes,
            _ => return None,
        })
    }

    /// Bytes per element in the binary extension; `None` for `BYTES` (length-prefixed).
    pub fn width(self) -> Option<usize> {
        Some(match self {
            Datatype::Bool | Datatype::Uint8 | Datatype::Int8 => 1,
            Datatype::Uint16 | Datatype::Int16 | Datatype::Fp16 | Datatype::Bf16 => 2,
            Datatype::Uint32 | Datatype::Int32 | Datatype::Fp32 => 4,
            Datatype::Uint64 | Datatype::Int64 | Datatype::Fp64 => 8,
            Datatype::Bytes => return None,
        })
    }
}

/// Why an inference request was not answered, by the protocol's status classes.
#[derive(Debug, thiserror::Error)]
pub enum OipError {
    /// The client's request is wrong (400).
    #[error("{0}")]
    BadRequest(String),
    /// The server cannot do what is asked (501).
    #[error("{0}")]
    Unsupported(String),
    /// The entry script's result does not fit its declared outputs (500).
    #[error("{0}")]
    Output(String),
}

/// Shorthand for a 400.
pub fn bad(message: impl Into<String>) -> OipError {
    OipError::BadRequest(message.into())
}

/// A shape as the protocol writes it, `[2, 10]`.
pub fn shape_text<T: std::fmt::Display>(shape: &[T]) -> String {
    let dims: Vec<String> = shape.iter().map(ToString::to_string).collect();
    format!("[{}]", dims.join(", "))
}
