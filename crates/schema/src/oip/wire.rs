//! The inference request and response bodies: JSON tensors (`data` nested or flat) and the
//! binary tensor data extension (a JSON header of `Inference-Header-Content-Length` bytes,
//! then each binary tensor's raw little-endian bytes in the order the header lists them;
//! `BYTES` elements each a 4-byte little-endian length and the bytes).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{Datatype, OipError, bad, shape_text};

/// Most elements one tensor may declare (the body limit bounds the real data anyway; this
/// keeps a lying `shape` from sizing allocations).
const MAX_ELEMENTS: u64 = 1 << 32;
/// Most empty lists an empty tensor's shape may imply (`[n, 0]` is n empty rows).
const MAX_EMPTY_LISTS: u64 = 1 << 16;

/// An inference request, its tensors still as the client sent them.
#[derive(Debug)]
pub struct InferRequest<'a> {
    /// The client's `id`, echoed in the response.
    pub id: Option<String>,
    pub inputs: Vec<InputTensor<'a>>,
    /// The outputs asked for; `None`: all of them.
    pub outputs: Option<Vec<RequestedOutput>>,
    /// The request's `binary_data_output` parameter: outputs binary unless one says otherwise.
    pub binary_output: bool,
}

/// One input tensor.
#[derive(Debug)]
pub struct InputTensor<'a> {
    pub name: String,
    pub datatype: Datatype,
    pub shape: Vec<u64>,
    pub data: TensorData<'a>,
}

/// A tensor's elements, row-major.
#[derive(Debug)]
pub enum TensorData<'a> {
    /// From JSON `data`, flattened.
    Json(Vec<Value>),
    /// From the binary section: numbers and booleans, little-endian, `width` bytes each.
    Fixed(&'a [u8]),
    /// From the binary section: `BYTES` elements.
    Strings(Vec<&'a [u8]>),
}

impl TensorData<'_> {
    /// How many elements there are.
    pub fn len(&self, datatype: Datatype) -> usize {
        match self {
            TensorData::Json(values) => values.len(),
            TensorData::Fixed(bytes) => bytes.len() / datatype.width().unwrap_or(1),
            TensorData::Strings(items) => items.len(),
        }
    }
}

/// An output the client asked for.
#[derive(Debug)]
pub struct RequestedOutput {
    pub name: String,
    /// Its `binary_data` parameter, when given.
    pub binary: Option<bool>,
}

#[derive(Deserialize)]
struct RequestJson {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    parameters: Option<Map<String, Value>>,
    inputs: Vec<InputJson>,
    #[serde(default)]
    outputs: Option<Vec<OutputJson>>,
}

#[derive(Deserialize)]
struct InputJson {
    name: String,
    shape: Vec<i64>,
    datatype: String,
    #[serde(default)]
    parameters: Option<Map<String, Value>>,
    #[serde(default)]
    data: Option<Value>,
}

#[derive(Deserialize)]
struct OutputJson {
    name: String,
    #[serde(default)]
    parameters: Option<Map<String, Value>>,
}

/// The value of the `Inference-Header-Content-Length` header: `None` when absent (the whole
/// body is JSON).
pub fn binary_header_length(headers: &hyper::HeaderMap) -> Result<Option<usize>, OipError> {
    let Some(value) = headers.get("inference-header-content-length") else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .map(Some)
        .ok_or_else(|| bad("Inference-Header-Content-Length must be a byte count"))
}

