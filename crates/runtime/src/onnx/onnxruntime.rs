//! The onnxruntime engine, through the `ort` crate with the library loaded at run time
//! (`load-dynamic`): nothing is downloaded at build time, and a host without the library still
//! runs (on tract).
//!
//! onnxruntime's `Run` may not be called concurrently on one session (`ort` takes `&mut self`
//! for it, after crashes under concurrent use), so a model keeps a few sessions: one per run in
//! flight, made when a run finds none idle. Runs in flight are bounded by the compute slots
//! (one per core) and the async workers (tiny runs go inline), so a model holds at most one
//! session per slot and per worker.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use ort::environment::Environment;
use ort::session::{RunOptions, Session, SessionInputValue};
use ort::value::{DynMapValueType, DynValue, Tensor, TensorElementType, ValueType};

use super::{Element, Failure, Loaded, OutputTensor, Port, RawTensor, bools, decode};

/// The environment variable naming the onnxruntime library (a file, or a folder to search).
pub const LIBRARY_VARIABLE: &str = "SCOREHOST_ONNXRUNTIME";

/// The onnxruntime library this process uses. `ort` loads one per process, so the first
/// deployment that needs it decides where it comes from (the runtime's setting).
#[derive(Debug, Clone)]
pub struct Library {
    /// The file loaded.
    pub path: PathBuf,
    /// onnxruntime's version (`1.32.0`).
    pub version: String,
}

struct Ort {
    library: Library,
    environment: Environment,
}

static LOADED: OnceLock<Result<Ort, String>> = OnceLock::new();

/// The onnxruntime library, loaded on first use from `setting` (a library file, or a folder:
/// a venv, a `site-packages`, onnxruntime's `capi`), else `$SCOREHOST_ONNXRUNTIME`, else
/// `$ORT_DYLIB_PATH`, else where `pip install onnxruntime` leaves it (the active venv, the
/// `python3` on the `PATH`, the user's and the system's site-packages). Later calls return the
/// first call's answer, whatever their setting. An error says what was searched or why the
/// library found cannot serve (too old, not onnxruntime).
pub fn library(setting: Option<&Path>) -> Result<&'static Library, String> {
    let loaded = LOADED.get_or_init(|| {
        let loaded = load(setting);
        match &loaded {
            Ok(ort) => tracing::info!(
                path = %ort.library.path.display(),
                version = ort.library.version,
                "onnxruntime loaded: wasi-nn can run ONNX models on it"
            ),
            Err(e) => tracing::info!("onnxruntime is not available: {e}"),
        }
        loaded
    });
    loaded.as_ref().map(|l| &l.library).map_err(Clone::clone)
}

fn load(setting: Option<&Path>) -> Result<Ort, String> {
    let found = find(setting)?;
    let path = std::fs::canonicalize(&found).unwrap_or(found);
    let environment = ort::init_from(&path)
        .map_err(|e| format!("onnxruntime at {}: {e}", path.display()))?
        .with_name("scorehost")
        .with_telemetry(false)
        .build()
        .map_err(|e| format!("onnxruntime at {}: {e}", path.display()))?;
    let version = version(&path);
    Ok(Ort {
        library: Library { path, version },
        environment,
    })
}

/// The library, when one was loaded (without looking for one).
pub fn loaded() -> Option<&'static Library> {
    LOADED.get()?.as_ref().ok().map(|l| &l.library)
}

fn environment() -> Result<&'static Environment, String> {
    match LOADED.get() {
        Some(Ok(loaded)) => Ok(&loaded.environment),
        Some(Err(e)) => Err(e.clone()),
        None => Err("onnxruntime is not loaded".into()),
    }
}

/// onnxruntime's version, from its build information (`git-branch=rel-1.32.0`), else from the
/// file name (`libonnxruntime.so.1.32.0`).
fn version(path: &Path) -> String {
    let info = ort::info();
    let from_info = info
        .split([',', ' '])
        .find_map(|part| part.trim().strip_prefix("git-branch=rel-"))
        .map(str::to_owned);
    from_info
        .or_else(|| {
            let name = path.file_name()?.to_str()?;
            let rest = name.split_once(".so.")?.1;
            Some(rest.to_owned())
        })
        .unwrap_or_else(|| "unknown".into())
}

