//! Test plugin: makes the `wasi:nn` calls a request describes, so the tests can reach every
//! check of the host's engine through HTTP.
//!
//! `POST` `{"model": NAME, "inputs": [{"name", "type": "FP32"|"FP64"|"I64"|"I32"|"U8",
//! "dims": [..], "data": [numbers, row-major]}]}` → 200 `{"inputs": [..], "outputs": {NAME:
//! {"type", "dims", "data"}}}` (the model's description, then every output). With
//! `"load_bytes_of": FILE` instead of `model`, the guest reads FILE from its model folder and
//! passes the bytes to `graph.load`. A `wasi:nn` error is `{"code", "message"}` with 400
//! (`InvalidArgument`), 404 (`NotFound`), 403 (`Security`), 413 (`TooLarge`) or 500.

use scorehost_guest::model::model_dir;
use scorehost_guest::nn::{ErrorCode, Model, NnError, NnTensor, TensorType};
use scorehost_guest::raw::{RawEntryScript, Request, Response};
use scorehost_guest::wit::wasi::nn::graph::{self, ExecutionTarget, GraphEncoding};
use serde_json::{Value, json};

struct NnProbe;

impl RawEntryScript for NnProbe {
    fn init() -> Result<Self, String> {
        Ok(NnProbe)
    }

    fn run(&mut self, request: Request) -> Result<Response, String> {
        let body: Value = serde_json::from_slice(&request.body).map_err(|e| e.to_string())?;
        Ok(match probe(&body) {
            Ok(answer) => Response::json(200, &answer),
            Err(error) => {
                let status = match error.code {
                    ErrorCode::InvalidArgument => 400,
                    ErrorCode::Security => 403,
                    ErrorCode::NotFound => 404,
                    ErrorCode::TooLarge => 413,
                    _ => 500,
                };
                Response::json(
                    status,
                    &json!({"code": format!("{:?}", error.code), "message": error.message}),
                )
            }
        })
    }
}

fn probe(body: &Value) -> Result<Value, NnError> {
    if let Some(file) = body["load_bytes_of"].as_str() {
        let bytes = std::fs::read(model_dir().join(file)).map_err(|e| NnError {
            code: ErrorCode::Unknown,
            message: e.to_string(),
        })?;
        let graph =
            graph::load(&[bytes], GraphEncoding::Onnx, ExecutionTarget::Cpu).map_err(|e| {
                NnError {
                    code: e.code(),
                    message: e.data(),
                }
            })?;
        graph.init_execution_context().map_err(|e| NnError {
            code: e.code(),
            message: e.data(),
        })?;
        return Ok(json!({"loaded": true}));
    }
    let model = Model::load(body["model"].as_str().unwrap_or_default())?;
    let mut tensors = Vec::new();
    for input in body["inputs"].as_array().into_iter().flatten() {
        let dims: Vec<u32> = input["dims"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| d.as_u64().and_then(|d| u32::try_from(d).ok()))
            .collect();
        let data = input["data"].as_array().cloned().unwrap_or_default();
        let f = |v: &Value| v.as_f64().unwrap_or(0.0);
        let i = |v: &Value| v.as_i64().unwrap_or(0);
        let tensor = match input["type"].as_str().unwrap_or_default() {
            "FP32" => NnTensor::f32(&dims, &data.iter().map(|v| f(v) as f32).collect::<Vec<_>>()),
            "FP64" => NnTensor::f64(&dims, &data.iter().map(f).collect::<Vec<_>>()),
            "I64" => NnTensor::i64(&dims, &data.iter().map(i).collect::<Vec<_>>()),
            "I32" => NnTensor::i32(&dims, &data.iter().map(|v| i(v) as i32).collect::<Vec<_>>()),
            "U8" => NnTensor::u8(&dims, &data.iter().map(|v| i(v) as u8).collect::<Vec<_>>()),
            "FP16" => NnTensor {
                dims,
                ty: TensorType::Fp16,
                data: vec![0; data.len() * 2],
            },
            other => {
                return Err(NnError {
                    code: ErrorCode::InvalidArgument,
                    message: format!("the probe knows no type {other:?}"),
                });
            }
        };
        tensors.push((
            input["name"].as_str().unwrap_or_default().to_owned(),
            tensor,
        ));
    }
    let named: Vec<(&str, &NnTensor)> = tensors.iter().map(|(n, t)| (n.as_str(), t)).collect();
    let outputs = model.run(&named)?;
    let describe = |ports: &[scorehost_guest::nn::TensorInfo]| -> Vec<Value> {
        ports
            .iter()
            .map(|p| json!({"name": p.name, "type": p.element_type, "shape": p.shape}))
            .collect()
    };
    let mut answer = serde_json::Map::new();
    for (name, tensor) in outputs {
        answer.insert(
            name,
            json!({
                "type": format!("{:?}", tensor.ty),
                "dims": tensor.dims,
                "data": tensor.to_json()?,
            }),
        );
    }
    Ok(json!({
        "inputs": describe(model.inputs()),
        "outputs_described": describe(model.outputs()),
        "outputs": answer,
    }))
}

scorehost_guest::export_raw_entry_script!(NnProbe);
