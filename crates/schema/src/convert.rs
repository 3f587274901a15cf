//! Request values → typed parameters, checked against their samples.
//!
//! Tensors are read straight from the request's JSON text into little-endian element bytes
//! (one pass, no intermediate `serde_json::Value`); frames and standard JSON values go through
//! `Value`. Every failure names the offending field path, e.g. `Inputs.input1[1][3]`.

use std::cell::RefCell;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, SeqAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

use super::JsonType;
use scorehost_wit::{Column, Dtype, Elements, Frame, Orient, Tensor, dtype_name};

/// A request value that does not fit its sample: where, and why. An empty `path` is a
/// missing top-level parameter, which has the Azure ML server's message and no path.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}", self.text())]
pub struct Invalid {
    /// The field's JSON path (`Inputs.data[3]`); empty at the top.
    pub path: String,
    /// What is wrong with it.
    pub message: String,
}

impl Invalid {
    /// `message` about the field at `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Invalid {
            path: path.into(),
            message: message.into(),
        }
    }

    /// A required top-level parameter the request lacks (Azure ML's wording).
    pub fn missing(name: &str) -> Self {
        Invalid::new(
            "",
            format!("A value is not provided for the '{name}' parameter."),
        )
    }

    /// The message for the client: `path: message`, or the message alone at the top level.
    pub fn text(&self) -> String {
        if self.path.is_empty() {
            self.message.clone()
        } else {
            format!("{}: {}", self.path, self.message)
        }
    }
}

/// One JSON scalar, whichever way it was read.
#[derive(Clone, Copy)]
enum Scalar<'a> {
    Bool(bool),
    I64(i64),
    U64(u64),
    F64(f64),
    Str(&'a str),
    /// Anything else, by its kind name (`null`, `a list`, `an object`).
    Other(&'static str),
}

impl<'a> Scalar<'a> {
    fn of(value: &'a Value) -> Self {
        match value {
            Value::Bool(b) => Scalar::Bool(*b),
            Value::Number(n) => n
                .as_u64()
                .map(Scalar::U64)
                .or_else(|| n.as_i64().map(Scalar::I64))
                .or_else(|| n.as_f64().map(Scalar::F64))
                .unwrap_or(Scalar::Other("a number")),
            Value::String(s) => Scalar::Str(s),
            Value::Null => Scalar::Other("null"),
            Value::Array(_) => Scalar::Other("a list"),
            Value::Object(_) => Scalar::Other("an object"),
        }
    }

    fn describe(&self) -> String {
        match self {
            Scalar::Bool(b) => b.to_string(),
            Scalar::I64(n) => n.to_string(),
            Scalar::U64(n) => n.to_string(),
            Scalar::F64(x) => x.to_string(),
            Scalar::Str(s) => format!("the string {s:?}"),
            Scalar::Other(kind) => (*kind).to_owned(),
        }
    }
}

/// Element storage while a tensor or column is being read.
enum Buffer {
    Bytes(Vec<u8>),
    Strings(Vec<String>),
}

impl Buffer {
    fn new(dtype: Dtype) -> Self {
        match dtype {
            Dtype::Str => Buffer::Strings(Vec::new()),
            _ => Buffer::Bytes(Vec::new()),
        }
    }

    /// Room for as many elements as the sample has (a request is usually its size).
    fn with_capacity(dtype: Dtype, sample_shape: &[u64]) -> Self {
        let count = sample_shape.iter().product::<u64>().min(4096) as usize;
        match dtype {
            Dtype::Str => Buffer::Strings(Vec::with_capacity(count)),
            _ => Buffer::Bytes(Vec::with_capacity(count * width(dtype))),
        }
    }

    fn into_elements(self) -> Elements {
        match self {
            Buffer::Bytes(b) => Elements::Bytes(b),
            Buffer::Strings(s) => Elements::Strings(s),
        }
    }

    /// Appends `scalar` converted to `dtype` the way numpy would accept it: any number into a
    /// float, integral numbers into an integer type that holds them, booleans into `bool`, and
    /// strings into `str`. Anything else is refused with a message (the caller adds the path).
    fn push(&mut self, dtype: Dtype, scalar: Scalar<'_>) -> Result<(), String> {
        let mismatch = || format!("expected {}, got {}", expected(dtype), scalar.describe());
        match self {
            Buffer::Strings(strings) => match scalar {
                Scalar::Str(s) => strings.push(s.to_owned()),
                _ => return Err(mismatch()),
            },
            Buffer::Bytes(bytes) => {
                macro_rules! int {
                    ($ty:ty) => {{
                        let value: Option<$ty> = match scalar {
                            Scalar::I64(n) => <$ty>::try_from(n).ok(),
                            Scalar::U64(n) => <$ty>::try_from(n).ok(),
                            Scalar::F64(x) if x.fract() == 0.0 && x.abs() < 9.0e15 => {
                                <$ty>::try_from(x as i64).ok()
                            }
                            _ => return Err(mismatch()),
                        };
                        let value = value.ok_or_else(|| {
                            format!(
                                "{} does not fit in {}",
                                scalar.describe(),
                                dtype_name(dtype)
                            )
                        })?;
                        bytes.extend_from_slice(&value.to_le_bytes());
                    }};
                }
                let float = || match scalar {
                    Scalar::I64(n) => Ok(n as f64),
                    Scalar::U64(n) => Ok(n as f64),
                    Scalar::F64(x) => Ok(x),
                    _ => Err(mismatch()),
                };
                match dtype {
                    Dtype::Float64 => bytes.extend_from_slice(&float()?.to_le_bytes()),
                    Dtype::Float32 => {
                        let x = float()?;
                        if x.abs() > f64::from(f32::MAX) {
                            return Err(format!("{x} does not fit in float32"));
                        }
                        bytes.extend_from_slice(&(x as f32).to_le_bytes());
                    }
                    Dtype::Int64 => int!(i64),
                    Dtype::Int32 => int!(i32),
                    Dtype::Int16 => int!(i16),
                    Dtype::Int8 => int!(i8),
                    Dtype::Uint64 => int!(u64),
                    Dtype::Uint32 => int!(u32),
                    Dtype::Uint16 => int!(u16),
                    Dtype::Uint8 => int!(u8),
                    Dtype::Bool => match scalar {
                        Scalar::Bool(b) => bytes.push(u8::from(b)),
                        _ => return Err(mismatch()),
                    },
                    Dtype::Str => return Err(mismatch()),
                }
            }
        }
        Ok(())
    }
}

/// Bytes per element of a numeric dtype.
fn width(dtype: Dtype) -> usize {
    match dtype {
        Dtype::Float64 | Dtype::Int64 | Dtype::Uint64 => 8,
        Dtype::Float32 | Dtype::Int32 | Dtype::Uint32 => 4,
        Dtype::Int16 | Dtype::Uint16 => 2,
        Dtype::Int8 | Dtype::Uint8 | Dtype::Bool | Dtype::Str => 1,
    }
}

fn expected(dtype: Dtype) -> &'static str {
    match dtype {
        Dtype::Float64 | Dtype::Float32 => "a number",
        Dtype::Bool => "true or false",
        Dtype::Str => "a string",
        _ => "an integer",
    }
}

