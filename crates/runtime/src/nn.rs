//! `wasi:nn` for entry scripts: the resources a guest holds and the imports that act on them,
//! backed by the deployment's ONNX models (`onnx`, on tract or onnxruntime).
//!
//! Every failure a guest can cause is a `wasi:nn` error (`invalid-argument` naming the input,
//! `not-found`, `too-large`, …). Only a forged handle traps, and a guest that keeps more tensor
//! bytes (or handles) alive in the host than its memory limit allows is stopped like one that
//! grows its linear memory past it.

use std::sync::{Arc, LazyLock};

use tokio::sync::Semaphore;
use wasmtime::component::{HasData, Resource, ResourceTable};

use super::bindings::scorehost::plugin::nn_info::{self, ModelInfo, TensorInfo};
use super::bindings::wasi::nn::errors::{self, ErrorCode};
use super::bindings::wasi::nn::graph::{self, ExecutionTarget, GraphEncoding};
use super::bindings::wasi::nn::inference::{self, NamedTensor};
use super::bindings::wasi::nn::tensor::{self, TensorType};
use super::bindings::{Error, ExecutionContext, Graph, NnTensor as Tensor};
use super::limit::LimitHit;
use super::onnx::{Element, Failure, OnnxModel, OnnxModels, Port, RawTensor};

/// Most `wasi:nn` resources (tensors, graphs, contexts, errors) one instance may hold at once:
/// far above any real use, low enough that a leaking loop cannot grow the host's table for long.
const MAX_HANDLES: usize = 4096;

/// Inference runs on tokio's blocking threads, at most this many at once (one per core):
/// more would only time-slice the same cores while every request waits longer.
static COMPUTE_SLOTS: LazyLock<Arc<Semaphore>> = LazyLock::new(|| {
    Arc::new(Semaphore::new(
        std::thread::available_parallelism().map_or(2, |n| n.get()),
    ))
});

/// What one instance may do with `wasi:nn`, and what it holds.
pub struct NnState {
    /// The deployment's models, shared by its instances.
    models: Arc<OnnxModels>,
    /// The deployment this instance belongs to, for log lines.
    deployment: Arc<str>,
    /// Most tensor bytes the guest may hold in the host: its linear memory limit.
    max_memory: usize,
    /// Whether `graph.load` of raw bytes is allowed (default: only named models).
    load_bytes: bool,
    /// Bytes of tensors the guest holds in the host.
    held_bytes: usize,
    /// Live `wasi:nn` handles.
    handles: usize,
}

impl NnState {
    /// What an instance of `deployment` may do: `models`, raw bytes when `load_bytes`, at
    /// most `max_memory` tensor bytes held.
    pub fn new(
        models: Arc<OnnxModels>,
        load_bytes: bool,
        deployment: Arc<str>,
        max_memory: usize,
    ) -> Self {
        NnState {
            models,
            deployment,
            max_memory,
            load_bytes,
            held_bytes: 0,
            handles: 0,
        }
    }
}

/// What `wasi:nn` and `nn-info` act on, borrowed from a store for one call: the instance's
/// `wasi:nn` state and its resource table (the shape of wasmtime-wasi-nn's `WasiNnView`).
pub struct NnView<'a> {
    nn: &'a mut NnState,
    table: &'a mut ResourceTable,
}

impl<'a> NnView<'a> {
    /// The view of `nn` with the store's `table`.
    pub fn new(nn: &'a mut NnState, table: &'a mut ResourceTable) -> Self {
        NnView { nn, table }
    }
}

/// The imports' data: [`NnView`].
pub struct Nn;

impl HasData for Nn {
    type Data<'a> = NnView<'a>;
}

type NnResult<T> = wasmtime::Result<Result<Resource<T>, Resource<Error>>>;

