//! Typed schemas: the samples an entry script declares become the Swagger 2.0 / OpenAPI 3
//! documents and the checks every request passes before `run` is called.
//!
//! - `convert`: request JSON → tensors, frames and checked JSON values, with field paths.
//! - `docs`: the Swagger/OpenAPI documents, in the Azure ML server's shape.
//! - `check`: the one check of client JSON text (depth, finite numbers, valid Unicode) that
//!   every body passes before a guest parses any of it.
//! - [`oip`]: the Open Inference Protocol v2: tensors on the wire and their mapping onto a
//!   script's declared parameters.
//! - `settings`: the documents' settings.

mod check;
mod convert;
mod docs;
pub mod oip;
mod settings;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

pub use check::check_json_text;
pub use convert::Invalid;
pub use docs::{Documents, SwaggerVersion, redacted};
pub use scorehost_wit::dtype_named;
pub use settings::{SampleVisibility, SwaggerSettings};

use scorehost_wit::{
    self as wit, Argument, Dtype, Elements, NamedArgument, NamedParam, Orient, Param, Tensor,
};

/// What an entry script takes and returns, checked and ready to use.
#[derive(Debug)]
pub struct Schema {
    /// The top-level keys of a request body the script declares, in declaration order.
    pub parameters: Vec<Parameter>,
    output: Option<Value>,
    /// The script declares its output rows follow its tensor inputs' rows (see
    /// the core's batching).
    pub batchable: bool,
}

/// One declared top-level parameter, like `inference-schema`'s `@input_schema(name, type)`.
#[derive(Debug)]
pub struct Parameter {
    /// The body's key.
    pub name: String,
    /// What it holds.
    pub kind: ParameterKind,
    /// Without a default in the script: a request that lacks it gets 400.
    pub required: bool,
}

/// What one top-level parameter holds.
#[derive(Debug)]
pub enum ParameterKind {
    /// One value of a sample's kind.
    Value(Kind),
    /// Named values one level deep (the Power BI `Inputs` object): every one required,
    /// others ignored.
    Group(Vec<(String, Kind)>),
    /// An object whose every entry is passed as JSON, unchecked.
    OpenGroup,
}

/// The type one value must have.
#[derive(Debug)]
pub enum Kind {
    /// A numpy-style array.
    Tensor {
        /// Element type.
        dtype: Dtype,
        /// The sample's shape (its first dimension is free).
        shape: Vec<u64>,
        /// The sample as JSON, for the documents.
        example: Value,
    },
    /// A pandas-style data frame.
    Frame {
        /// Column names and dtypes, in the sample's order.
        columns: Vec<(String, Dtype)>,
        /// The JSON layout the sample used (`records`, `split`, …).
        orient: Orient,
        /// The sample as JSON, for the documents.
        example: Value,
    },
    /// A standard JSON value.
    Json {
        /// Its structure.
        ty: JsonType,
        /// The sample as JSON, for the documents.
        example: Value,
    },
}

/// The structure of a standard JSON sample, as `inference-schema` infers it.
#[derive(Debug, Clone, PartialEq)]
pub enum JsonType {
    /// Any number.
    Number,
    /// A whole number.
    Integer,
    /// `true` or `false`.
    Boolean,
    /// A string.
    String,
    /// A list of items of one structure.
    Array(Box<JsonType>),
    /// An object with these members.
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
pub enum Place {
    /// An entry of `Inputs`.
    Input,
    /// A top-level key of the body (`GlobalParameters`, or a parameter of any name).
    TopLevel,
}

/// One parameter the entry script declares, for other protocols to map onto their own
/// values (the Open Inference Protocol maps each onto tensors, see `oip::mapping`).
#[derive(Debug)]
pub struct Declared<'s> {
    /// The name in the request: the parameter's, or the group member's.
    pub name: &'s str,
    /// Where in the body it goes.
    pub place: Place,
    /// Its type.
    pub kind: &'s Kind,
    /// Whether a request must carry it.
    pub required: bool,
}

