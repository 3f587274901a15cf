//! The Azure ML scoring server's HTTP protocol: routes, statuses, error bodies, request ids.
//! Expected values come from the captures in ../shared/reference/.

use hyper::{Method, StatusCode};
use scorehost::Limits;
use serde_json::json;

use crate::support::{TestResponse, TestServer, ridge_model_dir};

fn assert_json_error(response: &TestResponse, status: StatusCode, message: &str) {
    assert_eq!(response.status, status, "{}", response.text());
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(response.message(), message);
}

async fn post_raw(server: &TestServer, content_type: Option<&str>, body: &[u8]) -> TestResponse {
    let mut req = server.request(Method::POST, "/score");
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    req.body(body.to_vec()).send().await
}

#[tokio::test]
async fn liveness_and_options_match_the_azure_server() {
    let server = TestServer::with_defaults("echo").await;
    let response = server.request(Method::GET, "/").send().await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.text(), "Healthy");
    assert_eq!(
        response.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(response.header("x-ms-run-function-failed"), None);
    assert_eq!(
        response.header("x-ms-server-version"),
        Some("scorehost/0.1.0")
    );

    let response = server.request(Method::HEAD, "/").send().await;
    assert_eq!(response.status, StatusCode::OK);
    assert!(response.body.is_empty());
    assert_eq!(response.header("content-length"), Some("7"));

    let response = server.request(Method::OPTIONS, "/score").send().await;
    assert_eq!(response.status, StatusCode::OK);
    assert!(response.body.is_empty());
    assert_eq!(response.header("allow"), Some("GET, POST, OPTIONS"));
    assert_eq!(response.header("x-ms-run-function-failed"), Some("False"));
    server.stop().await;
}

#[tokio::test]
async fn unknown_routes_and_methods_get_json_404_and_405() {
    let server = TestServer::with_defaults("echo").await;
    for path in ["/nope", "/openapi.json", "/score/", "/api/v1/score"] {
        let response = server.request(Method::GET, path).send().await;
        assert_json_error(
            &response,
            StatusCode::NOT_FOUND,
            "The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again.",
        );
        assert_eq!(response.header("x-ms-run-function-failed"), Some("False"));
    }
    for (method, path) in [
        (Method::PUT, "/score"),
        (Method::DELETE, "/score"),
        (Method::PATCH, "/score"),
        (Method::POST, "/"),
    ] {
        let response = server.request(method, path).send().await;
        assert_json_error(
            &response,
            StatusCode::METHOD_NOT_ALLOWED,
            "The method is not allowed for the requested URL.",
        );
        assert!(response.header("allow").is_some());
    }
    server.stop().await;
}

#[tokio::test]
async fn bad_bodies_get_400_with_the_azure_messages() {
    let server = TestServer::with_defaults("echo").await;
    let json = Some("application/json");

    let response = post_raw(&server, json, b"{\"Inputs\": {\"a\": 1} \"b\"}").await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    assert!(
        response
            .message()
            .starts_with("POST body could not be decoded as JSON: "),
        "{}",
        response.text()
    );
    assert_eq!(response.header("x-ms-run-function-failed"), Some("False"));

    let response = post_raw(&server, json, b"").await;
    assert_json_error(
        &response,
        StatusCode::BAD_REQUEST,
        "POST body is empty. Expecting a JSON dictionary.",
    );
    for body in [&b"[1, 2, 3]"[..], b"\"hello\"", b"null", b"42"] {
        let response = post_raw(&server, json, body).await;
        assert_json_error(
            &response,
            StatusCode::BAD_REQUEST,
            "POST body should be a JSON dictionary.",
        );
    }
    let response = post_raw(&server, json, b"{\"GlobalParameters\": 1.0}").await;
    assert_json_error(
        &response,
        StatusCode::BAD_REQUEST,
        "A value is not provided for the 'Inputs' parameter.",
    );
    // The Azure ML server answers 500 here; a non-object Inputs is the client's mistake.
    let response = post_raw(&server, json, b"{\"Inputs\": [1, 2]}").await;
    assert_json_error(
        &response,
        StatusCode::BAD_REQUEST,
        "Inputs should be a JSON dictionary.",
    );
    // Invalid UTF-8 inside a JSON string: the Azure ML server answers 500; it is a bad body.
    let response = post_raw(&server, json, b"{\"a\": \"\xff\xfe\"}").await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    assert!(
        response
            .message()
            .starts_with("POST body could not be decoded as JSON")
    );
    server.stop().await;
}