/// Parses an inference request body; `header_length` is the JSON header's length when the
/// binary extension is used.
pub fn parse_request(
    body: &[u8],
    header_length: Option<usize>,
) -> Result<InferRequest<'_>, OipError> {
    let (json, mut binary) = match header_length {
        None => (body, &body[body.len()..]),
        Some(0) => {
            return Err(OipError::Unsupported(
                "a body without a JSON header (Inference-Header-Content-Length: 0) is not \
                 supported: send the JSON header with the input's name, shape and datatype"
                    .to_owned(),
            ));
        }
        Some(n) if n > body.len() => {
            return Err(bad(format!(
                "Inference-Header-Content-Length is {n}, but the body has only {} bytes",
                body.len()
            )));
        }
        Some(n) => body.split_at(n),
    };
    if json.is_empty() {
        return Err(bad(
            "the request body is empty: expected an inference request",
        ));
    }
    let request: RequestJson = serde_json::from_slice(json)
        .map_err(|e| bad(format!("the request is not a valid inference request: {e}")))?;
    let parameters = request.parameters.unwrap_or_default();
    let binary_output = flag(&parameters, "binary_data_output", "the request")?.unwrap_or(false);
    let mut inputs = Vec::with_capacity(request.inputs.len());
    for input in request.inputs {
        let at = || format!("input '{}'", input.name);
        let datatype = datatype(&input.datatype, &at())?;
        let shape = input
            .shape
            .iter()
            .map(|&d| u64::try_from(d))
            .collect::<Result<Vec<u64>, _>>()
            .map_err(|_| {
                bad(format!(
                    "{}: shape {} has a negative dimension",
                    at(),
                    shape_text(&input.shape)
                ))
            })?;
        let count = shape
            .iter()
            .try_fold(1u64, |n, &d| n.checked_mul(d))
            .filter(|&n| n <= MAX_ELEMENTS)
            .ok_or_else(|| {
                bad(format!(
                    "{}: shape {} is too large",
                    at(),
                    shape_text(&shape)
                ))
            })?;
        // An empty tensor has no data to bound its shape: `[4294967296, 0]` would still be
        // four billion empty lists when written out.
        let before_zero = shape
            .iter()
            .take_while(|&&d| d != 0)
            .try_fold(1u64, |n, &d| n.checked_mul(d));
        if count == 0 && before_zero.is_none_or(|n| n > MAX_EMPTY_LISTS) {
            return Err(bad(format!(
                "{}: shape {} is too large for an empty tensor",
                at(),
                shape_text(&shape)
            )));
        }
        let parameters = input.parameters.unwrap_or_default();
        if parameters.contains_key("shared_memory_region") {
            return Err(OipError::Unsupported(
                "the shared memory extension is not supported".to_owned(),
            ));
        }
        let size = match parameters.get("binary_data_size") {
            None => None,
            Some(v) => Some(
                v.as_u64()
                    .and_then(|n| usize::try_from(n).ok())
                    .ok_or_else(|| {
                        bad(format!("{}: binary_data_size must be a byte count", at()))
                    })?,
            ),
        };
        let data = match (input.data, size) {
            (Some(_), Some(_)) => {
                return Err(bad(format!(
                    "{}: has both \"data\" and binary_data_size",
                    at()
                )));
            }
            (None, None) => {
                return Err(bad(format!(
                    "{}: has no \"data\" (nor binary_data_size)",
                    at()
                )));
            }
            (Some(data), None) => {
                let mut flat = Vec::new();
                flatten(data, &mut flat);
                TensorData::Json(flat)
            }
            (None, Some(size)) => {
                if size > binary.len() {
                    return Err(bad(format!(
                        "{}: binary_data_size is {size}, but only {} bytes of binary data are left",
                        at(),
                        binary.len()
                    )));
                }
                let (mine, rest) = binary.split_at(size);
                binary = rest;
                match datatype.width() {
                    Some(width) => {
                        if mine.len() as u64 != count * width as u64 {
                            return Err(bad(format!(
                                "{}: shape {} needs {} bytes of {}, binary_data_size is {size}",
                                at(),
                                shape_text(&shape),
                                count * width as u64,
                                datatype.as_str()
                            )));
                        }
                        TensorData::Fixed(mine)
                    }
                    None => TensorData::Strings(
                        split_bytes(mine).map_err(|m| bad(format!("{}: {m}", at())))?,
                    ),
                }
            }
        };
        if data.len(datatype) as u64 != count {
            return Err(bad(format!(
                "{}: shape {} needs {count} elements, the data has {}",
                at(),
                shape_text(&shape),
                data.len(datatype)
            )));
        }
        inputs.push(InputTensor {
            name: input.name,
            datatype,
            shape,
            data,
        });
    }
    if !binary.is_empty() {
        return Err(bad(format!(
            "{} bytes of binary data follow the inputs that no input's binary_data_size claims",
            binary.len()
        )));
    }
    let outputs = match request.outputs {
        None => None,
        Some(outputs) => Some(
            outputs
                .into_iter()
                .map(|o| {
                    let parameters = o.parameters.unwrap_or_default();
                    if parameters.contains_key("classification") {
                        return Err(OipError::Unsupported(
                            "the classification extension is not supported".to_owned(),
                        ));
                    }
                    if parameters.contains_key("shared_memory_region") {
                        return Err(OipError::Unsupported(
                            "the shared memory extension is not supported".to_owned(),
                        ));
                    }
                    let at = format!("output '{}'", o.name);
                    Ok(RequestedOutput {
                        binary: flag(&parameters, "binary_data", &at)?,
                        name: o.name,
                    })
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
    };
    Ok(InferRequest {
        id: request.id,
        inputs,
        outputs,
        binary_output,
    })
}

/// A datatype name from the request; half precision is refused (scorehost's tensors have no
/// half-precision type, and FP16 cannot be written in JSON).
fn datatype(name: &str, at: &str) -> Result<Datatype, OipError> {
    match Datatype::parse(name) {
        Some(dt @ (Datatype::Fp16 | Datatype::Bf16)) => Err(bad(format!(
            "{at}: datatype {} is not supported (no half-precision tensors here; send FP32)",
            dt.as_str()
        ))),
        Some(dt) => Ok(dt),
        None => Err(bad(format!("{at}: unknown datatype {name:?}"))),
    }
}

/// A boolean parameter.
fn flag(parameters: &Map<String, Value>, key: &str, at: &str) -> Result<Option<bool>, OipError> {
    match parameters.get(key) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(bad(format!("{at}: parameter {key} must be true or false"))),
    }
}

/// Collects the leaves of nested lists, row-major.
fn flatten(value: Value, out: &mut Vec<Value>) {
    match value {
        Value::Array(items) => {
            for item in items {
                flatten(item, out);
            }
        }
        leaf => out.push(leaf),
    }
}

/// Splits `BYTES` binary data: each element a 4-byte little-endian length, then its bytes.
fn split_bytes(mut data: &[u8]) -> Result<Vec<&[u8]>, String> {
    let mut items = Vec::new();
    while !data.is_empty() {
        let Some((len, rest)) = data.split_first_chunk::<4>() else {
            return Err("BYTES data ends inside an element's 4-byte length".to_owned());
        };
        let len = u32::from_le_bytes(*len) as usize;
        if len > rest.len() {
            return Err(format!(
                "a BYTES element claims {len} bytes, only {} are left",
                rest.len()
            ));
        }
        let (item, rest) = rest.split_at(len);
        items.push(item);
        data = rest;
    }
    Ok(items)
}

/// One output tensor of a response.
#[derive(Debug)]
pub struct OutputTensor {
    pub name: String,
    pub datatype: Datatype,
    pub shape: Vec<u64>,
    pub data: OutputData,
    /// Sent in the binary section instead of as JSON `data`.
    pub binary: bool,
}

/// An output tensor's elements, row-major.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum OutputData {
    Fp64(Vec<f64>),
    Int64(Vec<i64>),
    Bool(Vec<bool>),
    Bytes(Vec<String>),
}

