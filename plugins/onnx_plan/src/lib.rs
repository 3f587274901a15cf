//! Loads an ONNX model with [tract](https://crates.io/crates/tract-onnx) into an optimised,
//! runnable plan, inside the Wasm guest. Shared by the `onnx_image`, `onnx_tabular_tract` and
//! `onnx_cnn_tract` plugins; not a plugin itself.
//!
//! An entry script loads its model once in `init` ([`OnnxModel::load`]) and keeps it: parsing
//! and optimising cost milliseconds, running the plan microseconds.

use std::path::Path;
use std::sync::Arc;

use serde_json::{Value, json};
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::infer::Factoid;

pub use tract_onnx::prelude::Tensor;

/// An ONNX model ready to run.
pub struct OnnxModel {
    plan: Arc<TypedRunnableModel>,
    output_names: Vec<String>,
}

impl OnnxModel {
    /// Parses the model at `path` and optimises it for any batch size.
    ///
    /// Exporters such as skl2onnx leave the batch (first) dimension of the inputs unnamed;
    /// tract would then not know it and could not optimise, so it becomes the symbol `N`.
    /// The error names the file and says why tract refused it.
    pub fn load(path: &Path) -> Result<Self, String> {
        Self::plan(path).map_err(|e| format!("cannot load ONNX model {}: {e:#}", path.display()))
    }

    fn plan(path: &Path) -> TractResult<Self> {
        let mut model = tract_onnx::onnx().model_for_path(path)?;
        let batch = model.symbols.sym("N");
        for input in 0..model.inputs.len() {
            let fact = model.input_fact_mut(input)?;
            if fact.shape.dim(0).is_some_and(|d| d.concretize().is_none()) {
                fact.shape.set_dim(0, batch.clone().into());
            }
        }
        // Read before optimising, which may rename nodes.
        let output_names = model
            .output_outlets()?
            .iter()
            .map(|&o| {
                model
                    .outlet_label(o)
                    .unwrap_or(&model.node(o.node).name)
                    .to_owned()
            })
            .collect();
        let plan = model.into_optimized()?.into_runnable()?;
        Ok(OnnxModel { plan, output_names })
    }

    /// Runs the model on `inputs` (in the model's input order) and returns its outputs in the
    /// model's output order.
    pub fn run(&self, inputs: Vec<Tensor>) -> Result<Vec<Tensor>, String> {
        let inputs = inputs.into_iter().map(TValue::from).collect();
        let outputs = self.plan.run(inputs).map_err(|e| format!("{e:#}"))?;
        Ok(outputs.into_iter().map(TValue::into_tensor).collect())
    }

    /// The names of the model's outputs, in order (skl2onnx's `to_onnx`: `label` and
    /// `probabilities` for a classifier, `variable` for a regressor).
    pub fn output_names(&self) -> &[String] {
        &self.output_names
    }
}

/// A float32 tensor of `shape` from little-endian element bytes (the host's tensor encoding).
/// The error says what does not fit, without naming the input (the caller does).
pub fn f32_tensor(shape: &[u64], bytes: &[u8]) -> Result<Tensor, String> {
    let values: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let shape = shape
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| "too large".to_owned()))
        .collect::<Result<Vec<_>, _>>()?;
    Tensor::from_shape(&shape, &values).map_err(|e| format!("{e}"))
}

/// A tensor as nested JSON lists (a scalar for rank 0), as numpy's `tolist()` gives it.
///
/// `float32` values are written in their shortest form (`0.97`, not `0.9700000286102295`),
/// which reads back as the same `float32`.
pub fn to_json(tensor: &Tensor) -> Result<Value, String> {
    let flat: Vec<Value> = match tensor.datum_type() {
        DatumType::F32 => view::<f32>(tensor)?.map(|x| f32_json(*x)).collect(),
        DatumType::F64 => view::<f64>(tensor)?.map(|x| json!(x)).collect(),
        DatumType::Bool => view::<bool>(tensor)?.map(|x| json!(x)).collect(),
        DatumType::String => view::<String>(tensor)?.map(|x| json!(x)).collect(),
        dt if dt.is_integer() => {
            let ints = tensor.cast_to::<i64>().map_err(|e| format!("{e:#}"))?;
            view::<i64>(&ints)?.map(|x| json!(x)).collect()
        }
        dt => return Err(format!("cannot write a {dt:?} tensor as JSON")),
    };
    Ok(nest(flat, tensor.shape()))
}

fn view<D: Datum>(tensor: &Tensor) -> Result<impl Iterator<Item = &D>, String> {
    let view = tensor
        .to_plain_array_view::<D>()
        .map_err(|e| format!("{e:#}"))?;
    Ok(view.into_iter())
}

/// A finite `f32` as the shortest decimal that reads back as it; NaN and infinities (which
/// JSON cannot carry) as `null`.
pub fn f32_json(x: f32) -> Value {
    x.to_string()
        .parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
        .map_or(Value::Null, Value::Number)
}

/// Groups row-major `flat` values into lists, innermost axis first.
fn nest(mut flat: Vec<Value>, shape: &[usize]) -> Value {
    for &len in shape.iter().skip(1).rev() {
        let mut groups = Vec::with_capacity(flat.len() / len.max(1));
        let mut rest = flat.into_iter();
        while rest.len() > 0 {
            groups.push(Value::Array(rest.by_ref().take(len.max(1)).collect()));
        }
        flat = groups;
    }
    if shape.is_empty() {
        flat.pop().unwrap_or(Value::Null)
    } else {
        Value::Array(flat)
    }
}
