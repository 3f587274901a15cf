//! The benchmark's ceiling: the seed's Power BI scoring done natively in a hyper handler (no
//! Wasm, no validation beyond what the computation needs), on the same model file.
//!
//! `GET /` answers `Healthy` and nothing else: the floor of any server on this machine.
//!
//! `cargo run --release -p scorehost --example native_ridge -- ADDR MODEL_DIR [EXTRA_NS]`
//!
//! `EXTRA_NS` (default 0) adds that many nanoseconds of busy CPU to every `/score` request:
//! the calibration in BENCHMARKS.md (what a microsecond of server CPU per request costs in
//! req/s when the load generator shares the cores).

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

struct Model {
    coef: Vec<f64>,
    intercept: f64,
}

fn score(model: &Model, body: &[u8]) -> Result<Value, String> {
    let body: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let rows = body["Inputs"]["input1"]
        .as_array()
        .ok_or("no Inputs.input1")?;
    let results = rows
        .iter()
        .map(|row| {
            let row = row.as_array().ok_or("row is not a list")?;
            let dot: f64 = row
                .iter()
                .zip(&model.coef)
                .map(|(x, c)| x.as_f64().unwrap_or(f64::NAN) * c)
                .sum();
            Ok(model.intercept + dot)
        })
        .collect::<Result<Vec<f64>, String>>()?;
    Ok(json!({ "Results": results }))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:5003".to_owned());
    let model_dir = args
        .next()
        .unwrap_or_else(|| "plugins/ridge/model".to_owned());
    let extra = std::time::Duration::from_nanos(match args.next() {
        Some(ns) => ns.parse()?,
        None => 0,
    });
    let text = std::fs::read_to_string(format!("{model_dir}/sklearn_regression_model.json"))?;
    let file: Value = serde_json::from_str(&text)?;
    let model = Arc::new(Model {
        coef: serde_json::from_value(file["coef"].clone())?,
        intercept: file["intercept"].as_f64().unwrap_or(0.0),
    });
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("Listening on http://{}", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let model = model.clone();
        let service = service_fn(move |req: Request<hyper::body::Incoming>| {
            let model = model.clone();
            async move {
                // The loopback floor: an answer that costs nothing to make.
                if req.method() == hyper::Method::GET && req.uri().path() == "/" {
                    return Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(
                        b"Healthy",
                    ))));
                }
                if !extra.is_zero() {
                    let started = std::time::Instant::now();
                    while started.elapsed() < extra {
                        std::hint::spin_loop();
                    }
                }
                let body = req.into_body().collect().await.map(|b| b.to_bytes());
                let (status, out) = match body
                    .map_err(|e| e.to_string())
                    .and_then(|b| score(&model, &b))
                {
                    Ok(v) => (StatusCode::OK, v),
                    Err(e) => (StatusCode::BAD_REQUEST, json!({ "message": e })),
                };
                let mut response = Response::new(Full::new(Bytes::from(out.to_string())));
                *response.status_mut() = status;
                response
                    .headers_mut()
                    .insert("content-type", "application/json".parse().expect("static"));
                Ok::<_, Infallible>(response)
            }
        });
        tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(stream), service));
    }
}
