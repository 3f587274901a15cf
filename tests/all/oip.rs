//! The Open Inference Protocol v2 routes, over raw HTTP and through real, unmodified clients
//! from PyPI (`tritonclient[http]` and the `kserve` package's `InferenceRESTClient`), which
//! `tests/oip/clients.py` drives in a venv under `target/`. Every inference is compared with
//! `/score`'s answer for the same input, bit for bit.

use std::path::PathBuf;
use std::sync::OnceLock;

use hyper::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{TestResponse, TestServer, repo, ridge_model_dir, settings, venv};

/// The Python of `target/oip-venv`, with `tests/oip/requirements.txt` installed.
fn clients_python() -> PathBuf {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON
        .get_or_init(|| venv("oip-venv", &repo().join("tests/oip/requirements.txt")))
        .clone()
}

/// Runs `plan` (see `tests/oip/clients.py`) with `client` (`triton` or `kserve`) against
/// `server`; one result per step.
async fn drive(client: &str, server: &TestServer, plan: Value) -> Vec<Value> {
    let python = clients_python();
    let script = repo().join("tests/oip/clients.py");
    let url = server.addr.to_string();
    let client = client.to_owned();
    // The server runs on this test's runtime: wait for the client off it.
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(python)
            .arg(script)
            .arg(client)
            .arg(url)
            .arg(plan.to_string())
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "the client failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "client output is not JSON ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

fn ok(result: &Value) -> &Value {
    result
        .get("ok")
        .unwrap_or_else(|| panic!("expected success, got {result}"))
}

/// The status and message of a client-side error result.
fn failed(result: &Value) -> (u64, String) {
    let error = result
        .get("error")
        .unwrap_or_else(|| panic!("expected an error, got {result}"));
    (
        error["status"].as_u64().unwrap(),
        error["message"].as_str().unwrap().to_owned(),
    )
}

/// The float64 values of a JSON list, as bits (bit-exact comparison).
fn bits(values: &Value) -> Vec<u64> {
    values
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap().to_bits())
        .collect()
}

/// The seed's Power BI request with awkward floats (no short decimal form).
fn powerbi_rows() -> Value {
    json!([
        [
            0.1,
            0.2,
            0.30000000000000004,
            1.0 / 3.0,
            5.0,
            6.0,
            7.0,
            8.0,
            9.0,
            1e-300
        ],
        [
            10.0,
            9.0,
            8.0,
            7.0,
            6.0,
            5.0,
            4.0,
            3.0,
            2.0,
            std::f64::consts::E
        ],
    ])
}

fn powerbi_score_body() -> Value {
    json!({
        "Inputs": {
            "input1": powerbi_rows(),
            "input2": [{"name": "Sarah", "age": 25}, {"name": "John", "age": 26}],
            "input3": 0.0,
        },
        "GlobalParameters": 1.0,
    })
}

fn powerbi_tensors() -> Value {
    json!([
        {"name": "input1", "datatype": "FP64", "data": powerbi_rows()},
        {"name": "input2.name", "datatype": "BYTES", "data": ["Sarah", "John"]},
        {"name": "input2.age", "datatype": "INT64", "data": [25, 26]},
        {"name": "input3", "datatype": "FP64", "data": [0.0]},
        {"name": "GlobalParameters", "datatype": "FP64", "data": [1.0]},
    ])
}

async fn powerbi() -> TestServer {
    TestServer::start_with(settings("powerbi", &ridge_model_dir())).await
}

async fn get(server: &TestServer, path: &str) -> TestResponse {
    server.request(Method::GET, path).send().await
}

/// POSTs a JSON inference request without a `Content-Type` (as tritonclient sends it).
async fn infer(server: &TestServer, model: &str, body: &Value) -> TestResponse {
    server
        .request(Method::POST, &format!("/v2/models/{model}/infer"))
        .body(body.to_string())
        .send()
        .await
}

/// The `{"error"}` of a protocol error response, after checking its status.
fn error(response: &TestResponse, status: StatusCode) -> String {
    assert_eq!(response.status, status, "{}", response.text());
    assert_eq!(response.header("content-type"), Some("application/json"));
    response.json()["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error in {}", response.text()))
        .to_owned()
}

