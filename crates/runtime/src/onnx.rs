//! The host's ONNX engine behind `wasi:nn`: tract, natively.
//!
//! A deployment's models are parsed and optimised once, when the deployment loads
//! ([`OnnxModels::load`]); every instance shares the same [`OnnxModel`]s, and an optimised plan
//! serves concurrent requests without a lock (tract's `SimplePlan::run` takes `&self`): one for
//! any batch size, and a second one for a batch of one where the model has a single symbolic
//! dimension (faster convolutions, see `SingleBatch`). This module knows nothing of Wasm: `nn`
//! turns its results and [`Failure`]s into `wasi:nn` values.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use anyhow::Context as _;
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::infer::Factoid;

use super::models::{GUEST_MODEL_DIR, ModelIndex};

// Tensor bytes cross the boundary little-endian; on this host that is the native order, so an
// output's bytes are tract's own.
#[cfg(not(target_endian = "little"))]
compile_error!(
    "the wasi:nn tensors are copied as native bytes: scorehost needs a little-endian host"
);

/// How deep below the model folder `.onnx` files are looked for: the single layout (depth 0),
/// a folder of files (1) and the multi-model `NAME/VERSION/` layout (2).
const MAX_DEPTH: usize = 2;

/// Most ONNX files one model folder may hold; the rest would be parsed at every load.
const MAX_FILES: usize = 256;

/// The element types a `wasi:nn` tensor can carry, as the ONNX model declares them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Element {
    F32,
    F64,
    I64,
    I32,
    U8,
    /// Passed as `U8` 0/1: wasi-nn has no boolean tensor type.
    Bool,
    /// Anything else (int8, string, float16…): described, but `compute` refuses it.
    Other(DatumType),
}

impl Element {
    fn of(dt: DatumType) -> Self {
        match dt {
            DatumType::F32 => Element::F32,
            DatumType::F64 => Element::F64,
            DatumType::I64 => Element::I64,
            DatumType::I32 => Element::I32,
            DatumType::U8 => Element::U8,
            DatumType::Bool => Element::Bool,
            other => Element::Other(other),
        }
    }

    /// Bytes per element on the wire.
    pub fn size(self) -> usize {
        match self {
            Element::F64 | Element::I64 => 8,
            Element::F32 | Element::I32 => 4,
            Element::U8 | Element::Bool => 1,
            Element::Other(dt) => dt.size_of(),
        }
    }

    /// The name onnxruntime writes inside `tensor(...)`.
    pub fn onnx_name(self) -> String {
        match self {
            Element::F32 => "float".into(),
            Element::F64 => "double".into(),
            Element::I64 => "int64".into(),
            Element::I32 => "int32".into(),
            Element::U8 => "uint8".into(),
            Element::Bool => "bool".into(),
            Element::Other(dt) => match dt {
                DatumType::I8 => "int8".into(),
                DatumType::I16 => "int16".into(),
                DatumType::U16 => "uint16".into(),
                DatumType::U32 => "uint32".into(),
                DatumType::U64 => "uint64".into(),
                DatumType::F16 => "float16".into(),
                DatumType::String => "string".into(),
                other => format!("{other:?}").to_lowercase(),
            },
        }
    }
}

/// One input or output of a model: its ONNX name, element type and shape (`None`: any size).
#[derive(Debug, Clone)]
pub struct Port {
    pub name: String,
    pub element: Element,
    pub shape: Vec<Option<usize>>,
}

impl Port {
    fn shape_text(&self) -> String {
        let dims: Vec<String> = self
            .shape
            .iter()
            .map(|d| d.map_or_else(|| "N".to_owned(), |d| d.to_string()))
            .collect();
        format!("[{}]", dims.join(", "))
    }
}

/// Why an inference was refused or failed. The message names the input or output concerned and
/// never a host path.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// The caller's tensors do not fit the model (name, type, shape, length).
    #[error("{0}")]
    InvalidArgument(String),
    /// A tensor would pass the deployment's memory limit.
    #[error("{0}")]
    TooLarge(String),
    /// A type or model wasi-nn cannot carry.
    #[error("{0}")]
    Unsupported(String),
    /// The model itself failed.
    #[error("{0}")]
    Runtime(String),
}

