//! `cargo xtask bench --density [--n N] [--seconds S]`: many tenants on one release server.
//!
//! For each guest (the Power BI example in Rust and in Python) it writes one deployments file
//! with N deployments (`min_instances = 0`, `max_instances = 2`, `idle_timeout_s = 1`), starts
//! the server and measures: time to ready, RSS when ready (every deployment scaled to zero
//! after its load), the first request to each of up to 100 idle deployments (p50/p99, a cold
//! start each), skewed (Zipf, s = 1.1) traffic over all N for S seconds (default 5), and the
//! steady-state throughput of one busy deployment next to a single always-warm deployment
//! (`--plugin`, 2 fixed instances). Loopback only, every loop bounded in time.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use xtask::{build_plugins, build_python_plugins, build_release_server, repo_root};

const ADMIN: &str = "density-admin";

/// The seed's Power BI request, which both guests answer.
const BODY: &str = r#"{"Inputs": {"input1": [[1,2,3,4,5,6,7,8,9,10],[10,9,8,7,6,5,4,3,2,1]], "input2": [{"name": "Sarah", "age": 25}, {"name": "John", "age": 26}], "input3": 0.0}, "GlobalParameters": 1.0}"#;

pub fn density(n: usize, seconds: u64) -> io::Result<()> {
    let root = repo_root();
    let out = root.join("target/density");
    std::fs::create_dir_all(&out)?;
    let rust = build_plugins()?;
    let python = build_python_plugins()?;
    let binary = build_release_server(&root)?.join("scorehost");
    let cache = root.join("target/bench-compile-cache");
    let model_dir = root.join("plugins/ridge/model");

    let mut rows = Vec::new();
    let mut per_instance = Vec::new();
    for (guest, wasm) in [
        ("Rust", rust.join("powerbi.wasm")),
        ("Python", python.join("powerbi.wasm")),
    ] {
        println!("xtask: density, {guest}, {n} deployments");
        let file = out.join(format!("{}.toml", guest.to_lowercase()));
        write_deployments(&file, n, &wasm, &model_dir)?;
        let port = free_port()?;
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let started = Instant::now();
        let server = Server::spawn(
            Command::new(&binary)
                .arg("serve")
                .arg("--config")
                .arg(&file)
                .args(["--addr", &addr.to_string()])
                .arg("--cache-dir")
                .arg(&cache),
        )?;
        wait_ready(addr, Duration::from_secs(600))?;
        let ready_s = started.elapsed().as_secs_f64();
        let rss_ready = rss_mib(server.0.id());

        // The first request to idle deployments: each one starts an instance.
        let sample = n.min(100);
        let mut cold = Vec::with_capacity(sample);
        for i in 0..sample {
            let t = Instant::now();
            post(addr, &format!("/api/v1/service/d{i}/score"))?;
            cold.push(t.elapsed().as_secs_f64() * 1e3);
        }
        let rss_woken = rss_mib(server.0.id());
        // Linear memory the woken instances hold, against the RSS they added: what stays
        // shared with the component's copy-on-write memory image.
        let charged_mib = metric_sum(addr, "scorehost_host_memory_bytes ")? / 1048576.0;
        let live = metric_sum(addr, "scorehost_pool_instances{")?.max(1.0);
        per_instance.push(format!(
            "| {guest} | {live:.0} | {:.2} | {:.2} |",
            charged_mib / live,
            (rss_woken - rss_ready) / live,
        ));
        // Let them all go idle again (idle_timeout_s = 1, checked every 250 ms).
        std::thread::sleep(Duration::from_millis(1600));
        let rss_idle = rss_mib(server.0.id());

        // Skewed traffic over every deployment, two client threads.
        let zipf = Zipf::new(n, 1.1);
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let clients: Vec<_> = (0..2u64)
            .map(|seed| {
                let zipf = zipf.clone();
                std::thread::spawn(move || -> io::Result<(u64, Vec<f64>)> {
                    let mut rng = 0x9E37_79B9_7F4A_7C15u64 ^ (seed + 1);
                    let mut latencies = Vec::new();
                    let mut errors = 0;
                    while Instant::now() < deadline {
                        let d = zipf.sample(&mut rng);
                        let t = Instant::now();
                        match post(addr, &format!("/api/v1/service/d{d}/score")) {
                            Ok(()) => latencies.push(t.elapsed().as_secs_f64() * 1e3),
                            Err(_) => errors += 1,
                        }
                    }
                    Ok((errors, latencies))
                })
            })
            .collect();
        let mut zipf_latencies = Vec::new();
        let mut zipf_errors = 0;
        for client in clients {
            let (errors, latencies) = client
                .join()
                .map_err(|_| io::Error::other("client panicked"))??;
            zipf_errors += errors;
            zipf_latencies.extend(latencies);
        }
        let zipf_rps = zipf_latencies.len() as f64 / seconds as f64;
        let rss_zipf = rss_mib(server.0.id());
        let cold_starts = metric_sum(addr, "scorehost_cold_starts_total")?;

        // One busy deployment on this host, then alone on an always-warm server.
        let busy = throughput(addr, "/api/v1/service/d0/score", seconds)?;
        drop(server);
        let port = free_port()?;
        let warm_addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let warm = Server::spawn(
            Command::new(&binary)
                .arg("serve")
                .arg("--plugin")
                .arg(&wasm)
                .arg("--model-dir")
                .arg(&model_dir)
                .args(["--addr", &warm_addr.to_string()])
                .arg("--cache-dir")
                .arg(&cache),
        )?;
        wait_ready(warm_addr, Duration::from_secs(120))?;
        let always_warm = throughput(warm_addr, "/score", seconds)?;
        drop(warm);

        rows.push(format!(
            "| {guest} | {n} | {ready_s:.1} s | {rss_ready:.0} | {rss_woken:.0} | {rss_idle:.0} | \
             {:.1} / {:.1} ms | {zipf_rps:.0} req/s, p50 {:.1} / p99 {:.1} ms, {cold_starts:.0} cold starts, {zipf_errors} errors | {rss_zipf:.0} | \
             {busy:.0} vs {always_warm:.0} req/s ({:+.1} %) |",
            percentile(&mut cold, 0.50),
            percentile(&mut cold, 0.99),
            percentile(&mut zipf_latencies, 0.50),
            percentile(&mut zipf_latencies, 0.99),
            (busy / always_warm - 1.0) * 100.0,
        ));
    }
    println!(
        "\n| guest | N | time to ready | RSS ready, all idle (MiB) | RSS after waking {} (MiB) | \
         RSS idle again (MiB) | first request after idle p50 / p99 | Zipf traffic ({seconds} s, 2 clients) | RSS after Zipf (MiB) | \
         busy deployment vs always-warm (1 connection) |\n|---|---|---|---|---|---|---|---|---|---|",
        n.min(100)
    );
    for row in rows {
        println!("{row}");
    }
    println!(
        "\n| guest | live instances | linear memory per instance (MiB) | RSS per instance (MiB) |\n|---|---|---|---|"
    );
    for row in per_instance {
        println!("{row}");
    }
    Ok(())
}

