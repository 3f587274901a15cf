//! The sandbox from inside: the guest sees its model folder read-only and nothing else, and a
//! misbehaving guest (trap, endless loop, memory bomb, sleeper) costs one request, not the host.

use std::time::Duration;

use hyper::StatusCode;
use scorehost::Limits;
use serde_json::{Value, json};

use crate::support::{
    TestResponse, TestServer, default_limits, multi_model_dir, ridge_model_dir, twins,
};

async fn probe(server: &TestServer, inputs: Value) -> TestResponse {
    server.score(&json!({ "Inputs": inputs })).await
}

/// The guest was refused and said so; the client got the script's 500.
fn assert_denied(response: &TestResponse) {
    assert_eq!(
        response.status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "{}",
        response.text()
    );
    assert_eq!(response.header("x-ms-run-function-failed"), Some("True"));
    // The Rust probe chooses its 500 message (`RunError::failed`); Python's exception
    // (`PermissionError: denied: ...`) goes to the host's log and the client gets Azure ML's
    // generic message, as from the Azure ML server.
    let message = response.message();
    assert!(
        message.starts_with("denied: ")
            || message
                == "An unexpected error occurred in scoring script. Check the logs for more info.",
        "{}",
        response.text()
    );
}

twins!(files_outside_the_model_folder_cannot_be_read {
    rust: "probe",
    python: "python/probe",
    wasi_python: "wasi-python/probe",
});
async fn files_outside_the_model_folder_cannot_be_read(plugin: &str) {
    let server = TestServer::with_defaults(plugin).await;
    let host_model_dir = ridge_model_dir();
    let host_file = host_model_dir.join("sklearn_regression_model.json");
    for path in [
        "/etc/passwd".to_owned(),
        "/var/azureml-app/azureml-models/../../../../etc/passwd".to_owned(),
        "/var/azureml-app/azureml-models/../azureml-models/../x".to_owned(),
        host_file.display().to_string(),
        "relative.txt".to_owned(),
    ] {
        let response = probe(&server, json!({"action": "read", "path": path})).await;
        assert_denied(&response);
    }
    let response = probe(&server, json!({"action": "list", "path": "/"})).await;
    assert_denied(&response);

    // The model folder itself is readable at the guest path.
    let response = probe(
        &server,
        json!({"action": "read", "path": "/var/azureml-app/azureml-models/sklearn_regression_model.json"}),
    )
    .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    let content = response.json()["content"].as_str().unwrap().to_owned();
    assert_eq!(content, std::fs::read_to_string(&host_file).unwrap());
    server.stop().await;
}

twins!(the_model_folder_is_read_only {
    rust: "probe",
    python: "python/probe",
    wasi_python: "wasi-python/probe",
});
async fn the_model_folder_is_read_only(plugin: &str) {
    let server = TestServer::with_defaults(plugin).await;
    for path in [
        "/var/azureml-app/azureml-models/new.txt",
        "/var/azureml-app/azureml-models/sklearn_regression_model.json",
    ] {
        let response = probe(&server, json!({"action": "write", "path": path})).await;
        assert_denied(&response);
    }
    assert!(!ridge_model_dir().join("new.txt").exists());
    let model =
        std::fs::read_to_string(ridge_model_dir().join("sklearn_regression_model.json")).unwrap();
    assert!(model.contains("\"coef\""));
    server.stop().await;
}

twins!(the_guest_sees_no_host_environment {
    rust: "probe",
    python: "python/probe",
    wasi_python: "wasi-python/probe",
});
async fn the_guest_sees_no_host_environment(plugin: &str) {
    let server = TestServer::with_defaults(plugin).await;
    assert!(
        std::env::var_os("PATH").is_some(),
        "the host has an environment"
    );
    let response = probe(&server, json!({"action": "env"})).await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(
        response.json(),
        json!({"AZUREML_MODEL_DIR": "/var/azureml-app/azureml-models"})
    );
    server.stop().await;
}

