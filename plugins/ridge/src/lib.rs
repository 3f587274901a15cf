//! The seed's Power BI example made real: a ridge regression whose coefficients are loaded from
//! the model folder once per instance, scoring the rows of `Inputs.input1`.
//!
//! The Python original: `model = joblib.load(os.path.join(AZUREML_MODEL_DIR,
//! 'sklearn_regression_model.pkl'))` in `init()`, `model.predict(Inputs['input1']).tolist()` in
//! `run()`. Here the model file is JSON (see `model/README.md`).

use scorehost_guest::model::model_dir;
use scorehost_guest::{EntryScript, Inputs, Param, RunError, Value, json};
use serde::Deserialize;

/// The model file's name inside `$AZUREML_MODEL_DIR`.
const MODEL_FILE: &str = "sklearn_regression_model.json";

/// A fitted linear model: `prediction = intercept + coef · row`.
#[derive(Deserialize)]
struct Ridge {
    coef: Vec<f64>,
    intercept: f64,
}

impl EntryScript for Ridge {
    fn init() -> Result<Self, String> {
        let path = model_dir().join(MODEL_FILE);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let model: Ridge = serde_json::from_str(&text)
            .map_err(|e| format!("{} is not a linear model: {e}", path.display()))?;
        if model.coef.is_empty() {
            return Err(format!("{} has no coefficients", path.display()));
        }
        scorehost_guest::log::info(format!(
            "loaded ridge model with {} features",
            model.coef.len()
        ));
        Ok(model)
    }

    fn run(&mut self, inputs: Inputs, _global: Option<Param>) -> Result<Value, RunError> {
        let x = inputs.require("input1")?.as_matrix()?;
        if x.cols != self.coef.len() {
            return Err(RunError::bad_input(format!(
                "Inputs.input1 rows have {} features, the model expects {}",
                x.cols,
                self.coef.len()
            )));
        }
        let predictions: Vec<f64> = x
            .rows()
            .map(|row| self.intercept + row.iter().zip(&self.coef).map(|(a, b)| a * b).sum::<f64>())
            .collect();
        Ok(json!(predictions))
    }
}

scorehost_guest::export_entry_script!(Ridge);
