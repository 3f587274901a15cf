//! A scikit-learn classifier exported to ONNX (skl2onnx), run by the host's inference engine
//! through `wasi:nn` (`scorehost_guest::nn`): the guest holds no model and no ML runtime.
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
//! The host parsed and optimised every model once, when the deployment loaded; `init` only
//! takes handles to them.

use std::path::{Path, PathBuf};

use scorehost_guest::model::{get_model_path, model_dir};
use scorehost_guest::nn::{Model, NnTensor};
use scorehost_guest::{EntryScript, Inputs, Param, RunError, Sample, Schema, Value, json};
use serde_json::Map;

/// The model file's name in its folder.
const MODEL_FILE: &str = "model.onnx";

enum OnnxTabular {
    /// `model.onnx` in the model folder.
    Single(Model),
    /// Every `NAME/VERSION/model.onnx`, with the folder `get_model_path` gives for it.
    Multi(Vec<(PathBuf, Model)>),
}

impl EntryScript for OnnxTabular {
    fn init() -> Result<Self, String> {
        let dir = model_dir();
        if dir.join(MODEL_FILE).exists() {
            return Ok(OnnxTabular::Single(Model::load(MODEL_FILE)?));
        }
        let mut models = Vec::new();
        for (name, version) in model_versions(&dir)? {
            let folder = get_model_path(&name, Some(&version))?;
            models.push((folder, Model::load(&format!("{name}/{version}"))?));
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
        let Param::Tensor(data) = inputs.require("data")? else {
            return Err(RunError::bad_input("'data' must be an array of numbers"));
        };
        let model = match self {
            OnnxTabular::Single(model) => model,
            OnnxTabular::Multi(models) => choose(models, global.as_ref())?,
        };
        // The host has checked `data` against the sample (float32, four columns): its bytes go
        // to the model as they are.
        let input = NnTensor::from_tensor(data)?;
        let input_name = &model.inputs()[0].name;
        let mut outputs = model.run(&[(input_name, &input)])?;
        let mut results = Map::new();
        for output in model.outputs() {
            if let Some(tensor) = outputs.remove(&output.name) {
                results.insert(output.name.clone(), tensor.to_json()?);
            }
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
    models: &'m [(PathBuf, Model)],
    global: Option<&Param>,
) -> Result<&'m Model, RunError> {
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

scorehost_guest::export_entry_script!(OnnxTabular);
