//! How an entry script's declared parameters and output sample become Open Inference
//! Protocol tensors. This is the only module that knows both sides; it sees the script
//! through `Schema::declared` (name, place, kind of each parameter) and `Schema::output_sample`.
//!
//! Inputs, one rule per kind of declared parameter:
//! - ndarray sample (`NumpyParameterType`): one tensor named after the parameter, its dtype's
//!   datatype, shape `[-1, <the sample's other dimensions>]`.
//! - data frame sample (`PandasParameterType`): one rank-1 tensor per column, named
//!   `PARAM.COLUMN`, shape `[-1]`; all columns of a request have the same length.
//! - standard JSON sample: a number, integer, boolean or string is a one-element tensor
//!   (`FP64`, `INT64`, `BOOL`, `BYTES`, shape `[1]`); a list of such (nested n deep) a rank-n
//!   tensor with every dimension `-1`; anything else (an object, an empty list, mixed types)
//!   a one-element `BYTES` tensor holding the value's JSON text.
//! - `GlobalParameters` maps the same way, as a tensor named `GlobalParameters`.
//!
//! The tensors are assembled into the `/score` request the script already takes
//! (`{"Inputs": {...}, "GlobalParameters": ...}`), which then passes the same checks as a
//! `/score` request: a value that does not fit gets the same 400 with the same field path.
//!
//! Outputs, from the output sample: an object gives one tensor per leaf (a nested object's
//! keys are joined with `.`: `{"Results": {"label": [0]}}` → `Results.label`); any other
//! sample gives one tensor named `output0`. A leaf that is a list (nested n deep) of numbers,
//! booleans or strings is a rank-n tensor (`FP64` when any sample number has a fraction, else
//! `INT64`; `BOOL`; `BYTES`); a scalar is a one-element tensor. A script without an output
//! sample, or whose sample has a leaf of another form (null, an empty list, a list of objects,
//! mixed types), cannot be inferred through this protocol: 501 with the reason.

use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::wire::{
    InferRequest, InputTensor, OutputData, OutputTensor, RequestedOutput, TensorData,
};
use super::{Datatype, OipError, bad, shape_text};
use crate::{Declared, JsonType, Kind, Place, Schema};
use scorehost_wit::{Dtype, Orient};

/// A deployment as the protocol sees it: its tensors, and how requests map onto its script.
#[derive(Debug)]
pub struct Signature {
    inputs: Vec<TensorSpec>,
    params: Vec<ParamPlan>,
    outputs: Vec<OutputSpec>,
    /// Why `infer` cannot be served, when it cannot (raw script, no schema, no output tensors).
    refusal: Option<String>,
}

/// One tensor of the metadata.
#[derive(Debug, Clone)]
pub struct TensorSpec {
    pub name: String,
    pub datatype: Datatype,
    /// `-1` for a dimension of any size.
    pub shape: Vec<i64>,
    /// A one-element tensor carrying a scalar: any shape with one element is accepted.
    scalar: bool,
    /// Whether a request must carry it.
    required: bool,
}

/// How one declared parameter is assembled from input tensors.
#[derive(Debug)]
struct ParamPlan {
    name: String,
    place: Place,
    assemble: Assemble,
}

#[derive(Debug)]
enum Assemble {
    /// Nested lists in the input tensor's shape.
    Nested(usize),
    /// The one element of the input tensor.
    Scalar(usize),
    /// The one `BYTES` element of the input tensor, which holds JSON text.
    JsonText(usize),
    /// A data frame from one tensor per column, written with the sample's orient.
    Frame {
        orient: Orient,
        columns: Vec<(String, usize)>,
    },
}

/// One output tensor and where it is in the script's result.
#[derive(Debug)]
struct OutputSpec {
    spec: TensorSpec,
    /// Keys leading to it in the result object (empty: the whole result).
    path: Vec<String>,
    rank: usize,
}

