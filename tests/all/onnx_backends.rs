//! The two engines behind `wasi:nn`, tract and onnxruntime, chosen per deployment
//! (`Limits::nn_backend`).
//!
//! Coverage: scikit-learn models converted with skl2onnx (`tests/onnx/skl_models.py`: a random
//! forest regressor, gradient boosting with ZipMap, a scaler + logistic regression pipeline, a
//! one-hot encoder pipeline) answer through the Python guest `python/skl_onnx` on onnxruntime
//! what scikit-learn answers, and tract refuses them at load naming the operator it lacks.
//! Behaviour: the `nn_probe` checks of `onnx.rs` (every dtype, inputs that do not fit the
//! model, the timeout) on each backend explicitly, and the same status and error code from
//! both for every misfit.

use hyper::StatusCode;
use scorehost::{DeploymentSettings, Limits, NnBackend, Registry};
use serde_json::{Value, json};

use crate::onnx::{
    assert_close, dtypes_request, dtypes_request_with, expected, misfit_requests, models, probe,
};
use crate::support::{TestServer, runtime, settings};

/// The default limits on `backend`.
fn on(backend: NnBackend) -> Limits {
    Limits {
        nn_backend: backend,
        ..Limits::default()
    }
}

/// The skl2onnx models of `tests/onnx/skl_models.py`, each with the `ai.onnx.ml` operator
/// tract 0.23.9 has no translation for (the first one it meets in the graph).
const SKL_MODELS: [(&str, &str); 4] = [
    ("forest", "TreeEnsembleRegressor"),
    ("boosting", "ZipMap"),
    ("scaled", "Scaler"),
    ("onehot", "OneHotEncoder"),
];

/// `python/skl_onnx` serving `model_dir` on `backend`.
fn skl_settings(backend: NnBackend, model_dir: &std::path::Path) -> DeploymentSettings {
    DeploymentSettings {
        limits: on(backend),
        ..settings("python/skl_onnx", model_dir)
    }
}

#[tokio::test]
async fn skl2onnx_models_answer_on_onnxruntime_as_scikit_learn_does() {
    let skl = models().join("skl");
    let expected = expected("skl");
    let server = TestServer::start_with(skl_settings(NnBackend::Onnxruntime, &skl)).await;
    for (name, _) in SKL_MODELS {
        let model = &expected[name];
        // The held-out rows in one request: labels exactly, numbers within 1e-5; a ZipMap's
        // maps as [N, K] rows in the order of scikit-learn's classes_.
        let response = server
            .score(&json!({"model": name, "inputs": model["inputs"]}))
            .await;
        assert_eq!(
            response.status,
            StatusCode::OK,
            "{name}: {}",
            response.text()
        );
        assert_close(&response.json()["outputs"], &model["outputs"], name);

        // A batch of one, row by row.
        let rows = model["inputs"]["X"].as_array().unwrap();
        for (i, row) in rows.iter().enumerate().take(3) {
            let response = server
                .score(&json!({"model": name, "inputs": {"X": [row]}}))
                .await;
            assert_eq!(
                response.status,
                StatusCode::OK,
                "{name}: {}",
                response.text()
            );
            let outputs = response.json()["outputs"].clone();
            for (output, want) in model["outputs"].as_object().unwrap() {
                assert_close(
                    &outputs[output],
                    &json!([want[i]]),
                    &format!("{name} row {i}"),
                );
            }
        }

        // A row one column short is the caller's mistake, naming the input.
        let short: Vec<Value> = rows[0].as_array().unwrap()[1..].to_vec();
        let response = server
            .score(&json!({"model": name, "inputs": {"X": [short]}}))
            .await;
        assert_eq!(
            response.status,
            StatusCode::BAD_REQUEST,
            "{name}: {}",
            response.text()
        );
        assert!(response.text().contains("input: X"), "{}", response.text());
    }
    server.stop().await;
}

#[tokio::test]
async fn skl2onnx_models_are_refused_at_load_on_tract_naming_the_operator() {
    let skl = models().join("skl");
    let expected = expected("skl");
    for (name, operator) in SKL_MODELS {
        assert!(
            expected[name]["ml_operators"]
                .as_array()
                .unwrap()
                .contains(&json!(operator)),
            "{name} does not use {operator}: {}",
            expected[name]["ml_operators"]
        );
        let dir = skl.join(name);
        let Err(error) =
            Registry::load(runtime(), vec![skl_settings(NnBackend::Tract, &dir)]).await
        else {
            panic!("tract loaded {name}, which uses {operator}");
        };
        let message = format!("{error:#}");
        assert!(
            message.contains(&format!(
                "cannot load the ONNX model {}",
                dir.join("model.onnx").display()
            )) && message.contains(operator),
            "{name}: {message}"
        );
    }
}

