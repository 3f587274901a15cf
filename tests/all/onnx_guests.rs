//! ONNX models run by the host's engine (`wasi:nn`) from Python and JavaScript entry scripts
//! written against onnxruntime's APIs (`scorehost.onnxruntime`,
//! `scorehost-guest/onnxruntime`), checked against onnxruntime's outputs on the machine's
//! CPython: the iris classifier twins (`python/onnx_tabular`, `js/onnx_tabular`) and the
//! convolutional image classifier twins (`onnx_cnn`, `python/onnx_cnn`, `js/onnx_cnn`, and
//! `onnx_cnn_tract`, which runs the model with tract inside the guest).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use hyper::StatusCode;
use scorehost::Registry;
use serde_json::{Value, json};

use crate::onnx::{expected, models};
use crate::support::{TestServer, repo, runtime, settings, twins, venv};

/// How far scorehost's numbers may be from onnxruntime's.
const TOLERANCE: f64 = 1e-5;

/// `target/onnx-models/cnn`: the CNN and onnxruntime's answers, made by
/// `plugins/python/onnx_cnn/model/make.py` once per test process.
fn cnn_models() -> &'static Path {
    static CNN: OnceLock<PathBuf> = OnceLock::new();
    CNN.get_or_init(|| {
        let root = repo();
        let out = root.join("target/onnx-models/cnn");
        let python = venv("onnx-venv", &root.join("plugins/onnx_requirements.txt"));
        let status = std::process::Command::new(python)
            .arg(root.join("plugins/python/onnx_cnn/model/make.py"))
            .arg(&out)
            .status()
            .unwrap();
        assert!(status.success(), "make.py failed");
        out
    })
}

/// Asserts `actual` is a list of rows of floats within [`TOLERANCE`] of `expected`'s.
fn assert_rows_close(actual: &Value, expected: &Value, what: &str) {
    let (actual, expected) = (actual.as_array().unwrap(), expected.as_array().unwrap());
    assert_eq!(actual.len(), expected.len(), "{what}: rows");
    for (r, (a, e)) in actual.iter().zip(expected).enumerate() {
        let (a, e) = (a.as_array().unwrap(), e.as_array().unwrap());
        assert_eq!(a.len(), e.len(), "{what}[{r}]: columns");
        for (c, (a, e)) in a.iter().zip(e).enumerate() {
            let (a, e) = (a.as_f64().unwrap(), e.as_f64().unwrap());
            assert!(
                (a - e).abs() <= TOLERANCE,
                "{what}[{r}][{c}]: {a} vs onnxruntime's {e}"
            );
        }
    }
}

async fn tabular_predictions_equal_onnxruntime(plugin: &str) {
    let expected = expected("tabular");
    let onnxruntime = &expected["outputs"]["1"];
    let server = TestServer::start_with(settings(plugin, &models().join("tabular/single"))).await;
    let response = server.score(&json!({"data": expected["inputs"]})).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    let results = &response.json()["Results"];
    assert_eq!(
        results.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["label", "probabilities"]
    );
    assert_eq!(results["label"], onnxruntime["label"]);
    assert_rows_close(
        &results["probabilities"],
        &onnxruntime["probabilities"],
        "probabilities",
    );
    // One row.
    let row = &expected["inputs"][3];
    let response = server.score(&json!({"data": [row]})).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    assert_eq!(
        response.json()["Results"]["label"][0],
        onnxruntime["label"][3]
    );
    server.stop().await;
}

twins!(tabular_predictions_equal_onnxruntime {
    python: "python/onnx_tabular",
    js: "js/onnx_tabular",
});

async fn tabular_rows_of_the_wrong_shape_are_400_naming_the_input(plugin: &str) {
    let server = TestServer::start_with(settings(plugin, &models().join("tabular/single"))).await;
    let narrow = server.score(&json!({"data": [[1.0, 2.0, 3.0]]})).await;
    assert_eq!(narrow.status, StatusCode::BAD_REQUEST, "{}", narrow.text());
    assert_eq!(
        narrow.message(),
        "Got invalid dimensions for input: X for the following indices index: 1 Got: 3 \
         Expected: 4 Please fix either the inputs or the model."
    );
    // A row of rows is rank 3.
    let deep = server
        .score(&json!({"data": [[[1.0, 2.0, 3.0, 4.0]]]}))
        .await;
    assert_eq!(deep.status, StatusCode::BAD_REQUEST, "{}", deep.text());
    assert!(
        deep.message()
            .starts_with("Invalid rank for input: X Got: 3 Expected: 2"),
        "{}",
        deep.text()
    );
    // The instance is still good.
    let good = server.score(&json!({"data": [[5.1, 3.5, 1.4, 0.2]]})).await;
    assert_eq!(good.status, StatusCode::OK, "{}", good.text());
    server.stop().await;
}

twins!(tabular_rows_of_the_wrong_shape_are_400_naming_the_input {
    python: "python/onnx_tabular",
    js: "js/onnx_tabular",
});