#[tokio::test]
async fn server_and_model_routes_answer_with_json_bodies() {
    let server = powerbi().await;
    let response = get(&server, "/v2").await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.json()["name"], "scorehost");
    assert_eq!(response.json()["extensions"], json!(["binary_tensor_data"]));
    let response = get(&server, "/v2/health/live").await;
    assert_eq!(
        (response.status, response.json()),
        (StatusCode::OK, json!({"live": true}))
    );
    let response = get(&server, "/v2/health/ready").await;
    assert_eq!(
        (response.status, response.json()),
        (StatusCode::OK, json!({"ready": true}))
    );
    let response = get(&server, "/v2/models/powerbi/ready").await;
    assert_eq!(
        (response.status, response.json()),
        (StatusCode::OK, json!({"name": "powerbi", "ready": true}))
    );

    let response = get(&server, "/v2/models/powerbi").await;
    assert_eq!(response.status, StatusCode::OK);
    let version = response
        .header("x-scorehost-plugin-sha256")
        .unwrap()
        .to_owned();
    assert_eq!(
        response.json(),
        json!({
            "name": "powerbi",
            "versions": [version],
            "platform": "scorehost",
            "inputs": [
                {"name": "input1", "datatype": "FP64", "shape": [-1, 10]},
                {"name": "input2.name", "datatype": "BYTES", "shape": [-1]},
                {"name": "input2.age", "datatype": "INT64", "shape": [-1]},
                {"name": "input3", "datatype": "FP64", "shape": [1]},
                {"name": "GlobalParameters", "datatype": "FP64", "shape": [1]},
            ],
            "outputs": [{"name": "Results", "datatype": "FP64", "shape": [-1]}],
        })
    );
    // The version segment names the active plugin; another version is not there.
    let response = get(
        &server,
        &format!("/v2/models/powerbi/versions/{version}/ready"),
    )
    .await;
    assert_eq!(response.status, StatusCode::OK);
    let message = error(
        &get(&server, "/v2/models/powerbi/versions/1").await,
        StatusCode::NOT_FOUND,
    );
    assert!(message.contains("no version '1'"), "{message}");
    let message = error(
        &get(&server, "/v2/models/nope").await,
        StatusCode::NOT_FOUND,
    );
    assert_eq!(message, "unknown model 'nope'");
    error(
        &get(&server, "/v2/models/nope/ready").await,
        StatusCode::NOT_FOUND,
    );
    error(&get(&server, "/v2/nothing").await, StatusCode::NOT_FOUND);
    let response = server
        .request(Method::DELETE, "/v2/models/powerbi")
        .send()
        .await;
    error(&response, StatusCode::METHOD_NOT_ALLOWED);
    server.stop().await;
}

#[tokio::test]
async fn json_infer_without_content_type_equals_score_and_echoes_ids() {
    let server = powerbi().await;
    let score = server.score(&powerbi_score_body()).await;
    assert_eq!(score.status, StatusCode::OK, "{}", score.text());
    let expected = bits(&score.json()["Results"]);

    let mut inputs = powerbi_tensors();
    for input in inputs.as_array_mut().unwrap() {
        // Flat data with an explicit shape is the same tensor as nested data.
        let data = input["data"].clone();
        let shape: Vec<usize> = match &data[0] {
            Value::Array(row) => vec![data.as_array().unwrap().len(), row.len()],
            _ => vec![data.as_array().unwrap().len()],
        };
        let flat: Vec<Value> = data
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|v| v.as_array().cloned().unwrap_or_else(|| vec![v.clone()]))
            .collect();
        input["shape"] = json!(shape);
        input["data"] = json!(flat);
    }
    let request = json!({"id": "my-request-7", "inputs": inputs});
    let response = infer(&server, "powerbi", &request).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert!(response.header("x-request-id").is_some());
    assert!(response.header("x-ms-run-fn-exec-ms").is_some());
    let body = response.json();
    assert_eq!(body["id"], "my-request-7");
    assert_eq!(body["model_name"], "powerbi");
    assert_eq!(
        body["model_version"],
        response.header("x-scorehost-plugin-sha256").unwrap()
    );
    let results = &body["outputs"][0];
    assert_eq!(results["name"], "Results");
    assert_eq!(results["datatype"], "FP64");
    assert_eq!(results["shape"], json!([2]));
    assert_eq!(bits(&results["data"]), expected);

    // Without an id, the response carries the request id; the client's x-request-id is kept.
    let mut request = request;
    request.as_object_mut().unwrap().remove("id");
    let response = server
        .request(Method::POST, "/v2/models/powerbi/infer")
        .header("x-request-id", "trace-me")
        .body(request.to_string())
        .send()
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    assert_eq!(response.header("x-request-id"), Some("trace-me"));
    assert_eq!(response.json()["id"], "trace-me");
    server.stop().await;
}

