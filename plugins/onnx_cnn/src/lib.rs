//! The Rust twin of `plugins/python/onnx_cnn`: a convolutional image classifier (a small
//! ResNet made by `plugins/python/onnx_cnn/model/make.py`) run by the host's inference engine
//! through `wasi:nn` (`scorehost_guest::nn`). The guest holds no model and no ML runtime; it
//! only moves tensors.
//!
//! Input `image`: one or more 96×96 RGB images, float32 NCHW `[*, 3, 96, 96]`, pixels scaled
//! to [0, 1]. Output: `classes` (the most probable class per image) and `probabilities` (one
//! row of ten per image).

use scorehost_guest::nn::{Model, NnTensor};
use scorehost_guest::{Arguments, Param, RunError, Schema, Script, Value};

mod answer;

struct OnnxCnn {
    model: Model,
    input_name: String,
}

impl Script for OnnxCnn {
    fn init() -> Result<Self, String> {
        let model = Model::load("model.onnx")?;
        let input_name = model
            .inputs()
            .first()
            .ok_or("the model has no inputs")?
            .name
            .clone();
        Ok(OnnxCnn { model, input_name })
    }

    fn schema() -> Schema {
        answer::schema()
    }

    fn run(&mut self, arguments: Arguments) -> Result<Value, RunError> {
        let Param::Tensor(image) = arguments.require("image")? else {
            return Err(RunError::bad_input("'image' must be an array of numbers"));
        };
        // The host has checked `image` against the sample (float32, [*, 3, 96, 96]).
        let input = NnTensor::from_tensor(image)?;
        let mut outputs = self.model.run(&[(&self.input_name, &input)])?;
        let probabilities = outputs
            .remove("probabilities")
            .ok_or_else(|| RunError::failed("the model gave no 'probabilities' output"))?;
        let classes_count = *probabilities.dims.last().unwrap_or(&1) as usize;
        Ok(answer::answer(&probabilities.to_f32()?, classes_count))
    }
}

scorehost_guest::export_script!(OnnxCnn);
