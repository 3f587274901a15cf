//! What the Python and JavaScript plugin builds share: each `plugins/LANGUAGE/NAME/` folder
//! becomes `target/plugins/LANGUAGE/NAME.wasm`, rebuilt only when it is older than the folder,
//! the SDK or the WIT (a componentize build takes several seconds and is not byte-for-byte
//! reproducible, so rebuilding needlessly would also force the host to recompile).

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::SystemTime;

use crate::repo_root;

/// Builds every out-of-date plugin of `plugins/LANGUAGE/` with `command(plugin_folder,
/// output)`, side by side (each build is mostly single-threaded), and returns the folder
/// holding the components. `sdk_inputs` are the files and folders every build depends on.
pub(crate) fn build_script_plugins(
    language: &str,
    sdk_inputs: &[PathBuf],
    command: impl Fn(&Path, &Path) -> Command,
) -> io::Result<PathBuf> {
    let root = repo_root();
    let out_dir = root.join("target").join("plugins").join(language);
    std::fs::create_dir_all(&out_dir)?;
    let mut builds: Vec<(PathBuf, Child)> = Vec::new();
    for plugin in subfolders(&root.join("plugins").join(language))? {
        let name = plugin.file_name().unwrap_or_default().to_string_lossy();
        let output = out_dir.join(format!("{name}.wasm"));
        let mut inputs = vec![plugin.clone()];
        inputs.extend(sdk_inputs.iter().cloned());
        if is_fresh(&output, &inputs)? {
            continue;
        }
        let child = command(&plugin, &output).spawn()?;
        builds.push((plugin, child));
    }
    let mut failed = Vec::new();
    for (plugin, mut child) in builds {
        if !child.wait()?.success() {
            failed.push(plugin.display().to_string());
        }
    }
    if !failed.is_empty() {
        return Err(io::Error::other(format!(
            "building the {language} plugins failed for {}",
            failed.join(", ")
        )));
    }
    Ok(out_dir)
}

/// Whether `output` exists and is newer than every file under `inputs`.
pub(crate) fn is_fresh(output: &Path, inputs: &[PathBuf]) -> io::Result<bool> {
    let Ok(built) = output.metadata().and_then(|m| m.modified()) else {
        return Ok(false);
    };
    let mut newest = SystemTime::UNIX_EPOCH;
    for input in inputs {
        newest = newest.max(newest_mtime(input)?);
    }
    Ok(built > newest)
}

/// The folders directly inside `dir`, sorted.
fn subfolders(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut folders = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            folders.push(path);
        }
    }
    folders.sort();
    Ok(folders)
}

/// The newest modification time of a file, or of any file below a folder (skipping what
/// the language tools write there themselves).
fn newest_mtime(path: &Path) -> io::Result<SystemTime> {
    let meta = path.metadata()?;
    if !meta.is_dir() {
        return meta.modified();
    }
    let mut newest = meta.modified()?;
    for entry in std::fs::read_dir(path)? {
        let child = entry?.path();
        if child
            .file_name()
            .is_some_and(|n| n == "__pycache__" || n == "node_modules")
        {
            continue;
        }
        newest = newest.max(newest_mtime(&child)?);
    }
    Ok(newest)
}
