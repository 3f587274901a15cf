//! The classic undecorated Azure ML tutorial script, in Rust: `run(raw_data)` gets the request
//! body as text, reads `json.loads(raw_data)["data"]`, scores each row with the ridge model of
//! the `ridge` plugin and returns the list of results.
//!
//! The Python twin (`plugins/python/tutorial`) is the tutorial's script with its import lines
//! changed; where it would raise (a body that is not JSON, no `"data"`, rows that are not
//! numbers) this one returns [`RunError::exception`], which the client sees as Azure ML's
//! generic 500, as it sees the Python exception.

use scorehost_guest::model::model_dir;
use scorehost_guest::{Param, RunError, UndecoratedScript, Value, json};
use serde::Deserialize;

#[derive(Deserialize)]
struct Tutorial {
    coef: Vec<f64>,
    intercept: f64,
}

impl UndecoratedScript for Tutorial {
    fn init() -> Result<Self, String> {
        let path = model_dir().join("sklearn_regression_model.json");
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        serde_json::from_str(&text)
            .map_err(|e| format!("{} is not a linear model: {e}", path.display()))
    }

    fn run(&mut self, raw_data: &str) -> Result<Value, RunError> {
        // data = np.array(json.loads(raw_data)["data"])
        let body: Value = serde_json::from_str(raw_data)
            .map_err(|e| RunError::exception(format!("JSONDecodeError: {e}")))?;
        let data = body
            .get("data")
            .ok_or_else(|| RunError::exception("KeyError: 'data'"))?;
        let data = Param::Json(data.clone())
            .as_matrix()
            .map_err(|e| RunError::exception(format!("ValueError: {e}")))?;
        // result = model.predict(data); return result.tolist()
        let result: Vec<f64> = data
            .rows()
            .map(|row| self.intercept + row.iter().zip(&self.coef).map(|(x, c)| x * c).sum::<f64>())
            .collect();
        Ok(json!(result))
    }
}

scorehost_guest::export_undecorated_script!(Tutorial);
