//! The pages for people, `/docs` and `/console`: plain HTTP checks of their headers and feeds,
//! and real clicks in headless Chromium driven over WebDriver (Debian's `chromedriver`).
//!
//! `cargo xtask test` installs chromium and its driver and sets `SCOREHOST_REQUIRE_BROWSER=1`;
//! a plain `cargo test` on a machine without them says so and skips the browser tests.
//! `cargo xtask screenshots` runs the ignored `screenshots` test, which writes `docs/*.png`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use hyper::{Method, StatusCode};
use scorehost::{DeploymentSettings, ServerOptions};
use serde_json::{Value, json};

use crate::support::{RequestBuilder, TestServer, plugin, repo, ridge_model_dir, settings};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const ADMIN: &str = "console-admin-key";
/// Every wait in the browser gives up after this long.
const WAIT: Duration = Duration::from_secs(30);

/// Whether the browser tests can run; panics when CI requires them and they cannot.
fn browser_available() -> bool {
    let missing: Vec<&str> = [CHROMIUM, CHROMEDRIVER]
        .into_iter()
        .filter(|p| !Path::new(p).exists())
        .collect();
    if missing.is_empty() {
        return true;
    }
    assert!(
        std::env::var_os("SCOREHOST_REQUIRE_BROWSER").is_none(),
        "{missing:?} missing; `cargo xtask test` installs them"
    );
    eprintln!(
        "skipping a browser test: {missing:?} not installed (cargo xtask test installs them)"
    );
    false
}

/// A headless Chromium session through chromedriver (the W3C WebDriver protocol: JSON over
/// HTTP, spoken with the tests' own client). Dropping it ends the driver and the browser.
struct Browser {
    driver: Child,
    addr: SocketAddr,
    session: String,
    profile: PathBuf,
}

/// A found element's WebDriver id.
struct Element(String);

