//! Describing inputs and outputs by samples, as `inference-schema` does in Python.
//!
//! The host turns a [`Schema`] into the Swagger 2.0 / OpenAPI 3 documents and checks every
//! request against it, so `run` receives typed tensors and frames. The top-level form
//! (`@input_schema("data", NumpyParameterType(...))`, for a [`Script`](crate::Script)):
//!
//! ```ignore
//! Schema::new()
//!     .parameter("data", Sample::matrix(&[[1.0, 2.0], [3.0, 4.0]]))
//!     .optional_parameter("scale", Sample::json(json!(1.0)))
//! ```
//!
//! The Power BI form (`Inputs` and `GlobalParameters`, for an [`EntryScript`](crate::EntryScript)):
//!
//! ```ignore
//! Schema::new()
//!     .input("input1", Sample::matrix(&[[1.0, 2.0], [3.0, 4.0]]))       // NumpyParameterType
//!     .input("input2", Sample::frame(vec![                               // PandasParameterType
//!         column("name", &["Sarah", "John"]),
//!         column("age", &[25i64, 26]),
//!     ]))
//!     .input("input3", Sample::json(json!(0.0)))                         // StandardPythonParameterType
//!     .global_parameters(Sample::json(json!(1.0)))
//!     .output(json!({"Results": [1.0, 1.0]}))
//! ```

use serde_json::Value;

use crate::wit::scorehost::plugin::types as wit_types;
use crate::{Column, Dtype, Elements, Frame, Tensor};

pub use wit_types::Orient;

/// What `run` takes and returns: top-level parameters of the request body, each with a
/// sample, as `inference-schema`'s `@input_schema(name, type)` declares them.
#[derive(Debug, Clone, Default)]
pub struct Schema {
    /// The entries of the Power BI `Inputs` object, once one is declared.
    inputs: Option<Vec<wit_types::InputSpec>>,
    /// The other top-level parameters, in declaration order.
    parameters: Vec<wit_types::Parameter>,
    output: Option<String>,
    batchable: bool,
}

impl Schema {
    /// A schema with no inputs yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a required entry of the Power BI `Inputs` object.
    pub fn input(mut self, name: impl Into<String>, sample: Sample) -> Self {
        self.inputs
            .get_or_insert_with(Vec::new)
            .push(wit_types::InputSpec {
                name: name.into(),
                sample: sample.0,
            });
        self
    }

    /// Declares `GlobalParameters`, required in every request.
    pub fn global_parameters(self, sample: Sample) -> Self {
        self.parameter("GlobalParameters", sample)
    }

    /// Declares `GlobalParameters` that requests may leave out (`run` then gets `None`).
    pub fn optional_global_parameters(self, sample: Sample) -> Self {
        self.optional_parameter("GlobalParameters", sample)
    }

    /// Declares a required top-level parameter, like `@input_schema("data", NumpyParameterType(...))`:
    /// a request without it gets 400 `A value is not provided for the 'data' parameter.`
    pub fn parameter(self, name: impl Into<String>, sample: Sample) -> Self {
        self.with_parameter(name.into(), sample, true)
    }

    /// Declares a top-level parameter that requests may leave out (a Python default).
    pub fn optional_parameter(self, name: impl Into<String>, sample: Sample) -> Self {
        self.with_parameter(name.into(), sample, false)
    }

    fn with_parameter(mut self, name: String, sample: Sample, required: bool) -> Self {
        self.parameters.retain(|p| p.name != name);
        self.parameters.push(wit_types::Parameter {
            name,
            kind: wit_types::ParameterKind::Value(sample.0),
            required,
        });
        self
    }

    /// A sample of `run`'s result, shown in the Swagger page.
    pub fn output(mut self, sample: Value) -> Self {
        self.output = Some(sample.to_string());
        self
    }

    /// Declares the script batchable: its output rows correspond to its input rows along the
    /// first dimension of every tensor input, so the host may join concurrent requests into
    /// one `run` (when the deployment sets `max_batch_size`) and split the result back. Every
    /// array in the result must then have one entry per input row.
    pub fn batchable(mut self) -> Self {
        self.batchable = true;
        self
    }

    /// The Power BI form of an [`EntryScript`](crate::EntryScript) that declares nothing:
    /// every `Inputs` entry as JSON, any `GlobalParameters`.
    pub(crate) fn open_power_bi() -> Self {
        Schema {
            inputs: None,
            parameters: vec![
                wit_types::Parameter {
                    name: "Inputs".to_owned(),
                    kind: wit_types::ParameterKind::OpenGroup,
                    required: true,
                },
                wit_types::Parameter {
                    name: "GlobalParameters".to_owned(),
                    kind: wit_types::ParameterKind::Value(wit_types::Sample::Json(
                        "null".to_owned(),
                    )),
                    required: false,
                },
            ],
            output: None,
            batchable: false,
        }
    }

