//! Scoring through `/score`: the ridge example, values passed to the guest, init once.

use std::collections::HashSet;

use hyper::{Method, StatusCode};
use scorehost::Limits;
use serde_json::{Value, json};

use crate::support::{TestServer, ridge_model_dir};

/// The seed's sample input.
fn seed_input() -> Value {
    json!([
        [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
        [10, 9, 8, 7, 6, 5, 4, 3, 2, 1]
    ])
}

/// Predictions computed here from the shipped coefficients.
fn expected_ridge(rows: &Value) -> Vec<f64> {
    let model: Value = serde_json::from_str(
        &std::fs::read_to_string(ridge_model_dir().join("sklearn_regression_model.json")).unwrap(),
    )
    .unwrap();
    let coef: Vec<f64> = serde_json::from_value(model["coef"].clone()).unwrap();
    let intercept = model["intercept"].as_f64().unwrap();
    rows.as_array()
        .unwrap()
        .iter()
        .map(|row| {
            let row = row.as_array().unwrap();
            intercept
                + row
                    .iter()
                    .zip(&coef)
                    .map(|(x, c)| x.as_f64().unwrap() * c)
                    .sum::<f64>()
        })
        .collect()
}

fn assert_close(got: &Value, want: &[f64]) {
    let got: Vec<f64> = serde_json::from_value(got.clone()).unwrap();
    assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
    for (g, w) in got.iter().zip(want) {
        assert!(
            (g - w).abs() <= 1e-9 * w.abs().max(1.0),
            "{got:?} vs {want:?}"
        );
    }
}

#[tokio::test]
async fn ridge_scores_the_seed_sample_from_the_shipped_coefficients() {
    let server = TestServer::with_defaults("ridge").await;
    let response = server
        .score(&json!({"Inputs": {"input1": seed_input()}, "GlobalParameters": 1.0}))
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(response.header("x-ms-run-function-failed"), Some("False"));
    let exec_ms: f64 = response
        .header("x-ms-run-fn-exec-ms")
        .unwrap()
        .parse()
        .unwrap();
    assert!(exec_ms >= 0.0);
    let want = expected_ridge(&seed_input());
    // Sanity check on the fixture itself: sklearn's own predictions for this model.
    assert!((want[0] - 5430.917515226917).abs() < 1e-6, "{want:?}");
    assert_close(&response.json(), &want);
    server.stop().await;
}

#[tokio::test]
async fn get_with_query_arguments_scores_like_post() {
    let server = TestServer::with_defaults("ridge").await;
    let inputs = json!({"input1": [[1, 1, 1, 1, 1, 1, 1, 1, 1, 1]]}).to_string();
    let query: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("Inputs", &inputs)
        .append_pair("GlobalParameters", "0.5")
        .finish();
    let response = server
        .request(Method::GET, &format!("/score?{query}"))
        .send()
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    assert_close(
        &response.json(),
        &expected_ridge(&json!([[1, 1, 1, 1, 1, 1, 1, 1, 1, 1]])),
    );

    let response = server.request(Method::GET, "/score").send().await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        response.message(),
        "A value is not provided for the 'Inputs' parameter."
    );
    server.stop().await;
}

#[tokio::test]
async fn wrong_feature_count_is_the_scripts_400() {
    let server = TestServer::with_defaults("ridge").await;
    let response = server
        .score(&json!({"Inputs": {"input1": [[1, 2, 3]]}}))
        .await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    assert_eq!(response.header("x-ms-run-function-failed"), Some("True"));
    assert_eq!(
        response.message(),
        "Inputs.input1 rows have 3 features, the model expects 10"
    );

    let response = server.score(&json!({"Inputs": {}})).await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        response.message(),
        "A value is not provided for the 'Inputs.input1' parameter."
    );
    server.stop().await;
}

#[tokio::test]
async fn init_runs_once_per_instance_not_per_request() {
    let limits = Limits {
        instances: 1,
        ..Limits::default()
    };
    let server = TestServer::start("echo", &ridge_model_dir(), limits).await;
    let mut instance = None;
    for n in 1..=5u64 {
        let response = server.score(&json!({"Inputs": {"n": n}})).await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.text());
        let body = response.json();
        assert_eq!(body["init_calls"], 1);
        assert_eq!(body["run_calls"], n);
        let id = body["instance"].as_str().unwrap().to_owned();
        assert_eq!(instance.get_or_insert_with(|| id.clone()), &id);
    }
    server.stop().await;

    // With two instances each still ran init exactly once, and no more than two exist.
    let limits = Limits {
        instances: 2,
        ..Limits::default()
    };
    let server = TestServer::start("echo", &ridge_model_dir(), limits).await;
    let mut seen = HashSet::new();
    let mut runs = 0;
    let mut requests = tokio::task::JoinSet::new();
    for n in 0..8 {
        requests.spawn(server.score_request(&json!({"Inputs": {"n": n}})).send());
    }
    for response in requests.join_all().await {
        let body = response.json();
        assert_eq!(body["init_calls"], 1, "{body}");
        runs += 1;
        seen.insert(body["instance"].as_str().unwrap().to_owned());
    }
    assert_eq!(runs, 8);
    assert!(!seen.is_empty() && seen.len() <= 2, "{seen:?}");
    server.stop().await;
}

#[tokio::test]
async fn inputs_reach_the_guest_exactly_as_sent() {
    let server = TestServer::with_defaults("echo").await;
    let inputs = json!({
        "matrix": [[1.5, -2e-300, 3], [4, 5, 6]],
        "text": "héllo \"quoted\" \u{1F600}",
        "nested": {"a": [true, false, null], "b": {"c": 1}},
        "empty": []
    });
    let response = server
        .score(&json!({"Inputs": inputs, "GlobalParameters": {"threshold": 0.25}}))
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    let body = response.json();
    assert_eq!(body["inputs"], inputs);
    assert_eq!(body["global_parameters"], json!({"threshold": 0.25}));

    let response = server.score(&json!({"Inputs": {"x": 1}})).await;
    assert_eq!(response.json()["global_parameters"], Value::Null);
    server.stop().await;
}