/// An input tensor as the guest gave it: element type, dimensions and little-endian bytes.
pub struct RawTensor {
    pub element: Element,
    pub dims: Vec<usize>,
    pub data: Vec<u8>,
}

/// An output tensor, ready to hand back.
pub struct OutputTensor {
    pub name: String,
    pub element: Element,
    pub dims: Vec<u32>,
    pub data: Vec<u8>,
}

/// The bytes of `inputs` together.
fn input_bytes(inputs: &[RawTensor]) -> u64 {
    inputs.iter().map(|t| t.data.len() as u64).sum()
}

/// One ONNX model, parsed and optimised for any batch size, and for a batch of one.
pub struct OnnxModel {
    /// How the guest names it (its path under the model folder, or `<bytes>`).
    name: String,
    /// The plan for any value of the symbolic dimensions.
    plan: Arc<TypedRunnableModel>,
    /// The plan for the model's one symbolic dimension (its batch) at 1, when it has exactly
    /// one: see [`SingleBatch`].
    single: Option<SingleBatch>,
    inputs: Vec<Port>,
    outputs: Vec<Port>,
    /// Measured cost of a run, in picoseconds per input byte (a moving average of the runs so
    /// far; 0 until the first run). Decides whether a run is small enough to do inline.
    ps_per_input_byte: AtomicU64,
}

/// A second plan of a model whose inputs have one symbolic dimension (the batch `N`), with that
/// dimension fixed to 1: the online case, one image or row per request.
///
/// Why: with a concrete shape tract picks convolution code it cannot use for a symbolic batch
/// (lazy im2col, packing each image patch straight into the matrix product instead of
/// materialising a whole im2col matrix); the CNN example computes in ~7.3 ms instead of ~10
/// (`host/examples/cnn_compute.rs`, BENCHMARKS.md 2026-12-04). Concrete batches above 1 gain
/// nothing measurable (tract uses the same eager im2col as with a symbol), so there is no plan
/// per batch size. The cost is a second optimised copy of the weights, held for the
/// deployment's life (~4.7 MiB of RSS for the 2.8 MB CNN, ~0 for the iris classifier).
struct SingleBatch {
    /// Per input, in the model's order: the axes that carry the symbol.
    axes: Vec<Vec<usize>>,
    plan: Arc<TypedRunnableModel>,
}

impl SingleBatch {
    /// The plan for `typed` (decluttered, not optimised) with its symbol at 1, when every
    /// symbolic input dimension is the same plain symbol; `None` otherwise (no symbol, several,
    /// or an expression), or when tract cannot build it (the any-batch plan still serves).
    fn plan(name: &str, typed: &TypedModel) -> Option<Self> {
        let mut symbol: Option<Symbol> = None;
        let mut axes = Vec::with_capacity(typed.inputs.len());
        for input in 0..typed.inputs.len() {
            let mut these = Vec::new();
            for (axis, dim) in typed.input_fact(input).ok()?.shape.iter().enumerate() {
                if dim.to_i64().is_ok() {
                    continue;
                }
                let TDim::Sym(sym) = dim else {
                    return None;
                };
                if symbol.get_or_insert_with(|| sym.clone()) != sym {
                    return None;
                }
                these.push(axis);
            }
            axes.push(these);
        }
        let symbol = symbol?;
        let one = HashMap::from([(symbol, TDim::Val(1))]);
        let plan = typed
            .set_symbols(&one)
            .and_then(TypedModel::into_optimized)
            .and_then(TypedModel::into_runnable);
        match plan {
            Ok(plan) => Some(SingleBatch { axes, plan }),
            Err(e) => {
                tracing::warn!(
                    model = name,
                    "no batch-of-one plan, the any-batch one serves: {e:#}"
                );
                None
            }
        }
    }

    /// Whether `inputs` (checked, in the model's order) have the symbol at 1.
    fn fits(&self, inputs: &[RawTensor]) -> bool {
        self.axes
            .iter()
            .zip(inputs)
            .all(|(axes, input)| axes.iter().all(|&axis| input.dims.get(axis) == Some(&1)))
    }
}

/// A run predicted to take less than this runs on the calling task instead of the blocking
/// pool (whose hand-off costs ~100 µs): short enough never to hold up a tokio worker.
const INLINE_BELOW_NS: u64 = 50_000;