impl NnView<'_> {
    /// Counts a new handle; past [`MAX_HANDLES`] the guest is stopped.
    fn nn_handle(&mut self) -> wasmtime::Result<()> {
        if self.nn.handles >= MAX_HANDLES {
            tracing::warn!(
                deployment = &*self.nn.deployment,
                limit = MAX_HANDLES,
                "the entry script holds too many wasi-nn handles; stopping it"
            );
            return Err(wasmtime::Error::new(LimitHit::Handles {
                held: self.nn.handles,
            }));
        }
        self.nn.handles += 1;
        Ok(())
    }

    fn nn_drop(&mut self) {
        self.nn.handles = self.nn.handles.saturating_sub(1);
    }

    /// Counts tensor bytes held in the host; past the memory limit the guest is stopped.
    fn nn_hold(&mut self, bytes: usize) -> wasmtime::Result<()> {
        let held = self.nn.held_bytes.saturating_add(bytes);
        if held > self.nn.max_memory {
            tracing::warn!(
                deployment = &*self.nn.deployment,
                bytes = held,
                "the entry script's wasi-nn tensors in the host pass its memory limit; stopping it"
            );
            return Err(wasmtime::Error::new(LimitHit::Memory {
                desired: held,
                limit: self.nn.max_memory,
            }));
        }
        self.nn.held_bytes = held;
        Ok(())
    }

    fn nn_release(&mut self, bytes: usize) {
        self.nn.held_bytes = self.nn.held_bytes.saturating_sub(bytes);
    }

    fn push_error(
        &mut self,
        code: ErrorCode,
        data: impl Into<String>,
    ) -> wasmtime::Result<Resource<Error>> {
        self.nn_handle()?;
        Ok(self.table.push(Error {
            code,
            data: data.into(),
        })?)
    }

    fn nn_error<T>(&mut self, code: ErrorCode, data: impl Into<String>) -> NnResult<T> {
        Ok(Err(self.push_error(code, data)?))
    }

    fn push_graph(&mut self, model: Arc<OnnxModel>) -> NnResult<Graph> {
        self.nn_handle()?;
        Ok(Ok(self.table.push(Graph(model))?))
    }

    fn push_tensor(&mut self, tensor: Tensor) -> wasmtime::Result<Resource<Tensor>> {
        self.nn_hold(tensor.data.len())?;
        self.nn_handle()?;
        Ok(self.table.push(tensor)?)
    }

    fn failure(&mut self, failure: Failure) -> wasmtime::Result<Resource<Error>> {
        let code = match failure {
            Failure::InvalidArgument(_) => ErrorCode::InvalidArgument,
            Failure::TooLarge(_) => ErrorCode::TooLarge,
            Failure::Unsupported(_) => ErrorCode::UnsupportedOperation,
            Failure::Runtime(_) => ErrorCode::RuntimeError,
        };
        self.push_error(code, failure.to_string())
    }
}

impl graph::Host for NnView<'_> {
    async fn load(
        &mut self,
        builder: Vec<Vec<u8>>,
        encoding: GraphEncoding,
        _target: ExecutionTarget,
    ) -> NnResult<Graph> {
        if !self.nn.load_bytes {
            return self.nn_error(
                ErrorCode::Security,
                "this deployment serves only the models in its model folder: use load-by-name \
                 (loading model bytes is off; the deployment's nn_load_bytes turns it on)",
            );
        }
        if !matches!(encoding, GraphEncoding::Onnx | GraphEncoding::Autodetect) {
            return self.nn_error(
                ErrorCode::InvalidEncoding,
                format!("scorehost runs ONNX models only, not {encoding:?}"),
            );
        }
        let bytes = match <[Vec<u8>; 1]>::try_from(builder) {
            Ok([bytes]) => bytes,
            Err(_) => {
                return self.nn_error(
                    ErrorCode::InvalidArgument,
                    "an ONNX model is one buffer: pass exactly one graph-builder",
                );
            }
        };
        if bytes.len() > self.nn.max_memory {
            return self.nn_error(
                ErrorCode::TooLarge,
                format!(
                    "the model has {} bytes, over the deployment's {}-byte memory limit",
                    bytes.len(),
                    self.nn.max_memory
                ),
            );
        }
        let engines = self.nn.models.engines().clone();
        let parsed = on_blocking_pool(move || OnnxModel::from_bytes(&bytes, &engines)).await;
        match parsed {
            Ok(Ok(model)) => self.push_graph(Arc::new(model)),
            Ok(Err(message)) => self.nn_error(
                ErrorCode::InvalidArgument,
                format!("not an ONNX model this host can run: {message}"),
            ),
            Err(message) => self.nn_error(ErrorCode::RuntimeError, message),
        }
    }

    fn load_by_name(&mut self, name: String) -> NnResult<Graph> {
        match self.nn.models.resolve(&name) {
            Ok(model) => {
                let model = model.clone();
                self.push_graph(model)
            }
            Err(message) => self.nn_error(ErrorCode::NotFound, message),
        }
    }
}

