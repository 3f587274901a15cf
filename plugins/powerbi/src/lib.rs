//! The seed's "Power BI compatible endpoint" end to end: three typed inputs (a numpy array, a
//! pandas frame and a standard value), `GlobalParameters`, and `{"Results": [...]}` out, with
//! the same ridge model as the `ridge` plugin.
//!
//! The Python original declares its samples with `NumpyParameterType`,
//! `PandasParameterType` and `StandardPythonParameterType`; here they are
//! [`Sample::matrix`], [`Sample::frame`] and [`Sample::json`].

use scorehost_guest::model::model_dir;
use scorehost_guest::{EntryScript, Inputs, Param, RunError, Sample, Schema, Value, column, json};
use serde::Deserialize;

#[derive(Deserialize)]
struct PowerBi {
    coef: Vec<f64>,
    intercept: f64,
}

impl EntryScript for PowerBi {
    fn init() -> Result<Self, String> {
        let path = model_dir().join("sklearn_regression_model.json");
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        serde_json::from_str(&text)
            .map_err(|e| format!("{} is not a linear model: {e}", path.display()))
    }

    fn schema() -> Option<Schema> {
        Some(
            Schema::new()
                .input(
                    "input1",
                    Sample::matrix(&[
                        [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0],
                        [10.0, 9.0, 8.0, 7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0],
                    ]),
                )
                .input(
                    "input2",
                    Sample::frame(vec![
                        column("name", &["Sarah", "John"]),
                        column("age", &[25i64, 26]),
                    ]),
                )
                .input("input3", Sample::json(json!(0.0)))
                .global_parameters(Sample::json(json!(1.0)))
                .output(json!({"Results": [1.0, 1.0]})),
        )
    }

    fn run(&mut self, inputs: Inputs, _global: Option<Param>) -> Result<Value, RunError> {
        // The host has checked dtype and shape against the sample: input1 is float64 [*, 10].
        let data = inputs.require("input1")?.as_matrix()?;
        let predictions: Vec<f64> = data
            .rows()
            .map(|row| self.intercept + row.iter().zip(&self.coef).map(|(x, c)| x * c).sum::<f64>())
            .collect();
        Ok(json!({ "Results": predictions }))
    }
}

scorehost_guest::export_entry_script!(PowerBi);