impl fmt::Debug for OnnxModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnnxModel")
            .field("name", &self.name)
            .field("inputs", &self.inputs)
            .field("outputs", &self.outputs)
            .field("single_batch_plan", &self.single.is_some())
            .finish_non_exhaustive()
    }
}

impl OnnxModel {
    /// Parses and optimises the model file at `path`.
    pub fn from_path(name: String, path: &Path) -> TractResult<Self> {
        Self::plan(name, onnx().model_for_path(path)?)
    }

    /// Parses and optimises a model from its bytes (a guest's `load`). External data files
    /// are not followed: tract has no folder to resolve them in.
    pub fn from_bytes(bytes: &[u8]) -> TractResult<Self> {
        let mut read = bytes;
        Self::plan("<bytes>".into(), onnx().model_for_read(&mut read)?)
    }

    /// Exporters such as skl2onnx leave the batch dimension unnamed; tract would then not know
    /// it and could not optimise, so every unknown dimension becomes a symbol (the first `N`).
    /// The decluttered model is optimised twice: as it is, and with that symbol at 1.
    fn plan(name: String, mut model: InferenceModel) -> TractResult<Self> {
        name_unknown_dims(&mut model)?;
        // Read before optimising, which may rename nodes.
        let output_names: Vec<String> = model
            .output_outlets()?
            .iter()
            .map(|&o| {
                model
                    .outlet_label(o)
                    .unwrap_or(&model.node(o.node).name)
                    .to_owned()
            })
            .collect();
        let input_names: Vec<String> = model
            .input_outlets()?
            .iter()
            .map(|o| model.node(o.node).name.clone())
            .collect();
        let typed = model.into_typed()?.into_decluttered()?;
        let single = SingleBatch::plan(&name, &typed);
        let typed = typed.into_optimized()?;
        let port = |name: &String, fact: &TypedFact| Port {
            name: name.clone(),
            // tract turns some integer outputs (an ArgMax's label) into symbolic dimensions;
            // they leave as the int64 the ONNX model declares.
            element: Element::of(match fact.datum_type {
                DatumType::TDim => DatumType::I64,
                dt => dt,
            }),
            shape: fact
                .shape
                .iter()
                .map(|d| d.to_i64().ok().and_then(|d| usize::try_from(d).ok()))
                .collect(),
        };
        let inputs = input_names
            .iter()
            .enumerate()
            .map(|(i, name)| Ok(port(name, typed.input_fact(i)?)))
            .collect::<TractResult<Vec<_>>>()?;
        let outputs = output_names
            .iter()
            .enumerate()
            .map(|(i, name)| Ok(port(name, typed.output_fact(i)?)))
            .collect::<TractResult<Vec<_>>>()?;
        let plan = typed.into_runnable()?;
        Ok(OnnxModel {
            name,
            plan,
            single,
            inputs,
            outputs,
            ps_per_input_byte: AtomicU64::new(0),
        })
    }

    /// The model's inputs, in its order.
    pub fn inputs(&self) -> &[Port] {
        &self.inputs
    }

    /// The model's outputs, in its order.
    pub fn outputs(&self) -> &[Port] {
        &self.outputs
    }

    /// Checks named input tensors against the model (every input once, its type, rank and
    /// fixed dimensions, the data's length) and the sum of their bytes against `max_bytes`;
    /// returns them in the model's input order. Cheap: no tensor data is copied.
    pub fn check_inputs(
        &self,
        mut given: Vec<(String, RawTensor)>,
        max_bytes: usize,
    ) -> Result<Vec<RawTensor>, Failure> {
        let mut total: usize = 0;
        for (name, tensor) in &given {
            let Some(port) = self.inputs.iter().find(|p| &p.name == name) else {
                let known: Vec<&str> = self.inputs.iter().map(|p| p.name.as_str()).collect();
                return Err(Failure::InvalidArgument(format!(
                    "input '{name}': the model has no such input (its inputs: {})",
                    known.join(", ")
                )));
            };
            check_tensor(port, tensor)?;
            total = total.saturating_add(tensor.data.len());
        }
        if total > max_bytes {
            return Err(Failure::TooLarge(format!(
                "the inputs hold {total} bytes, over the deployment's {max_bytes}-byte memory limit"
            )));
        }
        let mut ordered = Vec::with_capacity(self.inputs.len());
        for port in &self.inputs {
            let mut found = given
                .iter()
                .enumerate()
                .filter(|(_, (n, _))| *n == port.name);
            let Some((index, _)) = found.next() else {
                return Err(Failure::InvalidArgument(format!(
                    "input '{}': missing (the model needs {} {})",
                    port.name,
                    port.element.onnx_name(),
                    port.shape_text()
                )));
            };
            if found.next().is_some() {
                return Err(Failure::InvalidArgument(format!(
                    "input '{}': given more than once",
                    port.name
                )));
            }
            let mut tensor = given.swap_remove(index).1;
            // Checked above: the same type, or U8 for a bool input.
            tensor.element = port.element;
            ordered.push(tensor);
        }
        Ok(ordered)
    }

