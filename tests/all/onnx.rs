//! ONNX models run by the host's engine through `wasi:nn` (`onnx_tabular`, `onnx_image`, and
//! the test plugin `nn_probe`, which makes any `wasi:nn` call a request describes), checked
//! against onnxruntime's outputs for the same inputs.
//!
//! The models and onnxruntime's answers come from the scripts beside the plugins
//! (`plugins/onnx_*/model/train.py`), `tests/onnx/nn_models.py` and `tests/onnx/skl_models.py`
//! (scikit-learn's answers, for `onnx_backends.rs`), run once per test process in a venv under
//! `target/`.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use hyper::{Method, StatusCode};
use scorehost::Registry;
use serde_json::{Value, json};

use scorehost::{DeploymentSettings, Limits};

use crate::support::{TestResponse, TestServer, multipart, repo, runtime, settings, upload, venv};

/// How far scorehost's numbers may be from onnxruntime's.
const TOLERANCE: f64 = 1e-5;

/// `target/onnx-models`, made by the training scripts: `tabular/{single,multi}`, `image` and
/// `nn/`, each with onnxruntime's `expected.json`, and `skl/` with scikit-learn's.
pub(crate) fn models() -> &'static Path {
    static MODELS: OnceLock<PathBuf> = OnceLock::new();
    MODELS.get_or_init(|| {
        let root = repo();
        let python = onnx_venv();
        let out = root.join("target/onnx-models");
        for (script, folder) in [
            ("plugins/onnx_tabular/model/train.py", "tabular"),
            ("plugins/onnx_image/model/train.py", "image"),
            ("tests/onnx/nn_models.py", "nn"),
            ("tests/onnx/skl_models.py", "skl"),
        ] {
            let status = std::process::Command::new(&python)
                .arg(root.join(script))
                .arg(out.join(folder))
                .status()
                .unwrap();
            assert!(status.success(), "{script} failed");
        }
        out
    })
}

/// The Python of `target/onnx-venv`, with `plugins/onnx_requirements.txt` installed.
fn onnx_venv() -> PathBuf {
    venv("onnx-venv", &repo().join("plugins/onnx_requirements.txt"))
}

pub(crate) fn expected(folder: &str) -> Value {
    let path = models().join(folder).join("expected.json");
    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
}

/// Asserts two JSON values have the same shape and integers, and floats within [`TOLERANCE`].
pub(crate) fn assert_close(actual: &Value, expected: &Value, at: &str) {
    match (actual, expected) {
        (Value::Array(a), Value::Array(e)) => {
            assert_eq!(a.len(), e.len(), "length at {at}");
            for (i, (a, e)) in a.iter().zip(e).enumerate() {
                assert_close(a, e, &format!("{at}[{i}]"));
            }
        }
        (Value::Object(a), Value::Object(e)) => {
            assert_eq!(
                a.keys().collect::<Vec<_>>(),
                e.keys().collect::<Vec<_>>(),
                "keys at {at}"
            );
            for (key, e) in e {
                assert_close(&a[key], e, &format!("{at}.{key}"));
            }
        }
        (Value::Number(a), Value::Number(e)) if e.is_f64() => {
            let (a, e) = (a.as_f64().unwrap(), e.as_f64().unwrap());
            assert!((a - e).abs() <= TOLERANCE, "{at}: {a}, expected {e}");
        }
        _ => assert_eq!(actual, expected, "at {at}"),
    }
}

