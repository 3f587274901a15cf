//! Production operations: `/metrics`, readiness, the admin list's status, TLS.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hyper::{Method, StatusCode};
use scorehost::{DeploymentSettings, Limits, Registry, Server, ServerOptions};
use serde_json::{Value, json};

use crate::support::{
    RequestBuilder, TestServer, admin_entry, plugin, repo, ridge_model_dir, runtime,
};

const ADMIN: &str = "ops-admin";

fn settings(
    name: &str,
    plugin_name: &str,
    model_dir: &Path,
    instances: usize,
) -> DeploymentSettings {
    DeploymentSettings {
        limits: Limits {
            instances,
            ..Limits::default()
        },
        ..DeploymentSettings::new(name, plugin(plugin_name), model_dir.to_owned())
    }
}

fn admin() -> ServerOptions {
    ServerOptions {
        admin_key: Some(ADMIN.to_owned()),
        ..ServerOptions::default()
    }
}

fn post(server: &TestServer, name: &str, body: &str) -> RequestBuilder {
    server
        .request(Method::POST, &format!("/api/v1/service/{name}/score"))
        .header("content-type", "application/json")
        .body(body.to_owned())
}

fn ridge_body() -> String {
    json!({"Inputs": {"input1": [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]]}, "GlobalParameters": 1.0})
        .to_string()
}

/// A scrape of `/metrics` (main listener, admin key).
async fn scrape(addr: std::net::SocketAddr, key: Option<&str>) -> String {
    let mut req = RequestBuilder::to(addr, Method::GET, "/metrics");
    if let Some(key) = key {
        req = req.header("authorization", &format!("Bearer {key}"));
    }
    let response = req.send().await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    assert_eq!(
        response.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    response.text()
}

/// The value of the sample `series` (name and labels exactly as exposed); 0 when absent.
fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0.0, |v| v.trim().parse().unwrap())
}