/// The library file to load: see [`library`].
fn find(setting: Option<&Path>) -> Result<PathBuf, String> {
    if let Some(path) = setting {
        return in_place(path).ok_or_else(|| {
            format!(
                "no onnxruntime library at {} (give the library file, or a venv, site-packages or onnxruntime/capi folder)",
                path.display()
            )
        });
    }
    for variable in [LIBRARY_VARIABLE, "ORT_DYLIB_PATH"] {
        if let Some(value) = std::env::var_os(variable).filter(|v| !v.is_empty()) {
            let path = PathBuf::from(value);
            return in_place(&path).ok_or_else(|| {
                format!(
                    "${variable} is {}, where there is no onnxruntime library",
                    path.display()
                )
            });
        }
    }
    let mut searched = Vec::new();
    for folder in pip_places() {
        if let Some(found) = in_place(&folder) {
            return Ok(found);
        }
        searched.push(folder.display().to_string());
    }
    Err(format!(
        "no onnxruntime library found (pip install onnxruntime, or set --onnxruntime or ${LIBRARY_VARIABLE}); searched: {}",
        if searched.is_empty() {
            "no Python site-packages".to_owned()
        } else {
            searched.join(", ")
        }
    ))
}

/// The library at `path`: the file itself, or found in the folder (`capi`, `onnxruntime/capi`,
/// a venv's `lib/python3*/site-packages/onnxruntime/capi`).
fn in_place(path: &Path) -> Option<PathBuf> {
    if path.is_file() {
        return Some(path.to_owned());
    }
    let mut folders = vec![
        path.to_owned(),
        path.join("capi"),
        path.join("onnxruntime/capi"),
    ];
    folders.extend(
        python_folders(&path.join("lib"))
            .into_iter()
            .map(|site| site.join("onnxruntime/capi")),
    );
    folders.iter().find_map(|folder| library_in(folder))
}

/// `DIR/python3*/site-packages` and `DIR/python3*/dist-packages`, sorted.
fn python_folders(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("python3"))
        .flat_map(|e| ["site-packages", "dist-packages"].map(|packages| e.path().join(packages)))
        .filter(|p| p.is_dir())
        .collect();
    found.sort();
    found
}

/// onnxruntime's main library in `folder` (not its providers' libraries).
fn library_in(folder: &Path) -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(folder)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|name| {
                name.starts_with("libonnxruntime.so")
                    || (name.starts_with("libonnxruntime.") && name.ends_with(".dylib"))
                    || name == "onnxruntime.dll"
            })
        })
        .collect();
    found.sort();
    // `libonnxruntime.so.1.32.0` before a bare `libonnxruntime.so` link.
    found.pop()
}

/// The site-packages folders `pip install onnxruntime` may have written to, in the order
/// Python would import from them.
fn pip_places() -> Vec<PathBuf> {
    let mut places = Vec::new();
    if let Some(venv) = std::env::var_os("VIRTUAL_ENV").filter(|v| !v.is_empty()) {
        places.extend(python_folders(&Path::new(&venv).join("lib")));
    }
    // Asks the python3 on the PATH where it would import onnxruntime from, without importing it.
    let asked = std::process::Command::new("python3")
        .args([
            "-c",
            "import importlib.util as u; s = u.find_spec('onnxruntime'); \
             print(s.submodule_search_locations[0] if s and s.submodule_search_locations else '')",
        ])
        .stderr(std::process::Stdio::null())
        .output();
    if let Ok(output) = asked
        && output.status.success()
    {
        let text = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        if !text.is_empty() {
            places.push(PathBuf::from(text));
        }
    }
    if let Some(home) = std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        places.extend(python_folders(&Path::new(&home).join(".local/lib")));
    }
    places.extend(python_folders(Path::new("/usr/local/lib")));
    places.extend(python_folders(Path::new("/usr/lib")));
    places.push(PathBuf::from("/usr/lib/python3/dist-packages"));
    places.dedup();
    places
}

/// Where a session is made from: the model file (its external data beside it), or bytes.
enum Source {
    File(PathBuf),
    Bytes(Arc<[u8]>),
}

/// How an output comes back from onnxruntime.
#[derive(Clone, Copy)]
enum Shape {
    /// A tensor, passed as it is.
    Tensor,
    /// A sequence of maps to floats, one per row (skl2onnx's `ZipMap` probabilities): passed
    /// as a float32 tensor `[rows, keys]`, each row's values in ascending key order.
    MapRows,
}

