//! What users actually do: a page on another origin calls the deployment with `fetch` from a
//! real browser (headless Chromium), which sends a CORS preflight first.
//!
//! `cargo xtask test` installs Debian's chromium and sets `SCOREHOST_REQUIRE_BROWSER=1`, so CI
//! always runs this; a plain `cargo test` on a machine without chromium says so and skips.

use std::convert::Infallible;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper::{Response, server::conn::http1};
use hyper_util::rt::TokioIo;
use scorehost::DeploymentSettings;

use crate::support::{TestServer, repo, ridge_model_dir, settings};

const CHROMIUM: &str = "/usr/bin/chromium";

/// Serves `html` for every request on `listener`: the page's own origin.
fn serve_page(listener: tokio::net::TcpListener, html: String) {
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let html = html.clone();
            let service = service_fn(move |_req| {
                let html = html.clone();
                async move {
                    let mut response = Response::new(Full::new(Bytes::from(html)));
                    response
                        .headers_mut()
                        .insert("content-type", "text/html; charset=utf-8".parse().unwrap());
                    Ok::<_, Infallible>(response)
                }
            });
            tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(stream), service));
        }
    });
}

/// Loads `url` in headless Chromium and returns the DOM once the page's scripts are done.
fn load_in_chromium(url: &str) -> String {
    let profile = repo().join("target/test-chromium-profile");
    let _ = std::fs::remove_dir_all(&profile);
    let output = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=15000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(url)
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A page that POSTs JSON to the deployment (a non-simple request: the browser preflights it).
fn page_html(score_url: &str) -> String {
    format!(
        r#"<!doctype html><html><body><pre id="out">pending</pre><script>
fetch("{score_url}", {{
  method: "POST",
  headers: {{"Content-Type": "application/json", "x-ms-client-request-id": "from-browser"}},
  body: JSON.stringify({{Inputs: {{greeting: "hello from a page"}}}})
}})
  .then(r => r.json().then(j => {{
    document.getElementById("out").textContent = "status " + r.status + " " + JSON.stringify(j.inputs);
  }}))
  .catch(e => {{ document.getElementById("out").textContent = "blocked " + e; }});
</script></body></html>"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_on_another_origin_can_call_an_allowed_deployment_and_not_a_disallowed_one() {
    if !Path::new(CHROMIUM).exists() {
        assert!(
            std::env::var_os("SCOREHOST_REQUIRE_BROWSER").is_none(),
            "{CHROMIUM} is missing; `cargo xtask test` installs it"
        );
        eprintln!(
            "skipping the browser test: {CHROMIUM} is not installed (cargo xtask test installs it)"
        );
        return;
    }
    for allow_the_page in [true, false] {
        // The page's listener comes first: its origin goes into the deployment's settings.
        let page = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let page_origin = format!("http://{}", page.local_addr().unwrap());
        let allowed = if allow_the_page {
            page_origin.clone()
        } else {
            "http://someone-else.example".to_owned()
        };
        let server = TestServer::start_with(DeploymentSettings {
            cors_origins: vec![allowed],
            ..settings("echo", &ridge_model_dir())
        })
        .await;
        serve_page(page, page_html(&format!("http://{}/score", server.addr)));
        let url = format!("{page_origin}/");
        let dom = tokio::time::timeout(
            Duration::from_secs(120),
            tokio::task::spawn_blocking(move || load_in_chromium(&url)),
        )
        .await
        .expect("chromium finished")
        .unwrap();
        let expect = if allow_the_page {
            r#"status 200 {"greeting":"hello from a page"}"#
        } else {
            "blocked TypeError"
        };
        assert!(dom.contains(expect), "expected {expect:?} in {dom}");
        server.stop().await;
    }
}
