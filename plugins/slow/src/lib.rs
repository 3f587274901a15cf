//! Misbehaving test plugin: `run` sleeps for `Inputs.ms` milliseconds (default a minute),
//! parked in a host call where no epoch check runs. The host's outer timer must stop it.

use scorehost_guest::{EntryScript, Inputs, Param, RunError, Value, json};

struct Slow;

impl EntryScript for Slow {
    fn init() -> Result<Self, String> {
        Ok(Slow)
    }

    fn run(&mut self, inputs: Inputs, _global: Option<Param>) -> Result<Value, RunError> {
        let ms = inputs
            .get("ms")
            .map(Param::as_f64)
            .transpose()?
            .unwrap_or(60_000.0);
        std::thread::sleep(std::time::Duration::from_millis(ms as u64));
        Ok(json!({ "slept_ms": ms }))
    }
}

scorehost_guest::export_entry_script!(Slow);
