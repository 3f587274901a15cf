//! Typed schemas: the Swagger/OpenAPI documents, validation of every request against the
//! samples, and the typed values the guest receives.

use std::path::PathBuf;

use hyper::{Method, StatusCode};
use scorehost::{DeploymentSettings, SampleVisibility, SwaggerSettings};
use serde_json::{Value, json};

use crate::support::{TestResponse, TestServer, repo, ridge_model_dir, settings, twins};

async fn powerbi() -> TestServer {
    TestServer::with_defaults("powerbi").await
}

fn reference(name: &str) -> Value {
    let path = repo().join("../shared/reference/swagger").join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// The seed's Power BI request.
fn seed_request() -> Value {
    json!({
        "Inputs": {
            "input1": [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], [10, 9, 8, 7, 6, 5, 4, 3, 2, 1]],
            "input2": [{"name": "Sarah", "age": 25}, {"name": "John", "age": 26}],
            "input3": 0.0
        },
        "GlobalParameters": 1.0
    })
}

async fn swagger(server: &TestServer, query: &str) -> TestResponse {
    server
        .request(Method::GET, &format!("/swagger.json{query}"))
        .send()
        .await
}

twins!(
    swagger_documents_equal_the_azure_servers_for_the_seed_script {
        rust: "powerbi",
        python: "python/powerbi",
        js: "js/powerbi",
        wasi_python: "wasi-python/powerbi",
    }
);
async fn swagger_documents_equal_the_azure_servers_for_the_seed_script(plugin: &str) {
    let server = TestServer::with_defaults(plugin).await;
    for (query, file) in [
        ("", "seed_powerbi_fixed.v2.json"),
        ("?version=2", "seed_powerbi_fixed.v2.json"),
        ("?version=2.0", "seed_powerbi_fixed.v2.json"),
        ("?version=3", "seed_powerbi_fixed.v3.0.json"),
        ("?version=3.0", "seed_powerbi_fixed.v3.0.json"),
        ("?version=3.1", "seed_powerbi_fixed.v3.1.json"),
    ] {
        let response = swagger(&server, query).await;
        assert_eq!(response.status, StatusCode::OK, "{query}");
        assert_eq!(response.header("content-type"), Some("application/json"));
        assert_eq!(response.header("x-ms-run-function-failed"), Some("False"));
        assert_eq!(response.json(), reference(file), "{query} vs {file}");
    }
    let response = swagger(&server, "?version=4").await;
    assert_eq!(response.status, StatusCode::NOT_FOUND);
    assert_eq!(
        response.message(),
        "Swagger version [4] is not valid. Supported versions: [2, 3, 3.1]."
    );
    let response = server.request(Method::POST, "/swagger.json").send().await;
    assert_eq!(response.status, StatusCode::METHOD_NOT_ALLOWED);
    server.stop().await;
}

#[tokio::test]
async fn an_undecorated_script_documents_a_free_form_body_like_azure() {
    let server = TestServer::with_defaults("tutorial").await;
    let doc = swagger(&server, "").await.json();
    let raw = reference("rawhttp.v2.json");
    assert_eq!(doc["definitions"], raw["definitions"]);
    assert_eq!(doc["paths"], raw["paths"]);
    server.stop().await;
}

#[tokio::test]
async fn the_documents_pass_a_real_openapi_validator() {
    let server = powerbi().await;
    let dir = repo().join("target/test-swagger");
    std::fs::create_dir_all(&dir).unwrap();
    let mut files: Vec<PathBuf> = Vec::new();
    for (query, name) in [
        ("", "v2.json"),
        ("?version=3", "v3.0.json"),
        ("?version=3.1", "v3.1.json"),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, &swagger(&server, query).await.body).unwrap();
        files.push(path);
    }
    server.stop().await;
    let validator = crate::support::python_tool("openapi-spec-validator", "openapi-spec-validator");
    for file in files {
        let output = std::process::Command::new(&validator)
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}: {}{}",
            file.display(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

twins!(
    the_documented_example_scores_and_the_seed_request_gets_results {
        rust: "powerbi",
        python: "python/powerbi",
        js: "js/powerbi",
    }
);
async fn the_documented_example_scores_and_the_seed_request_gets_results(plugin: &str) {
    let server = TestServer::with_defaults(plugin).await;
    let example =
        swagger(&server, "").await.json()["definitions"]["ServiceInput"]["example"].clone();
    let response = server.score(&example).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());

    let response = server.score(&seed_request()).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    let body = response.json();
    let results = body["Results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    assert!(
        (results[0].as_f64().unwrap() - 5430.917515226917).abs() < 1e-6,
        "{body}"
    );
    assert_eq!(body, example_response(&server).await);
    server.stop().await;
}

