//! The host's ONNX engines behind `wasi:nn`: tract, natively (`tract`), and onnxruntime,
//! loaded at run time (`onnxruntime`), chosen per deployment ([`NnBackend`]).
//!
//! A deployment's models are loaded once, when the deployment loads ([`OnnxModels::load`]);
//! every instance shares the same [`OnnxModel`]s. Both engines sit behind one model type with
//! the same checks of a guest's tensors, so guests cannot tell them apart except by speed and
//! by the operators each knows. This module knows nothing of Wasm: `nn` turns its results and
//! [`Failure`]s into `wasi:nn` values.

mod onnxruntime;
mod tract;

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use anyhow::Context as _;

use super::models::{GUEST_MODEL_DIR, ModelIndex};
use onnxruntime::OrtModel;
pub use onnxruntime::{LIBRARY_VARIABLE, Library, library, loaded};
use tract::TractModel;
pub use tract::name_unknown_dims;

// Tensor bytes cross the boundary little-endian; on this host that is the native order.
#[cfg(not(target_endian = "little"))]
compile_error!(
    "the wasi:nn tensors are copied as native bytes: scorehost needs a little-endian host"
);

/// How deep below the model folder `.onnx` files are looked for: the single layout (depth 0),
/// a folder of files (1) and the multi-model `NAME/VERSION/` layout (2).
const MAX_DEPTH: usize = 2;

/// Most ONNX files one model folder may hold; the rest would be parsed at every load.
const MAX_FILES: usize = 256;

/// Which engine runs a deployment's ONNX models.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NnBackend {
    /// onnxruntime when its library is found, else tract; a model the first cannot load is
    /// tried on the other.
    #[default]
    Auto,
    /// tract only: a model it cannot load fails the deployment's load.
    Tract,
    /// onnxruntime only: without its library the deployment does not load.
    Onnxruntime,
}

impl NnBackend {
    /// `auto`, `tract` or `onnxruntime`.
    pub fn name(self) -> &'static str {
        match self {
            NnBackend::Auto => "auto",
            NnBackend::Tract => "tract",
            NnBackend::Onnxruntime => "onnxruntime",
        }
    }
}

impl std::str::FromStr for NnBackend {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "auto" => Ok(NnBackend::Auto),
            "tract" => Ok(NnBackend::Tract),
            "onnxruntime" => Ok(NnBackend::Onnxruntime),
            other => Err(format!(
                "unknown nn backend {other:?}: use auto, tract or onnxruntime"
            )),
        }
    }
}

/// One of the engines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineKind {
    /// tract, built in.
    Tract,
    /// onnxruntime, its library loaded at run time.
    Onnxruntime,
}

impl EngineKind {
    /// `tract` or `onnxruntime`.
    pub fn name(self) -> &'static str {
        match self {
            EngineKind::Tract => "tract",
            EngineKind::Onnxruntime => "onnxruntime",
        }
    }
}

/// The engines a deployment's models load on, in order, with onnxruntime's threads.
#[derive(Debug, Clone)]
pub struct Engines {
    order: Vec<EngineKind>,
    threads: usize,
}

impl Engines {
    /// The engines for `backend`, given whether onnxruntime's library could be loaded
    /// (`library`): an error only when the deployment asks for onnxruntime and it cannot be.
    pub fn choose(
        backend: NnBackend,
        threads: usize,
        library: Result<&Library, String>,
    ) -> Result<Self, String> {
        let order = match (backend, library) {
            (NnBackend::Tract, _) => vec![EngineKind::Tract],
            (NnBackend::Onnxruntime, Ok(_)) => vec![EngineKind::Onnxruntime],
            (NnBackend::Onnxruntime, Err(e)) => {
                return Err(format!("the deployment asks for onnxruntime: {e}"));
            }
            (NnBackend::Auto, Ok(_)) => vec![EngineKind::Onnxruntime, EngineKind::Tract],
            (NnBackend::Auto, Err(_)) => vec![EngineKind::Tract],
        };
        Ok(Engines {
            order,
            threads: threads.max(1),
        })
    }

    /// tract alone (a model folder with no ONNX file needs no engine).
    pub fn tract() -> Self {
        Engines {
            order: vec![EngineKind::Tract],
            threads: 1,
        }
    }

