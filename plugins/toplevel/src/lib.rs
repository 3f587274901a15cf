//! `inference-schema`'s top-level form in Rust: `@input_schema("data",
//! NumpyParameterType(sample))` with `def run(data)`, so a request body is `{"data": [[...]]}`.
//! Scores each row with the ridge model of the `ridge` plugin; an optional `scale` (a Python
//! default) multiplies the results.
//!
//! Twins: `plugins/python/toplevel` and `plugins/js/toplevel`.

use scorehost_guest::model::model_dir;
use scorehost_guest::{Arguments, RunError, Sample, Schema, Script, Value, json};
use serde::Deserialize;

#[derive(Deserialize)]
struct TopLevel {
    coef: Vec<f64>,
    intercept: f64,
}

impl Script for TopLevel {
    fn init() -> Result<Self, String> {
        let path = model_dir().join("sklearn_regression_model.json");
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        serde_json::from_str(&text)
            .map_err(|e| format!("{} is not a linear model: {e}", path.display()))
    }

    fn schema() -> Schema {
        Schema::new()
            .parameter(
                "data",
                Sample::matrix(&[
                    [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0],
                    [10.0, 9.0, 8.0, 7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0],
                ]),
            )
            .optional_parameter("scale", Sample::json(json!(1.0)))
            .output(json!({"Results": [1.0, 1.0]}))
            // Each result row is its input row's: the host may join requests (when the
            // deployment sets max_batch_size).
            .batchable()
    }

    fn run(&mut self, arguments: Arguments) -> Result<Value, RunError> {
        // The host has checked dtype and shape against the sample: data is float64 [*, 10].
        let data = arguments.require("data")?.as_matrix()?;
        let scale = match arguments.get("scale") {
            Some(scale) => scale.as_f64()?,
            None => 1.0,
        };
        let results: Vec<f64> = data
            .rows()
            .map(|row| {
                (self.intercept + row.iter().zip(&self.coef).map(|(x, c)| x * c).sum::<f64>())
                    * scale
            })
            .collect();
        Ok(json!({ "Results": results }))
    }
}

scorehost_guest::export_script!(TopLevel);