impl Browser {
    async fn start(width: u32, height: u32) -> Browser {
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            probe.local_addr().unwrap().port()
        };
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting chromedriver");
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let started = Instant::now();
        while tokio::net::TcpStream::connect(addr).await.is_err() {
            assert!(started.elapsed() < WAIT, "chromedriver did not listen");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let profile = repo().join(format!("target/test-chromium-profile-{port}"));
        let _ = std::fs::remove_dir_all(&profile);
        let mut browser = Browser {
            driver,
            addr,
            session: String::new(),
            profile: profile.clone(),
        };
        let created = browser
            .call(
                Method::POST,
                "/session",
                json!({"capabilities": {"alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": {
                        "binary": CHROMIUM,
                        "args": [
                            "--headless=new", "--no-sandbox", "--disable-gpu",
                            "--disable-quic", "--no-first-run",
                            "--disable-background-networking", "--disable-component-update",
                            "--disable-sync", "--hide-scrollbars",
                            format!("--window-size={width},{height}"),
                            format!("--user-data-dir={}", profile.display()),
                        ]
                    }
                }}}),
            )
            .await;
        browser.session = created["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session in {created}"))
            .to_owned();
        browser
    }

    /// One WebDriver command; returns its `value`.
    async fn call(&self, method: Method, path: &str, body: Value) -> Value {
        let path = if path.starts_with("/session/") || path == "/session" {
            path.to_owned()
        } else {
            format!("/session/{}{path}", self.session)
        };
        let mut request = RequestBuilder::to(self.addr, method.clone(), &path);
        if method != Method::GET && method != Method::DELETE {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let response = request.send().await;
        let json = response.json();
        assert_eq!(
            response.status,
            StatusCode::OK,
            "WebDriver {method} {path}: {json}"
        );
        json["value"].clone()
    }

    async fn open(&self, url: &str) {
        self.call(Method::POST, "/url", json!({ "url": url })).await;
    }

    async fn find(&self, css: &str) -> Element {
        let found = self
            .call(
                Method::POST,
                "/element",
                json!({"using": "css selector", "value": css}),
            )
            .await;
        Element(
            found
                .as_object()
                .and_then(|o| o.values().next())
                .and_then(Value::as_str)
                .unwrap_or_else(|| panic!("no element {css}: {found}"))
                .to_owned(),
        )
    }

    async fn click(&self, css: &str) {
        let Element(id) = self.find(css).await;
        self.call(Method::POST, &format!("/element/{id}/click"), json!({}))
            .await;
    }

    /// Types `text` into a field (for a file input: the file's path, which uploads it).
    async fn type_into(&self, css: &str, text: &str, clear: bool) {
        let Element(id) = self.find(css).await;
        if clear {
            self.call(Method::POST, &format!("/element/{id}/clear"), json!({}))
                .await;
        }
        self.call(
            Method::POST,
            &format!("/element/{id}/value"),
            json!({ "text": text }),
        )
        .await;
    }

    /// The rendered text of an element.
    async fn text(&self, css: &str) -> String {
        let Element(id) = self.find(css).await;
        let value = self
            .call(Method::GET, &format!("/element/{id}/text"), Value::Null)
            .await;
        value.as_str().unwrap_or_default().to_owned()
    }

    /// Runs `script` (a function body) in the page and returns its value.
    async fn eval(&self, script: &str) -> Value {
        self.call(
            Method::POST,
            "/execute/sync",
            json!({"script": script, "args": []}),
        )
        .await
    }

    /// Waits until `script` returns `true`.
    async fn wait_for(&self, script: &str) {
        let started = Instant::now();
        loop {
            if self.eval(script).await == Value::Bool(true) {
                return;
            }
            assert!(started.elapsed() < WAIT, "timed out waiting for {script}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn screenshot(&self, path: &Path) -> usize {
        let png = self.call(Method::GET, "/screenshot", Value::Null).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap())
            .unwrap();
        std::fs::write(path, &png).unwrap();
        png.len()
    }

    async fn quit(mut self) {
        let session = std::mem::take(&mut self.session);
        if !session.is_empty() {
            self.call(Method::DELETE, &format!("/session/{session}"), Value::Null)
                .await;
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ending the session first lets Chromium quit and release its profile folder, which is
        // then removed so repeated runs do not pile up profiles under target/.
        let _ = end_session(self.addr, &self.session);
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// `DELETE /session/{id}` with a blocking socket, for use in `Drop`.
fn end_session(addr: SocketAddr, session: &str) -> std::io::Result<()> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "DELETE /session/{session} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer)?;
    Ok(())
}

/// A typed deployment behind a key, served at `/score` and `/docs` too.
async fn keyed_powerbi() -> TestServer {
    TestServer::start_many(
        vec![DeploymentSettings {
            keys: vec!["tenant-key".to_owned()],
            ..settings("powerbi", &ridge_model_dir())
        }],
        ServerOptions {
            default_deployment: Some("powerbi".to_owned()),
            ..ServerOptions::default()
        },
    )
    .await
}

/// Two deployments and the admin API on; the second one's name is markup.
const MARKUP_NAME: &str = "<script>document.title='owned'</script><img src=x>";

async fn console_server() -> TestServer {
    TestServer::start_many(
        vec![
            settings("ridge", &ridge_model_dir()),
            DeploymentSettings {
                name: MARKUP_NAME.to_owned(),
                ..settings("echo", &ridge_model_dir())
            },
        ],
        ServerOptions {
            admin_key: Some(ADMIN.to_owned()),
            ..ServerOptions::default()
        },
    )
    .await
}

fn seed_request() -> Value {
    json!({"Inputs": {"input1": [[1,2,3,4,5,6,7,8,9,10],[10,9,8,7,6,5,4,3,2,1]]}, "GlobalParameters": 1.0})
}

#[tokio::test]
async fn pages_forbid_inline_script_and_docs_belong_to_a_deployment() {
    let server = keyed_powerbi().await;
    let csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
               connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
    for path in ["/docs", "/api/v1/service/powerbi/docs", "/console"] {
        let response = server.request(Method::GET, path).await;
        assert_eq!(response.status, StatusCode::OK, "{path}");
        assert_eq!(
            response.header("content-security-policy"),
            Some(csp),
            "{path}"
        );
        assert_eq!(
            response.header("content-type"),
            Some("text/html; charset=utf-8")
        );
        assert_eq!(response.header("x-content-type-options"), Some("nosniff"));
        let html = response.text();
        // Scripts come from files; no inline script, event handler or style.
        assert!(html.contains(r#"<script src="/pages/"#), "{html}");
        for inline in [
            "<script>",
            "<style",
            "style=",
            "onclick",
            "onload",
            "onerror",
            "javascript:",
        ] {
            assert!(!html.contains(inline), "{inline} in {html}");
        }
    }
    // The docs page needs no key (like swagger.json) and says the deployment needs one.
    let docs = server.request(Method::GET, "/docs").await.text();
    assert!(
        docs.contains(r#"data-world="scorer" data-auth="true""#),
        "{docs}"
    );
    for (path, content_type) in [
        ("/pages/docs.js", "text/javascript; charset=utf-8"),
        ("/pages/console.js", "text/javascript; charset=utf-8"),
        ("/pages/pages.css", "text/css; charset=utf-8"),
    ] {
        let response = server.request(Method::GET, path).await;
        assert_eq!(response.status, StatusCode::OK, "{path}");
        assert_eq!(response.header("content-type"), Some(content_type));
        assert_eq!(response.header("x-content-type-options"), Some("nosniff"));
        // No script of these pages writes markup from data.
        assert!(!response.text().contains("innerHTML"), "{path}");
    }
    for path in ["/api/v1/service/nobody/docs", "/pages/other.js", "/pages/"] {
        let response = server.request(Method::GET, path).await;
        assert_eq!(response.status, StatusCode::NOT_FOUND, "{path}");
    }
    let response = server.request(Method::POST, "/docs").await;
    assert_eq!(response.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.header("allow"), Some("GET, HEAD"));
    server.stop().await;

    // Without a default deployment there is no `/docs`.
    let server = console_server().await;
    let response = server.request(Method::GET, "/docs").await;
    assert_eq!(response.status, StatusCode::NOT_FOUND);
    let named = server
        .request(Method::GET, "/api/v1/service/ridge/docs")
        .await;
    assert_eq!(named.status, StatusCode::OK);
    server.stop().await;
}

#[tokio::test]
async fn the_recent_feed_has_a_point_per_second_and_the_swaps_feed_lists_swaps() {
    let server = console_server().await;
    // Admin routes: no key 401, wrong key 401.
    for path in ["/api/v1/metrics/recent", "/api/v1/swaps"] {
        let response = server.request(Method::GET, path).await;
        assert_eq!(response.status, StatusCode::UNAUTHORIZED, "{path}");
        let response = server
            .request(Method::GET, path)
            .header("authorization", "Bearer wrong")
            .await;
        assert_eq!(response.status, StatusCode::UNAUTHORIZED, "{path}");
        let response = server
            .request(Method::POST, path)
            .header("authorization", &format!("Bearer {ADMIN}"))
            .await;
        assert_eq!(response.status, StatusCode::METHOD_NOT_ALLOWED, "{path}");
    }
    let recent = || {
        server
            .request(Method::GET, "/api/v1/metrics/recent")
            .header("authorization", &format!("Bearer {ADMIN}"))
    };
    // Twenty requests, then wait for the sampler to see them (bounded).
    for _ in 0..20 {
        let response = server
            .request(Method::POST, "/api/v1/service/ridge/score")
            .header("content-type", "application/json")
            .body(seed_request().to_string())
            .await;
        assert_eq!(response.status, StatusCode::OK);
    }
    let started = Instant::now();
    let ridge = loop {
        let body = recent().await.json();
        assert_eq!(body["interval_ms"], 1000);
        let ridge = body["deployments"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["name"] == "ridge")
            .cloned()
            .unwrap_or_else(|| panic!("no ridge in {body}"));
        let counted: f64 = ridge["requests_per_second"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .sum();
        if counted > 0.0 {
            break ridge;
        }
        assert!(started.elapsed() < WAIT, "no traffic seen in {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let n = ridge["t"].as_array().unwrap().len();
    for column in ["requests_per_second", "p50_ms", "p99_ms"] {
        assert_eq!(ridge[column].as_array().unwrap().len(), n, "{ridge}");
    }
    let busy = ridge["requests_per_second"]
        .as_array()
        .unwrap()
        .iter()
        .position(|v| v.as_f64().unwrap() > 0.0)
        .unwrap();
    let p50 = ridge["p50_ms"][busy].as_f64().unwrap();
    let p99 = ridge["p99_ms"][busy].as_f64().unwrap();
    assert!(p50 > 0.0 && p50 <= p99, "{ridge}");
    assert_eq!(
        ridge["errors_total"],
        json!({"traps": 0, "timeouts": 0, "memory_limit_hits": 0, "script_errors": 0, "overloaded": 0})
    );

    // A swap and a refused swap are listed, newest first.
    let admin = |method: Method, path: &str| {
        server
            .request(method, path)
            .header("authorization", &format!("Bearer {ADMIN}"))
    };
    let swapped = admin(Method::PUT, "/api/v1/service/ridge")
        .header("content-type", "application/json")
        .body(json!({"plugin": plugin("echo")}).to_string())
        .await;
    assert_eq!(swapped.status, StatusCode::OK, "{}", swapped.text());
    // A file inside the plugin root that is not a component (cargo's dep-info file beside it):
    // allowed by the swap roots, refused by the load.
    let refused = admin(Method::PUT, "/api/v1/service/ridge")
        .body(json!({"plugin": plugin("echo").with_extension("d")}).to_string())
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    let swaps = admin(Method::GET, "/api/v1/swaps").await.json()["swaps"].clone();
    assert_eq!(swaps.as_array().unwrap().len(), 2, "{swaps}");
    assert_eq!(swaps[0]["outcome"], "refused");
    assert_eq!(swaps[0]["to"], Value::Null);
    assert!(
        swaps[0]["message"]
            .as_str()
            .unwrap()
            .contains("echo.d is not a loadable Wasm component")
    );
    assert_eq!(swaps[1]["outcome"], "ok");
    assert_eq!(swaps[1]["deployment"], "ridge");
    assert_eq!(swaps[1]["to"], swapped.json()["version"]);
    assert_ne!(swaps[1]["from"], swaps[1]["to"]);
    server.stop().await;

    // Without an admin key the feeds are off, as the admin API is.
    let server = keyed_powerbi().await;
    let response = server.request(Method::GET, "/api/v1/metrics/recent").await;
    assert_eq!(response.status, StatusCode::FORBIDDEN);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_docs_page_scores_the_seed_sample_by_clicking_with_the_key_typed_in() {
    if !browser_available() {
        return;
    }
    let server = keyed_powerbi().await;
    let browser = Browser::start(1200, 800).await;
    browser.open(&format!("http://{}/docs", server.addr)).await;
    browser
        .wait_for("return document.body.dataset.ready === 'true'")
        .await;
    // The inputs, their types and shapes, from the OpenAPI document.
    let inputs = browser.text("#inputs").await;
    for expected in [
        "input1",
        "number (double)[][]",
        "numpy.ndarray",
        "[n, 10]",
        "input2",
        "{name: string, age: integer (int64)}[]",
        "pandas.DataFrame:records",
        "GlobalParameters",
    ] {
        assert!(inputs.contains(expected), "{expected:?} not in {inputs}");
    }
    assert_eq!(
        browser
            .eval("return document.getElementById('key-card').hidden")
            .await,
        json!(false)
    );
    let body: Value = serde_json::from_str(
        browser
            .eval("return document.getElementById('body').value")
            .await
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(body["Inputs"]["input1"][1][0], 10.0, "{body}");

    // Without the key: the 401 is shown.
    browser.click("#score").await;
    browser
        .wait_for("return document.getElementById('response-card').dataset.count === '1'")
        .await;
    assert_eq!(browser.text("#status").await, "401 Unauthorized");

    // With it: the seed's numbers, pretty-printed.
    browser.type_into("#key", "tenant-key", false).await;
    browser.click("#score").await;
    browser
        .wait_for("return document.getElementById('response-card').dataset.count === '2'")
        .await;
    assert_eq!(browser.text("#status").await, "200 OK");
    let result = browser.text("#result").await;
    assert!(result.contains("\n  \"Results\": ["), "{result}");
    let result: Value = serde_json::from_str(&result).unwrap();
    let numbers: Vec<f64> = result["Results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert!((numbers[0] - 5430.917515226916).abs() < 1e-6, "{numbers:?}");
    assert!((numbers[1] - 4005.683403799883).abs() < 1e-6, "{numbers:?}");
    assert!(browser.text("#latency").await.ends_with(" ms"));
    // The headers table (closed by default) holds the response's headers.
    let headers = browser
        .eval("return document.getElementById('headers').textContent")
        .await;
    assert!(
        headers
            .as_str()
            .unwrap()
            .contains("x-scorehost-plugin-sha256"),
        "{headers}"
    );
    // The key was never written anywhere the page could find it again.
    let stored = browser
        .eval("return localStorage.length + sessionStorage.length + document.cookie.length")
        .await;
    assert_eq!(stored, json!(0));
    browser.quit().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_uploads_on_the_raw_examples_page_and_output_markup_stays_text() {
    if !browser_available() {
        return;
    }
    let server = TestServer::start_many(
        vec![
            settings("image_size", &ridge_model_dir()),
            settings("echo", &ridge_model_dir()),
        ],
        ServerOptions::default(),
    )
    .await;
    let image = repo().join("target/pages-test-upload.png");
    image::RgbImage::from_fn(37, 21, |x, y| image::Rgb([x as u8, y as u8, 9]))
        .save(&image)
        .unwrap();
    let browser = Browser::start(1200, 800).await;
    browser
        .open(&format!(
            "http://{}/api/v1/service/image_size/docs",
            server.addr
        ))
        .await;
    browser
        .wait_for("return document.body.dataset.ready === 'true'")
        .await;
    assert_eq!(
        browser.text("#endpoint").await,
        format!(
            "image_size · POST http://{}/api/v1/service/image_size/score",
            server.addr
        )
    );
    browser
        .type_into("#file", image.to_str().unwrap(), false)
        .await;
    browser.click("#upload").await;
    browser
        .wait_for("return document.getElementById('response-card').dataset.state === 'done'")
        .await;
    assert_eq!(browser.text("#status").await, "200 OK");
    let shown: Value = serde_json::from_str(&browser.text("#result").await).unwrap();
    assert_eq!(shown, json!([37, 21]));

    // A plugin's output with markup in it is shown as text, and runs nothing.
    browser
        .open(&format!("http://{}/api/v1/service/echo/docs", server.addr))
        .await;
    browser
        .wait_for("return document.body.dataset.ready === 'true'")
        .await;
    let markup =
        r#"<script>document.title='owned'</script><img src=x onerror="document.title='owned'">"#;
    let body = json!({"Inputs": {"greeting": markup}}).to_string();
    browser.type_into("#body", &body, true).await;
    browser.click("#score").await;
    browser
        .wait_for("return document.getElementById('response-card').dataset.state === 'done'")
        .await;
    assert_eq!(browser.text("#status").await, "200 OK");
    let shown: Value = serde_json::from_str(&browser.text("#result").await).unwrap();
    assert_eq!(shown["inputs"]["greeting"], markup);
    let elements_in_result = browser
        .eval("return document.querySelectorAll('#result *').length")
        .await;
    assert_eq!(elements_in_result, json!(0));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_ne!(browser.eval("return document.title").await, json!("owned"));
    browser.quit().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_opens_only_with_the_admin_key_and_shows_a_swap() {
    if !browser_available() {
        return;
    }
    let server = console_server().await;
    let browser = Browser::start(1200, 800).await;
    browser
        .open(&format!("http://{}/console", server.addr))
        .await;
    // No key yet: nothing shown.
    assert_eq!(
        browser.eval("return document.body.dataset.state").await,
        json!("locked")
    );
    assert_eq!(
        browser
            .eval("return document.getElementById('main').hidden")
            .await,
        json!(true)
    );
    // A wrong key: the admin API's 401 is shown, still nothing else.
    browser.type_into("#key", "not-the-key", false).await;
    browser.click("#open").await;
    browser
        .wait_for("return document.body.dataset.state === 'denied'")
        .await;
    assert!(
        browser.text("#state").await.contains("401"),
        "{}",
        browser.text("#state").await
    );
    assert_eq!(
        browser
            .eval("return document.querySelectorAll('.deployment').length")
            .await,
        json!(0)
    );

    // The right key: both deployments, the markup name as text.
    browser.type_into("#key", ADMIN, true).await;
    browser.click("#open").await;
    browser
        .wait_for("return document.body.dataset.state === 'open'")
        .await;
    let names = browser
        .eval("return [...document.querySelectorAll('.deployment h3')].map(e => e.textContent)")
        .await;
    assert_eq!(names, json!([MARKUP_NAME, "ridge"]));
    assert_eq!(
        browser
            .eval("return document.querySelectorAll('script').length + document.querySelectorAll('img').length")
            .await,
        json!(1),
        "only console.js is a script"
    );
    assert_ne!(browser.eval("return document.title").await, json!("owned"));
    let ridge = browser.text(".deployment[data-name='ridge']").await;
    for expected in [
        "ready",
        "2 live of 2",
        "scorer",
        "req/s",
        "p50",
        "p99",
        "traps: 0",
        "503s: 0",
    ] {
        assert!(ridge.contains(expected), "{expected:?} not in {ridge}");
    }
    assert_eq!(
        browser
            .eval("return document.querySelectorAll(\".deployment[data-name='ridge'] svg\").length")
            .await,
        json!(3)
    );

    // Swap ridge for the echo plugin through the form: the result, the new version on the
    // card and the swap in the list.
    let echo = plugin("echo");
    browser.click("#swap-name option[value='ridge']").await;
    browser
        .type_into("#swap-plugin", echo.to_str().unwrap(), false)
        .await;
    browser.click("#swap").await;
    browser
        .wait_for("return document.getElementById('swap-result').dataset.done === 'true'")
        .await;
    let result = browser.text("#swap-result").await;
    let version = server
        .request(Method::GET, "/api/v1/service/ridge")
        .header("authorization", &format!("Bearer {ADMIN}"))
        .await
        .json()["version"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(result, format!("Swapped ridge to {}.", &version[..12]));
    browser
        .wait_for(
            "return document.querySelectorAll(\"#swaps tr[data-deployment='ridge']\").length === 1",
        )
        .await;
    let row = browser.text("#swaps tr[data-deployment='ridge']").await;
    assert!(row.contains("ok") && row.contains(&version[..12]), "{row}");
    browser
        .wait_for(&format!(
            "return document.querySelector(\".deployment[data-name='ridge']\").textContent.includes('{}')",
            &version[..12]
        ))
        .await;
    browser.quit().await;
    server.stop().await;
}

/// `cargo xtask screenshots`: the docs page after a score and the console with traffic, at
/// laptop and phone sizes, into `docs/`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "makes docs/*.png; run by `cargo xtask screenshots`"]
async fn screenshots() {
    assert!(browser_available(), "chromium and chromedriver are needed");
    let server = TestServer::start_many(
        vec![
            settings("powerbi", &ridge_model_dir()),
            settings("ridge", &ridge_model_dir()),
            settings("image_size", &ridge_model_dir()),
        ],
        ServerOptions {
            default_deployment: Some("powerbi".to_owned()),
            admin_key: Some(ADMIN.to_owned()),
            ..ServerOptions::default()
        },
    )
    .await;
    // Some traffic for the sparklines: a few seconds of requests, bounded.
    let traffic = {
        let addr = server.addr;
        tokio::spawn(async move {
            let started = Instant::now();
            for i in 0..5000u32 {
                if started.elapsed() > Duration::from_secs(40) {
                    break;
                }
                RequestBuilder::to(addr, Method::POST, "/api/v1/service/ridge/score")
                    .header("content-type", "application/json")
                    .body(seed_request().to_string())
                    .await;
                tokio::time::sleep(Duration::from_millis(5 + u64::from(i % 7) * 3)).await;
            }
        })
    };
    let docs_dir = repo().join("docs");
    std::fs::create_dir_all(&docs_dir).unwrap();
    for (width, height, suffix) in [(1200, 1000, ""), (390, 844, "-phone")] {
        let laptop = suffix.is_empty();
        let browser = Browser::start(width, height).await;
        browser.open(&format!("http://{}/docs", server.addr)).await;
        browser
            .wait_for("return document.body.dataset.ready === 'true'")
            .await;
        browser.click("#score").await;
        browser
            .wait_for("return document.getElementById('response-card').dataset.state === 'done'")
            .await;
        browser.eval("window.scrollTo(0, 0)").await;
        let path = docs_dir.join(format!("docs-page{suffix}.png"));
        let size = browser.screenshot(&path).await;
        println!("{}: {size} bytes", path.display());

        browser
            .open(&format!("http://{}/console", server.addr))
            .await;
        browser.type_into("#key", ADMIN, false).await;
        browser.click("#open").await;
        browser
            .wait_for("return document.body.dataset.state === 'open'")
            .await;
        if laptop {
            // A swap for the list (the same version again).
            browser.click("#swap-name option[value='powerbi']").await;
            browser.click("#swap").await;
            browser
                .wait_for("return document.getElementById('swap-result').dataset.done === 'true'")
                .await;
        }
        tokio::time::sleep(Duration::from_secs(4)).await;
        browser.eval("window.scrollTo(0, 0)").await;
        let path = docs_dir.join(format!("console{suffix}.png"));
        let size = browser.screenshot(&path).await;
        println!("{}: {size} bytes", path.display());
        browser.quit().await;
    }
    traffic.abort();
    server.stop().await;
}
