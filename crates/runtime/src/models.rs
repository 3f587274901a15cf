//! The model folder as the guest sees it, and `get-model-path` resolution.
//!
//! The folder is scanned once when a deployment loads (models are mounted read-only and do not
//! change under a running deployment), so resolving a path on the request path touches no disk.

use std::collections::BTreeMap;
use std::io;
use std::path::Path;

/// Where the model folder appears inside the guest; `AZUREML_MODEL_DIR` points here. The same
/// prefix Azure ML uses for its model mounts.
pub const GUEST_MODEL_DIR: &str = "/var/azureml-app/azureml-models";

/// The `NAME/VERSION/` folders of a multi-model layout.
#[derive(Debug, Default)]
pub struct ModelIndex {
    versions: BTreeMap<String, Vec<String>>,
}

impl ModelIndex {
    /// Lists the two levels of folders under `dir`. Files are ignored: in the single-model
    /// layout the model's files sit directly in `dir` and there is nothing to index.
    pub fn scan(dir: &Path) -> io::Result<Self> {
        let mut versions = BTreeMap::new();
        for name in subfolders(dir)? {
            let found = subfolders(&dir.join(&name))?;
            versions.insert(name, found);
        }
        Ok(ModelIndex { versions })
    }

    /// The guest path of model `name` at `version`, or at its highest version when `None`
    /// (numeric order, as Azure ML numbers versions). Refuses anything that is not a plain
    /// folder name, so no `..` or absolute path can leave the model folder.
    pub fn resolve(&self, name: &str, version: Option<&str>) -> Result<String, String> {
        check_component("model name", name)?;
        if let Some(v) = version {
            check_component("model version", v)?;
        }
        let versions = self
            .versions
            .get(name)
            .ok_or_else(|| format!("model '{name}' is not in the model folder"))?;
        let chosen = match version {
            Some(v) if versions.iter().any(|have| have == v) => v,
            Some(v) => {
                return Err(format!(
                    "model '{name}' has no version '{v}' (found: {})",
                    versions.join(", ")
                ));
            }
            None => latest(versions).ok_or_else(|| format!("model '{name}' has no versions"))?,
        };
        Ok(format!("{GUEST_MODEL_DIR}/{name}/{chosen}"))
    }
}

/// The highest version: numbers compare as numbers and rank above any non-numeric name.
fn latest(versions: &[String]) -> Option<&str> {
    versions
        .iter()
        .max_by_key(|v| (v.parse::<u64>().ok(), v.as_str()))
        .map(String::as_str)
}

fn check_component(what: &str, value: &str) -> Result<(), String> {
    let plain =
        !value.is_empty() && value != "." && value != ".." && !value.contains(['/', '\\', '\0']);
    if plain {
        Ok(())
    } else {
        Err(format!("{what} {value:?} is not a plain folder name"))
    }
}

fn subfolders(dir: &Path) -> io::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir()
            && let Ok(name) = entry.file_name().into_string()
        {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index() -> ModelIndex {
        let mut versions = BTreeMap::new();
        versions.insert("first".to_owned(), vec!["1".to_owned()]);
        versions.insert(
            "second".to_owned(),
            vec!["1".to_owned(), "10".to_owned(), "2".to_owned()],
        );
        ModelIndex { versions }
    }

    #[test]
    fn latest_version_is_numerically_highest() {
        assert_eq!(
            index().resolve("second", None).as_deref(),
            Ok("/var/azureml-app/azureml-models/second/10")
        );
    }

    #[test]
    fn explicit_version_must_exist() {
        assert_eq!(
            index().resolve("second", Some("2")).as_deref(),
            Ok("/var/azureml-app/azureml-models/second/2")
        );
        assert!(index().resolve("second", Some("3")).is_err());
        assert!(index().resolve("third", None).is_err());
    }

    #[test]
    fn escapes_are_refused() {
        for (name, version) in [
            ("..", None),
            ("/etc", None),
            ("first/../..", None),
            ("", None),
            ("first", Some("..")),
            ("first", Some("/1")),
        ] {
            let err = index().resolve(name, version).unwrap_err();
            assert!(err.contains("not a plain folder name"), "{err}");
        }
    }
}