/// Reads a tensor of `dtype` from JSON nested lists. Its rank must be the sample's, and every
/// dimension but the first (the batch) must equal the sample's.
pub fn tensor(
    raw: &RawValue,
    dtype: Dtype,
    sample_shape: &[u64],
    path: &str,
) -> Result<Tensor, Invalid> {
    let reader = TensorReader::new(dtype, sample_shape);
    let mut de = serde_json::Deserializer::from_str(raw.get());
    let outcome = Level {
        reader: &reader,
        depth: 0,
    }
    .deserialize(&mut de);
    if outcome.is_err() {
        let message = reader
            .error
            .take()
            .unwrap_or_else(|| "is not valid JSON".to_owned());
        let at: String = reader
            .index
            .borrow()
            .iter()
            .map(|i| format!("[{i}]"))
            .collect();
        return Err(Invalid::new(format!("{path}{at}"), message));
    }
    reader
        .finish(sample_shape)
        .map_err(|message| Invalid::new(path, message))
}

/// [`tensor`] read straight from a request body's deserializer (the one-pass path): any
/// failure is a bare deserializer error, and the slow path says what it was.
pub struct TensorSeed<'s> {
    pub dtype: Dtype,
    pub sample_shape: &'s [u64],
}

impl<'de> DeserializeSeed<'de> for TensorSeed<'_> {
    type Value = Tensor;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Tensor, D::Error> {
        let reader = TensorReader::new(self.dtype, self.sample_shape);
        Level {
            reader: &reader,
            depth: 0,
        }
        .deserialize(deserializer)?;
        reader.finish(self.sample_shape).map_err(de::Error::custom)
    }
}

