//! `plugins/onnx_cnn` with tract compiled into the guest instead of `wasi:nn`: the same
//! schema, requests and answers, the model parsed and run inside the sandbox at Wasm speed.
//! Kept for the benchmark's in-guest row of the CNN suite (`cargo xtask bench --only CNN`).

use onnx_plan::{OnnxModel, f32_tensor};
use scorehost_guest::model::model_dir;
use scorehost_guest::{Arguments, Dtype, Elements, Param, RunError, Schema, Script, Value};

#[path = "../../onnx_cnn/src/answer.rs"]
mod answer;

struct OnnxCnnTract {
    model: OnnxModel,
}

impl Script for OnnxCnnTract {
    fn init() -> Result<Self, String> {
        let model = OnnxModel::load(&model_dir().join("model.onnx"))?;
        Ok(OnnxCnnTract { model })
    }

    fn schema() -> Schema {
        answer::schema()
    }

    fn run(&mut self, arguments: Arguments) -> Result<Value, RunError> {
        let Param::Tensor(image) = arguments.require("image")? else {
            return Err(RunError::bad_input("'image' must be an array of numbers"));
        };
        // The host has checked `image` against the sample (float32, [*, 3, 96, 96]).
        let (Dtype::Float32, Elements::Bytes(bytes)) = (image.dtype, &image.elements) else {
            return Err(RunError::bad_input("'image' must hold float32 numbers"));
        };
        let input = f32_tensor(&image.shape, bytes)
            .map_err(|e| RunError::bad_input(format!("'image': {e}")))?;
        let outputs = self.model.run(vec![input]).map_err(RunError::failed)?;
        let position = self
            .model
            .output_names()
            .iter()
            .position(|name| name == "probabilities")
            .ok_or_else(|| RunError::failed("the model gave no 'probabilities' output"))?;
        let probabilities = &outputs[position];
        let classes_count = probabilities.shape().last().copied().unwrap_or(1);
        let values: Vec<f32> = probabilities
            .to_plain_array_view::<f32>()
            .map_err(|e| RunError::failed(format!("'probabilities': {e}")))?
            .iter()
            .copied()
            .collect();
        Ok(answer::answer(&values, classes_count))
    }
}

scorehost_guest::export_script!(OnnxCnnTract);