impl Signature {
    /// A raw (`@rawhttp`) script: no tensors.
    pub fn raw() -> Signature {
        Signature::refused(
            "this deployment's entry script handles raw HTTP requests (@rawhttp), which have \
             no declared inputs to map tensors onto: call its /score route",
        )
    }

    /// A typed script that declares no schema.
    pub fn undescribed() -> Signature {
        Signature::refused(
            "this deployment's entry script declares no input samples, so its inputs have no \
             tensor form: call its /score route, or declare samples",
        )
    }

    fn refused(reason: &str) -> Signature {
        Signature {
            inputs: Vec::new(),
            params: Vec::new(),
            outputs: Vec::new(),
            refusal: Some(reason.to_owned()),
        }
    }

    /// The signature of a script with a schema.
    pub fn of(schema: &Schema) -> Signature {
        let mut inputs = Vec::new();
        let mut params = Vec::new();
        for declared in schema.declared() {
            params.push(plan(&declared, &mut inputs));
        }
        let (outputs, mut refusal) = match schema.output_sample().map(outputs_of) {
            None => (
                Vec::new(),
                Some(
                    "this deployment's entry script declares no output sample, so its result \
                     has no tensor form: call its /score route, or declare an output sample"
                        .to_owned(),
                ),
            ),
            Some(Ok(outputs)) => (outputs, None),
            Some(Err(why)) => (
                Vec::new(),
                Some(format!(
                    "the entry script's output sample has no tensor form ({why}): call its \
                     /score route"
                )),
            ),
        };
        let mut names: Vec<&str> = inputs.iter().map(|s| s.name.as_str()).collect();
        names.sort_unstable();
        if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
            refusal.get_or_insert(format!("two input tensors would be named '{}'", w[0]));
        }
        Signature {
            inputs,
            params,
            outputs,
            refusal,
        }
    }

    /// The model metadata document.
    pub fn metadata(&self, name: &str, version: &str) -> Value {
        let tensors = |specs: &mut dyn Iterator<Item = &TensorSpec>| -> Vec<Value> {
            specs
                .map(|s| {
                    serde_json::json!({
                        "name": s.name,
                        "datatype": s.datatype.as_str(),
                        "shape": s.shape,
                    })
                })
                .collect()
        };
        serde_json::json!({
            "name": name,
            "versions": [version],
            "platform": "scorehost",
            "inputs": tensors(&mut self.inputs.iter()),
            "outputs": tensors(&mut self.outputs.iter().map(|o| &o.spec)),
        })
    }

    /// Refuses (501) a deployment whose script cannot be inferred through the protocol.
    pub fn check_supported(&self) -> Result<(), OipError> {
        match &self.refusal {
            Some(why) => Err(OipError::Unsupported(why.clone())),
            None => Ok(()),
        }
    }

    /// The outputs to send, each with whether it goes binary: those asked for, or all.
    pub fn select_outputs(
        &self,
        requested: Option<&[RequestedOutput]>,
        binary_default: bool,
    ) -> Result<Vec<(usize, bool)>, OipError> {
        let Some(requested) = requested else {
            return Ok((0..self.outputs.len())
                .map(|i| (i, binary_default))
                .collect());
        };
        requested
            .iter()
            .map(|r| {
                let index = self
                    .outputs
                    .iter()
                    .position(|o| o.spec.name == r.name)
                    .ok_or_else(|| {
                        bad(format!(
                            "unknown output '{}' (the model's outputs: {})",
                            r.name,
                            self.output_names()
                        ))
                    })?;
                Ok((index, r.binary.unwrap_or(binary_default)))
            })
            .collect()
    }

    fn output_names(&self) -> String {
        let names: Vec<&str> = self.outputs.iter().map(|o| o.spec.name.as_str()).collect();
        names.join(", ")
    }

    fn input_names(&self) -> String {
        let names: Vec<&str> = self.inputs.iter().map(|s| s.name.as_str()).collect();
        names.join(", ")
    }

    /// The `/score` request body equivalent to the inference request's inputs: each input is
    /// checked against its tensor (name, datatype, shape) and written where the script's
    /// parameter goes. The values themselves are checked when the body is scored.
    pub fn assemble(&self, request: &InferRequest<'_>) -> Result<Vec<u8>, OipError> {
        let mut by_spec: Vec<Option<&InputTensor<'_>>> = vec![None; self.inputs.len()];
        for input in &request.inputs {
            let index = self
                .inputs
                .iter()
                .position(|s| s.name == input.name)
                .ok_or_else(|| {
                    bad(format!(
                        "unknown input '{}' (the model's inputs: {})",
                        input.name,
                        self.input_names()
                    ))
                })?;
            if by_spec[index].replace(input).is_some() {
                return Err(bad(format!("input '{}' is given twice", input.name)));
            }
            check_tensor(&self.inputs[index], input)?;
        }
        for (spec, given) in self.inputs.iter().zip(&by_spec) {
            if spec.required && given.is_none() {
                return Err(bad(format!(
                    "missing input '{}' ({}, shape {})",
                    spec.name,
                    spec.datatype.as_str(),
                    shape_text(&spec.shape)
                )));
            }
        }
        let present = |param: &ParamPlan| match &param.assemble {
            Assemble::Nested(i) | Assemble::Scalar(i) | Assemble::JsonText(i) => {
                by_spec[*i].is_some()
            }
            Assemble::Frame { columns, .. } => columns.iter().any(|(_, i)| by_spec[*i].is_some()),
        };
        // `{"Inputs": {...}, "name": value, ...}`: a script without an `Inputs` group ignores
        // the empty object, as it ignores any key it does not declare.
        let mut body = Vec::with_capacity(256);
        body.extend_from_slice(b"{\"Inputs\":{");
        let mut first = true;
        for param in self.params.iter().filter(|p| p.place == Place::Input) {
            if !present(param) {
                continue;
            }
            if !first {
                body.push(b',');
            }
            first = false;
            write_json(&mut body, &param.name);
            body.push(b':');
            write_param(&mut body, &param.assemble, &by_spec, &self.inputs)?;
        }
        body.push(b'}');
        for param in self.params.iter().filter(|p| p.place == Place::TopLevel) {
            if !present(param) {
                continue;
            }
            body.push(b',');
            write_json(&mut body, &param.name);
            body.push(b':');
            write_param(&mut body, &param.assemble, &by_spec, &self.inputs)?;
        }
        body.push(b'}');
        Ok(body)
    }

    /// The output tensors of the script's result (its JSON text), for `selection` (from
    /// [`Signature::select_outputs`]).
    pub fn outputs(
        &self,
        result: &str,
        selection: &[(usize, bool)],
    ) -> Result<Vec<OutputTensor>, OipError> {
        let result: Value = serde_json::from_str(result)
            .map_err(|e| OipError::Output(format!("the result is not JSON: {e}")))?;
        selection
            .iter()
            .map(|&(index, binary)| {
                let output = &self.outputs[index];
                let (shape, data) = extract(&result, output).map_err(|m| {
                    OipError::Output(format!(
                        "the entry script's result does not fit its declared output '{}': {m}",
                        output.spec.name
                    ))
                })?;
                Ok(OutputTensor {
                    name: output.spec.name.clone(),
                    datatype: output.spec.datatype,
                    shape,
                    data,
                    binary,
                })
            })
            .collect()
    }
}