    /// Whether a run on `inputs` is predicted (from the runs so far, scaled by the inputs'
    /// bytes) to take under [`INLINE_BELOW_NS`]; never before the model has run once.
    pub fn is_tiny_run(&self, inputs: &[RawTensor]) -> bool {
        let ps_per_byte = self.ps_per_input_byte.load(Ordering::Relaxed);
        if ps_per_byte == 0 {
            return false;
        }
        let bytes = input_bytes(inputs);
        (bytes.saturating_mul(ps_per_byte) / 1000) < INLINE_BELOW_NS
    }

    /// Runs the model on inputs checked by [`OnnxModel::check_inputs`]; the outputs' bytes
    /// together may not pass `max_bytes`. CPU-bound: call it on a blocking thread unless
    /// [`OnnxModel::is_tiny_run`] says it is tiny. Each run updates the cost estimate.
    pub fn run(
        &self,
        inputs: Vec<RawTensor>,
        max_bytes: usize,
    ) -> Result<Vec<OutputTensor>, Failure> {
        let bytes = input_bytes(&inputs).max(1);
        let started = Instant::now();
        let result = self.run_untimed(inputs, max_bytes);
        let sample = u64::try_from(started.elapsed().as_nanos())
            .unwrap_or(u64::MAX)
            .saturating_mul(1000)
            / bytes;
        // A moving average (¾ old, ¼ new); the first run sets it.
        let old = self.ps_per_input_byte.load(Ordering::Relaxed);
        let new = if old == 0 {
            sample.max(1)
        } else {
            (old / 4)
                .saturating_mul(3)
                .saturating_add(sample / 4)
                .max(1)
        };
        self.ps_per_input_byte.store(new, Ordering::Relaxed);
        result
    }

    fn run_untimed(
        &self,
        inputs: Vec<RawTensor>,
        max_bytes: usize,
    ) -> Result<Vec<OutputTensor>, Failure> {
        let plan = match &self.single {
            Some(single) if single.fits(&inputs) => &single.plan,
            _ => &self.plan,
        };
        let mut values = TVec::with_capacity(inputs.len());
        for (port, input) in self.inputs.iter().zip(inputs) {
            let tensor = to_tract(input)
                .map_err(|e| Failure::InvalidArgument(format!("input '{}': {e:#}", port.name)))?;
            values.push(tensor.into_tvalue());
        }
        let outputs = plan
            .run(values)
            .map_err(|e| Failure::Runtime(format!("the model failed: {e:#}")))?;
        let total: usize = outputs
            .iter()
            .map(|t| t.len().saturating_mul(t.datum_type().size_of()))
            .fold(0, usize::saturating_add);
        if total > max_bytes {
            return Err(Failure::TooLarge(format!(
                "the outputs would hold {total} bytes, over the deployment's {max_bytes}-byte memory limit"
            )));
        }
        self.outputs
            .iter()
            .zip(outputs)
            .map(|(port, value)| {
                let value = if value.datum_type() == DatumType::TDim {
                    value
                        .cast_to::<i64>()
                        .map_err(|e| Failure::Runtime(format!("output '{}': {e:#}", port.name)))?
                        .into_owned()
                        .into_tvalue()
                } else {
                    value
                };
                let element = Element::of(value.datum_type());
                if let Element::Other(_) = element {
                    return Err(Failure::Unsupported(format!(
                        "output '{}': {} tensors cannot be passed through wasi-nn",
                        port.name,
                        element.onnx_name()
                    )));
                }
                let dims = value
                    .shape()
                    .iter()
                    .map(|&d| u32::try_from(d))
                    .collect::<Result<Vec<u32>, _>>()
                    .map_err(|_| {
                        Failure::TooLarge(format!("output '{}': a dimension over 2^32", port.name))
                    })?;
                Ok(OutputTensor {
                    name: port.name.clone(),
                    element,
                    dims,
                    data: value.as_bytes().to_vec(),
                })
            })
            .collect()
    }
}

