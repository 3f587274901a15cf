//! scorehost as a library, used the way `Host`'s documentation shows: a host made from
//! settings inside the application's own tokio runtime, a deployment loaded, scored directly
//! without HTTP, served on a listener the application bound, swapped, and shut down.

use hyper::{Method, StatusCode};
use scorehost::registry::SwapRequest;
use scorehost::scoring::{Failure, Input, Output};
use scorehost::{Host, RuntimeSettings, ServerOptions};
use serde_json::{Value, json};

use crate::support::{RequestBuilder, plugin, ridge_model_dir, settings, test_cache_dir};

#[tokio::test]
async fn an_application_embeds_a_host_scores_directly_and_serves_on_its_own_listener() {
    let host = Host::new(&RuntimeSettings {
        cache_dir: Some(test_cache_dir()),
        ..RuntimeSettings::default()
    })
    .expect("creating the host");
    host.load(vec![settings("ridge", &ridge_model_dir())])
        .await
        .expect("loading the ridge example");
    assert!(host.is_ready());
    let ridge = host.deployment("ridge").expect("loaded above");
    assert_eq!(ridge.form().name(), "typed");

    // Directly: the scored JSON and the guest's run time.
    let body = json!({"Inputs": {"input1": [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]]}}).to_string();
    let scored = ridge
        .score("embedded-1", Input::Body(body.as_bytes()))
        .await
        .expect("scoring directly");
    let Output::Json(direct) = scored.output else {
        panic!("a typed script answers JSON");
    };
    assert!(scored.run_time.as_nanos() > 0);
    let predictions: Value = serde_json::from_str(&direct).unwrap();
    assert_eq!(predictions.as_array().map(Vec::len), Some(1), "{direct}");

    // JSON the host refuses is a failure naming its field, before any guest call.
    let bad = r#"{"Inputs": {"input1": [[1, 2, 3, 4, 5, 6, 7, 8, 9, 1e999]]}}"#.to_owned();
    let failure = ridge
        .score("embedded-2", Input::Body(bad.as_bytes()))
        .await
        .expect_err("a number past float64");
    let Failure::BadInput { message, path } = &failure else {
        panic!("expected bad input, got {failure:?}");
    };
    assert!(path.contains("input1"), "{path}");
    assert!(!failure.run_failed());

    // A value the script itself refuses is the script's failure, with its message.
    let odd = json!({"Inputs": {"input1": [[1, 2, 3, 4, "five", 6, 7, 8, 9, 10]]}}).to_string();
    let refused = ridge
        .score("embedded-3", Input::Body(odd.as_bytes()))
        .await
        .expect_err("a string where the script wants a number");
    let Failure::Refused(refusal) = &refused else {
        panic!("expected the script's refusal, got {refused:?}");
    };
    assert!(refusal.contains("five"), "{refusal}");
    assert!(refused.run_failed());

    // Over HTTP on a listener the application bound: the same answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = host
        .serve(listener, ServerOptions::default())
        .expect("serving");
    let post = |body: String| {
        RequestBuilder::to(
            server.local_addr(),
            Method::POST,
            "/api/v1/service/ridge/score",
        )
        .header("content-type", "application/json")
        .body(body)
        .send()
    };
    let response = post(body.clone()).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    assert_eq!(response.text(), direct);
    assert!(response.header("x-ms-run-fn-exec-ms").is_some());
    let response = post(bad).await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        response.json(),
        json!({"message": message, "path": path}),
        "the same failure, mapped to the same 400"
    );
    assert_eq!(response.header("x-ms-run-function-failed"), Some("False"));
    let response = post(odd).await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    assert_eq!(response.json(), json!({"message": refusal}));
    assert_eq!(response.header("x-ms-run-function-failed"), Some("True"));

    // A swap through the API: a new version object serves, with the same digest (same
    // plugin file), and the served route answers from it.
    let swapped = host
        .swap(
            "ridge",
            SwapRequest {
                plugin: Some(plugin("ridge")),
                model_dir: None,
            },
        )
        .await
        .expect("swapping");
    assert!(!std::sync::Arc::ptr_eq(&swapped, &ridge));
    assert_eq!(swapped.digest(), ridge.digest());
    let response = post(body).await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.text(), direct);

    server.shutdown().await;
}