    /// The WIT schema. With `power_bi` (an [`EntryScript`](crate::EntryScript)) the `Inputs`
    /// object is always declared, even empty, as every Power BI request carries one.
    pub(crate) fn into_wit(mut self, power_bi: bool) -> wit_types::Schema {
        if power_bi && self.inputs.is_none() && !self.parameters.iter().any(|p| p.name == "Inputs")
        {
            self.inputs = Some(Vec::new());
        }
        let mut parameters = Vec::with_capacity(self.parameters.len() + 1);
        if let Some(inputs) = self.inputs {
            parameters.push(wit_types::Parameter {
                name: "Inputs".to_owned(),
                kind: wit_types::ParameterKind::Group(inputs),
                required: true,
            });
        }
        parameters.extend(self.parameters);
        wit_types::Schema {
            parameters,
            output: self.output,
            batchable: self.batchable,
        }
    }
}

/// An example value that fixes an input's type.
#[derive(Debug, Clone)]
pub struct Sample(wit_types::Sample);

impl Sample {
    /// A numpy-style array of `shape` with `data` in row-major order. Requests must match its
    /// dtype, rank, and every dimension but the first (the batch).
    ///
    /// # Panics
    /// When `data` does not have the shape's element count (a bug in the entry script).
    pub fn ndarray<T: Element>(shape: &[u64], data: &[T]) -> Sample {
        Sample(wit_types::Sample::Tensor(tensor(shape, data)))
    }

    /// A two-dimensional array from its rows.
    ///
    /// # Panics
    /// When the rows differ in length.
    pub fn matrix<T: Element, R: AsRef<[T]>>(rows: &[R]) -> Sample {
        let cols = rows.first().map_or(0, |r| r.as_ref().len());
        assert!(
            rows.iter().all(|r| r.as_ref().len() == cols),
            "matrix sample rows differ in length"
        );
        let data: Vec<&T> = rows.iter().flat_map(|r| r.as_ref()).collect();
        let mut elements = T::empty();
        for x in data {
            x.push_to(&mut elements);
        }
        Sample(wit_types::Sample::Tensor(Tensor {
            dtype: T::DTYPE,
            shape: vec![rows.len() as u64, cols as u64],
            elements,
        }))
    }

    /// A pandas-style data frame written as records (`[{"col": value}, ...]`).
    pub fn frame(columns: Vec<Column>) -> Sample {
        Self::frame_with_orient(columns, Orient::Records)
    }

    /// A data frame written with another pandas `orient`.
    pub fn frame_with_orient(columns: Vec<Column>, orient: Orient) -> Sample {
        Sample(wit_types::Sample::Frame(wit_types::FrameSample {
            frame: Frame { columns },
            orient,
        }))
    }

    /// Any JSON value: requests must follow its structure and types.
    pub fn json(value: Value) -> Sample {
        Sample(wit_types::Sample::Json(value.to_string()))
    }
}

/// A data frame column of sample values.
pub fn column<T: Element>(name: impl Into<String>, values: &[T]) -> Column {
    Column {
        name: name.into(),
        values: tensor(&[values.len() as u64], values),
    }
}

fn tensor<T: Element>(shape: &[u64], data: &[T]) -> Tensor {
    let count: u64 = shape.iter().product();
    assert_eq!(
        count,
        data.len() as u64,
        "sample shape {shape:?} needs {count} elements, got {}",
        data.len()
    );
    let mut elements = T::empty();
    for x in data {
        x.push_to(&mut elements);
    }
    Tensor {
        dtype: T::DTYPE,
        shape: shape.to_vec(),
        elements,
    }
}

/// A Rust type that is a tensor element type.
pub trait Element {
    /// The numpy dtype it maps to.
    const DTYPE: Dtype;
    /// An empty element buffer of the right kind.
    fn empty() -> Elements {
        Elements::Bytes(Vec::new())
    }
    /// Appends this value.
    fn push_to(&self, out: &mut Elements);
}

macro_rules! numeric_element {
    ($($ty:ty => $dtype:ident),*) => {$(
        impl Element for $ty {
            const DTYPE: Dtype = Dtype::$dtype;
            fn push_to(&self, out: &mut Elements) {
                if let Elements::Bytes(bytes) = out {
                    bytes.extend_from_slice(&self.to_le_bytes());
                }
            }
        }
    )*};
}

numeric_element!(f64 => Float64, f32 => Float32, i64 => Int64, i32 => Int32, i16 => Int16,
    i8 => Int8, u64 => Uint64, u32 => Uint32, u16 => Uint16, u8 => Uint8);

impl Element for bool {
    const DTYPE: Dtype = Dtype::Bool;
    fn push_to(&self, out: &mut Elements) {
        if let Elements::Bytes(bytes) = out {
            bytes.push(u8::from(*self));
        }
    }
}

impl Element for &str {
    const DTYPE: Dtype = Dtype::Str;
    fn empty() -> Elements {
        Elements::Strings(Vec::new())
    }
    fn push_to(&self, out: &mut Elements) {
        if let Elements::Strings(strings) = out {
            strings.push((*self).to_owned());
        }
    }
}

impl Element for String {
    const DTYPE: Dtype = Dtype::Str;
    fn empty() -> Elements {
        Elements::Strings(Vec::new())
    }
    fn push_to(&self, out: &mut Elements) {
        if let Elements::Strings(strings) = out {
            strings.push(self.clone());
        }
    }
}
