//! Models run by the host's inference engine through `wasi:nn`: the model stays a file in the
//! model folder, the host loads it once for every instance, and the math runs natively.
//!
//! ```no_run
//! use scorehost_guest::nn::{Model, NnTensor};
//!
//! // In `init`: the model folder's `model.onnx` (or "NAME", "NAME/VERSION", a path).
//! let model = Model::load("model.onnx")?;
//! // In `run`: named inputs in, every output of the model out, by name.
//! let x = NnTensor::f32(&[1, 4], &[5.1, 3.5, 1.4, 0.2]);
//! let outputs = model.run(&[("float_input", &x)])?;
//! let label = outputs.get("label").map(NnTensor::to_i64);
//! # Ok::<(), scorehost_guest::nn::NnError>(())
//! ```

use std::collections::BTreeMap;
use std::fmt;

use crate::wit::scorehost::plugin::nn_info;
use crate::wit::wasi::nn::{errors, graph, inference, tensor};
use crate::{Dtype, Elements, Tensor, Value};

pub use crate::wit::scorehost::plugin::nn_info::TensorInfo;
pub use crate::wit::wasi::nn::errors::ErrorCode;
pub use crate::wit::wasi::nn::tensor::TensorType;

/// A `wasi:nn` failure: its code (`InvalidArgument` for inputs that do not fit the model,
/// `NotFound` for an unknown model, …) and the host's message, which names the input.
#[derive(Debug, Clone, PartialEq)]
pub struct NnError {
    /// What went wrong, as `wasi:nn` classifies it.
    pub code: ErrorCode,
    /// The host's one-line explanation.
    pub message: String,
}

impl NnError {
    fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        NnError {
            code,
            message: message.into(),
        }
    }

    fn from_wit(error: errors::Error) -> Self {
        NnError::new(error.code(), error.data())
    }

    /// Whether the caller's data was at fault (a wrong input name, type or shape): a client
    /// error, worth a 400 (`RunError::bad_input`).
    pub fn is_invalid_input(&self) -> bool {
        matches!(self.code, ErrorCode::InvalidArgument | ErrorCode::TooLarge)
    }
}

impl fmt::Display for NnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for NnError {}

impl From<NnError> for String {
    fn from(error: NnError) -> String {
        error.message
    }
}

impl From<NnError> for crate::RunError {
    /// Bad inputs become 400 with the host's message (it names the input); anything else a
    /// script failure with the message.
    fn from(error: NnError) -> Self {
        if error.is_invalid_input() {
            crate::RunError::bad_input(error.message)
        } else {
            crate::RunError::failed(error.message)
        }
    }
}

/// A tensor on its way to or from the host: dimensions, `wasi:nn` element type and the
/// elements' little-endian bytes, row-major. A model's `bool` tensors travel as `U8` 0/1.
#[derive(Debug, Clone, PartialEq)]
pub struct NnTensor {
    /// Length of each axis.
    pub dims: Vec<u32>,
    /// Element type.
    pub ty: TensorType,
    /// `product(dims) × element size` bytes.
    pub data: Vec<u8>,
}

macro_rules! constructors {
    ($($name:ident: $t:ty => $ty:ident),* $(,)?) => {$(
        #[doc = concat!("A `", stringify!($t), "` tensor of shape `dims` from row-major `values`.")]
        pub fn $name(dims: &[u32], values: &[$t]) -> Self {
            NnTensor {
                dims: dims.to_vec(),
                ty: TensorType::$ty,
                data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            }
        }
    )*};
}

macro_rules! readers {
    ($($name:ident: $t:ty => $ty:ident),* $(,)?) => {$(
        #[doc = concat!("The elements as `", stringify!($t), "`, row-major; an error if the tensor holds another type.")]
        pub fn $name(&self) -> Result<Vec<$t>, NnError> {
            self.expect(TensorType::$ty)?;
            Ok(self
                .data
                .chunks_exact(size_of::<$t>())
                .map(|chunk| {
                    let mut word = [0u8; size_of::<$t>()];
                    word.copy_from_slice(chunk);
                    <$t>::from_le_bytes(word)
                })
                .collect())
        }
    )*};
}

impl NnTensor {
    constructors! {
        f32: f32 => Fp32,
        f64: f64 => Fp64,
        i64: i64 => I64,
        i32: i32 => I32,
        u8: u8 => U8,
    }

    readers! {
        to_f32: f32 => Fp32,
        to_f64: f64 => Fp64,
        to_i64: i64 => I64,
        to_i32: i32 => I32,
        to_u8: u8 => U8,
    }

    /// A `bool` tensor (sent as `U8` 0/1).
    pub fn bool(dims: &[u32], values: &[bool]) -> Self {
        NnTensor {
            dims: dims.to_vec(),
            ty: TensorType::U8,
            data: values.iter().map(|&b| u8::from(b)).collect(),
        }
    }

    /// The elements of a `U8` tensor as booleans (a model's `bool` output).
    pub fn to_bool(&self) -> Result<Vec<bool>, NnError> {
        self.expect(TensorType::U8)?;
        Ok(self.data.iter().map(|&b| b != 0).collect())
    }

