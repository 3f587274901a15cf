//! Raw HTTP entry scripts (the seed's binary-data and CORS examples) and host-level CORS.

use hyper::{Method, StatusCode};
use scorehost::{DeploymentSettings, Limits};
use serde_json::json;

use crate::support::{TestServer, multipart, ridge_model_dir, settings, twins, upload};

/// An image of `width`×`height` encoded in `format`.
pub(crate) fn image_file(width: u32, height: u32, format: image::ImageFormat) -> Vec<u8> {
    let img = image::RgbImage::from_fn(width, height, |x, y| image::Rgb([x as u8, y as u8, 128]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, format).unwrap();
    out.into_inner()
}

async fn with_cors(plugin_name: &str, origins: &[&str]) -> TestServer {
    TestServer::start_with(DeploymentSettings {
        cors_origins: origins.iter().map(|o| o.to_string()).collect(),
        ..settings(plugin_name, &ridge_model_dir())
    })
    .await
}

twins!(an_uploaded_image_gets_its_size_back {
    rust: "image_size",
    python: "python/image_size",
});
async fn an_uploaded_image_gets_its_size_back(plugin: &str) {
    let server = TestServer::with_defaults(plugin).await;
    for (w, h, format) in [
        (64, 48, image::ImageFormat::Png),
        (17, 300, image::ImageFormat::Jpeg),
    ] {
        let response = upload(&server, multipart("image", &image_file(w, h, format))).await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.text());
        assert_eq!(response.json(), json!([w, h]));
        assert_eq!(response.header("content-type"), Some("application/json"));
        assert_eq!(response.header("x-ms-run-function-failed"), Some("False"));
        assert!(response.header("x-ms-run-fn-exec-ms").is_some());
    }
    server.stop().await;
}

twins!(get_returns_the_full_path_like_flask {
    rust: "image_size",
    python: "python/image_size",
});
async fn get_returns_the_full_path_like_flask(plugin: &str) {
    let server = TestServer::with_defaults(plugin).await;
    let response = server.request(Method::GET, "/score?x=1").send().await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.text(), "/score?x=1");
    assert_eq!(
        response.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let response = server.request(Method::GET, "/score").send().await;
    assert_eq!(response.text(), "/score?");
    server.stop().await;
}

twins!(bad_uploads_get_clean_4xx_and_other_methods_the_seeds_500 {
    rust: "image_size",
    python: "python/image_size",
});
async fn bad_uploads_get_clean_4xx_and_other_methods_the_seeds_500(plugin: &str) {
    let server = TestServer::with_defaults(plugin).await;
    let response = upload(&server, multipart("picture", b"whatever")).await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    assert_eq!(response.text(), "missing multipart file 'image'");

    let response = upload(&server, multipart("image", b"not an image at all")).await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    assert!(
        response
            .text()
            .starts_with("'image' is not a PNG or JPEG image"),
        "{}",
        response.text()
    );

    // Malformed multipart: the host answers before the script runs.
    let response = upload(&server, b"--nope\r\ngarbage".to_vec()).await;
    assert_eq!(
        response.status,
        StatusCode::BAD_REQUEST,
        "{}",
        response.text()
    );
    assert!(
        response
            .message()
            .starts_with("Malformed multipart/form-data body")
    );

    let big = multipart("image", &vec![0u8; Limits::default().max_body + 1]);
    let response = upload(&server, big).await;
    assert_eq!(response.status, StatusCode::PAYLOAD_TOO_LARGE);

    let response = server.request(Method::DELETE, "/score").send().await;
    assert_eq!(response.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(response.text(), "bad request");
    assert_eq!(response.header("x-ms-run-function-failed"), Some("True"));

    // Still serving.
    let response = upload(
        &server,
        multipart("image", &image_file(3, 2, image::ImageFormat::Png)),
    )
    .await;
    assert_eq!(response.json(), json!([3, 2]));
    server.stop().await;
}

twins!(
    the_cors_script_sets_its_own_headers_and_echoes_bodies_bit_exact {
        rust: "cors_echo",
        python: "python/cors_echo",
        js: "js/cors_echo",
    }
);
async fn the_cors_script_sets_its_own_headers_and_echoes_bodies_bit_exact(plugin: &str) {
    let server = TestServer::with_defaults(plugin).await;
    let response = server.request(Method::GET, "/score?x=1").send().await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.text(), "/score?x=1");
    for (name, value) in [
        ("allow", "OPTIONS, GET, POST"),
        ("access-control-allow-methods", "OPTIONS, GET, POST"),
        ("access-control-allow-origin", "http://www.example.com"),
        ("access-control-allow-headers", "*"),
    ] {
        assert_eq!(response.header(name), Some(value), "{name}");
    }

    let binary: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
    let response = server
        .request(Method::POST, "/score")
        .header("content-type", "application/octet-stream")
        .body(binary.clone())
        .send()
        .await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.body.as_ref(), binary.as_slice());

    let response = server
        .request(Method::OPTIONS, "/score")
        .header("origin", "http://www.example.com")
        .header("access-control-request-method", "POST")
        .send()
        .await;
    assert_eq!(response.status, StatusCode::OK);
    assert!(response.body.is_empty());
    assert_eq!(
        response.header("access-control-allow-origin"),
        Some("http://www.example.com")
    );
    server.stop().await;
}

twins!(a_raw_scripts_own_cors_headers_win_over_the_hosts {
    rust: "cors_echo",
    python: "python/cors_echo",
    js: "js/cors_echo",
});
async fn a_raw_scripts_own_cors_headers_win_over_the_hosts(plugin: &str) {
    let server = with_cors(plugin, &["*"]).await;
    let response = server
        .request(Method::GET, "/score")
        .header("origin", "http://other.example")
        .send()
        .await;
    assert_eq!(
        response.header("access-control-allow-origin"),
        Some("http://www.example.com")
    );
    server.stop().await;

    // A raw script that sets no CORS headers gets the host's.
    let server = with_cors("image_size", &["http://app.example"]).await;
    let response = server
        .request(Method::GET, "/score")
        .header("origin", "http://app.example")
        .send()
        .await;
    assert_eq!(
        response.header("access-control-allow-origin"),
        Some("http://app.example")
    );
    assert_eq!(response.header("vary"), Some("Origin"));
    server.stop().await;
}

#[tokio::test]
async fn typed_scripts_get_real_preflights_for_allowed_origins_only() {
    let server = with_cors("echo", &["http://app.example", "http://b.example"]).await;
    let preflight = |origin: &str| {
        server
            .request(Method::OPTIONS, "/score")
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "content-type, authorization",
            )
            .send()
    };
    let response = preflight("http://app.example").await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(
        response.header("access-control-allow-origin"),
        Some("http://app.example")
    );
    assert_eq!(
        response.header("access-control-allow-methods"),
        Some("GET, POST, OPTIONS")
    );
    assert_eq!(
        response.header("access-control-allow-headers"),
        Some("content-type, authorization")
    );
    assert_eq!(response.header("vary"), Some("Origin"));

    let response = preflight("http://evil.example").await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.header("access-control-allow-origin"), None);
    assert_eq!(response.header("access-control-allow-methods"), None);

    // The actual request carries the grant too; no Origin, no CORS headers.
    let response = server
        .score_request(&json!({"Inputs": {"a": 1}}))
        .header("origin", "http://b.example")
        .send()
        .await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(
        response.header("access-control-allow-origin"),
        Some("http://b.example")
    );
    let response = server.score(&json!({"Inputs": {"a": 1}})).await;
    assert_eq!(response.header("access-control-allow-origin"), None);
    server.stop().await;
}
