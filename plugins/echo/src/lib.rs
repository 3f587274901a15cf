//! Test plugin: answers with what it received, plus how often this instance ran `init` and
//! `run`, so tests can see that `init` runs once per instance and that values arrive intact.

use scorehost_guest::{EntryScript, Inputs, Param, RunError, Value, json};

struct Echo {
    /// Counts `init` calls in this instance: a global, so a second `init` would show as 2.
    init_calls: u64,
    run_calls: u64,
    /// Tells instances apart (a pool holds several).
    instance: u64,
}

static INIT_CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

impl EntryScript for Echo {
    fn init() -> Result<Self, String> {
        let init_calls = INIT_CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        let mut seed = [0u8; 8];
        // Any distinct number will do; the clock differs between instances started apart.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or_default();
        seed.copy_from_slice(&nanos.to_le_bytes());
        Ok(Echo {
            init_calls,
            run_calls: 0,
            instance: u64::from_le_bytes(seed),
        })
    }

    fn run(&mut self, inputs: Inputs, global: Option<Param>) -> Result<Value, RunError> {
        self.run_calls += 1;
        let echoed: serde_json::Map<String, Value> = inputs
            .iter()
            .map(|(name, p)| (name.to_owned(), describe(p)))
            .collect();
        Ok(json!({
            "inputs": echoed,
            "global_parameters": global.as_ref().map(describe),
            "init_calls": self.init_calls,
            "run_calls": self.run_calls,
            "instance": self.instance.to_string(),
        }))
    }
}

fn describe(p: &Param) -> Value {
    match p {
        Param::Json(v) => v.clone(),
        Param::Tensor(t) => {
            json!({ "tensor": { "shape": t.shape, "dtype": format!("{:?}", t.dtype) } })
        }
        Param::Frame(f) => {
            json!({ "frame": f.columns.iter().map(|c| c.name.clone()).collect::<Vec<_>>() })
        }
    }
}

scorehost_guest::export_entry_script!(Echo);