impl Schema {
    /// Every declared value, in the schema's order: the entries of the `Inputs` group (its
    /// place `Input`), then the top-level values (`GlobalParameters` and the others).
    pub fn declared(&self) -> Vec<Declared<'_>> {
        let mut declared = Vec::new();
        for parameter in &self.parameters {
            if let ParameterKind::Group(entries) = &parameter.kind {
                declared.extend(entries.iter().map(|(name, kind)| Declared {
                    name,
                    place: Place::Input,
                    kind,
                    required: true,
                }));
            }
        }
        for parameter in &self.parameters {
            if let ParameterKind::Value(kind) = &parameter.kind {
                declared.push(Declared {
                    name: &parameter.name,
                    place: Place::TopLevel,
                    kind,
                    required: parameter.required,
                });
            }
        }
        declared
    }

    /// Whether an `Inputs` object is passed unchecked (a Rust `EntryScript` without samples):
    /// its entries have no declared type.
    pub fn is_open(&self) -> bool {
        self.parameters
            .iter()
            .any(|p| matches!(p.kind, ParameterKind::OpenGroup))
    }

    /// The sample of what `run` returns, if the script declares one.
    pub fn output_sample(&self) -> Option<&Value> {
        self.output.as_ref()
    }

    /// Checks the guest's schema and renders its samples as JSON examples. `Err` says what is
    /// wrong with the samples (a bug in the entry script: the deployment does not load).
    pub fn from_wit(schema: wit::Schema) -> Result<Schema, String> {
        let mut parameters: Vec<Parameter> = Vec::with_capacity(schema.parameters.len());
        for parameter in schema.parameters {
            let name = parameter.name;
            if parameters.iter().any(|p| p.name == name) {
                return Err(format!("the parameter {name} is declared twice"));
            }
            let kind = match parameter.kind {
                wit::ParameterKind::Value(sample) => ParameterKind::Value(
                    Kind::from_sample(sample).map_err(|e| format!("the sample of {name}: {e}"))?,
                ),
                wit::ParameterKind::Group(entries) => ParameterKind::Group(
                    entries
                        .into_iter()
                        .map(|entry| {
                            let kind = Kind::from_sample(entry.sample)
                                .map_err(|e| format!("the sample of {name}.{}: {e}", entry.name))?;
                            Ok((entry.name, kind))
                        })
                        .collect::<Result<_, String>>()?,
                ),
                wit::ParameterKind::OpenGroup => ParameterKind::OpenGroup,
            };
            parameters.push(Parameter {
                name,
                kind,
                required: parameter.required,
            });
        }
        let output = schema
            .output
            .map(|text| serde_json::from_str(&text).map_err(|e| format!("the output sample: {e}")))
            .transpose()?;
        Ok(Schema {
            parameters,
            output,
            batchable: schema.batchable,
        })
    }

    /// Checks a request body's top-level entries and converts the declared ones to what
    /// `run` takes, in the schema's order. Keys the schema does not name are ignored, as the
    /// Azure ML server ignores them; a missing required parameter is Azure's 400.
    pub fn bind(&self, top: &[(String, &RawValue)]) -> Result<Vec<NamedArgument>, Invalid> {
        let value_of = |name: &str| top.iter().find(|(n, _)| n == name).map(|(_, raw)| *raw);
        // Every top-level parameter is looked for before any value is read, as the Azure ML
        // server binds `run`'s arguments before inference-schema converts them: a body that
        // lacks `GlobalParameters` and an `Inputs` entry hears of `GlobalParameters`.
        if let Some(missing) = self
            .parameters
            .iter()
            .find(|p| p.required && value_of(&p.name).is_none())
        {
            return Err(Invalid::missing(&missing.name));
        }
        let mut arguments = Vec::with_capacity(self.parameters.len());
        for parameter in &self.parameters {
            let name = &parameter.name;
            let Some(raw) = value_of(name) else {
                continue;
            };
            let group = || {
                serde_json::from_str::<Entries>(raw.get())
                    .map_err(|_| Invalid::new("", format!("{name} should be a JSON dictionary.")))
            };
            let value = match &parameter.kind {
                ParameterKind::Value(kind) => Argument::Value(kind.convert(raw, name)?),
                ParameterKind::OpenGroup => Argument::Group(
                    group()?
                        .0
                        .into_iter()
                        .map(|(name, raw)| NamedParam {
                            name,
                            value: Param::Json(raw.get().to_owned()),
                        })
                        .collect(),
                ),
                ParameterKind::Group(entries) => {
                    let given = group()?;
                    let mut params = Vec::with_capacity(entries.len());
                    for (entry, kind) in entries {
                        let path = format!("{name}.{entry}");
                        let raw = given
                            .get(entry)
                            .ok_or_else(|| Invalid::new(&path, "is missing"))?;
                        params.push(NamedParam {
                            name: entry.clone(),
                            value: kind.convert(raw, &path)?,
                        });
                    }
                    Argument::Group(params)
                }
            };
            arguments.push(NamedArgument {
                name: name.clone(),
                value,
            });
        }
        Ok(arguments)
    }
}

