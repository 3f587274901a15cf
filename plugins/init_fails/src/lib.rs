//! Test plugin: `init` fails the way a missing model file does, so the server must refuse to
//! become ready and say why.

use scorehost_guest::{EntryScript, Inputs, Param, RunError, Value};

struct InitFails;

impl EntryScript for InitFails {
    fn init() -> Result<Self, String> {
        Err("model file 'missing.pkl' not found in the model folder".to_owned())
    }

    fn run(&mut self, _inputs: Inputs, _global: Option<Param>) -> Result<Value, RunError> {
        Err(RunError::failed("unreachable: init failed"))
    }
}

scorehost_guest::export_entry_script!(InitFails);