#[tokio::test]
async fn metrics_move_as_requests_are_served() {
    let server = TestServer::start_many(
        vec![
            settings("ridge", "ridge", &ridge_model_dir(), 2),
            settings("trap", "trap", &ridge_model_dir(), 1),
        ],
        admin(),
    )
    .await;

    // The main listener's /metrics needs the admin key.
    let anonymous = server.request(Method::GET, "/metrics").send().await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);

    let before = scrape(server.addr, Some(ADMIN)).await;
    let ok = r#"scorehost_requests_total{deployment="ridge",route="score",status="200"}"#;
    let bad = r#"scorehost_requests_total{deployment="ridge",route="score",status="400"}"#;
    let trapped = r#"scorehost_requests_total{deployment="trap",route="score",status="500"}"#;
    let run_count = r#"scorehost_run_duration_seconds_count{deployment="ridge"}"#;
    let overhead_count = r#"scorehost_host_overhead_seconds_count{deployment="ridge"}"#;
    let traps = r#"scorehost_traps_total{deployment="trap"}"#;
    let init_trap = r#"scorehost_init_duration_seconds_count{deployment="trap"}"#;
    assert_eq!(
        value(&before, r#"scorehost_pool_instances{deployment="ridge"}"#),
        2.0
    );
    assert_eq!(
        value(&before, r#"scorehost_pool_in_use{deployment="ridge"}"#),
        0.0
    );
    assert_eq!(value(&before, init_trap), 1.0, "{before}");
    assert!(
        value(
            &before,
            r#"scorehost_init_duration_seconds_sum{deployment="ridge"}"#
        ) > 0.0
    );

    for _ in 0..3 {
        let r = post(&server, "ridge", &ridge_body()).send().await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    }
    let r = post(&server, "ridge", "{not json").send().await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = post(&server, "trap", r#"{"Inputs": {}}"#).send().await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);

    // The trapped instance's replacement runs init in the background: wait for it.
    let deadline = Instant::now() + Duration::from_secs(20);
    let after = loop {
        let text = scrape(server.addr, Some(ADMIN)).await;
        if value(&text, init_trap) >= 2.0 || Instant::now() > deadline {
            break text;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let moved = |series: &str| value(&after, series) - value(&before, series);
    assert_eq!(moved(ok), 3.0, "{after}");
    assert_eq!(moved(bad), 1.0, "{after}");
    assert_eq!(moved(trapped), 1.0, "{after}");
    // The 400 was refused before the guest ran.
    assert_eq!(moved(run_count), 3.0, "{after}");
    assert_eq!(moved(overhead_count), 3.0, "{after}");
    assert_eq!(moved(traps), 1.0, "{after}");
    assert_eq!(moved(init_trap), 1.0, "{after}");
    assert_eq!(
        value(&after, r#"scorehost_pool_instances{deployment="trap"}"#),
        1.0
    );
    assert_eq!(
        value(&after, r#"scorehost_pool_replacing{deployment="trap"}"#),
        0.0
    );
    // Scrapes count too, under the host's own routes (a scrape shows the ones before it).
    assert!(
        value(
            &after,
            r#"scorehost_requests_total{deployment="",route="metrics",status="200"}"#
        ) >= 1.0,
        "{after}"
    );
    server.stop().await;
}

#[tokio::test]
async fn metrics_listener_needs_no_key_and_serves_nothing_else() {
    let registry = Registry::load(
        runtime(),
        vec![settings("ridge", "ridge", &ridge_model_dir(), 1)],
    )
    .await
    .unwrap();
    let main = TestServer::serve(registry.clone(), ServerOptions::default()).await;
    let metrics = Server::start_metrics("127.0.0.1:0".parse().unwrap(), registry)
        .await
        .unwrap();
    // Without an admin key the main listener's /metrics is off.
    let off = main.request(Method::GET, "/metrics").send().await;
    assert_eq!(off.status, StatusCode::FORBIDDEN);

    let r = post(&main, "ridge", &ridge_body()).send().await;
    assert_eq!(r.status, StatusCode::OK);
    let text = scrape(metrics.local_addr(), None).await;
    assert_eq!(
        value(
            &text,
            r#"scorehost_requests_total{deployment="ridge",route="score",status="200"}"#
        ),
        1.0,
        "{text}"
    );
    let score = RequestBuilder::to(
        metrics.local_addr(),
        Method::POST,
        "/api/v1/service/ridge/score",
    )
    .header("content-type", "application/json")
    .body(ridge_body())
    .send()
    .await;
    assert_eq!(score.status, StatusCode::NOT_FOUND);
    metrics.shutdown().await;
    main.stop().await;
}

/// A model folder for the `fragile` plugin whose `init` sleeps `ms`.
fn gate_dir(tag: &str, ms: u64) -> PathBuf {
    let dir = repo().join("target/test-models").join(tag);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("gate"), ms.to_string()).unwrap();
    dir
}

async fn ready(server: &TestServer) -> StatusCode {
    let r = server.request(Method::GET, "/v2/health/ready").send().await;
    assert_eq!(r.json()["ready"], json!(r.status == StatusCode::OK));
    r.status
}

/// Polls readiness until it is `want` (or fails the test after 20 s).
async fn wait_ready(server: &TestServer, want: StatusCode) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while ready(server).await != want {
        assert!(Instant::now() < deadline, "readiness never became {want}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn readiness_is_false_while_init_runs_and_true_after() {
    let registry = Registry::new(runtime());
    let server = TestServer::serve(registry.clone(), admin()).await;
    let loading = tokio::spawn({
        let registry = registry.clone();
        let slow = settings("slow_init", "fragile", &gate_dir("slow-init", 1500), 1);
        let quick = settings("quick", "ridge", &ridge_model_dir(), 1);
        async move { registry.load_all(vec![quick, slow]).await }
    });
    // Alive at once, not ready while the slow deployment's init sleeps.
    let live = server.request(Method::GET, "/").send().await;
    assert_eq!(live.status, StatusCode::OK);
    assert_eq!(ready(&server).await, StatusCode::SERVICE_UNAVAILABLE);
    let deadline = Instant::now() + Duration::from_secs(20);
    while admin_entry(&server, ADMIN, "slow_init").await["status"] != "loading" {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(ready(&server).await, StatusCode::SERVICE_UNAVAILABLE);
    loading.await.unwrap().unwrap();
    assert_eq!(ready(&server).await, StatusCode::OK);
    let status = admin_entry(&server, ADMIN, "slow_init").await;
    assert_eq!(status["status"], "ready", "{status}");
    assert_eq!(status["healthy_instances"], 1);
    server.stop().await;
}

#[tokio::test]
async fn readiness_is_false_while_every_instance_of_a_deployment_is_broken() {
    let dir = gate_dir("broken-instances", 0);
    let server = TestServer::start_many(
        vec![
            settings("fragile", "fragile", &dir, 1),
            settings("ridge", "ridge", &ridge_model_dir(), 1),
        ],
        admin(),
    )
    .await;
    assert_eq!(ready(&server).await, StatusCode::OK);

    // Replacements cannot start while the gate file is missing.
    std::fs::remove_file(dir.join("gate")).unwrap();
    let r = post(&server, "fragile", r#"{"Inputs": {"trap": true}}"#)
        .send()
        .await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(ready(&server).await, StatusCode::SERVICE_UNAVAILABLE);
    let status = admin_entry(&server, ADMIN, "fragile").await;
    assert_eq!(status["status"], "unhealthy", "{status}");
    assert_eq!(status["healthy_instances"], 0, "{status}");
    assert_eq!(
        admin_entry(&server, ADMIN, "ridge").await["status"],
        "ready"
    );

    // The replacement retries with backoff and gets in once the file is back.
    std::fs::write(dir.join("gate"), "0").unwrap();
    wait_ready(&server, StatusCode::OK).await;
    let r = post(&server, "fragile", r#"{"Inputs": {}}"#).send().await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    server.stop().await;
}

/// A self-signed certificate for `localhost`, written as PEM files under `target/`.
fn self_signed(tag: &str) -> (PathBuf, PathBuf, rustls_pki_types::CertificateDer<'static>) {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let dir = repo().join("target/test-tls").join(tag);
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    (cert, key, certified.cert.der().clone())
}

/// A TLS connection to `addr` for `localhost`, trusting only `root`, offering `alpn`.
async fn tls_connect(
    addr: std::net::SocketAddr,
    root: rustls_pki_types::CertificateDer<'static>,
    alpn: &[&[u8]],
) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    use tokio_rustls::rustls;

    let mut roots = rustls::RootCertStore::empty();
    roots.add(root).unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    connector.connect(name, tcp).await.unwrap()
}

/// The ridge deployment served over TLS with the certificate and key at `cert` and `key`.
async fn ridge_over_tls(cert: &Path, key: &Path) -> TestServer {
    let tls = scorehost::Tls::from_pem_files(cert, key).unwrap();
    TestServer::start_many(
        vec![settings("ridge", "ridge", &ridge_model_dir(), 1)],
        ServerOptions {
            tls: Some(tls),
            ..ServerOptions::default()
        },
    )
    .await
}

/// GET `path` over HTTPS, trusting only `root`; returns status and body.
async fn https_get(
    addr: std::net::SocketAddr,
    root: rustls_pki_types::CertificateDer<'static>,
    path: &str,
) -> (StatusCode, String) {
    use http_body_util::BodyExt as _;

    let tls = tls_connect(addr, root, &[]).await;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
            .await
            .unwrap();
    tokio::spawn(connection);
    let request = hyper::Request::get(path)
        .header("host", "localhost")
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn https_works_and_plain_http_to_the_tls_port_is_closed_cleanly() {
    let (cert, key, root) = self_signed("server");
    let server = ridge_over_tls(&cert, &key).await;
    let (status, body) = https_get(server.addr, root.clone(), "/").await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "Healthy"));

    // Plain HTTP: the handshake fails, the connection closes, no HTTP answer comes back.
    let mut plain = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut plain, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut reply = Vec::new();
    let read = tokio::time::timeout(
        Duration::from_secs(15),
        tokio::io::AsyncReadExt::read_to_end(&mut plain, &mut reply),
    )
    .await
    .expect("the server closed the plain connection");
    assert!(read.is_ok() || reply.is_empty(), "{read:?}");
    assert!(
        !reply.starts_with(b"HTTP/"),
        "{:?}",
        String::from_utf8_lossy(&reply)
    );

    // The server is still there for HTTPS clients.
    let (status, _) = https_get(server.addr, root, "/v2/health/ready").await;
    assert_eq!(status, StatusCode::OK);
    server.stop().await;
}

/// GET `path` over HTTP/2 on `io`; returns status and body.
async fn h2_get<I>(io: I, path: &str) -> (StatusCode, String)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    use http_body_util::BodyExt as _;

    let (mut sender, connection) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(io),
    )
    .await
    .unwrap();
    tokio::spawn(connection);
    let request = hyper::Request::get(format!("http://localhost{path}"))
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.version(), hyper::Version::HTTP_2);
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn http2_is_served_on_the_same_port_by_prior_knowledge_and_by_alpn() {
    // Plain: HTTP/2 with prior knowledge (h2c), as gRPC clients speak it; HTTP/1.1 beside it.
    let server = TestServer::start_many(
        vec![settings("ridge", "ridge", &ridge_model_dir(), 1)],
        ServerOptions::default(),
    )
    .await;
    let tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    assert_eq!(
        h2_get(tcp, "/").await,
        (StatusCode::OK, "Healthy".to_owned())
    );
    assert_eq!(
        server.request(Method::GET, "/").send().await.status,
        StatusCode::OK
    );
    server.stop().await;

    // TLS: `h2` chosen by ALPN; a client offering none stays on HTTP/1.1 (`https_get`).
    let (cert, key, root) = self_signed("alpn");
    let server = ridge_over_tls(&cert, &key).await;
    let tls = tls_connect(server.addr, root.clone(), &[b"h2"]).await;
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    assert_eq!(
        h2_get(tls, "/v2/health/ready").await,
        (StatusCode::OK, r#"{"ready":true}"#.to_owned())
    );
    let (status, body) = https_get(server.addr, root, "/").await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "Healthy"));
    server.stop().await;
}

#[test]
fn a_key_that_does_not_match_the_certificate_is_refused() {
    let (cert, _, _) = self_signed("mismatch-a");
    let (_, other_key, _) = self_signed("mismatch-b");
    let error = scorehost::Tls::from_pem_files(&cert, &other_key).unwrap_err();
    assert!(
        format!("{error:#}").contains("do not form a usable pair"),
        "{error:#}"
    );
    let error =
        scorehost::Tls::from_pem_files(Path::new("/nonexistent.pem"), &other_key).unwrap_err();
    assert!(
        format!("{error:#}").contains("/nonexistent.pem"),
        "{error:#}"
    );
}

/// Every JSON line of a deployment's collection files, oldest file first.
fn collected(dir: &Path, deployment: &str) -> Vec<Value> {
    let folder = dir.join(deployment);
    let mut files: Vec<PathBuf> = (1..10)
        .rev()
        .map(|n| folder.join(format!("data.jsonl.{n}")))
        .filter(|p| p.exists())
        .collect();
    files.push(folder.join("data.jsonl"));
    files
        .iter()
        .filter(|p| p.exists())
        .flat_map(|p| {
            std::fs::read_to_string(p)
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect::<Vec<Value>>()
        })
        .collect()
}

#[tokio::test]
async fn data_collection_files_hold_exactly_the_requests_sent() {
    let dir = repo().join("target/test-collect");
    let _ = std::fs::remove_dir_all(&dir);
    let mut collect = scorehost::CollectSettings::new(dir.clone());
    collect.deployments = [
        ("ridge".to_owned(), scorehost::CollectMode::Full),
        ("private".to_owned(), scorehost::CollectMode::Redact),
    ]
    .into();
    // Small files, so that five records rotate.
    collect.max_file_bytes = 500;
    collect.max_files = 3;
    let server = TestServer::start_many(
        vec![
            settings("ridge", "ridge", &ridge_model_dir(), 1),
            settings("private", "ridge", &ridge_model_dir(), 1),
            settings("other", "ridge", &ridge_model_dir(), 1),
        ],
        ServerOptions {
            collect: Some(collect),
            ..ServerOptions::default()
        },
    )
    .await;
    let mut sent = Vec::new();
    for i in 0..5 {
        let body = json!({"Inputs": {"input1": [[i, 2, 3, 4, 5, 6, 7, 8, 9, 10]]}, "GlobalParameters": 1.0});
        let id = format!("collect-{i}");
        let r = post(&server, "ridge", &body.to_string())
            .header("x-request-id", &id)
            .send()
            .await;
        assert_eq!(r.status, StatusCode::OK);
        sent.push((id, body, r.json()));
    }
    // Refused requests produce no output and are not collected; nor is a deployment that did
    // not opt in.
    let r = post(&server, "ridge", "{not json").send().await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = post(&server, "other", &ridge_body()).send().await;
    assert_eq!(r.status, StatusCode::OK);
    let r = post(&server, "private", &ridge_body())
        .header("x-request-id", "private-1")
        .send()
        .await;
    assert_eq!(r.status, StatusCode::OK);

    let deadline = Instant::now() + Duration::from_secs(10);
    while collected(&dir, "ridge").len() < 5 || collected(&dir, "private").is_empty() {
        assert!(Instant::now() < deadline, "the writer did not catch up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.stop().await;
    let records = collected(&dir, "ridge");
    assert_eq!(records.len(), 5, "{records:#?}");
    for (record, (id, input, output)) in records.iter().zip(&sent) {
        assert_eq!(record["request_id"], *id.as_str());
        assert_eq!(record["deployment"], "ridge");
        assert_eq!(record["input"], *input);
        assert_eq!(record["output"], *output);
    }
    assert!(
        dir.join("ridge/data.jsonl.1").exists(),
        "no rotation happened"
    );
    for n in ["data.jsonl", "data.jsonl.1", "data.jsonl.2"] {
        let path = dir.join("ridge").join(n);
        if path.exists() {
            assert!(
                std::fs::metadata(&path).unwrap().len() <= 500,
                "{n} over the cap"
            );
        }
    }
    assert!(!dir.join("other").exists());
    // Redacted: shapes and types, no values.
    let private = collected(&dir, "private");
    assert_eq!(private.len(), 1);
    assert_eq!(private[0]["request_id"], "private-1");
    assert_eq!(
        private[0]["input"]["Inputs"]["input1"],
        json!([[0, 0, 0, 0, 0, 0, 0, 0, 0, 0]])
    );
    assert_eq!(private[0]["input"]["GlobalParameters"], json!(0.0));
    assert_eq!(private[0]["output"], json!([0.0]));
}
