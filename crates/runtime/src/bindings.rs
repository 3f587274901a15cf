//! The worlds of `wit/scorehost.wit` on the host side: the `scorer` world generates the
//! imports both worlds share (`host`, `nn-info`, `wasi:nn`); the `raw-scorer` world reuses
//! them. The contract's types come from `scorehost-wit`.

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "scorer",
    exports: { default: async },
    imports: {
        // Inference runs on the host's blocking pool; the guest's call awaits it, so the
        // deployment's timeout still applies (`runtime::guarded`).
        "wasi:nn/inference.[method]graph-execution-context.compute": async | trappable,
        "wasi:nn/graph.load": async | trappable,
        // A resource-table failure (a handle the guest forged) traps the call.
        "wasi:nn": trappable,
    },
    with: {
        "scorehost:plugin/types": scorehost_wit::types,
        "wasi:nn/graph.graph": crate::bindings::Graph,
        "wasi:nn/tensor.tensor": crate::bindings::NnTensor,
        "wasi:nn/inference.graph-execution-context": crate::bindings::ExecutionContext,
        "wasi:nn/errors.error": crate::bindings::Error,
    },
});

/// The `raw-scorer` world (`@rawhttp` style entry scripts).
#[allow(missing_docs)]
pub mod raw {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "raw-scorer",
        exports: { default: async },
        with: {
            "scorehost:plugin/http": scorehost_wit::http,
            "scorehost:plugin/host": super::scorehost::plugin::host,
            "scorehost:plugin/nn-info": super::scorehost::plugin::nn_info,
            "wasi:nn": super::wasi::nn,
        },
    });
}

pub use self::scorehost::plugin::host::Level;
pub use scorehost_wit::types::Host as TypesHost;
pub use scorehost_wit::{
    Argument, Column, Dtype, Elements, FormFile, Frame, NamedArgument, NamedParam, Orient, Param,
    ParameterKind, Sample, Tensor, http,
};

// The `wasi:nn` resources a guest holds in the host, as the `with` above maps them (`nn`
// implements the imports on them).

/// A graph handed to a guest (`wasi:nn/graph.graph`).
pub struct Graph(pub(crate) std::sync::Arc<crate::onnx::OnnxModel>);

/// An execution context of a graph (`wasi:nn/inference.graph-execution-context`). Stateless:
/// `compute` takes every input at once, so a context is just its graph.
pub struct ExecutionContext(pub(crate) std::sync::Arc<crate::onnx::OnnxModel>);

/// A tensor the guest made or a computation returned (`wasi:nn/tensor.tensor`).
pub struct NnTensor {
    pub(crate) dimensions: Vec<u32>,
    pub(crate) ty: wasi::nn::tensor::TensorType,
    pub(crate) data: Vec<u8>,
}

/// A `wasi:nn` error: its code and a message for the guest (`wasi:nn/errors.error`).
#[derive(Debug)]
pub struct Error {
    pub(crate) code: wasi::nn::errors::ErrorCode,
    pub(crate) data: String,
}