#[tokio::test]
async fn onnx_tabular_predictions_equal_onnxruntime() {
    let expected = expected("tabular");
    let server =
        TestServer::start_with(settings("onnx_tabular", &models().join("tabular/single"))).await;

    // The whole held-out set in one request, then one row per request.
    let response = server
        .score(&json!({"Inputs": {"data": expected["inputs"]}}))
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    assert_close(
        &response.json(),
        &json!({"Results": expected["outputs"]["1"]}),
        "body",
    );
    let rows = expected["inputs"].as_array().unwrap();
    for (i, row) in rows.iter().enumerate().take(5) {
        let response = server.score(&json!({"Inputs": {"data": [row]}})).await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.text());
        let results = &response.json()["Results"];
        assert_eq!(results["label"][0], expected["outputs"]["1"]["label"][i]);
        assert_close(
            &results["probabilities"][0],
            &expected["outputs"]["1"]["probabilities"][i],
            &format!("row {i}"),
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn onnx_tabular_rejects_rows_of_the_wrong_width_before_the_model_runs() {
    let server =
        TestServer::start_with(settings("onnx_tabular", &models().join("tabular/single"))).await;
    let response = server
        .score(&json!({"Inputs": {"data": [[1.0, 2.0, 3.0]]}}))
        .await;
    assert_eq!(
        response.status,
        StatusCode::BAD_REQUEST,
        "{}",
        response.text()
    );
    assert!(
        response.message().contains("Inputs.data"),
        "{}",
        response.text()
    );
    server.stop().await;
}

#[tokio::test]
async fn onnx_tabular_picks_the_model_version_named_in_global_parameters() {
    let expected = expected("tabular");
    let server =
        TestServer::start_with(settings("onnx_tabular", &models().join("tabular/multi"))).await;
    for version in ["1", "2"] {
        let response = server
            .score(&json!({
                "Inputs": {"data": expected["inputs"]},
                "GlobalParameters": {"model": "iris", "version": version},
            }))
            .await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.text());
        assert_close(
            &response.json(),
            &json!({"Results": expected["outputs"][version]}),
            &format!("v{version}"),
        );
    }
    // The two versions are different models: they must not answer alike.
    assert_ne!(expected["outputs"]["1"], expected["outputs"]["2"]);

    let unnamed = server
        .score(&json!({"Inputs": {"data": expected["inputs"]}}))
        .await;
    assert_eq!(unnamed.status, StatusCode::BAD_REQUEST);
    assert!(
        unnamed.message().contains("iris 1, iris 2"),
        "{}",
        unnamed.text()
    );
    let unknown: TestResponse = server
        .score(&json!({
            "Inputs": {"data": expected["inputs"]},
            "GlobalParameters": {"model": "iris", "version": "7"},
        }))
        .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert!(
        !unknown.text().contains("/var/azureml-app"),
        "{}",
        unknown.text()
    );
    server.stop().await;
}

/// An 8×8 digit (64 grey levels, row by row) drawn 4× larger as a 32×32 PNG, so the plugin has
/// to shrink it.
fn digit_png(grey: &[Value]) -> Vec<u8> {
    let img = image::GrayImage::from_fn(32, 32, |x, y| {
        let level = grey[(y / 4 * 8 + x / 4) as usize].as_u64().unwrap();
        image::Luma([u8::try_from(level).unwrap()])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

#[tokio::test]
async fn onnx_image_classifies_held_out_digits_as_onnxruntime_does() {
    let expected = expected("image");
    let server = TestServer::start_with(settings("onnx_image", &models().join("image"))).await;
    let images = expected["images"].as_array().unwrap();
    let mut correct = 0;
    for (i, digit) in images.iter().enumerate() {
        let response = upload(
            &server,
            multipart("image", &digit_png(digit["grey"].as_array().unwrap())),
        )
        .await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.text());
        assert_eq!(response.header("content-type"), Some("application/json"));
        let predictions = response.json()["predictions"].as_array().unwrap().clone();
        assert_eq!(predictions.len(), 3);
        // onnxruntime's three likeliest digits, most likely first.
        let probabilities: Vec<f64> = digit["probabilities"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_f64().unwrap())
            .collect();
        let mut ranked: Vec<usize> = (0..probabilities.len()).collect();
        ranked.sort_by(|&a, &b| probabilities[b].total_cmp(&probabilities[a]));
        for (rank, prediction) in predictions.iter().enumerate() {
            let label = prediction["label"].as_u64().unwrap() as usize;
            let score = prediction["score"].as_f64().unwrap();
            assert!(
                (score - probabilities[label]).abs() <= TOLERANCE,
                "image {i}: digit {label} scored {score}, onnxruntime {}",
                probabilities[label]
            );
            assert!(
                (probabilities[label] - probabilities[ranked[rank]]).abs() <= TOLERANCE,
                "image {i}: rank {rank} is {label}, onnxruntime has {}",
                ranked[rank]
            );
        }
        if predictions[0]["label"] == digit["label"] {
            correct += 1;
        }
    }
    let accuracy = f64::from(correct) / images.len() as f64;
    let onnxruntime = expected["accuracy"].as_f64().unwrap();
    assert!(
        (accuracy - onnxruntime).abs() < 1e-9,
        "scorehost {accuracy} vs onnxruntime {onnxruntime}"
    );
    assert!(accuracy > 0.9, "a working digit classifier: {accuracy}");
    server.stop().await;
}

#[tokio::test]
async fn onnx_image_answers_400_json_for_a_missing_or_broken_image() {
    let server = TestServer::start_with(settings("onnx_image", &models().join("image"))).await;
    let missing = upload(&server, multipart("picture", b"whatever")).await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert_eq!(missing.message(), "missing multipart file 'image'");
    let broken = upload(&server, multipart("image", b"\x89PNG but not really")).await;
    assert_eq!(broken.status, StatusCode::BAD_REQUEST);
    assert_eq!(broken.header("content-type"), Some("application/json"));
    assert!(
        broken
            .message()
            .starts_with("'image' is not a PNG or JPEG image"),
        "{}",
        broken.text()
    );
    let get = server.request(Method::GET, "/score").await;
    assert_eq!(get.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(get.header("allow"), Some("POST"));
    server.stop().await;
}

#[tokio::test]
async fn a_corrupt_model_onnx_fails_the_deployment_load_naming_the_file() {
    let dir = repo().join("target/test-onnx-corrupt");
    std::fs::create_dir_all(&dir).unwrap();
    // The first bytes of a real model, cut short: protobuf that ends mid-field.
    let real = std::fs::read(models().join("image/model.onnx")).unwrap();
    std::fs::write(dir.join("model.onnx"), &real[..real.len() / 2]).unwrap();
    // The host parses the model folder's ONNX files before any instance starts, whatever the
    // entry script (here one that never touches a model).
    for plugin_name in ["onnx_tabular", "nn_probe"] {
        let Err(error) = Registry::load(runtime(), vec![settings(plugin_name, &dir)]).await else {
            panic!("{plugin_name} loaded a corrupt model");
        };
        let message = format!("{error:#}");
        assert!(
            message.contains(&format!("deployment '{plugin_name}'"))
                && message.contains(&format!(
                    "cannot load the ONNX model {}",
                    dir.join("model.onnx").display()
                )),
            "{message}"
        );
    }
}

#[tokio::test]
async fn a_missing_model_fails_init_clearly() {
    let dir = repo().join("target/test-onnx-missing");
    std::fs::create_dir_all(&dir).unwrap();
    let Err(error) = Registry::load(runtime(), vec![settings("onnx_tabular", &dir)]).await else {
        panic!("onnx_tabular loaded without a model");
    };
    let message = format!("{error:#}");
    assert!(
        message.contains("init() failed") && message.contains("no model.onnx in the model folder"),
        "{message}"
    );
}

/// `nn_probe` serving `target/onnx-models/nn` (`dtypes/`, `slow/`), with `limits`.
pub(crate) async fn probe(limits: Limits) -> TestServer {
    TestServer::start_with(DeploymentSettings {
        limits,
        ..settings("nn_probe", &models().join("nn"))
    })
    .await
}

/// The `nn_probe` request that feeds the dtypes model the inputs of its `expected.json`.
pub(crate) fn dtypes_request(model: &str) -> Value {
    let inputs = &expected("nn/dtypes")["inputs"];
    let tensor = |name: &str, ty: &str, dims: Value| {
        let data: Vec<Value> = match &inputs[name] {
            Value::Array(rows) if rows.iter().all(Value::is_array) => rows
                .iter()
                .flat_map(|r| r.as_array().unwrap().clone())
                .collect(),
            Value::Array(values) => values
                .iter()
                .map(|v| {
                    v.as_bool()
                        .map_or_else(|| v.clone(), |b| json!(u8::from(b)))
                })
                .collect(),
            other => panic!("{other}"),
        };
        json!({"name": name, "type": ty, "dims": dims, "data": data})
    };
    json!({"model": model, "inputs": [
        tensor("f64", "FP64", json!([3, 2])),
        tensor("i64", "I64", json!([3])),
        tensor("i32", "I32", json!([3])),
        tensor("u8", "U8", json!([3])),
        tensor("flag", "U8", json!([3])),
    ]})
}

#[tokio::test]
async fn wasi_nn_runs_every_dtype_and_several_inputs_and_outputs_as_onnxruntime_does() {
    runs_every_dtype(Limits::default()).await;
}

/// The dtypes model answers as onnxruntime does, and is described as onnxruntime describes it,
/// on the backend `limits` choose.
pub(crate) async fn runs_every_dtype(limits: Limits) {
    let expected = expected("nn/dtypes");
    let server = probe(limits).await;
    // The folder, the file, and the file under $AZUREML_MODEL_DIR all name the same model.
    for name in [
        "dtypes",
        "dtypes/model.onnx",
        "/var/azureml-app/azureml-models/dtypes/model.onnx",
    ] {
        let response = server.score(&dtypes_request(name)).await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.text());
        let body = response.json();
        let outputs = &body["outputs"];
        for (output, want) in expected["outputs"].as_object().unwrap() {
            let want = match output.as_str() {
                // bool travels as U8 0/1.
                "flag_out" => json!(
                    want.as_array()
                        .unwrap()
                        .iter()
                        .map(|b| u8::from(b.as_bool().unwrap()))
                        .collect::<Vec<_>>()
                ),
                _ => want.clone(),
            };
            assert_eq!(outputs[output]["data"], want, "{output} ({name})");
        }
        assert_eq!(outputs["f64_out"]["type"], "TensorType::Fp64");
        assert_eq!(outputs["f64_out"]["dims"], json!([3, 2]));
        assert_eq!(outputs["i64_out"]["type"], "TensorType::I64");
        assert_eq!(outputs["i32_out"]["type"], "TensorType::I32");
        assert_eq!(outputs["flag_out"]["type"], "TensorType::U8");
        // nn-info describes the model as onnxruntime names its types; the batch is open.
        assert_eq!(
            body["inputs"],
            json!([
                {"name": "f64", "type": "double", "shape": [null, 2]},
                {"name": "i64", "type": "int64", "shape": [null]},
                {"name": "i32", "type": "int32", "shape": [null]},
                {"name": "u8", "type": "uint8", "shape": [null]},
                {"name": "flag", "type": "bool", "shape": [null]},
            ])
        );
        assert_eq!(body["outputs_described"][4]["type"], "bool");
    }
    server.stop().await;
}

/// `dtypes_request("dtypes")` changed by `edit`.
pub(crate) fn dtypes_request_with(edit: &dyn Fn(&mut Value)) -> Value {
    let mut request = dtypes_request("dtypes");
    edit(&mut request);
    request
}

/// Requests whose inputs do not fit the dtypes model, each with the start of the host's
/// `InvalidArgument` message.
pub(crate) fn misfit_requests() -> Vec<(Value, &'static str)> {
    let with = dtypes_request_with;
    vec![
        (
            with(&|r| r["inputs"][0]["type"] = json!("FP32")),
            "input 'f64': expected FP64 (double), got FP32",
        ),
        (
            with(&|r| {
                r["inputs"][0]["dims"] = json!([2, 3]);
            }),
            "input 'f64': expected shape [N, 2], got [2, 3]",
        ),
        (
            with(&|r| r["inputs"][1]["dims"] = json!([4])),
            "input 'i64': 24 bytes of data for shape [4] of I64 (expected 32)",
        ),
        (
            with(&|r| {
                r["inputs"].as_array_mut().unwrap().remove(2);
            }),
            "input 'i32': missing (the model needs int32 [N])",
        ),
        (
            with(&|r| r["inputs"][4]["data"] = json!([1, 2, 0])),
            "input 'flag': a bool element is 2; use 0 or 1",
        ),
        (
            with(&|r| r["inputs"][3]["name"] = json!("nope")),
            "input 'nope': the model has no such input",
        ),
    ]
}

#[tokio::test]
async fn inputs_that_do_not_fit_the_model_are_invalid_argument_naming_the_input() {
    let server = probe(Limits::default()).await;
    let with = dtypes_request_with;
    for (request, message) in misfit_requests() {
        let response = server.score(&request).await;
        assert_eq!(
            response.status,
            StatusCode::BAD_REQUEST,
            "{}",
            response.text()
        );
        let body = response.json();
        assert_eq!(body["code"], "ErrorCode::InvalidArgument");
        assert!(
            body["message"].as_str().unwrap().starts_with(message),
            "{} does not start with {message}",
            body["message"]
        );
    }
    // Half-precision tensors are refused, not mistaken for bytes.
    let half = server
        .score(&with(&|r| r["inputs"][0]["type"] = json!("FP16")))
        .await;
    assert_eq!(
        half.json()["code"],
        "ErrorCode::UnsupportedOperation",
        "{}",
        half.text()
    );
    // An unknown model lists the ones the deployment has, never a host path.
    let unknown = server.score(&json!({"model": "nope", "inputs": []})).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{}", unknown.text());
    assert!(
        unknown
            .text()
            .contains("dtypes/model.onnx, slow/model.onnx")
            && !unknown.text().contains(&*repo().to_string_lossy()),
        "{}",
        unknown.text()
    );
    // The instance is fine after all of that.
    let fine = server.score(&dtypes_request("dtypes")).await;
    assert_eq!(fine.status, StatusCode::OK, "{}", fine.text());
    server.stop().await;
}

#[tokio::test]
async fn loading_model_bytes_is_refused_unless_the_deployment_allows_it() {
    let request = json!({"load_bytes_of": "dtypes/model.onnx"});
    let server = probe(Limits::default()).await;
    let refused = server.score(&request).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text());
    assert_eq!(refused.json()["code"], "ErrorCode::Security");
    server.stop().await;

    let server = probe(Limits {
        nn_load_bytes: true,
        ..Limits::default()
    })
    .await;
    let loaded = server.score(&request).await;
    assert_eq!(loaded.status, StatusCode::OK, "{}", loaded.text());
    // Bytes that are not a model are the guest's mistake, not the host's.
    let garbage = server
        .score(&json!({"load_bytes_of": "dtypes/expected.json"}))
        .await;
    assert_eq!(
        garbage.status,
        StatusCode::BAD_REQUEST,
        "{}",
        garbage.text()
    );
    server.stop().await;
}

#[tokio::test]
async fn inference_past_the_timeout_gets_504_and_the_deployment_keeps_serving() {
    times_out_and_keeps_serving(Limits::default()).await;
}

/// A run of the slow model past a 300 ms budget answers 504, and the next request is served,
/// on the backend `limits` choose.
pub(crate) async fn times_out_and_keeps_serving(limits: Limits) {
    let server = probe(Limits {
        timeout: std::time::Duration::from_millis(300),
        instances: 1,
        ..limits
    })
    .await;
    // Seconds of matrix products on one core.
    let rows = 1024;
    let slow = json!({"model": "slow", "inputs": [{
        "name": "x", "type": "FP32", "dims": [rows, 256], "data": vec![0.5; rows * 256],
    }]});
    let response = server.score(&slow).await;
    assert_eq!(
        response.status,
        StatusCode::GATEWAY_TIMEOUT,
        "{}",
        response.text()
    );
    // The instance was replaced; the next request is served.
    let fine = server.score(&dtypes_request("dtypes")).await;
    assert_eq!(fine.status, StatusCode::OK, "{}", fine.text());
    server.stop().await;
}
