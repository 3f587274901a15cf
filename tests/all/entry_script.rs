//! The Azure ML server's command line: `scorehost serve --entry_script score.py --model_dir
//! …` (built on the fly, cached by content), `scorehost build`, the Azure environment
//! variables, and the small protocol differences (server-version header, CORS on every
//! response, the user's own Swagger files).
//!
//! The Python and JavaScript toolchains are installed once into the tests' shared cache
//! (`target/test-compile-cache/toolchain`), as a user's are into theirs.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use hyper::{Method, StatusCode};
use scorehost::{DeploymentSettings, ServerOptions, SwaggerSettings};
use serde_json::{Value, json};

use crate::cli::{Running, scorehost};
use crate::support::{
    RequestBuilder, TestResponse, TestServer, plugin, repo, ridge_model_dir, settings,
    test_cache_dir,
};

/// How long a start may take: the first one in a clean cache installs a toolchain.
const START_TIMEOUT: Duration = Duration::from_secs(600);

/// A fresh folder for one test under `target/test-entry-scripts/`.
fn scratch(name: &str) -> PathBuf {
    let dir = repo().join("target/test-entry-scripts").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Starts `command` (a `scorehost serve …` with its stderr going to `log`) and returns it
/// once it prints its address.
pub(crate) async fn start(mut command: Command, log: &Path) -> (Running, SocketAddr) {
    let log_file = std::fs::File::create(log).unwrap();
    let mut child = Running(
        command
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file))
            .spawn()
            .unwrap(),
    );
    let addr = crate::cli::listening(&mut child, START_TIMEOUT)
        .await
        .unwrap_or_else(|line| {
            panic!(
                "unexpected first line {line:?}; log:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            )
        });
    (child, addr)
}

/// The seed's Power BI request, which the powerbi examples answer.
pub(crate) fn seed_request() -> Value {
    json!({
        "Inputs": {
            "input1": [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], [10, 9, 8, 7, 6, 5, 4, 3, 2, 1]],
            "input2": [{"name": "Sarah", "age": 25}, {"name": "John", "age": 26}],
            "input3": 0.0
        },
        "GlobalParameters": 1.0
    })
}

async fn score_seed(addr: SocketAddr) -> TestResponse {
    RequestBuilder::to(addr, Method::POST, "/score")
        .header("content-type", "application/json")
        .body(seed_request().to_string())
        .send()
        .await
}

/// What the ridge model answers for the seed's two rows (as the Rust twin computes it).
fn assert_seed_results(response: &TestResponse) {
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    let results = response.json()["Results"].as_array().unwrap().clone();
    assert_eq!(results.len(), 2, "{}", response.text());
    assert!(results.iter().all(Value::is_f64), "{}", response.text());
}

/// `scorehost serve --entry_script DIR/score.py --model_dir DIR --port 0`, the Azure ML
/// server's spelling.
fn serve_entry_script(script: &Path, model_dir: &Path) -> Command {
    let mut command = scorehost();
    command
        .args(["serve", "--port", "0", "--entry_script"])
        .arg(script)
        .arg("--model_dir")
        .arg(model_dir);
    command
}