fn write_deployments(file: &Path, n: usize, wasm: &Path, model_dir: &Path) -> io::Result<()> {
    let mut text = format!("admin_key = \"{ADMIN}\"\nwatch = false\n");
    for i in 0..n {
        text.push_str(&format!(
            "\n[[deployment]]\nname = \"d{i}\"\nplugin = \"{}\"\nmodel_dir = \"{}\"\nauth = false\n\
             min_instances = 0\nmax_instances = 2\nidle_timeout_s = 1\n",
            wasm.display(),
            model_dir.display()
        ));
    }
    std::fs::write(file, text)
}

/// Requests answered in `seconds` by one keep-alive connection (one at a time).
fn throughput(addr: SocketAddr, path: &str, seconds: u64) -> io::Result<f64> {
    let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    stream.set_nodelay(true)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{BODY}",
        BODY.len()
    );
    // Warm-up, not counted.
    let warmup = Instant::now() + Duration::from_millis(500);
    while Instant::now() < warmup {
        exchange(&mut writer, &mut reader, &request)?;
    }
    let started = Instant::now();
    let mut done = 0u64;
    while started.elapsed() < Duration::from_secs(seconds) {
        exchange(&mut writer, &mut reader, &request)?;
        done += 1;
    }
    Ok(done as f64 / started.elapsed().as_secs_f64())
}

/// One request on a keep-alive connection; fails unless the answer is 200.
fn exchange(
    writer: &mut TcpStream,
    reader: &mut BufReader<TcpStream>,
    request: &str,
) -> io::Result<()> {
    writer.write_all(request.as_bytes())?;
    let mut status = String::new();
    reader.read_line(&mut status)?;
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        if line == "\r\n" || line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    if status.starts_with("HTTP/1.1 200") {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "{}: {}",
            status.trim(),
            String::from_utf8_lossy(&body)
        )))
    }
}

/// POSTs the Power BI body to `path` on a new connection; fails unless the answer is 200.
fn post(addr: SocketAddr, path: &str) -> io::Result<()> {
    crate::bench::post_path_ok(addr, path, BODY)
}

/// The sum of every sample of `metric` in `/metrics`.
fn metric_sum(addr: SocketAddr, metric: &str) -> io::Result<f64> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer {ADMIN}\r\n\r\n"
    )?;
    let mut reply = String::new();
    stream.read_to_string(&mut reply)?;
    Ok(reply
        .lines()
        .filter(|l| l.starts_with(metric))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum())
}

fn wait_ready(addr: SocketAddr, limit: Duration) -> io::Result<()> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            let _ = stream.write_all(
                b"GET /v2/health/ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            );
            let mut reply = String::new();
            let _ = stream.read_to_string(&mut reply);
            if reply.starts_with("HTTP/1.1 200") {
                return Ok(());
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(io::Error::other(format!(
        "not ready on {addr} within {limit:?}"
    )))
}

fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Resident MiB of a process.
fn rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

fn percentile(values: &mut [f64], q: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let i = ((values.len() as f64 - 1.0) * q).round() as usize;
    values[i]
}

/// Ranks 0..n drawn with probability ∝ 1/(rank+1)^s.
#[derive(Clone)]
struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    fn new(n: usize, s: f64) -> Zipf {
        let mut total = 0.0;
        let mut cdf: Vec<f64> = (0..n)
            .map(|k| {
                total += 1.0 / ((k + 1) as f64).powf(s);
                total
            })
            .collect();
        for c in &mut cdf {
            *c /= total;
        }
        Zipf { cdf }
    }

    fn sample(&self, rng: &mut u64) -> usize {
        // xorshift64
        *rng ^= *rng << 13;
        *rng ^= *rng >> 7;
        *rng ^= *rng << 17;
        let u = (*rng >> 11) as f64 / (1u64 << 53) as f64;
        self.cdf.partition_point(|&c| c < u).min(self.cdf.len() - 1)
    }
}

/// The server process, stopped when dropped.
struct Server(Child);

impl Server {
    fn spawn(command: &mut Command) -> io::Result<Server> {
        let child = command
            .env("SCOREHOST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        Ok(Server(child))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