impl OutputData {
    fn write_binary(&self, out: &mut Vec<u8>) {
        match self {
            OutputData::Fp64(v) => v.iter().for_each(|x| out.extend(x.to_le_bytes())),
            OutputData::Int64(v) => v.iter().for_each(|x| out.extend(x.to_le_bytes())),
            OutputData::Bool(v) => out.extend(v.iter().map(|&b| u8::from(b))),
            OutputData::Bytes(v) => {
                for s in v {
                    out.extend((s.len() as u32).to_le_bytes());
                    out.extend(s.as_bytes());
                }
            }
        }
    }
}

#[derive(Serialize)]
struct ResponseJson<'a> {
    model_name: &'a str,
    model_version: &'a str,
    id: &'a str,
    outputs: Vec<OutputJsonOut<'a>>,
}

#[derive(Serialize)]
struct OutputJsonOut<'a> {
    name: &'a str,
    datatype: &'static str,
    shape: &'a [u64],
    #[serde(skip_serializing_if = "Option::is_none")]
    parameters: Option<BinarySize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a OutputData>,
}

#[derive(Serialize)]
struct BinarySize {
    binary_data_size: usize,
}

/// The response body, and the JSON header's length when binary outputs follow it.
pub fn encode_response(
    model_name: &str,
    model_version: &str,
    id: &str,
    outputs: &[OutputTensor],
) -> (Vec<u8>, Option<usize>) {
    let mut binary = Vec::new();
    let mut listed = Vec::with_capacity(outputs.len());
    for output in outputs {
        let (parameters, data) = if output.binary {
            let before = binary.len();
            output.data.write_binary(&mut binary);
            (
                Some(BinarySize {
                    binary_data_size: binary.len() - before,
                }),
                None,
            )
        } else {
            (None, Some(&output.data))
        };
        listed.push(OutputJsonOut {
            name: &output.name,
            datatype: output.datatype.as_str(),
            shape: &output.shape,
            parameters,
            data,
        });
    }
    let header = ResponseJson {
        model_name,
        model_version,
        id,
        outputs: listed,
    };
    // Serialising plain structs of strings and finite numbers cannot fail.
    let mut body = serde_json::to_vec(&header).unwrap_or_default();
    if outputs.iter().any(|o| o.binary) {
        let json_length = body.len();
        body.extend_from_slice(&binary);
        (body, Some(json_length))
    } else {
        (body, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binary_body(header: &Value, tail: &[u8]) -> (Vec<u8>, usize) {
        let mut body = header.to_string().into_bytes();
        let n = body.len();
        body.extend_from_slice(tail);
        (body, n)
    }

    #[test]
    fn json_data_may_be_nested_or_flat() {
        for data in [
            serde_json::json!([[1, 2, 3], [4, 5, 6]]),
            serde_json::json!([1, 2, 3, 4, 5, 6]),
        ] {
            let body = serde_json::json!({"inputs": [{"name": "x", "shape": [2, 3], "datatype": "INT64", "data": data}]});
            let text = body.to_string();
            let request = parse_request(text.as_bytes(), None).unwrap();
            match &request.inputs[0].data {
                TensorData::Json(v) => assert_eq!(v.len(), 6),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn binary_inputs_are_taken_in_order_and_checked_against_the_shape() {
        let header = serde_json::json!({"inputs": [
            {"name": "a", "shape": [2], "datatype": "FP32", "parameters": {"binary_data_size": 8}},
            {"name": "b", "shape": [2], "datatype": "BYTES", "parameters": {"binary_data_size": 11}},
        ]});
        let mut tail = Vec::new();
        tail.extend(1.5f32.to_le_bytes());
        tail.extend((-2.0f32).to_le_bytes());
        tail.extend(2u32.to_le_bytes());
        tail.extend(b"hi");
        tail.extend(1u32.to_le_bytes());
        tail.extend(b"x");
        let (body, n) = binary_body(&header, &tail);
        let request = parse_request(&body, Some(n)).unwrap();
        assert!(matches!(request.inputs[0].data, TensorData::Fixed(b) if b.len() == 8));
        match &request.inputs[1].data {
            TensorData::Strings(s) => assert_eq!(s, &[&b"hi"[..], b"x"]),
            other => panic!("{other:?}"),
        }

        let (body, n) = binary_body(&header, &tail[..tail.len() - 1]);
        let err = parse_request(&body, Some(n)).unwrap_err().to_string();
        assert!(err.contains("input 'b'"), "{err}");
    }

    #[test]
    fn half_precision_and_unknown_datatypes_are_refused() {
        for (datatype, expected) in [("FP16", "FP16 is not supported"), ("F32", "unknown")] {
            let body = serde_json::json!({"inputs": [{"name": "x", "shape": [1], "datatype": datatype, "data": [1]}]});
            let err = parse_request(body.to_string().as_bytes(), None).unwrap_err();
            assert!(matches!(err, OipError::BadRequest(_)));
            assert!(err.to_string().contains(expected), "{err}");
        }
    }

    #[test]
    fn empty_tensors_cannot_imply_billions_of_empty_lists() {
        let body = serde_json::json!({"inputs": [{"name": "x", "shape": [4294967296u64, 0], "datatype": "FP64", "data": []}]});
        let err = parse_request(body.to_string().as_bytes(), None).unwrap_err();
        assert!(err.to_string().contains("too large"), "{err}");
        let body = serde_json::json!({"inputs": [{"name": "x", "shape": [3, 0], "datatype": "FP64", "data": []}]});
        assert!(parse_request(body.to_string().as_bytes(), None).is_ok());
    }

    #[test]
    fn element_count_must_match_the_shape() {
        let body = serde_json::json!({"inputs": [{"name": "x", "shape": [2, 2], "datatype": "FP64", "data": [1, 2, 3]}]});
        let err = parse_request(body.to_string().as_bytes(), None).unwrap_err();
        assert!(err.to_string().contains("needs 4 elements"), "{err}");
    }

    #[test]
    fn binary_outputs_follow_the_json_header() {
        let outputs = [
            OutputTensor {
                name: "y".into(),
                datatype: Datatype::Fp64,
                shape: vec![2],
                data: OutputData::Fp64(vec![1.0, 2.5]),
                binary: true,
            },
            OutputTensor {
                name: "s".into(),
                datatype: Datatype::Bytes,
                shape: vec![1],
                data: OutputData::Bytes(vec!["ab".into()]),
                binary: false,
            },
        ];
        let (body, n) = encode_response("m", "v", "id-1", &outputs);
        let n = n.unwrap();
        let header: Value = serde_json::from_slice(&body[..n]).unwrap();
        assert_eq!(header["outputs"][0]["parameters"]["binary_data_size"], 16);
        assert_eq!(header["outputs"][1]["data"], serde_json::json!(["ab"]));
        assert_eq!(&body[n..n + 8], &1.0f64.to_le_bytes());
        assert_eq!(body.len(), n + 16);
    }
}
