//! The soak test (issue 21): mixed traffic for a while against the `scorehost` binary — typed,
//! raw and bad requests, a looping and a trapping tenant, hot swaps every few seconds, data
//! collection on — then a report of RSS over time, statuses and latency percentiles.
//! A 30-second run is part of the tests; `cargo xtask soak [--minutes N]` runs a long one.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hyper::{Method, StatusCode};
use serde_json::json;

use crate::support::{RequestBuilder, TestResponse, plugin, repo, ridge_model_dir, test_cache_dir};

const ADMIN: &str = "soak-admin";

/// One kind of request and the status it must get.
struct Kind {
    name: &'static str,
    expected: StatusCode,
    request: fn(std::net::SocketAddr) -> RequestBuilder,
}

fn post(addr: std::net::SocketAddr, deployment: &str, body: &str) -> RequestBuilder {
    RequestBuilder::to(
        addr,
        Method::POST,
        &format!("/api/v1/service/{deployment}/score"),
    )
    .header("content-type", "application/json")
    .body(body.to_owned())
}

const RIDGE: &str = r#"{"Inputs": {"input1": [[1,2,3,4,5,6,7,8,9,10],[10,9,8,7,6,5,4,3,2,1]]}, "GlobalParameters": 1.0}"#;

const POWERBI: &str = r#"{"Inputs": {"input1": [[1,2,3,4,5,6,7,8,9,10],[10,9,8,7,6,5,4,3,2,1]],
    "input2": [{"name": "Sarah", "age": 25}, {"name": "John", "age": 26}], "input3": 0.0},
    "GlobalParameters": 1.0}"#;