/// The tensors of one declared parameter (appended to `inputs`) and how to assemble it.
fn plan(declared: &Declared<'_>, inputs: &mut Vec<TensorSpec>) -> ParamPlan {
    let name = declared.name.to_owned();
    let mut add = |tensor_name: String, datatype, shape, scalar| {
        inputs.push(TensorSpec {
            name: tensor_name,
            datatype,
            shape,
            scalar,
            required: declared.required,
        });
        inputs.len() - 1
    };
    let assemble = match declared.kind {
        Kind::Tensor { dtype, shape, .. } => {
            let dims = shape
                .iter()
                .enumerate()
                .map(|(i, &d)| if i == 0 { -1 } else { d as i64 })
                .collect();
            Assemble::Nested(add(name.clone(), datatype_of(*dtype), dims, false))
        }
        Kind::Frame {
            columns, orient, ..
        } => Assemble::Frame {
            orient: *orient,
            columns: columns
                .iter()
                .map(|(column, dtype)| {
                    let index = add(
                        format!("{name}.{column}"),
                        datatype_of(*dtype),
                        vec![-1],
                        false,
                    );
                    (column.clone(), index)
                })
                .collect(),
        },
        Kind::Json { ty, .. } => {
            let mut rank = 0;
            let mut item = ty;
            while let JsonType::Array(inner) = item {
                rank += 1;
                item = inner;
            }
            let scalar = match item {
                JsonType::Number => Some(Datatype::Fp64),
                JsonType::Integer => Some(Datatype::Int64),
                JsonType::Boolean => Some(Datatype::Bool),
                JsonType::String => Some(Datatype::Bytes),
                _ => None,
            };
            match (scalar, rank) {
                (Some(datatype), 0) => Assemble::Scalar(add(name.clone(), datatype, vec![1], true)),
                (Some(datatype), rank) => {
                    Assemble::Nested(add(name.clone(), datatype, vec![-1; rank], false))
                }
                (None, _) => Assemble::JsonText(add(name.clone(), Datatype::Bytes, vec![1], true)),
            }
        }
    };
    ParamPlan {
        name,
        place: declared.place,
        assemble,
    }
}

