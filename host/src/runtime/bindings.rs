//! The host side of `wit/scorehost.wit`: the host's only `bindgen!` module. The `scorer` world
//! generates the shared interfaces (and `wasi:nn`, which both worlds import); the `raw-scorer`
//! world reuses them.

wasmtime::component::bindgen!({
    path: "../wit",
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
        "wasi:nn/graph.graph": super::nn::Graph,
        "wasi:nn/tensor.tensor": super::nn::Tensor,
        "wasi:nn/inference.graph-execution-context": super::nn::ExecutionContext,
        "wasi:nn/errors.error": super::nn::Error,
    },
});

/// The `raw-scorer` world (`@rawhttp` style entry scripts).
#[allow(missing_docs)]
pub(crate) mod raw {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "raw-scorer",
        exports: { default: async },
        with: {
            "scorehost:plugin/host": super::scorehost::plugin::host,
            "scorehost:plugin/nn-info": super::scorehost::plugin::nn_info,
            "wasi:nn": super::wasi::nn,
        },
    });

    pub use self::scorehost::plugin::http::FormFile;
}

pub(crate) use self::scorehost::plugin::host::Level;
pub(crate) use self::scorehost::plugin::types::{
    Argument, Column, Dtype, Elements, Frame, Host as TypesHost, NamedArgument, NamedParam, Orient,
    Param, ParameterKind, Sample, Tensor,
};
