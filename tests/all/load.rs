//! Holding the load (issue 21): admission by time, client JSON checked at the host, the
//! verified compile cache, header limits, confined admin swaps and crash-safe data collection.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hyper::{Method, StatusCode};
use scorehost::{Limits, Registry, Runtime, RuntimeSettings, ServerOptions};
use serde_json::json;

use crate::support::{TestServer, repo, ridge_model_dir};

/// More requests at once than the old count-based wait list (64) held: with the default
/// settings every one waits its turn, because the expected wait is far below the budget.
#[tokio::test]
async fn many_concurrent_requests_wait_for_an_instance_instead_of_503() {
    let server = TestServer::start("slow", &ridge_model_dir(), Limits::default()).await;
    let requests: Vec<_> = (0..120)
        .map(|_| tokio::spawn(server.score_request(&json!({"Inputs": {"ms": 5}})).send()))
        .collect();
    let mut statuses = std::collections::BTreeMap::new();
    for request in requests {
        *statuses.entry(request.await.unwrap().status).or_insert(0) += 1;
    }
    assert_eq!(
        statuses,
        [(StatusCode::OK, 120)].into(),
        "every request should be served"
    );
    server.stop().await;
}

/// A plugin whose runs take longer than the queue budget: once its run time is known, a
/// request that would have to wait beyond the budget is refused at once with `Retry-After`,
/// not after waiting out the budget or the slow run.
#[tokio::test]
async fn a_slow_plugin_gets_timely_503s_once_its_budget_is_exceeded() {
    let limits = Limits {
        instances: 1,
        queue_timeout: Duration::from_millis(400),
        ..Limits::default()
    };
    let server = TestServer::start("slow", &ridge_model_dir(), limits).await;
    // One run teaches the pool how long a run takes (800 ms, over the 400 ms budget).
    let warm = server.score(&json!({"Inputs": {"ms": 800}})).await;
    assert_eq!(warm.status, StatusCode::OK);
    let busy = tokio::spawn(
        server
            .score_request(&json!({"Inputs": {"ms": 3000}}))
            .send(),
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let refused: Vec<_> = (0..4)
        .map(|_| tokio::spawn(server.score_request(&json!({"Inputs": {"ms": 1}})).send()))
        .collect();
    for response in refused {
        let response = response.await.unwrap();
        assert_eq!(
            response.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{}",
            response.text()
        );
        assert_eq!(response.header("retry-after"), Some("1"));
        assert!(response.message().contains("busy"), "{}", response.text());
    }
    // Refused while the 3 s run still holds the only instance, not after it.
    assert!(
        started.elapsed() < Duration::from_millis(2000),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(busy.await.unwrap().status, StatusCode::OK);
    server.stop().await;
}

/// The JSON the issue found accepted and then refused by the guest SDK with a 500: now a 400
/// naming the field.
#[tokio::test]
async fn json_no_guest_can_parse_is_refused_with_400_and_its_path() {
    let server = TestServer::with_defaults("echo").await;
    let deep = format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000));
    let cases = [
        (
            format!(r#"{{"Inputs": {{"a": {deep}}}}}"#),
            "Inputs.a",
            "nested deeper",
        ),
        (
            r#"{"Inputs": {"a": [1, 1e400]}}"#.to_owned(),
            "Inputs.a[1]",
            "finite",
        ),
        (
            r#"{"Inputs": {"a": {"b": "x\ud800"}}}"#.to_owned(),
            "Inputs.a.b",
            "Unicode",
        ),
        (
            r#"{"Inputs": {"a": 1}, "GlobalParameters": -1e400}"#.to_owned(),
            "GlobalParameters",
            "finite",
        ),
    ];
    for (body, path, words) in cases {
        let response = server
            .request(Method::POST, "/score")
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await;
        assert_eq!(
            response.status,
            StatusCode::BAD_REQUEST,
            "{}",
            response.text()
        );
        let json = response.json();
        assert!(json["path"].as_str().unwrap().starts_with(path), "{json}");
        assert!(json["message"].as_str().unwrap().contains(words), "{json}");
    }
    server.stop().await;
}

/// JSON text generators for the property test: ordinary values mixed with what parsers
/// disagree on (out-of-range numbers, lone surrogates, control escapes, deep nesting).
mod bodies {
    use proptest::prelude::*;

    pub fn string() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            any::<char>().prop_map(|c| {
                let quoted = serde_json::to_string(&c.to_string()).unwrap();
                quoted[1..quoted.len() - 1].to_owned()
            }),
            prop::sample::select(vec![
                r"\ud800",
                r"\udc00",
                r"\uDBFF",
                r"\ud83d\ude00",
                r"\ud800\u0041",
                r"\u0000",
                r"\n",
                r#"\""#,
                r"\/",
            ])
            .prop_map(str::to_owned),
        ];
        prop::collection::vec(piece, 0..6).prop_map(|pieces| format!("\"{}\"", pieces.concat()))
    }

    fn leaf() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("null".to_owned()),
            Just("true".to_owned()),
            any::<i64>().prop_map(|n| n.to_string()),
            any::<f64>()
                .prop_filter("finite", |x| x.is_finite())
                .prop_map(|x| format!("{x:e}")),
            prop::sample::select(vec![
                "1e400",
                "-1e400",
                "1e-400",
                "1.7976931348623157e309",
                "123456789012345678901234567890",
                "-0",
                "5e-324",
                "1E+2",
            ])
            .prop_map(str::to_owned),
            string(),
        ]
    }

    pub fn value() -> impl Strategy<Value = String> {
        leaf().prop_recursive(4, 32, 5, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5)
                    .prop_map(|items| format!("[{}]", items.join(","))),
                prop::collection::vec((string(), inner), 0..5).prop_map(|entries| {
                    let entries: Vec<String> =
                        entries.iter().map(|(k, v)| format!("{k}:{v}")).collect();
                    format!("{{{}}}", entries.join(","))
                }),
            ]
        })
    }

    /// A value, sometimes wrapped in 90–140 arrays (around the depth limits).
    pub fn adversarial() -> impl Strategy<Value = String> {
        prop_oneof![
            3 => value(),
            1 => (90usize..140, value())
                .prop_map(|(n, v)| format!("{}{v}{}", "[".repeat(n), "]".repeat(n))),
        ]
    }
}