    /// A typed input of the request as it is: its bytes are already little-endian and
    /// row-major. `float64`, `float32`, `int64`, `int32`, `uint8` and `bool` map to their
    /// `wasi:nn` types; any other dtype is an `InvalidArgument` error.
    pub fn from_tensor(tensor: &Tensor) -> Result<Self, NnError> {
        let ty = match tensor.dtype {
            Dtype::Float32 => TensorType::Fp32,
            Dtype::Float64 => TensorType::Fp64,
            Dtype::Int64 => TensorType::I64,
            Dtype::Int32 => TensorType::I32,
            Dtype::Uint8 | Dtype::Bool => TensorType::U8,
            other => {
                return Err(NnError::new(
                    ErrorCode::InvalidArgument,
                    format!("{other:?} tensors cannot be passed to a model"),
                ));
            }
        };
        let Elements::Bytes(data) = &tensor.elements else {
            return Err(NnError::new(
                ErrorCode::InvalidArgument,
                "string tensors cannot be passed to a model",
            ));
        };
        let dims = tensor
            .shape
            .iter()
            .map(|&d| u32::try_from(d))
            .collect::<Result<Vec<u32>, _>>()
            .map_err(|_| NnError::new(ErrorCode::TooLarge, "a dimension over 2^32"))?;
        Ok(NnTensor {
            dims,
            ty,
            data: data.clone(),
        })
    }

    /// The tensor as nested JSON lists (a scalar for rank 0), as numpy's `tolist()` gives it.
    /// `FP32` elements are written in their shortest form (`0.97`, not `0.9700000286102295`),
    /// which reads back as the same `float32`; NaN and infinities, which JSON cannot carry,
    /// as `null`.
    pub fn to_json(&self) -> Result<Value, NnError> {
        let flat: Vec<Value> = match self.ty {
            TensorType::Fp32 => self.to_f32()?.into_iter().map(f32_json).collect(),
            TensorType::Fp64 => self.to_f64()?.into_iter().map(Value::from).collect(),
            TensorType::I64 => self.to_i64()?.into_iter().map(Value::from).collect(),
            TensorType::I32 => self.to_i32()?.into_iter().map(Value::from).collect(),
            TensorType::U8 => self.to_u8()?.into_iter().map(Value::from).collect(),
            other => {
                return Err(NnError::new(
                    ErrorCode::UnsupportedOperation,
                    format!("{other:?} tensors have no JSON form here"),
                ));
            }
        };
        Ok(nest(flat, &self.dims))
    }

    fn expect(&self, ty: TensorType) -> Result<(), NnError> {
        if self.ty == ty {
            Ok(())
        } else {
            Err(NnError::new(
                ErrorCode::InvalidArgument,
                format!("the tensor holds {:?}, not {ty:?}", self.ty),
            ))
        }
    }
}

/// A finite `f32` as the shortest decimal that reads back as it; NaN and infinities as `null`.
fn f32_json(x: f32) -> Value {
    x.to_string()
        .parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
        .map_or(Value::Null, Value::Number)
}

/// Groups row-major `flat` values into lists, innermost axis first.
fn nest(mut flat: Vec<Value>, dims: &[u32]) -> Value {
    for &len in dims.iter().skip(1).rev() {
        let len = (len as usize).max(1);
        let mut groups = Vec::with_capacity(flat.len() / len);
        let mut rest = flat.into_iter();
        while rest.len() > 0 {
            groups.push(Value::Array(rest.by_ref().take(len).collect()));
        }
        flat = groups;
    }
    if dims.is_empty() {
        flat.pop().unwrap_or(Value::Null)
    } else {
        Value::Array(flat)
    }
}

/// A model the host loaded for this deployment. Load it once in `init` and keep it: the host
/// shares one copy with every instance, so holding it costs the instance nothing.
pub struct Model {
    name: String,
    context: inference::GraphExecutionContext,
    info: nn_info::ModelInfo,
    // Kept alive with its context.
    _graph: graph::Graph,
}

impl fmt::Debug for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Model")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Model {
    /// The model named `name`: a path relative to the model folder (`model.onnx`,
    /// `iris/2/model.onnx`) or under `$AZUREML_MODEL_DIR`, a folder holding a `model.onnx`
    /// (`iris/2`), or `NAME` of the multi-model layout (its latest version).
    pub fn load(name: &str) -> Result<Model, NnError> {
        let graph = graph::load_by_name(name).map_err(NnError::from_wit)?;
        let context = graph.init_execution_context().map_err(NnError::from_wit)?;
        let info = nn_info::describe(name).map_err(|m| NnError::new(ErrorCode::NotFound, m))?;
        Ok(Model {
            name: name.to_owned(),
            context,
            info,
            _graph: graph,
        })
    }

    /// The model's inputs: ONNX name, element type (`float`, `int64`, `bool`, …) and shape
    /// (`None`: any size).
    pub fn inputs(&self) -> &[TensorInfo] {
        &self.info.inputs
    }

    /// The model's outputs, in the model's order.
    pub fn outputs(&self) -> &[TensorInfo] {
        &self.info.outputs
    }

    /// Runs the model: every input by its ONNX name; returns every output by name.
    /// Inputs that do not fit the model are an `InvalidArgument` error naming the input.
    pub fn run(&self, inputs: &[(&str, &NnTensor)]) -> Result<BTreeMap<String, NnTensor>, NnError> {
        let inputs = inputs
            .iter()
            .map(|(name, t)| {
                (
                    (*name).to_owned(),
                    tensor::Tensor::new(&t.dims, t.ty, &t.data),
                )
            })
            .collect::<Vec<_>>();
        let outputs = self.context.compute(inputs).map_err(NnError::from_wit)?;
        Ok(outputs
            .into_iter()
            .map(|(name, t)| {
                let tensor = NnTensor {
                    dims: t.dimensions(),
                    ty: t.ty(),
                    data: t.data(),
                };
                (name, tensor)
            })
            .collect())
    }
}