fn kinds() -> Vec<Kind> {
    vec![
        Kind {
            name: "untyped ok",
            expected: StatusCode::OK,
            request: |a| post(a, "ridge", RIDGE),
        },
        Kind {
            name: "typed ok",
            expected: StatusCode::OK,
            request: |a| post(a, "typed", POWERBI),
        },
        Kind {
            name: "typed wrong type",
            expected: StatusCode::BAD_REQUEST,
            request: |a| {
                post(
                    a,
                    "typed",
                    r#"{"Inputs": {"input1": [["x"]]}, "GlobalParameters": 1.0}"#,
                )
            },
        },
        Kind {
            name: "not finite",
            expected: StatusCode::BAD_REQUEST,
            request: |a| post(a, "ridge", r#"{"Inputs": {"input1": [[1e400]]}}"#),
        },
        Kind {
            name: "not JSON",
            expected: StatusCode::BAD_REQUEST,
            request: |a| post(a, "ridge", "{\"Inputs\": "),
        },
        Kind {
            name: "raw GET",
            expected: StatusCode::OK,
            request: |a| RequestBuilder::to(a, Method::GET, "/api/v1/service/raw/score?x=1"),
        },
        Kind {
            name: "raw no file",
            expected: StatusCode::BAD_REQUEST,
            request: |a| RequestBuilder::to(a, Method::POST, "/api/v1/service/raw/score").body("x"),
        },
        Kind {
            name: "looping",
            expected: StatusCode::GATEWAY_TIMEOUT,
            request: |a| post(a, "loop", r#"{"Inputs": {}}"#),
        },
        Kind {
            name: "trapping",
            expected: StatusCode::INTERNAL_SERVER_ERROR,
            request: |a| post(a, "trap", r#"{"Inputs": {}}"#),
        },
    ]
}

/// What a soak run saw.
pub struct Report {
    /// (seconds since start, RSS in KiB), one sample a second.
    pub rss: Vec<(u64, u64)>,
    /// Per request kind: status → count.
    pub statuses: BTreeMap<&'static str, BTreeMap<u16, u64>>,
    /// Requests that got another status than expected: (kind, status, body).
    pub unexpected: Vec<(&'static str, u16, String)>,
    /// Latency percentiles (p50, p90, p99, max) over all requests, in ms.
    pub latency_ms: [f64; 4],
    pub swaps: u64,
    pub failed_swaps: Vec<String>,
    pub collected_lines: usize,
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Runs the soak for `duration` with `workers` clients and returns what it saw.
pub async fn soak(duration: Duration, workers: usize) -> Report {
    let dir = repo().join("target/test-soak");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("plugins")).unwrap();
    for (name, file) in [
        ("ridge", "ridge-a"),
        ("ridge", "ridge-b"),
        ("powerbi", "powerbi"),
        ("image_size", "image_size"),
        ("loop_forever", "loop_forever"),
        ("trap", "trap"),
    ] {
        std::fs::copy(plugin(name), dir.join(format!("plugins/{file}.wasm"))).unwrap();
    }
    let model = ridge_model_dir();
    let model = model.display();
    let manifest = format!(
        r#"admin_key = "{ADMIN}"
collect_dir = "data"
watch = false
[[deployment]]
name = "ridge"
plugin = "plugins/ridge-a.wasm"
model_dir = "{model}"
auth = false
collect = "full"
[[deployment]]
name = "typed"
plugin = "plugins/powerbi.wasm"
model_dir = "{model}"
auth = false
collect = "redact"
[[deployment]]
name = "raw"
plugin = "plugins/image_size.wasm"
model_dir = "{model}"
auth = false
[[deployment]]
name = "loop"
plugin = "plugins/loop_forever.wasm"
model_dir = "{model}"
auth = false
instances = 1
timeout_ms = 100
[[deployment]]
name = "trap"
plugin = "plugins/trap.wasm"
model_dir = "{model}"
auth = false
instances = 1
"#
    );
    std::fs::write(dir.join("deployments.toml"), manifest).unwrap();
    let mut child = crate::cli::Running(
        Command::new(env!("CARGO_BIN_EXE_scorehost"))
            .args(["serve", "--addr", "127.0.0.1:0", "--config"])
            .arg(dir.join("deployments.toml"))
            .env("SCOREHOST_CACHE_DIR", test_cache_dir())
            .env("SCOREHOST_LOG", "error")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let pid = child.0.id();
    let addr = crate::cli::listening(&mut child, Duration::from_secs(300))
        .await
        .unwrap_or_else(|line| panic!("unexpected first line {line:?}"));

    let started = Instant::now();
    let deadline = started + duration;
    let latencies = Arc::new(Mutex::new(Vec::<Duration>::new()));
    let statuses = Arc::new(Mutex::new(
        BTreeMap::<&'static str, BTreeMap<u16, u64>>::new(),
    ));
    let unexpected = Arc::new(Mutex::new(Vec::new()));
    let kinds = Arc::new(kinds());
    let clients: Vec<_> = (0..workers)
        .map(|worker| {
            let (latencies, statuses, unexpected, kinds) = (
                latencies.clone(),
                statuses.clone(),
                unexpected.clone(),
                kinds.clone(),
            );
            tokio::spawn(async move {
                let mut n = worker;
                while Instant::now() < deadline {
                    let kind = &kinds[n % kinds.len()];
                    n += 1;
                    let sent = Instant::now();
                    let response: TestResponse = (kind.request)(addr).send().await;
                    latencies.lock().unwrap().push(sent.elapsed());
                    *statuses
                        .lock()
                        .unwrap()
                        .entry(kind.name)
                        .or_default()
                        .entry(response.status.as_u16())
                        .or_default() += 1;
                    if response.status != kind.expected {
                        unexpected.lock().unwrap().push((
                            kind.name,
                            response.status.as_u16(),
                            response.text(),
                        ));
                    }
                }
            })
        })
        .collect();
    // Hot swaps of the ridge deployment between two copies, every 3 s.
    let swapper = tokio::spawn({
        let dir = dir.clone();
        async move {
            let (mut swaps, mut failed) = (0u64, Vec::new());
            let mut which = ["ridge-b", "ridge-a"].into_iter().cycle();
            while Instant::now() + Duration::from_secs(3) < deadline {
                tokio::time::sleep(Duration::from_secs(3)).await;
                let path = dir.join(format!("plugins/{}.wasm", which.next().unwrap()));
                let response = RequestBuilder::to(addr, Method::PUT, "/api/v1/service/ridge")
                    .header("authorization", &format!("Bearer {ADMIN}"))
                    .body(json!({ "plugin": path }).to_string())
                    .send()
                    .await;
                swaps += 1;
                if response.status != StatusCode::OK {
                    failed.push(response.text());
                }
            }
            (swaps, failed)
        }
    });
    let mut rss = Vec::new();
    while Instant::now() < deadline {
        rss.push((started.elapsed().as_secs(), rss_kib(pid)));
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    for client in clients {
        client.await.unwrap();
    }
    let (swaps, failed_swaps) = swapper.await.unwrap();
    rss.push((started.elapsed().as_secs(), rss_kib(pid)));
    drop(child);

    let mut latencies = std::mem::take(&mut *latencies.lock().unwrap());
    latencies.sort();
    let at = |q: f64| {
        latencies
            .get(((latencies.len() as f64 - 1.0) * q) as usize)
            .map_or(0.0, |d| d.as_secs_f64() * 1e3)
    };
    let collected_lines = std::fs::read_to_string(dir.join("data/ridge/data.jsonl"))
        .map(|t| t.lines().count())
        .unwrap_or(0);
    let statuses = std::mem::take(&mut *statuses.lock().unwrap());
    let unexpected = std::mem::take(&mut *unexpected.lock().unwrap());
    Report {
        rss,
        statuses,
        unexpected,
        latency_ms: [at(0.5), at(0.9), at(0.99), at(1.0)],
        swaps,
        failed_swaps,
        collected_lines,
    }
}

impl Report {
    /// Prints the report and checks it: every status as expected, every swap done, and RSS
    /// after warm-up (the first third) within 5 % of its level at the end of warm-up.
    pub fn check(&self) {
        println!("RSS (s, KiB): {:?}", self.rss);
        for (kind, statuses) in &self.statuses {
            println!("{kind:>18}: {statuses:?}");
        }
        let [p50, p90, p99, max] = self.latency_ms;
        println!(
            "latency ms: p50 {p50:.2}, p90 {p90:.2}, p99 {p99:.2}, max {max:.1}; swaps {}; collected lines {}",
            self.swaps, self.collected_lines
        );
        assert!(
            self.unexpected.is_empty(),
            "{} unexpected statuses, e.g. {:?}",
            self.unexpected.len(),
            &self.unexpected[..self.unexpected.len().min(5)]
        );
        assert!(self.failed_swaps.is_empty(), "{:?}", self.failed_swaps);
        assert!(self.swaps >= 2, "only {} swaps", self.swaps);
        assert!(self.collected_lines > 0);
        let warm = self.rss.len() / 3;
        let baseline = self.rss[warm].1 as f64;
        let last = self.rss.last().unwrap().1 as f64;
        assert!(
            last <= baseline * 1.05,
            "RSS grew from {baseline} KiB after warm-up to {last} KiB"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_30_second_soak_keeps_memory_flat_and_every_status_as_expected() {
    soak(Duration::from_secs(30), 6).await.check();
}

/// The long soak behind `cargo xtask soak [--minutes N]` (`SCOREHOST_SOAK_MINUTES`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "long; run by `cargo xtask soak`"]
async fn soak_for_minutes() {
    let minutes: u64 = std::env::var("SCOREHOST_SOAK_MINUTES")
        .ok()
        .and_then(|m| m.parse().ok())
        .unwrap_or(10);
    soak(Duration::from_secs(minutes * 60), 8).await.check();
}