#[tokio::test]
async fn bad_inference_requests_get_protocol_errors_with_the_score_checks() {
    let server = powerbi().await;
    let with = |change: &dyn Fn(&mut Value)| {
        let mut inputs = powerbi_tensors();
        for input in inputs.as_array_mut().unwrap() {
            let data = &input["data"];
            let shape = match &data[0] {
                Value::Array(row) => json!([data.as_array().unwrap().len(), row.len()]),
                _ => json!([data.as_array().unwrap().len()]),
            };
            input["shape"] = shape;
        }
        let mut request = json!({"inputs": inputs});
        change(&mut request);
        request
    };
    let cases: Vec<(Value, StatusCode, &str)> = vec![
        (
            with(&|r| r["inputs"][0]["data"][0][3] = json!("7")),
            StatusCode::BAD_REQUEST,
            // The /score converter's message and field path.
            "Inputs.input1[0][3]: expected a number, got the string \"7\"",
        ),
        (
            with(&|r| r["inputs"][0]["datatype"] = json!("FP32")),
            StatusCode::BAD_REQUEST,
            "input 'input1': datatype FP32 does not match the model's FP64",
        ),
        (
            with(&|r| r["inputs"][0]["datatype"] = json!("FP16")),
            StatusCode::BAD_REQUEST,
            "input 'input1': datatype FP16 is not supported",
        ),
        (
            with(&|r| {
                r["inputs"][0]["data"] = json!([vec![1.0; 9], vec![2.0; 9]]);
                r["inputs"][0]["shape"] = json!([2, 9]);
            }),
            StatusCode::BAD_REQUEST,
            "input 'input1': shape [2, 9] does not match the model's [-1, 10]",
        ),
        (
            with(&|r| r["inputs"][0]["shape"] = json!([3, 10])),
            StatusCode::BAD_REQUEST,
            "input 'input1': shape [3, 10] needs 30 elements, the data has 20",
        ),
        (
            with(&|r| {
                r["inputs"].as_array_mut().unwrap().remove(3);
            }),
            StatusCode::BAD_REQUEST,
            "missing input 'input3' (FP64, shape [1])",
        ),
        (
            with(&|r| r["inputs"][1]["name"] = json!("input9")),
            StatusCode::BAD_REQUEST,
            "unknown input 'input9'",
        ),
        (
            with(&|r| r["outputs"] = json!([{"name": "Nope"}])),
            StatusCode::BAD_REQUEST,
            "unknown output 'Nope' (the model's outputs: Results)",
        ),
        (
            with(&|r| r["inputs"][2]["data"] = json!([25])),
            StatusCode::BAD_REQUEST,
            "needs 2 elements, the data has 1",
        ),
        (
            with(&|r| {
                r["outputs"] = json!([{"name": "Results", "parameters": {"classification": 2}}])
            }),
            StatusCode::NOT_IMPLEMENTED,
            "classification extension is not supported",
        ),
        (
            json!({"inputs": "x"}),
            StatusCode::BAD_REQUEST,
            "the request is not a valid inference request",
        ),
    ];
    for (request, status, expected) in cases {
        let message = error(&infer(&server, "powerbi", &request).await, status);
        assert!(
            message.starts_with(expected) || message.contains(expected),
            "{message}"
        );
    }
    let message = error(
        &infer(&server, "nope", &with(&|_| {})).await,
        StatusCode::NOT_FOUND,
    );
    assert_eq!(message, "unknown model 'nope'");
    let response = server
        .request(Method::POST, "/v2/models/powerbi/infer")
        .header("inference-header-content-length", "9999")
        .body("{}")
        .send()
        .await;
    error(&response, StatusCode::BAD_REQUEST);
    server.stop().await;
}

#[tokio::test]
async fn scripts_without_a_tensor_form_answer_501_but_keep_metadata_and_health() {
    let server = TestServer::start_many(
        vec![
            settings("image_size", &ridge_model_dir()),
            settings("ridge", &ridge_model_dir()),
            settings("typed_echo", &ridge_model_dir()),
        ],
        scorehost::ServerOptions::default(),
    )
    .await;
    for (model, why) in [
        ("image_size", "raw HTTP requests"),
        ("ridge", "declares no input samples"),
        ("typed_echo", "output sample has no tensor form"),
    ] {
        let response = get(&server, &format!("/v2/models/{model}/ready")).await;
        assert_eq!(response.status, StatusCode::OK, "{model}");
        let response = get(&server, &format!("/v2/models/{model}")).await;
        assert_eq!(response.status, StatusCode::OK, "{model}");
        assert_eq!(response.json()["outputs"], json!([]), "{model}");
        let message = error(
            &infer(&server, model, &json!({"inputs": []})).await,
            StatusCode::NOT_IMPLEMENTED,
        );
        assert!(message.contains(why), "{model}: {message}");
    }
    server.stop().await;
}

/// `powerbi` with the key `tenant-key`, on a server whose admin key is `admin`.
async fn keyed_powerbi() -> TestServer {
    TestServer::start_many(
        vec![scorehost::DeploymentSettings {
            keys: vec!["tenant-key".to_owned()],
            ..settings("powerbi", &ridge_model_dir())
        }],
        scorehost::ServerOptions {
            admin_key: Some("admin".to_owned()),
            ..Default::default()
        },
    )
    .await
}

#[tokio::test]
async fn infer_needs_the_deployment_key_and_is_counted_in_the_metrics() {
    let server = keyed_powerbi().await;
    let request = json!({"inputs": [{"name": "input1", "shape": [1, 10], "datatype": "FP64", "data": vec![1.0; 10]}]});
    let response = infer(&server, "powerbi", &request).await;
    let message = error(&response, StatusCode::UNAUTHORIZED);
    assert!(message.contains("Authorization"), "{message}");
    assert!(response.header("www-authenticate").is_some());
    // Metadata and readiness, like /swagger.json, need no key.
    assert_eq!(
        get(&server, "/v2/models/powerbi").await.status,
        StatusCode::OK
    );
    let response = server
        .request(Method::POST, "/v2/models/powerbi/infer")
        .header("authorization", "Bearer tenant-key")
        .body(request.to_string())
        .send()
        .await;
    // Authorized, and then refused by the script's checks (input2 is missing).
    let message = error(&response, StatusCode::BAD_REQUEST);
    assert!(message.contains("missing input 'input2.name'"), "{message}");
    let metrics = server
        .request(Method::GET, "/metrics")
        .header("authorization", "Bearer admin")
        .send()
        .await
        .text();
    for series in [
        r#"scorehost_requests_total{deployment="powerbi",route="infer",status="401"} 1"#,
        r#"scorehost_requests_total{deployment="powerbi",route="infer",status="400"} 1"#,
        r#"scorehost_requests_total{deployment="powerbi",route="model_metadata",status="200"} 1"#,
    ] {
        assert!(metrics.contains(series), "{series} not in {metrics}");
    }
    server.stop().await;
}

