//! Where the model files are: the deployment's model folder, mounted read-only.

use std::path::PathBuf;

use crate::wit::scorehost::plugin::host;

/// The model folder, `$AZUREML_MODEL_DIR` (the host always sets it).
///
/// Single-model layout: the model's files are directly inside. Multi-model layout: one
/// `NAME/VERSION/` folder per model; use [`get_model_path`] to pick one.
pub fn model_dir() -> PathBuf {
    std::env::var_os("AZUREML_MODEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/azureml-app/azureml-models"))
}

/// The folder of model `name` at `version` (the highest version when `None`), like Azure ML's
/// `Model.get_model_path`. Fails with a message when the model or version is not there or the
/// name is not a plain folder name.
pub fn get_model_path(name: &str, version: Option<&str>) -> Result<PathBuf, String> {
    host::get_model_path(name, version).map(PathBuf::from)
}