/// The same request sent to the untyped `ridge` plugin gives the same numbers.
async fn example_response(_typed: &TestServer) -> Value {
    let ridge = TestServer::with_defaults("ridge").await;
    let response = ridge.score(&seed_request()).await;
    ridge.stop().await;
    json!({ "Results": response.json() })
}

/// Sends the seed request with one change and expects a 400 naming `path`.
async fn assert_rejected(
    server: &TestServer,
    change: impl FnOnce(&mut Value),
    path: &str,
    message: &str,
) {
    let mut request = seed_request();
    change(&mut request);
    let response = server.score(&request).await;
    assert_eq!(
        response.status,
        StatusCode::BAD_REQUEST,
        "{path}: {}",
        response.text()
    );
    assert_eq!(response.header("x-ms-run-function-failed"), Some("False"));
    let body = response.json();
    assert_eq!(body["path"], path, "{body}");
    assert_eq!(body["message"], format!("{path}: {message}"), "{body}");
}

/// An edit of the seed request.
type Change = Box<dyn FnOnce(&mut Value)>;

twins!(
    requests_that_do_not_fit_the_samples_get_400_naming_the_field {
        rust: "powerbi",
        python: "python/powerbi",
        js: "js/powerbi",
        wasi_python: "wasi-python/powerbi",
    }
);
async fn requests_that_do_not_fit_the_samples_get_400_naming_the_field(plugin: &str) {
    let server = TestServer::with_defaults(plugin).await;
    let cases: Vec<(Change, &str, &str)> = vec![
        (
            Box::new(|r| r["Inputs"]["input1"][1][3] = json!("7")),
            "Inputs.input1[1][3]",
            "expected a number, got the string \"7\"",
        ),
        (
            Box::new(|r| r["Inputs"]["input1"][0][0] = json!(true)),
            "Inputs.input1[0][0]",
            "expected a number, got true",
        ),
        (
            Box::new(|r| r["Inputs"]["input1"][0][0] = json!(null)),
            "Inputs.input1[0][0]",
            "expected a number, got null",
        ),
        (
            Box::new(|r| r["Inputs"]["input1"] = json!([1, 2, 3])),
            "Inputs.input1[0]",
            "expected a list (1 more level of nesting), got 1",
        ),
        (
            Box::new(|r| r["Inputs"]["input1"] = json!([[[1]]])),
            "Inputs.input1[0][0]",
            "expected a number, got a list (the input has more dimensions than the sample's 2)",
        ),
        (
            Box::new(|r| r["Inputs"]["input1"] = json!([[1, 2, 3]])),
            "Inputs.input1",
            "expected shape [*, 10], got [1, 3]",
        ),
        (
            Box::new(|r| r["Inputs"]["input1"] = json!([[1, 2], [3]])),
            "Inputs.input1[1]",
            "has 1 elements where the rows before it have 2 (ragged array)",
        ),
        (
            Box::new(|r| r["Inputs"]["input1"] = json!("abc")),
            "Inputs.input1",
            "expected a list (2 more levels of nesting), got the string \"abc\"",
        ),
        (
            Box::new(|r| {
                r["Inputs"].as_object_mut().unwrap().remove("input2");
            }),
            "Inputs.input2",
            "is missing",
        ),
        (
            Box::new(|r| {
                r["Inputs"]["input2"][1]
                    .as_object_mut()
                    .unwrap()
                    .remove("age");
            }),
            "Inputs.input2[1].age",
            "is missing",
        ),
        (
            Box::new(|r| r["Inputs"]["input2"][0]["height"] = json!(1.8)),
            "Inputs.input2[0].height",
            "is not a column of the sample",
        ),
        (
            Box::new(|r| r["Inputs"]["input2"][0]["age"] = json!(25.5)),
            "Inputs.input2[0].age",
            "expected an integer, got 25.5",
        ),
        (
            Box::new(|r| r["Inputs"]["input2"][0]["name"] = json!(7)),
            "Inputs.input2[0].name",
            "expected a string, got 7",
        ),
        (
            Box::new(|r| r["Inputs"]["input2"] = json!({"name": "x"})),
            "Inputs.input2.name",
            "expected a list of the column's values",
        ),
        (
            Box::new(|r| r["Inputs"]["input2"] = json!({"name": ["x", "y"], "age": [1]})),
            "Inputs.input2.age",
            "has 1 rows, the first column 2",
        ),
        (
            Box::new(|r| r["Inputs"]["input2"] = json!("x")),
            "Inputs.input2",
            "expected a list of records, or an object of column lists",
        ),
        (
            Box::new(|r| r["Inputs"]["input3"] = json!("abc")),
            "Inputs.input3",
            "expected a number, got the string \"abc\"",
        ),
        (
            Box::new(|r| r["GlobalParameters"] = json!("abc")),
            "GlobalParameters",
            "expected a number, got the string \"abc\"",
        ),
        (
            Box::new(|r| r["GlobalParameters"] = json!(null)),
            "GlobalParameters",
            "expected a number, got null",
        ),
    ];
    for (change, path, message) in cases {
        assert_rejected(&server, change, path, message).await;
    }
    // A missing top-level parameter has the Azure ML server's message and no path.
    let mut request = seed_request();
    request.as_object_mut().unwrap().remove("GlobalParameters");
    let response = server.score(&request).await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        response.json(),
        json!({"message": "A value is not provided for the 'GlobalParameters' parameter."})
    );
    // Top-level parameters are looked for before their contents, as the Azure ML server
    // binds `run`'s arguments before converting them.
    request["Inputs"].as_object_mut().unwrap().remove("input1");
    let response = server.score(&request).await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        response.json(),
        json!({"message": "A value is not provided for the 'GlobalParameters' parameter."})
    );

    // Integers are fine where floats are expected (numpy casts them); unknown inputs and
    // top-level keys are ignored, as the Azure ML server ignores them.
    let mut request = seed_request();
    request["Inputs"]["input3"] = json!(2);
    request["Inputs"]["input9"] = json!("ignored");
    request["extra"] = json!(1);
    request["GlobalParameters"] = json!(3);
    let response = server.score(&request).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    server.stop().await;
}