/// Nesting depth of a parsed value (a scalar is 0).
fn depth(value: &serde_json::Value) -> usize {
    match value {
        serde_json::Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        serde_json::Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// Random and adversarial bodies against an undescribed (`echo`) and a typed (`typed_echo`)
/// plugin: the host never answers 500, and it accepts exactly the bodies a strict parser
/// (serde_json, as in the Rust SDK) reads within the depth limit; the guests, which parse every
/// JSON value they get, then answer 200.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_and_adversarial_bodies_never_get_500() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestCaseError, TestRunner};

    let echo = TestServer::with_defaults("echo").await;
    let typed = TestServer::with_defaults("typed_echo").await;
    let handle = tokio::runtime::Handle::current();
    let post = |server: &TestServer, body: String| {
        handle.block_on(
            server
                .request(Method::POST, "/score")
                .header("content-type", "application/json")
                .body(body)
                .send(),
        )
    };
    let strategy = (
        bodies::adversarial(),
        bodies::adversarial(),
        prop::option::of(bodies::adversarial()),
        bodies::string(),
    );
    tokio::task::block_in_place(|| {
        let mut runner = TestRunner::new(Config {
            cases: 300,
            failure_persistence: None,
            ..Config::default()
        });
        runner
            .run(&strategy, |(a, b, global, name)| {
                let global =
                    global.map_or(String::new(), |g| format!(r#", "GlobalParameters": {g}"#));
                // Undescribed: every value goes to the guest.
                let body = format!(r#"{{"Inputs": {{"a": {a}, {name}: {b}}}{global}}}"#);
                let strict = serde_json::from_str::<serde_json::Value>(&body)
                    .is_ok_and(|v| depth(&v) <= 100);
                let response = post(&echo, body.clone());
                prop_assert!(
                    response.status != StatusCode::INTERNAL_SERVER_ERROR,
                    "500 for {body}: {}",
                    response.text()
                );
                let expected = if strict {
                    StatusCode::OK
                } else {
                    StatusCode::BAD_REQUEST
                };
                prop_assert_eq!(response.status, expected, "{} -> {}", body, response.text());
                if response.status == StatusCode::OK {
                    response.json();
                }
                // Typed: adversarial values where the schema lets any JSON through (extra keys
                // of a standard input) and in a string tensor.
                let body = format!(
                    r#"{{"Inputs": {{"matrix": [[1, 2, 3]], "ints": [1, 2], "flags": [true, false],
                        "names": [{name}], "people": [{{"name": "S", "age": 1}}],
                        "split": {{"columns": ["x", "ok"], "index": [0], "data": [[0.5, true]]}},
                        "by_column": {{"n": {{"0": 1}}}},
                        "options": {{"threshold": 0.5, "tags": ["t"], "extra": {a}}}}}{global}}}"#
                );
                let response = post(&typed, body.clone());
                prop_assert!(
                    response.status == StatusCode::OK || response.status == StatusCode::BAD_REQUEST,
                    "{} for {}: {}",
                    response.status,
                    body,
                    response.text()
                );
                Ok::<(), TestCaseError>(())
            })
            .unwrap_or_else(|e| panic!("{e}"));
    });
    echo.stop().await;
    typed.stop().await;
}

