//! `cargo xtask bench [--quick]`: the same requests, on loopback, against the Azure ML scoring
//! server (Python, in a venv made here from PyPI), scorehost, and a native hyper handler (bare,
//! and its twin carrying scorehost's per-request envelope), with `wrk` at 1, 8 and 64
//! connections. Prints a Markdown table; the full run also writes it into
//! BENCHMARKS.md between the `bench:start`/`bench:end` markers. `--quick` (a second per case,
//! on the tests' dev build) only checks the whole pipeline still works, and is part of
//! `cargo xtask test`. `--only WORD`
//! runs the suites whose title contains WORD (and writes nothing into BENCHMARKS.md).

use std::fmt::Write as _;
use std::io::{self, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use xtask::{
    build_dev_server, build_plugins, build_python_plugins, build_release_server, repo_root, run,
};

/// Python packages of the reference server (and what its entry scripts import).
const AZUREML_PACKAGES: &[&str] = &["azureml-inference-server-http", "numpy", "pandas", "pillow"];
/// The adaptive batching suite of the heaviest typed example model.
const TABULAR_SUITE: &str =
    "adaptive batching: ONNX iris classifier (onnx_tabular, tract, 1 row per request)";
/// MLServer and its scikit-learn runtime (a venv of their own: their web-stack pins differ
/// from KServe's), and what the model export needs.
const MLSERVER_PACKAGES: &[&str] = &[
    "mlserver==1.7.1",
    "mlserver-sklearn==1.7.1",
    "scikit-learn==1.7.2",
    "joblib==1.5.2",
    // uvloop 0.22+ refuses `asyncio.get_event_loop()` outside a running loop, which kills
    // MLServer 1.7.1's inference worker at start (the model then never loads).
    "uvloop==0.21.0",
];
/// The `kserve` model server package (KServe's `sklearnserver` is not on PyPI:
/// `bench/kserve_sklearn.py` is the same model class on the package's public API).
const KSERVE_PACKAGES: &[&str] = &["kserve==0.21.0", "scikit-learn==1.7.2", "joblib==1.5.2"];
/// The peers' model name, and their infer path.
const PEER_MODEL: &str = "ridge";
const PEER_INFER_PATH: &str = "/v2/models/ridge/infer";
/// The native handler's twin that carries scorehost's per-request envelope (request ids,
/// `x-ms-*` headers, request metrics, the log line): `native_ridge --envelope`.
const NATIVE_ENVELOPE: &str = "native hyper handler + scorehost's envelope";
/// The seed's Power BI request, the body of the typed benchmarks.
const POWERBI_BODY: &str = r#"{"Inputs": {"input1": [[1,2,3,4,5,6,7,8,9,10],[10,9,8,7,6,5,4,3,2,1]], "input2": [{"name": "Sarah", "age": 25}, {"name": "John", "age": 26}], "input3": 0.0}, "GlobalParameters": 1.0}"#;
const MARK_START: &str = "<!-- bench:start -->";
const MARK_END: &str = "<!-- bench:end -->";

/// One server under test.
struct Target {
    name: &'static str,
    command: Command,
    port: u16,
    /// The wrk script and path for this server, when not the suite's.
    request: Option<(PathBuf, &'static str)>,
    /// Ready only when `/v2/health/ready` answers 200 (the peers answer 400 while their model
    /// loads), not at any answer but 503.
    ready_200: bool,
}

/// One wrk run's figures.
struct Figures {
    /// Requests completed in the run.
    requests: f64,
    requests_per_s: f64,
    p50_us: f64,
    p99_us: f64,
    p999_us: f64,
    errors: u64,
    cpu_s: f64,
    rss_mib: f64,
}

pub fn bench(quick: bool, only: Option<&str>) -> io::Result<()> {
    let root = repo_root();
    let out = root.join("target/bench");
    std::fs::create_dir_all(&out)?;
    let plugins = build_plugins()?;
    let python_plugins = build_python_plugins()?;
    // The quick run checks the harness end to end on the tests' build; its figures are not
    // comparable with a release build's.
    let release = if quick {
        build_dev_server(&root)?
    } else {
        build_release_server(&root)?
    };
    let wrk = ensure_wrk()?;
    let venv = ensure_venv(&root.join("target/bench-venv"))?;
    let model_dir = root.join("plugins/ridge/model");
    let bench_dir = root.join("xtask/bench");
    let peers = only.is_none_or(|word| PEERS_SUITE.contains(word));
    let peer_venvs = if peers {
        let started = Instant::now();
        let mlserver = ensure_peer_venv(
            &root.join("target/bench-mlserver-venv"),
            "mlserver",
            MLSERVER_PACKAGES,
        )?;
        let kserve = ensure_peer_venv(
            &root.join("target/bench-kserve-venv"),
            "kserve-ready",
            KSERVE_PACKAGES,
        )?;
        println!(
            "xtask: peer venvs ready in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        Some((mlserver, kserve))
    } else {
        None
    };
    // The peers' model: the ridge plugin's coefficients as a scikit-learn model.joblib, with
    // MLServer's settings beside it.
    let peer_model = out.join("peers/ridge");
    if let Some((mlserver, _)) = &peer_venvs {
        run(Command::new(mlserver.join("bin/python"))
            .arg(bench_dir.join("export_ridge.py"))
            .arg(model_dir.join("sklearn_regression_model.json"))
            .arg(&peer_model))?;
        std::fs::write(
            peer_model.join("model-settings.json"),
            format!(
                r#"{{"name": "{PEER_MODEL}", "implementation": "mlserver_sklearn.SKLearnModel", "parameters": {{"uri": "./model.joblib", "version": "v1"}}}}"#
            ),
        )?;
    }

    // The inputs: the seed's Power BI request, and a 64×48 PNG upload.
    let powerbi_body = POWERBI_BODY;
    let json_lua = out.join("powerbi.lua");
    std::fs::write(&json_lua, powerbi_script())?;
    // The same request over the Open Inference Protocol: JSON, and binary (tritonclient's
    // default: binary inputs and outputs).
    let oip_json_lua = out.join("oip-json.lua");
    std::fs::write(
        &oip_json_lua,
        wrk_script(Some(("application/json", &lua_string(OIP_JSON.as_bytes())))),
    )?;
    // The same request again for the gRPC row (`examples/grpc_load` sends it as raw contents).
    let oip_json_file = out.join("oip.json");
    std::fs::write(&oip_json_file, OIP_JSON)?;
    let (oip_binary, header_length) = oip_binary_body();
    let oip_binary_lua = out.join("oip-binary.lua");
    std::fs::write(
        &oip_binary_lua,
        format!(
            "wrk.headers[\"Inference-Header-Content-Length\"] = \"{header_length}\"\n{}",
            wrk_script(Some(("application/octet-stream", &lua_string(&oip_binary))))
        ),
    )?;
    // One row per request, as online clients send: what adaptive batching joins.
    let tabular_lua = out.join("tabular-row.lua");
    std::fs::write(
        &tabular_lua,
        wrk_script(Some((
            "application/json",
            &lua_string(br#"{"Inputs": {"data": [[5.9, 3.0, 5.1, 1.8]]}}"#),
        ))),
    )?;
    let ridge_row_lua = out.join("ridge-row.lua");
    std::fs::write(
        &ridge_row_lua,
        wrk_script(Some((
            "application/json",
            &lua_string(br#"{"data": [[1,2,3,4,5,6,7,8,9,10]]}"#),
        ))),
    )?;
    // The peers' request: the same two rows as one FP64 tensor (the form MLServer's and
    // KServe's scikit-learn runtimes take); scorehost's `toplevel` plugin declares the same
    // input (`data`, float64 [*, 10]), so it gets the very same request, and its own
    // `/score` body beside it.
    let peer_oip_lua = out.join("peer-oip.lua");
    std::fs::write(
        &peer_oip_lua,
        wrk_script(Some(("application/json", &lua_string(PEER_OIP.as_bytes())))),
    )?;
    let toplevel_lua = out.join("toplevel.lua");
    std::fs::write(
        &toplevel_lua,
        wrk_script(Some((
            "application/json",
            &lua_string(TOPLEVEL_BODY.as_bytes()),
        ))),
    )?;
    let get_lua = out.join("get.lua");
    std::fs::write(&get_lua, wrk_script(None))?;
    let png = out.join("image.png");
    run(Command::new(venv.join("bin/python")).args([
        "-c",
        "import sys; from PIL import Image; Image.new('RGB', (64, 48), (1, 2, 3)).save(sys.argv[1])",
    ]).arg(&png))?;
    let boundary = "scorehostbench";
    let mut multipart = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"image.png\"\r\nContent-Type: image/png\r\n\r\n"
    )
    .into_bytes();
    multipart.extend(std::fs::read(&png)?);
    multipart.extend(format!("\r\n--{boundary}--\r\n").as_bytes());
    let image_lua = out.join("image.lua");
    std::fs::write(
        &image_lua,
        wrk_script(Some((
            &format!("multipart/form-data; boundary={boundary}"),
            &lua_string(&multipart),
        ))),
    )?;

    let bench_cache = root.join("target/bench-compile-cache");
    let scorehost = |plugin: &str, port: u16, cache: &Path| {
        let wasm = match plugin.strip_prefix("python/") {
            Some(name) => python_plugins.join(format!("{name}.wasm")),
            None => plugins.join(format!("{plugin}.wasm")),
        };
        let mut cmd = Command::new(release.join("scorehost"));
        cmd.arg("serve")
            .arg("--plugin")
            .arg(wasm)
            .arg("--model-dir")
            .arg(&model_dir)
            .args(["--addr", &format!("127.0.0.1:{port}")])
            .arg("--cache-dir")
            .arg(cache)
            .env("SCOREHOST_LOG", "warn");
        Target {
            name: "",
            command: cmd,
            port,
            request: None,
            ready_200: false,
        }
    };
    // A scorehost target with batching (`None`: off): max_batch_size, max_batch_time_ms.
    let tabular_model = if only.is_none_or(|word| TABULAR_SUITE.contains(word)) {
        onnx_tabular_model(&root)?
    } else {
        PathBuf::new()
    };
    let batched = |plugin: &str, port: u16, model: &Path, batch: Option<(u32, u32)>| {
        let mut cmd = Command::new(release.join("scorehost"));
        cmd.arg("serve")
            .arg("--plugin")
            .arg(plugins.join(format!("{plugin}.wasm")))
            .arg("--model-dir")
            .arg(model)
            .args(["--addr", &format!("127.0.0.1:{port}")])
            .arg("--cache-dir")
            .arg(&bench_cache)
            .env("SCOREHOST_LOG", "warn");
        let mut target = Target {
            name: "",
            command: cmd,
            port,
            request: None,
            ready_200: false,
        };
        if let Some((size, ms)) = batch {
            target.command.args([
                "--max-batch-size",
                &size.to_string(),
                "--max-batch-time-ms",
                &ms.to_string(),
            ]);
        }
        target
    };
    let azureml = |script: &str, port: u16| {
        let mut cmd = Command::new(venv.join("bin/azmlinfsrv"));
        cmd.arg("--entry_script")
            .arg(bench_dir.join(script))
            .args(["--port", &port.to_string()])
            .env("AZUREML_MODEL_DIR", &model_dir)
            .current_dir(&out);
        Target {
            name: "",
            command: cmd,
            port,
            request: None,
            ready_200: false,
        }
    };
    // `extra_ns` of busy CPU per request: the calibration rows (what a microsecond of server
    // CPU costs in req/s while wrk shares the cores).
    let native_with = |port: u16, extra_ns: u32, name: &'static str| {
        let mut cmd = Command::new(release.join("examples/native_ridge"));
        cmd.arg(format!("127.0.0.1:{port}"))
            .arg(&model_dir)
            .arg(extra_ns.to_string());
        Target {
            name,
            command: cmd,
            port,
            request: None,
            ready_200: false,
        }
    };
    let native = |port: u16| native_with(port, 0, "native hyper handler");
    // Logs filtered as scorehost's are in this run, so both pay the same for the log line.
    let native_envelope = |port: u16| {
        let mut target = native_with(port, 0, NATIVE_ENVELOPE);
        target
            .command
            .arg("--envelope")
            .env("SCOREHOST_LOG", "warn");
        target
    };

    let mlserver = |port: u16| {
        let venv = peer_venvs
            .as_ref()
            .map(|v| v.0.as_path())
            .unwrap_or(Path::new(""));
        // Ports of its own for the gRPC and metrics servers MLServer always starts.
        let _ = std::fs::write(
            peer_model.join("settings.json"),
            format!(
                r#"{{"http_port": {port}, "grpc_port": {}, "metrics_port": {}}}"#,
                port + 100,
                port + 200
            ),
        );
        let mut cmd = Command::new(venv.join("bin/mlserver"));
        cmd.arg("start").arg(&peer_model).current_dir(&peer_model);
        Target {
            name: "MLServer 1.7.1 (mlserver-sklearn)",
            command: cmd,
            port,
            request: Some((peer_oip_lua.clone(), PEER_INFER_PATH)),
            ready_200: true,
        }
    };
    let kserve = |port: u16| {
        let venv = peer_venvs
            .as_ref()
            .map(|v| v.1.as_path())
            .unwrap_or(Path::new(""));
        let mut cmd = Command::new(venv.join("bin/python"));
        cmd.arg(bench_dir.join("kserve_sklearn.py"))
            .arg("--model_dir")
            .arg(&peer_model)
            .args(["--model_name", PEER_MODEL])
            .args(["--http_port", &port.to_string()])
            .args(["--grpc_port", &(port + 100).to_string()]);
        Target {
            name: "KServe 0.21.0 (kserve.Model, scikit-learn)",
            command: cmd,
            port,
            request: Some((peer_oip_lua.clone(), PEER_INFER_PATH)),
            ready_200: true,
        }
    };

    // Each suite: its title, wrk script, path, and servers (the first is the baseline).
    let mut suites: Vec<(&str, &Path, &str, Vec<Target>)> = vec![
        (
            "Power BI JSON (seed sample, 2 rows)",
            &json_lua,
            "/score",
            vec![
                Target {
                    name: "Azure ML server (Python)",
                    ..azureml("score_powerbi.py", 5311)
                },
                Target {
                    name: "scorehost (Rust powerbi plugin)",
                    ..scorehost("powerbi", 5312, &bench_cache)
                },
                Target {
                    name: "scorehost (Python powerbi plugin)",
                    ..scorehost("python/powerbi", 5316, &bench_cache)
                },
                native(5313),
                native_envelope(5327),
                native_with(
                    5325,
                    1_500,
                    "native hyper handler + 1.5 µs busy per request",
                ),
                native_with(5326, 3_000, "native hyper handler + 3 µs busy per request"),
            ],
        ),
        (
            "raw image upload (64×48 PNG, multipart)",
            &image_lua,
            "/score",
            vec![
                Target {
                    name: "Azure ML server (Python @rawhttp + PIL)",
                    ..azureml("score_image.py", 5314)
                },
                Target {
                    name: "scorehost (Rust image_size plugin)",
                    ..scorehost("image_size", 5315, &bench_cache)
                },
                Target {
                    name: "scorehost (Python image_size plugin)",
                    ..scorehost("python/image_size", 5317, &bench_cache)
                },
            ],
        ),
        (
            "Power BI over the Open Inference Protocol (same model, same 2 rows)",
            &json_lua,
            "/score",
            vec![
                Target {
                    name: "scorehost /score (Azure ML JSON)",
                    ..scorehost("powerbi", 5322, &bench_cache)
                },
                Target {
                    name: "scorehost OIP JSON",
                    request: Some((oip_json_lua.clone(), "/v2/models/default/infer")),
                    ..scorehost("powerbi", 5323, &bench_cache)
                },
                Target {
                    name: "scorehost OIP binary",
                    request: Some((oip_binary_lua.clone(), "/v2/models/default/infer")),
                    ..scorehost("powerbi", 5324, &bench_cache)
                },
                Target {
                    name: "scorehost OIP gRPC (ModelInfer, raw contents, HTTP/2 on the same port)",
                    request: Some((oip_json_file.clone(), GRPC_MODEL_INFER)),
                    ..scorehost("powerbi", 5325, &bench_cache)
                },
            ],
        ),
        (
            TABULAR_SUITE,
            &tabular_lua,
            "/score",
            vec![
                Target {
                    name: "scorehost, batching off",
                    ..batched("onnx_tabular", 5330, &tabular_model, None)
                },
                Target {
                    name: "scorehost, batch ≤ 32 rows, 1 ms",
                    ..batched("onnx_tabular", 5331, &tabular_model, Some((32, 1)))
                },
                Target {
                    name: "scorehost, batch ≤ 32 rows, 5 ms",
                    ..batched("onnx_tabular", 5332, &tabular_model, Some((32, 5)))
                },
            ],
        ),
        (
            "adaptive batching: ridge, top-level form (toplevel, 1 row per request)",
            &ridge_row_lua,
            "/score",
            vec![
                Target {
                    name: "scorehost, batching off",
                    ..batched("toplevel", 5333, &model_dir, None)
                },
                Target {
                    name: "scorehost, batch ≤ 32 rows, 1 ms",
                    ..batched("toplevel", 5334, &model_dir, Some((32, 1)))
                },
                Target {
                    name: "scorehost, batch ≤ 32 rows, 5 ms",
                    ..batched("toplevel", 5335, &model_dir, Some((32, 5)))
                },
            ],
        ),
        (
            // What any server answers at most on this machine with wrk beside it: the ceiling
            // of every ratio above.
            "loopback floor (GET /, nothing computed)",
            &get_lua,
            "/",
            vec![
                native(5320),
                Target {
                    name: "scorehost (liveness route)",
                    ..scorehost("powerbi", 5321, &bench_cache)
                },
            ],
        ),
    ];

    if peers {
        suites.push((
            PEERS_SUITE,
            &peer_oip_lua,
            "/v2/models/default/infer",
            vec![
                mlserver(5330),
                kserve(5331),
                Target {
                    name: "scorehost OIP (Rust toplevel plugin)",
                    ..scorehost("toplevel", 5332, &bench_cache)
                },
                Target {
                    name: "scorehost /score (Rust toplevel plugin)",
                    request: Some((toplevel_lua.clone(), "/score")),
                    ..scorehost("toplevel", 5333, &bench_cache)
                },
            ],
        ));
    }

    // Fill the compile cache first, so that every server below starts as in production
    // (compiled code loaded from the cache) and its RSS is not a compiler's leftovers. Cold
    // starts are measured separately, at the end.
    for (plugin, port) in [
        ("powerbi", 5312),
        ("python/powerbi", 5316),
        ("image_size", 5315),
        ("python/image_size", 5317),
        ("toplevel", 5332),
    ] {
        drop(Guard::start(
            &mut scorehost(plugin, port, &bench_cache),
            300,
        )?);
    }

    if !tabular_model.as_os_str().is_empty() {
        drop(Guard::start(
            &mut batched("onnx_tabular", 5330, &tabular_model, None),
            300,
        )?);
    }

    let seconds = if quick { 1 } else { 10 };
    let mut table = String::new();
    let _ = writeln!(
        table,
        "{} loopback, wrk {}s per case; machine: {} cores, {}.\n",
        if quick {
            "Quick run (dev build: checks the harness; the figures are not comparable):"
        } else {
            "Full run:"
        },
        seconds,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model()
    );
    for (suite, script, url_path, targets) in suites {
        if only.is_some_and(|word| !suite.contains(word)) {
            continue;
        }
        let _ = writeln!(table, "### {suite}\n");
        let _ = writeln!(
            table,
            "| server | conns | req/s | p50 | p99 | p99.9 | non-2xx/errors | CPU s | CPU µs/req | RSS MiB |\n|---|---|---|---|---|---|---|---|---|---|"
        );
        let mut per_server: Vec<(String, Vec<f64>)> = Vec::new();
        for mut target in targets {
            println!("xtask: bench {} — {}", suite, target.name);
            let started = Instant::now();
            let child = Guard::start(&mut target, 300)?;
            let addr: SocketAddr = ([127, 0, 0, 1], target.port).into();
            let ready = started.elapsed();
            let mut throughput = Vec::new();
            for conns in [1u32, 8, 64] {
                let before = tree_usage(child.0.id());
                let (script, url_path) = match &target.request {
                    Some((script, path)) => (script.as_path(), *path),
                    None => (script, url_path),
                };
                let f = if url_path == GRPC_MODEL_INFER {
                    run_grpc_load(&release, script, addr, conns, seconds)?
                } else {
                    run_wrk(&wrk, script, addr, url_path, conns, seconds)?
                };
                let after = tree_usage(child.0.id());
                let f = Figures {
                    cpu_s: after.0 - before.0,
                    rss_mib: after.1,
                    ..f
                };
                throughput.push(f.requests_per_s);
                let _ = writeln!(
                    table,
                    "| {} | {conns} | {:.0} | {} | {} | {} | {} | {:.1} | {:.1} | {:.0} |",
                    target.name,
                    f.requests_per_s,
                    ms(f.p50_us),
                    ms(f.p99_us),
                    ms(f.p999_us),
                    f.errors,
                    f.cpu_s,
                    f.cpu_s * 1e6 / (f.requests_per_s * f64::from(seconds)).max(1.0),
                    f.rss_mib
                );
            }
            println!("xtask:   ready in {:.2} s", ready.as_secs_f64());
            per_server.push((target.name.to_owned(), throughput));
            drop(child);
        }
        // Every scorehost row is compared with every other row: on Power BI, the Azure ML
        // server, the bare native handler and its twin with scorehost's envelope (the ratio to
        // the twin is the sandbox's own cost), and the calibration rows.
        let ratio = |a: &[f64], b: &[f64]| {
            a.iter()
                .zip(b)
                .map(|(x, y)| format!("{:.1}×", x / y))
                .collect::<Vec<_>>()
                .join(" / ")
        };
        // Every other server of the suite is a baseline; a suite of scorehost rows only
        // compares them with its first.
        let mut bases: Vec<&(String, Vec<f64>)> = per_server
            .iter()
            .filter(|(name, _)| !name.starts_with("scorehost"))
            .collect();
        if bases.is_empty() {
            bases.extend(per_server.first());
        }
        if !bases.is_empty() {
            let _ = writeln!(table, "\nThroughput at 1 / 8 / 64 connections:\n");
            for ours in per_server
                .iter()
                .filter(|(name, _)| name.starts_with("scorehost"))
            {
                let versus: Vec<String> = bases
                    .iter()
                    .map(|base| format!("vs {}: {}", base.0, ratio(&ours.1, &base.1)))
                    .collect();
                let _ = writeln!(table, "- {} {}", ours.0, versus.join("; "));
            }
            let _ = writeln!(table);
        }
    }
    // Not in the quick run the tests make: it installs onnxruntime into the Azure ML venv and
    // compiles the ONNX components of every guest (minutes on a fresh machine).
    let onnx = OnnxSetup {
        seconds,
        wrk: &wrk,
        release: &release,
        plugins: &plugins,
        python_plugins: &python_plugins,
        venv: &venv,
        out: &out,
    };
    if !quick && only.is_none_or(|word| ONNX_SUITE.contains(word)) {
        onnx_suite(&mut table, &onnx)?;
    }
    if !quick && only.is_none_or(|word| ONNX_CNN_SUITE.contains(word)) {
        onnx_cnn_suite(&mut table, &onnx)?;
    }
    if !quick && only.is_none_or(|word| WASI_PYTHON_SUITE.contains(word)) {
        wasi_python_suite(&mut table, &onnx)?;
    }
    if only.is_some() {
        std::fs::write(out.join("results-only.md"), &table)?;
        println!("{table}");
        return Ok(());
    }
    cold_start(
        &mut table,
        &scorehost,
        powerbi_body,
        &root.join("target/bench-cold-cache"),
    )?;
    std::fs::write(out.join("results.md"), &table)?;
    println!("{table}");
    if !quick {
        splice_into_benchmarks(&root.join("BENCHMARKS.md"), &table)?;
    }
    Ok(())
}

/// Title of the peers suite (MLServer, KServe and scorehost on the same model).
const PEERS_SUITE: &str =
    "peers: the same ridge model over the Open Inference Protocol (MLServer, KServe, scorehost)";

/// The peers' request: the Power BI rows as one FP64 tensor named `data`.
const PEER_OIP: &str = r#"{"inputs": [{"name": "data", "shape": [2, 10], "datatype": "FP64", "data": [1,2,3,4,5,6,7,8,9,10,10,9,8,7,6,5,4,3,2,1]}]}"#;

/// The same rows as the `/score` body of scorehost's `toplevel` plugin.
const TOPLEVEL_BODY: &str = r#"{"data": [[1,2,3,4,5,6,7,8,9,10],[10,9,8,7,6,5,4,3,2,1]]}"#;

/// The Power BI request of the benchmarks as Open Inference Protocol JSON.
const OIP_JSON: &str = r#"{"inputs": [{"name": "input1", "shape": [2, 10], "datatype": "FP64", "data": [[1,2,3,4,5,6,7,8,9,10],[10,9,8,7,6,5,4,3,2,1]]}, {"name": "input2.name", "shape": [2], "datatype": "BYTES", "data": ["Sarah", "John"]}, {"name": "input2.age", "shape": [2], "datatype": "INT64", "data": [25, 26]}, {"name": "input3", "shape": [1], "datatype": "FP64", "data": [0.0]}, {"name": "GlobalParameters", "shape": [1], "datatype": "FP64", "data": [1.0]}]}"#;

/// The same request with binary tensors (and binary outputs asked for), and its JSON
/// header's length.
fn oip_binary_body() -> (Vec<u8>, usize) {
    let mut tensors: Vec<(&str, &str, Vec<u64>, Vec<u8>)> = Vec::new();
    let rows: Vec<f64> = (1..=10).chain((1..=10).rev()).map(f64::from).collect();
    tensors.push((
        "input1",
        "FP64",
        vec![2, 10],
        rows.iter().flat_map(|x| x.to_le_bytes()).collect(),
    ));
    let mut names = Vec::new();
    for name in ["Sarah", "John"] {
        names.extend((name.len() as u32).to_le_bytes());
        names.extend(name.as_bytes());
    }
    tensors.push(("input2.name", "BYTES", vec![2], names));
    tensors.push((
        "input2.age",
        "INT64",
        vec![2],
        [25i64, 26].iter().flat_map(|x| x.to_le_bytes()).collect(),
    ));
    tensors.push(("input3", "FP64", vec![1], 0.0f64.to_le_bytes().to_vec()));
    tensors.push((
        "GlobalParameters",
        "FP64",
        vec![1],
        1.0f64.to_le_bytes().to_vec(),
    ));
    let inputs: Vec<String> = tensors
        .iter()
        .map(|(name, datatype, shape, data)| {
            format!(
                r#"{{"name": "{name}", "shape": {shape:?}, "datatype": "{datatype}", "parameters": {{"binary_data_size": {}}}}}"#,
                data.len()
            )
        })
        .collect();
    let header = format!(
        r#"{{"inputs": [{}], "parameters": {{"binary_data_output": true}}}}"#,
        inputs.join(", ")
    );
    let mut body = header.clone().into_bytes();
    for (_, _, _, data) in &tensors {
        body.extend(data);
    }
    (body, header.len())
}

/// Process start → first successful `/score` answer, with an empty compile cache and again
/// with the cache the first start filled, for the Rust and the Python Power BI plugins.
fn cold_start(
    table: &mut String,
    scorehost: &dyn Fn(&str, u16, &Path) -> Target,
    body: &str,
    cache: &Path,
) -> io::Result<()> {
    let _ = writeln!(
        table,
        "### Cold start (process start → first successful /score)\n\n\
         | plugin | empty compile cache | cached |\n|---|---|---|"
    );
    for (plugin, port) in [("powerbi", 5318), ("python/powerbi", 5319)] {
        let _ = std::fs::remove_dir_all(cache);
        let mut times = Vec::new();
        for _ in 0..2 {
            let mut target = scorehost(plugin, port, cache);
            let started = Instant::now();
            let child = Guard::start(&mut target, 300)?;
            post_ok(([127, 0, 0, 1], port).into(), body)?;
            times.push(started.elapsed());
            drop(child);
        }
        let _ = writeln!(
            table,
            "| {plugin} | {:.0} ms | {:.0} ms |",
            times[0].as_secs_f64() * 1e3,
            times[1].as_secs_f64() * 1e3
        );
    }
    let _ = writeln!(table);
    Ok(())
}

/// POSTs a JSON body to `/score` and fails unless the answer is 200.
fn post_ok(addr: SocketAddr, body: &str) -> io::Result<()> {
    post_path_ok(addr, "/score", body)
}

/// Kills the server when the case ends, however it ends.
struct Guard(Child);

impl Guard {
    /// Starts the server `command` on `port` (its output discarded) and waits up to
    /// `limit_s` for it to be ready.
    fn serve(command: Command, port: u16, limit_s: u64) -> io::Result<Guard> {
        let mut target = Target {
            name: "",
            command,
            port,
            request: None,
            ready_200: false,
        };
        Guard::start(&mut target, limit_s)
    }

    /// Starts `target` (its output discarded) and waits up to `limit_s` for it to be ready.
    fn start(target: &mut Target, limit_s: u64) -> io::Result<Guard> {
        let child = Guard(
            target
                .command
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()?,
        );
        wait_ready(
            ([127, 0, 0, 1], target.port).into(),
            Duration::from_secs(limit_s),
            target.ready_200,
        )?;
        Ok(child)
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        // gunicorn workers are children of the master, MLServer's inference worker a
        // grandchild: stop every descendant gently first, then the server, then whatever of
        // them is still alive.
        let descendants = descendants(self.0.id());
        let signal = |name: &str, pids: &[u32]| {
            if !pids.is_empty() {
                let _ = Command::new("kill")
                    .arg(format!("-{name}"))
                    .args(pids.iter().map(u32::to_string))
                    .stderr(Stdio::null())
                    .status();
            }
        };
        signal("TERM", &descendants);
        let _ = self.0.kill();
        let _ = self.0.wait();
        std::thread::sleep(Duration::from_millis(300));
        signal("KILL", &descendants);
    }
}

/// Every process below `pid` (children first found through `/proc`), deepest last.
fn descendants(pid: u32) -> Vec<u32> {
    let mut found = Vec::new();
    let mut next = vec![pid];
    while let Some(parent) = next.pop() {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{parent}/task")) else {
            continue;
        };
        for task in tasks.filter_map(Result::ok) {
            let children =
                std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
            for child in children.split_whitespace().filter_map(|c| c.parse().ok()) {
                found.push(child);
                next.push(child);
            }
        }
    }
    found
}

fn ms(us: f64) -> String {
    format!("{:.3} ms", us / 1000.0)
}

/// A wrk script that POSTs `(content type, Lua string literal)`, or GETs when `None`, and
/// prints one `BENCH` line of figures at the end.
fn wrk_script(post: Option<(&str, &str)>) -> String {
    let request = match post {
        Some((content_type, body)) => format!(
            "wrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"{content_type}\"\nwrk.body = {body}\n"
        ),
        None => String::new(),
    };
    format!(
        r#"{request}done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH %d %d %f %f %f %d\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9),
    e.status + e.connect + e.read + e.write + e.timeout))
end
"#
    )
}