/// The protocol datatype of a numpy dtype.
fn datatype_of(dtype: Dtype) -> Datatype {
    match dtype {
        Dtype::Float64 => Datatype::Fp64,
        Dtype::Float32 => Datatype::Fp32,
        Dtype::Int64 => Datatype::Int64,
        Dtype::Int32 => Datatype::Int32,
        Dtype::Int16 => Datatype::Int16,
        Dtype::Int8 => Datatype::Int8,
        Dtype::Uint64 => Datatype::Uint64,
        Dtype::Uint32 => Datatype::Uint32,
        Dtype::Uint16 => Datatype::Uint16,
        Dtype::Uint8 => Datatype::Uint8,
        Dtype::Bool => Datatype::Bool,
        Dtype::Str => Datatype::Bytes,
    }
}

/// Checks an input's datatype and shape against its tensor.
fn check_tensor(spec: &TensorSpec, input: &InputTensor<'_>) -> Result<(), OipError> {
    if input.datatype != spec.datatype {
        return Err(bad(format!(
            "input '{}': datatype {} does not match the model's {}",
            input.name,
            input.datatype.as_str(),
            spec.datatype.as_str()
        )));
    }
    let fits = if spec.scalar {
        input.shape.iter().product::<u64>() == 1
    } else {
        input.shape.len() == spec.shape.len()
            && input
                .shape
                .iter()
                .zip(&spec.shape)
                .all(|(&got, &want)| want < 0 || got == want as u64)
    };
    if !fits {
        return Err(bad(format!(
            "input '{}': shape {} does not match the model's {}",
            input.name,
            shape_text(&input.shape),
            shape_text(&spec.shape)
        )));
    }
    Ok(())
}

/// Writes one row of a frame (the row's index) into the body.
type WriteRow<'a> = dyn Fn(&mut Vec<u8>, usize) -> Result<(), OipError> + 'a;

fn write_json<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    // Writing strings and finite numbers into a Vec cannot fail.
    let _ = serde_json::to_writer(out, value);
}