#[tokio::test]
async fn a_python_entry_script_serves_and_a_restart_reuses_its_build() {
    let dir = scratch("python-restart");
    let script = repo().join("plugins/python/powerbi/score.py");

    let (first, addr) = start(
        serve_entry_script(&script, &ridge_model_dir()),
        &dir.join("first.log"),
    )
    .await;
    assert_seed_results(&score_seed(addr).await);
    drop(first);
    let builds = std::fs::read_dir(test_cache_dir().join("builds"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wasm"))
        .map(|p| {
            let modified = p.metadata().unwrap().modified().unwrap();
            (p, modified)
        })
        .collect::<Vec<_>>();

    // The same script again: no build, the cached component.
    let log = dir.join("second.log");
    let (second, addr) = start(serve_entry_script(&script, &ridge_model_dir()), &log).await;
    assert_seed_results(&score_seed(addr).await);
    drop(second);
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(
        log.contains("entry script unchanged: using the cached build"),
        "{log}"
    );
    assert!(!log.contains("building the entry script"), "{log}");
    for (path, modified) in builds {
        if path.exists() {
            assert_eq!(path.metadata().unwrap().modified().unwrap(), modified);
        }
    }
}

#[tokio::test]
async fn a_javascript_entry_script_serves() {
    let dir = scratch("js-serve");
    let script = repo().join("plugins/js/powerbi/score.js");
    let (_server, addr) = start(
        serve_entry_script(&script, &ridge_model_dir()),
        &dir.join("serve.log"),
    )
    .await;
    assert_seed_results(&score_seed(addr).await);
}

#[tokio::test]
async fn scorehost_build_writes_a_component_that_serves() {
    let dir = scratch("python-build");
    // A script of its own (a unique comment), so this test really builds every run.
    let source = std::fs::read_to_string(repo().join("plugins/python/powerbi/score.py")).unwrap();
    let nonce = format!(
        "# build test {:?}\n",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
    );
    std::fs::write(dir.join("score.py"), format!("{nonce}{source}")).unwrap();
    let output = dir.join("out/score.wasm");
    let built = scorehost()
        .arg("build")
        .arg(dir.join("score.py"))
        .arg("-o")
        .arg(&output)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&built.stderr);
    assert!(built.status.success(), "{stderr}");
    assert!(stderr.contains("building the entry script"), "{stderr}");
    assert!(
        String::from_utf8_lossy(&built.stdout).contains("score.wasm"),
        "{stderr}"
    );

    let mut serve = scorehost();
    serve
        .args(["serve", "--port", "0", "--plugin"])
        .arg(&output)
        .arg("--model-dir")
        .arg(ridge_model_dir());
    let (_server, addr) = start(serve, &dir.join("serve.log")).await;
    assert_seed_results(&score_seed(addr).await);
}

#[test]
fn a_python_syntax_error_shows_the_scripts_file_line_and_message() {
    let dir = scratch("python-syntax-error");
    std::fs::write(
        dir.join("score.py"),
        "def init():\n    pass\n\ndef run(data:\n    return data\n",
    )
    .unwrap();
    let script = dir.join("score.py");

    let served = serve_entry_script(&script, &ridge_model_dir())
        .output()
        .unwrap();
    assert_eq!(served.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&served.stderr);
    let expected = format!("{}:4: SyntaxError:", script.display());
    assert!(stderr.contains(&expected), "{stderr}");
    assert!(!stderr.contains("Traceback"), "{stderr}");
    assert!(!String::from_utf8_lossy(&served.stdout).contains("Listening"));

    let built = scorehost().arg("build").arg(&script).output().unwrap();
    assert_eq!(built.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&built.stderr);
    assert!(stderr.contains(&expected), "{stderr}");
    assert!(stderr.contains("def run(data:"), "{stderr}");
    assert!(!dir.join("score.wasm").exists());
}

#[test]
fn an_exception_while_importing_the_script_names_its_line() {
    let dir = scratch("python-import-error");
    std::fs::write(
        dir.join("score.py"),
        "import json\n\nLIMIT = undefined_name + 1\n\ndef init():\n    pass\n\ndef run(data):\n    return data\n",
    )
    .unwrap();
    let built = scorehost()
        .arg("build")
        .arg(dir.join("score.py"))
        .output()
        .unwrap();
    assert_eq!(built.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&built.stderr);
    let expected = format!(
        "{}:3: NameError: name 'undefined_name' is not defined",
        dir.join("score.py").display()
    );
    assert!(stderr.contains(&expected), "{stderr}");
}

#[tokio::test]
async fn the_azure_environment_variables_configure_the_server() {
    let dir = scratch("azure-env");
    let app_root = dir.join("app");
    std::fs::create_dir_all(&app_root).unwrap();
    std::fs::write(
        app_root.join("swagger.json"),
        r#"{"swagger": "2.0", "mine": true}"#,
    )
    .unwrap();
    let mut command = scorehost();
    command
        .args(["serve", "--port", "0"])
        .env("AZUREML_ENTRY_SCRIPT", plugin("slow"))
        .env("AZUREML_MODEL_DIR", ridge_model_dir())
        .env("AML_APP_ROOT", &app_root)
        .env("SERVICE_NAME", "my-svc")
        .env("SCORING_TIMEOUT_MS", "300")
        .env("AML_CORS_ORIGINS", "http://a.example,http://b.example")
        .env("SERVER_VERSION_LOG_RESPONSE_ENABLED", "false");
    let (_server, addr) = start(command, &dir.join("serve.log")).await;

    let health = RequestBuilder::to(addr, Method::GET, "/")
        .header("origin", "http://b.example")
        .send()
        .await;
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(
        health.header("access-control-allow-origin"),
        Some("http://b.example")
    );
    assert_eq!(health.header("x-ms-server-version"), None);

    let timed_out = RequestBuilder::to(addr, Method::POST, "/score")
        .header("content-type", "application/json")
        .body(json!({"Inputs": {"ms": 3000}}).to_string())
        .send()
        .await;
    assert_eq!(timed_out.status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(timed_out.message(), "Scoring timeout after 300 ms");
    assert_eq!(timed_out.header("x-ms-server-version"), None);

    let mine = RequestBuilder::to(addr, Method::GET, "/swagger.json")
        .send()
        .await;
    assert_eq!(mine.json(), json!({"swagger": "2.0", "mine": true}));
    let generated = RequestBuilder::to(addr, Method::GET, "/swagger.json?version=3")
        .send()
        .await;
    assert_eq!(generated.json()["info"]["title"], "my-svc");
}

#[tokio::test]
async fn the_server_version_header_is_where_the_azure_server_sends_it() {
    let server = TestServer::with_defaults("echo").await;
    let version = |r: &TestResponse| r.header("x-ms-server-version").map(str::to_owned);
    let sent = Some("scorehost/0.1.0".to_owned());

    assert_eq!(
        version(&server.request(Method::GET, "/").send().await),
        sent
    );
    let scored = server.score(&json!({"Inputs": {}})).await;
    assert_eq!(scored.status, StatusCode::OK);
    assert_eq!(version(&scored), sent);
    // A version the swagger route refuses is the route's answer: the header is there.
    let refused = server
        .request(Method::GET, "/swagger.json?version=4")
        .send()
        .await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND);
    assert_eq!(version(&refused), sent);
    // 431 is made before routing; it carries the common headers too.
    let too_long = server
        .request(Method::GET, "/")
        .header("x-request-id", &"x".repeat(101))
        .send()
        .await;
    assert_eq!(too_long.status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    assert_eq!(version(&too_long), sent);
    // No such route, no such method: Azure's own 404/405 have no server version.
    let not_found = server.request(Method::GET, "/nope").send().await;
    assert_eq!(not_found.status, StatusCode::NOT_FOUND);
    assert_eq!(version(&not_found), None);
    let not_allowed = server.request(Method::PUT, "/score").send().await;
    assert_eq!(not_allowed.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(version(&not_allowed), None);
    server.stop().await;
}

#[tokio::test]
async fn server_version_can_be_turned_off() {
    let deployment = settings("echo", &ridge_model_dir());
    let server = TestServer::start_many(
        vec![deployment],
        ServerOptions {
            default_deployment: Some("echo".to_owned()),
            hide_server_version: true,
            ..ServerOptions::default()
        },
    )
    .await;
    let health = server.request(Method::GET, "/").send().await;
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(health.header("x-ms-server-version"), None);
    assert!(health.header("x-request-id").is_some());
    let scored = server.score(&json!({"Inputs": {}})).await;
    assert_eq!(scored.status, StatusCode::OK);
    assert_eq!(scored.header("x-ms-server-version"), None);
    let too_long = server
        .request(Method::GET, "/")
        .header("x-request-id", &"x".repeat(101))
        .send()
        .await;
    assert_eq!(too_long.status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    assert_eq!(too_long.header("x-ms-server-version"), None);
    server.stop().await;
}

#[tokio::test]
async fn an_allowed_origin_gets_cors_headers_on_every_route() {
    let server = TestServer::start_with(DeploymentSettings {
        cors_origins: vec!["http://a.example".to_owned()],
        ..settings("echo", &ridge_model_dir())
    })
    .await;
    let get = |path: &str, origin: &str| {
        server
            .request(Method::GET, path)
            .header("origin", origin)
            .send()
    };
    for path in ["/", "/swagger.json", "/score", "/v2/health/ready", "/nope"] {
        let allowed = get(path, "http://a.example").await;
        assert_eq!(
            allowed.header("access-control-allow-origin"),
            Some("http://a.example"),
            "{path}"
        );
        assert_eq!(allowed.header("vary"), Some("Origin"), "{path}");
        let other = get(path, "http://evil.example").await;
        assert_eq!(other.header("access-control-allow-origin"), None, "{path}");
    }
    let too_long = server
        .request(Method::GET, "/")
        .header("origin", "http://a.example")
        .header("x-request-id", &"x".repeat(101))
        .send()
        .await;
    assert_eq!(too_long.status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    assert_eq!(
        too_long.header("access-control-allow-origin"),
        Some("http://a.example")
    );
    server.stop().await;
}

#[tokio::test]
async fn the_users_own_swagger_files_replace_the_generated_documents() {
    let app_root = scratch("user-swagger");
    std::fs::write(
        app_root.join("swagger.json"),
        r#"{"swagger": "2.0", "from": "swagger.json"}"#,
    )
    .unwrap();
    std::fs::write(
        app_root.join("swagger2.json"),
        r#"{"from": "swagger2.json"}"#,
    )
    .unwrap();
    std::fs::write(
        app_root.join("swagger3.json"),
        r#"{"openapi": "3.0.3", "from": "swagger3.json"}"#,
    )
    .unwrap();
    let with_app_root = |app_root: &Path| DeploymentSettings {
        swagger: SwaggerSettings {
            app_root: Some(app_root.to_owned()),
            ..SwaggerSettings::default()
        },
        ..settings("powerbi", &ridge_model_dir())
    };
    let server = TestServer::start_with(with_app_root(&app_root)).await;
    let document = |query: &'static str| {
        let request = server.request(Method::GET, &format!("/swagger.json{query}"));
        async move {
            let response = request.send().await;
            assert_eq!(response.status, StatusCode::OK);
            response.json()
        }
    };
    assert_eq!(document("").await["from"], "swagger.json");
    assert_eq!(document("?version=2").await["from"], "swagger.json");
    assert_eq!(document("?version=3").await["from"], "swagger3.json");
    assert_eq!(document("?version=3.0").await["from"], "swagger3.json");
    // No swagger3.1.json: 3.1 stays generated, as with the Azure ML server.
    let v31 = document("?version=3.1").await;
    assert_eq!(v31["openapi"], "3.1.0");
    assert!(v31["components"]["schemas"]["ServiceInput"].is_object());
    server.stop().await;

    // swagger2.json serves version 2 when there is no swagger.json.
    std::fs::remove_file(app_root.join("swagger.json")).unwrap();
    let server = TestServer::start_with(with_app_root(&app_root)).await;
    let v2 = server.request(Method::GET, "/swagger.json").send().await;
    assert_eq!(v2.json()["from"], "swagger2.json");
    server.stop().await;

    // A file that is not JSON keeps the deployment from loading, naming the file.
    std::fs::write(app_root.join("swagger3.json"), "{not json").unwrap();
    let error =
        scorehost::Registry::load(crate::support::runtime(), vec![with_app_root(&app_root)])
            .await
            .err()
            .expect("loading fails");
    assert!(
        format!("{error:#}").contains("swagger3.json is not JSON"),
        "{error:#}"
    );
}

#[test]
fn a_javascript_syntax_error_shows_the_scripts_file_line_and_message() {
    let dir = scratch("js-syntax-error");
    std::fs::write(
        dir.join("score.js"),
        "export function init() {}\n\nexport function run(data {\n  return data;\n}\n",
    )
    .unwrap();
    let built = scorehost()
        .arg("build")
        .arg(dir.join("score.js"))
        .output()
        .unwrap();
    assert_eq!(built.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&built.stderr);
    let expected = format!("{}:3: SyntaxError:", dir.join("score.js").display());
    assert!(stderr.contains(&expected), "{stderr}");
    assert!(stderr.contains("export function run(data {"), "{stderr}");
}