#[tokio::test]
async fn tritonclient_on_powerbi_equals_score_binary_and_json() {
    let server = powerbi().await;
    let expected = bits(&server.score(&powerbi_score_body()).await.json()["Results"]);
    let version = get(&server, "/v2/models/powerbi")
        .await
        .header("x-scorehost-plugin-sha256")
        .unwrap()
        .to_owned();
    let results = drive(
        "triton",
        &server,
        json!([
            {"op": "live"},
            {"op": "ready"},
            {"op": "model_ready", "model": "powerbi"},
            {"op": "model_ready", "model": "nope"},
            {"op": "metadata", "model": "powerbi"},
            // Binary inputs and outputs: tritonclient's default.
            {"op": "infer", "model": "powerbi", "inputs": powerbi_tensors(), "id": "t-1"},
            {"op": "infer", "model": "powerbi", "inputs": powerbi_tensors(), "binary": false,
             "outputs": ["Results"]},
        ]),
    )
    .await;
    assert_eq!(ok(&results[0]), &json!(true));
    assert_eq!(ok(&results[1]), &json!(true));
    assert_eq!(ok(&results[2]), &json!(true));
    assert_eq!(ok(&results[3]), &json!(false));
    let metadata = ok(&results[4]);
    assert_eq!(
        metadata["inputs"][0],
        json!({"name": "input1", "datatype": "FP64", "shape": [-1, 10]})
    );
    for (result, id) in [(&results[5], Some("t-1")), (&results[6], None)] {
        let answer = ok(result);
        if let Some(id) = id {
            assert_eq!(answer["id"], id);
        }
        assert_eq!(answer["model_version"], version.as_str());
        let results = &answer["outputs"]["Results"];
        assert_eq!(results["datatype"], "FP64");
        assert_eq!(results["shape"], json!([2]));
        assert_eq!(bits(&results["data"]), expected, "{result}");
    }
    server.stop().await;
}

/// `tensor_echo`'s inputs made wrong: a wrong shape, a wrong datatype, FP16, and a
/// `GlobalParameters` that makes the script fail.
fn tensor_echo_misfits() -> [Value; 4] {
    let good = tensor_echo_inputs();
    let mut wrong_shape = good.clone();
    wrong_shape[0]["data"] = json!([[1.0, 2.0, 3.0]]);
    let mut wrong_datatype = good.clone();
    wrong_datatype[1]["datatype"] = json!("FP64");
    let mut half = good.clone();
    half[1]["datatype"] = json!("FP16");
    let mut failing = good;
    failing
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "GlobalParameters", "datatype": "BOOL", "data": [true]}));
    [wrong_shape, wrong_datatype, half, failing]
}

#[tokio::test]
async fn tritonclient_errors_carry_the_status_and_message() {
    let server = TestServer::start_with(settings("tensor_echo", &ridge_model_dir())).await;
    let good = tensor_echo_inputs();
    let [wrong_shape, wrong_datatype, half, failing] = tensor_echo_misfits();
    let results = drive(
        "triton",
        &server,
        json!([
            {"op": "infer", "model": "nope", "inputs": good},
            {"op": "infer", "model": "tensor_echo", "inputs": wrong_shape},
            {"op": "infer", "model": "tensor_echo", "inputs": wrong_datatype},
            {"op": "infer", "model": "tensor_echo", "inputs": half},
            {"op": "infer", "model": "tensor_echo", "inputs": failing},
            {"op": "infer", "model": "tensor_echo", "inputs": failing, "binary": false},
        ]),
    )
    .await;
    let expected = [
        (404, "unknown model 'nope'"),
        (
            400,
            "input 'f64': shape [1, 3] does not match the model's [-1, 2]",
        ),
        (
            400,
            "input 'f32': datatype FP64 does not match the model's FP32",
        ),
        (400, "input 'f32': datatype FP16 is not supported"),
        (500, "asked to fail"),
        (500, "asked to fail"),
    ];
    for (result, (status, message)) in results.iter().zip(expected) {
        let (got_status, got_message) = failed(result);
        assert_eq!(got_status, status, "{result}");
        assert!(got_message.contains(message), "{result}");
    }
    server.stop().await;
}

/// The plan of `tritonclient_on_powerbi_equals_score_binary_and_json`.
fn powerbi_plan() -> Value {
    json!([
        {"op": "live"},
        {"op": "ready"},
        {"op": "model_ready", "model": "powerbi"},
        {"op": "model_ready", "model": "nope"},
        {"op": "metadata", "model": "powerbi"},
        {"op": "infer", "model": "powerbi", "inputs": powerbi_tensors(), "id": "t-1"},
        {"op": "infer", "model": "powerbi", "inputs": powerbi_tensors(), "binary": false,
         "outputs": ["Results"]},
    ])
}