/// A model onnxruntime has loaded.
pub(super) struct OrtModel {
    source: Source,
    /// Intra-op threads of each session.
    threads: usize,
    /// Per output, in the model's order.
    shapes: Vec<Shape>,
    /// Sessions no run holds now.
    idle: Mutex<Vec<Session>>,
}

/// Stops a run when dropped: onnxruntime checks the flag between operators, so a request
/// that timed out frees its compute slot without waiting for the whole model.
pub(super) struct Stop(Arc<RunOptions>);

impl Drop for Stop {
    fn drop(&mut self) {
        let _ = self.0.terminate();
    }
}

fn element(ty: TensorElementType) -> Element {
    match ty {
        TensorElementType::Float32 => Element::F32,
        TensorElementType::Float64 => Element::F64,
        TensorElementType::Int64 => Element::I64,
        TensorElementType::Int32 => Element::I32,
        TensorElementType::Uint8 => Element::U8,
        TensorElementType::Bool => Element::Bool,
        TensorElementType::Int8 => Element::Other("int8"),
        TensorElementType::Int16 => Element::Other("int16"),
        TensorElementType::Uint16 => Element::Other("uint16"),
        TensorElementType::Uint32 => Element::Other("uint32"),
        TensorElementType::Uint64 => Element::Other("uint64"),
        TensorElementType::Float16 => Element::Other("float16"),
        TensorElementType::Bfloat16 => Element::Other("bfloat16"),
        TensorElementType::String => Element::Other("string"),
        _ => Element::Other("an unsupported type"),
    }
}

fn message(e: &ort::Error) -> String {
    e.message().to_owned()
}

impl OrtModel {
    /// Loads the model file at `path` with `threads` intra-op threads per session.
    pub fn from_path(path: &Path, threads: usize) -> Result<Loaded<OrtModel>, String> {
        Self::load(Source::File(path.to_owned()), threads)
    }

    /// Loads a model from its bytes.
    pub fn from_bytes(bytes: &[u8], threads: usize) -> Result<Loaded<OrtModel>, String> {
        Self::load(Source::Bytes(bytes.into()), threads)
    }

    fn load(source: Source, threads: usize) -> Result<Loaded<OrtModel>, String> {
        let session = session(&source, threads)?;
        let inputs = session
            .inputs()
            .iter()
            .map(|input| {
                let (element, shape, symbols) = match input.dtype() {
                    ValueType::Tensor {
                        ty,
                        shape,
                        dimension_symbols,
                    } => (
                        element(*ty),
                        dims(shape),
                        shape
                            .iter()
                            .zip(dimension_symbols.iter())
                            .map(|(&d, name)| (d < 0 && !name.is_empty()).then(|| name.clone()))
                            .collect(),
                    ),
                    other => (Element::Other(kind_name(other)), Vec::new(), Vec::new()),
                };
                Port {
                    name: input.name().to_owned(),
                    element,
                    shape,
                    symbols,
                }
            })
            .collect();
        let mut shapes = Vec::new();
        let outputs = session
            .outputs()
            .iter()
            .map(|output| {
                let (shape, element, dims) = match output.dtype() {
                    ValueType::Tensor { ty, shape, .. } => {
                        (Shape::Tensor, element(*ty), dims(shape))
                    }
                    ValueType::Sequence(inner)
                        if matches!(
                            **inner,
                            ValueType::Map {
                                value: TensorElementType::Float32,
                                ..
                            }
                        ) =>
                    {
                        (Shape::MapRows, Element::F32, vec![None, None])
                    }
                    other => (Shape::Tensor, Element::Other(kind_name(other)), Vec::new()),
                };
                shapes.push(shape);
                Port {
                    name: output.name().to_owned(),
                    element,
                    shape: dims,
                    symbols: Vec::new(),
                }
            })
            .collect();
        Ok(Loaded {
            model: OrtModel {
                source,
                threads,
                shapes,
                idle: Mutex::new(vec![session]),
            },
            inputs,
            outputs,
        })
    }

