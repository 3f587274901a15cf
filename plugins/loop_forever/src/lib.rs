//! Misbehaving test plugin: `run` never returns. The host's time limit must stop it.

use scorehost_guest::{EntryScript, Inputs, Param, RunError, Value};

struct LoopForever;

impl EntryScript for LoopForever {
    fn init() -> Result<Self, String> {
        Ok(LoopForever)
    }

    fn run(&mut self, _inputs: Inputs, _global: Option<Param>) -> Result<Value, RunError> {
        let mut n: u64 = 0;
        loop {
            n = std::hint::black_box(n.wrapping_add(1));
        }
    }
}

scorehost_guest::export_entry_script!(LoopForever);