/// The wrk script that POSTs [`POWERBI_BODY`].
fn powerbi_script() -> String {
    wrk_script(Some((
        "application/json",
        &lua_string(POWERBI_BODY.as_bytes()),
    )))
}

/// Bytes as a Lua string literal (decimal escapes, so binary data survives).
fn lua_string(bytes: &[u8]) -> String {
    let mut s = String::from("\"");
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b" {}[]:,._-/=;".contains(&b) {
            s.push(b as char);
        } else {
            // Always three digits: `\13` followed by a digit would read as another byte.
            let _ = write!(s, "\\{b:03}");
        }
    }
    s.push('"');
    s
}

/// The path of a gRPC row's "request": its calls are `ModelInfer`, made by
/// `examples/grpc_load` from an Open Inference Protocol JSON request file.
const GRPC_MODEL_INFER: &str = "/inference.GRPCInferenceService/ModelInfer";

/// Runs `examples/grpc_load` (built beside the server in `release`) with `conns` HTTP/2
/// connections for `seconds`, sending the request of `request_file` to model `default`.
fn run_grpc_load(
    release: &Path,
    request_file: &Path,
    addr: SocketAddr,
    conns: u32,
    seconds: u32,
) -> io::Result<Figures> {
    let output = Command::new(release.join("examples/grpc_load"))
        .arg(addr.to_string())
        .arg("default")
        .arg(request_file)
        .arg(conns.to_string())
        .arg(seconds.to_string())
        .output()?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(io::Error::other(format!(
            "grpc_load failed: {text}{}",
            String::from_utf8_lossy(&output.stderr)
        )));
    }
    let field = |key: &str| -> io::Result<f64> {
        text.split_whitespace()
            .find_map(|part| part.strip_prefix(key)?.strip_prefix('='))
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| io::Error::other(format!("grpc_load printed no {key}: {text}")))
    };
    Ok(Figures {
        requests: field("requests")?,
        requests_per_s: field("rps")?,
        p50_us: field("p50_us")?,
        p99_us: field("p99_us")?,
        p999_us: field("p999_us")?,
        errors: field("errors")? as u64,
        cpu_s: 0.0,
        rss_mib: 0.0,
    })
}

