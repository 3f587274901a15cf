//! Adaptive batching (`max_batch_size`, `max_batch_time_ms`): concurrent typed requests
//! joined into one `run`, each client answered exactly as if it had been scored alone.

use std::time::{Duration, Instant};

use hyper::{Method, StatusCode};
use scorehost::{BatchSettings, DeploymentSettings, Limits, Registry, ServerOptions};
use serde_json::{Value, json};

use crate::support::{
    RequestBuilder, TestResponse, TestServer, ridge_model_dir, runtime, settings, twins,
};

const ADMIN_KEY: &str = "batch-admin";

/// The deployment of `plugin` with batching (`max_batch_size` rows, `max_batch_time`).
fn batched(plugin: &str, max_batch_size: usize, max_batch_time: Duration) -> DeploymentSettings {
    DeploymentSettings {
        batch: BatchSettings {
            max_batch_size,
            max_batch_time,
        },
        // One instance: requests queue behind each other, so batches fill.
        limits: Limits {
            instances: 1,
            ..Limits::default()
        },
        ..settings(plugin, &ridge_model_dir())
    }
}

/// Serves `settings` at `/score` with the admin key (for `/metrics`).
async fn serve(settings: DeploymentSettings) -> TestServer {
    let default = settings.name.clone();
    TestServer::start_many(
        vec![settings],
        ServerOptions {
            default_deployment: Some(default),
            admin_key: Some(ADMIN_KEY.to_owned()),
            ..ServerOptions::default()
        },
    )
    .await
}

/// Sends every request at once, each on its own connection; the answers in the same order.
async fn all_at_once(requests: Vec<RequestBuilder>) -> Vec<TestResponse> {
    let tasks: Vec<_> = requests
        .into_iter()
        .map(|request| tokio::spawn(request.send()))
        .collect();
    let mut responses = Vec::with_capacity(tasks.len());
    for task in tasks {
        responses.push(task.await.unwrap());
    }
    responses
}

/// The same status, body bytes and headers (but the per-request id and the guest's run time).
fn assert_same_answer(batched: &TestResponse, alone: &TestResponse, what: &str) {
    assert_eq!(batched.status, alone.status, "{what}: {}", batched.text());
    assert_eq!(batched.body, alone.body, "{what}");
    let names = |r: &TestResponse| {
        let mut names: Vec<String> = r
            .headers
            .keys()
            .map(|k| k.as_str().to_owned())
            .filter(|k| k != "date")
            .collect();
        names.sort();
        names
    };
    assert_eq!(names(batched), names(alone), "{what}");
    for (name, value) in &alone.headers {
        if !matches!(
            name.as_str(),
            "date" | "x-ms-request-id" | "x-request-id" | "x-ms-run-fn-exec-ms"
        ) {
            assert_eq!(batched.headers.get(name), Some(value), "{what}: {name}");
        }
    }
}

/// Requests served as batches so far: (batches, requests in them), from `/metrics`.
async fn batches(server: &TestServer, deployment: &str) -> (f64, f64) {
    let text = server
        .request(Method::GET, "/metrics")
        .header("authorization", &format!("Bearer {ADMIN_KEY}"))
        .send()
        .await
        .text();
    let value = |series: String| {
        text.lines()
            .find_map(|line| line.strip_prefix(series.as_str())?.strip_prefix(' '))
            .map_or(0.0, |v| v.trim().parse().unwrap())
    };
    (
        value(format!(
            "scorehost_batch_requests_count{{deployment=\"{deployment}\"}}"
        )),
        value(format!(
            "scorehost_batch_requests_sum{{deployment=\"{deployment}\"}}"
        )),
    )
}