/// One test per backend for a check of `onnx.rs`: `on_each_backend!(check)` makes
/// `check::tract` and `check::onnxruntime`, each calling `check(on(backend))`.
macro_rules! on_each_backend {
    ($check:ident) => {
        mod $check {
            use super::{NnBackend, on};

            #[tokio::test]
            async fn tract() {
                crate::onnx::$check(on(NnBackend::Tract)).await
            }

            #[tokio::test]
            async fn onnxruntime() {
                crate::onnx::$check(on(NnBackend::Onnxruntime)).await
            }
        }
    };
}

on_each_backend!(runs_every_dtype);
on_each_backend!(times_out_and_keeps_serving);

/// The `nn_probe` requests that `wasi:nn` refuses, each with a word of what is wrong.
fn refused_requests() -> Vec<(Value, String)> {
    let with = dtypes_request_with;
    let mut cases: Vec<(Value, String)> = misfit_requests()
        .into_iter()
        .map(|(request, message)| (request, message.to_owned()))
        .collect();
    cases.extend([
        (
            with(&|r| r["inputs"][0]["type"] = json!("FP16")),
            "half precision".to_owned(),
        ),
        (
            with(&|r| r["inputs"][0]["dims"] = json!([6])),
            "f64 of rank 1".to_owned(),
        ),
        (
            with(&|r| r["inputs"][0]["dims"] = json!([3, 2, 1])),
            "f64 of rank 3".to_owned(),
        ),
        (
            json!({"model": "nope", "inputs": []}),
            "an unknown model".to_owned(),
        ),
        (
            json!({"model": "dtypes", "inputs": []}),
            "no inputs".to_owned(),
        ),
    ]);
    cases
}

#[tokio::test]
async fn refused_inputs_get_the_same_status_and_error_code_on_both_backends() {
    assert_refused_alike(refused_requests()).await;
}

#[tokio::test]
async fn inputs_that_disagree_on_the_batch_size_are_refused_on_both_backends() {
    // `i64` is [N] with N = 2 while the other inputs have N = 3: each input fits the model on
    // its own, but the model's one N cannot be both.
    let request = dtypes_request_with(&|r| {
        r["inputs"][1]["dims"] = json!([2]);
        r["inputs"][1]["data"] = json!([1, 2]);
    });
    // The host binds the model's named dimension across the inputs: 400 `invalid-argument`
    // with the same message on both, before either engine runs.
    assert_refused_alike(vec![(
        request,
        "input 'i64': dimension N is 2 here but 3 in input 'f64'".to_owned(),
    )])
    .await;
}

/// Sends each request to `nn_probe` on tract and on onnxruntime: both refuse it, with the same
/// status and error code, and the host's message for an input that does not fit; the messages
/// that differ (worded by the backends) are printed. Both serve the dtypes model alike after.
async fn assert_refused_alike(requests: Vec<(Value, String)>) {
    let tract = probe(on(NnBackend::Tract)).await;
    let onnxruntime = probe(on(NnBackend::Onnxruntime)).await;
    for (request, what) in requests {
        let (t, o) = (
            tract.score(&request).await,
            onnxruntime.score(&request).await,
        );
        assert_ne!(t.status, StatusCode::OK, "tract ran {what}: {}", t.text());
        assert_ne!(
            o.status,
            StatusCode::OK,
            "onnxruntime ran {what}: {}",
            o.text()
        );
        assert_eq!(
            (t.status, t.json()["code"].clone()),
            (o.status, o.json()["code"].clone()),
            "{what}: tract {} vs onnxruntime {}",
            t.text(),
            o.text()
        );
        let (t, o) = (t.message(), o.message());
        // The host checks a tensor against the model before either backend sees it: its
        // message (the start of which `misfit_requests` gives) is the same on both.
        if what.starts_with("input '") {
            assert!(o.starts_with(&what), "onnxruntime: {o}");
        }
        if t != o {
            eprintln!("{what}:\n  tract:       {t}\n  onnxruntime: {o}");
        }
    }
    // Both still serve, and answer alike.
    let (t, o) = (
        tract.score(&dtypes_request("dtypes")).await,
        onnxruntime.score(&dtypes_request("dtypes")).await,
    );
    assert_eq!(t.status, StatusCode::OK, "{}", t.text());
    assert_eq!(t.json(), o.json());
    tract.stop().await;
    onnxruntime.stop().await;
}
