//! A scikit-learn classifier exported to ONNX (skl2onnx), scored by tract compiled into the
//! guest: `onnx_tabular` as it was before `wasi:nn`, kept for the benchmark's comparison of
//! in-guest and host inference (`cargo xtask bench`). Same requests, same answers.
//!
//! Input `data`: a float32 array of iris measurements, one row per flower (sepal length and
//! width, petal length and width, in cm). `Results`: every output of the model by name, for
//! skl2onnx's classifiers `label` (the class per row) and `probabilities` (one
//! probability per class and row).
//!
//! Two model layouts (see `model/train.py`, which makes both):
//! - single model: `model.onnx` directly in the model folder;
//! - multi-model: `NAME/VERSION/model.onnx`; a request picks one with
//!   `"GlobalParameters": {"model": NAME, "version": VERSION}` (resolved with
//!   `get_model_path`), and without `GlobalParameters` gets an error naming the choices.
//!
//! Every model is parsed and optimised once, in `init`.

use std::path::{Path, PathBuf};

use onnx_plan::{OnnxModel, Tensor, f32_tensor, to_json};
use scorehost_guest::model::{get_model_path, model_dir};
use scorehost_guest::{
    Dtype, Elements, EntryScript, Inputs, Param, RunError, Sample, Schema, Value, json,
};
use serde_json::Map;

/// The model file's name in its folder.
const MODEL_FILE: &str = "model.onnx";

enum OnnxTabular {
    /// `model.onnx` in the model folder.
    Single(OnnxModel),
    /// Every `NAME/VERSION/model.onnx`, with the folder `get_model_path` gives for it.
    Multi(Vec<(PathBuf, OnnxModel)>),
}

impl EntryScript for OnnxTabular {
    fn init() -> Result<Self, String> {
        let dir = model_dir();
        let single = dir.join(MODEL_FILE);
        if single.exists() {
            return OnnxModel::load(&single).map(OnnxTabular::Single);
        }
        let mut models = Vec::new();
        for (name, version) in model_versions(&dir)? {
            let folder = get_model_path(&name, Some(&version))?;
            models.push((folder.clone(), OnnxModel::load(&folder.join(MODEL_FILE))?));
        }
        if models.is_empty() {
            return Err(format!(
                "no {MODEL_FILE} in the model folder, nor in any NAME/VERSION/ folder below it"
            ));
        }
        Ok(OnnxTabular::Multi(models))
    }

    fn schema() -> Option<Schema> {
        Some(
            Schema::new()
                .input(
                    "data",
                    Sample::matrix(&[[5.1f32, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]),
                )
                .optional_global_parameters(Sample::json(json!({"model": "iris", "version": "1"})))
                .output(json!({"Results": {
                    "label": [0, 2],
                    "probabilities": [[0.98, 0.02, 0.0], [0.0, 0.02, 0.98]],
                }})),
        )
    }

    fn run(&mut self, inputs: Inputs, global: Option<Param>) -> Result<Value, RunError> {
        let data = float32_tensor(inputs.require("data")?)?;
        let model = match self {
            OnnxTabular::Single(model) => model,
            OnnxTabular::Multi(models) => choose(models, global.as_ref())?,
        };
        let outputs = model.run(vec![data]).map_err(RunError::failed)?;
        let mut results = Map::new();
        for (name, tensor) in model.output_names().iter().zip(&outputs) {
            results.insert(name.clone(), to_json(tensor).map_err(RunError::failed)?);
        }
        Ok(json!({ "Results": results }))
    }
}

/// The `(NAME, VERSION)` pairs of a multi-model folder that hold a model file, sorted.
fn model_versions(dir: &Path) -> Result<Vec<(String, String)>, String> {
    let subfolders = |dir: &Path| -> Result<Vec<String>, String> {
        let entries =
            std::fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
        let mut names: Vec<String> = entries
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        names.sort();
        Ok(names)
    };
    let mut pairs = Vec::new();
    for name in subfolders(dir)? {
        for version in subfolders(&dir.join(&name))? {
            if dir.join(&name).join(&version).join(MODEL_FILE).exists() {
                pairs.push((name.clone(), version));
            }
        }
    }
    Ok(pairs)
}

/// The model a multi-model request names in its `GlobalParameters`.
fn choose<'m>(
    models: &'m [(PathBuf, OnnxModel)],
    global: Option<&Param>,
) -> Result<&'m OnnxModel, RunError> {
    let choices = || {
        let names: Vec<String> = models
            .iter()
            .filter_map(|(folder, _)| {
                let version = folder.file_name()?.to_str()?;
                let name = folder.parent()?.file_name()?.to_str()?;
                Some(format!("{name} {version}"))
            })
            .collect();
        names.join(", ")
    };
    let Some(Param::Json(global)) = global else {
        return Err(RunError::bad_input(format!(
            "this deployment serves several models: choose one with \
             \"GlobalParameters\": {{\"model\": NAME, \"version\": VERSION}} ({})",
            choices()
        )));
    };
    // The host has checked both are strings (the schema's sample says so).
    let name = global["model"].as_str().unwrap_or_default();
    let version = global["version"].as_str().unwrap_or_default();
    let folder = get_model_path(name, Some(version)).map_err(RunError::bad_input)?;
    models
        .iter()
        .find(|(f, _)| *f == folder)
        .map(|(_, model)| model)
        .ok_or_else(|| {
            RunError::bad_input(format!(
                "model {name} version {version} is not an ONNX model here ({})",
                choices()
            ))
        })
}

/// The input as tract's tensor. The host has checked it against the sample: float32 with four
/// columns.
fn float32_tensor(param: &Param) -> Result<Tensor, RunError> {
    let Param::Tensor(t) = param else {
        return Err(RunError::bad_input("'data' must be an array of numbers"));
    };
    let (Dtype::Float32, Elements::Bytes(bytes)) = (t.dtype, &t.elements) else {
        return Err(RunError::bad_input("'data' must hold float32 numbers"));
    };
    f32_tensor(&t.shape, bytes).map_err(|e| RunError::bad_input(format!("'data': {e}")))
}

scorehost_guest::export_entry_script!(OnnxTabular);