fn run_wrk(
    wrk: &Path,
    script: &Path,
    addr: SocketAddr,
    url_path: &str,
    conns: u32,
    seconds: u32,
) -> io::Result<Figures> {
    let output = Command::new(wrk)
        .args(["-t", &conns.min(2).to_string(), "-c", &conns.to_string()])
        .args(["-d", &format!("{seconds}s"), "--timeout", "10s", "-s"])
        .arg(script)
        .arg(format!("http://{addr}{url_path}"))
        .output()?;
    let text = String::from_utf8_lossy(&output.stdout);
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("BENCH "))
        .ok_or_else(|| io::Error::other(format!("wrk printed no figures: {text}")))?;
    let v: Vec<f64> = line
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    let [requests, duration_us, p50, p99, p999, errors] = v[..] else {
        return Err(io::Error::other(format!("unexpected wrk line {line:?}")));
    };
    Ok(Figures {
        requests,
        requests_per_s: requests / (duration_us / 1e6),
        p50_us: p50,
        p99_us: p99,
        p999_us: p999,
        errors: errors as u64,
        cpu_s: 0.0,
        rss_mib: 0.0,
    })
}

/// Waits until the server on `addr` is ready: scorehost answers `/v2/health/ready` with 503
/// until every deployment's `init` succeeded (it listens earlier); the other servers have no
/// readiness route and answer it with some other status as soon as they are up.
fn wait_ready(addr: SocketAddr, limit: Duration, ready_200: bool) -> io::Result<()> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            let _ = stream.write_all(
                b"GET /v2/health/ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            );
            let mut reply = String::new();
            let _ = stream.read_to_string(&mut reply);
            // 503 is scorehost still loading; any other answer is a server that is up (the
            // Azure ML server says 404, the native handler 400).
            let status = reply.get(9..12);
            let ready = match ready_200 {
                true => status == Some("200"),
                false => status.is_some_and(|s| s != "503"),
            };
            if reply.starts_with("HTTP/1.") && ready {
                return Ok(());
            }
        }
        // A short pause: the cold-start figures are only as fine as this.
        std::thread::sleep(Duration::from_millis(5));
    }
    Err(io::Error::other(format!(
        "no server was ready on {addr} within {limit:?}"
    )))
}

