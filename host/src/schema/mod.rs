//! Typed schemas: the samples an entry script declares become the Swagger 2.0 / OpenAPI 3
//! documents and the checks every request passes before `run` is called.
//!
//! - `convert`: request JSON → tensors, frames and checked JSON values, with field paths.
//! - `docs`: the Swagger/OpenAPI documents, in the Azure ML server's shape.
//! - `check`: the one check of client JSON text (depth, finite numbers, valid Unicode) that
//!   every body passes before a guest parses any of it.

mod check;
mod convert;
mod docs;

use serde_json::Value;
use serde_json::value::RawValue;

pub(crate) use check::check_json_text;
pub(crate) use convert::Invalid;
pub(crate) use docs::{Documents, SwaggerVersion, redacted};

use crate::runtime::bindings::{self, Dtype, Elements, NamedParam, Orient, Param, Tensor};

/// What an entry script takes and returns, checked and ready to use.
#[derive(Debug)]
pub(crate) struct Schema {
    inputs: Vec<(String, Kind)>,
    global_parameters: Option<Kind>,
    global_parameters_required: bool,
    output: Option<Value>,
}

/// The type one value must have.
#[derive(Debug)]
pub(crate) enum Kind {
    /// A numpy-style array.
    Tensor {
        dtype: Dtype,
        shape: Vec<u64>,
        example: Value,
    },
    /// A pandas-style data frame.
    Frame {
        columns: Vec<(String, Dtype)>,
        orient: Orient,
        example: Value,
    },
    /// A standard JSON value.
    Json { ty: JsonType, example: Value },
}

/// The structure of a standard JSON sample, as `inference-schema` infers it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum JsonType {
    Number,
    Integer,
    Boolean,
    String,
    Array(Box<JsonType>),
    Object(Vec<(String, JsonType)>),
    /// `null` or an empty list's items: anything goes.
    Any,
}

impl JsonType {
    fn of(sample: &Value) -> JsonType {
        match sample {
            Value::Number(n) if n.is_f64() => JsonType::Number,
            Value::Number(_) => JsonType::Integer,
            Value::Bool(_) => JsonType::Boolean,
            Value::String(_) => JsonType::String,
            Value::Array(items) => {
                JsonType::Array(Box::new(items.first().map_or(JsonType::Any, JsonType::of)))
            }
            Value::Object(fields) => JsonType::Object(
                fields
                    .iter()
                    .map(|(k, v)| (k.clone(), JsonType::of(v)))
                    .collect(),
            ),
            Value::Null => JsonType::Any,
        }
    }
}

/// Where a declared parameter goes in a scoring request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Place {
    /// An entry of `Inputs`.
    Input,
    /// The `GlobalParameters` value.
    GlobalParameters,
}

/// One parameter the entry script declares, for other protocols to map onto their own
/// values (the Open Inference Protocol maps each onto tensors, see `oip::mapping`).
#[derive(Debug)]
pub(crate) struct Declared<'s> {
    pub(crate) name: &'s str,
    pub(crate) place: Place,
    pub(crate) kind: &'s Kind,
    pub(crate) required: bool,
}