/// A server of `plugin_name` (as deployment `default`, at `/score`) on a runtime of its own
/// whose compile cache is `cache_dir`.
async fn serve_with_cache(plugin_name: &str, cache_dir: &Path) -> TestServer {
    let runtime = Runtime::new(&RuntimeSettings {
        cache_dir: Some(cache_dir.to_owned()),
        ..RuntimeSettings::default()
    })
    .unwrap();
    let mut settings = crate::support::settings(plugin_name, &ridge_model_dir());
    settings.name = "default".to_owned();
    let registry = Registry::load(runtime, vec![settings]).await.unwrap();
    TestServer::serve(
        registry,
        ServerOptions {
            default_deployment: Some("default".to_owned()),
            ..ServerOptions::default()
        },
    )
    .await
}

/// The one compiled artifact in a cache folder.
fn artifact(cache_dir: &Path) -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir(cache_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "cwasm"))
        .collect();
    assert_eq!(found.len(), 1, "{found:?}");
    found.pop().unwrap()
}

/// The checksum beside `artifact` matches its bytes (SHA-256 of file name, NUL, bytes).
fn assert_checksum_matches(artifact: &Path) {
    use sha2::Digest as _;
    let name = artifact.file_name().unwrap().to_str().unwrap();
    let mut hasher = sha2::Sha256::new();
    hasher.update(name.as_bytes());
    hasher.update([0]);
    hasher.update(std::fs::read(artifact).unwrap());
    let hex: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let stored = std::fs::read_to_string(format!("{}.sha256", artifact.display())).unwrap();
    assert_eq!(stored.trim(), hex, "{}", artifact.display());
}

async fn assert_scores_like_ridge(server: &TestServer) {
    let response = server
        .score(&json!({"Inputs": {"input1": [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]]}}))
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    assert_eq!(response.json(), json!([5430.917515226916]));
}

#[tokio::test]
async fn the_compile_cache_recompiles_truncated_damaged_and_foreign_artifacts() {
    let root = repo().join("target/test-verified-cache");
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    let cache = root.join("ridge");
    let server = serve_with_cache("ridge", &cache).await;
    assert_scores_like_ridge(&server).await;
    server.stop().await;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&cache).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700, "cache folder mode {mode:o}");
    }
    let ridge = artifact(&cache);
    assert_checksum_matches(&ridge);
    let good = std::fs::read(&ridge).unwrap();

    // A valid artifact of another component, with its own valid checksum, under ridge's name.
    let other = root.join("echo");
    serve_with_cache("echo", &other).await.stop().await;
    let echo = artifact(&other);

    let truncated = good[..good.len() / 2].to_vec();
    let mut flipped = good.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x10;
    for (what, bytes, sidecar) in [
        ("truncated", truncated, None),
        ("flipped bit", flipped, None),
        (
            "foreign",
            std::fs::read(&echo).unwrap(),
            Some(std::fs::read(format!("{}.sha256", echo.display())).unwrap()),
        ),
    ] {
        std::fs::write(&ridge, &bytes).unwrap();
        if let Some(sidecar) = sidecar {
            std::fs::write(format!("{}.sha256", ridge.display()), sidecar).unwrap();
        }
        let server = serve_with_cache("ridge", &cache).await;
        assert_scores_like_ridge(&server).await;
        server.stop().await;
        let now = std::fs::read(&ridge).unwrap();
        assert_ne!(now, bytes, "{what}: the artifact was not rewritten");
        assert_checksum_matches(&ridge);
    }
}