/// CPU seconds used so far and resident MiB now, of a process and all its descendants.
fn tree_usage(root: u32) -> (f64, f64) {
    let mut procs: Vec<(u32, u32, f64, f64)> = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some(after) = stat.rsplit_once(") ").map(|(_, a)| a) else {
            continue;
        };
        let f: Vec<&str> = after.split_whitespace().collect();
        let num = |i: usize| f.get(i).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
        // After the name: state(0) ppid(1) ... utime(11) stime(12) ... rss pages(21).
        procs.push((
            pid,
            num(1) as u32,
            (num(11) + num(12)) / 100.0,
            num(21) * 4096.0 / 1048576.0,
        ));
    }
    let mut tree = vec![root];
    let mut i = 0;
    while i < tree.len() {
        let parent = tree[i];
        tree.extend(procs.iter().filter(|p| p.1 == parent).map(|p| p.0));
        i += 1;
    }
    procs
        .iter()
        .filter(|p| tree.contains(&p.0))
        .fold((0.0, 0.0), |(cpu, rss), p| (cpu + p.2, rss + p.3))
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned())
}

/// `wrk` from Debian's packages, installed when missing (as root).
fn ensure_wrk() -> io::Result<PathBuf> {
    let wrk = PathBuf::from("/usr/bin/wrk");
    if !wrk.exists() {
        println!("xtask: installing wrk from Debian's packages");
        run(Command::new("sh").args([
            "-c",
            "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk",
        ]))?;
    }
    Ok(wrk)
}