    /// A stop for the next run, and the options that carry it into the run.
    pub fn stop(&self) -> Result<(Stop, Arc<RunOptions>), Failure> {
        let options = Arc::new(
            RunOptions::new()
                .map_err(|e| Failure::Runtime(format!("onnxruntime: {}", message(&e))))?,
        );
        Ok((Stop(options.clone()), options))
    }

    /// Runs the model on `inputs` (checked, in the model's order) with an idle session, or a
    /// new one; the outputs' bytes together may not pass `max_bytes`.
    pub fn run(
        &self,
        inputs: Vec<RawTensor>,
        ports: (&[Port], &[Port]),
        max_bytes: usize,
        options: &RunOptions,
    ) -> Result<Vec<OutputTensor>, Failure> {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let mut session = match idle {
            Some(session) => session,
            None => {
                tracing::debug!("onnxruntime: a new session for a concurrent run");
                session(&self.source, self.threads).map_err(Failure::Runtime)?
            }
        };
        let result = self.run_on(&mut session, inputs, ports, max_bytes, options);
        self.idle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(session);
        result
    }

    fn run_on(
        &self,
        session: &mut Session,
        inputs: Vec<RawTensor>,
        ports: (&[Port], &[Port]),
        max_bytes: usize,
        options: &RunOptions,
    ) -> Result<Vec<OutputTensor>, Failure> {
        let (input_ports, output_ports) = ports;
        let mut values: Vec<(String, SessionInputValue<'static>)> =
            Vec::with_capacity(inputs.len());
        for (port, input) in input_ports.iter().zip(inputs) {
            let value = to_value(input)
                .map_err(|e| Failure::InvalidArgument(format!("input '{}': {e}", port.name)))?;
            values.push((port.name.clone(), value));
        }
        let outputs = session
            .run_with_options(values, options)
            .map_err(|e| Failure::Runtime(format!("the model failed: {}", message(&e))))?;
        let mut total: usize = 0;
        let mut made = Vec::with_capacity(output_ports.len());
        for ((port, shape), index) in output_ports.iter().zip(&self.shapes).zip(0..) {
            let value = &outputs[index];
            let output = match shape {
                Shape::Tensor => tensor_output(port, value)?,
                Shape::MapRows => map_rows(port, value)?,
            };
            total = total.saturating_add(output.data.len());
            if total > max_bytes {
                return Err(Failure::too_large_outputs(total, max_bytes));
            }
            made.push(output);
        }
        Ok(made)
    }
}

/// A new session of the model with `threads` intra-op threads (no spinning: an idle session
/// must not burn a core of a many-tenant host).
fn session(source: &Source, threads: usize) -> Result<Session, String> {
    let environment = environment()?;
    let builder = Session::builder(environment)
        .and_then(|b| b.with_intra_threads(threads.max(1)).map_err(Into::into))
        .and_then(|b| b.with_inter_threads(1).map_err(Into::into))
        .and_then(|b| b.with_intra_op_spinning(false).map_err(Into::into))
        .map_err(|e: ort::Error| format!("onnxruntime: {}", message(&e)))?;
    let mut builder = builder;
    let session = match source {
        Source::File(path) => builder.commit_from_file(path),
        Source::Bytes(bytes) => builder.commit_from_memory(bytes),
    };
    session.map_err(|e| message(&e))
}

fn dims(shape: &[i64]) -> Vec<Option<usize>> {
    shape.iter().map(|&d| usize::try_from(d).ok()).collect()
}

fn kind_name(ty: &ValueType) -> &'static str {
    match ty {
        ValueType::Tensor { .. } => "tensor",
        ValueType::Sequence(_) => "sequence",
        ValueType::Map { .. } => "map",
        ValueType::Optional(_) => "optional",
    }
}

/// An onnxruntime tensor from checked little-endian bytes.
fn to_value(input: RawTensor) -> Result<SessionInputValue<'static>, String> {
    let RawTensor {
        element,
        dims,
        data,
    } = input;
    let shape: Vec<i64> = dims.iter().map(|&d| d as i64).collect();
    let made = match element {
        Element::F32 => {
            Tensor::from_array((shape, decode(&data, f32::from_le_bytes))).map(Into::into)
        }
        Element::F64 => {
            Tensor::from_array((shape, decode(&data, f64::from_le_bytes))).map(Into::into)
        }
        Element::I64 => {
            Tensor::from_array((shape, decode(&data, i64::from_le_bytes))).map(Into::into)
        }
        Element::I32 => {
            Tensor::from_array((shape, decode(&data, i32::from_le_bytes))).map(Into::into)
        }
        Element::U8 => Tensor::from_array((shape, data)).map(Into::into),
        Element::Bool => {
            let values = bools(&data).map_err(|e| format!("{e:#}"))?;
            Tensor::from_array((shape, values)).map(Into::into)
        }
        Element::Other(name) => return Err(format!("{name} tensors are not supported")),
    };
    made.map_err(|e| message(&e))
}

