//! Many deployments on one host: routes, keys, the admin API, hot swap under load, and a
//! noisy neighbour that does not hurt the others.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hyper::{Method, StatusCode};
use scorehost::{DeploymentSettings, Registry, ServerOptions, SwaggerSettings};
use serde_json::{Value, json};

use crate::support::{RequestBuilder, TestServer, plugin, repo, ridge_model_dir, runtime};

const ADMIN: &str = "admin-secret";

fn deployment(
    name: &str,
    plugin_name: &str,
    model_dir: &Path,
    keys: &[&str],
) -> DeploymentSettings {
    DeploymentSettings {
        swagger: SwaggerSettings {
            path_prefix: format!("/api/v1/service/{name}"),
            ..SwaggerSettings::default()
        },
        keys: keys.iter().map(|k| k.to_string()).collect(),
        ..DeploymentSettings::new(name, plugin(plugin_name), model_dir.to_owned())
    }
}

fn admin_options() -> ServerOptions {
    ServerOptions {
        admin_key: Some(ADMIN.to_owned()),
        ..ServerOptions::default()
    }
}

fn score(server: &TestServer, name: &str, key: Option<&str>, body: &Value) -> RequestBuilder {
    let mut req = server
        .request(Method::POST, &format!("/api/v1/service/{name}/score"))
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(key) = key {
        req = req.header("authorization", &format!("Bearer {key}"));
    }
    req
}

/// A model folder holding a linear model with every coefficient `c` and intercept 0, so a
/// row of ones scores `10 * c`.
fn linear_model_dir(tag: &str, c: f64) -> PathBuf {
    let dir = repo().join("target/test-models").join(tag);
    std::fs::create_dir_all(&dir).unwrap();
    let model = json!({"coef": vec![c; 10], "intercept": 0.0});
    std::fs::write(dir.join("sklearn_regression_model.json"), model.to_string()).unwrap();
    dir
}

fn ones() -> Value {
    json!({"Inputs": {"input1": [[1, 1, 1, 1, 1, 1, 1, 1, 1, 1]]}})
}