impl graph::HostGraph for NnView<'_> {
    fn init_execution_context(&mut self, graph: Resource<Graph>) -> NnResult<ExecutionContext> {
        let model = self.table.get(&graph)?.0.clone();
        self.nn_handle()?;
        Ok(Ok(self.table.push(ExecutionContext(model))?))
    }

    fn drop(&mut self, graph: Resource<Graph>) -> wasmtime::Result<()> {
        self.table.delete(graph)?;
        self.nn_drop();
        Ok(())
    }
}

impl inference::Host for NnView<'_> {}

impl inference::HostGraphExecutionContext for NnView<'_> {
    async fn compute(
        &mut self,
        context: Resource<ExecutionContext>,
        inputs: Vec<NamedTensor>,
    ) -> wasmtime::Result<Result<Vec<NamedTensor>, Resource<Error>>> {
        let model = self.table.get(&context)?.0.clone();
        // The inputs are owned handles: the guest gave them away, so their bytes move here.
        let mut given = Vec::with_capacity(inputs.len());
        let mut unsupported = None;
        for (name, handle) in inputs {
            let tensor = self.table.delete(handle)?;
            self.nn_drop();
            self.nn_release(tensor.data.len());
            let element = match tensor.ty {
                TensorType::Fp32 => Element::F32,
                TensorType::Fp64 => Element::F64,
                TensorType::I64 => Element::I64,
                TensorType::I32 => Element::I32,
                TensorType::U8 => Element::U8,
                TensorType::Fp16 | TensorType::Bf16 => {
                    unsupported.get_or_insert(format!(
                        "input '{name}': {:?} tensors are not supported (use FP32)",
                        tensor.ty
                    ));
                    continue;
                }
            };
            let dims = tensor.dimensions.iter().map(|&d| d as usize).collect();
            given.push((
                name,
                RawTensor {
                    element,
                    dims,
                    data: tensor.data,
                },
            ));
        }
        if let Some(message) = unsupported {
            return Ok(Err(self.failure(Failure::Unsupported(message))?));
        }
        let max_bytes = self.nn.max_memory;
        let checked = match model.check_inputs(given, max_bytes) {
            Ok(checked) => checked,
            Err(failure) => return Ok(Err(self.failure(failure)?)),
        };
        // Outputs join what the guest already holds in the host.
        let room = max_bytes.saturating_sub(self.nn.held_bytes);
        // Dropped with this future (the request's timeout), it stops an onnxruntime run.
        let (_stop, ticket) = match model.stop_on_drop() {
            Ok(stop) => stop,
            Err(failure) => return Ok(Err(self.failure(failure)?)),
        };
        // A model measured to run in microseconds on inputs this size runs right here: the
        // blocking pool's hand-off would cost more than the model. Anything bigger, or not
        // yet measured, runs off the async workers.
        let ran = if model.is_tiny_run(&checked) {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                model.run(checked, room, &ticket)
            }))
            .map_err(|_| {
                tracing::error!("the ONNX engine panicked");
                "the model failed inside the engine".to_owned()
            })
        } else {
            on_blocking_pool(move || model.run(checked, room, &ticket)).await
        };
        let outputs = match ran {
            Ok(Ok(outputs)) => outputs,
            Ok(Err(failure)) => return Ok(Err(self.failure(failure)?)),
            Err(message) => return Ok(Err(self.failure(Failure::Runtime(message))?)),
        };
        let mut named = Vec::with_capacity(outputs.len());
        for output in outputs {
            let ty = match output.element {
                Element::F32 => TensorType::Fp32,
                Element::F64 => TensorType::Fp64,
                Element::I64 => TensorType::I64,
                Element::I32 => TensorType::I32,
                Element::U8 | Element::Bool => TensorType::U8,
                // `run` refuses other types before it gets here.
                Element::Other(_) => TensorType::U8,
            };
            let handle = self.push_tensor(Tensor {
                dimensions: output.dims,
                ty,
                data: output.data,
            })?;
            named.push((output.name, handle));
        }
        Ok(Ok(named))
    }

    fn drop(&mut self, context: Resource<ExecutionContext>) -> wasmtime::Result<()> {
        self.table.delete(context)?;
        self.nn_drop();
        Ok(())
    }
}

