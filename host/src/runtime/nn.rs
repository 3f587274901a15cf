//! `wasi:nn` for entry scripts: the resources a guest holds and the imports that act on them.

use wasmtime::component::Resource;

use super::bindings::wasi::nn::errors::{self, ErrorCode};
use super::bindings::wasi::nn::graph::{self, ExecutionTarget, GraphEncoding};
use super::bindings::wasi::nn::inference::{self, NamedTensor};
use super::bindings::wasi::nn::tensor::{self, TensorType};
use super::state::HostState;

/// A graph handed to a guest (`wasi:nn/graph.graph`).
pub struct Graph;

/// An execution context of a graph (`wasi:nn/inference.graph-execution-context`).
pub struct ExecutionContext;

/// A tensor the guest made or a computation returned (`wasi:nn/tensor.tensor`).
pub struct Tensor {
    dimensions: Vec<u32>,
    ty: TensorType,
    data: Vec<u8>,
}

/// A `wasi:nn` error: its code and a message for the guest (`wasi:nn/errors.error`).
#[derive(Debug)]
pub struct Error {
    code: ErrorCode,
    data: String,
}

type NnResult<T> = wasmtime::Result<Result<Resource<T>, Resource<Error>>>;

impl HostState {
    fn nn_error<T>(&mut self, code: ErrorCode, data: impl Into<String>) -> NnResult<T> {
        let error = self.table.push(Error {
            code,
            data: data.into(),
        })?;
        Ok(Err(error))
    }
}

impl graph::Host for HostState {
    fn load(
        &mut self,
        _builder: Vec<Vec<u8>>,
        _encoding: GraphEncoding,
        _target: ExecutionTarget,
    ) -> NnResult<Graph> {
        self.nn_error(
            ErrorCode::Security,
            "this deployment serves only the models in its model folder: use load-by-name",
        )
    }

    fn load_by_name(&mut self, name: String) -> NnResult<Graph> {
        self.nn_error(
            ErrorCode::NotFound,
            format!("no model named {name:?} in this deployment"),
        )
    }
}

impl graph::HostGraph for HostState {
    fn init_execution_context(&mut self, _graph: Resource<Graph>) -> NnResult<ExecutionContext> {
        self.nn_error(ErrorCode::UnsupportedOperation, "not implemented yet")
    }

    fn drop(&mut self, graph: Resource<Graph>) -> wasmtime::Result<()> {
        self.table.delete(graph)?;
        Ok(())
    }
}

impl inference::Host for HostState {}

impl inference::HostGraphExecutionContext for HostState {
    async fn compute(
        &mut self,
        _context: Resource<ExecutionContext>,
        _inputs: Vec<NamedTensor>,
    ) -> wasmtime::Result<Result<Vec<NamedTensor>, Resource<Error>>> {
        let error = self.table.push(Error {
            code: ErrorCode::UnsupportedOperation,
            data: "not implemented yet".into(),
        })?;
        Ok(Err(error))
    }

    fn drop(&mut self, context: Resource<ExecutionContext>) -> wasmtime::Result<()> {
        self.table.delete(context)?;
        Ok(())
    }
}

impl tensor::Host for HostState {}

impl tensor::HostTensor for HostState {
    fn new(
        &mut self,
        dimensions: Vec<u32>,
        ty: TensorType,
        data: Vec<u8>,
    ) -> wasmtime::Result<Resource<Tensor>> {
        Ok(self.table.push(Tensor {
            dimensions,
            ty,
            data,
        })?)
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
        self.table.delete(tensor)?;
        Ok(())
    }
}

impl errors::Host for HostState {}

impl errors::HostError for HostState {
    fn code(&mut self, error: Resource<Error>) -> wasmtime::Result<ErrorCode> {
        Ok(self.table.get(&error)?.code)
    }

    fn data(&mut self, error: Resource<Error>) -> wasmtime::Result<String> {
        Ok(self.table.get(&error)?.data.clone())
    }

    fn drop(&mut self, error: Resource<Error>) -> wasmtime::Result<()> {
        self.table.delete(error)?;
        Ok(())
    }
}