#[tokio::test]
async fn each_deployment_has_its_routes_and_its_own_keys() {
    let server = TestServer::start_many(
        vec![
            deployment(
                "ridge",
                "ridge",
                &ridge_model_dir(),
                &["ridge-k1", "ridge-k2"],
            ),
            deployment("echo", "echo", &ridge_model_dir(), &["echo-key"]),
            deployment("open", "echo", &ridge_model_dir(), &[]),
        ],
        admin_options(),
    )
    .await;
    for key in ["ridge-k1", "ridge-k2"] {
        let response = score(&server, "ridge", Some(key), &ones()).await;
        assert_eq!(
            response.status,
            StatusCode::OK,
            "{key}: {}",
            response.text()
        );
        assert_eq!(
            response.header("x-scorehost-plugin-sha256").map(str::len),
            Some(64)
        );
    }
    let response = score(&server, "ridge", None, &ones()).await;
    assert_eq!(response.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.header("www-authenticate"),
        Some(r#"Bearer realm="scorehost""#)
    );
    assert_eq!(
        response.message(),
        "Send a key: Authorization: Bearer <key>."
    );
    // One tenant's key never opens another's deployment.
    for (name, key) in [
        ("ridge", "echo-key"),
        ("echo", "ridge-k1"),
        ("ridge", "ridge-k"),
    ] {
        let response = score(&server, name, Some(key), &ones()).await;
        assert_eq!(
            response.status,
            StatusCode::UNAUTHORIZED,
            "{name} with {key}"
        );
        assert_eq!(
            response.header("www-authenticate"),
            Some(r#"Bearer realm="scorehost", error="invalid_token""#)
        );
    }
    let response = score(&server, "open", None, &ones()).await;
    assert_eq!(response.status, StatusCode::OK);

    // Each deployment documents its own paths; there is no default /score with a file.
    let doc = server
        .request(Method::GET, "/api/v1/service/ridge/swagger.json")
        .send()
        .await
        .json();
    assert!(
        doc["paths"]["/api/v1/service/ridge/score"].is_object(),
        "{doc}"
    );
    let response = server.request(Method::GET, "/score").send().await;
    assert_eq!(response.status, StatusCode::NOT_FOUND);
    let response = score(&server, "nobody", Some("x"), &ones()).await;
    assert_eq!(response.status, StatusCode::NOT_FOUND);
    server.stop().await;
}

#[tokio::test]
async fn the_admin_api_lists_and_swaps_and_refuses_a_broken_version() {
    let v1 = linear_model_dir("admin-v1", 1.0);
    let v2 = linear_model_dir("admin-v2", 2.0);
    let server = TestServer::start_many(
        vec![deployment("ridge", "ridge", &v1, &[])],
        admin_options(),
    )
    .await;
    let admin = |method: Method, path: &str| {
        server
            .request(method, path)
            .header("authorization", &format!("Bearer {ADMIN}"))
    };

    let response = server
        .request(Method::GET, "/api/v1/deployments")
        .send()
        .await;
    assert_eq!(response.status, StatusCode::UNAUTHORIZED);
    let list = admin(Method::GET, "/api/v1/deployments")
        .send()
        .await
        .json();
    let v1_digest = list["deployments"][0]["version"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(list["deployments"][0]["name"], "ridge");
    assert_eq!(list["deployments"][0]["world"], "scorer");

    assert_eq!(
        score(&server, "ridge", None, &ones()).await.json(),
        json!([10.0])
    );
    let response = admin(Method::PUT, "/api/v1/service/ridge")
        .body(json!({"model_dir": v2}).to_string())
        .send()
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    assert_eq!(
        score(&server, "ridge", None, &ones()).await.json(),
        json!([20.0])
    );

    // A version whose init fails is refused; the running one keeps serving.
    let response = admin(Method::PUT, "/api/v1/service/ridge")
        .body(json!({"plugin": plugin("init_fails")}).to_string())
        .send()
        .await;
    assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        response.message().contains("init() failed"),
        "{}",
        response.text()
    );
    assert_eq!(
        score(&server, "ridge", None, &ones()).await.json(),
        json!([20.0])
    );

    // A new plugin gets a new version.
    let response = admin(Method::PUT, "/api/v1/service/ridge")
        .body(json!({"plugin": plugin("echo")}).to_string())
        .send()
        .await;
    assert_eq!(response.status, StatusCode::OK);
    assert_ne!(response.json()["version"], v1_digest);
    let response = score(&server, "ridge", None, &ones()).await;
    assert_eq!(response.json()["init_calls"], 1);
    assert_eq!(
        admin(Method::PUT, "/api/v1/service/nobody")
            .send()
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    server.stop().await;

    // Without an admin key the admin API is off.
    let server = TestServer::start_many(
        vec![deployment("ridge", "ridge", &v1, &[])],
        ServerOptions::default(),
    )
    .await;
    let response = server
        .request(Method::GET, "/api/v1/deployments")
        .header("authorization", &format!("Bearer {ADMIN}"))
        .send()
        .await;
    assert_eq!(response.status, StatusCode::FORBIDDEN);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_swaps_under_load_fail_no_request() {
    let v1 = linear_model_dir("swap-v1", 1.0);
    let v2 = linear_model_dir("swap-v2", 2.0);
    let registry = Registry::load(runtime(), vec![deployment("ridge", "ridge", &v1, &[])])
        .await
        .unwrap();
    let server = TestServer::serve(registry.clone(), ServerOptions::default()).await;

    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let seen = Arc::new(std::sync::Mutex::new(std::collections::BTreeSet::new()));
    let mut clients = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let (stop, ok, failed, seen) = (stop.clone(), ok.clone(), failed.clone(), seen.clone());
        let addr = server.addr;
        clients.spawn(async move {
            let deadline = Instant::now() + Duration::from_secs(60);
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                let response =
                    RequestBuilder::to(addr, Method::POST, "/api/v1/service/ridge/score")
                        .header("content-type", "application/json")
                        .body(ones().to_string())
                        .send()
                        .await;
                if response.status == StatusCode::OK {
                    ok.fetch_add(1, Ordering::Relaxed);
                    seen.lock().unwrap().insert(response.text());
                } else {
                    failed.fetch_add(1, Ordering::Relaxed);
                    eprintln!("failed: {} {}", response.status, response.text());
                }
            }
        });
    }
    for i in 0..20 {
        let dir = if i % 2 == 0 { &v2 } else { &v1 };
        let change = scorehost::registry::SwapRequest {
            plugin: None,
            model_dir: Some(dir.clone()),
        };
        registry.swap("ridge", change).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, Ordering::Relaxed);
    clients.join_all().await;
    let (ok, failed) = (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    eprintln!("swap under load: {ok} requests succeeded, {failed} failed, 20 swaps");
    assert_eq!(failed, 0);
    assert!(ok > 20, "{ok}");
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        ["[10.0]".to_owned(), "[20.0]".to_owned()].into(),
        "{seen:?}"
    );
    // The last swap (i = 19) went to v1.
    assert_eq!(
        RequestBuilder::to(server.addr, Method::POST, "/api/v1/service/ridge/score")
            .header("content-type", "application/json")
            .body(ones().to_string())
            .send()
            .await
            .text(),
        "[10.0]"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_noisy_neighbour_does_not_take_down_the_others() {
    let mut noisy = deployment("noisy", "loop_forever", &ridge_model_dir(), &[]);
    noisy.limits.instances = 2;
    noisy.limits.timeout = Duration::from_millis(300);
    noisy.limits.max_memory = 32 << 20;
    let mut bomb = deployment("bomb", "alloc_bomb", &ridge_model_dir(), &[]);
    bomb.limits.max_memory = 32 << 20;
    let quiet = deployment("quiet", "ridge", &ridge_model_dir(), &[]);
    let server = TestServer::start_many(vec![noisy, bomb, quiet], ServerOptions::default()).await;

    let stop = Arc::new(AtomicBool::new(false));
    let mut attackers = tokio::task::JoinSet::new();
    for i in 0..4 {
        let (stop, addr) = (stop.clone(), server.addr);
        attackers.spawn(async move {
            let name = if i % 2 == 0 { "noisy" } else { "bomb" };
            let deadline = Instant::now() + Duration::from_secs(30);
            let mut statuses = Vec::new();
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                let path = format!("/api/v1/service/{name}/score");
                let response = RequestBuilder::to(addr, Method::POST, &path)
                    .header("content-type", "application/json")
                    .body(json!({"Inputs": {}}).to_string())
                    .send()
                    .await;
                statuses.push(response.status);
            }
            statuses
        });
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut latencies = Vec::new();
    for _ in 0..100 {
        let started = Instant::now();
        let response = RequestBuilder::to(server.addr, Method::POST, "/api/v1/service/quiet/score")
            .header("content-type", "application/json")
            .body(ones().to_string())
            .send()
            .await;
        latencies.push(started.elapsed());
        assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    }
    stop.store(true, Ordering::Relaxed);
    let statuses: Vec<StatusCode> = attackers.join_all().await.into_iter().flatten().collect();
    latencies.sort();
    eprintln!(
        "noisy neighbour: quiet tenant p50 {:?}, p99 {:?} over 100 requests; noisy tenant got {} answers",
        latencies[50],
        latencies[98],
        statuses.len()
    );
    assert!(!statuses.is_empty());
    assert!(
        statuses.iter().all(|s| matches!(
            *s,
            StatusCode::GATEWAY_TIMEOUT
                | StatusCode::INTERNAL_SERVER_ERROR
                | StatusCode::SERVICE_UNAVAILABLE
        )),
        "{statuses:?}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_misbehaving_plugin_is_contained_while_its_neighbour_serves() {
    for (bad, expected) in [
        ("loop_forever", StatusCode::GATEWAY_TIMEOUT),
        ("slow", StatusCode::GATEWAY_TIMEOUT),
        ("alloc_bomb", StatusCode::INTERNAL_SERVER_ERROR),
        ("trap", StatusCode::INTERNAL_SERVER_ERROR),
        ("fs_escape", StatusCode::OK),
    ] {
        let mut misbehaving = deployment("bad", bad, &ridge_model_dir(), &[]);
        misbehaving.limits.timeout = Duration::from_millis(200);
        misbehaving.limits.max_memory = 32 << 20;
        let quiet = deployment("quiet", "ridge", &ridge_model_dir(), &[]);
        let server =
            TestServer::start_many(vec![misbehaving, quiet], ServerOptions::default()).await;
        let mut attacks = tokio::task::JoinSet::new();
        for _ in 0..3 {
            attacks.spawn(score(&server, "bad", None, &json!({"Inputs": {}})).send());
        }
        for _ in 0..10 {
            let response = score(&server, "quiet", None, &ones()).await;
            assert_eq!(
                response.status,
                StatusCode::OK,
                "{bad}: {}",
                response.text()
            );
        }
        for response in attacks.join_all().await {
            assert_eq!(response.status, expected, "{bad}: {}", response.text());
            if bad == "fs_escape" {
                assert_eq!(response.json()["escaped"], json!([]), "{bad}");
            }
        }
        // Still contained after the attack: the bad deployment answers the same way again.
        let response = score(&server, "bad", None, &json!({"Inputs": {}})).await;
        assert_eq!(response.status, expected, "{bad} afterwards");
        server.stop().await;
    }
    assert!(!ridge_model_dir().join("planted.txt").exists());
}

#[tokio::test]
async fn a_changed_plugin_file_is_swapped_in() {
    let dir = repo().join("target/test-watch");
    std::fs::create_dir_all(&dir).unwrap();
    let watched = dir.join("plugin.wasm");
    std::fs::copy(plugin("ridge"), &watched).unwrap();
    let mut settings = deployment("watched", "ridge", &ridge_model_dir(), &[]);
    settings.plugin = watched.clone();
    let registry = Registry::load(runtime(), vec![settings]).await.unwrap();
    registry.watch(Duration::from_millis(100));
    let server = TestServer::serve(registry, ServerOptions::default()).await;
    let before = score(&server, "watched", None, &ones()).await;
    assert_eq!(before.status, StatusCode::OK);

    // Replace the file (write beside and rename, as deploy tools do).
    let tmp = dir.join("plugin.wasm.new");
    std::fs::copy(plugin("echo"), &tmp).unwrap();
    std::fs::rename(&tmp, &watched).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let response = score(&server, "watched", None, &ones()).await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.text());
        if response.header("x-scorehost-plugin-sha256")
            != before.header("x-scorehost-plugin-sha256")
        {
            assert_eq!(response.json()["init_calls"], 1, "now the echo plugin");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the watcher did not swap the plugin in"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.stop().await;
}

#[tokio::test]
async fn a_full_wait_list_answers_503_at_once() {
    let mut settings = deployment("busy", "slow", &ridge_model_dir(), &[]);
    settings.limits.instances = 1;
    settings.limits.queue = 0;
    let server = TestServer::start_many(vec![settings], ServerOptions::default()).await;
    let slow = tokio::spawn(score(&server, "busy", None, &json!({"Inputs": {"ms": 1000}})).send());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let response = score(&server, "busy", None, &json!({"Inputs": {"ms": 1}})).await;
    assert_eq!(response.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(slow.await.unwrap().status, StatusCode::OK);
    server.stop().await;
}

/// A call on an instance that sat idle for several epoch ticks runs to completion when first
/// polled: its epoch deadline counts from the call's start. Counted from the previous call, it
/// lay in the past, and every such call yielded to the executor before its first instruction
/// while holding its instance.
#[tokio::test]
async fn a_call_on_an_idle_instance_does_not_yield_before_it_starts() {
    let deployment = scorehost::Deployment::load(
        &runtime(),
        crate::support::settings("echo", &ridge_model_dir()),
    )
    .await
    .expect("loading the echo plugin");
    let mut finished_at_once = 0;
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(5)).await;
        let call = scorehost::__bench::warm_call(&deployment, r#"{"x": 1}"#, None);
        let mut call = std::pin::pin!(call);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match call.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(outcome) => {
                outcome.expect("echo answers");
                finished_at_once += 1;
            }
            std::task::Poll::Pending => {
                call.await.expect("echo answers");
            }
        }
    }
    // A tick may land inside a call (tens of µs of each 1 ms in a debug build), so not every
    // call has to finish at once; with the deadline left from the previous call, none did.
    assert!(
        finished_at_once >= 1,
        "every call yielded before it started"
    );
}