impl Schema {
    /// Every declared parameter, in the schema's order, `GlobalParameters` last.
    pub(crate) fn declared(&self) -> Vec<Declared<'_>> {
        let inputs = self.inputs.iter().map(|(name, kind)| Declared {
            name,
            place: Place::Input,
            kind,
            required: true,
        });
        let global = self.global_parameters.as_ref().map(|kind| Declared {
            name: "GlobalParameters",
            place: Place::GlobalParameters,
            kind,
            required: self.global_parameters_required,
        });
        inputs.chain(global).collect()
    }

    /// The sample of what `run` returns, if the script declares one.
    pub(crate) fn output_sample(&self) -> Option<&Value> {
        self.output.as_ref()
    }

    /// Checks the guest's schema and renders its samples as JSON examples. `Err` says what is
    /// wrong with the samples (a bug in the entry script: the deployment does not load).
    pub(crate) fn from_wit(schema: bindings::Schema) -> Result<Schema, String> {
        let inputs = schema
            .inputs
            .into_iter()
            .map(|input| {
                let kind = Kind::from_sample(input.sample)
                    .map_err(|e| format!("the sample of Inputs.{}: {e}", input.name))?;
                Ok((input.name, kind))
            })
            .collect::<Result<_, String>>()?;
        let global_parameters = schema
            .global_parameters
            .map(|s| Kind::from_sample(s).map_err(|e| format!("the GlobalParameters sample: {e}")))
            .transpose()?;
        let output = schema
            .output
            .map(|text| serde_json::from_str(&text).map_err(|e| format!("the output sample: {e}")))
            .transpose()?;
        Ok(Schema {
            inputs,
            global_parameters,
            global_parameters_required: schema.global_parameters_required,
            output,
        })
    }

    /// Checks a request's `Inputs` entries and `GlobalParameters` and converts them to what
    /// `run` takes, in the schema's input order. Entries the schema does not name are ignored,
    /// as the Azure ML server ignores them.
    pub(crate) fn bind(
        &self,
        inputs: &[(String, &RawValue)],
        global_parameters: Option<&RawValue>,
    ) -> Result<(Vec<NamedParam>, Option<Param>), Invalid> {
        let mut params = Vec::with_capacity(self.inputs.len());
        for (name, kind) in &self.inputs {
            let path = format!("Inputs.{name}");
            let raw = inputs
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, raw)| *raw)
                .ok_or_else(|| Invalid::new(&path, "is missing"))?;
            params.push(NamedParam {
                name: name.clone(),
                value: kind.convert(raw, &path)?,
            });
        }
        let global = match (&self.global_parameters, global_parameters) {
            (Some(kind), Some(raw)) => Some(kind.convert(raw, "GlobalParameters")?),
            (Some(_), None) if self.global_parameters_required => {
                return Err(Invalid::new("GlobalParameters", "is missing"));
            }
            (None, Some(raw)) => Some(Param::Json(raw.get().to_owned())),
            (_, None) => None,
        };
        Ok((params, global))
    }
}

impl Kind {
    fn from_sample(sample: bindings::Sample) -> Result<Kind, String> {
        Ok(match sample {
            bindings::Sample::Tensor(t) => Kind::Tensor {
                dtype: t.dtype,
                example: tensor_example(&t)?,
                shape: t.shape,
            },
            bindings::Sample::Frame(f) => {
                let mut rows = None;
                let mut columns = Vec::new();
                let mut values = Vec::new();
                for column in f.frame.columns {
                    if column.values.shape.len() != 1 {
                        return Err(format!("column {:?} is not one-dimensional", column.name));
                    }
                    let n = column.values.shape[0];
                    if *rows.get_or_insert(n) != n {
                        return Err(format!(
                            "column {:?} has {n} rows, not {rows:?}",
                            column.name
                        ));
                    }
                    values.push(tensor_example(&column.values)?);
                    columns.push((column.name, column.values.dtype));
                }
                Kind::Frame {
                    example: frame_example(&columns, &values, f.orient),
                    columns,
                    orient: f.orient,
                }
            }
            bindings::Sample::Json(text) => {
                let example: Value =
                    serde_json::from_str(&text).map_err(|e| format!("not JSON: {e}"))?;
                Kind::Json {
                    ty: JsonType::of(&example),
                    example,
                }
            }
        })
    }

    fn convert(&self, raw: &RawValue, path: &str) -> Result<Param, Invalid> {
        Ok(match self {
            Kind::Tensor { dtype, shape, .. } => {
                Param::Tensor(convert::tensor(raw, *dtype, shape, path)?)
            }
            Kind::Frame {
                columns, orient, ..
            } => Param::Frame(convert::frame(raw, columns, *orient, path)?),
            Kind::Json { ty, .. } => {
                let value: Value = serde_json::from_str(raw.get())
                    .map_err(|e| Invalid::new(path, format!("is not valid JSON: {e}")))?;
                convert::json(&value, ty, path)?;
                Param::Json(raw.get().to_owned())
            }
        })
    }
}

/// A float64 `[*, cols]` tensor read from `raw` (for the conversion benchmark).
pub(crate) fn tensor_for_bench(raw: &RawValue, cols: u64) -> Result<Tensor, Invalid> {
    convert::tensor(raw, Dtype::Float64, &[1, cols], "Inputs.input1")
}

