//! The Rust twin of `plugins/python/onnx_cnn`: a convolutional image classifier (a small
//! ResNet made by `plugins/python/onnx_cnn/model/make.py`) run by the host's inference engine
//! through `wasi:nn` (`scorehost_guest::nn`). The guest holds no model and no ML runtime; it
//! only moves tensors.
//!
//! Input `image`: one or more 96×96 RGB images, float32 NCHW `[*, 3, 96, 96]`, pixels scaled
//! to [0, 1]. Output: `classes` (the most probable class per image) and `probabilities` (one
//! row of ten per image).

use scorehost_guest::nn::{Model, NnTensor};
use scorehost_guest::{Arguments, Param, RunError, Sample, Schema, Script, Value, json};

/// Image side, in pixels.
const SIDE: u64 = 96;
/// Colour channels.
const CHANNELS: u64 = 3;

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

    /// `@input_schema("image", NumpyParameterType(np.zeros((1, 3, 96, 96), dtype=np.float32)))`:
    /// a request body is `{"image": [[[[...]]]]}`.
    fn schema() -> Schema {
        let zeros = vec![0f32; (CHANNELS * SIDE * SIDE) as usize];
        Schema::new()
            .parameter("image", Sample::ndarray(&[1, CHANNELS, SIDE, SIDE], &zeros))
            .output(json!({"classes": [8], "probabilities": [vec![0.1; 10]]}))
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
        let values = probabilities.to_f32()?;
        let rows: Vec<&[f32]> = values.chunks(classes_count.max(1)).collect();
        let classes: Vec<usize> = rows
            .iter()
            .map(|row| {
                // numpy's argmax: the first of equal maxima.
                row.iter()
                    .enumerate()
                    .fold((0, f32::NEG_INFINITY), |best, (i, &p)| {
                        if p > best.1 { (i, p) } else { best }
                    })
                    .0
            })
            .collect();
        Ok(json!({"classes": classes, "probabilities": rows}))
    }
}

scorehost_guest::export_script!(OnnxCnn);
