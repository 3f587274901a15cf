//! Input values as an entry script sees them, with conversions to plain Rust data.

use serde_json::Value;

use crate::{Dtype, Elements, Frame, RunError, Tensor};

/// The entries of the request's `Inputs` object, in request order.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    entries: Vec<(String, Param)>,
}

impl Inputs {
    /// The input called `name`, if the request has it.
    pub fn get(&self, name: &str) -> Option<&Param> {
        self.entries.iter().find(|(n, _)| n == name).map(|(_, p)| p)
    }

    /// The input called `name`, or a 400 for the client naming it.
    pub fn require(&self, name: &str) -> Result<&Param, RunError> {
        self.get(name).ok_or_else(|| {
            RunError::bad_input(format!(
                "A value is not provided for the 'Inputs.{name}' parameter."
            ))
        })
    }

    /// Every input, in request order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Param)> {
        self.entries.iter().map(|(n, p)| (n.as_str(), p))
    }

    /// How many inputs the request has.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the request's `Inputs` object is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entries as the host sent them (`packed`).
    pub(crate) fn from_entries(entries: Vec<(String, Param)>) -> Self {
        Inputs { entries }
    }
}

/// The top-level parameters of a request that a [`Script`](crate::Script) declared, checked
/// by the host; an optional one the request left out is absent.
#[derive(Debug, Clone, Default)]
pub struct Arguments {
    entries: Vec<(String, Argument)>,
}

/// One top-level parameter's value.
#[derive(Debug, Clone)]
pub enum Argument {
    /// A value of the parameter's sample kind.
    Value(Param),
    /// The entries of a group parameter (the Power BI `Inputs` object).
    Group(Inputs),
}

impl Arguments {
    /// The value of parameter `name`, if the request has it.
    pub fn get(&self, name: &str) -> Option<&Param> {
        match self.entries.iter().find(|(n, _)| n == name) {
            Some((_, Argument::Value(param))) => Some(param),
            _ => None,
        }
    }

    /// The value of parameter `name`, or Azure ML's 400 naming it.
    pub fn require(&self, name: &str) -> Result<&Param, RunError> {
        self.get(name).ok_or_else(|| {
            RunError::bad_input(format!(
                "A value is not provided for the '{name}' parameter."
            ))
        })
    }

    /// The entries of group parameter `name` (e.g. `Inputs`), if the request has it.
    pub fn group(&self, name: &str) -> Option<&Inputs> {
        match self.entries.iter().find(|(n, _)| n == name) {
            Some((_, Argument::Group(inputs))) => Some(inputs),
            _ => None,
        }
    }

    /// Every parameter the request has, in the schema's order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Argument)> {
        self.entries.iter().map(|(n, a)| (n.as_str(), a))
    }

    /// The parameters as the host sent them (`packed`).
    pub(crate) fn from_entries(entries: Vec<(String, Argument)>) -> Self {
        Arguments { entries }
    }

    /// Takes parameter `name` out.
    pub(crate) fn take(&mut self, name: &str) -> Option<Argument> {
        let at = self.entries.iter().position(|(n, _)| n == name)?;
        Some(self.entries.remove(at).1)
    }
}

/// One input value.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    /// A numpy-style array, already checked by the host against the schema.
    Tensor(Tensor),
    /// A pandas-style table.
    Frame(Frame),
    /// Any other JSON value.
    Json(Value),
}

impl Param {
    /// The value as one number (a JSON number or a one-element tensor).
    pub fn as_f64(&self) -> Result<f64, RunError> {
        match self {
            Param::Json(Value::Number(n)) => n
                .as_f64()
                .ok_or_else(|| RunError::bad_input(format!("{n} is not a finite number"))),
            Param::Tensor(t) => match tensor_to_f64(t)?.as_slice() {
                [x] => Ok(*x),
                _ => Err(RunError::bad_input("expected a single number")),
            },
            _ => Err(RunError::bad_input("expected a number")),
        }
    }

    /// The value as a two-dimensional array of numbers: a rank-2 numeric tensor, or a JSON list
    /// of equally long lists of numbers.
    pub fn as_matrix(&self) -> Result<Matrix, RunError> {
        match self {
            Param::Tensor(t) => {
                let [rows, cols] = t.shape[..] else {
                    return Err(RunError::bad_input(format!(
                        "expected a 2-dimensional array, got shape {:?}",
                        t.shape
                    )));
                };
                Ok(Matrix {
                    rows: to_usize(rows)?,
                    cols: to_usize(cols)?,
                    data: tensor_to_f64(t)?,
                })
            }
            Param::Json(Value::Array(rows)) => json_matrix(rows),
            _ => Err(RunError::bad_input(
                "expected a 2-dimensional array of numbers",
            )),
        }
    }
}