/// A `[rows, 10]` matrix of distinct float64 values (some not exactly representable in
/// decimal, so a formatting difference would show).
fn matrix(seed: usize, rows: usize) -> Value {
    (0..rows)
        .map(|r| {
            (0..10)
                .map(|c| (seed * 31 + r * 7 + c) as f64 / 3.0 - 5.1)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Many concurrent clients with 1 to 5 rows each (some with another `scale`, which may not
/// join the others' batches), on `/score` and for the Rust script on the Open Inference
/// Protocol's infer route: every answer equals the one an unbatched deployment gives.
async fn batched_answers_equal_unbatched_answers(plugin: &str) {
    let alone = serve(settings(plugin, &ridge_model_dir())).await;
    let server = serve(batched(plugin, 16, Duration::from_millis(200))).await;
    let deployment = plugin.replace('/', "-");
    let mut bodies = Vec::new();
    for i in 0..24 {
        let rows = 1 + i % 5;
        bodies.push(match i % 6 {
            5 => json!({"data": matrix(i, rows), "scale": 2.0}),
            _ => json!({"data": matrix(i, rows)}),
        });
    }
    let mut expected = Vec::new();
    for body in &bodies {
        let response = alone.score(body).await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.text());
        expected.push(response);
    }
    let answers = all_at_once(bodies.iter().map(|b| server.score_request(b)).collect()).await;
    for (i, (answer, alone)) in answers.iter().zip(&expected).enumerate() {
        assert_same_answer(answer, alone, &format!("request {i}"));
    }
    let (count, requests) = batches(&server, &deployment).await;
    assert!(
        count < requests,
        "no batch joined two requests ({count} batches of {requests} requests)"
    );

    if plugin == "toplevel" {
        // The same over the Open Inference Protocol: tensors in, the script's /score path.
        let infer = |server: &TestServer, i: usize| {
            let rows = 1 + i % 4;
            let data: Vec<f64> = matrix(100 + i, rows)
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|r| r.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()))
                .collect();
            let body = json!({
                "id": format!("request-{i}"),
                "inputs": [{"name": "data", "shape": [rows, 10], "datatype": "FP64", "data": data}],
            });
            server
                .request(Method::POST, &format!("/v2/models/{deployment}/infer"))
                .header("content-type", "application/json")
                .body(body.to_string())
        };
        let mut expected = Vec::new();
        for i in 0..12 {
            let response = infer(&alone, i).send().await;
            assert_eq!(response.status, StatusCode::OK, "{}", response.text());
            expected.push(response);
        }
        let answers = all_at_once((0..12).map(|i| infer(&server, i)).collect()).await;
        for (i, (answer, alone)) in answers.iter().zip(&expected).enumerate() {
            assert_same_answer(answer, alone, &format!("infer request {i}"));
        }
    }
    server.stop().await;
    alone.stop().await;
}

twins!(batched_answers_equal_unbatched_answers {
    rust: "toplevel",
    python: "python/toplevel",
    js: "js/toplevel",
});

/// `rows` rows `[a, a + 0.5]`, the first `a` replaced by `first` when given.
fn rows_body(seed: usize, rows: usize, first: Option<f64>) -> Value {
    let data: Vec<[f64; 2]> = (0..rows)
        .map(|r| {
            let a = (seed * 10 + r) as f64 * 0.1;
            [a, a + 0.5]
        })
        .collect();
    let mut body = json!({ "data": data });
    if let Some(first) = first {
        body["data"][0][0] = json!(first);
    }
    body
}

#[tokio::test]
async fn a_bad_row_fails_only_its_own_request_with_the_error_it_gets_alone() {
    let alone = serve(settings("batch_rows", &ridge_model_dir())).await;
    let server = serve(batched("batch_rows", 64, Duration::from_millis(200))).await;
    // Request 3's row is negative. Alone, the script says `row 0 of 1`; in a batch the row has
    // another index, so the host must not pass the batch's error on.
    let bodies: Vec<Value> = (0..10)
        .map(|i| rows_body(i, 1 + i % 3, (i == 3).then_some(-1.0)))
        .collect();
    let mut expected = Vec::new();
    for body in &bodies {
        expected.push(alone.score(body).await);
    }
    assert_eq!(expected[3].status, StatusCode::BAD_REQUEST);
    assert_eq!(expected[3].message(), "row 0 of 1 is negative");
    let answers = all_at_once(bodies.iter().map(|b| server.score_request(b)).collect()).await;
    for (i, (answer, alone)) in answers.iter().zip(&expected).enumerate() {
        assert_same_answer(answer, alone, &format!("request {i}"));
    }
    let (count, requests) = batches(&server, "batch_rows").await;
    assert!(count < requests, "{count} batches of {requests} requests");
    server.stop().await;
    alone.stop().await;
}

#[tokio::test]
async fn a_trap_fails_the_requests_of_its_batch_and_no_others() {
    let alone = serve(settings("batch_rows", &ridge_model_dir())).await;
    let server = serve(batched("batch_rows", 4, Duration::from_millis(200))).await;
    let bodies: Vec<Value> = (0..12)
        .map(|i| rows_body(i, 1, (i == 5).then_some(666.0)))
        .collect();
    let mut expected = Vec::new();
    for body in &bodies {
        expected.push(alone.score(body).await);
    }
    let trap = &expected[5];
    assert_eq!(trap.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(trap.header("x-ms-run-function-failed"), Some("True"));
    let answers = all_at_once(bodies.iter().map(|b| server.score_request(b)).collect()).await;
    assert_same_answer(&answers[5], trap, "the trapping request");
    let mut failed = 0;
    for (i, (answer, alone)) in answers.iter().zip(&expected).enumerate() {
        if answer.status == StatusCode::OK {
            assert_same_answer(answer, alone, &format!("request {i}"));
        } else {
            // Its batch shared the trap: the normal trap answer.
            assert_same_answer(answer, trap, &format!("request {i}"));
            failed += 1;
        }
    }
    // At most a full batch (4 rows of one row each) fails.
    assert!((1..=4).contains(&failed), "{failed} requests failed");
    // The deployment serves on (the trapped instance was replaced).
    let after = server.score(&bodies[0]).await;
    assert_same_answer(&after, &expected[0], "after the trap");
    server.stop().await;
    alone.stop().await;
}

#[tokio::test]
async fn a_lone_request_waits_no_longer_than_the_batch_time() {
    let alone = serve(settings("batch_rows", &ridge_model_dir())).await;
    let server = serve(batched("batch_rows", 64, Duration::from_millis(300))).await;
    let body = rows_body(1, 2, None);
    let expected = alone.score(&body).await;
    for _ in 0..3 {
        let started = Instant::now();
        let answer = server.score(&body).await;
        let elapsed = started.elapsed();
        assert_same_answer(&answer, &expected, "a lone request");
        // The batch time plus a generous allowance for a loaded machine; without the timer
        // the request would wait for a batch that never fills (the client gives up at 60 s).
        assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
    }
    server.stop().await;
    alone.stop().await;
}

#[tokio::test]
async fn batching_a_script_that_does_not_declare_it_is_refused_at_load() {
    for plugin in ["powerbi", "echo"] {
        let Err(error) = Registry::load(
            runtime(),
            vec![batched(plugin, 8, Duration::from_millis(5))],
        )
        .await
        else {
            panic!("{plugin} loaded with batching");
        };
        let message = format!("{error:#}");
        assert!(
            message.contains(
                "max_batch_size is set, but the entry script does not declare itself batchable"
            ),
            "{message}"
        );
    }
}
