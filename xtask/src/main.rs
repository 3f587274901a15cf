//! `cargo xtask TASK`: the project's tasks (see README.md).
//!
//! - `plugins`: build every plugin (Rust, Python and JavaScript) to a Wasm component.
//! - `demo`: build the ridge plugin and the host, then serve the demo on 127.0.0.1:5001.
//! - `test`: everything CI runs: formatting, lints, docs, plugin builds, every test, and the
//!   benchmark harness in its quick mode.
//! - `bench [--quick] [--only WORD]`: scorehost vs the Azure ML server vs a native handler (see
//!   `bench.rs`); `--only` runs the suites whose title contains WORD.
//! - `bench --instructions [--seconds S]`: instructions per request under callgrind, scorehost vs
//!   the native handler, bare and with scorehost's envelope (a figure the machine's other load
//!   does not move; needs valgrind).
//! - `bench --density [--n N] [--seconds S]`: N deployments per guest on one server: RSS,
//!   time to ready, first request after idle, Zipf traffic (see `density.rs`).
//! - `screenshots`: PNGs of the `/docs` and `/console` pages (laptop and phone size) into
//!   `docs/`, made in headless Chromium by the ignored test `pages::screenshots`.
//! - `soak [--minutes N]`: mixed traffic, hot swaps and misbehaving tenants against a release
//!   server for N minutes (default 10), with a report of RSS, statuses and latencies.

use std::process::ExitCode;

mod bench;
mod density;

use xtask::{build_js_plugins, build_plugins, build_python_plugins, cargo_command, repo_root, run};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("plugins") => build_plugins()
            .and_then(|rust| Ok((rust, build_python_plugins()?, build_js_plugins()?)))
            .map(|(rust, python, js)| {
                let dirs = [rust, python, js].map(|dir| dir.display().to_string());
                println!("plugins built in {}", dirs.join(", "))
            }),
        Some("demo") => demo(&args[1..]),
        Some("test") => test(),
        Some("bench") if args.iter().any(|a| a == "--density") => {
            let value = |flag: &str, default: u64| {
                args.iter()
                    .position(|a| a == flag)
                    .and_then(|i| args.get(i + 1))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(default)
            };
            density::density(value("--n", 100) as usize, value("--seconds", 5))
        }
        Some("bench") if args.iter().any(|a| a == "--instructions") => bench::instructions(
            args.iter()
                .position(|a| a == "--seconds")
                .and_then(|i| args.get(i + 1))
                .and_then(|v| v.parse().ok())
                .unwrap_or(10),
        ),
        Some("bench") => bench::bench(
            args.iter().any(|a| a == "--quick"),
            args.iter()
                .position(|a| a == "--only")
                .and_then(|i| args.get(i + 1))
                .map(String::as_str),
        ),
        Some("screenshots") => screenshots(),
        Some("soak") => soak(&args[1..]),
        _ => {
            eprintln!(
                "usage: cargo xtask <plugins | demo [SERVE ARGS…] | test | bench [--quick] [--only WORD] | bench --density [--n N] [--seconds S] | bench --instructions [--seconds S] | screenshots | soak [--minutes N]>"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Serves the ridge example with its model folder; extra arguments go to `scorehost serve`.
fn demo(extra: &[String]) -> std::io::Result<()> {
    let root = repo_root();
    let plugins = build_plugins()?;
    let mut serve = cargo_command(&root);
    serve
        .args(["run", "--release", "--package", "scorehost", "--", "serve"])
        .arg("--plugin")
        .arg(plugins.join("ridge.wasm"))
        .arg("--model-dir")
        .arg(root.join("plugins/ridge/model"))
        .args(extra);
    run(&mut serve)
}

/// The long soak test (`tests/all/soak.rs`, ignored in `cargo test`), release build, for
/// `--minutes N` (default 10).
fn soak(args: &[String]) -> std::io::Result<()> {
    let minutes = match args {
        [] => 10,
        [flag, n] if flag == "--minutes" => n.parse::<u64>().map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "--minutes takes a whole number",
            )
        })?,
        _ => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "usage: cargo xtask soak [--minutes N]",
            ));
        }
    };
    let root = repo_root();
    let mut test = cargo_command(&root);
    test.args([
        "test",
        "--release",
        "--package",
        "scorehost",
        "--test",
        "all",
        "--",
        "--ignored",
        "--exact",
        "soak::soak_for_minutes",
        "--nocapture",
    ])
    .env("SCOREHOST_SOAK_MINUTES", minutes.to_string());
    run(&mut test)
}

/// Screenshots of the pages for the README, made by the browser tests' driver, then reduced
/// to 256 colours by Debian's `pngquant` (a third of the size; installed when missing and we
/// may, else the PNGs stay as Chromium wrote them).
fn screenshots() -> std::io::Result<()> {
    if !ensure_chromium() {
        return Err(std::io::Error::other(
            "screenshots need /usr/bin/chromium and /usr/bin/chromedriver",
        ));
    }
    const PNGQUANT: &str = "/usr/bin/pngquant";
    if !std::path::Path::new(PNGQUANT).exists() {
        println!("xtask: installing Debian's pngquant to shrink the screenshots");
        let _ = std::process::Command::new("sh")
            .args([
                "-c",
                "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pngquant",
            ])
            .status();
    }
    let root = repo_root();
    let mut test = cargo_command(&root);
    test.args([
        "test",
        "--package",
        "scorehost",
        "--test",
        "all",
        "--",
        "--ignored",
        "--exact",
        "pages::screenshots",
        "--nocapture",
    ]);
    run(&mut test)?;
    let docs = root.join("docs");
    let pngs = ["docs-page", "docs-page-phone", "console", "console-phone"]
        .map(|name| docs.join(format!("{name}.png")));
    if std::path::Path::new(PNGQUANT).exists() {
        // Exit 98/99: a file would not shrink or lose too much; it is kept as it is.
        let status = std::process::Command::new(PNGQUANT)
            .args(["--force", "--skip-if-larger", "--strip", "--quality=70-95"])
            .args(["--ext", ".png"])
            .args(&pngs)
            .status()?;
        if !status.success() {
            println!("xtask: pngquant left some screenshots as they were ({status})");
        }
    } else {
        println!("xtask: no pngquant; the screenshots are left as Chromium wrote them");
    }
    for png in &pngs {
        let size = std::fs::metadata(png)?.len();
        println!("xtask: {} ({} KB)", png.display(), size / 1024);
    }
    Ok(())
}