#[tokio::test]
async fn tritonclient_grpc_on_the_http_port_answers_as_rest_does() {
    let server = powerbi().await;
    // The same plan over HTTP/1.1 (REST) and over HTTP/2 (gRPC, tritonclient's raw tensors)
    // on the one port: the same answers, floats bit for bit.
    let rest = drive("triton", &server, powerbi_plan()).await;
    let grpc = drive("triton_grpc", &server, powerbi_plan()).await;
    // An unknown model's readiness: tritonclient.http reads REST's 404 as `false`; over gRPC
    // it is NOT_FOUND, as KServe's and Triton's servers answer it.
    assert_eq!(ok(&rest[3]), &json!(false));
    assert_eq!(grpc[3]["error"]["status"], "NOT_FOUND", "{}", grpc[3]);
    for (step, (r, g)) in rest.iter().zip(&grpc).enumerate() {
        if step == 3 {
            continue;
        }
        let (r, g) = (ok(r), ok(g));
        if step == 4 {
            // tritonclient.http gives the REST body, tritonclient.grpc the message's fields.
            for key in ["name", "versions", "platform", "inputs", "outputs"] {
                assert_eq!(r[key], g[key], "metadata {key}");
            }
            continue;
        }
        if let Some(outputs) = r.get("outputs") {
            // Without an id the answer carries the request's own id, new for each request.
            if step == 5 {
                assert_eq!((&r["id"], &g["id"]), (&json!("t-1"), &json!("t-1")));
            } else {
                assert!(!g["id"].as_str().unwrap_or("").is_empty(), "{g}");
            }
            assert_eq!(r["model_version"], g["model_version"], "step {step}");
            let (r, g) = (&outputs["Results"], &g["outputs"]["Results"]);
            assert_eq!((&r["datatype"], &r["shape"]), (&g["datatype"], &g["shape"]));
            assert_eq!(bits(&r["data"]), bits(&g["data"]), "step {step}");
            continue;
        }
        assert_eq!(r, g, "step {step}");
    }
    server.stop().await;
}