#[tokio::test]
async fn request_headers_over_the_cap_get_431_with_json_and_the_common_headers() {
    let server = TestServer::with_defaults("ridge").await;
    for path in ["/", "/score"] {
        let response = server
            .request(Method::GET, path)
            .header("x-big", &"a".repeat(70_000))
            .send()
            .await;
        assert_eq!(
            response.status,
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "{path}"
        );
        assert!(
            response.message().contains("65536 bytes"),
            "{}",
            response.text()
        );
        assert!(
            response
                .header("x-ms-server-version")
                .is_some_and(|v| v.starts_with("scorehost/")),
            "{:?}",
            response.headers
        );
        assert!(response.header("x-request-id").is_some());
        assert_eq!(response.header("content-type"), Some("application/json"));
    }
    // The deployment's own headers too, on its route.
    let response = server
        .request(Method::GET, "/score")
        .header("x-big", &"a".repeat(70_000))
        .send()
        .await;
    assert!(response.header("x-scorehost-plugin-sha256").is_some());
    // Under the cap is fine; several fields add up.
    let response = server
        .request(Method::GET, "/")
        .header("x-big", &"a".repeat(60_000))
        .send()
        .await;
    assert_eq!(response.status, StatusCode::OK);
    let response = server
        .request(Method::GET, "/")
        .header("x-one", &"a".repeat(40_000))
        .header("x-two", &"a".repeat(40_000))
        .send()
        .await;
    assert_eq!(response.status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    server.stop().await;

    // The cap is configurable.
    let registry = Registry::load(
        crate::support::runtime(),
        vec![crate::support::settings("ridge", &ridge_model_dir())],
    )
    .await
    .unwrap();
    let server = TestServer::serve(
        registry,
        ServerOptions {
            max_header_bytes: Some(2048),
            ..ServerOptions::default()
        },
    )
    .await;
    let response = server
        .request(Method::GET, "/")
        .header("x-big", &"a".repeat(3000))
        .send()
        .await;
    assert_eq!(response.status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    assert!(
        response.message().contains("2048 bytes"),
        "{}",
        response.text()
    );
    server.stop().await;
}

const ADMIN: &str = "admin-key";

/// `PUT /api/v1/service/NAME` with `change` as its body.
async fn swap(
    server: &TestServer,
    name: &str,
    change: serde_json::Value,
) -> crate::support::TestResponse {
    server
        .request(Method::PUT, &format!("/api/v1/service/{name}"))
        .header("authorization", &format!("Bearer {ADMIN}"))
        .header("content-type", "application/json")
        .body(change.to_string())
        .send()
        .await
}

#[cfg(unix)]
#[tokio::test]
async fn admin_swaps_cannot_leave_the_declared_roots_by_dotdot_or_symlink() {
    use std::os::unix::fs::symlink;

    let root = repo().join("target/test-swap-roots");
    let _ = std::fs::remove_dir_all(&root);
    let plugins = root.join("plugins");
    let models = root.join("models");
    let outside = root.join("outside");
    for dir in [&plugins, &models, &outside] {
        std::fs::create_dir_all(dir).unwrap();
    }
    let ridge = crate::support::plugin("ridge");
    std::fs::copy(&ridge, plugins.join("ridge.wasm")).unwrap();
    std::fs::copy(&ridge, plugins.join("ridge2.wasm")).unwrap();
    std::fs::copy(crate::support::plugin("echo"), outside.join("echo.wasm")).unwrap();
    let model = models.join("ridge");
    std::fs::create_dir_all(&model).unwrap();
    let model_file = "sklearn_regression_model.json";
    std::fs::copy(ridge_model_dir().join(model_file), model.join(model_file)).unwrap();
    let outside_model = outside.join("model");
    std::fs::create_dir_all(&outside_model).unwrap();
    std::fs::copy(
        ridge_model_dir().join(model_file),
        outside_model.join(model_file),
    )
    .unwrap();
    symlink(outside.join("echo.wasm"), plugins.join("link.wasm")).unwrap();
    symlink(&outside_model, models.join("link")).unwrap();

    let settings =
        scorehost::DeploymentSettings::new("ridge", plugins.join("ridge.wasm"), model.clone());
    let roots = scorehost::registry::SwapRoots {
        plugin: vec![plugins.clone()],
        model: vec![models.clone()],
    };
    for explicit in [Some(roots), None] {
        let registry = Registry::load(crate::support::runtime(), vec![settings.clone()])
            .await
            .unwrap();
        let server = TestServer::serve(
            registry,
            ServerOptions {
                default_deployment: Some("ridge".to_owned()),
                admin_key: Some(ADMIN.to_owned()),
                swap_roots: explicit,
                ..ServerOptions::default()
            },
        )
        .await;
        let escapes = [
            json!({"plugin": plugins.join("../outside/echo.wasm")}),
            json!({"plugin": plugins.join("link.wasm")}),
            json!({"plugin": "/proc/self/exe"}),
            json!({"plugin": plugins.join("missing.wasm")}),
            json!({"model_dir": models.join("../outside/model")}),
            json!({"model_dir": models.join("link")}),
            json!({"model_dir": "/"}),
        ];
        for change in escapes {
            let response = swap(&server, "ridge", change.clone()).await;
            assert_eq!(
                response.status,
                StatusCode::FORBIDDEN,
                "{change}: {}",
                response.text()
            );
            let message = response.message();
            assert!(message.contains("roots"), "{message}");
            assert!(
                !message.contains("outside"),
                "the message must not say where a path leads: {message}"
            );
        }
        // Inside the roots a swap works as before.
        let response = swap(
            &server,
            "ridge",
            json!({"plugin": plugins.join("ridge2.wasm"), "model_dir": models.join("./ridge")}),
        )
        .await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.text());
        assert_scores_like_ridge(&server).await;
        server.stop().await;
    }
}

/// The lines of a collection file: every one but the last, which may be partial only when
/// `allow_partial_tail`, is a whole JSON record. Returns the whole records.
fn collection_lines(file: &Path, allow_partial_tail: bool) -> Vec<serde_json::Value> {
    let text = std::fs::read(file).unwrap();
    let mut records = Vec::new();
    let lines: Vec<&[u8]> = text.split(|&b| b == b'\n').collect();
    let (last, whole) = lines.split_last().unwrap();
    for line in whole {
        let record = serde_json::from_slice(line)
            .unwrap_or_else(|e| panic!("a broken line in {}: {e}", file.display()));
        records.push(record);
    }
    assert!(
        last.is_empty() || allow_partial_tail,
        "{} ends in a partial line",
        file.display()
    );
    records
}

fn collect_settings(dir: &Path) -> scorehost::CollectSettings {
    let mut collect = scorehost::CollectSettings::new(dir.to_owned());
    collect.deployments = [("ridge".to_owned(), scorehost::CollectMode::Full)].into();
    collect
}

fn ridge_body(rows: usize) -> serde_json::Value {
    json!({"Inputs": {"input1": vec![[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]; rows]}})
}

/// Waits (bounded) until `file` holds `n` whole records.
async fn wait_for_records(file: &Path, n: usize) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if file.exists() {
            // The writer may be in the middle of a line.
            let records = collection_lines(file, true);
            if records.len() >= n {
                return records;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{} never held {n} records",
            file.display()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// What a crash mid-write leaves (a line without its end) is cut off when the writer opens the
/// file again; the records after it are whole lines.
#[tokio::test]
async fn data_collection_cuts_off_a_partial_line_left_by_a_crash() {
    let dir = repo().join("target/test-collect-partial");
    let _ = std::fs::remove_dir_all(&dir);
    let file = dir.join("ridge/data.jsonl");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    let whole =
        r#"{"time": 1.0, "request_id": "old", "deployment": "ridge", "input": {}, "output": 1}"#;
    std::fs::write(
        &file,
        format!("{whole}\n{{\"time\": 2.0, \"request_id\": \"cut"),
    )
    .unwrap();
    let server = TestServer::start_many(
        vec![crate::support::settings("ridge", &ridge_model_dir())],
        ServerOptions {
            default_deployment: Some("ridge".to_owned()),
            collect: Some(collect_settings(&dir)),
            ..ServerOptions::default()
        },
    )
    .await;
    for _ in 0..3 {
        assert_eq!(server.score(&ridge_body(1)).await.status, StatusCode::OK);
    }
    wait_for_records(&file, 4).await;
    let records = collection_lines(&file, false);
    assert_eq!(records.len(), 4);
    assert_eq!(records[0]["request_id"], "old");
    server.stop().await;
}

/// The `scorehost` binary serving ridge with data collection into `dir`, started through
/// `bash -c PRELUDE` (for limits); killed when dropped.
async fn serve_collecting(
    dir: &Path,
    prelude: &str,
) -> (crate::cli::Running, std::net::SocketAddr) {
    let binary = env!("CARGO_BIN_EXE_scorehost");
    let mut child = crate::cli::Running(
        std::process::Command::new("bash")
            .arg("-c")
            .arg(format!("{prelude}\nexec \"$0\" \"$@\""))
            .arg(binary)
            .args(["serve", "--addr", "127.0.0.1:0", "--admin-key", ADMIN])
            .arg("--plugin")
            .arg(crate::support::plugin("ridge"))
            .arg("--model-dir")
            .arg(ridge_model_dir())
            .arg("--collect-dir")
            .arg(dir)
            .env("SCOREHOST_CACHE_DIR", crate::support::test_cache_dir())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let addr = crate::cli::listening(&mut child, Duration::from_secs(120))
        .await
        .unwrap_or_else(|line| panic!("unexpected first line {line:?}"));
    (child, addr)
}

fn post_to(addr: std::net::SocketAddr, body: &serde_json::Value) -> crate::support::RequestBuilder {
    crate::support::RequestBuilder::to(addr, Method::POST, "/score")
        .header("content-type", "application/json")
        .body(body.to_string())
}

/// `kill -9` while the writer is busy: every line but perhaps the last is whole; a restart
/// cuts a partial last line off and appends whole lines after it.
#[tokio::test]
async fn kill_9_while_collecting_leaves_whole_lines_and_a_restart_repairs_the_tail() {
    let dir = repo().join("target/test-collect-kill");
    let _ = std::fs::remove_dir_all(&dir);
    let file = dir.join("default/data.jsonl");
    let (mut child, addr) = serve_collecting(&dir, "").await;
    let body = ridge_body(2000);
    // Keep the writer busy with large records, then kill the process in the middle of it.
    let load: Vec<_> = (0..4)
        .map(|_| {
            let body = body.clone();
            tokio::spawn(async move {
                for _ in 0..50 {
                    let _ =
                        tokio::time::timeout(Duration::from_secs(5), post_to(addr, &body).send())
                            .await;
                }
            })
        })
        .collect();
    wait_for_records(&file, 5).await;
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let _ = child.0.wait();
    for task in load {
        task.abort();
    }
    let before = collection_lines(&file, true).len();
    assert!(before >= 5);
    // Make sure a partial tail is there, as a kill in the middle of a write leaves it.
    let mut text = std::fs::read(&file).unwrap();
    if text.last() == Some(&b'\n') {
        text.extend_from_slice(br#"{"time": 1.5, "input": {"Inputs": [[1, 2"#);
        std::fs::write(&file, text).unwrap();
    }
    let (_child, addr) = serve_collecting(&dir, "").await;
    for _ in 0..2 {
        let response = post_to(addr, &ridge_body(1)).send().await;
        assert_eq!(response.status, StatusCode::OK);
    }
    wait_for_records(&file, before + 2).await;
    let records = collection_lines(&file, false);
    assert_eq!(records.len(), before + 2);
}

/// A disk that fills up (here: a file size limit, `ulimit -f`, with SIGXFSZ ignored so the
/// write fails with EFBIG as on a full disk): records are dropped and counted, the file keeps
/// whole lines only, and every request is still served.
#[tokio::test]
async fn a_full_disk_drops_and_counts_records_and_the_server_keeps_serving() {
    let dir = repo().join("target/test-collect-full");
    let _ = std::fs::remove_dir_all(&dir);
    let file = dir.join("default/data.jsonl");
    // 64 KiB files at most (bash counts `ulimit -f` in KiB).
    let (_child, addr) = serve_collecting(&dir, "trap '' XFSZ; ulimit -f 64").await;
    let body = ridge_body(200); // about 5 KiB per record
    for _ in 0..40 {
        let response = post_to(addr, &body).send().await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    }
    // Every record is written or counted as dropped, soon.
    let deadline = Instant::now() + Duration::from_secs(10);
    let dropped = loop {
        let metrics = crate::support::RequestBuilder::to(addr, Method::GET, "/metrics")
            .header("authorization", &format!("Bearer {ADMIN}"))
            .send()
            .await
            .text();
        let dropped: f64 = metrics
            .lines()
            .find_map(|l| l.strip_prefix("scorehost_collect_dropped_total "))
            .unwrap_or("0")
            .parse()
            .unwrap();
        let written = if file.exists() {
            collection_lines(&file, true).len()
        } else {
            0
        };
        if written + dropped as usize == 40 {
            break dropped;
        }
        assert!(
            Instant::now() < deadline,
            "written {written}, dropped {dropped}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(dropped >= 20.0, "dropped {dropped}");
    let records = collection_lines(&file, false);
    assert!(
        !records.is_empty() && records.len() < 40,
        "{}",
        records.len()
    );
    assert!(std::fs::metadata(&file).unwrap().len() <= 64 << 10);
    // Still serving.
    let response = post_to(addr, &ridge_body(1)).send().await;
    assert_eq!(response.status, StatusCode::OK);
}