fn shape_text(shape: &[u64], batch_free: bool) -> String {
    let dims: Vec<String> = shape
        .iter()
        .enumerate()
        .map(|(i, d)| {
            if i == 0 && batch_free {
                "*".to_owned()
            } else {
                d.to_string()
            }
        })
        .collect();
    format!("[{}]", dims.join(", "))
}

struct TensorReader {
    dtype: Dtype,
    rank: usize,
    /// Length of each axis, fixed by the first list seen at that depth.
    shape: RefCell<Vec<Option<u64>>>,
    buffer: RefCell<Buffer>,
    /// Where the reader is, for error paths.
    index: RefCell<Vec<usize>>,
    /// The first problem, in our words (serde's own message would add line and column).
    error: RefCell<Option<String>>,
}

impl TensorReader {
    fn new(dtype: Dtype, sample_shape: &[u64]) -> Self {
        TensorReader {
            dtype,
            rank: sample_shape.len(),
            shape: RefCell::new(vec![None; sample_shape.len()]),
            buffer: RefCell::new(Buffer::with_capacity(dtype, sample_shape)),
            index: RefCell::new(Vec::with_capacity(sample_shape.len())),
            error: RefCell::new(None),
        }
    }

    /// The tensor read, if its shape fits the sample's (every dimension but the batch).
    fn finish(self, sample_shape: &[u64]) -> Result<Tensor, String> {
        let shape: Vec<u64> = self
            .shape
            .into_inner()
            .into_iter()
            .zip(sample_shape)
            .map(|(got, sample)| got.unwrap_or(*sample))
            .collect();
        if shape.get(1..) != sample_shape.get(1..) {
            return Err(format!(
                "expected shape {}, got {}",
                shape_text(sample_shape, true),
                shape_text(&shape, false)
            ));
        }
        Ok(Tensor {
            dtype: self.dtype,
            shape,
            elements: self.buffer.into_inner().into_elements(),
        })
    }

    fn fail<E: de::Error>(&self, message: String) -> E {
        self.error.borrow_mut().get_or_insert(message);
        E::custom("invalid tensor")
    }
}

/// Reads the value at one depth of the nested lists.
#[derive(Clone, Copy)]
struct Level<'r> {
    reader: &'r TensorReader,
    depth: usize,
}

impl Level<'_> {
    fn scalar<E: de::Error>(self, scalar: Scalar<'_>) -> Result<(), E> {
        if self.depth < self.reader.rank {
            let missing = self.reader.rank - self.depth;
            return Err(self.reader.fail(format!(
                "expected a list ({missing} more level{} of nesting), got {}",
                if missing == 1 { "" } else { "s" },
                scalar.describe()
            )));
        }
        let dtype = self.reader.dtype;
        self.reader
            .buffer
            .borrow_mut()
            .push(dtype, scalar)
            .map_err(|m| self.reader.fail(m))
    }
}

impl<'de> DeserializeSeed<'de> for Level<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Level<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a tensor")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        self.scalar(Scalar::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.scalar(Scalar::I64(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        self.scalar(Scalar::U64(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        self.scalar(Scalar::F64(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.scalar(Scalar::Str(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.scalar(Scalar::Other("null"))
    }
    fn visit_map<A: de::MapAccess<'de>>(self, _map: A) -> Result<(), A::Error> {
        self.scalar(Scalar::Other("an object"))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let reader = self.reader;
        if self.depth >= reader.rank {
            return Err(reader.fail(format!(
                "expected {}, got a list (the input has more dimensions than the sample's {})",
                expected(reader.dtype),
                reader.rank
            )));
        }
        let next = Level {
            reader,
            depth: self.depth + 1,
        };
        let mut count = 0usize;
        loop {
            reader.index.borrow_mut().push(count);
            let more = seq.next_element_seed(next)?;
            reader.index.borrow_mut().pop();
            if more.is_none() {
                break;
            }
            count += 1;
        }
        let mut shape = reader.shape.borrow_mut();
        match shape[self.depth] {
            None => shape[self.depth] = Some(count as u64),
            Some(n) if n == count as u64 => {}
            Some(n) => {
                drop(shape);
                return Err(reader.fail(format!(
                    "has {count} elements where the rows before it have {n} (ragged array)"
                )));
            }
        }
        Ok(())
    }
}

