//! Misbehaving test plugin: `run` panics (a trap in the guest). The host must answer a generic
//! 500, keep the panic message in its log, and replace the instance.

use scorehost_guest::{EntryScript, Inputs, Param, RunError, Value};

struct Trap;

impl EntryScript for Trap {
    fn init() -> Result<Self, String> {
        Ok(Trap)
    }

    fn run(&mut self, _inputs: Inputs, _global: Option<Param>) -> Result<Value, RunError> {
        panic!("secret internal detail /home/alice/model.bin")
    }
}

scorehost_guest::export_entry_script!(Trap);