async fn a_missing_model_fails_the_load_naming_the_model(plugin: &str) {
    let empty = repo().join("target/test-onnx-guests-no-model");
    std::fs::create_dir_all(&empty).unwrap();
    let Err(error) = Registry::load(runtime(), vec![settings(plugin, &empty)]).await else {
        panic!("{plugin} loaded without a model");
    };
    let message = format!("{error:#}");
    assert!(
        message.contains("init() failed: ")
            && message
                .contains("Load model from /var/azureml-app/azureml-models/model.onnx failed: "),
        "{message}"
    );
}

twins!(a_missing_model_fails_the_load_naming_the_model {
    python: "python/onnx_tabular",
    js: "js/onnx_tabular",
});

async fn cnn_probabilities_equal_onnxruntime(plugin: &str) {
    let dir = cnn_models();
    let expected: Value =
        serde_json::from_slice(&std::fs::read(dir.join("expected.json")).unwrap()).unwrap();
    let images = expected["images"].as_array().unwrap();
    let probabilities = expected["probabilities"].as_array().unwrap();
    let server = TestServer::start_with(settings(plugin, dir)).await;

    // One image per request, then all of them as one batch.
    for (i, image) in images.iter().enumerate() {
        let response = server.score(&json!({"image": [image]})).await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.text());
        let body = response.json();
        assert_rows_close(
            &body["probabilities"],
            &json!([probabilities[i]]),
            &format!("image {i}"),
        );
        let best = probabilities[i]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_f64().unwrap())
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap()
            .0;
        assert_eq!(body["classes"], json!([best]), "image {i}");
    }
    let response = server.score(&json!({"image": images})).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    assert_rows_close(
        &response.json()["probabilities"],
        &expected["probabilities"],
        "batch",
    );

    // An image of the wrong size is refused before the model runs.
    let small = vec![vec![vec![0.5f32; 64]; 64]; 3];
    let response = server.score(&json!({"image": [small]})).await;
    assert_eq!(
        response.status,
        StatusCode::BAD_REQUEST,
        "{}",
        response.text()
    );
    assert!(response.message().contains("image"), "{}", response.text());
    server.stop().await;
}

twins!(cnn_probabilities_equal_onnxruntime {
    rust: "onnx_cnn",
    python: "python/onnx_cnn",
    js: "js/onnx_cnn",
    // The benchmark's in-guest row: the same script with tract compiled into the guest.
    rust_tract_in_the_guest: "onnx_cnn_tract",
});

#[test]
fn the_python_onnx_component_stays_under_25_mb() {
    // No inference engine in the guest: the model runs in the host.
    let component = crate::support::plugin("python/onnx_cnn");
    let size = std::fs::metadata(&component).unwrap().len();
    assert!(size < 25 * 1024 * 1024, "{size} bytes");
}

/// The inputs and outputs the SDKs read from the model files (they are what `get_inputs()`,
/// `get_outputs()`, `inputNames`... give) are onnxruntime's, for every example model.
#[test]
fn the_sdks_read_the_same_inputs_and_outputs_as_onnxruntime() {
    let root = repo();
    let files: Vec<PathBuf> = [
        models().join("tabular/single/model.onnx"),
        models().join("tabular/multi/iris/2/model.onnx"),
        models().join("image/model.onnx"),
        cnn_models().join("model.onnx"),
    ]
    .into();
    let python = venv("onnx-venv", &root.join("plugins/onnx_requirements.txt"));
    let run = |command: &mut std::process::Command| -> Value {
        let output = command.args(&files).output().unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).unwrap()
    };
    let onnxruntime = run(std::process::Command::new(&python).args([
        "-c",
        "import json, sys, onnxruntime as ort\n\
         sigs = []\n\
         for path in sys.argv[1:]:\n\
         \x20   s = ort.InferenceSession(path, providers=['CPUExecutionProvider'])\n\
         \x20   sigs.append([[[a.name, a.type, a.shape] for a in s.get_inputs()],\n\
         \x20                [[a.name, a.type, a.shape] for a in s.get_outputs()]])\n\
         print(json.dumps(sigs))",
    ]));
    let sdk_python = run(std::process::Command::new(&python)
        .env("PYTHONPATH", root.join("guest-sdk/python"))
        .args([
            "-c",
            "import json, sys\n\
             from scorehost._onnx_proto import graph_signature\n\
             sigs = []\n\
             for path in sys.argv[1:]:\n\
             \x20   i, o = graph_signature(open(path, 'rb').read())\n\
             \x20   sigs.append([[[a.name, a.type, a.shape] for a in i], [[a.name, a.type, a.shape] for a in o]])\n\
             print(json.dumps(sigs))",
        ]));
    let sdk_js = run(std::process::Command::new("node")
        .current_dir(root.join("guest-sdk/js"))
        .args([
            "--input-type=module",
            "-e",
            "import { readFileSync } from 'node:fs';\n\
             import { graphSignature } from './src/onnx.js';\n\
             const row = (a) => [a.name, a.type, a.shape];\n\
             console.log(JSON.stringify(process.argv.slice(1).map((path) => {\n\
             \x20 const { inputs, outputs } = graphSignature(new Uint8Array(readFileSync(path)));\n\
             \x20 return [inputs.map(row), outputs.map(row)];\n\
             })));",
        ]));
    assert_eq!(sdk_python, onnxruntime);
    assert_eq!(sdk_js, onnxruntime);
}