/// Reads a data frame written with `orient`; it must have exactly the sample's columns, and
/// its columns are the sample's, in the sample's order and of the sample's dtypes, whatever
/// order the request writes them in (a script hands the model its features as it declared
/// them; README's deviations).
pub fn frame(
    raw: &RawValue,
    columns: &[(String, Dtype)],
    orient: Orient,
    path: &str,
) -> Result<Frame, Invalid> {
    let value: Value = serde_json::from_str(raw.get())
        .map_err(|e| Invalid::new(path, format!("is not valid JSON: {e}")))?;
    let mut buffers: Vec<Buffer> = columns.iter().map(|(_, d)| Buffer::new(*d)).collect();
    let mut rows = 0u64;
    let mut push = |col: usize, value: &Value, at: &dyn Fn() -> String| {
        buffers[col]
            .push(columns[col].1, Scalar::of(value))
            .map_err(|m| Invalid::new(at(), m))
    };
    let unknown = |names: &mut dyn Iterator<Item = &String>, at: &dyn Fn(&str) -> String| {
        for name in names {
            if !columns.iter().any(|(c, _)| c == name) {
                return Some(Invalid::new(at(name), "is not a column of the sample"));
            }
        }
        None
    };
    // One row given as a record (the records and index orients): an object with every
    // column's cell and no other key. `at` is the record's path, built only for an error.
    let mut read_record = |record: &Value, at: &dyn Fn() -> String| {
        let Value::Object(fields) = record else {
            return Err(Invalid::new(at(), "expected a record (object)"));
        };
        if let Some(e) = unknown(&mut fields.keys(), &|n| format!("{}.{n}", at())) {
            return Err(e);
        }
        for (c, (name, _)) in columns.iter().enumerate() {
            let cell_at = || format!("{}.{name}", at());
            let cell = fields
                .get(name)
                .ok_or_else(|| Invalid::new(cell_at(), "is missing"))?;
            push(c, cell, &cell_at)?;
        }
        Ok(())
    };
    match orient {
        Orient::Records => match &value {
            // `pd.DataFrame(value)` also takes an object of equally long column lists, and so
            // does the Azure ML server for a records sample: the same frame, by columns.
            Value::Object(by_column) => {
                if let Some(e) = unknown(&mut by_column.keys(), &|n| format!("{path}.{n}")) {
                    return Err(e);
                }
                for (c, (name, _)) in columns.iter().enumerate() {
                    let cells = match by_column.get(name) {
                        Some(Value::Array(cells)) => cells,
                        Some(_) => {
                            return Err(Invalid::new(
                                format!("{path}.{name}"),
                                "expected a list of the column's values",
                            ));
                        }
                        None => return Err(Invalid::new(format!("{path}.{name}"), "is missing")),
                    };
                    if c > 0 && cells.len() as u64 != rows {
                        return Err(Invalid::new(
                            format!("{path}.{name}"),
                            format!("has {} rows, the first column {rows}", cells.len()),
                        ));
                    }
                    rows = cells.len() as u64;
                    for (i, cell) in cells.iter().enumerate() {
                        push(c, cell, &|| format!("{path}.{name}[{i}]"))?;
                    }
                }
            }
            Value::Array(records) => {
                for (i, record) in records.iter().enumerate() {
                    read_record(record, &|| format!("{path}[{i}]"))?;
                }
                rows = records.len() as u64;
            }
            _ => {
                return Err(Invalid::new(
                    path,
                    "expected a list of records, or an object of column lists",
                ));
            }
        },
        Orient::Split => {
            let Value::Object(parts) = &value else {
                return Err(Invalid::new(
                    path,
                    "expected {\"columns\": [...], \"data\": [...]}",
                ));
            };
            let names: Vec<String> = match parts.get("columns") {
                Some(Value::Array(names)) => names
                    .iter()
                    .map(|n| n.as_str().map(str::to_owned))
                    .collect::<Option<_>>()
                    .ok_or_else(|| Invalid::new(format!("{path}.columns"), "expected strings"))?,
                _ => return Err(Invalid::new(format!("{path}.columns"), "is missing")),
            };
            if let Some(e) = unknown(&mut names.iter(), &|n| format!("{path}.columns[{n:?}]")) {
                return Err(e);
            }
            let positions: Vec<usize> = columns
                .iter()
                .map(|(name, _)| {
                    names.iter().position(|n| n == name).ok_or_else(|| {
                        Invalid::new(format!("{path}.columns"), format!("lacks column {name:?}"))
                    })
                })
                .collect::<Result<_, _>>()?;
            let Some(Value::Array(data)) = parts.get("data") else {
                return Err(Invalid::new(format!("{path}.data"), "is missing"));
            };
            for (i, row) in data.iter().enumerate() {
                let row = match row {
                    Value::Array(row) if row.len() == names.len() => row,
                    _ => {
                        return Err(Invalid::new(
                            format!("{path}.data[{i}]"),
                            format!("expected a list of {} values", names.len()),
                        ));
                    }
                };
                for (c, &p) in positions.iter().enumerate() {
                    push(c, &row[p], &|| format!("{path}.data[{i}][{p}]"))?;
                }
            }
            rows = data.len() as u64;
        }
        Orient::Columns => {
            let Value::Object(by_column) = &value else {
                return Err(Invalid::new(
                    path,
                    "expected {\"column\": {\"0\": value, ...}}",
                ));
            };
            if let Some(e) = unknown(&mut by_column.keys(), &|n| format!("{path}.{n}")) {
                return Err(e);
            }
            for (c, (name, _)) in columns.iter().enumerate() {
                let Some(Value::Object(cells)) = by_column.get(name) else {
                    return Err(Invalid::new(format!("{path}.{name}"), "is missing"));
                };
                // Row labels are pandas' index: keep the rows in numeric label order.
                let mut cells: Vec<(&String, &Value)> = cells.iter().collect();
                cells.sort_by_key(|(label, _)| (label.parse::<u64>().ok(), label.as_str()));
                if c > 0 && cells.len() as u64 != rows {
                    return Err(Invalid::new(
                        format!("{path}.{name}"),
                        format!("has {} rows, the first column {rows}", cells.len()),
                    ));
                }
                rows = cells.len() as u64;
                for (label, cell) in cells {
                    push(c, cell, &|| format!("{path}.{name}.{label}"))?;
                }
            }
        }
        Orient::Index => {
            let Value::Object(by_row) = &value else {
                return Err(Invalid::new(
                    path,
                    "expected {\"0\": {\"column\": value, ...}, ...}",
                ));
            };
            // Row labels are pandas' index: keep the rows in numeric label order.
            let mut records: Vec<(&String, &Value)> = by_row.iter().collect();
            records.sort_by_key(|(label, _)| (label.parse::<u64>().ok(), label.as_str()));
            for (label, record) in &records {
                read_record(record, &|| format!("{path}.{label}"))?;
            }
            rows = records.len() as u64;
        }
        Orient::Values => {
            let Value::Array(data) = &value else {
                return Err(Invalid::new(path, "expected a list of rows"));
            };
            for (i, row) in data.iter().enumerate() {
                let row = match row {
                    Value::Array(row) if row.len() == columns.len() => row,
                    _ => {
                        return Err(Invalid::new(
                            format!("{path}[{i}]"),
                            format!("expected a list of {} values", columns.len()),
                        ));
                    }
                };
                for (c, cell) in row.iter().enumerate() {
                    push(c, cell, &|| format!("{path}[{i}][{c}]"))?;
                }
            }
            rows = data.len() as u64;
        }
    }
    Ok(frame_of(columns, buffers, rows))
}

