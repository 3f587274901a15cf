//! Misbehaving test plugin: `run` allocates (and touches) memory until something stops it.
//! The host's memory limit must.

use scorehost_guest::{EntryScript, Inputs, Param, RunError, Value};

struct AllocBomb;

impl EntryScript for AllocBomb {
    fn init() -> Result<Self, String> {
        Ok(AllocBomb)
    }

    fn run(&mut self, _inputs: Inputs, _global: Option<Param>) -> Result<Value, RunError> {
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        loop {
            hoard.push(std::hint::black_box(vec![7u8; 1 << 20]));
        }
    }
}

scorehost_guest::export_entry_script!(AllocBomb);
