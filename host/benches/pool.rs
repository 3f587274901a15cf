//! Multi-tenant runtime figures, printed for BENCHMARKS.md:
//! - borrow a warm instance + trivial `run` vs a fresh instance per request (median/p99 µs);
//! - time to swap a deployment (load + `init` a full new pool, switch);
//! - resident memory per idle deployment;
//! - 100 swaps while 4 loopback clients keep scoring: failed requests (must be 0);
//! - per guest language, the seed's Power BI request on a warm instance and on a fresh one
//!   (instantiate + `init` + `run`), and the first load (compile or cache hit).
//!
//! `cargo bench -p scorehost --bench pool`. Every loop is bounded in count and time.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use scorehost::registry::SwapRequest;
use scorehost::{
    Deployment, DeploymentSettings, Limits, Registry, Runtime, RuntimeSettings, Server,
    ServerOptions,
};

const ITERATIONS: usize = 5_000;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let plugins = xtask::build_plugins()?;
    let python_plugins = xtask::build_python_plugins()?;
    let js_plugins = xtask::build_js_plugins()?;
    let root = xtask::repo_root();
    let runtime = Runtime::new(&RuntimeSettings {
        cache_dir: Some(root.join("target/bench-compile-cache")),
        ..RuntimeSettings::default()
    })?;
    let settings = |name: &str, plugin: &str, instances: usize| DeploymentSettings {
        limits: Limits {
            instances,
            ..Limits::default()
        },
        ..DeploymentSettings::new(
            name,
            match plugin.split_once('/') {
                Some(("python", script)) => python_plugins.join(format!("{script}.wasm")),
                Some((_, script)) => js_plugins.join(format!("{script}.wasm")),
                None => plugins.join(format!("{plugin}.wasm")),
            },
            root.join("plugins/ridge/model"),
        )
    };

    // 1. Warm pool vs fresh instance per request (the echo plugin: `run` builds a small JSON).
    let echo = Deployment::load(&runtime, settings("echo", "echo", 1)).await?;
    let warm = measure(ITERATIONS, || async {
        scorehost::__bench::warm_call(&echo, r#"{"x": 1}"#, None)
            .await
            .expect("warm call");
    })
    .await;
    report("borrow warm instance + trivial run", &warm);
    let fresh = measure(ITERATIONS / 5, || async {
        scorehost::__bench::fresh_call(&echo, r#"{"x": 1}"#, None)
            .await
            .expect("fresh call");
    })
    .await;
    report("fresh instance + init + trivial run", &fresh);

    // 2. Swap time: a ridge deployment with 2 instances, swapped to itself 20 times.
    let registry = Registry::load(runtime.clone(), vec![settings("ridge", "ridge", 2)]).await?;
    let mut swaps = Vec::new();
    for _ in 0..20 {
        let started = Instant::now();
        registry.swap("ridge", SwapRequest::default()).await?;
        swaps.push(started.elapsed());
    }
    report("swap (load + init 2 instances + switch)", &swaps);

    // 3. Memory per idle deployment: RSS before and after 20 more (2 instances each).
    let before = rss_bytes();
    let many: Vec<_> = (0..20)
        .map(|i| settings(&format!("idle{i}"), "ridge", 2))
        .collect();
    let idle = Registry::load(runtime.clone(), many).await?;
    let after = rss_bytes();
    println!(
        "{:<44} {:>8.2} MiB per deployment (RSS {:.1} → {:.1} MiB for 20)",
        "memory per idle deployment (2 instances)",
        (after - before) as f64 / 20.0 / f64::from(1 << 20),
        before as f64 / f64::from(1 << 20),
        after as f64 / f64::from(1 << 20),
    );
    drop(idle);

    // 4. 100 swaps under load.
    let server = Server::start(
        "127.0.0.1:0".parse()?,
        registry.clone(),
        ServerOptions::default(),
    )
    .await?;
    let addr = server.local_addr();
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut clients = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let (stop, ok, failed) = (stop.clone(), ok.clone(), failed.clone());
        clients.spawn(async move {
            let deadline = Instant::now() + Duration::from_secs(120);
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                match post(addr).await {
                    Ok(200) => ok.fetch_add(1, Ordering::Relaxed),
                    _ => failed.fetch_add(1, Ordering::Relaxed),
                };
            }
        });
    }
    let started = Instant::now();
    for _ in 0..100 {
        registry.swap("ridge", SwapRequest::default()).await?;
    }
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    clients.join_all().await;
    println!(
        "{:<44} {} requests ok, {} failed, 100 swaps in {:.2} s",
        "100 swaps under load (4 clients)",
        ok.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed),
        elapsed.as_secs_f64()
    );
    server.shutdown().await;

    // 5. The same typed request in each guest language.
    for plugin in ["powerbi", "python/powerbi", "js/powerbi"] {
        let started = Instant::now();
        let deployment = Deployment::load(&runtime, settings(plugin, plugin, 1)).await?;
        println!(
            "{:<44} {:>8.1} ms (compile or cache hit + instantiate + init)",
            format!("{plugin}: load"),
            started.elapsed().as_secs_f64() * 1e3
        );
        let warm = measure(ITERATIONS, || async {
            scorehost::__bench::warm_call(&deployment, SEED_INPUTS, Some("1.0"))
                .await
                .expect("warm call");
        })
        .await;
        report(&format!("{plugin}: seed request, warm instance"), &warm);
        let fresh = measure(ITERATIONS / 20, || async {
            scorehost::__bench::fresh_call(&deployment, SEED_INPUTS, Some("1.0"))
                .await
                .expect("fresh call");
        })
        .await;
        report(&format!("{plugin}: seed request, fresh instance"), &fresh);
    }
    Ok(())
}

/// The `Inputs` of the seed's Power BI request.
const SEED_INPUTS: &str = r#"{"input1": [[1,2,3,4,5,6,7,8,9,10],[10,9,8,7,6,5,4,3,2,1]],
    "input2": [{"name": "Sarah", "age": 25}, {"name": "John", "age": 26}], "input3": 0.0}"#;

/// Times `n` sequential runs of `f` (after a short warm-up), bounded to 20 s.
async fn measure<F, Fut>(n: usize, mut f: F) -> Vec<Duration>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    for _ in 0..50 {
        f().await;
    }
    let started = Instant::now();
    let mut times = Vec::with_capacity(n);
    while times.len() < n && started.elapsed() < Duration::from_secs(20) {
        let t = Instant::now();
        f().await;
        times.push(t.elapsed());
    }
    times
}

fn report(name: &str, times: &[Duration]) {
    let mut sorted = times.to_vec();
    sorted.sort();
    let at = |q: f64| sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)];
    println!(
        "{name:<44} median {:>9.1} µs   p99 {:>9.1} µs   ({} runs)",
        at(0.5).as_secs_f64() * 1e6,
        at(0.99).as_secs_f64() * 1e6,
        sorted.len()
    );
}

/// Resident set size of this process (Linux).
fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// One scoring request over a new loopback connection; the status code.
async fn post(addr: std::net::SocketAddr) -> anyhow::Result<u16> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let body = r#"{"Inputs": {"input1": [[1,2,3,4,5,6,7,8,9,10]]}}"#;
    let req = hyper::Request::post("/api/v1/service/ridge/score")
        .header("host", addr.to_string())
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(body.as_bytes())))?;
    let response = sender.send_request(req).await?;
    let status = response.status().as_u16();
    response.into_body().collect().await?;
    Ok(status)
}