impl Schema {
    /// The typed path in one pass over a request body: the declared values are picked out as
    /// the body is read (the values the schema ignores pass the same checks as
    /// [`check_json_text`] on the way), then converted. `None` when anything is off (not a
    /// JSON dictionary, a value that does not fit, a key with escapes, a repeated key, an open
    /// group): the caller then takes the slow path (the core's `scoring::parse_payload`,
    /// [`check_json_text`], [`Schema::bind`]), which accepts all this accepts, converts it
    /// alike, and says what is wrong with the rest. On the Power BI body reading costs 17.6k
    /// instructions instead of the slow path's 42k (see ARCHITECTURE.md).
    pub fn bind_body(&self, body: &[u8]) -> Option<Vec<NamedArgument>> {
        // One UTF-8 check of the whole body: a reader over bytes checks each string on its
        // own, which for a body of many short keys and values costs several times as much.
        let text = std::str::from_utf8(body).ok()?;
        let mut slots: Vec<Slot> = self.parameters.iter().map(|_| Slot::Empty).collect();
        let mut deserializer = serde_json::Deserializer::from_str(text);
        Capture {
            schema: self,
            slots: &mut slots,
        }
        .deserialize(&mut deserializer)
        .ok()?;
        deserializer.end().ok()?;
        let mut arguments = Vec::with_capacity(self.parameters.len());
        for (parameter, slot) in self.parameters.iter().zip(slots) {
            let value = match (&parameter.kind, slot) {
                (_, Slot::Empty) if parameter.required => return None,
                (_, Slot::Empty) => continue,
                (ParameterKind::Value(_), Slot::Param(param)) => Argument::Value(param),
                (ParameterKind::Group(entries), Slot::Group(params)) => Argument::Group(
                    entries
                        .iter()
                        .zip(params)
                        .map(|((entry, _), value)| {
                            Some(NamedParam {
                                name: entry.clone(),
                                value: value?,
                            })
                        })
                        .collect::<Option<_>>()?,
                ),
                _ => return None,
            };
            arguments.push(NamedArgument {
                name: parameter.name.clone(),
                value,
            });
        }
        Some(arguments)
    }
}

/// What [`Schema::bind_body`] found for one parameter.
enum Slot {
    Empty,
    Param(Param),
    /// A group's declared entries, in the schema's order.
    Group(Vec<Option<Param>>),
}

/// Reads a body's top level into the parameters' slots.
struct Capture<'s, 'c> {
    schema: &'s Schema,
    slots: &'c mut [Slot],
}

impl<'de> DeserializeSeed<'de> for Capture<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Capture<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON dictionary")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        // A key with escapes is not a borrowed `&str`: that body takes the slow path.
        while let Some(key) = map.next_key::<&'de str>()? {
            let Some(at) = self.schema.parameters.iter().position(|p| p.name == key) else {
                map.next_value_seed(check::Skip { depth: 1 })?;
                continue;
            };
            if !matches!(self.slots[at], Slot::Empty) {
                return Err(de::Error::custom("a repeated key"));
            }
            self.slots[at] = match &self.schema.parameters[at].kind {
                ParameterKind::Group(entries) => {
                    Slot::Group(map.next_value_seed(GroupCapture {
                        entries: entries.as_slice(),
                    })?)
                }
                ParameterKind::Value(kind) => {
                    Slot::Param(map.next_value_seed(ValueSeed { kind, depth: 1 })?)
                }
                ParameterKind::OpenGroup => return Err(de::Error::custom("an open group")),
            };
        }
        Ok(())
    }
}

