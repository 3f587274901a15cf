//! Test plugin: does what `Inputs.action` asks, so tests can check the sandbox from inside.
//!
//! Actions: `read`/`write`/`list` a `path`, `env` (the whole environment), `model_path`
//! (`name`, optional `version`), `alloc` (`mib` mebibytes, to check a limit is not too tight).
//! The misbehaving plugins (`loop_forever`, `alloc_bomb`, `trap`, `slow`, `fs_escape`) test
//! the limits themselves. A denied operation answers `RunError::Failed` with the OS error text.

use scorehost_guest::model::get_model_path;
use scorehost_guest::{EntryScript, Inputs, Param, RunError, Value, json};

struct Probe;

impl EntryScript for Probe {
    fn init() -> Result<Self, String> {
        Ok(Probe)
    }

    fn run(&mut self, inputs: Inputs, _global: Option<Param>) -> Result<Value, RunError> {
        let text = |name: &str| -> Result<String, RunError> {
            match inputs.require(name)? {
                Param::Json(Value::String(s)) => Ok(s.clone()),
                other => Err(RunError::bad_input(format!(
                    "{name} must be a string, got {other:?}"
                ))),
            }
        };
        let number =
            |name: &str| -> Result<u64, RunError> { Ok(inputs.require(name)?.as_f64()? as u64) };
        let denied = |e: std::io::Error| RunError::failed(format!("denied: {e}"));
        let list = |path: &str| -> Result<Vec<String>, RunError> {
            let mut names = std::fs::read_dir(path)
                .map_err(denied)?
                .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
                .collect::<Result<Vec<_>, _>>()
                .map_err(denied)?;
            names.sort();
            Ok(names)
        };
        match text("action")?.as_str() {
            "read" => {
                let content = std::fs::read_to_string(text("path")?).map_err(denied)?;
                Ok(json!({ "content": content }))
            }
            "write" => {
                std::fs::write(text("path")?, b"scribble").map_err(denied)?;
                Ok(json!({ "written": true }))
            }
            "list" => Ok(json!({ "entries": list(&text("path")?)? })),
            "env" => {
                let vars: serde_json::Map<String, Value> = std::env::vars()
                    .map(|(k, v)| (k, Value::String(v)))
                    .collect();
                Ok(Value::Object(vars))
            }
            "model_path" => {
                let version = match inputs.get("version") {
                    Some(Param::Json(Value::String(v))) => Some(v.clone()),
                    _ => None,
                };
                let path = get_model_path(&text("name")?, version.as_deref())
                    .map_err(RunError::bad_input)?;
                let files = list(&path.to_string_lossy())?;
                Ok(json!({ "path": path, "files": files }))
            }
            "alloc" => {
                let mut blocks: Vec<Vec<u8>> = Vec::new();
                for _ in 0..number("mib")? {
                    blocks.push(vec![1u8; 1 << 20]);
                }
                Ok(json!({ "allocated_mib": blocks.len() }))
            }
            other => Err(RunError::bad_input(format!("unknown action {other:?}"))),
        }
    }
}

scorehost_guest::export_entry_script!(Probe);
