//! Scale to zero and back, pools that grow under load, and the host-wide memory budget.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use hyper::{Method, StatusCode};
use scorehost::{DeploymentSettings, Limits, Registry, Runtime, RuntimeSettings, ServerOptions};
use serde_json::{Value, json};

use crate::support::{
    TestResponse, TestServer, admin_entry, plugin, repo, ridge_model_dir, test_cache_dir,
};

const ADMIN: &str = "scale-admin";

/// A deployment that keeps no instance when idle: dropped after `idle`, at most `max` at once.
fn elastic(name: &str, plugin_name: &str, model_dir: PathBuf, max: usize) -> DeploymentSettings {
    DeploymentSettings {
        limits: Limits {
            instances: max,
            min_instances: Some(0),
            idle_timeout: Some(Duration::from_millis(200)),
            ..Limits::default()
        },
        ..DeploymentSettings::new(name, plugin(plugin_name), model_dir)
    }
}

fn admin() -> ServerOptions {
    ServerOptions {
        admin_key: Some(ADMIN.to_owned()),
        ..ServerOptions::default()
    }
}

async fn post(server: &TestServer, name: &str, body: &Value) -> TestResponse {
    server
        .request(Method::POST, &format!("/api/v1/service/{name}/score"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
}

/// Waits (at most 10 s) until the admin list shows `name` with no instance.
async fn wait_scaled_to_zero(server: &TestServer, name: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let entry = admin_entry(server, ADMIN, name).await;
        if entry["scaled_to_zero"] == true {
            assert_eq!(entry["instances"], 0, "{entry}");
            return entry;
        }
        assert!(Instant::now() < deadline, "never scaled to zero: {entry}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn ready(server: &TestServer) -> StatusCode {
    server
        .request(Method::GET, "/v2/health/ready")
        .send()
        .await
        .status
}

async fn scrape(server: &TestServer) -> String {
    let r = server
        .request(Method::GET, "/metrics")
        .header("authorization", &format!("Bearer {ADMIN}"))
        .send()
        .await;
    assert_eq!(r.status, StatusCode::OK);
    r.text()
}

/// The value of the sample `series` (name and labels exactly as exposed); 0 when absent.
fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0.0, |v| v.trim().parse().unwrap())
}

fn series(metric: &str, deployment: &str) -> String {
    format!("scorehost_{metric}{{deployment=\"{deployment}\"}}")
}

#[tokio::test]
async fn an_idle_deployment_scales_to_zero_and_its_next_request_succeeds() {
    let server = TestServer::start_many(
        vec![elastic("sleepy", "echo", ridge_model_dir(), 2)],
        admin(),
    )
    .await;
    // One instance is started at load (for the schema), then dropped once idle.
    let entry = wait_scaled_to_zero(&server, "sleepy").await;
    assert_eq!(entry["min_instances"], 0, "{entry}");
    assert_eq!(entry["max_instances"], 2, "{entry}");
    assert_eq!(entry["idle_timeout_s"], 0.2, "{entry}");
    // Scaled to zero is still ready: the next request starts an instance.
    assert_eq!(entry["status"], "ready", "{entry}");
    assert_eq!(ready(&server).await, StatusCode::OK);
    let before = scrape(&server).await;
    assert_eq!(value(&before, &series("pool_instances", "sleepy")), 0.0);

    let r = post(&server, "sleepy", &json!({"Inputs": {"n": 1}})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let body = r.json();
    assert_eq!(body["init_calls"], 1, "{body}");
    assert_eq!(body["run_calls"], 1, "{body}");

    let after = scrape(&server).await;
    assert_eq!(value(&after, &series("cold_starts_total", "sleepy")), 1.0);
    assert_eq!(
        value(
            &after,
            &series("cold_start_duration_seconds_count", "sleepy")
        ),
        1.0,
        "{after}"
    );
    assert!(value(&after, &series("cold_start_duration_seconds_sum", "sleepy")) > 0.0);
    assert_eq!(value(&after, &series("pool_instances", "sleepy")), 1.0);
    // The woken instance is reused while it is warm, then dropped again.
    let r = post(&server, "sleepy", &json!({"Inputs": {"n": 2}})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    wait_scaled_to_zero(&server, "sleepy").await;
    server.stop().await;
}

#[tokio::test]
async fn fifty_concurrent_first_requests_share_the_cold_starts() {
    let server = TestServer::start_many(
        vec![elastic("burst", "echo", ridge_model_dir(), 2)],
        admin(),
    )
    .await;
    wait_scaled_to_zero(&server, "burst").await;

    let mut requests = tokio::task::JoinSet::new();
    for n in 0..50 {
        let request = server
            .request(Method::POST, "/api/v1/service/burst/score")
            .header("content-type", "application/json")
            .body(json!({"Inputs": {"n": n}}).to_string());
        requests.spawn(request.send());
    }
    let mut instances = HashSet::new();
    for r in requests.join_all().await {
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let body = r.json();
        assert_eq!(body["init_calls"], 1, "{body}");
        instances.insert(body["instance"].as_str().unwrap().to_owned());
    }
    assert!(
        (1..=2).contains(&instances.len()),
        "{} instances",
        instances.len()
    );
    let text = scrape(&server).await;
    let cold_starts = value(&text, &series("cold_starts_total", "burst"));
    let inits = value(&text, &series("init_duration_seconds_count", "burst"));
    // One init at load, one per instance started since; never more than `max` at once.
    assert_eq!(cold_starts, instances.len() as f64, "{text}");
    assert_eq!(inits, 1.0 + cold_starts, "{text}");
    assert!(value(&text, &series("pool_instances", "burst")) <= 2.0);
    server.stop().await;
}

#[tokio::test]
async fn the_pool_grows_under_load_up_to_its_maximum() {
    // A fixed minimum of one, growing to three while requests overlap.
    let settings = DeploymentSettings {
        limits: Limits {
            instances: 3,
            min_instances: Some(1),
            idle_timeout: Some(Duration::from_millis(300)),
            ..Limits::default()
        },
        ..DeploymentSettings::new("grows", plugin("slow"), ridge_model_dir())
    };
    let server = TestServer::start_many(vec![settings], admin()).await;
    assert_eq!(admin_entry(&server, ADMIN, "grows").await["instances"], 1);
    let mut requests = tokio::task::JoinSet::new();
    for _ in 0..6 {
        let request = server
            .request(Method::POST, "/api/v1/service/grows/score")
            .header("content-type", "application/json")
            .body(json!({"Inputs": {"ms": 300}}).to_string());
        requests.spawn(request.send());
    }
    for r in requests.join_all().await {
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    }
    let text = scrape(&server).await;
    assert_eq!(
        value(&text, &series("cold_starts_total", "grows")),
        2.0,
        "{text}"
    );
    // Back to the minimum once idle, never below it.
    let deadline = Instant::now() + Duration::from_secs(10);
    while admin_entry(&server, ADMIN, "grows").await["instances"] != 1 {
        assert!(Instant::now() < deadline, "never shrank back to 1");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(admin_entry(&server, ADMIN, "grows").await["instances"], 1);
    server.stop().await;
}

#[tokio::test]
async fn a_scaled_to_zero_deployment_can_be_hot_swapped() {
    let server = TestServer::start_many(
        vec![elastic("swapped", "echo", ridge_model_dir(), 1)],
        admin(),
    )
    .await;
    wait_scaled_to_zero(&server, "swapped").await;

    let r = server
        .request(Method::PUT, "/api/v1/service/swapped")
        .header("authorization", &format!("Bearer {ADMIN}"))
        .header("content-type", "application/json")
        .body(json!({"plugin": plugin("ridge")}).to_string())
        .send()
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let ridge =
        json!({"Inputs": {"input1": [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]]}, "GlobalParameters": 1.0});
    let r = post(&server, "swapped", &ridge).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    // The new version scales to zero too, and wakes again.
    wait_scaled_to_zero(&server, "swapped").await;
    let r = post(&server, "swapped", &ridge).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    server.stop().await;
}

#[tokio::test]
async fn init_failing_on_wake_gives_a_clear_503_until_it_starts_again() {
    // The fragile plugin's init fails while its gate file is missing.
    let dir = repo().join("target/test-models/wake-fails");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("gate"), "0").unwrap();
    let server =
        TestServer::start_many(vec![elastic("waking", "fragile", dir.clone(), 1)], admin()).await;
    wait_scaled_to_zero(&server, "waking").await;
    std::fs::remove_file(dir.join("gate")).unwrap();

    let r = post(&server, "waking", &json!({"Inputs": {}})).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("retry-after"), Some("1"));
    let message = r.message();
    assert!(message.contains("could not be started"), "{message}");
    // The reason (the guest's init error) is in the log, not in the response.
    assert!(!message.contains("gate"), "{message}");
    let entry = admin_entry(&server, ADMIN, "waking").await;
    assert_eq!(entry["status"], "unhealthy", "{entry}");
    assert_eq!(ready(&server).await, StatusCode::SERVICE_UNAVAILABLE);
    let text = scrape(&server).await;
    assert_eq!(
        value(&text, &series("init_failures_total", "waking")),
        1.0,
        "{text}"
    );

    std::fs::write(dir.join("gate"), "0").unwrap();
    let r = post(&server, "waking", &json!({"Inputs": {}})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(
        admin_entry(&server, ADMIN, "waking").await["status"],
        "ready"
    );
    assert_eq!(ready(&server).await, StatusCode::OK);
    server.stop().await;
}

#[tokio::test]
async fn the_host_memory_budget_refuses_the_tenant_that_would_pass_it() {
    // A runtime of its own: the budget is host-wide, and other tests share the default one.
    let runtime = Runtime::new(&RuntimeSettings {
        cache_dir: Some(test_cache_dir()),
        max_host_memory: Some(256 << 20),
        ..RuntimeSettings::default()
    })
    .unwrap();
    let fixed = |name: &str| DeploymentSettings {
        limits: Limits {
            instances: 1,
            ..Limits::default()
        },
        ..DeploymentSettings::new(name, plugin("probe"), ridge_model_dir())
    };
    let registry = Registry::load(runtime, vec![fixed("first"), fixed("second")])
        .await
        .unwrap();
    let server = TestServer::serve(registry, admin()).await;
    let idle = scrape(&server).await;
    let used = value(&idle, "scorehost_host_memory_bytes");
    assert!(used > 0.0, "instantiation is charged: {idle}");
    assert_eq!(
        value(&idle, "scorehost_host_memory_limit_bytes"),
        f64::from(256u32 << 20)
    );

    // Linear memory never shrinks: the first tenant keeps its 200 MiB while its instance
    // lives, so the second cannot take as much.
    let take = json!({"Inputs": {"action": "alloc", "mib": 200}});
    let r = post(&server, "first", &take).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let r = post(&server, "second", &take).await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR, "{}", r.text());
    assert_eq!(
        r.message(),
        "The scoring script exceeded its memory limit. Check the logs for more info."
    );
    let text = scrape(&server).await;
    assert_eq!(
        value(&text, "scorehost_host_memory_refusals_total"),
        1.0,
        "{text}"
    );
    assert_eq!(
        value(&text, &series("memory_limit_hits_total", "second")),
        1.0,
        "{text}"
    );
    assert!(value(&text, "scorehost_host_memory_bytes") <= f64::from(256u32 << 20));

    // Both tenants still serve (the second on a replacement instance).
    let small = json!({"Inputs": {"action": "alloc", "mib": 1}});
    for name in ["first", "second"] {
        let r = post(&server, name, &small).await;
        assert_eq!(r.status, StatusCode::OK, "{name}: {}", r.text());
        assert_eq!(r.json()["allocated_mib"], 1);
    }
    server.stop().await;
}

#[tokio::test]
async fn the_command_line_sets_an_elastic_pool_and_the_memory_budget() {
    let (_child, addr) = crate::cli::serve(&[
        "--plugin".as_ref(),
        plugin("echo").as_os_str(),
        "--model-dir".as_ref(),
        ridge_model_dir().as_os_str(),
        "--admin-key".as_ref(),
        ADMIN.as_ref(),
        "--min-instances".as_ref(),
        "0".as_ref(),
        "--idle-timeout-s".as_ref(),
        "1".as_ref(),
        "--max-host-memory-mib".as_ref(),
        "64".as_ref(),
    ])
    .await;
    let admin = |method: Method, path: &str| {
        crate::support::RequestBuilder::to(addr, method, path)
            .header("authorization", &format!("Bearer {ADMIN}"))
    };
    let list = admin(Method::GET, "/api/v1/deployments")
        .send()
        .await
        .json();
    let entry = &list["deployments"][0];
    assert_eq!(entry["min_instances"], 0, "{entry}");
    assert_eq!(entry["max_instances"], 2, "{entry}");
    assert_eq!(entry["idle_timeout_s"], 1.0, "{entry}");
    assert_eq!(entry["scaled_to_zero"], true, "{entry}");
    let r = crate::support::RequestBuilder::to(addr, Method::POST, "/score")
        .header("content-type", "application/json")
        .body(json!({"Inputs": {"n": 1}}).to_string())
        .send()
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let text = admin(Method::GET, "/metrics").send().await.text();
    assert_eq!(
        value(&text, "scorehost_host_memory_limit_bytes"),
        f64::from(64u32 << 20)
    );
    assert_eq!(
        value(&text, &series("cold_starts_total", "default")),
        1.0,
        "{text}"
    );
}
