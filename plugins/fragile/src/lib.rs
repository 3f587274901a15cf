//! Test plugin for readiness: `init` reads the file `gate` in the model folder, sleeps the
//! number of milliseconds it holds, and fails when it is missing; `run` panics when
//! `Inputs.trap` is true and answers `{"ok": true}` otherwise. A test makes `init` slow, or
//! removes the file so that replacements of trapped instances cannot start.

use scorehost_guest::model::model_dir;
use scorehost_guest::{EntryScript, Inputs, Param, RunError, Value, json};

struct Fragile;

impl EntryScript for Fragile {
    fn init() -> Result<Self, String> {
        let gate = std::fs::read_to_string(model_dir().join("gate"))
            .map_err(|e| format!("cannot read the gate file: {e}"))?;
        let ms: u64 = gate.trim().parse().map_err(|e| format!("gate: {e}"))?;
        std::thread::sleep(std::time::Duration::from_millis(ms));
        Ok(Fragile)
    }

    fn run(&mut self, inputs: Inputs, _global: Option<Param>) -> Result<Value, RunError> {
        if inputs.get("trap") == Some(&Param::Json(Value::Bool(true))) {
            panic!("asked to trap");
        }
        Ok(json!({ "ok": true }))
    }
}

scorehost_guest::export_entry_script!(Fragile);