/// Writes one declared parameter's value.
fn write_param(
    out: &mut Vec<u8>,
    assemble: &Assemble,
    by_spec: &[Option<&InputTensor<'_>>],
    specs: &[TensorSpec],
) -> Result<(), OipError> {
    // `assemble` only names tensors that were checked present (or a frame with some column).
    let tensor =
        |i: usize| by_spec[i].ok_or_else(|| bad(format!("missing input '{}'", specs[i].name)));
    match assemble {
        Assemble::Nested(i) => {
            let input = tensor(*i)?;
            let mut next = 0;
            write_nested(out, input, &input.shape, &mut next)
        }
        Assemble::Scalar(i) => write_element(out, tensor(*i)?, 0, false),
        Assemble::JsonText(i) => write_element(out, tensor(*i)?, 0, true),
        Assemble::Frame { orient, columns } => {
            let columns: Vec<(&str, &InputTensor<'_>)> = columns
                .iter()
                .map(|(name, i)| Ok((name.as_str(), tensor(*i)?)))
                .collect::<Result<_, OipError>>()?;
            let rows = columns[0].1.shape[0] as usize;
            if let Some((_, other)) = columns.iter().find(|(_, t)| t.shape[0] as usize != rows) {
                return Err(bad(format!(
                    "input '{}' has {} rows, input '{}' {rows}: the columns of a frame have \
                     the same length",
                    other.name, other.shape[0], columns[0].1.name
                )));
            }
            // `{"col": value, ...}` and `[value, ...]` for one row.
            let row_object = |out: &mut Vec<u8>, row: usize| -> Result<(), OipError> {
                out.push(b'{');
                for (c, (name, tensor)) in columns.iter().enumerate() {
                    if c > 0 {
                        out.push(b',');
                    }
                    write_json(out, *name);
                    out.push(b':');
                    write_element(out, tensor, row, false)?;
                }
                out.push(b'}');
                Ok(())
            };
            let row_list = |out: &mut Vec<u8>, row: usize| -> Result<(), OipError> {
                out.push(b'[');
                for (c, (_, tensor)) in columns.iter().enumerate() {
                    if c > 0 {
                        out.push(b',');
                    }
                    write_element(out, tensor, row, false)?;
                }
                out.push(b']');
                Ok(())
            };
            // Rows one after the other, each `label:` (when labelled) then the row.
            let rows_of = |out: &mut Vec<u8>,
                           labelled: bool,
                           write_row: &WriteRow<'_>|
             -> Result<(), OipError> {
                for row in 0..rows {
                    if row > 0 {
                        out.push(b',');
                    }
                    if labelled {
                        write_json(out, &row.to_string());
                        out.push(b':');
                    }
                    write_row(out, row)?;
                }
                Ok(())
            };
            match orient {
                Orient::Records => {
                    out.push(b'[');
                    rows_of(out, false, &row_object)?;
                    out.push(b']');
                }
                Orient::Index => {
                    out.push(b'{');
                    rows_of(out, true, &row_object)?;
                    out.push(b'}');
                }
                Orient::Split => {
                    out.extend_from_slice(b"{\"columns\":");
                    write_json(out, &columns.iter().map(|(n, _)| *n).collect::<Vec<_>>());
                    out.extend_from_slice(b",\"data\":[");
                    rows_of(out, false, &row_list)?;
                    out.extend_from_slice(b"]}");
                }
                Orient::Values => {
                    out.push(b'[');
                    rows_of(out, false, &row_list)?;
                    out.push(b']');
                }
                Orient::Columns => {
                    out.push(b'{');
                    for (c, (name, tensor)) in columns.iter().enumerate() {
                        if c > 0 {
                            out.push(b',');
                        }
                        write_json(out, *name);
                        out.extend_from_slice(b":{");
                        let cell =
                            |out: &mut Vec<u8>, row: usize| write_element(out, tensor, row, false);
                        rows_of(out, true, &cell)?;
                        out.push(b'}');
                    }
                    out.push(b'}');
                }
            }
            Ok(())
        }
    }
}

/// Writes a tensor's elements as nested lists of `shape`.
fn write_nested(
    out: &mut Vec<u8>,
    input: &InputTensor<'_>,
    shape: &[u64],
    next: &mut usize,
) -> Result<(), OipError> {
    match shape.split_first() {
        None => {
            write_element(out, input, *next, false)?;
            *next += 1;
        }
        Some((&n, rest)) => {
            out.push(b'[');
            for i in 0..n {
                if i > 0 {
                    out.push(b',');
                }
                write_nested(out, input, rest, next)?;
            }
            out.push(b']');
        }
    }
    Ok(())
}

/// Writes element `i` as JSON; `json_text`: a `BYTES` element holding JSON text, written as
/// that JSON.
fn write_element(
    out: &mut Vec<u8>,
    input: &InputTensor<'_>,
    i: usize,
    json_text: bool,
) -> Result<(), OipError> {
    let at = || format!("input '{}'", input.name);
    let raw_json = |out: &mut Vec<u8>, text: &str| {
        serde_json::from_str::<&RawValue>(text)
            .map_err(|e| bad(format!("{}: the element is not JSON text: {e}", at())))?;
        out.extend_from_slice(text.as_bytes());
        Ok::<(), OipError>(())
    };
    match &input.data {
        TensorData::Json(values) => match (&values[i], json_text) {
            (Value::String(text), true) => raw_json(out, text)?,
            (_, true) => return Err(bad(format!("{}: expected a string of JSON text", at()))),
            (value, false) => write_json(out, value),
        },
        TensorData::Strings(items) => {
            let text = std::str::from_utf8(items[i])
                .map_err(|_| bad(format!("{}: element {i} is not UTF-8 text", at())))?;
            if json_text {
                raw_json(out, text)?;
            } else {
                write_json(out, text);
            }
        }
        TensorData::Fixed(bytes) => {
            let width = input.datatype.width().unwrap_or(1);
            let b = &bytes[i * width..(i + 1) * width];
            macro_rules! int {
                ($ty:ty) => {
                    write_json(out, &<$ty>::from_le_bytes(b.try_into().unwrap_or_default()))
                };
            }
            let float = |out: &mut Vec<u8>, x: f64| {
                if !x.is_finite() {
                    return Err(bad(format!(
                        "{}: element {i} is {x}, which JSON (and so the entry script) cannot carry",
                        at()
                    )));
                }
                write_json(out, &x);
                Ok(())
            };
            match input.datatype {
                Datatype::Bool => match b[0] {
                    0 => out.extend_from_slice(b"false"),
                    1 => out.extend_from_slice(b"true"),
                    other => {
                        return Err(bad(format!(
                            "{}: BOOL element {i} is the byte {other}, not 0 or 1",
                            at()
                        )));
                    }
                },
                Datatype::Uint8 => int!(u8),
                Datatype::Uint16 => int!(u16),
                Datatype::Uint32 => int!(u32),
                Datatype::Uint64 => int!(u64),
                Datatype::Int8 => int!(i8),
                Datatype::Int16 => int!(i16),
                Datatype::Int32 => int!(i32),
                Datatype::Int64 => int!(i64),
                // Written as the float64 of the same value, which reads back bit-exact.
                Datatype::Fp32 => float(
                    out,
                    f64::from(f32::from_le_bytes(b.try_into().unwrap_or_default())),
                )?,
                Datatype::Fp64 => float(out, f64::from_le_bytes(b.try_into().unwrap_or_default()))?,
                Datatype::Fp16 | Datatype::Bf16 | Datatype::Bytes => {
                    return Err(bad(format!("{}: unsupported datatype", at())));
                }
            }
        }
    }
    Ok(())
}

/// The output tensors an output sample declares.
fn outputs_of(sample: &Value) -> Result<Vec<OutputSpec>, String> {
    let mut outputs = Vec::new();
    match sample {
        Value::Object(fields) => leaves(fields, &mut Vec::new(), &mut outputs)?,
        other => outputs.push(leaf("output0".to_owned(), Vec::new(), other)?),
    }
    if outputs.is_empty() {
        return Err("it is an empty object".to_owned());
    }
    Ok(outputs)
}

fn leaves(
    fields: &Map<String, Value>,
    path: &mut Vec<String>,
    outputs: &mut Vec<OutputSpec>,
) -> Result<(), String> {
    for (key, value) in fields {
        path.push(key.clone());
        match value {
            Value::Object(inner) if !inner.is_empty() => leaves(inner, path, outputs)?,
            _ => outputs.push(leaf(path.join("."), path.clone(), value)?),
        }
        path.pop();
    }
    Ok(())
}

/// One output tensor from a sample leaf.
fn leaf(name: String, path: Vec<String>, sample: &Value) -> Result<OutputSpec, String> {
    let mut dims = Vec::new();
    let mut item = sample;
    while let Value::Array(items) = item {
        dims.push(items.len() as i64);
        item = items
            .first()
            .ok_or_else(|| format!("'{name}' is an empty list, which has no element type"))?;
    }
    let rank = dims.len();
    let mut scalars = Vec::new();
    let mut shape = vec![None; rank];
    collect(sample, 0, rank, &mut shape, &mut scalars).map_err(|m| format!("'{name}' {m}"))?;
    let datatype = if scalars.iter().all(|v| v.is_boolean()) {
        Datatype::Bool
    } else if scalars.iter().all(|v| v.is_string()) {
        Datatype::Bytes
    } else if scalars.iter().all(|v| v.is_i64()) {
        Datatype::Int64
    } else if scalars.iter().all(|v| v.is_number()) {
        Datatype::Fp64
    } else {
        return Err(format!(
            "'{name}' is not made of numbers, booleans or strings of one kind"
        ));
    };
    let shape = if rank == 0 {
        vec![1]
    } else {
        let mut shape = dims;
        shape[0] = -1;
        shape
    };
    Ok(OutputSpec {
        spec: TensorSpec {
            name,
            datatype,
            shape,
            scalar: rank == 0,
            required: true,
        },
        path,
        rank,
    })
}

/// The leaves of `value`, which must be nested lists `rank` deep with the same length at each
/// depth (recorded in `shape`), row-major.
fn collect<'v>(
    value: &'v Value,
    depth: usize,
    rank: usize,
    shape: &mut [Option<u64>],
    out: &mut Vec<&'v Value>,
) -> Result<(), String> {
    match value {
        Value::Array(items) if depth < rank => {
            let n = items.len() as u64;
            match shape[depth] {
                None => shape[depth] = Some(n),
                Some(m) if m == n => {}
                Some(m) => return Err(format!("is ragged: {n} items where others have {m}")),
            }
            for item in items {
                collect(item, depth + 1, rank, shape, out)?;
            }
            Ok(())
        }
        Value::Array(_) => Err(format!("has more than {rank} levels of lists")),
        Value::Object(_) | Value::Null => Err(format!(
            "holds {} where a {} is declared",
            if value.is_null() { "null" } else { "an object" },
            if depth < rank {
                "list"
            } else {
                "number, boolean or string"
            }
        )),
        _ if depth < rank => Err(format!("has fewer than {rank} levels of lists")),
        scalar => {
            out.push(scalar);
            Ok(())
        }
    }
}

/// One output tensor's shape and elements from the result.
fn extract(result: &Value, output: &OutputSpec) -> Result<(Vec<u64>, OutputData), String> {
    let mut value = result;
    for key in &output.path {
        value = value
            .get(key)
            .ok_or_else(|| format!("the result has no '{key}'"))?;
    }
    let mut shape = vec![None; output.rank];
    let mut scalars = Vec::new();
    collect(value, 0, output.rank, &mut shape, &mut scalars)?;
    let shape = if output.rank == 0 {
        vec![1]
    } else {
        shape.into_iter().map(|d| d.unwrap_or(0)).collect()
    };
    let wrong = |v: &Value| {
        format!(
            "expected {}, got {v}",
            match output.spec.datatype {
                Datatype::Int64 => "an integer (INT64)",
                Datatype::Bool => "true or false (BOOL)",
                Datatype::Bytes => "a string (BYTES)",
                _ => "a number (FP64)",
            }
        )
    };
    let data = match output.spec.datatype {
        Datatype::Int64 => OutputData::Int64(
            scalars
                .iter()
                .map(|v| v.as_i64().ok_or_else(|| wrong(v)))
                .collect::<Result<_, _>>()?,
        ),
        Datatype::Bool => OutputData::Bool(
            scalars
                .iter()
                .map(|v| v.as_bool().ok_or_else(|| wrong(v)))
                .collect::<Result<_, _>>()?,
        ),
        Datatype::Bytes => OutputData::Bytes(
            scalars
                .iter()
                .map(|v| v.as_str().map(str::to_owned).ok_or_else(|| wrong(v)))
                .collect::<Result<_, _>>()?,
        ),
        _ => OutputData::Fp64(
            scalars
                .iter()
                .map(|v| v.as_f64().ok_or_else(|| wrong(v)))
                .collect::<Result<_, _>>()?,
        ),
    };
    Ok((shape, data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_samples_become_named_tensors() {
        let outputs = outputs_of(&serde_json::json!({"Results": {
            "label": [0, 2],
            "probabilities": [[0.98, 0.02, 0.0], [0.0, 0.02, 0.98]],
        }}))
        .unwrap();
        let described: Vec<(&str, &str, Vec<i64>)> = outputs
            .iter()
            .map(|o| {
                (
                    o.spec.name.as_str(),
                    o.spec.datatype.as_str(),
                    o.spec.shape.clone(),
                )
            })
            .collect();
        assert_eq!(
            described,
            [
                ("Results.label", "INT64", vec![-1]),
                ("Results.probabilities", "FP64", vec![-1, 3]),
            ]
        );
        let list = outputs_of(&serde_json::json!([1.0, 2.0])).unwrap();
        assert_eq!(list[0].spec.name, "output0");
        let scalar = outputs_of(&serde_json::json!({"n": "x"})).unwrap();
        assert_eq!(
            (scalar[0].spec.datatype, scalar[0].spec.shape.clone()),
            (Datatype::Bytes, vec![1])
        );
    }

    #[test]
    fn output_samples_without_a_tensor_form_are_refused() {
        for (sample, why) in [
            (serde_json::json!({"a": []}), "empty list"),
            (serde_json::json!({"a": [{"x": 1}]}), "an object"),
            (serde_json::json!({"a": [1, "x"]}), "of one kind"),
            (serde_json::json!({"a": null}), "null"),
            (serde_json::json!([[1, 2], [3]]), "ragged"),
            (serde_json::json!({}), "empty object"),
        ] {
            let err = outputs_of(&sample).unwrap_err();
            assert!(err.contains(why), "{sample}: {err}");
        }
    }

    #[test]
    fn results_are_checked_against_the_declared_outputs() {
        let outputs = outputs_of(&serde_json::json!({"Results": [1.0]})).unwrap();
        let (shape, data) =
            extract(&serde_json::json!({"Results": [1, 2.5]}), &outputs[0]).unwrap();
        assert_eq!(shape, [2]);
        assert!(matches!(data, OutputData::Fp64(v) if v == [1.0, 2.5]));
        for (result, why) in [
            (serde_json::json!({"Other": [1]}), "no 'Results'"),
            (
                serde_json::json!({"Results": [[1.0]]}),
                "more than 1 levels",
            ),
            (serde_json::json!({"Results": ["x"]}), "expected a number"),
        ] {
            let err = extract(&result, &outputs[0]).unwrap_err();
            assert!(err.contains(why), "{result}: {err}");
        }
    }
}