twins!(
    get_model_path_resolves_latest_explicit_and_refuses_escapes {
        rust: "probe",
        python: "python/probe",
        wasi_python: "wasi-python/probe",
    }
);
async fn get_model_path_resolves_latest_explicit_and_refuses_escapes(plugin: &str) {
    let server = TestServer::start(plugin, &multi_model_dir(), default_limits(plugin)).await;
    let lookup = |name: &str, version: Option<&str>| {
        let mut inputs = json!({"action": "model_path", "name": name});
        if let Some(v) = version {
            inputs["version"] = json!(v);
        }
        server.score_request(&json!({ "Inputs": inputs })).send()
    };

    let response = lookup("my_second_model", None).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    assert_eq!(
        response.json(),
        json!({
            "path": "/var/azureml-app/azureml-models/my_second_model/2",
            "files": ["my_second_model.json"]
        })
    );
    let response = lookup("my_second_model", Some("1")).await;
    assert_eq!(
        response.json()["path"],
        "/var/azureml-app/azureml-models/my_second_model/1"
    );
    let response = lookup("my_first_model", None).await;
    assert_eq!(response.json()["files"], json!(["my_first_model.json"]));

    let response = lookup("my_second_model", Some("3")).await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        response.message(),
        "model 'my_second_model' has no version '3' (found: 1, 2)"
    );
    let response = lookup("nobody", None).await;
    assert_eq!(
        response.message(),
        "model 'nobody' is not in the model folder"
    );
    for (name, version) in [
        ("..", None),
        ("/etc", None),
        ("my_first_model", Some("../..")),
    ] {
        let response = lookup(name, version).await;
        assert_eq!(response.status, StatusCode::BAD_REQUEST);
        assert!(
            response.message().contains("is not a plain folder name"),
            "{}",
            response.text()
        );
    }
    server.stop().await;
}

/// After a failure, the next request still succeeds (on a replacement instance).
async fn assert_serving(server: &TestServer) {
    let response = probe(server, json!({"action": "env"})).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
}

#[tokio::test]
async fn a_trapping_guest_gets_a_generic_500_and_the_host_recovers() {
    let limits = Limits {
        instances: 1,
        ..Limits::default()
    };
    let server = TestServer::start("trap", &ridge_model_dir(), limits).await;
    for _ in 0..3 {
        let response = probe(&server, json!({})).await;
        assert_eq!(response.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(response.header("x-ms-run-function-failed"), Some("True"));
        // No guest message, path or backtrace reaches the client.
        assert_eq!(
            response.message(),
            "An unexpected error occurred in scoring script. Check the logs for more info."
        );
        assert!(!response.text().contains("secret"), "{}", response.text());
    }
    server.stop().await;
}

#[tokio::test]
async fn an_endless_loop_times_out_with_504_and_the_host_recovers() {
    let limits = Limits {
        instances: 1,
        timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    for plugin in ["loop_forever", "slow"] {
        let server = TestServer::start(plugin, &ridge_model_dir(), limits.clone()).await;
        for _ in 0..2 {
            let started = std::time::Instant::now();
            let response = probe(&server, json!({"ms": 5000})).await;
            assert_eq!(response.status, StatusCode::GATEWAY_TIMEOUT, "{plugin}");
            assert_eq!(response.message(), "Scoring timeout after 300 ms");
            assert_eq!(response.header("x-ms-run-function-failed"), Some("True"));
            assert!(
                started.elapsed() < Duration::from_secs(3),
                "{plugin}: {:?}",
                started.elapsed()
            );
        }
        // The instance was replaced: a short sleep now completes.
        if plugin == "slow" {
            let response = probe(&server, json!({"ms": 10})).await;
            assert_eq!(response.status, StatusCode::OK, "{}", response.text());
        }
        server.stop().await;
    }
}

twins!(a_memory_bomb_hits_the_limit_and_the_host_recovers {
    rust: "probe",
    python: "python/probe",
});
async fn a_memory_bomb_hits_the_limit_and_the_host_recovers(plugin: &str) {
    let limits = Limits {
        instances: 1,
        max_memory: 64 << 20,
        ..Limits::default()
    };
    let server = TestServer::start(plugin, &ridge_model_dir(), limits).await;
    let response = probe(&server, json!({"action": "alloc", "mib": 32})).await;
    assert_eq!(
        response.status,
        StatusCode::OK,
        "under the limit: {}",
        response.text()
    );
    let response = probe(&server, json!({"action": "alloc", "mib": 1024})).await;
    assert_eq!(response.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        response.message(),
        "The scoring script exceeded its memory limit. Check the logs for more info."
    );
    assert_serving(&server).await;
    server.stop().await;
}

#[tokio::test]
async fn a_plugin_that_bombs_in_every_request_fails_each_one_cleanly() {
    let limits = Limits {
        instances: 1,
        max_memory: 64 << 20,
        ..Limits::default()
    };
    let server = TestServer::start("alloc_bomb", &ridge_model_dir(), limits).await;
    for _ in 0..2 {
        let response = probe(&server, json!({})).await;
        assert_eq!(response.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            response.message(),
            "The scoring script exceeded its memory limit. Check the logs for more info."
        );
    }
    server.stop().await;
}
