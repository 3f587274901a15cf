//! A closed-loop gRPC load generator for the benchmark (`cargo xtask bench`): `CONNS` HTTP/2
//! connections, each sending one `ModelInfer` call after another for `SECONDS`, the wrk of
//! the gRPC rows. The request is an Open Inference Protocol JSON request (FP64, INT64 and
//! BYTES inputs) sent as raw contents, as tritonclient sends it.
//!
//! Usage: `grpc_load ADDR MODEL REQUEST_JSON_FILE CONNS SECONDS`; prints one line:
//! `requests=N errors=E rps=R p50_us=P p99_us=Q p999_us=T`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use http_body_util::{BodyExt, Full};
use prost::Message;
use scorehost::http::grpc_messages::{InferInputTensor, ModelInferRequest};
use serde_json::Value;

/// The OIP JSON request as a ModelInferRequest with raw contents, framed for gRPC.
fn framed_request(model: &str, json: &Value) -> Bytes {
    let mut inputs = Vec::new();
    let mut raw = Vec::new();
    for input in json["inputs"].as_array().expect("inputs") {
        let datatype = input["datatype"].as_str().expect("datatype");
        let mut flat = Vec::new();
        fn leaves(v: &Value, out: &mut Vec<Value>) {
            match v {
                Value::Array(items) => items.iter().for_each(|i| leaves(i, out)),
                leaf => out.push(leaf.clone()),
            }
        }
        leaves(&input["data"], &mut flat);
        let mut bytes = BytesMut::new();
        for value in &flat {
            match datatype {
                "FP64" => bytes.put_f64_le(value.as_f64().expect("a number")),
                "INT64" => bytes.put_i64_le(value.as_i64().expect("an integer")),
                "BYTES" => {
                    let text = value.as_str().expect("a string");
                    bytes.put_u32_le(text.len() as u32);
                    bytes.put_slice(text.as_bytes());
                }
                other => panic!("{other} is not supported by this load generator"),
            }
        }
        inputs.push(InferInputTensor {
            name: input["name"].as_str().expect("name").to_owned(),
            datatype: datatype.to_owned(),
            shape: input["shape"]
                .as_array()
                .expect("shape")
                .iter()
                .map(|d| d.as_i64().expect("a dimension"))
                .collect(),
            ..InferInputTensor::default()
        });
        raw.push(bytes.freeze());
    }
    let message = ModelInferRequest {
        model_name: model.to_owned(),
        inputs,
        raw_input_contents: raw,
        ..ModelInferRequest::default()
    };
    let encoded = message.encode_to_vec();
    let mut framed = BytesMut::with_capacity(5 + encoded.len());
    framed.put_u8(0);
    framed.put_u32(encoded.len() as u32);
    framed.put_slice(&encoded);
    framed.freeze()
}

/// One connection's loop until `deadline`: latencies of the calls that succeeded, and the
/// number that did not.
async fn connection(addr: SocketAddr, body: Bytes, deadline: Instant) -> (Vec<u32>, u64) {
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    tcp.set_nodelay(true).expect("nodelay");
    let (mut sender, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tcp),
    )
    .await
    .expect("HTTP/2 handshake");
    tokio::spawn(conn);
    let uri = format!("http://{addr}/inference.GRPCInferenceService/ModelInfer");
    let (mut latencies, mut errors) = (Vec::new(), 0u64);
    while Instant::now() < deadline {
        let request = hyper::Request::post(&uri)
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .body(Full::new(body.clone()))
            .expect("request");
        let started = Instant::now();
        let ok = match sender.send_request(request).await {
            Ok(response) => match response.into_body().collect().await {
                Ok(collected) => collected
                    .trailers()
                    .and_then(|t| t.get("grpc-status"))
                    .is_some_and(|s| s == "0"),
                Err(_) => false,
            },
            Err(_) => false,
        };
        if ok {
            latencies.push(started.elapsed().as_micros().min(u32::MAX as u128) as u32);
        } else {
            errors += 1;
        }
    }
    (latencies, errors)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, addr, model, request, conns, seconds] = args.as_slice() else {
        eprintln!("usage: grpc_load ADDR MODEL REQUEST_JSON_FILE CONNS SECONDS");
        std::process::exit(2);
    };
    let addr: SocketAddr = addr.parse().expect("ADDR");
    let json: Value =
        serde_json::from_slice(&std::fs::read(request).expect("REQUEST_JSON_FILE")).expect("JSON");
    let conns: usize = conns.parse().expect("CONNS");
    let seconds: u64 = seconds.parse().expect("SECONDS");
    let body = framed_request(model, &json);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let results = runtime.block_on(async {
        let tasks: Vec<_> = (0..conns)
            .map(|_| tokio::spawn(connection(addr, body.clone(), deadline)))
            .collect();
        let mut all = Vec::new();
        for task in tasks {
            all.push(task.await.expect("a connection task"));
        }
        all
    });
    let elapsed = started.elapsed().as_secs_f64();
    let errors: u64 = results.iter().map(|(_, e)| e).sum();
    let mut latencies: Vec<u32> = results.into_iter().flat_map(|(l, _)| l).collect();
    latencies.sort_unstable();
    let at = |q: f64| {
        latencies
            .get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    println!(
        "requests={} errors={errors} rps={:.1} p50_us={} p99_us={} p999_us={}",
        latencies.len(),
        latencies.len() as f64 / elapsed,
        at(0.5),
        at(0.99),
        at(0.999)
    );
}
