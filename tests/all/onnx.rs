//! ONNX models scored by tract inside the sandbox (`onnx_tabular`, `onnx_image`), checked
//! against onnxruntime's outputs for the same inputs.
//!
//! The models and onnxruntime's answers come from the scripts beside the plugins
//! (`plugins/onnx_*/model/train.py`), run once per test process in a venv under `target/`.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use hyper::{Method, StatusCode};
use scorehost::Registry;
use serde_json::{Value, json};

use crate::support::{TestResponse, TestServer, multipart, repo, runtime, settings, upload, venv};

/// How far scorehost's numbers may be from onnxruntime's.
const TOLERANCE: f64 = 1e-5;

/// `target/onnx-models`, made by the training scripts: `tabular/{single,multi}` and `image`,
/// each with onnxruntime's `expected.json`.
pub(crate) fn models() -> &'static Path {
    static MODELS: OnceLock<PathBuf> = OnceLock::new();
    MODELS.get_or_init(|| {
        let root = repo();
        let python = onnx_venv();
        let out = root.join("target/onnx-models");
        for (script, folder) in [
            ("plugins/onnx_tabular/model/train.py", "tabular"),
            ("plugins/onnx_image/model/train.py", "image"),
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
fn assert_close(actual: &Value, expected: &Value, at: &str) {
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
            assert!((a - e).abs() <= TOLERANCE, "{at}: {a} vs onnxruntime's {e}");
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
async fn a_corrupt_model_onnx_fails_init_and_the_deployment_does_not_load() {
    let dir = repo().join("target/test-onnx-corrupt");
    std::fs::create_dir_all(&dir).unwrap();
    // The first bytes of a real model, cut short: protobuf that ends mid-field.
    let real = std::fs::read(models().join("image/model.onnx")).unwrap();
    std::fs::write(dir.join("model.onnx"), &real[..real.len() / 2]).unwrap();
    for plugin_name in ["onnx_tabular", "onnx_image"] {
        let Err(error) = Registry::load(runtime(), vec![settings(plugin_name, &dir)]).await else {
            panic!("{plugin_name} loaded a corrupt model");
        };
        let message = format!("{error:#}");
        assert!(
            message.contains(&format!("deployment '{plugin_name}'"))
                && message.contains(
                    "init() failed: cannot load ONNX model /var/azureml-app/azureml-models/model.onnx"
                ),
            "{message}"
        );
    }
}
