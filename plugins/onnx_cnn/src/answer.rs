//! What the CNN twins share whichever engine runs the model: the schema and the answer.
//! `onnx_cnn` (the host's engine, `wasi:nn`) and `onnx_cnn_tract` (tract inside the guest)
//! both include this file.

use scorehost_guest::{Sample, Schema, Value, json};

/// Image side, in pixels.
const SIDE: u64 = 96;
/// Colour channels.
const CHANNELS: u64 = 3;

/// `@input_schema("image", NumpyParameterType(np.zeros((1, 3, 96, 96), dtype=np.float32)))`:
/// a request body is `{"image": [[[[...]]]]}`.
pub fn schema() -> Schema {
    let zeros = vec![0f32; (CHANNELS * SIDE * SIDE) as usize];
    Schema::new()
        .parameter("image", Sample::ndarray(&[1, CHANNELS, SIDE, SIDE], &zeros))
        .output(json!({"classes": [8], "probabilities": [vec![0.1; 10]]}))
}

/// `{"classes": [...], "probabilities": [[...], ...]}` from the model's row-major
/// probabilities, `classes_count` per image.
pub fn answer(probabilities: &[f32], classes_count: usize) -> Value {
    let rows: Vec<&[f32]> = probabilities.chunks(classes_count.max(1)).collect();
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
    json!({"classes": classes, "probabilities": rows})
}