/// Reads a group's object (`Inputs`) into its declared entries.
struct GroupCapture<'s> {
    entries: &'s [(String, Kind)],
}

impl<'de> DeserializeSeed<'de> for GroupCapture<'_> {
    type Value = Vec<Option<Param>>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for GroupCapture<'_> {
    type Value = Vec<Option<Param>>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON dictionary")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut params: Vec<Option<Param>> = self.entries.iter().map(|_| None).collect();
        while let Some(key) = map.next_key::<&'de str>()? {
            match self.entries.iter().position(|(name, _)| name == key) {
                None => map.next_value_seed(check::Skip { depth: 2 })?,
                Some(at) if params[at].is_some() => {
                    return Err(de::Error::custom("a repeated key"));
                }
                Some(at) => {
                    let kind = &self.entries[at].1;
                    params[at] = Some(map.next_value_seed(ValueSeed { kind, depth: 2 })?);
                }
            }
        }
        Ok(params)
    }
}

/// One declared value read from the body, `depth` containers deep: tensors and records
/// frames straight from the deserializer, the other kinds through their raw text.
struct ValueSeed<'s> {
    kind: &'s Kind,
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = Param;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Param, D::Error> {
        match self.kind {
            // Nested lists deeper than the body's limit: the slow path refuses them.
            Kind::Tensor { shape, .. } if self.depth + shape.len() > check::MAX_DEPTH => {
                Err(de::Error::custom("nested too deep"))
            }
            Kind::Tensor { dtype, shape, .. } => Ok(Param::Tensor(
                convert::TensorSeed {
                    dtype: *dtype,
                    sample_shape: shape,
                }
                .deserialize(deserializer)?,
            )),
            Kind::Frame {
                columns,
                orient: Orient::Records,
                ..
            } => Ok(Param::Frame(
                convert::RecordsSeed { columns }.deserialize(deserializer)?,
            )),
            _ => {
                let raw = <&RawValue>::deserialize(deserializer)?;
                self.kind
                    .convert_checked(raw, self.depth)
                    .ok_or_else(|| de::Error::custom("does not fit its sample"))
            }
        }
    }
}

/// The entries of a JSON object in document order, values left as raw JSON text (borrowed,
/// never re-serialised). A repeated key keeps its first position and its last value, as
/// Python's `json` does.
#[derive(Debug)]
pub struct Entries<'a>(pub Vec<(String, &'a RawValue)>);

impl<'a> Entries<'a> {
    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&'a RawValue> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| *v)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Entries<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EntriesVisitor<'a>(std::marker::PhantomData<&'a ()>);

        impl<'de: 'a, 'a> Visitor<'de> for EntriesVisitor<'a> {
            type Value = Entries<'a>;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON dictionary")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut entries: Vec<(String, &'a RawValue)> = Vec::new();
                while let Some((key, value)) = map.next_entry::<String, &'de RawValue>()? {
                    match entries.iter_mut().find(|(k, _)| *k == key) {
                        Some(slot) => slot.1 = value,
                        None => entries.push((key, value)),
                    }
                }
                Ok(Entries(entries))
            }
        }

        deserializer.deserialize_map(EntriesVisitor(std::marker::PhantomData))
    }
}