/// Every check and test, in the order that fails fastest.
fn test() -> std::io::Result<()> {
    let root = repo_root();
    let plugins_dir = root.join("plugins");
    let step = |dir: &std::path::Path, args: &[&str]| {
        println!("xtask: cargo {}", args.join(" "));
        run(cargo_command(dir).args(args))
    };
    let workspaces = [&root, &plugins_dir];
    for dir in workspaces {
        step(dir, &["fmt", "--all", "--check"])?;
    }
    build_plugins()?;
    // The Python and JavaScript examples too, so a broken build fails here rather than in the
    // middle of the tests (the SDKs' own unit tests run inside `cargo test`).
    println!("xtask: the Python and JavaScript example plugins");
    build_python_plugins()?;
    build_js_plugins()?;
    for dir in workspaces {
        let clippy = [
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ];
        step(dir, &clippy)?;
    }
    let mut doc = cargo_command(&root);
    doc.args(["doc", "--workspace", "--no-deps"])
        .env("RUSTDOCFLAGS", "-D warnings");
    println!("xtask: cargo doc --workspace --no-deps");
    run(&mut doc)?;
    let browser = ensure_chromium();
    println!("xtask: cargo test --workspace");
    let (passed, failed) = cargo_test(&root, browser)?;
    // A full disk shows up as the linker dying with SIGBUS in the release build below (seen
    // on CI); say how much room there is, so such a failure explains itself.
    print_free_disk(&root);
    println!("xtask: cargo xtask bench --quick (the benchmark harness still works end to end)");
    bench::bench(true, None)?;
    // A plain closing line, so CI sees the total rather than the last crate's (often empty)
    // doc-test summary.
    println!("tests: {passed} passed, {failed} failed");
    Ok(())
}

/// Prints the free space of the file system holding `dir` and the size of its `target/`
/// (`df` and `du`; nothing when they are missing).
fn print_free_disk(dir: &std::path::Path) {
    let output = |program: &str, args: &[&str]| {
        std::process::Command::new(program)
            .args(args)
            .arg(dir.join(if program == "du" { "target" } else { "." }))
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    let free =
        output("df", &["-h", "--output=avail"]).and_then(|t| t.lines().last().map(str::to_owned));
    let used = output("du", &["-sh"]).and_then(|t| t.split_whitespace().next().map(str::to_owned));
    if let (Some(free), Some(used)) = (free, used) {
        println!("xtask: disk: {} free, target/ holds {used}", free.trim());
    }
}

/// The browser tests drive Debian's headless Chromium (the pages' tests through its
/// WebDriver, `chromedriver`): install both when missing and we may (root, as on CI). Returns
/// whether they are there, so the tests are required to run.
fn ensure_chromium() -> bool {
    const CHROMIUM: &str = "/usr/bin/chromium";
    const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
    let present = || {
        [CHROMIUM, CHROMEDRIVER]
            .iter()
            .all(|p| std::path::Path::new(p).exists())
    };
    if present() {
        return true;
    }
    println!("xtask: installing Debian's chromium and chromium-driver for the browser tests");
    let installed = std::process::Command::new("sh")
        .args([
            "-c",
            "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver",
        ])
        .status()
        .is_ok_and(|s| s.success());
    if !installed {
        println!("xtask: could not install chromium; the browser test will be skipped");
    }
    installed && present()
}

/// Runs `cargo test --workspace`, echoing its output, and adds up its `test result` lines.
fn cargo_test(root: &std::path::Path, require_browser: bool) -> std::io::Result<(u64, u64)> {
    use std::io::{BufRead, BufReader};
    let mut cargo = cargo_command(root);
    cargo
        .args(["test", "--workspace"])
        .stdout(std::process::Stdio::piped());
    if require_browser {
        cargo.env("SCOREHOST_REQUIRE_BROWSER", "1");
    }
    let mut child = cargo.spawn()?;
    let (mut passed, mut failed) = (0, 0);
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout).lines() {
            let line = line?;
            println!("{line}");
            if let Some(summary) = line.strip_prefix("test result: ") {
                passed += count(summary, "passed");
                failed += count(summary, "failed");
            }
        }
    }
    let status = child.wait()?;
    if !status.success() {
        return Err(std::io::Error::other(format!(
            "cargo test failed ({passed} passed, {failed} failed): {status}"
        )));
    }
    Ok((passed, failed))
}

/// The number before `label` in a summary such as `ok. 7 passed; 0 failed; 1 ignored`.
fn count(summary: &str, label: &str) -> u64 {
    summary
        .split(';')
        .filter_map(|part| {
            let mut words = part.split_whitespace().rev();
            let (word, number) = (words.next()?, words.next()?);
            if word == label {
                number.parse::<u64>().ok()
            } else {
                None
            }
        })
        .sum()
}