/// Runs CPU-bound work on tokio's blocking threads once one of the [`COMPUTE_SLOTS`] is free.
/// A panic inside (an engine on a model it mishandles) becomes an error message, not a host crash.
/// If the caller stops waiting (the request's timeout), the work finishes in the background
/// and keeps its slot until then, so abandoned work still counts against the limit.
async fn on_blocking_pool<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, String> {
    let permit = COMPUTE_SLOTS
        .clone()
        .acquire_owned()
        .await
        .map_err(|_| "the inference pool is closed".to_owned())?;
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        work()
    })
    .await
    .map_err(|e| {
        if e.is_panic() {
            tracing::error!("the ONNX engine panicked: {e}");
            "the model failed inside the engine".to_owned()
        } else {
            "the inference was cancelled".to_owned()
        }
    })
}

impl tensor::Host for NnView<'_> {}

impl tensor::HostTensor for NnView<'_> {
    fn new(
        &mut self,
        dimensions: Vec<u32>,
        ty: TensorType,
        data: Vec<u8>,
    ) -> wasmtime::Result<Resource<Tensor>> {
        self.push_tensor(Tensor {
            dimensions,
            ty,
            data,
        })
    }

    fn dimensions(&mut self, tensor: Resource<Tensor>) -> wasmtime::Result<Vec<u32>> {
        Ok(self.table.get(&tensor)?.dimensions.clone())
    }

    fn ty(&mut self, tensor: Resource<Tensor>) -> wasmtime::Result<TensorType> {
        Ok(self.table.get(&tensor)?.ty)
    }

    fn data(&mut self, tensor: Resource<Tensor>) -> wasmtime::Result<Vec<u8>> {
        Ok(self.table.get(&tensor)?.data.clone())
    }

    fn drop(&mut self, tensor: Resource<Tensor>) -> wasmtime::Result<()> {
        let tensor = self.table.delete(tensor)?;
        self.nn_drop();
        self.nn_release(tensor.data.len());
        Ok(())
    }
}

impl errors::Host for NnView<'_> {}

impl errors::HostError for NnView<'_> {
    fn code(&mut self, error: Resource<Error>) -> wasmtime::Result<ErrorCode> {
        Ok(self.table.get(&error)?.code)
    }

    fn data(&mut self, error: Resource<Error>) -> wasmtime::Result<String> {
        Ok(self.table.get(&error)?.data.clone())
    }

    fn drop(&mut self, error: Resource<Error>) -> wasmtime::Result<()> {
        self.table.delete(error)?;
        self.nn_drop();
        Ok(())
    }
}

impl nn_info::Host for NnView<'_> {
    fn describe(&mut self, name: String) -> Result<ModelInfo, String> {
        let model = self.nn.models.resolve(&name)?;
        let info = |ports: &[Port]| {
            ports
                .iter()
                .map(|p| TensorInfo {
                    name: p.name.clone(),
                    element_type: p.element.onnx_name().to_owned(),
                    shape: p.shape.iter().map(|d| d.map(|d| d as u64)).collect(),
                })
                .collect()
        };
        Ok(ModelInfo {
            inputs: info(model.inputs()),
            outputs: info(model.outputs()),
        })
    }
}