impl Kind {
    fn from_sample(sample: wit::Sample) -> Result<Kind, String> {
        Ok(match sample {
            wit::Sample::Tensor(t) => Kind::Tensor {
                dtype: t.dtype,
                example: tensor_example(&t)?,
                shape: t.shape,
            },
            wit::Sample::Frame(f) => {
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
            wit::Sample::Json(text) => {
                let example: Value =
                    serde_json::from_str(&text).map_err(|e| format!("not JSON: {e}"))?;
                Kind::Json {
                    ty: JsonType::of(&example),
                    example,
                }
            }
        })
    }

    /// [`Kind::convert`] for [`Schema::bind_body`], `depth` containers deep in the body: a
    /// standard JSON value also passes [`check_json_text`] (the slow path checks the whole body
    /// before converting; tensors and frames are converted strictly, so what they accept
    /// passes it anyway, except what a split frame's `index` may hold). `None` on any failure,
    /// without building its message.
    fn convert_checked(&self, raw: &RawValue, depth: usize) -> Option<Param> {
        let checked = match self {
            Kind::Json { .. }
            | Kind::Frame {
                orient: Orient::Split,
                ..
            } => check::check_json_text_at(raw.get().as_bytes(), depth).is_ok(),
            _ => true,
        };
        if !checked {
            return None;
        }
        self.convert(raw, "").ok()
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
pub fn tensor_for_bench(raw: &RawValue, cols: u64) -> Result<Tensor, Invalid> {
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
                scorehost_wit::dtype_name(t.dtype)
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
                    scorehost_wit::dtype_name(t.dtype)
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
        Orient::Index => Value::Object(
            (0..rows)
                .map(|r| {
                    let record = columns
                        .iter()
                        .enumerate()
                        .map(|(c, (name, _))| (name.clone(), cells(c)[r].clone()))
                        .collect();
                    (r.to_string(), Value::Object(record))
                })
                .collect(),
        ),
        Orient::Values => Value::Array(
            (0..rows)
                .map(|r| Value::Array((0..columns.len()).map(|c| cells(c)[r].clone()).collect()))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use scorehost_wit::types::{FrameSample, InputSpec, Parameter as WitParameter};
    use scorehost_wit::{Column, Frame};

    fn tensor(dtype: Dtype, shape: &[u64], bytes: Vec<u8>) -> Tensor {
        Tensor {
            dtype,
            shape: shape.to_vec(),
            elements: Elements::Bytes(bytes),
        }
    }

    fn frame(orient: Orient) -> wit::Sample {
        wit::Sample::Frame(FrameSample {
            frame: Frame {
                columns: vec![
                    Column {
                        name: "name".into(),
                        values: Tensor {
                            dtype: Dtype::Str,
                            shape: vec![1],
                            elements: Elements::Strings(vec!["Sarah".into()]),
                        },
                    },
                    Column {
                        name: "age".into(),
                        values: tensor(Dtype::Int64, &[1], 25i64.to_le_bytes().to_vec()),
                    },
                ],
            },
            orient,
        })
    }

    /// The Power BI shape (a matrix, a records frame, a number, `GlobalParameters`), plus an
    /// optional split frame and an optional JSON object at the top level.
    fn schema() -> Schema {
        let matrix: Vec<u8> = (0..4).flat_map(|i| f64::from(i).to_le_bytes()).collect();
        let entry = |name: &str, sample| InputSpec {
            name: name.into(),
            sample,
        };
        let parameter = |name: &str, kind, required| WitParameter {
            name: name.into(),
            kind,
            required,
        };
        Schema::from_wit(wit::Schema {
            parameters: vec![
                parameter(
                    "Inputs",
                    wit::ParameterKind::Group(vec![
                        entry(
                            "input1",
                            wit::Sample::Tensor(tensor(Dtype::Float64, &[2, 2], matrix)),
                        ),
                        entry("input2", frame(Orient::Records)),
                        entry("input3", wit::Sample::Json("0.0".into())),
                    ]),
                    true,
                ),
                parameter(
                    "GlobalParameters",
                    wit::ParameterKind::Value(wit::Sample::Json("1.0".into())),
                    false,
                ),
                parameter(
                    "split",
                    wit::ParameterKind::Value(frame(Orient::Split)),
                    false,
                ),
                parameter(
                    "options",
                    wit::ParameterKind::Value(wit::Sample::Json(r#"{"k": [1]}"#.into())),
                    false,
                ),
            ],
            output: None,
            batchable: false,
        })
        .unwrap()
    }

    /// What `/score` did before the one-pass reader, and still does when it declines.
    fn slow(schema: &Schema, body: &str) -> Result<Vec<NamedArgument>, Invalid> {
        let top: Entries =
            serde_json::from_str(body).map_err(|e| Invalid::new("", e.to_string()))?;
        check_json_text(body.as_bytes())?;
        schema.bind(&top.0)
    }

    #[test]
    fn the_one_pass_reader_accepts_what_the_slow_path_accepts_and_converts_alike() {
        let schema = schema();
        let deep = |levels: usize| format!("{}{}", "[".repeat(levels), "]".repeat(levels));
        let bodies = [
            r#"{"Inputs": {"input1": [[1, 2], [3, 4.5]], "input2": [{"name": "Sarah", "age": 25}, {"age": 26, "name": "John"}], "input3": 0.0}, "GlobalParameters": 1.0}"#.to_owned(),
            r#"{"GlobalParameters": 2, "Inputs": {"input3": 7, "input2": [], "input1": [[1, 2]], "other": [1e300]}}"#.to_owned(),
            r#"{"Inputs": {"input1": [[1, 2]], "input2": [{"name": "x", "age": -3}], "input3": 1}, "split": {"columns": ["age", "name"], "index": [0], "data": [[4, "y"]]}, "options": {"k": [2, 3], "z": null}}"#.to_owned(),
            // Not JSON, not a dictionary, keys and values the slow path refuses or reads its own way.
            String::new(),
            "[]".to_owned(),
            r#"{"Inputs": {"input1": [[1, 2]], "input2": [], "input3": 1}} x"#.to_owned(),
            r#"{"Inputs": []}"#.to_owned(),
            r#"{"GlobalParameters": 1.0}"#.to_owned(),
            r#"{"Inputs": {"input1": [[1, 2]], "input2": [], "input3": 1}, "Inputs": {"input1": [[1, 2]], "input2": [], "input3": 2}}"#.to_owned(),
            r#"{"Inputs": {"input1": [[1, 2]], "input1": [[3, 4]], "input2": [], "input3": 1}}"#.to_owned(),
            r#"{"Inp\u0075ts": {"input1": [[1, 2]], "input2": [], "input3": 1}}"#.to_owned(),
            r#"{"Inputs": {"input1": [[1, 2]], "input2": [{"name": "Sa\u0072ah", "age": 1}], "input3": 1}}"#.to_owned(),
            r#"{"Inputs": {"input1": [[1, 2]], "input2": [{"name": "a", "age": 1, "name": "b"}], "input3": 1}}"#.to_owned(),
            r#"{"Inputs": {"input1": [[1, 2]], "input2": [{"name": "a", "age": 1.5}], "input3": 1}}"#.to_owned(),
            r#"{"Inputs": {"input1": [[1, 2]], "input2": [{"name": "a", "age": 2.0}], "input3": 1}}"#.to_owned(),
            r#"{"Inputs": {"input1": [[1, 2]], "input2": [{"name": "a"}], "input3": 1}}"#.to_owned(),
            r#"{"Inputs": {"input1": [[1, 2]], "input2": [{"name": "a", "age": 1, "x": 0}], "input3": 1}}"#.to_owned(),
            r#"{"Inputs": {"input1": [[1, 2]], "input2": [{"name": null, "age": 1}], "input3": 1}}"#.to_owned(),
            r#"{"Inputs": {"input1": [[1, 2, 3]], "input2": [], "input3": 1}}"#.to_owned(),
            r#"{"Inputs": {"input1": [[1, "2"]], "input2": [], "input3": 1}}"#.to_owned(),
            r#"{"Inputs": {"input1": [[1, 1e400]], "input2": [], "input3": 1}}"#.to_owned(),
            r#"{"Inputs": {"input1": [[1, 2]], "input2": [], "input3": "a"}}"#.to_owned(),
            r#"{"Inputs": {"input1": [[1, 2]], "input2": [], "input3": 1, "junk": 1e400}}"#.to_owned(),
            r#"{"Inputs": {"input1": [[1, 2]], "input2": [], "input3": 1}, "junk": "\ud800"}"#.to_owned(),
            r#"{"Inputs": {"input1": [[1, 2]], "input2": [], "input3": 1}, "options": {"k": "\ud800"}}"#.to_owned(),
            r#"{"Inputs": {"input1": [[1, 2]], "input2": [], "input3": 1}, "options": {"z": 1}}"#.to_owned(),
            r#"{"Inputs": {"input1": [[1, 2]], "input2": [], "input3": 1}, "split": {"columns": ["age", "name"], "index": [1e400], "data": []}}"#.to_owned(),
            format!(r#"{{"Inputs": {{"input1": [[1, 2]], "input2": [], "input3": 1}}, "junk": {}}}"#, deep(99)),
            format!(r#"{{"Inputs": {{"input1": [[1, 2]], "input2": [], "input3": 1}}, "junk": {}}}"#, deep(100)),
            format!(r#"{{"Inputs": {{"input1": [[1, 2]], "input2": [], "input3": 1, "junk": {}}}}}"#, deep(98)),
            format!(r#"{{"Inputs": {{"input1": [[1, 2]], "input2": [], "input3": 1, "junk": {}}}}}"#, deep(99)),
            format!(r#"{{"Inputs": {{"input1": [[1, 2]], "input2": [], "input3": 1}}, "options": {{"k": [1], "d": {}}}}}"#, deep(97)),
            format!(r#"{{"Inputs": {{"input1": [[1, 2]], "input2": [], "input3": 1}}, "options": {{"k": [1], "d": {}}}}}"#, deep(98)),
        ];
        let mut fast_taken = 0;
        for body in &bodies {
            let fast = schema.bind_body(body.as_bytes());
            match slow(&schema, body) {
                Ok(expected) => {
                    if let Some(fast) = fast {
                        assert_eq!(format!("{fast:?}"), format!("{expected:?}"), "{body}");
                        fast_taken += 1;
                    }
                }
                Err(e) => assert!(fast.is_none(), "{body}: the slow path says {e}"),
            }
        }
        // The ordinary requests take the one-pass reader.
        assert!(fast_taken >= 5, "only {fast_taken} bodies read in one pass");
        for body in &bodies[..3] {
            assert!(schema.bind_body(body.as_bytes()).is_some(), "{body}");
        }
    }

    #[test]
    fn a_missing_top_level_parameter_is_reported_before_a_missing_entry_of_a_group() {
        let mut schema = schema();
        for parameter in &mut schema.parameters {
            parameter.required |= parameter.name == "GlobalParameters";
        }
        let body = r#"{"Inputs": {"input1": [[1, 2]], "input3": 1}}"#;
        assert!(schema.bind_body(body.as_bytes()).is_none());
        assert_eq!(
            slow(&schema, body).unwrap_err(),
            Invalid::missing("GlobalParameters")
        );
        // With every top-level parameter there, the group's missing entry is next.
        let body = r#"{"Inputs": {"input1": [[1, 2]], "input3": 1}, "GlobalParameters": 1}"#;
        assert_eq!(
            slow(&schema, body).unwrap_err(),
            Invalid::new("Inputs.input2", "is missing")
        );
    }

    #[test]
    fn a_records_frame_may_come_as_an_object_of_column_lists() {
        let schema = schema();
        let by_records = r#"{"Inputs": {"input1": [[1, 2]], "input2": [{"name": "Sarah", "age": 25}, {"age": 26, "name": "John"}], "input3": 1}}"#;
        let by_columns = r#"{"Inputs": {"input1": [[1, 2]], "input2": {"age": [25, 26], "name": ["Sarah", "John"]}, "input3": 1}}"#;
        let expected = slow(&schema, by_records).unwrap();
        assert_eq!(
            format!("{:?}", slow(&schema, by_columns).unwrap()),
            format!("{expected:?}")
        );
        // Columns in the sample's order, whatever the request's order.
        let Argument::Group(inputs) = &expected[0].value else {
            panic!("{expected:?}")
        };
        let Param::Frame(frame) = &inputs[1].value else {
            panic!("{inputs:?}")
        };
        let names: Vec<&str> = frame.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["name", "age"]);
        for (body, path, message) in [
            (
                r#"{"name": ["a"], "age": [1, 2]}"#,
                "Inputs.input2.age",
                "has 2 rows, the first column 1",
            ),
            (r#"{"name": ["a"]}"#, "Inputs.input2.age", "is missing"),
            (
                r#"{"name": ["a"], "age": [1], "x": [0]}"#,
                "Inputs.input2.x",
                "is not a column of the sample",
            ),
            (
                r#"{"name": "a", "age": 1}"#,
                "Inputs.input2.name",
                "expected a list of the column's values",
            ),
            (
                r#"{"name": ["a"], "age": [1.5]}"#,
                "Inputs.input2.age[0]",
                "expected an integer, got 1.5",
            ),
        ] {
            let request =
                format!(r#"{{"Inputs": {{"input1": [[1, 2]], "input2": {body}, "input3": 1}}}}"#);
            assert_eq!(
                slow(&schema, &request).unwrap_err(),
                Invalid::new(path, message),
                "{body}"
            );
        }
    }
}
