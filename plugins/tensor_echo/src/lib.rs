//! Test plugin for the Open Inference Protocol: one ndarray input per dtype, each answered
//! under its own name as nested lists of the values it received (float32 values as the
//! float64 of the same value, so they read back bit-exact), with an output sample that
//! declares every answer as a tensor. `GlobalParameters` (optional, a boolean) `true` makes
//! `run` fail, for the failing-guest error path.

use scorehost_guest::{
    Dtype, Elements, EntryScript, Inputs, Param, RunError, Sample, Schema, Value, json,
};

struct TensorEcho;

/// The inputs, in order: name and sample.
fn samples() -> Vec<(&'static str, Sample)> {
    vec![
        ("f64", Sample::matrix(&[[0.5, 1.5]])),
        ("f32", Sample::ndarray(&[2], &[0.5f32, 1.5])),
        ("i8", Sample::ndarray(&[2], &[1i8, 2])),
        ("i16", Sample::ndarray(&[2], &[1i16, 2])),
        ("i32", Sample::ndarray(&[2], &[1i32, 2])),
        ("i64", Sample::ndarray(&[2], &[1i64, 2])),
        ("u8", Sample::ndarray(&[2], &[1u8, 2])),
        ("u16", Sample::ndarray(&[2], &[1u16, 2])),
        ("u32", Sample::ndarray(&[2], &[1u32, 2])),
        ("u64", Sample::ndarray(&[2], &[1u64, 2])),
        ("flags", Sample::ndarray(&[2], &[true, false])),
        ("names", Sample::ndarray(&[1], &["a"])),
    ]
}

impl EntryScript for TensorEcho {
    fn init() -> Result<Self, String> {
        Ok(TensorEcho)
    }

    fn schema() -> Option<Schema> {
        let mut schema = Schema::new();
        for (name, sample) in samples() {
            schema = schema.input(name, sample);
        }
        Some(
            schema
                .optional_global_parameters(Sample::json(json!(false)))
                .output(json!({
                    "f64": [[0.5, 1.5]], "f32": [0.5, 1.5],
                    "i8": [1, 2], "i16": [1, 2], "i32": [1, 2], "i64": [1, 2],
                    "u8": [1, 2], "u16": [1, 2], "u32": [1, 2], "u64": [1, 2],
                    "flags": [true, false], "names": ["a"],
                })),
        )
    }

    fn run(&mut self, inputs: Inputs, global: Option<Param>) -> Result<Value, RunError> {
        if matches!(global, Some(Param::Json(Value::Bool(true)))) {
            return Err(RunError::failed("asked to fail"));
        }
        let mut answer = serde_json::Map::new();
        for (name, _) in samples() {
            let Param::Tensor(t) = inputs.require(name)? else {
                return Err(RunError::bad_input(format!("{name} is not a tensor")));
            };
            let flat: Vec<Value> = match &t.elements {
                Elements::Strings(s) => s.iter().map(|s| json!(s)).collect(),
                Elements::Bytes(b) => decode(t.dtype, b),
            };
            answer.insert(name.to_owned(), nest(&mut flat.into_iter(), &t.shape));
        }
        Ok(Value::Object(answer))
    }
}

fn decode(dtype: Dtype, bytes: &[u8]) -> Vec<Value> {
    macro_rules! each {
        ($ty:ty, $to:expr) => {
            bytes
                .chunks_exact(size_of::<$ty>())
                .map(|c| <$ty>::from_le_bytes(c.try_into().unwrap_or_default()))
                .map($to)
                .collect()
        };
    }
    match dtype {
        Dtype::Float64 => each!(f64, |x| json!(x)),
        Dtype::Float32 => each!(f32, |x| json!(f64::from(x))),
        Dtype::Int8 => each!(i8, |x| json!(x)),
        Dtype::Int16 => each!(i16, |x| json!(x)),
        Dtype::Int32 => each!(i32, |x| json!(x)),
        Dtype::Int64 => each!(i64, |x| json!(x)),
        Dtype::Uint8 => each!(u8, |x| json!(x)),
        Dtype::Uint16 => each!(u16, |x| json!(x)),
        Dtype::Uint32 => each!(u32, |x| json!(x)),
        Dtype::Uint64 => each!(u64, |x| json!(x)),
        Dtype::Bool => bytes.iter().map(|&b| json!(b != 0)).collect(),
        Dtype::Str => Vec::new(),
    }
}

fn nest(flat: &mut std::vec::IntoIter<Value>, shape: &[u64]) -> Value {
    match shape.split_first() {
        None => flat.next().unwrap_or(Value::Null),
        Some((n, rest)) => Value::Array((0..*n).map(|_| nest(flat, rest)).collect()),
    }
}

scorehost_guest::export_entry_script!(TensorEcho);