fn check_tensor(port: &Port, tensor: &RawTensor) -> Result<(), Failure> {
    let name = &port.name;
    if let Element::Other(_) = port.element {
        return Err(Failure::Unsupported(format!(
            "input '{name}': the model takes {} tensors, which wasi-nn cannot carry",
            port.element.onnx_name()
        )));
    }
    let given_type = match tensor.element {
        // A bool input is passed as U8 0/1.
        Element::U8 if port.element == Element::Bool => Element::Bool,
        other => other,
    };
    if given_type != port.element {
        return Err(Failure::InvalidArgument(format!(
            "input '{name}': expected {} ({}), got {}",
            wire_name(port.element),
            port.element.onnx_name(),
            wire_name(tensor.element)
        )));
    }
    let fits = tensor.dims.len() == port.shape.len()
        && port
            .shape
            .iter()
            .zip(&tensor.dims)
            .all(|(want, &got)| want.is_none_or(|w| w == got));
    if !fits {
        return Err(Failure::InvalidArgument(format!(
            "input '{name}': expected shape {}, got {:?}",
            port.shape_text(),
            tensor.dims
        )));
    }
    let expected = tensor
        .dims
        .iter()
        .try_fold(tensor.element.size(), |acc, &d| acc.checked_mul(d));
    if expected != Some(tensor.data.len()) {
        return Err(Failure::InvalidArgument(format!(
            "input '{name}': {} bytes of data for shape {:?} of {} (expected {})",
            tensor.data.len(),
            tensor.dims,
            wire_name(tensor.element),
            expected.map_or_else(|| "more than fits in memory".into(), |e| e.to_string()),
        )));
    }
    Ok(())
}

/// The wasi-nn name of an element type (`bool` travels as `U8`).
fn wire_name(element: Element) -> &'static str {
    match element {
        Element::F32 => "FP32",
        Element::F64 => "FP64",
        Element::I64 => "I64",
        Element::I32 => "I32",
        Element::U8 | Element::Bool => "U8",
        Element::Other(_) => "an unsupported type",
    }
}

/// A tract tensor from checked little-endian bytes (one copy, no `unsafe`).
fn to_tract(input: RawTensor) -> TractResult<Tensor> {
    let RawTensor {
        element,
        dims,
        data,
    } = input;
    Ok(match element {
        Element::F32 => array(&dims, decode(&data, f32::from_le_bytes))?,
        Element::F64 => array(&dims, decode(&data, f64::from_le_bytes))?,
        Element::I64 => array(&dims, decode(&data, i64::from_le_bytes))?,
        Element::I32 => array(&dims, decode(&data, i32::from_le_bytes))?,
        Element::U8 => array(&dims, data)?,
        Element::Bool => {
            let values = data
                .iter()
                .map(|&b| match b {
                    0 => Ok(false),
                    1 => Ok(true),
                    other => Err(anyhow::anyhow!("a bool element is {other}; use 0 or 1")),
                })
                .collect::<TractResult<Vec<bool>>>()?;
            array(&dims, values)?
        }
        Element::Other(dt) => anyhow::bail!("{dt:?} tensors are not supported"),
    })
}

fn decode<T, const N: usize>(bytes: &[u8], from_le: fn([u8; N]) -> T) -> Vec<T> {
    bytes
        .chunks_exact(N)
        .map(|chunk| {
            let mut word = [0u8; N];
            word.copy_from_slice(chunk);
            from_le(word)
        })
        .collect()
}

fn array<T: Datum>(dims: &[usize], values: Vec<T>) -> TractResult<Tensor> {
    Ok(tract_ndarray::ArrayD::from_shape_vec(dims, values)?.into_tensor())
}