fn hex_f64(values: &[&str]) -> String {
    values
        .iter()
        .flat_map(|v| v.parse::<f64>().unwrap().to_le_bytes())
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn hex<const N: usize>(bytes: impl IntoIterator<Item = [u8; N]>) -> String {
    bytes
        .into_iter()
        .flatten()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test]
async fn the_guest_receives_typed_values_bit_exact() {
    let server = TestServer::with_defaults("typed_echo").await;
    let floats = [
        "0.1",
        "-0.0",
        "1e-300",
        "5e-324",
        "1.7976931348623157e308",
        "2.2250738585072014e-308",
    ];
    let body = format!(
        r#"{{"Inputs": {{
            "matrix": [[{f0}, {f1}, {f2}], [{f3}, {f4}, {f5}]],
            "ints": [2147483647, -2147483648, 7.0],
            "flags": [true, false, true],
            "names": ["héllo", ""],
            "people": [{{"name": "Sarah", "age": 25}}, {{"age": -1, "name": "Jo"}}],
            "split": {{"columns": ["ok", "x"], "index": [0, 1], "data": [[true, 0.5], [false, 3]]}},
            "by_column": {{"n": {{"1": 9, "0": 255}}}},
            "options": {{"threshold": 0.25, "tags": ["x", "y"], "extra": null}}
        }}}}"#,
        f0 = floats[0],
        f1 = floats[1],
        f2 = floats[2],
        f3 = floats[3],
        f4 = floats[4],
        f5 = floats[5]
    );
    let response = server
        .request(Method::POST, "/score")
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    let got = response.json();
    let inputs = &got["inputs"];
    assert_eq!(
        inputs["matrix"],
        json!({"tensor": {"dtype": "Float64", "shape": [2, 3], "elements": {"hex": hex_f64(&floats)}}})
    );
    assert_eq!(
        inputs["ints"]["tensor"]["elements"]["hex"],
        hex([
            i32::MAX.to_le_bytes(),
            i32::MIN.to_le_bytes(),
            7i32.to_le_bytes()
        ])
    );
    assert_eq!(inputs["flags"]["tensor"]["elements"]["hex"], "010001");
    assert_eq!(
        inputs["names"]["tensor"]["elements"]["strings"],
        json!(["héllo", ""])
    );
    assert_eq!(
        inputs["people"]["frame"],
        json!([
            {"name": "name", "values": {"dtype": "Str", "shape": [2], "elements": {"strings": ["Sarah", "Jo"]}}},
            {"name": "age", "values": {"dtype": "Int64", "shape": [2], "elements": {"hex": hex([25i64.to_le_bytes(), (-1i64).to_le_bytes()])}}}
        ])
    );
    // Split: columns come in the sample's order whatever the request's order.
    assert_eq!(
        inputs["split"]["frame"],
        json!([
            {"name": "x", "values": {"dtype": "Float32", "shape": [2], "elements": {"hex": hex([0.5f32.to_le_bytes(), 3f32.to_le_bytes()])}}},
            {"name": "ok", "values": {"dtype": "Bool", "shape": [2], "elements": {"hex": "0100"}}}
        ])
    );
    // Columns orient: rows in index order.
    assert_eq!(
        inputs["by_column"]["frame"][0]["values"]["elements"]["hex"],
        "ff09"
    );
    assert_eq!(
        inputs["options"],
        json!({"json": {"threshold": 0.25, "tags": ["x", "y"], "extra": null}})
    );
    assert_eq!(got["global_parameters"], Value::Null, "optional and absent");

    // Out-of-range integers and wrong element types are refused.
    for (input, value, path, message) in [
        (
            "ints",
            json!([2147483648i64]),
            "Inputs.ints[0]",
            "2147483648 does not fit in int32",
        ),
        (
            "ints",
            json!([1.5]),
            "Inputs.ints[0]",
            "expected an integer, got 1.5",
        ),
        (
            "flags",
            json!([1]),
            "Inputs.flags[0]",
            "expected true or false, got 1",
        ),
        (
            "names",
            json!([1]),
            "Inputs.names[0]",
            "expected a string, got 1",
        ),
        (
            "by_column",
            json!({"n": {"0": 256}}),
            "Inputs.by_column.n.0",
            "256 does not fit in uint8",
        ),
        (
            "split",
            json!({"columns": ["x"], "data": [[1]]}),
            "Inputs.split.columns",
            "lacks column \"ok\"",
        ),
        (
            "options",
            json!({"threshold": 1}),
            "Inputs.options.tags",
            "is missing",
        ),
        (
            "options",
            json!({"threshold": 1, "tags": [1]}),
            "Inputs.options.tags[0]",
            "expected a string, got 1",
        ),
    ] {
        let mut request: Value = serde_json::from_str(&typed_echo_valid()).unwrap();
        request["Inputs"][input] = value;
        let response = server.score(&request).await;
        assert_eq!(
            response.status,
            StatusCode::BAD_REQUEST,
            "{input}: {}",
            response.text()
        );
        assert_eq!(response.json()["message"], format!("{path}: {message}"));
    }
    server.stop().await;
}