    /// The engine tried first.
    pub fn first(&self) -> EngineKind {
        self.order[0]
    }

    /// Intra-op threads of each onnxruntime session.
    pub fn threads(&self) -> usize {
        self.threads
    }
}

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
    /// Anything else (int8, string, float16, a map…) by its ONNX name: described, but
    /// `compute` refuses it.
    Other(&'static str),
}

impl Element {
    /// Bytes per element on the wire (0 for a type that cannot cross).
    pub fn size(self) -> usize {
        match self {
            Element::F64 | Element::I64 => 8,
            Element::F32 | Element::I32 => 4,
            Element::U8 | Element::Bool => 1,
            Element::Other(_) => 0,
        }
    }

    /// The name onnxruntime writes inside `tensor(...)`.
    pub fn onnx_name(self) -> &'static str {
        match self {
            Element::F32 => "float",
            Element::F64 => "double",
            Element::I64 => "int64",
            Element::I32 => "int32",
            Element::U8 => "uint8",
            Element::Bool => "bool",
            Element::Other(name) => name,
        }
    }
}

/// One input or output of a model: its ONNX name, element type and shape (`None`: any size).
#[derive(Debug, Clone)]
pub struct Port {
    pub name: String,
    pub element: Element,
    pub shape: Vec<Option<usize>>,
    /// Per axis, the name of an open dimension (`N`): every input naming it must give it the
    /// same size. Empty when the model names none.
    pub symbols: Vec<Option<String>>,
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

impl Failure {
    fn too_large_outputs(total: usize, max_bytes: usize) -> Self {
        Failure::TooLarge(format!(
            "the outputs would hold {total} bytes, over the deployment's {max_bytes}-byte memory limit"
        ))
    }
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

impl OutputTensor {
    /// Output `port`'s tensor of `element`s: refused when wasi-nn cannot carry the type or a
    /// dimension passes 2^32.
    fn new(port: &Port, element: Element, shape: &[usize], data: Vec<u8>) -> Result<Self, Failure> {
        if let Element::Other(name) = element {
            return Err(Failure::Unsupported(format!(
                "output '{}': {name} tensors cannot be passed through wasi-nn",
                port.name,
            )));
        }
        let dims = shape
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
            data,
        })
    }
}

/// The bytes of `inputs` together.
fn input_bytes(inputs: &[RawTensor]) -> u64 {
    inputs.iter().map(|t| t.data.len() as u64).sum()
}

/// A model as an engine loaded it, with its inputs and outputs.
struct Loaded<M> {
    model: M,
    inputs: Vec<Port>,
    outputs: Vec<Port>,
}

enum Engine {
    Tract(TractModel),
    Onnxruntime(OrtModel),
}

/// One ONNX model, loaded by one engine.
pub struct OnnxModel {
    /// How the guest names it (its path under the model folder, or `<bytes>`).
    name: String,
    engine: Engine,
    inputs: Vec<Port>,
    outputs: Vec<Port>,
    /// Measured cost of a run, in picoseconds per input byte (a moving average of the runs so
    /// far; 0 until the first run). Decides whether a run is small enough to do inline.
    ps_per_input_byte: AtomicU64,
}

/// A run predicted to take less than this runs on the calling task instead of the blocking
/// pool (whose hand-off costs ~100 µs): short enough never to hold up a tokio worker.
const INLINE_BELOW_NS: u64 = 50_000;

impl fmt::Debug for OnnxModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnnxModel")
            .field("name", &self.name)
            .field("engine", &self.engine_kind().name())
            .field("inputs", &self.inputs)
            .field("outputs", &self.outputs)
            .finish_non_exhaustive()
    }
}

