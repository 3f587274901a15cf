//! Test plugin for adaptive batching: a batchable script whose answers depend on each row
//! alone, and whose errors name a row by its place in the `run` call (so a batch's error
//! differs from the one a request gets alone, which the host must hand out).
//!
//! `data` is float64 `[*, 2]`; each row's `[a, b]` gives `sum` `a + b` and `scaled`
//! `(a - b) * scale` (`scale`: optional, default 1). A row whose `a` is negative is bad input
//! (`row I of N is negative`); a row whose `a` is 666 traps.

use scorehost_guest::{Arguments, RunError, Sample, Schema, Script, Value, json};

struct BatchRows;

impl Script for BatchRows {
    fn init() -> Result<Self, String> {
        Ok(BatchRows)
    }

    fn schema() -> Schema {
        Schema::new()
            .parameter("data", Sample::matrix(&[[1.0, 2.0], [3.0, 4.0]]))
            .optional_parameter("scale", Sample::json(json!(1.0)))
            .output(json!({"Results": {"sum": [3.0, 7.0], "scaled": [-1.0, -1.0]}}))
            .batchable()
    }

    fn run(&mut self, arguments: Arguments) -> Result<Value, RunError> {
        let data = arguments.require("data")?.as_matrix()?;
        let scale = match arguments.get("scale") {
            Some(scale) => scale.as_f64()?,
            None => 1.0,
        };
        let rows: Vec<&[f64]> = data.rows().collect();
        let n = rows.len();
        let mut sum = Vec::with_capacity(n);
        let mut scaled = Vec::with_capacity(n);
        for (i, row) in rows.iter().enumerate() {
            if row[0] < 0.0 {
                return Err(RunError::bad_input(format!("row {i} of {n} is negative")));
            }
            assert!(row[0] != 666.0, "row {i} asked for a trap");
            sum.push(row[0] + row[1]);
            scaled.push((row[0] - row[1]) * scale);
        }
        Ok(json!({"Results": {"sum": sum, "scaled": scaled}}))
    }
}

scorehost_guest::export_script!(BatchRows);