/// The ONNX models of one deployment's model folder, by the names a guest may use.
#[derive(Debug, Default)]
pub struct OnnxModels {
    /// By path relative to the model folder (`model.onnx`, `iris/2/model.onnx`).
    files: BTreeMap<String, Arc<OnnxModel>>,
    /// Folder (relative, `""` for the root) → the file it stands for: its `model.onnx`, else
    /// its only `.onnx` file.
    folders: BTreeMap<String, String>,
    /// The multi-model layout's `NAME/VERSION/` folders, for `NAME` alone (latest version).
    index: Arc<ModelIndex>,
}

impl OnnxModels {
    /// Parses and optimises every `.onnx` file of `dir` down to `NAME/VERSION/`. CPU-bound:
    /// call it on a blocking thread. A file tract cannot load fails the whole load, naming it.
    pub fn load(dir: &Path, index: Arc<ModelIndex>) -> anyhow::Result<Self> {
        let mut found = Vec::new();
        find_onnx(dir, "", 0, &mut found)
            .with_context(|| format!("looking for ONNX models in {}", dir.display()))?;
        anyhow::ensure!(
            found.len() <= MAX_FILES,
            "the model folder {} holds {} ONNX files, more than {MAX_FILES}",
            dir.display(),
            found.len()
        );
        let mut files = BTreeMap::new();
        for rel in found {
            let path = dir.join(&rel);
            let model = OnnxModel::from_path(rel.clone(), &path).map_err(|e| {
                anyhow::anyhow!("cannot load the ONNX model {}: {e:#}", path.display())
            })?;
            files.insert(rel, Arc::new(model));
        }
        let mut by_folder: BTreeMap<String, Vec<&String>> = BTreeMap::new();
        for rel in files.keys() {
            let folder = rel.rsplit_once('/').map_or("", |(folder, _)| folder);
            by_folder.entry(folder.to_owned()).or_default().push(rel);
        }
        let folders = by_folder
            .into_iter()
            .filter_map(|(folder, rels)| {
                let chosen = rels
                    .iter()
                    .find(|r| r.rsplit('/').next() == Some("model.onnx"))
                    .or((rels.len() == 1).then_some(&rels[0]))?;
                Some((folder, (*chosen).clone()))
            })
            .collect();
        Ok(OnnxModels {
            files,
            folders,
            index,
        })
    }

    /// How many models were loaded.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Whether the model folder holds no ONNX model.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// The model a guest names: a file or folder path, relative to the model folder or under
    /// `$AZUREML_MODEL_DIR`, or `NAME` of the multi-model layout (its latest version).
    pub fn resolve(&self, name: &str) -> Result<&Arc<OnnxModel>, String> {
        self.find(name).ok_or_else(|| {
            let mut known: Vec<&str> = self.files.keys().map(String::as_str).take(20).collect();
            if self.files.len() > known.len() {
                known.push("…");
            }
            if known.is_empty() {
                format!("no ONNX model named {name:?}: the model folder holds no .onnx file")
            } else {
                format!(
                    "no ONNX model named {name:?} (this deployment has: {})",
                    known.join(", ")
                )
            }
        })
    }

    fn find(&self, name: &str) -> Option<&Arc<OnnxModel>> {
        let relative = match name.strip_prefix(GUEST_MODEL_DIR) {
            Some(rest) if rest.is_empty() || rest.starts_with('/') => rest,
            Some(_) => return None,
            None if name.starts_with('/') => return None,
            None => name,
        };
        let mut parts = Vec::new();
        for part in relative.split('/') {
            match part {
                "" | "." => {}
                ".." => return None,
                part => parts.push(part),
            }
        }
        let rel = parts.join("/");
        if let Some(model) = self.files.get(&rel) {
            return Some(model);
        }
        if let Some(file) = self.folders.get(&rel) {
            return self.files.get(file);
        }
        if parts.len() == 1 {
            let latest = self.index.resolve(&rel, None).ok()?;
            let folder = latest
                .strip_prefix(GUEST_MODEL_DIR)?
                .trim_start_matches('/');
            return self.files.get(self.folders.get(folder)?);
        }
        None
    }
}