#[tokio::test]
async fn grpc_clients_errors_carry_the_code_and_the_rest_message() {
    let server = TestServer::start_with(settings("tensor_echo", &ridge_model_dir())).await;
    let good = tensor_echo_inputs();
    let [wrong_shape, _, half, failing] = tensor_echo_misfits();
    for client in ["triton_grpc", "kserve_grpc"] {
        let results = drive(
            client,
            &server,
            json!([
                {"op": "infer", "model": "nope", "inputs": good},
                {"op": "infer", "model": "../v2", "inputs": good},
                {"op": "infer", "model": "tensor_echo", "inputs": wrong_shape},
                {"op": "infer", "model": "tensor_echo", "inputs": half},
                {"op": "infer", "model": "tensor_echo", "inputs": failing},
            ]),
        )
        .await;
        let expected = [
            ("NOT_FOUND", "unknown model 'nope'"),
            ("NOT_FOUND", "unknown model: \"../v2\""),
            (
                "INVALID_ARGUMENT",
                "input 'f64': shape [1, 3] does not match the model's [-1, 2]",
            ),
            (
                "INVALID_ARGUMENT",
                "input 'f32': datatype FP16 is not supported",
            ),
            // The script's own failure message, as on REST; never a host trace.
            ("INTERNAL", "asked to fail"),
        ];
        for (result, (code, message)) in results.iter().zip(expected) {
            let error = &result["error"];
            assert_eq!(error["status"], code, "{client}: {result}");
            assert!(
                error["message"].as_str().unwrap().contains(message),
                "{client}: {result}"
            );
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn grpc_calls_need_the_deployment_key_and_are_counted_under_grpc_routes() {
    let server = keyed_powerbi().await;
    let key = json!({"authorization": "Bearer tenant-key"});
    let results = drive(
        "triton_grpc",
        &server,
        json!([
            {"op": "infer", "model": "powerbi", "inputs": powerbi_tensors()},
            {"op": "infer", "model": "powerbi", "inputs": powerbi_tensors(), "headers": key,
             "id": "keyed"},
            {"op": "metadata", "model": "powerbi"},
            {"op": "live"},
        ]),
    )
    .await;
    assert_eq!(
        results[0]["error"]["status"], "UNAUTHENTICATED",
        "{}",
        results[0]
    );
    assert!(
        results[0]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Authorization"),
        "{}",
        results[0]
    );
    assert_eq!(ok(&results[1])["id"], "keyed");
    // Metadata, like REST's, needs no key.
    assert_eq!(ok(&results[2])["name"], "powerbi");
    assert_eq!(ok(&results[3]), &json!(true));
    let metrics = server
        .request(Method::GET, "/metrics")
        .header("authorization", "Bearer admin")
        .send()
        .await
        .text();
    for series in [
        r#"scorehost_requests_total{deployment="powerbi",route="grpc_infer",status="401"} 1"#,
        r#"scorehost_requests_total{deployment="powerbi",route="grpc_infer",status="200"} 1"#,
        r#"scorehost_requests_total{deployment="powerbi",route="grpc_model_metadata",status="200"} 1"#,
    ] {
        assert!(metrics.contains(series), "{series} not in {metrics}");
    }
    server.stop().await;
}

/// One input per datatype for `tensor_echo`, with values at the edges of each type.
fn tensor_echo_inputs() -> Value {
    json!([
        {"name": "f64", "datatype": "FP64", "data": [[0.1, -1e308], [5e-324, 1.0 / 3.0]]},
        {"name": "f32", "datatype": "FP32", "data": [0.1, 3.4028234663852886e38, -1.401298464324817e-45]},
        {"name": "i8", "datatype": "INT8", "data": [-128, 127]},
        {"name": "i16", "datatype": "INT16", "data": [-32768, 32767]},
        {"name": "i32", "datatype": "INT32", "data": [-2147483648i64, 2147483647]},
        {"name": "i64", "datatype": "INT64", "data": [i64::MIN, i64::MAX]},
        {"name": "u8", "datatype": "UINT8", "data": [0, 255]},
        {"name": "u16", "datatype": "UINT16", "data": [0, 65535]},
        {"name": "u32", "datatype": "UINT32", "data": [0, 4294967295u64]},
        {"name": "u64", "datatype": "UINT64", "data": [0, 9007199254740993u64]},
        {"name": "flags", "datatype": "BOOL", "data": [true, false, true]},
        {"name": "names", "datatype": "BYTES", "data": ["héllo", "", "a\"b"]},
    ])
}

#[tokio::test]
async fn every_datatype_round_trips_through_every_client_binary_and_json() {
    let server = TestServer::start_with(settings("tensor_echo", &ridge_model_dir())).await;
    // /score with the same values is the reference.
    let inputs = tensor_echo_inputs();
    let score_inputs: serde_json::Map<String, Value> = inputs
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["name"].as_str().unwrap().to_owned(), i["data"].clone()))
        .collect();
    let score = server.score(&json!({"Inputs": score_inputs})).await;
    assert_eq!(score.status, StatusCode::OK, "{}", score.text());
    let score = score.json();
    let flat = |v: &Value| -> Vec<Value> {
        fn go(v: &Value, out: &mut Vec<Value>) {
            match v {
                Value::Array(items) => items.iter().for_each(|i| go(i, out)),
                leaf => out.push(leaf.clone()),
            }
        }
        let mut out = Vec::new();
        go(v, &mut out);
        out
    };
    for client in ["triton", "kserve", "triton_grpc", "kserve_grpc"] {
        let results = drive(
            client,
            &server,
            json!([
                {"op": "infer", "model": "tensor_echo", "inputs": inputs},
                {"op": "infer", "model": "tensor_echo", "inputs": inputs, "binary": false,
                 "outputs": ["names", "f32", "f64", "u64"]},
            ]),
        )
        .await;
        let binary = &ok(&results[0])["outputs"];
        let json_only = &ok(&results[1])["outputs"];
        assert_eq!(
            json_only.as_object().unwrap().keys().collect::<Vec<_>>(),
            ["names", "f32", "f64", "u64"],
            "{client}: the outputs asked for, in order"
        );
        for (name, expected) in score.as_object().unwrap() {
            for outputs in [binary, json_only] {
                let Some(output) = outputs.get(name) else {
                    continue;
                };
                let expected = flat(expected);
                let got = output["data"].as_array().unwrap();
                assert_eq!(got.len(), expected.len(), "{client} {name}");
                for (g, e) in got.iter().zip(&expected) {
                    match e {
                        // Floats bit for bit.
                        Value::Number(n) if n.is_f64() => assert_eq!(
                            g.as_f64().map(f64::to_bits),
                            n.as_f64().map(f64::to_bits),
                            "{client} {name}"
                        ),
                        _ => assert_eq!(g, e, "{client} {name}"),
                    }
                }
            }
        }
        assert_eq!(binary["f64"]["shape"], json!([2, 2]), "{client}");
        assert_eq!(binary["f64"]["datatype"], "FP64", "{client}");
        assert_eq!(binary["u64"]["datatype"], "INT64", "{client}");
        assert_eq!(binary["names"]["datatype"], "BYTES", "{client}");
        assert_eq!(binary["flags"]["datatype"], "BOOL", "{client}");
    }
    server.stop().await;
}

#[tokio::test]
async fn kserve_client_on_powerbi_equals_score() {
    let server = powerbi().await;
    let expected = bits(&server.score(&powerbi_score_body()).await.json()["Results"]);
    let results = drive(
        "kserve",
        &server,
        json!([
            {"op": "live"},
            {"op": "ready"},
            {"op": "model_ready", "model": "powerbi"},
            {"op": "infer", "model": "powerbi", "inputs": powerbi_tensors(), "id": "k-1"},
            {"op": "infer", "model": "powerbi", "inputs": powerbi_tensors(), "binary": false},
            {"op": "infer", "model": "nope", "inputs": powerbi_tensors()},
        ]),
    )
    .await;
    assert_eq!(ok(&results[0]), &json!(true));
    assert_eq!(ok(&results[1]), &json!(true));
    assert_eq!(ok(&results[2]), &json!(true));
    assert_eq!(ok(&results[3])["id"], "k-1");
    for result in &results[3..5] {
        let results = &ok(result)["outputs"]["Results"];
        assert_eq!(bits(&results["data"]), expected, "{result}");
    }
    let (status, message) = failed(&results[5]);
    assert_eq!(status, 404);
    assert!(message.contains("unknown model 'nope'"), "{message}");
    server.stop().await;
}

/// A manifest of `deploy/kserve/` as JSON (read with the venv's PyYAML).
fn kserve_manifest(file: &str) -> Value {
    let output = std::process::Command::new(clients_python())
        .args([
            "-c",
            "import sys, json, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))",
        ])
        .arg(repo().join("deploy/kserve").join(file))
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    serde_json::from_slice(&output.stdout).unwrap()
}

fn validate_kserve(files: &[PathBuf]) -> (bool, String) {
    let output = std::process::Command::new(clients_python())
        .arg(repo().join("tests/oip/validate_kserve.py"))
        .args(files)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.success(), report)
}

