//! Test plugin with a typed schema: answers with exactly what it received (dtype, shape, the
//! raw little-endian bytes in hex, decoded values), so tests can check the host's conversion
//! bit for bit.

use scorehost_guest::{
    Column, Elements, EntryScript, Inputs, Orient, Param, RunError, Sample, Schema, Tensor, Value,
    column, json,
};

struct TypedEcho;

impl EntryScript for TypedEcho {
    fn init() -> Result<Self, String> {
        Ok(TypedEcho)
    }

    fn schema() -> Option<Schema> {
        Some(
            Schema::new()
                .input("matrix", Sample::matrix(&[[0.5, 1.5, 2.5]]))
                .input("ints", Sample::ndarray(&[2], &[1i32, 2]))
                .input("flags", Sample::ndarray(&[2], &[true, false]))
                .input("names", Sample::ndarray(&[1], &["a"]))
                .input(
                    "people",
                    Sample::frame(vec![column("name", &["Sarah"]), column("age", &[25i64])]),
                )
                .input(
                    "split",
                    Sample::frame_with_orient(
                        vec![column("x", &[1.0f32]), column("ok", &[true])],
                        Orient::Split,
                    ),
                )
                .input(
                    "by_column",
                    Sample::frame_with_orient(vec![column("n", &[1u8])], Orient::Columns),
                )
                .input(
                    "options",
                    Sample::json(json!({"threshold": 0.5, "tags": ["a"]})),
                )
                .optional_global_parameters(Sample::json(json!(1.0)))
                .output(json!({"inputs": {}})),
        )
    }

    fn run(&mut self, inputs: Inputs, global: Option<Param>) -> Result<Value, RunError> {
        let echoed: serde_json::Map<String, Value> = inputs
            .iter()
            .map(|(name, p)| (name.to_owned(), describe(p)))
            .collect();
        Ok(json!({ "inputs": echoed, "global_parameters": global.as_ref().map(describe) }))
    }
}

fn describe(p: &Param) -> Value {
    match p {
        Param::Json(v) => json!({ "json": v }),
        Param::Tensor(t) => json!({ "tensor": tensor(t) }),
        Param::Frame(f) => {
            json!({ "frame": f.columns.iter().map(column_json).collect::<Vec<_>>() })
        }
    }
}

fn column_json(c: &Column) -> Value {
    json!({ "name": c.name, "values": tensor(&c.values) })
}

fn tensor(t: &Tensor) -> Value {
    let elements = match &t.elements {
        Elements::Bytes(bytes) => {
            json!({ "hex": bytes.iter().map(|b| format!("{b:02x}")).collect::<String>() })
        }
        Elements::Strings(strings) => json!({ "strings": strings }),
    };
    let dtype = format!("{:?}", t.dtype);
    json!({ "dtype": dtype.trim_start_matches("Dtype::"), "shape": t.shape, "elements": elements })
}

scorehost_guest::export_entry_script!(TypedEcho);