/// Collects the `.onnx` files under `dir` (relative paths with `/`), `depth` levels down at most.
fn find_onnx(dir: &Path, prefix: &str, depth: usize, out: &mut Vec<String>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if name.starts_with('.') {
            continue;
        }
        let rel = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}/{name}")
        };
        // Follows symlinks, as the guest's read-only view of the folder does.
        let meta = std::fs::metadata(entry.path())?;
        if meta.is_dir() && depth < MAX_DEPTH {
            find_onnx(&entry.path(), &rel, depth + 1, out)?;
        } else if meta.is_file() && name.ends_with(".onnx") {
            out.push(rel);
        }
    }
    Ok(())
}

/// Makes every unknown input dimension of `model` a symbol: the first axis `N` (the batch),
/// the others `d{input}_{axis}`. Exporters such as skl2onnx leave the batch unnamed, and tract
/// cannot optimise a dimension it does not know.
pub fn name_unknown_dims(model: &mut InferenceModel) -> TractResult<()> {
    for input in 0..model.inputs.len() {
        let rank = model.input_fact(input)?.shape.rank().concretize();
        let Some(rank) = rank.and_then(|r| usize::try_from(r).ok()) else {
            anyhow::bail!("input {input} has no known rank");
        };
        for axis in 0..rank {
            let unknown = model
                .input_fact(input)?
                .shape
                .dim(axis)
                .is_none_or(|d| d.concretize().is_none());
            if unknown {
                let symbol = if axis == 0 {
                    model.symbols.sym("N")
                } else {
                    model.symbols.sym(&format!("d{input}_{axis}"))
                };
                model
                    .input_fact_mut(input)?
                    .shape
                    .set_dim(axis, symbol.into());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One image for the CNN of `plugins/python/onnx_cnn/model/make.py`, as the guests send it.
    fn cnn_image() -> RawTensor {
        let data = (0..3 * 96 * 96)
            .flat_map(|i| ((i % 997) as f32 / 997.0).to_le_bytes())
            .collect();
        RawTensor {
            element: Element::F32,
            dims: vec![1, 3, 96, 96],
            data,
        }
    }

    /// Times `OnnxModel::run` on one CNN image with the batch-of-one plan and with the
    /// any-batch plan, and checks they agree. Needs the model the tests make
    /// (`cargo test --test all cnn` writes `target/onnx-models/cnn`); run with
    /// `cargo test --release -p scorehost --lib cnn_compute_time -- --ignored --nocapture`.
    #[test]
    #[ignore = "a measurement: needs target/onnx-models/cnn and a release build"]
    fn cnn_compute_time() {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/onnx-models/cnn/model.onnx");
        let mut model = OnnxModel::from_path("model.onnx".into(), &path).unwrap();
        assert!(
            model.single.is_some(),
            "the CNN's batch dimension is its one symbol"
        );
        let time = |model: &OnnxModel| {
            let mut samples: Vec<f64> = (0..53)
                .map(|_| {
                    let started = Instant::now();
                    model.run(vec![cnn_image()], usize::MAX).unwrap();
                    started.elapsed().as_secs_f64() * 1e3
                })
                .skip(3)
                .collect();
            samples.sort_by(f64::total_cmp);
            (samples[samples.len() / 2], samples[0])
        };
        let single = model.run(vec![cnn_image()], usize::MAX).unwrap();
        let (p50, min) = time(&model);
        println!(
            "OnnxModel::run, one CNN image, batch-of-one plan: p50 {p50:.3} ms, min {min:.3} ms"
        );
        model.single = None;
        let any = model.run(vec![cnn_image()], usize::MAX).unwrap();
        let (p50, min) = time(&model);
        println!(
            "OnnxModel::run, one CNN image, any-batch plan:    p50 {p50:.3} ms, min {min:.3} ms"
        );
        for (a, b) in single.iter().zip(&any) {
            assert_eq!((&a.name, &a.dims), (&b.name, &b.dims));
            let floats = |t: &OutputTensor| decode(&t.data, f32::from_le_bytes);
            for (x, y) in floats(a).iter().zip(floats(b)) {
                assert!((x - y).abs() < 1e-5, "{}: {x} vs {y}", a.name);
            }
        }
    }
}