/// A dense row-major matrix of `f64`.
#[derive(Debug, Clone, PartialEq)]
pub struct Matrix {
    /// Number of rows.
    pub rows: usize,
    /// Number of columns.
    pub cols: usize,
    /// `rows * cols` values, row after row.
    pub data: Vec<f64>,
}

impl Matrix {
    /// Iterates over the rows as slices.
    pub fn rows(&self) -> impl Iterator<Item = &[f64]> {
        // `max(1)` keeps chunks_exact valid for a matrix with zero columns.
        self.data.chunks_exact(self.cols.max(1)).take(self.rows)
    }
}

fn json_matrix(rows: &[Value]) -> Result<Matrix, RunError> {
    let cols = match rows.first() {
        Some(Value::Array(first)) => first.len(),
        Some(_) => return Err(RunError::bad_input("expected a list of rows at [0]")),
        None => 0,
    };
    let mut data = Vec::with_capacity(rows.len() * cols);
    for (i, row) in rows.iter().enumerate() {
        let Value::Array(row) = row else {
            return Err(RunError::bad_input(format!(
                "expected a list of rows at [{i}]"
            )));
        };
        if row.len() != cols {
            return Err(RunError::bad_input(format!(
                "row [{i}] has {} values, expected {cols}",
                row.len()
            )));
        }
        for (j, v) in row.iter().enumerate() {
            let x = v
                .as_f64()
                .ok_or_else(|| RunError::bad_input(format!("[{i}][{j}] is not a number: {v}")))?;
            data.push(x);
        }
    }
    Ok(Matrix {
        rows: rows.len(),
        cols,
        data,
    })
}

fn to_usize(n: u64) -> Result<usize, RunError> {
    usize::try_from(n).map_err(|_| RunError::bad_input("array too large"))
}

/// Decodes a numeric or boolean tensor's little-endian elements to `f64`.
pub(crate) fn tensor_to_f64(t: &Tensor) -> Result<Vec<f64>, RunError> {
    let Elements::Bytes(bytes) = &t.elements else {
        return Err(RunError::bad_input("expected numbers, got strings"));
    };
    macro_rules! decode {
        ($ty:ty) => {
            bytes
                .chunks_exact(size_of::<$ty>())
                .map(|c| {
                    <$ty>::from_le_bytes(c.try_into().expect("chunk has the type's width")) as f64
                })
                .collect()
        };
    }
    Ok(match t.dtype {
        Dtype::Float64 => decode!(f64),
        Dtype::Float32 => decode!(f32),
        Dtype::Int64 => decode!(i64),
        Dtype::Int32 => decode!(i32),
        Dtype::Int16 => decode!(i16),
        Dtype::Int8 => decode!(i8),
        Dtype::Uint64 => decode!(u64),
        Dtype::Uint32 => decode!(u32),
        Dtype::Uint16 => decode!(u16),
        Dtype::Uint8 | Dtype::Bool => bytes.iter().map(|&b| f64::from(b)).collect(),
        Dtype::Str => return Err(RunError::bad_input("expected numbers, got strings")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_rows_become_a_matrix() {
        let p = Param::Json(serde_json::json!([[1, 2.5], [3, 4]]));
        let m = p.as_matrix().unwrap();
        assert_eq!((m.rows, m.cols), (2, 2));
        assert_eq!(
            m.rows().collect::<Vec<_>>(),
            [&[1.0, 2.5][..], &[3.0, 4.0][..]]
        );
    }

    #[test]
    fn ragged_or_non_numeric_rows_are_bad_input() {
        let ragged = Param::Json(serde_json::json!([[1, 2], [3]]));
        assert_eq!(
            ragged.as_matrix(),
            Err(RunError::bad_input("row [1] has 1 values, expected 2"))
        );
        let text = Param::Json(serde_json::json!([[1, "a"]]));
        assert_eq!(
            text.as_matrix(),
            Err(RunError::bad_input("[0][1] is not a number: \"a\""))
        );
    }

    #[test]
    fn tensors_decode_little_endian() {
        let t = Tensor {
            dtype: Dtype::Int32,
            shape: vec![1, 2],
            elements: Elements::Bytes([7i32.to_le_bytes(), (-1i32).to_le_bytes()].concat()),
        };
        let m = Param::Tensor(t).as_matrix().unwrap();
        assert_eq!(m.data, [7.0, -1.0]);
    }
}