/// The frame of `rows` rows whose columns' elements are in `buffers`.
fn frame_of(columns: &[(String, Dtype)], buffers: Vec<Buffer>, rows: u64) -> Frame {
    Frame {
        columns: columns
            .iter()
            .zip(buffers)
            .map(|((name, dtype), buffer)| Column {
                name: name.clone(),
                values: Tensor {
                    dtype: *dtype,
                    shape: vec![rows],
                    elements: buffer.into_elements(),
                },
            })
            .collect(),
    }
}

/// A records-orient frame (`[{"column": value, ...}, ...]`) read straight from a request
/// body's deserializer (the one-pass path; [`frame`] reads it through a `Value`). Accepts what
/// [`frame`] accepts, except what it leaves to the slow path: a repeated key in a record, a
/// string with escapes, more than [`MAX_RECORD_COLUMNS`] columns. Any failure is a bare
/// deserializer error.
pub struct RecordsSeed<'s> {
    pub columns: &'s [(String, Dtype)],
}

/// Most columns [`RecordsSeed`] reads (a record's cells are gathered on the stack).
const MAX_RECORD_COLUMNS: usize = 32;

impl<'de> DeserializeSeed<'de> for RecordsSeed<'_> {
    type Value = Frame;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Frame, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for RecordsSeed<'_> {
    type Value = Frame;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of records")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Frame, A::Error> {
        let columns = self.columns;
        if columns.len() > MAX_RECORD_COLUMNS {
            return Err(de::Error::custom("too many columns"));
        }
        let hint = seq.size_hint().unwrap_or(0).min(4096);
        let mut buffers: Vec<Buffer> = columns
            .iter()
            .map(|(_, dtype)| Buffer::with_capacity(*dtype, &[hint as u64]))
            .collect();
        let mut rows = 0u64;
        while seq
            .next_element_seed(RecordSeed {
                columns,
                buffers: &mut buffers,
            })?
            .is_some()
        {
            rows += 1;
        }
        Ok(frame_of(columns, buffers, rows))
    }
}

