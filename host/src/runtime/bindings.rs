//! The host side of `wit/scorehost.wit`: the host's only `bindgen!` module. The `scorer` world
//! generates the shared interfaces; the `raw-scorer` world reuses them.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "scorer",
    exports: { default: async },
});

/// The `raw-scorer` world (`@rawhttp` style entry scripts).
pub(crate) mod raw {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "raw-scorer",
        exports: { default: async },
        with: {
            "scorehost:plugin/host": super::scorehost::plugin::host,
        },
    });

    pub(crate) use self::scorehost::plugin::http::FormFile;
}

pub(crate) use self::scorehost::plugin::host::Level;
pub(crate) use self::scorehost::plugin::types::{
    Argument, Column, Dtype, Elements, Frame, Host as TypesHost, NamedArgument, NamedParam, Orient,
    Param, ParameterKind, Sample, Tensor,
};