fn typed_echo_valid() -> String {
    json!({"Inputs": {
        "matrix": [[1, 2, 3]], "ints": [1], "flags": [true], "names": ["a"],
        "people": [{"name": "a", "age": 1}],
        "split": {"columns": ["x", "ok"], "data": [[1, true]]},
        "by_column": {"n": {"0": 1}},
        "options": {"threshold": 1, "tags": []}
    }})
    .to_string()
}

#[tokio::test]
async fn redacted_samples_keep_types_and_shapes_but_not_values() {
    let server = TestServer::start_with(DeploymentSettings {
        swagger: SwaggerSettings {
            samples: SampleVisibility::Redact,
            ..SwaggerSettings::default()
        },
        ..settings("powerbi", &ridge_model_dir())
    })
    .await;
    let shown = reference("seed_powerbi_fixed.v2.json");
    let doc = swagger(&server, "").await.json();
    let example = &doc["definitions"]["ServiceInput"]["example"];
    assert_eq!(
        example["Inputs"]["input1"],
        json!([vec![0.0; 10], vec![0.0; 10]])
    );
    assert_eq!(
        example["Inputs"]["input2"],
        json!([{"name": "string", "age": 0}, {"name": "string", "age": 0}])
    );
    assert_eq!(example["GlobalParameters"], json!(0.0));
    assert_eq!(
        doc["definitions"]["ServiceOutput"]["example"],
        json!({"Results": [0.0, 0.0]})
    );
    // Types are untouched.
    assert_eq!(
        doc["definitions"]["ServiceInput"]["properties"],
        shown["definitions"]["ServiceInput"]["properties"]
    );
    let v3 = swagger(&server, "?version=3").await.text();
    assert!(!v3.contains("Sarah") && !v3.contains("10.0"), "{v3}");
    server.stop().await;
}
