//! A handwritten-digit classifier (scikit-learn's 8×8 digits, an MLP exported to ONNX), run by
//! the host's inference engine through `wasi:nn` (`scorehost_guest::nn`).
//!
//! `POST` a multipart form with the file `image` (PNG or JPEG, any size): the guest decodes it,
//! turns it grey, shrinks it to 8×8 by averaging, scales each pixel to the data set's 0–16
//! (bright = ink, as in the data set) and answers the three likeliest digits:
//! `{"predictions": [{"label": 3, "score": 0.98}, …]}`. A missing or undecodable image gets
//! 400 with `{"message": …}`; any other method 405.

use scorehost_guest::json;
use scorehost_guest::nn::{Model, NnTensor};
use scorehost_guest::raw::{RawEntryScript, Request, Response};

/// The model's input is an 8×8 image, flattened row by row.
const SIDE: u32 = 8;
/// How many classes the answer lists.
const TOP: usize = 3;

struct OnnxImage {
    model: Model,
}

impl RawEntryScript for OnnxImage {
    fn init() -> Result<Self, String> {
        let model = Model::load("model.onnx")?;
        Ok(OnnxImage { model })
    }

    fn run(&mut self, request: Request) -> Result<Response, String> {
        if request.method != "POST" {
            return Ok(error(405, "POST a multipart form with the file 'image'")
                .with_header("allow", "POST"));
        }
        let Some(file) = request.file("image") else {
            return Ok(error(400, "missing multipart file 'image'"));
        };
        let pixels = match digit_pixels(&file.data) {
            Ok(pixels) => pixels,
            Err(e) => {
                return Ok(error(
                    400,
                    &format!("'image' is not a PNG or JPEG image: {e}"),
                ));
            }
        };
        let input = NnTensor::f32(&[1, SIDE * SIDE], &pixels);
        let input_name = &self.model.inputs()[0].name;
        let outputs = self.model.run(&[(input_name, &input)])?;
        // skl2onnx classifiers: [label, probabilities]; the digits' classes are 0..=9, so a
        // probability's index is its digit.
        let probabilities = self
            .model
            .outputs()
            .get(1)
            .and_then(|o| outputs.get(&o.name))
            .ok_or("the model has no probability output")?
            .to_f32()?;
        let mut ranked: Vec<(usize, f32)> = probabilities.iter().copied().enumerate().collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
        let predictions: Vec<_> = ranked
            .into_iter()
            .take(TOP)
            .map(|(label, score)| json!({"label": label, "score": shortest(score)}))
            .collect();
        Ok(Response::json(200, &json!({ "predictions": predictions })))
    }
}

/// Decodes an image to the model's input: 8×8 grey levels scaled from 0–255 to 0–16.
fn digit_pixels(data: &[u8]) -> Result<Vec<f32>, image::ImageError> {
    let grey = image::load_from_memory(data)?.to_luma8();
    // `thumbnail` averages the source pixels under each target pixel: an image drawn at a
    // multiple of 8×8 shrinks back to exactly its cells.
    let small = image::imageops::thumbnail(&grey, SIDE, SIDE);
    Ok(small
        .pixels()
        .map(|p| f32::from(p.0[0]) * 16.0 / 255.0)
        .collect())
}

/// A finite `f32` in its shortest decimal form (`0.98`, not `0.9800000190734863`).
fn shortest(x: f32) -> serde_json::Value {
    x.to_string()
        .parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
        .map_or(serde_json::Value::Null, serde_json::Value::Number)
}

fn error(status: u16, message: &str) -> Response {
    Response::json(status, &json!({ "message": message }))
}

scorehost_guest::export_raw_entry_script!(OnnxImage);
