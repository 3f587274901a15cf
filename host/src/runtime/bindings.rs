//! The host side of `wit/scorehost.wit`: the only `bindgen!` in the host.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "scorer",
    exports: { default: async },
});

pub(crate) use self::scorehost::plugin::host::Level;
pub(crate) use self::scorehost::plugin::types::{
    Column, Dtype, Elements, Frame, Host as TypesHost, Orient, Sample, Tensor,
};