/// The ONNX iris classifier's single-model folder, made by its training script in the ONNX
/// venv (the integration tests make both the same way) when missing.
fn onnx_tabular_model(root: &Path) -> io::Result<PathBuf> {
    let out = root.join("target/onnx-models/tabular");
    let model = out.join("single");
    if model.join("model.onnx").exists() {
        return Ok(model);
    }
    let venv = root.join("target/onnx-venv");
    if !venv.join("bin/python").exists() {
        run(Command::new("python3").arg("-m").arg("venv").arg(&venv))?;
    }
    run(Command::new(venv.join("bin/pip"))
        .args(["install", "--quiet", "--disable-pip-version-check", "-r"])
        .arg(root.join("plugins/onnx_requirements.txt")))?;
    run(Command::new(venv.join("bin/python"))
        .arg(root.join("plugins/onnx_tabular/model/train.py"))
        .arg(&out))?;
    Ok(model)
}

/// A venv with the Azure ML scoring server, made once.
fn ensure_venv(venv: &Path) -> io::Result<PathBuf> {
    if !venv.join("bin/azmlinfsrv").exists() {
        println!(
            "xtask: installing the Azure ML scoring server into {}",
            venv.display()
        );
        run(Command::new("python3").arg("-m").arg("venv").arg(venv))?;
        run(Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check"])
            .args(AZUREML_PACKAGES))?;
    }
    Ok(venv.to_path_buf())
}