/// One record of a [`RecordsSeed`]: its cells, pushed in the sample's column order.
struct RecordSeed<'s, 'b> {
    columns: &'s [(String, Dtype)],
    buffers: &'b mut [Buffer],
}

impl<'de> DeserializeSeed<'de> for RecordSeed<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RecordSeed<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a record")
    }

    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut cells: [Option<Scalar<'de>>; MAX_RECORD_COLUMNS] = [None; MAX_RECORD_COLUMNS];
        while let Some(key) = map.next_key::<&'de str>()? {
            let Some(at) = self.columns.iter().position(|(name, _)| name == key) else {
                return Err(de::Error::custom("not a column of the sample"));
            };
            if cells[at].is_some() {
                return Err(de::Error::custom("a repeated column"));
            }
            cells[at] = Some(map.next_value_seed(ScalarSeed)?);
        }
        for (c, ((_, dtype), buffer)) in
            self.columns.iter().zip(self.buffers.iter_mut()).enumerate()
        {
            let cell = cells[c].ok_or_else(|| de::Error::custom("a missing column"))?;
            buffer.push(*dtype, cell).map_err(de::Error::custom)?;
        }
        Ok(())
    }
}

/// One JSON scalar read from the body (strings borrowed: one with escapes is refused).
struct ScalarSeed;

impl<'de> DeserializeSeed<'de> for ScalarSeed {
    type Value = Scalar<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Scalar<'de>, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ScalarSeed {
    type Value = Scalar<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a scalar")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar<'de>, E> {
        Ok(Scalar::I64(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar<'de>, E> {
        Ok(Scalar::U64(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar<'de>, E> {
        Ok(Scalar::F64(v))
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Str(v))
    }
}

/// Checks a standard JSON value against the type inferred from its sample. Objects must have
/// every key of the sample (more are allowed, as the Azure ML server ignores them); lists
/// check every item against the sample's first item.
pub fn json(value: &Value, expected: &JsonType, path: &str) -> Result<(), Invalid> {
    check_json(value, expected)
        .map_err(|(below, message)| Invalid::new(format!("{path}{below}"), message))
}

/// [`json`] without the path: a failure carries the path below `value` (`[2].key`), built
/// while unwinding, so a valid value costs no string building.
fn check_json(value: &Value, expected: &JsonType) -> Result<(), (String, String)> {
    match (expected, value) {
        (JsonType::Any, _) => Ok(()),
        (JsonType::Number, v) if v.is_number() => Ok(()),
        (JsonType::Integer, v) if v.is_i64() || v.is_u64() => Ok(()),
        (JsonType::Boolean, Value::Bool(_)) | (JsonType::String, Value::String(_)) => Ok(()),
        (JsonType::Array(item), Value::Array(items)) => {
            for (i, v) in items.iter().enumerate() {
                check_json(v, item).map_err(|(below, m)| (format!("[{i}]{below}"), m))?;
            }
            Ok(())
        }
        (JsonType::Object(fields), Value::Object(map)) => {
            for (key, ty) in fields {
                let Some(v) = map.get(key) else {
                    return Err((format!(".{key}"), "is missing".to_owned()));
                };
                check_json(v, ty).map_err(|(below, m)| (format!(".{key}{below}"), m))?;
            }
            Ok(())
        }
        (ty, v) => {
            let wanted = match ty {
                JsonType::Number => "a number",
                JsonType::Integer => "an integer",
                JsonType::Boolean => "true or false",
                JsonType::String => "a string",
                JsonType::Array(_) => "a list",
                JsonType::Object(_) | JsonType::Any => "an object",
            };
            Err((
                String::new(),
                format!("expected {wanted}, got {}", Scalar::of(v).describe()),
            ))
        }
    }
}