#[tokio::test]
async fn non_json_content_types_get_415() {
    let server = TestServer::with_defaults("echo").await;
    let body = json!({"Inputs": {"a": 1}}).to_string();
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
    ] {
        let response = post_raw(&server, content_type, body.as_bytes()).await;
        assert_json_error(
            &response,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Expects Content-Type to be application/json",
        );
    }
    for content_type in [
        "application/json; charset=utf-8",
        "application/vnd.api+json",
    ] {
        let response = post_raw(&server, Some(content_type), body.as_bytes()).await;
        assert_eq!(response.status, StatusCode::OK, "{content_type}");
    }
    server.stop().await;
}

#[tokio::test]
async fn oversized_bodies_get_413_and_the_server_keeps_serving() {
    let server = TestServer::with_defaults("echo").await;
    // 10 MB of valid JSON, over the 8 MiB default limit.
    let mut big = b"{\"Inputs\": {\"x\": \"".to_vec();
    big.resize(10_000_000, b'a');
    big.extend_from_slice(b"\"}}");
    let response = post_raw(&server, Some("application/json"), &big).await;
    assert_json_error(
        &response,
        StatusCode::PAYLOAD_TOO_LARGE,
        &format!(
            "Request body is larger than the limit of {} bytes.",
            Limits::default().max_body
        ),
    );
    let response = server.score(&json!({"Inputs": {"x": 1}})).await;
    assert_eq!(response.status, StatusCode::OK);
    server.stop().await;

    // A configured limit is honoured to the byte.
    let limits = Limits {
        max_body: 1000,
        ..Limits::default()
    };
    let server = TestServer::start("echo", &ridge_model_dir(), limits).await;
    let response = post_raw(&server, Some("application/json"), &[b' '; 1001]).await;
    assert_eq!(response.status, StatusCode::PAYLOAD_TOO_LARGE);
    let response = post_raw(&server, Some("application/json"), b"{\"Inputs\": {}}").await;
    assert_eq!(response.status, StatusCode::OK);
    server.stop().await;
}

#[tokio::test]
async fn request_ids_are_echoed_generated_and_bounded() {
    let server = TestServer::with_defaults("echo").await;

    let response = server.request(Method::GET, "/").send().await;
    let generated = response.header("x-request-id").unwrap().to_owned();
    assert_eq!(generated.len(), 36, "a UUID: {generated}");
    assert_eq!(response.header("x-ms-request-id"), Some(generated.as_str()));
    assert_eq!(response.header("x-ms-client-request-id"), None);

    let response = server
        .score_request(&json!({"Inputs": {}}))
        .header("x-request-id", "rid-score")
        .header("x-ms-client-request-id", "cid-score")
        .send()
        .await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.header("x-request-id"), Some("rid-score"));
    assert_eq!(response.header("x-ms-request-id"), Some("cid-score"));
    assert_eq!(response.header("x-ms-client-request-id"), Some("cid-score"));

    let response = server
        .request(Method::GET, "/")
        .header("x-ms-request-id", "legacy-id-1")
        .header("TraceId", "trace-123")
        .send()
        .await;
    assert_eq!(response.header("x-ms-request-id"), Some("legacy-id-1"));
    assert_eq!(
        response.header("x-ms-client-request-id"),
        Some("legacy-id-1")
    );
    assert_eq!(response.header("traceid"), Some("trace-123"));

    let response = server
        .request(Method::GET, "/")
        .header("x-request-id", &"x".repeat(101))
        .send()
        .await;
    assert_json_error(
        &response,
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        "x-request-id must not exceed 100 characters",
    );
    assert_eq!(response.header("x-request-id"), None);

    let response = server
        .request(Method::GET, "/")
        .header("x-ms-client-request-id", &"c".repeat(101))
        .send()
        .await;
    assert_json_error(
        &response,
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        "x-ms-request-id and x-ms-client-request-id must not exceed 100 characters",
    );
    assert!(response.header("x-request-id").is_some());
    server.stop().await;
}

#[tokio::test]
async fn a_full_pool_answers_503_with_retry_after() {
    let limits = Limits {
        instances: 1,
        queue_timeout: std::time::Duration::from_millis(200),
        ..Limits::default()
    };
    let server = TestServer::start("slow", &ridge_model_dir(), limits).await;
    let slow = tokio::spawn(
        server
            .score_request(&json!({"Inputs": {"ms": 1500}}))
            .send(),
    );
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let response = server.score(&json!({"Inputs": {"ms": 1}})).await;
    assert_eq!(
        response.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        response.text()
    );
    assert_eq!(response.header("retry-after"), Some("1"));
    assert_eq!(slow.await.unwrap().status, StatusCode::OK);
    let response = server.score(&json!({"Inputs": {"ms": 1}})).await;
    assert_eq!(response.status, StatusCode::OK);
    server.stop().await;
}