/// Stops an onnxruntime run when dropped (onnxruntime checks between operators), so a request
/// that stopped waiting frees its compute slot early; nothing for tract, whose runs finish.
pub struct StopOnDrop(#[allow(dead_code)] Option<onnxruntime::Stop>);

/// What a run needs to be stoppable by its [`StopOnDrop`].
pub struct RunTicket(Option<Arc<ort::session::RunOptions>>);

impl OnnxModel {
    fn new<M>(name: String, loaded: Loaded<M>, engine: impl FnOnce(M) -> Engine) -> Self {
        OnnxModel {
            name,
            engine: engine(loaded.model),
            inputs: loaded.inputs,
            outputs: loaded.outputs,
            ps_per_input_byte: AtomicU64::new(0),
        }
    }

    /// Loads the model file at `path` on the first of `engines` that can; the error names
    /// each engine's reason.
    fn from_path(name: String, path: &Path, engines: &Engines) -> Result<Self, String> {
        let mut reasons = Vec::new();
        for &kind in &engines.order {
            let loaded = match kind {
                EngineKind::Tract => TractModel::from_path(&name, path)
                    .map(|l| Self::new(name.clone(), l, Engine::Tract))
                    .map_err(|e| format!("{e:#}")),
                EngineKind::Onnxruntime => OrtModel::from_path(path, engines.threads)
                    .map(|l| Self::new(name.clone(), l, Engine::Onnxruntime)),
            };
            match loaded {
                Ok(model) => {
                    if !reasons.is_empty() {
                        tracing::warn!(
                            model = name,
                            engine = kind.name(),
                            "loaded on the second engine: {}",
                            reasons.join("; ")
                        );
                    }
                    return Ok(model);
                }
                Err(reason) => reasons.push(format!("{}: {reason}", kind.name())),
            }
        }
        Err(reasons.join("; "))
    }

    /// Loads a model from its bytes (a guest's `load`) on the first of `engines` that can.
    /// tract follows no external data files (it has no folder to resolve them in).
    pub fn from_bytes(bytes: &[u8], engines: &Engines) -> Result<Self, String> {
        let mut reasons = Vec::new();
        for &kind in &engines.order {
            let loaded = match kind {
                EngineKind::Tract => TractModel::from_bytes(bytes)
                    .map(|l| Self::new("<bytes>".into(), l, Engine::Tract))
                    .map_err(|e| format!("{e:#}")),
                EngineKind::Onnxruntime => OrtModel::from_bytes(bytes, engines.threads)
                    .map(|l| Self::new("<bytes>".into(), l, Engine::Onnxruntime)),
            };
            match loaded {
                Ok(model) => return Ok(model),
                Err(reason) => reasons.push(format!("{}: {reason}", kind.name())),
            }
        }
        Err(reasons.join("; "))
    }

    /// The engine that runs the model.
    pub fn engine_kind(&self) -> EngineKind {
        match self.engine {
            Engine::Tract(_) => EngineKind::Tract,
            Engine::Onnxruntime(_) => EngineKind::Onnxruntime,
        }
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
        check_symbols(&self.inputs, &given)?;
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

    /// A stop for the next run: keep the [`StopOnDrop`] where the caller waits, and give the
    /// [`RunTicket`] to [`OnnxModel::run`].
    pub fn stop_on_drop(&self) -> Result<(StopOnDrop, RunTicket), Failure> {
        match &self.engine {
            Engine::Tract(_) => Ok((StopOnDrop(None), RunTicket(None))),
            Engine::Onnxruntime(model) => {
                let (stop, options) = model.stop()?;
                Ok((StopOnDrop(Some(stop)), RunTicket(Some(options))))
            }
        }
    }

    /// Runs the model on inputs checked by [`OnnxModel::check_inputs`]; the outputs' bytes
    /// together may not pass `max_bytes`. CPU-bound: call it on a blocking thread unless
    /// [`OnnxModel::is_tiny_run`] says it is tiny. Each run updates the cost estimate.
    pub fn run(
        &self,
        inputs: Vec<RawTensor>,
        max_bytes: usize,
        ticket: &RunTicket,
    ) -> Result<Vec<OutputTensor>, Failure> {
        let bytes = input_bytes(&inputs).max(1);
        let started = Instant::now();
        let ports = (self.inputs.as_slice(), self.outputs.as_slice());
        let result = match (&self.engine, &ticket.0) {
            (Engine::Tract(model), _) => model.run(inputs, ports, max_bytes),
            (Engine::Onnxruntime(model), Some(options)) => {
                model.run(inputs, ports, max_bytes, options)
            }
            (Engine::Onnxruntime(_), None) => Err(Failure::Runtime(
                "an onnxruntime run needs the model's own ticket".into(),
            )),
        };
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
}

/// Checks that every named open dimension (`N`) has one size across the inputs (shapes are
/// checked one by one before): tract would fail mid-run, onnxruntime would not notice.
fn check_symbols(ports: &[Port], given: &[(String, RawTensor)]) -> Result<(), Failure> {
    let mut bound: Vec<(&str, usize, &str)> = Vec::new();
    for (name, tensor) in given {
        let Some(port) = ports.iter().find(|p| &p.name == name) else {
            continue;
        };
        for (symbol, &size) in port.symbols.iter().zip(&tensor.dims) {
            let Some(symbol) = symbol.as_deref() else {
                continue;
            };
            match bound.iter().find(|(s, _, _)| *s == symbol) {
                Some(&(_, first, other)) if first != size => {
                    return Err(Failure::InvalidArgument(format!(
                        "input '{name}': dimension {symbol} is {size} here but {first} in input '{other}'"
                    )));
                }
                Some(_) => {}
                None => bound.push((symbol, size, name)),
            }
        }
    }
    Ok(())
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

/// Bools from bytes that must each be 0 or 1.
fn bools(data: &[u8]) -> anyhow::Result<Vec<bool>> {
    data.iter()
        .map(|&b| match b {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(anyhow::anyhow!("a bool element is {other}; use 0 or 1")),
        })
        .collect()
}

/// The ONNX models of one deployment's model folder, by the names a guest may use.
#[derive(Debug)]
pub struct OnnxModels {
    /// The engines models load on (a guest's `load` of bytes too).
    engines: Engines,
    /// By path relative to the model folder (`model.onnx`, `iris/2/model.onnx`).
    files: BTreeMap<String, Arc<OnnxModel>>,
    /// Folder (relative, `""` for the root) → the file it stands for: its `model.onnx`, else
    /// its only `.onnx` file.
    folders: BTreeMap<String, String>,
    /// The multi-model layout's `NAME/VERSION/` folders, for `NAME` alone (latest version).
    index: Arc<ModelIndex>,
}

impl OnnxModels {
    /// Loads every `.onnx` file of `dir` down to `NAME/VERSION/` on the engines `choose`
    /// gives (told whether there is any file). CPU-bound: call it on a blocking thread. A file
    /// no engine can load fails the whole load, naming it and each engine's reason.
    pub fn load(
        dir: &Path,
        index: Arc<ModelIndex>,
        choose: impl FnOnce(bool) -> Result<Engines, String>,
    ) -> anyhow::Result<Self> {
        let mut found = Vec::new();
        find_onnx(dir, "", 0, &mut found)
            .with_context(|| format!("looking for ONNX models in {}", dir.display()))?;
        anyhow::ensure!(
            found.len() <= MAX_FILES,
            "the model folder {} holds {} ONNX files, more than {MAX_FILES}",
            dir.display(),
            found.len()
        );
        let engines = choose(!found.is_empty()).map_err(anyhow::Error::msg)?;
        let mut files = BTreeMap::new();
        for rel in found {
            let path = dir.join(&rel);
            let model = OnnxModel::from_path(rel.clone(), &path, &engines).map_err(|e| {
                anyhow::anyhow!("cannot load the ONNX model {}: {e}", path.display())
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
            engines,
            files,
            folders,
            index,
        })
    }

    /// No models (a deployment without a model folder's ONNX files).
    pub fn none() -> Self {
        OnnxModels {
            engines: Engines::tract(),
            files: BTreeMap::new(),
            folders: BTreeMap::new(),
            index: Arc::default(),
        }
    }

    /// The engines models load on.
    pub fn engines(&self) -> &Engines {
        &self.engines
    }

    /// Each model's file (relative to the model folder) and the engine that runs it.
    pub fn engines_by_file(&self) -> impl Iterator<Item = (&str, EngineKind)> {
        self.files
            .iter()
            .map(|(file, model)| (file.as_str(), model.engine_kind()))
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

    /// Times tract's run of one CNN image with the batch-of-one plan and with the any-batch
    /// plan, and checks they agree. Needs the model the tests make (`cargo test --test all
    /// cnn` writes `target/onnx-models/cnn`); run with
    /// `cargo test --release -p scorehost-runtime --lib cnn_compute_time -- --ignored --nocapture`.
    #[test]
    #[ignore = "a measurement: needs target/onnx-models/cnn and a release build"]
    fn cnn_compute_time() {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/onnx-models/cnn/model.onnx");
        let Loaded {
            mut model,
            inputs,
            outputs,
        } = TractModel::from_path("model.onnx", &path).unwrap();
        assert!(
            model.has_single_plan(),
            "the CNN's batch dimension is its one symbol"
        );
        let ports = (inputs.as_slice(), outputs.as_slice());
        let time = |model: &TractModel| {
            let mut samples: Vec<f64> = (0..53)
                .map(|_| {
                    let started = Instant::now();
                    model.run(vec![cnn_image()], ports, usize::MAX).unwrap();
                    started.elapsed().as_secs_f64() * 1e3
                })
                .skip(3)
                .collect();
            samples.sort_by(f64::total_cmp);
            (samples[samples.len() / 2], samples[0])
        };
        let single = model.run(vec![cnn_image()], ports, usize::MAX).unwrap();
        let (p50, min) = time(&model);
        println!("tract, one CNN image, batch-of-one plan: p50 {p50:.3} ms, min {min:.3} ms");
        model.drop_single_plan();
        let any = model.run(vec![cnn_image()], ports, usize::MAX).unwrap();
        let (p50, min) = time(&model);
        println!("tract, one CNN image, any-batch plan:    p50 {p50:.3} ms, min {min:.3} ms");
        for (a, b) in single.iter().zip(&any) {
            assert_eq!((&a.name, &a.dims), (&b.name, &b.dims));
            let floats = |t: &OutputTensor| decode(&t.data, f32::from_le_bytes);
            for (x, y) in floats(a).iter().zip(floats(b)) {
                assert!((x - y).abs() < 1e-5, "{}: {x} vs {y}", a.name);
            }
        }
    }

    /// Times onnxruntime's run of one CNN image through [`OnnxModel`] (the library of
    /// `target/onnx-venv`, one intra-op thread), on this thread and on fresh blocking-style
    /// threads. Run with
    /// `cargo test --release -p scorehost-runtime --lib ort_cnn_compute_time -- --ignored --nocapture`.
    #[test]
    #[ignore = "a measurement: needs target/onnx-models/cnn, target/onnx-venv and a release build"]
    fn ort_cnn_compute_time() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        library(Some(&root.join("target/onnx-venv"))).unwrap();
        let engines = Engines::choose(NnBackend::Onnxruntime, 1, library(None)).unwrap();
        let path = root.join("target/onnx-models/cnn/model.onnx");
        let model = OnnxModel::from_path("model.onnx".into(), &path, &engines).unwrap();
        let once = |model: &OnnxModel| {
            let checked = model
                .check_inputs(vec![("images".into(), cnn_image())], usize::MAX)
                .or_else(|_| {
                    let name = model.inputs()[0].name.clone();
                    model.check_inputs(vec![(name, cnn_image())], usize::MAX)
                })
                .unwrap();
            let (_stop, ticket) = model.stop_on_drop().unwrap();
            let started = Instant::now();
            model.run(checked, usize::MAX, &ticket).unwrap();
            started.elapsed().as_secs_f64() * 1e3
        };
        let p50 = |mut samples: Vec<f64>| {
            samples.sort_by(f64::total_cmp);
            samples[samples.len() / 2]
        };
        let here: Vec<f64> = (0..60).map(|_| once(&model)).skip(10).collect();
        println!(
            "onnxruntime, one CNN image, same thread: p50 {:.3} ms",
            p50(here)
        );
        let model = Arc::new(model);
        let threads: Vec<f64> = (0..30)
            .map(|_| {
                let model = model.clone();
                std::thread::spawn(move || once(&model)).join().unwrap()
            })
            .collect();
        println!(
            "onnxruntime, one CNN image, a new thread each: p50 {:.3} ms",
            p50(threads)
        );
    }
}
