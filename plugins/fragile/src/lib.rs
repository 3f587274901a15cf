//! Test plugin for readiness: `init` reads the file `gate` in the model folder, sleeps the
//! number of milliseconds it holds, and fails when it is missing; `run` panics when
//! `Inputs.trap` is true, prints `Inputs.say` to stdout `Inputs.repeat` times, and answers
//! `{"ok": true}`. A test makes `init` slow, or
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
        if let Some(Param::Json(Value::String(say))) = inputs.get("say") {
            let repeat = inputs.get("repeat").map(Param::as_f64).transpose()?;
            for _ in 0..repeat.unwrap_or(1.0) as usize {
                println!("{say}");
            }
        }
        Ok(json!({ "ok": true }))
    }
}

scorehost_guest::export_entry_script!(Fragile);
