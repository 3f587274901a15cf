//! Entry scripts in Python (`plugins/python/`, built with `guest-sdk/python`): what only a
//! Python guest can get wrong. The behaviours the Python examples share with their Rust twins
//! are tested as twins in `schema.rs`, `raw.rs` and `sandbox.rs`; the SDK's own unit tests
//! run here too.

use std::time::Duration;

use hyper::StatusCode;
use scorehost::Limits;
use serde_json::json;

use crate::cli::scorehost;
use crate::support::{TestServer, plugin, repo, ridge_model_dir};

#[tokio::test]
async fn a_python_exception_is_azures_generic_500_and_its_text_goes_to_the_log() {
    let server = TestServer::with_defaults("python/probe").await;
    let response = server
        .score(&json!({"Inputs": {"action": "read", "path": "/etc/passwd"}}))
        .await;
    assert_eq!(response.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(response.header("x-ms-run-function-failed"), Some("True"));
    assert_eq!(
        response.message(),
        "An unexpected error occurred in scoring script. Check the logs for more info."
    );
    for leak in [
        "PermissionError",
        "denied",
        "Traceback",
        "score.py",
        "line ",
    ] {
        assert!(!response.text().contains(leak), "{}", response.text());
    }

    // `BadInput` is the script's way to say 400.
    let response = server.score(&json!({"Inputs": {"action": 5}})).await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    assert_eq!(response.message(), "action must be a string, got 5");
    let response = server.score(&json!({"Inputs": {"action": "dance"}})).await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    assert_eq!(response.message(), "unknown action 'dance'");
    server.stop().await;
}

#[tokio::test]
async fn an_endless_python_loop_times_out_and_the_host_recovers() {
    let limits = Limits {
        instances: 1,
        timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let server = TestServer::start("python/probe", &ridge_model_dir(), limits).await;
    let response = server.score(&json!({"Inputs": {"action": "loop"}})).await;
    assert_eq!(response.status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(response.message(), "Scoring timeout after 300 ms");
    let response = server.score(&json!({"Inputs": {"action": "env"}})).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    server.stop().await;
}

#[test]
fn a_python_init_that_raises_keeps_the_server_down_and_logs_the_traceback() {
    let empty = repo().join("target/test-empty-model-dir");
    std::fs::create_dir_all(&empty).unwrap();
    let output = scorehost()
        .args(["serve", "--addr", "127.0.0.1:0", "--plugin"])
        .arg(plugin("python/powerbi"))
        .arg("--model-dir")
        .arg(&empty)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("init() failed: FileNotFoundError: [Errno 44] No such file or directory"),
        "{stderr}"
    );
    // The operator sees where it failed: the guest's traceback is in the log.
    assert!(stderr.contains("Traceback"), "{stderr}");
    assert!(stderr.contains("in init"), "{stderr}");
    assert!(!String::from_utf8_lossy(&output.stdout).contains("Listening"));
}

#[test]
fn the_python_sdks_unit_tests_pass() {
    xtask::test_python_sdk().expect("the Python SDK's unit tests (guest-sdk/python/tests)");
}

#[tokio::test]
async fn a_python_exceptions_text_is_logged_with_its_request_id() {
    let log_path = repo().join("target/test-python-exception.stderr");
    let log_file = std::fs::File::create(&log_path).unwrap();
    let model_dir = ridge_model_dir();
    let (child, addr) = crate::cli::serve_with(
        &[
            "--log-format".as_ref(),
            "json".as_ref(),
            "--plugin".as_ref(),
            plugin("python/probe").as_os_str(),
            "--model-dir".as_ref(),
            model_dir.as_os_str(),
        ],
        std::process::Stdio::from(log_file),
    )
    .await;
    let response = crate::support::RequestBuilder::to(addr, hyper::Method::POST, "/score")
        .header("content-type", "application/json")
        .header("x-request-id", "req-exception")
        .body(json!({"Inputs": {"action": "read", "path": "/etc/passwd"}}).to_string())
        .send()
        .await;
    assert_eq!(response.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        !response.text().contains("PermissionError"),
        "{}",
        response.text()
    );
    drop(child);

    let log = std::fs::read_to_string(&log_path).unwrap();
    // The host's line for the failed call, in the request's span (the guest's traceback
    // lines carry the request id in their fields).
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|l: &serde_json::Value| {
            l["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("PermissionError: denied: "))
        })
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["span"]["request_id"] == "req-exception"
                && l["fields"]["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("scoring failed"))),
        "{log}"
    );
    assert!(
        lines
            .iter()
            .all(|l| l["span"]["request_id"] == "req-exception"
                || l["fields"]["request_id"] == "req-exception"),
        "{log}"
    );
}