/// A venv with `packages` (pinned), made once; `marker` names the file written inside it
/// when the install finished (a half-made venv is made again).
fn ensure_peer_venv(venv: &Path, marker: &str, packages: &[&str]) -> io::Result<PathBuf> {
    let done = venv.join(format!(".{marker}-installed"));
    if !done.exists() {
        println!(
            "xtask: installing {} into {}",
            packages.join(" "),
            venv.display()
        );
        let started = Instant::now();
        run(Command::new("python3").arg("-m").arg("venv").arg(venv))?;
        run(Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check"])
            .args(packages))?;
        std::fs::write(&done, packages.join("\n"))?;
        println!(
            "xtask:   installed in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
    Ok(venv.to_path_buf())
}

fn splice_into_benchmarks(path: &Path, table: &str) -> io::Result<()> {
    let text = std::fs::read_to_string(path)?;
    let (Some(a), Some(b)) = (text.find(MARK_START), text.find(MARK_END)) else {
        return Err(io::Error::other(format!(
            "{} lacks the bench markers",
            path.display()
        )));
    };
    let updated = format!("{}{MARK_START}\n{table}\n{}", &text[..a], &text[b..]);
    std::fs::write(path, updated)
}

const ONNX_SUITE: &str = "ONNX tabular (iris classifier, 2 rows, from Rust, Python and JS guests)";
const ONNX_CNN_SUITE: &str =
    "ONNX CNN (small ResNet, one 96x96 RGB image per request, from Rust, Python and JS guests)";

/// One scorehost build in an ONNX suite: its row, its component (`python/NAME`, `js/NAME` or
/// a Rust plugin), the host's wasi-nn engine (`--nn-backend`) and port, and the body it
/// takes when not the suite's.
struct OnnxGuest {
    name: &'static str,
    plugin: &'static str,
    backend: &'static str,
    port: u16,
    body: Option<&'static str>,
}

/// The rows of an ONNX suite: each wasi-nn guest (`(row, plugin, own body)`) on tract and on
/// onnxruntime, from `port` on, then tract compiled into the guest (`in_guest`).
fn onnx_guests(
    wasi_nn: [(&'static str, &'static str, Option<&'static str>); 3],
    in_guest: (&'static str, &'static str),
    port: u16,
) -> Vec<OnnxGuest> {
    let mut guests = Vec::new();
    for backend in ["tract", "onnxruntime"] {
        for (row, plugin, body) in wasi_nn {
            guests.push(OnnxGuest {
                // A row name lives as long as the bench run.
                name: format!("scorehost, wasi-nn on {backend}, {row}").leak(),
                plugin,
                backend,
                port: port + guests.len() as u16,
                body,
            });
        }
    }
    guests.push(OnnxGuest {
        name: in_guest.0,
        plugin: in_guest.1,
        backend: "tract",
        port: port + guests.len() as u16,
        body: None,
    });
    guests
}

/// What the two ONNX suites share: the model folder, the release server, the components.
struct OnnxBench<'a> {
    title: &'static str,
    seconds: u32,
    wrk: &'a Path,
    release: &'a Path,
    plugins: &'a Path,
    python_plugins: &'a Path,
    js_plugins: PathBuf,
    model_dir: PathBuf,
    out: &'a Path,
    /// The Azure ML server's venv, whose onnxruntime scorehost loads too.
    venv: &'a Path,
}

impl OnnxBench<'_> {
    fn component(&self, plugin: &str) -> PathBuf {
        match plugin.split_once('/') {
            // Built by `wasi_python_suite` with `scorehost build`.
            Some(("wasi-python", name)) => self.out.join(format!("wasi-python-{name}.json")),
            Some(("python", name)) => self.python_plugins.join(format!("{name}.wasm")),
            Some(("js", name)) => self.js_plugins.join(format!("{name}.wasm")),
            _ => self.plugins.join(format!("{plugin}.wasm")),
        }
    }

    /// `scorehost serve` from the release build, with the bench's compile cache, quiet logs
    /// and the onnxruntime of the Azure ML server's venv (the same library in both).
    fn serve(&self) -> Command {
        let mut cmd = Command::new(self.release.join("scorehost"));
        cmd.arg("serve")
            .arg("--cache-dir")
            .arg(repo_root().join("target/bench-compile-cache"))
            .arg("--onnxruntime")
            .arg(self.venv)
            .env("SCOREHOST_LOG", "warn");
        cmd
    }

    /// `guest` served with `instances` instances on its engine.
    fn serve_guest(&self, guest: &OnnxGuest, instances: u32) -> Command {
        let mut cmd = self.scorehost(guest.plugin, guest.port, instances);
        cmd.args(["--nn-backend", guest.backend]);
        cmd
    }

    fn scorehost(&self, plugin: &str, port: u16, instances: u32) -> Command {
        let mut cmd = self.serve();
        cmd.arg("--plugin")
            .arg(self.component(plugin))
            .arg("--model-dir")
            .arg(&self.model_dir)
            .args(["--addr", &format!("127.0.0.1:{port}")])
            .args(["--instances", &instances.to_string()]);
        cmd
    }

    /// The Azure ML server (`venv`'s `azmlinfsrv`) serving `script` (from the repository's
    /// root) with this suite's model folder.
    fn azureml(&self, venv: &Path, script: &str, port: u16) -> Command {
        let mut cmd = Command::new(venv.join("bin/azmlinfsrv"));
        cmd.arg("--entry_script")
            .arg(repo_root().join(script))
            .args(["--port", &port.to_string()])
            .env("AZUREML_MODEL_DIR", &self.model_dir)
            .current_dir(self.out);
        cmd
    }

    /// A wrk script that POSTs `body` as JSON.
    fn lua(&self, file: &str, body: &str) -> io::Result<PathBuf> {
        let lua = self.out.join(file);
        std::fs::write(
            &lua,
            wrk_script(Some(("application/json", &lua_string(body.as_bytes())))),
        )?;
        Ok(lua)
    }

    /// p50/p99 and RSS at 1 and 8 connections for the Azure ML server (`native`, named, on
    /// `native_port`) and every guest (2 instances), then each guest's RSS per extra instance
    /// (8 instances against 1) and per extra deployment (8 deployments of the same model in
    /// one `--config` against 1, one instance each, after a request to every deployment).
    fn rows(
        &self,
        table: &mut String,
        body: &str,
        (native_name, native): (&'static str, Command),
        native_port: u16,
        guests: &[OnnxGuest],
    ) -> io::Result<()> {
        let suite_lua = self.lua("onnx_suite.lua", body)?;
        let mut targets = vec![(
            Target {
                name: native_name,
                command: native,
                port: native_port,
                request: None,
                ready_200: false,
            },
            suite_lua.clone(),
            body,
        )];
        for (i, guest) in guests.iter().enumerate() {
            // Compile the component once, off the clock.
            let mut warm = Target {
                name: "",
                command: self.serve_guest(guest, 1),
                port: guest.port,
                request: None,
                ready_200: false,
            };
            drop(Guard::start(&mut warm, 300)?);
            let (lua, body) = match guest.body {
                Some(own) => (self.lua(&format!("onnx_guest_{i}.lua"), own)?, own),
                None => (suite_lua.clone(), body),
            };
            let target = Target {
                name: guest.name,
                command: self.serve_guest(guest, 2),
                port: guest.port,
                request: None,
                ready_200: false,
            };
            targets.push((target, lua, body));
        }
        for (mut target, lua, body) in targets {
            println!("xtask: bench {} — {}", self.title, target.name);
            let child = Guard::start(&mut target, 120)?;
            let addr: SocketAddr = ([127, 0, 0, 1], target.port).into();
            post_ok(addr, body)?;
            for conns in [1u32, 8] {
                let f = run_wrk(self.wrk, &lua, addr, "/score", conns, self.seconds)?;
                let rss = tree_usage(child.0.id()).1;
                let _ = writeln!(
                    table,
                    "| {} | {conns} | {:.1} | {} | {} | {} | {rss:.0} |",
                    target.name,
                    f.requests_per_s,
                    ms(f.p50_us),
                    ms(f.p99_us),
                    f.errors,
                );
            }
            drop(child);
        }

        Self::rss_table(table, "instance", guests, body, |guest, instances, body| {
            let command = self.serve_guest(guest, instances);
            self.rss_after(command, guest.port, |addr| {
                for _ in 0..instances * 4 {
                    post_ok(addr, body)?;
                }
                Ok(())
            })
        })?;
        Self::rss_table(table, "deployment", guests, body, |guest, count, body| {
            let mut config = format!("addr = \"127.0.0.1:{}\"\nwatch = false\n", guest.port);
            for i in 0..count {
                let _ = write!(
                    config,
                    "\n[[deployment]]\nname = \"m{i}\"\nplugin = {:?}\nmodel_dir = {:?}\nauth = false\ninstances = 1\nnn_backend = {:?}\n",
                    self.component(guest.plugin).display().to_string(),
                    self.model_dir.display().to_string(),
                    guest.backend,
                );
            }
            let path = self.out.join(format!("onnx_deployments_{count}.toml"));
            std::fs::write(&path, config)?;
            let mut command = self.serve();
            command.arg("--config").arg(&path);
            self.rss_after(command, guest.port, |addr| {
                for i in 0..count {
                    post_path_ok(addr, &format!("/api/v1/service/m{i}/score"), body)?;
                }
                Ok(())
            })
        })?;
        let _ = writeln!(table);
        Ok(())
    }

    /// A table of each guest's RSS with 1 and with 8 of `what` (what `measure` starts), and
    /// the cost of each extra one.
    fn rss_table(
        table: &mut String,
        what: &str,
        guests: &[OnnxGuest],
        body: &str,
        measure: impl Fn(&OnnxGuest, u32, &str) -> io::Result<f64>,
    ) -> io::Result<()> {
        let _ = writeln!(
            table,
            "\n| scorehost build | RSS, 1 {what} | RSS, 8 {what}s | per extra {what} |\n|---|---|---|---|"
        );
        for guest in guests {
            let body = guest.body.unwrap_or(body);
            let one = measure(guest, 1, body)?;
            let eight = measure(guest, 8, body)?;
            let _ = writeln!(
                table,
                "| {} | {one:.1} MiB | {eight:.1} MiB | {:.2} MiB |",
                guest.name,
                (eight - one) / 7.0
            );
        }
        Ok(())
    }

    /// Starts `command` (a server on `port`), runs `requests` against it and returns the
    /// server's RSS in MiB.
    fn rss_after(
        &self,
        command: Command,
        port: u16,
        requests: impl FnOnce(SocketAddr) -> io::Result<()>,
    ) -> io::Result<f64> {
        let child = Guard::serve(command, port, 300)?;
        requests(([127, 0, 0, 1], port).into())?;
        let rss = tree_usage(child.0.id()).1;
        drop(child);
        Ok(rss)
    }
}

/// The venv that makes the example models (`target/onnx-venv`), and onnxruntime (and numpy)
/// in the Azure ML server's venv: the versions the tests compare with.
fn onnx_venvs(venv: &Path) -> io::Result<PathBuf> {
    let root = repo_root();
    let requirements = root.join("plugins/onnx_requirements.txt");
    let pip = |venv: &Path| {
        let mut cmd = Command::new(venv.join("bin/python"));
        cmd.args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
        ])
        .arg(&requirements);
        cmd
    };
    let onnx_venv = root.join("target/onnx-venv");
    if !onnx_venv.join("bin/python").exists() {
        run(Command::new("python3").args(["-m", "venv"]).arg(&onnx_venv))?;
    }
    run(&mut pip(&onnx_venv))?;
    run(&mut pip(venv))?;
    Ok(onnx_venv)
}

/// The components and venvs both ONNX suites use.
struct OnnxSetup<'a> {
    seconds: u32,
    wrk: &'a Path,
    release: &'a Path,
    plugins: &'a Path,
    python_plugins: &'a Path,
    venv: &'a Path,
    out: &'a Path,
}