/// A tensor's elements as JSON nested lists (floats keep a `.0`, as numpy's `tolist` does).
fn tensor_example(t: &Tensor) -> Result<Value, String> {
    let flat = elements_json(t)?;
    let count: u64 = t.shape.iter().product();
    if flat.len() as u64 != count {
        return Err(format!(
            "shape {:?} needs {count} elements, the sample has {}",
            t.shape,
            flat.len()
        ));
    }
    fn nest(flat: &mut std::vec::IntoIter<Value>, shape: &[u64]) -> Value {
        match shape.split_first() {
            None => flat.next().unwrap_or(Value::Null),
            Some((n, rest)) => Value::Array((0..*n).map(|_| nest(flat, rest)).collect()),
        }
    }
    Ok(nest(&mut flat.into_iter(), &t.shape))
}

fn elements_json(t: &Tensor) -> Result<Vec<Value>, String> {
    let bytes = match &t.elements {
        Elements::Strings(s) if t.dtype == Dtype::Str => {
            return Ok(s.iter().cloned().map(Value::String).collect());
        }
        Elements::Bytes(b) if t.dtype != Dtype::Str => b,
        _ => {
            return Err(format!(
                "{} elements stored as the wrong kind",
                convert::name(t.dtype)
            ));
        }
    };
    macro_rules! decode {
        ($ty:ty, $to:expr) => {{
            let width = size_of::<$ty>();
            if bytes.len() % width != 0 {
                return Err(format!(
                    "{} bytes do not split into {}",
                    bytes.len(),
                    convert::name(t.dtype)
                ));
            }
            bytes
                .chunks_exact(width)
                .map(|c| <$ty>::from_le_bytes(c.try_into().unwrap_or_default()))
                .map($to)
                .collect()
        }};
    }
    let float = |x: f64| serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number);
    Ok(match t.dtype {
        Dtype::Float64 => decode!(f64, float),
        Dtype::Float32 => decode!(f32, |x| float(f64::from(x))),
        Dtype::Int64 => decode!(i64, Value::from),
        Dtype::Int32 => decode!(i32, Value::from),
        Dtype::Int16 => decode!(i16, Value::from),
        Dtype::Int8 => decode!(i8, Value::from),
        Dtype::Uint64 => decode!(u64, Value::from),
        Dtype::Uint32 => decode!(u32, Value::from),
        Dtype::Uint16 => decode!(u16, Value::from),
        Dtype::Uint8 => decode!(u8, Value::from),
        Dtype::Bool => bytes.iter().map(|&b| Value::Bool(b != 0)).collect(),
        Dtype::Str => Vec::new(),
    })
}

/// A frame's sample written with its orient.
fn frame_example(columns: &[(String, Dtype)], values: &[Value], orient: Orient) -> Value {
    let cells = |c: usize| values[c].as_array().cloned().unwrap_or_default();
    let rows = values.first().and_then(Value::as_array).map_or(0, Vec::len);
    match orient {
        Orient::Records => Value::Array(
            (0..rows)
                .map(|r| {
                    Value::Object(
                        columns
                            .iter()
                            .enumerate()
                            .map(|(c, (name, _))| (name.clone(), cells(c)[r].clone()))
                            .collect(),
                    )
                })
                .collect(),
        ),
        Orient::Split => serde_json::json!({
            "columns": columns.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>(),
            "index": (0..rows).collect::<Vec<_>>(),
            "data": (0..rows)
                .map(|r| (0..columns.len()).map(|c| cells(c)[r].clone()).collect::<Vec<_>>())
                .collect::<Vec<_>>(),
        }),
        Orient::Columns => Value::Object(
            columns
                .iter()
                .enumerate()
                .map(|(c, (name, _))| {
                    let by_row: serde_json::Map<String, Value> = cells(c)
                        .into_iter()
                        .enumerate()
                        .map(|(r, v)| (r.to_string(), v))
                        .collect();
                    (name.clone(), Value::Object(by_row))
                })
                .collect(),
        ),
    }
}