/// A tensor output's bytes, little-endian.
fn tensor_output(port: &Port, value: &DynValue) -> Result<OutputTensor, Failure> {
    let ValueType::Tensor { ty, .. } = value.dtype() else {
        return Err(Failure::Unsupported(format!(
            "output '{}': {} values cannot be passed through wasi-nn",
            port.name,
            kind_name(value.dtype())
        )));
    };
    let runtime =
        |e: ort::Error| Failure::Runtime(format!("output '{}': {}", port.name, message(&e)));
    fn bytes<T: Copy, const N: usize>(values: &[T], to_le: fn(T) -> [u8; N]) -> Vec<u8> {
        values.iter().flat_map(|&v| to_le(v)).collect()
    }
    let element = element(*ty);
    let (shape, data) = match element {
        Element::F32 => {
            let (shape, v) = value.try_extract_tensor::<f32>().map_err(runtime)?;
            (shape, bytes(v, f32::to_le_bytes))
        }
        Element::F64 => {
            let (shape, v) = value.try_extract_tensor::<f64>().map_err(runtime)?;
            (shape, bytes(v, f64::to_le_bytes))
        }
        Element::I64 => {
            let (shape, v) = value.try_extract_tensor::<i64>().map_err(runtime)?;
            (shape, bytes(v, i64::to_le_bytes))
        }
        Element::I32 => {
            let (shape, v) = value.try_extract_tensor::<i32>().map_err(runtime)?;
            (shape, bytes(v, i32::to_le_bytes))
        }
        Element::U8 => {
            let (shape, v) = value.try_extract_tensor::<u8>().map_err(runtime)?;
            (shape, v.to_vec())
        }
        Element::Bool => {
            let (shape, v) = value.try_extract_tensor::<bool>().map_err(runtime)?;
            (shape, v.iter().map(|&b| u8::from(b)).collect())
        }
        Element::Other(_) => return OutputTensor::new(port, element, &[], Vec::new()),
    };
    let dims: Vec<usize> = shape
        .iter()
        .map(|&d| usize::try_from(d).unwrap_or(0))
        .collect();
    OutputTensor::new(port, element, &dims, data)
}

/// A sequence of maps to float (one per row) as a float32 `[rows, keys]` tensor, each row in
/// ascending key order; every row must have the same keys.
fn map_rows(port: &Port, value: &DynValue) -> Result<OutputTensor, Failure> {
    let runtime =
        |e: ort::Error| Failure::Runtime(format!("output '{}': {}", port.name, message(&e)));
    let maps = value
        .try_extract_sequence::<DynMapValueType>()
        .map_err(runtime)?;
    let mut data = Vec::new();
    let mut width = None;
    for map in &maps {
        let row: Vec<f32> = match map.dtype() {
            ValueType::Map {
                key: TensorElementType::String,
                ..
            } => {
                let mut pairs = map
                    .try_extract_key_values::<String, f32>()
                    .map_err(runtime)?;
                pairs.sort_by(|a, b| a.0.cmp(&b.0));
                pairs.into_iter().map(|(_, v)| v).collect()
            }
            _ => {
                let mut pairs = map.try_extract_key_values::<i64, f32>().map_err(runtime)?;
                pairs.sort_by_key(|p| p.0);
                pairs.into_iter().map(|(_, v)| v).collect()
            }
        };
        if *width.get_or_insert(row.len()) != row.len() {
            return Err(Failure::Unsupported(format!(
                "output '{}': its maps do not all have the same keys, so they are no tensor",
                port.name
            )));
        }
        data.extend(row.iter().flat_map(|v| v.to_le_bytes()));
    }
    OutputTensor::new(port, Element::F32, &[maps.len(), width.unwrap_or(0)], data)
}