#[test]
fn kserve_manifests_fit_the_models_the_kserve_package_publishes() {
    let dir = repo().join("deploy/kserve");
    let files = [
        dir.join("clusterservingruntime.yaml"),
        dir.join("inferenceservice.yaml"),
    ];
    let (valid, report) = validate_kserve(&files);
    assert!(valid, "{report}");
    assert!(
        report.contains("ClusterServingRuntime/scorehost: valid V1alpha1ClusterServingRuntime"),
        "{report}"
    );
    assert!(
        report.contains("InferenceService/powerbi: valid V1beta1InferenceService"),
        "{report}"
    );
    // The validator does catch a misspelt field deep down and a missing required one.
    let text = std::fs::read_to_string(&files[0]).unwrap();
    for (from, to, expected) in [
        (
            "path: /v2/health/ready",
            "pth: /v2/health/ready",
            "containers[0].readinessProbe.httpGet.pth: unknown field",
        ),
        (
            "  containers:",
            "  containerz:",
            "`containers`, must not be `None`",
        ),
        (
            "containerPort: 8080",
            "containerPort: \"8080\"",
            "expected int",
        ),
    ] {
        let broken = repo().join("target/oip-broken-runtime.yaml");
        std::fs::write(&broken, text.replace(from, to)).unwrap();
        let (valid, report) = validate_kserve(&[broken]);
        assert!(!valid, "{report}");
        assert!(report.contains(expected), "{expected}: {report}");
    }
}

#[tokio::test]
async fn the_serving_runtime_args_serve_the_model_under_its_inferenceservice_name() {
    let runtime = kserve_manifest("clusterservingruntime.yaml");
    let spec = &runtime["spec"];
    // REST and gRPC on the one port.
    assert_eq!(spec["protocolVersions"], json!(["v2", "grpc-v2"]));
    let container = &spec["containers"][0];
    assert_eq!(container["name"], "kserve-container");
    assert_eq!(container["ports"][0]["containerPort"], 8080);
    assert_eq!(
        container["readinessProbe"]["httpGet"],
        json!({"path": "/v2/health/ready", "port": 8080})
    );
    let service = kserve_manifest("inferenceservice.yaml");
    let model = &service["spec"]["predictor"]["model"];
    assert_eq!(model["runtime"], runtime["metadata"]["name"]);
    assert_eq!(
        model["modelFormat"]["name"],
        spec["supportedModelFormats"][0]["name"]
    );
    let name = service["metadata"]["name"].as_str().unwrap();

    // What KServe would run: the args with {{.Name}} filled in and the storage at
    // /mnt/models, here a folder holding the built plugin as score.wasm and its model. The
    // listen addresses are the test's.
    let storage = repo().join("target/oip-kserve-models");
    std::fs::create_dir_all(&storage).unwrap();
    std::fs::copy(
        crate::support::plugin("powerbi"),
        storage.join("score.wasm"),
    )
    .unwrap();
    std::fs::copy(
        ridge_model_dir().join("sklearn_regression_model.json"),
        storage.join("sklearn_regression_model.json"),
    )
    .unwrap();
    let args: Vec<std::ffi::OsString> = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .filter(|a| !a.starts_with("--addr=") && !a.starts_with("--metrics-addr="))
        .map(|a| {
            a.replace("{{.Name}}", name)
                .replace("/mnt/models", storage.to_str().unwrap())
                .into()
        })
        .collect();
    assert!(
        args.iter()
            .any(|a| a.to_str() == Some(&format!("--model-name={name}")))
    );
    let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
    let (_child, addr) = crate::cli::serve(&args).await;
    let server_get = |path: String| crate::support::RequestBuilder::to(addr, Method::GET, &path);
    assert_eq!(
        server_get("/v2/health/ready".to_owned())
            .send()
            .await
            .status,
        StatusCode::OK
    );
    let response = server_get(format!("/v2/models/{name}/ready")).send().await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    let request = json!({"inputs": [
        {"name": "input1", "shape": [1, 10], "datatype": "FP64", "data": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]},
        {"name": "input2.name", "shape": [1], "datatype": "BYTES", "data": ["Sarah"]},
        {"name": "input2.age", "shape": [1], "datatype": "INT64", "data": [25]},
        {"name": "input3", "shape": [1], "datatype": "FP64", "data": [0.0]},
        {"name": "GlobalParameters", "shape": [1], "datatype": "FP64", "data": [1.0]},
    ]});
    let response =
        crate::support::RequestBuilder::to(addr, Method::POST, &format!("/v2/models/{name}/infer"))
            .body(request.to_string())
            .send()
            .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    assert_eq!(response.json()["model_name"], name);
}

