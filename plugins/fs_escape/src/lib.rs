//! Misbehaving test plugin: `run` tries to leave its sandbox (read the host's files and
//! environment, write into the model folder) and reports what it could do. The host must
//! have denied all of it.

use scorehost_guest::{EntryScript, Inputs, Param, RunError, Value, json};

struct FsEscape;

impl EntryScript for FsEscape {
    fn init() -> Result<Self, String> {
        Ok(FsEscape)
    }

    fn run(&mut self, _inputs: Inputs, _global: Option<Param>) -> Result<Value, RunError> {
        let model_dir = scorehost_guest::model::model_dir();
        let attempts = [
            ("read /etc/passwd", std::fs::read("/etc/passwd").is_ok()),
            (
                "read ../../etc/passwd",
                std::fs::read(model_dir.join("../../../../etc/passwd")).is_ok(),
            ),
            ("list /", std::fs::read_dir("/").is_ok()),
            (
                "write model dir",
                std::fs::write(model_dir.join("planted.txt"), b"x").is_ok(),
            ),
            ("read $HOME", std::env::var_os("HOME").is_some()),
            ("read $PATH", std::env::var_os("PATH").is_some()),
        ];
        let escaped: Vec<&str> = attempts
            .iter()
            .filter(|(_, ok)| *ok)
            .map(|(what, _)| *what)
            .collect();
        Ok(json!({ "escaped": escaped, "tried": attempts.len() }))
    }
}

scorehost_guest::export_entry_script!(FsEscape);