impl<'a> OnnxSetup<'a> {
    fn bench(&self, title: &'static str, model_dir: PathBuf) -> io::Result<OnnxBench<'a>> {
        Ok(OnnxBench {
            title,
            seconds: self.seconds,
            wrk: self.wrk,
            release: self.release,
            plugins: self.plugins,
            python_plugins: self.python_plugins,
            js_plugins: xtask::build_js_plugins()?,
            model_dir,
            out: self.out,
            venv: self.venv,
        })
    }
}

/// The ONNX tabular example (`plugins/onnx_tabular/model/train.py`'s iris classifier):
/// onnxruntime in the Azure ML server's Python process, scorehost with the model in the
/// host's engine (`wasi:nn`) from the Rust, Python and JS twins, and scorehost with tract
/// compiled into the guest.
fn onnx_suite(table: &mut String, setup: &OnnxSetup) -> io::Result<()> {
    let root = repo_root();
    let onnx_venv = onnx_venvs(setup.venv)?;
    let models = setup.out.join("onnx-tabular");
    run(Command::new(onnx_venv.join("bin/python"))
        .arg(root.join("plugins/onnx_tabular/model/train.py"))
        .arg(&models))?;
    let bench = setup.bench(ONNX_SUITE, models.join("single"))?;
    // The Rust twins are typed (the Power BI `Inputs` shape); the Python and JS ones are
    // undecorated and read `{"data": ...}` themselves, as their Azure ML originals.
    let body = r#"{"Inputs": {"data": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]}}"#;
    let plain_body = r#"{"data": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]}"#;
    let plain = Some(plain_body);
    let azureml = bench.azureml(setup.venv, "xtask/bench/score_onnx_tabular.py", 5331);
    let guests = onnx_guests(
        [
            ("Rust guest (onnx_tabular)", "onnx_tabular", None),
            (
                "Python guest (python/onnx_tabular)",
                "python/onnx_tabular",
                plain,
            ),
            ("JS guest (js/onnx_tabular)", "js/onnx_tabular", plain),
        ],
        (
            "scorehost, tract in the guest (Rust onnx_tabular_tract)",
            "onnx_tabular_tract",
        ),
        5332,
    );
    let _ = writeln!(
        table,
        "### {ONNX_SUITE}\n\n| server | conns | req/s | p50 | p99 | non-2xx/errors | RSS MiB |\n|---|---|---|---|---|---|---|"
    );
    let body_path = setup.out.join("onnx_tabular_body.json");
    std::fs::write(&body_path, plain_body)?;
    table.push_str(&onnxruntime_in_process(
        setup.venv,
        &bench.model_dir.join("model.onnx"),
        &body_path,
        "data",
    )?);
    bench.rows(table, body, (ONNXRUNTIME_BASELINE, azureml), 5331, &guests)
}

/// onnxruntime in `venv`'s Python on `model`, as table rows (p50 and p99 of 200 runs): the
/// body at `body_path` parsed on its own (`json.loads` and a float32 numpy array of its `key`:
/// what any server does before the model), then `session.run` on that array with one
/// intra-op thread and with onnxruntime's default (every core).
fn onnxruntime_in_process(
    venv: &Path,
    model: &Path,
    body_path: &Path,
    key: &str,
) -> io::Result<String> {
    let output = Command::new(venv.join("bin/python"))
        .args([
            "-c",
            "import json, sys, time\n\
             import numpy as np, onnxruntime as ort\n\
             model, body, key = sys.argv[1], open(sys.argv[2]).read(), sys.argv[3]\n\
             def row(what, f):\n\
             \x20   for _ in range(10): f()\n\
             \x20   t = []\n\
             \x20   for _ in range(200):\n\
             \x20       a = time.perf_counter(); f(); t.append(time.perf_counter() - a)\n\
             \x20   t.sort()\n\
             \x20   print(f'| {what} | - | - | {t[100]*1e3:.3f} ms | {t[198]*1e3:.3f} ms | - | - |')\n\
             row('the request body parsed on its own (json.loads + a float32 numpy array)', lambda: np.array(json.loads(body)[key], dtype=np.float32))\n\
             x = np.array(json.loads(body)[key], dtype=np.float32)\n\
             for threads in (1, 0):\n\
             \x20   o = ort.SessionOptions(); o.intra_op_num_threads = threads\n\
             \x20   s = ort.InferenceSession(model, o, providers=['CPUExecutionProvider'])\n\
             \x20   name = s.get_inputs()[0].name\n\
             \x20   row(f'onnxruntime in-process session.run, intra_op_num_threads={threads or \"default\"}', lambda: s.run(None, {name: x}))",
        ])
        .arg(model)
        .arg(body_path)
        .arg(key)
        .output()?;
    if !output.status.success() {
        return Err(io::Error::other(format!(
            "onnxruntime in-process failed: {}",
            String::from_utf8_lossy(&output.stderr)
        )));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The ONNX suites' baseline row.
const ONNXRUNTIME_BASELINE: &str = "Azure ML server + onnxruntime (Python, native)";

/// Title of the wasi-python suite.
const WASI_PYTHON_SUITE: &str =
    "wasi-python: the seed's Power BI script unchanged, real scikit-learn Ridge (2 rows)";

/// The seed's Power BI script, byte for byte the file the Azure ML server serves, with the
/// same Ridge pickled by native scikit-learn 1.9.1: the Azure ML server against scorehost's
/// wasi-python runtime (the real CPython, numpy, pandas, scikit-learn and inference-schema in
/// the sandbox), then the RSS of each extra instance and deployment.
fn wasi_python_suite(table: &mut String, setup: &OnnxSetup) -> io::Result<()> {
    let root = repo_root();
    // The Azure ML server unpickles the same model with the same scikit-learn.
    run(Command::new(setup.venv.join("bin/python")).args([
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "scikit-learn==1.9.1",
    ]))?;
    let models = setup.out.join("wasi-python-models");
    run(Command::new(setup.venv.join("bin/python"))
        .arg(root.join("plugins/wasi-python/train.py"))
        .arg(&models))?;
    let bench = setup.bench(WASI_PYTHON_SUITE, models.join("ridge"))?;
    let started = Instant::now();
    run(Command::new(setup.release.join("scorehost"))
        .arg("build")
        .arg(root.join("plugins/wasi-python/powerbi/score.py"))
        .arg("-o")
        .arg(bench.component("wasi-python/powerbi"))
        .arg("--cache-dir")
        .arg(root.join("target/bench-compile-cache")))?;
    println!(
        "xtask: wasi-python bundle built in {:.1} s (the runtime installed on first use)",
        started.elapsed().as_secs_f64()
    );
    // The first instance's post-init snapshot compiles in the background, once per cache:
    // wait for it off the clock, so every server below restores its instances from it.
    let started = Instant::now();
    let mut command = bench.scorehost("wasi-python/powerbi", 5342, 1);
    command.args(["--admin-key", BENCH_ADMIN_KEY]);
    let child = Guard::serve(command, 5342, 300)?;
    wait_for_view(
        ([127, 0, 0, 1], 5342).into(),
        Duration::from_secs(900),
        |view| view.contains("\"snapshot\":\"ready\""),
    )?;
    drop(child);
    println!(
        "xtask: wasi-python snapshot ready {:.1} s after the start",
        started.elapsed().as_secs_f64()
    );
    let azureml = bench.azureml(setup.venv, "plugins/wasi-python/powerbi/score.py", 5341);
    let guests = [OnnxGuest {
        name: "scorehost, wasi-python runtime (the same file)",
        plugin: "wasi-python/powerbi",
        backend: "auto",
        port: 5342,
        body: None,
    }];
    let _ = writeln!(
        table,
        "### {WASI_PYTHON_SUITE}\n\n| server | conns | req/s | p50 | p99 | non-2xx/errors | RSS MiB |\n|---|---|---|---|---|---|---|"
    );
    let baseline = "Azure ML server (the script with numpy, pandas, scikit-learn, native)";
    bench.rows(table, POWERBI_BODY, (baseline, azureml), 5341, &guests)?;
    wake_rows(table, &bench, "wasi-python/powerbi", 5342, POWERBI_BODY)
}

/// The admin key of the bench's servers that are asked where they stand.
const BENCH_ADMIN_KEY: &str = "bench-admin";

/// Scale to zero and back: a deployment of `plugin` that drops its one instance after a
/// second idle, woken by one request at a time once it holds none; the time from sending
/// the request to its 200, restored from the post-init snapshot and booted without it.
fn wake_rows(
    table: &mut String,
    bench: &OnnxBench<'_>,
    plugin: &str,
    port: u16,
    body: &str,
) -> io::Result<()> {
    let _ = writeln!(
        table,
        "| wake from zero to the first 200 (1 instance, idle 1 s) | wakes | p50 | p99 |\n|---|---|---|---|"
    );
    let cases = [
        ("restored from the post-init snapshot (default)", None, 40),
        (
            "booted (`--no-python-snapshots`)",
            Some("--no-python-snapshots"),
            5,
        ),
    ];
    for (label, flag, wakes) in cases {
        let mut command = bench.scorehost(plugin, port, 1);
        command.args(["--min-instances", "0", "--idle-timeout-s", "1"]);
        command.args(["--admin-key", BENCH_ADMIN_KEY]);
        command.args(flag);
        let child = Guard::serve(command, port, 300)?;
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let mut times = Vec::with_capacity(wakes);
        for _ in 0..wakes {
            wait_for_view(addr, Duration::from_secs(30), |view| {
                view.contains("\"instances\":0")
            })?;
            let started = Instant::now();
            post_ok(addr, body)?;
            times.push(started.elapsed().as_secs_f64() * 1e6);
        }
        drop(child);
        times.sort_by(f64::total_cmp);
        let p99 = times[(times.len() * 99 / 100).min(times.len() - 1)];
        let _ = writeln!(
            table,
            "| {label} | {wakes} | {} | {} |",
            ms(times[times.len() / 2]),
            ms(p99)
        );
    }
    let _ = writeln!(table);
    Ok(())
}

/// Polls the admin view of deployment `default` on `addr` (compact JSON) until `done`
/// accepts it; an error after `limit`, or at once when its snapshot is unavailable.
fn wait_for_view(addr: SocketAddr, limit: Duration, done: impl Fn(&str) -> bool) -> io::Result<()> {
    let until = Instant::now() + limit;
    loop {
        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        write!(
            stream,
            "GET /api/v1/service/default HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
             Authorization: Bearer {BENCH_ADMIN_KEY}\r\n\r\n"
        )?;
        let mut reply = String::new();
        stream.read_to_string(&mut reply)?;
        if done(&reply) {
            return Ok(());
        }
        if reply.contains("\"snapshot\":\"unavailable\"") || Instant::now() > until {
            return Err(io::Error::other(format!(
                "the deployment on {addr} did not get there: {reply}"
            )));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The convolutional image classifier (`plugins/python/onnx_cnn/model/make.py`) served by the
/// Azure ML server with the real onnxruntime (`xtask/bench/onnx_cnn/native_score.py`), by
/// scorehost from the Rust, Python and JS twins (wasi-nn, tract in the host) and with tract
/// compiled into the Rust guest; onnxruntime's in-process `session.run` as a reference line.
fn onnx_cnn_suite(table: &mut String, setup: &OnnxSetup) -> io::Result<()> {
    let root = repo_root();
    let onnx_venv = onnx_venvs(setup.venv)?;
    let model_dir = setup.out.join("onnx-cnn");
    run(Command::new(onnx_venv.join("bin/python"))
        .arg(root.join("plugins/python/onnx_cnn/model/make.py"))
        .arg(&model_dir))?;
    // The body: the first test image.
    let body_path = setup.out.join("onnx_cnn_body.json");
    run(Command::new(setup.venv.join("bin/python"))
        .args([
            "-c",
            "import json, sys\n\
             image = json.load(open(sys.argv[1] + '/expected.json'))['images'][0]\n\
             open(sys.argv[2], 'w').write(json.dumps({'image': [image]}))",
        ])
        .arg(&model_dir)
        .arg(&body_path))?;
    let body = std::fs::read_to_string(&body_path)?;
    let bench = setup.bench(ONNX_CNN_SUITE, model_dir)?;
    let azureml = bench.azureml(setup.venv, "xtask/bench/onnx_cnn/native_score.py", 5341);
    let guests = onnx_guests(
        [
            ("Rust guest (onnx_cnn)", "onnx_cnn", None),
            ("Python guest (python/onnx_cnn)", "python/onnx_cnn", None),
            ("JS guest (js/onnx_cnn)", "js/onnx_cnn", None),
        ],
        (
            "scorehost, tract in the guest (Rust onnx_cnn_tract)",
            "onnx_cnn_tract",
        ),
        5342,
    );
    let _ = writeln!(
        table,
        "### {ONNX_CNN_SUITE}\n\n| server | conns | req/s | p50 | p99 | non-2xx/errors | RSS MiB |\n|---|---|---|---|---|---|---|"
    );
    table.push_str(&onnxruntime_in_process(
        setup.venv,
        &bench.model_dir.join("model.onnx"),
        &body_path,
        "image",
    )?);
    bench.rows(table, &body, (ONNXRUNTIME_BASELINE, azureml), 5341, &guests)
}

/// POSTs a JSON body to `path` and fails unless the answer is 200.
pub(crate) fn post_path_ok(addr: SocketAddr, path: &str, body: &str) -> io::Result<()> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut reply = String::new();
    stream.read_to_string(&mut reply)?;
    if reply.starts_with("HTTP/1.1 200") {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "{path} on {addr} answered: {reply}"
        )))
    }
}

/// `cargo xtask bench --instructions`: user-space instructions per request, counted by
/// valgrind's callgrind, for scorehost and the native handler (bare, and its twin with
/// scorehost's envelope) on the Power BI body and on the liveness route. Unlike req/s and CPU
/// time, the count does not move with the other load on the machine (the figure of a fix on a
/// shared 2-core box). Each server runs under callgrind with instrumentation off; after a
/// warm-up, instrumentation is turned on for a bounded wrk run (2 connections, `seconds`), and
/// the dump's total is divided by wrk's request count.
/// Needs `valgrind` (Debian/Ubuntu: `apt install valgrind`). Prints a Markdown table.
pub fn instructions(seconds: u32) -> io::Result<()> {
    for tool in ["valgrind", "callgrind_control", "callgrind_annotate"] {
        if Command::new(tool)
            .arg("--help")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_err()
        {
            return Err(io::Error::other(format!(
                "{tool} not found: install valgrind (apt install valgrind)"
            )));
        }
    }
    let root = repo_root();
    let out = root.join("target/bench/instructions");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out)?;
    let plugins = build_plugins()?;
    let python_plugins = build_python_plugins()?;
    let release = build_release_server(&root)?;
    let wrk = ensure_wrk()?;
    let model_dir = root.join("plugins/ridge/model");
    let cache = out.join("cache");
    let post = out.join("powerbi.lua");
    std::fs::write(&post, powerbi_script())?;
    let get = out.join("get.lua");
    std::fs::write(&get, wrk_script(None))?;

    let scorehost = |wasm: PathBuf| {
        let mut args: Vec<std::ffi::OsString> = vec![release.join("scorehost").into()];
        args.extend(["serve".into(), "--plugin".into(), wasm.into_os_string()]);
        args.extend(["--model-dir".into(), model_dir.clone().into_os_string()]);
        args.extend(["--addr".into(), "127.0.0.1:5431".into()]);
        args.extend(["--cache-dir".into(), cache.clone().into_os_string()]);
        args
    };
    let native = vec![
        release.join("examples/native_ridge").into_os_string(),
        "127.0.0.1:5431".into(),
        model_dir.clone().into_os_string(),
    ];
    let native_envelope = [native.as_slice(), &["--envelope".into()]].concat();
    let rust = scorehost(plugins.join("powerbi.wasm"));
    let python = scorehost(python_plugins.join("powerbi.wasm"));
    let cases: [(&str, &[std::ffi::OsString], &str, &Path); 7] = [
        ("scorehost (Rust powerbi plugin)", &rust, "/score", &post),
        (
            "scorehost (Python powerbi plugin)",
            &python,
            "/score",
            &post,
        ),
        ("native hyper handler", &native, "/score", &post),
        (NATIVE_ENVELOPE, &native_envelope, "/score", &post),
        ("scorehost liveness (GET /)", &rust, "/", &get),
        ("native hyper handler (GET /)", &native, "/", &get),
        (
            "native hyper handler + scorehost's envelope (GET /)",
            &native_envelope,
            "/",
            &get,
        ),
    ];
    let addr: SocketAddr = ([127, 0, 0, 1], 5431).into();
    let mut table = format!(
        "Instructions per request (callgrind, user space, 2 connections, {seconds} s per case).\n\n\
         | server | route | requests counted | instructions/request |\n|---|---|---|---|\n"
    );
    for (name, argv, path, script) in cases {
        // Compiling a component under valgrind takes minutes: fill the cache natively first.
        let mut warm = Command::new(&argv[0]);
        warm.args(&argv[1..]).env("SCOREHOST_LOG", "warn");
        drop(Guard::start(
            &mut Target {
                name,
                command: warm,
                port: 5431,
                request: None,
                ready_200: false,
            },
            300,
        )?);
        let mut command = Command::new("valgrind");
        command
            .args(["--tool=callgrind", "--instr-atstart=no"])
            .arg(format!(
                "--callgrind-out-file={}/callgrind.%p",
                out.display()
            ))
            .args(argv)
            .env("SCOREHOST_LOG", "warn");
        println!("xtask: instructions — {name} {path}");
        let server = Guard::start(
            &mut Target {
                name,
                command,
                port: 5431,
                request: None,
                ready_200: false,
            },
            600,
        )?;
        let pid = server.0.id().to_string();
        run_wrk(&wrk, script, addr, path, 2, 2)?;
        callgrind_control(&["-z", &pid])?;
        callgrind_control(&["-i", "on", &pid])?;
        let figures = run_wrk(&wrk, script, addr, path, 2, seconds)?;
        callgrind_control(&["-i", "off", &pid])?;
        callgrind_control(&["-d", &pid])?;
        let requests = figures.requests;
        if figures.errors > 0 || requests < 1.0 {
            return Err(io::Error::other(format!(
                "{name}: {} errors in {requests} requests under callgrind",
                figures.errors
            )));
        }
        // The dump written on request is `callgrind.PID.N`; the newest one is this run's.
        let dump = std::fs::read_dir(&out)?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(&format!("callgrind.{pid}.")))
            })
            .max_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
            .ok_or_else(|| io::Error::other(format!("{name}: callgrind wrote no dump")))?;
        let annotated = Command::new("callgrind_annotate").arg(&dump).output()?;
        let text = String::from_utf8_lossy(&annotated.stdout);
        let total: f64 = text
            .lines()
            .find(|l| l.contains("PROGRAM TOTALS"))
            .and_then(|l| l.split_whitespace().next())
            .and_then(|n| n.replace(',', "").parse().ok())
            .ok_or_else(|| io::Error::other(format!("{name}: no total in {}", dump.display())))?;
        let _ = writeln!(
            table,
            "| {name} | {path} | {requests:.0} | {:.0} |",
            total / requests
        );
        drop(server);
    }
    std::fs::write(out.join("results.md"), &table)?;
    println!("{table}");
    Ok(())
}

/// Runs `callgrind_control ARGS` quietly (it prints a line per command).
fn callgrind_control(args: &[&str]) -> io::Result<()> {
    let status = Command::new("callgrind_control")
        .args(args)
        .stdout(Stdio::null())
        .status()?;
    if status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "callgrind_control {args:?}: {status}"
        )))
    }
}