#[tokio::test]
async fn tritonclient_on_the_onnx_classifier_equals_score() {
    let rows = crate::onnx::expected("tabular")["inputs"].clone();
    let models = crate::onnx::models();
    let single =
        TestServer::start_with(settings("onnx_tabular", &models.join("tabular/single"))).await;
    let multi =
        TestServer::start_with(settings("onnx_tabular", &models.join("tabular/multi"))).await;
    let choose = json!({"model": "iris", "version": "2"});
    let score_single = single
        .score(&json!({"Inputs": {"data": rows}}))
        .await
        .json();
    let score_multi = multi
        .score(&json!({"Inputs": {"data": rows}, "GlobalParameters": choose}))
        .await
        .json();
    assert_ne!(score_single, score_multi, "the two model versions differ");

    let data = json!([{"name": "data", "datatype": "FP32", "data": rows}]);
    let results = drive(
        "triton",
        &single,
        json!([
            {"op": "metadata", "model": "onnx_tabular"},
            {"op": "infer", "model": "onnx_tabular", "inputs": data},
            {"op": "infer", "model": "onnx_tabular", "inputs": data, "binary": false,
             "outputs": ["Results.probabilities", "Results.label"]},
        ]),
    )
    .await;
    let metadata = ok(&results[0]);
    assert_eq!(
        (&metadata["inputs"], &metadata["outputs"]),
        (
            &json!([
                {"name": "data", "datatype": "FP32", "shape": [-1, 4]},
                {"name": "GlobalParameters", "datatype": "BYTES", "shape": [1]},
            ]),
            &json!([
                {"name": "Results.label", "datatype": "INT64", "shape": [-1]},
                {"name": "Results.probabilities", "datatype": "FP64", "shape": [-1, 3]},
            ])
        )
    );
    let rows_n = rows.as_array().unwrap().len();
    let check = |answer: &Value, score: &Value| {
        let outputs = &answer["outputs"];
        assert_eq!(outputs["Results.label"]["data"], score["Results"]["label"]);
        assert_eq!(
            outputs["Results.probabilities"]["shape"],
            json!([rows_n, 3])
        );
        let expected: Vec<u64> = score["Results"]["probabilities"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(bits)
            .collect();
        assert_eq!(bits(&outputs["Results.probabilities"]["data"]), expected);
    };
    check(ok(&results[1]), &score_single);
    check(ok(&results[2]), &score_single);

    // The multi-model folder: GlobalParameters travels as one BYTES element of JSON text.
    let mut with_choice = data.clone();
    with_choice.as_array_mut().unwrap().push(
        json!({"name": "GlobalParameters", "datatype": "BYTES", "data": [choose.to_string()]}),
    );
    let results = drive(
        "triton",
        &multi,
        json!([
            {"op": "infer", "model": "onnx_tabular", "inputs": with_choice},
            {"op": "infer", "model": "onnx_tabular", "inputs": data},
        ]),
    )
    .await;
    check(ok(&results[0]), &score_multi);
    // Without a choice the script refuses (its own bad-input error: 400).
    let (status, message) = failed(&results[1]);
    assert_eq!(status, 400);
    assert!(message.contains("serves several models"), "{message}");
    single.stop().await;
    multi.stop().await;
}

#[tokio::test]
async fn a_model_still_loading_answers_503_then_serves() {
    let dir = repo().join("target/test-models/oip-slow-init");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("gate"), "1500").unwrap();
    let registry = scorehost::Registry::new(crate::support::runtime());
    let server = TestServer::serve(registry.clone(), scorehost::ServerOptions::default()).await;
    let loading = tokio::spawn({
        let registry = registry.clone();
        let slow = scorehost::DeploymentSettings::new(
            "slow",
            crate::support::plugin("fragile"),
            dir.clone(),
        );
        async move { registry.load_all(vec![slow]).await }
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let response = get(&server, "/v2/models/slow/ready").await;
        if response.status == StatusCode::SERVICE_UNAVAILABLE {
            assert_eq!(response.json()["error"], "model 'slow' is loading");
            break;
        }
        // Before the loader has started, the name is not known yet.
        assert_eq!(
            response.status,
            StatusCode::NOT_FOUND,
            "{}",
            response.text()
        );
        assert!(std::time::Instant::now() < deadline);
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let message = error(
        &infer(&server, "slow", &json!({"inputs": []})).await,
        StatusCode::SERVICE_UNAVAILABLE,
    );
    assert_eq!(message, "model 'slow' is loading");
    loading.await.unwrap().unwrap();
    let response = get(&server, "/v2/models/slow/ready").await;
    assert_eq!(
        (response.status, response.json()),
        (StatusCode::OK, json!({"name": "slow", "ready": true}))
    );
    server.stop().await;
}

#[test]
fn a_model_name_that_is_not_a_route_segment_is_refused_at_start() {
    let output = crate::cli::scorehost()
        .args(["serve", "--model-name", "a/b", "--plugin"])
        .arg(crate::support::plugin("ridge"))
        .arg("--model-dir")
        .arg(ridge_model_dir())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--model-name"), "{stderr}");
}

#[tokio::test]
async fn infer_refuses_the_json_text_score_refuses_with_the_same_message() {
    // `GlobalParameters` of the multi-model classifier is a JSON sample: over the protocol it
    // travels as one BYTES element of JSON text, which the host checks as it checks `/score`.
    let rows = crate::onnx::expected("tabular")["inputs"].clone();
    let n = rows.as_array().unwrap().len();
    let server = TestServer::start_with(settings(
        "onnx_tabular",
        &crate::onnx::models().join("tabular/multi"),
    ))
    .await;
    // 110 levels: past the host's limit of 100, within serde_json's own of 128.
    let deep = format!("{}1{}", "[".repeat(110), "]".repeat(110));
    let cases = [
        (deep.as_str(), "nested deeper than 100 levels"),
        ("1e400", "a number must be finite as a float64"),
    ];
    for (text, expected) in cases {
        let score = server
            .request(Method::POST, "/score")
            .header("content-type", "application/json")
            .body(format!(
                r#"{{"Inputs": {{"data": {rows}}}, "GlobalParameters": {text}}}"#
            ))
            .send()
            .await;
        assert_eq!(score.status, StatusCode::BAD_REQUEST, "{}", score.text());
        let message = score.message();
        assert!(message.contains(expected), "{message}");
        let answer = infer(
            &server,
            "onnx_tabular",
            &json!({"inputs": [
                {"name": "data", "datatype": "FP32", "shape": [n, 4], "data": rows},
                {"name": "GlobalParameters", "datatype": "BYTES", "shape": [1], "data": [text]},
            ]}),
        )
        .await;
        assert_eq!(error(&answer, StatusCode::BAD_REQUEST), message);
    }
    server.stop().await;
}
