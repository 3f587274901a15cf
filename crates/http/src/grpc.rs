//! The Open Inference Protocol's gRPC form (`inference.GRPCInferenceService`: ServerLive,
//! ServerReady, ModelReady, ServerMetadata, ModelMetadata, ModelInfer) on the HTTP port, over
//! HTTP/2.
//!
//! Each call is put in its REST form (`GET /v2/health/live`, `POST /v2/models/NAME/infer` with
//! binary tensors, …) and answered by the same routes (`App::handle`), so keys, request ids,
//! limits, batching, metrics, data collection and logs are the REST routes', and the answers
//! equal theirs bit for bit. The REST answer is turned back into the gRPC message, and its
//! status into a gRPC code, here (`status`), the one place.

pub mod messages;

use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use http_body_util::{BodyExt, Either, Full};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, StatusCode};
use serde_json::{Value, json};
use tonic::metadata::MetadataMap;
use tonic::server::Grpc;
use tonic::{Code, Status};
use tonic_prost::ProstCodec;

use super::routes::{App, GrpcCall};
use messages::*;

/// The binary extension's header: the JSON header's length in a binary body.
const HEADER_LENGTH: HeaderName = HeaderName::from_static("inference-header-content-length");

/// The service's path prefix.
const SERVICE: &str = "/inference.GRPCInferenceService/";

/// Whether `req` is a gRPC call (`application/grpc`, `application/grpc+proto`, …; not
/// grpc-web).
pub(crate) fn is_grpc<B>(req: &Request<B>) -> bool {
    req.headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct == "application/grpc"
                || ct.starts_with("application/grpc+")
                || ct.starts_with("application/grpc;")
        })
}

/// Answers one gRPC call.
pub(crate) async fn call(
    app: Arc<App>,
    req: Request<Incoming>,
) -> hyper::Response<tonic::body::Body> {
    let method = req
        .uri()
        .path()
        .strip_prefix(SERVICE)
        .unwrap_or("")
        .to_owned();
    macro_rules! unary {
        ($request:ty, $response:ty, $handler:expr) => {{
            let app = app.clone();
            let service = move |request: tonic::Request<$request>| {
                let app = app.clone();
                async move { $handler(&app, request).await }
            };
            Grpc::new(ProstCodec::<$response, $request>::default())
                .unary(Unary(service), req)
                .await
        }};
    }
    match method.as_str() {
        "ServerLive" => unary!(ServerLiveRequest, ServerLiveResponse, server_live),
        "ServerReady" => unary!(ServerReadyRequest, ServerReadyResponse, server_ready),
        "ModelReady" => unary!(ModelReadyRequest, ModelReadyResponse, model_ready),
        "ServerMetadata" => unary!(
            ServerMetadataRequest,
            ServerMetadataResponse,
            server_metadata
        ),
        "ModelMetadata" => unary!(ModelMetadataRequest, ModelMetadataResponse, model_metadata),
        "ModelInfer" => unary!(ModelInferRequest, ModelInferResponse, model_infer),
        _ => Status::unimplemented(format!(
            "no such method: {} (this server has inference.GRPCInferenceService's unary methods)",
            req.uri().path()
        ))
        .into_http(),
    }
}

/// A handler as the service tonic's unary calls take.
struct Unary<F>(F);

impl<R, M, F, Fut> tonic::codegen::Service<tonic::Request<R>> for Unary<F>
where
    F: FnMut(tonic::Request<R>) -> Fut,
    Fut: Future<Output = Result<tonic::Response<M>, Status>>,
{
    type Response = tonic::Response<M>;
    type Error = Status;
    type Future = Fut;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Status>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: tonic::Request<R>) -> Fut {
        (self.0)(request)
    }
}

/// A REST answer: status, headers, body.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Answer {
    /// The JSON body.
    fn json(&self) -> Result<Value, Status> {
        serde_json::from_slice(&self.body)
            .map_err(|_| Status::internal("the REST route answered something that is not JSON"))
    }

    /// The headers a gRPC client sees as response metadata: the request ids and the run's.
    fn metadata(&self) -> MetadataMap {
        let mut kept = HeaderMap::new();
        for (name, value) in &self.headers {
            let name_text = name.as_str();
            if name_text.starts_with("x-") || name_text == "retry-after" {
                kept.append(name.clone(), value.clone());
            }
        }
        MetadataMap::from_headers(kept)
    }

    /// Fails unless the answer is a success, with the REST answer's message and its status as
    /// a gRPC code.
    fn ok(self) -> Result<Self, Status> {
        if self.status.is_success() {
            Ok(self)
        } else {
            Err(status(&self))
        }
    }

    fn reply<M>(&self, message: M) -> tonic::Response<M> {
        let mut response = tonic::Response::new(message);
        *response.metadata_mut() = self.metadata();
        response
    }
}

/// A failed REST answer as a gRPC status: the code for its HTTP status, its message (the
/// `error` of an Open Inference Protocol body, the `message` of the host's own), and its
/// headers (`x-request-id`, `retry-after`, …) as metadata.
fn status(answer: &Answer) -> Status {
    let code = match answer.status.as_u16() {
        400 | 415 | 422 => Code::InvalidArgument,
        401 => Code::Unauthenticated,
        403 => Code::PermissionDenied,
        404 => Code::NotFound,
        405 | 501 => Code::Unimplemented,
        408 | 504 => Code::DeadlineExceeded,
        413 | 431 => Code::ResourceExhausted,
        503 => Code::Unavailable,
        500 => Code::Internal,
        _ => Code::Unknown,
    };
    let message = serde_json::from_slice::<Value>(&answer.body)
        .ok()
        .and_then(|v| {
            v.get("error")
                .or_else(|| v.get("message"))
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .unwrap_or_else(|| String::from_utf8_lossy(&answer.body).into_owned());
    Status::with_metadata(code, message, answer.metadata())
}

/// Calls the REST route `method path` with the call's metadata as headers (its key, request
/// ids, trace context) and `body`, through the same handler as an HTTP request.
async fn rest(
    app: &App,
    method: Method,
    path: &str,
    metadata: &MetadataMap,
    body: Option<(Bytes, usize)>,
) -> Answer {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .extension(GrpcCall);
    if let Some(headers) = req.headers_mut() {
        for (name, value) in metadata.clone().into_headers() {
            let Some(name) = name else { continue };
            let reserved = name == CONTENT_TYPE
                || name.as_str() == "te"
                || name.as_str().starts_with("grpc-")
                || name.as_str() == "content-length";
            if !reserved {
                headers.append(name, value);
            }
        }
        if let Some((_, json_length)) = &body {
            headers.insert(
                CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            );
            headers.insert(HEADER_LENGTH, HeaderValue::from(*json_length));
        }
    }
    let bytes = body.map(|(bytes, _)| bytes).unwrap_or_default();
    let req = match req.body(Either::Right(Full::new(bytes))) {
        Ok(req) => req,
        Err(_) => {
            return Answer {
                status: StatusCode::BAD_REQUEST,
                headers: HeaderMap::new(),
                body: Bytes::from_static(
                    br#"{"error": "the model name or version is not valid in a path"}"#,
                ),
            };
        }
    };
    let response = app.handle(req).await;
    let (parts, body) = response.into_parts();
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(never) => match never {},
    };
    Answer {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

/// `/v2/models/NAME[/versions/V]`: NOT_FOUND for a name or version no deployment could have
/// (anything but letters, digits, `-`, `_` and `.`), so a name cannot reach another route.
fn model_path(name: &str, version: &str) -> Result<String, Status> {
    let plain = |text: &str| {
        !text.is_empty()
            && text != "."
            && text != ".."
            && text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    if !plain(name) {
        return Err(Status::not_found(format!("unknown model: {name:?}")));
    }
    if version.is_empty() {
        Ok(format!("/v2/models/{name}"))
    } else if plain(version) {
        Ok(format!("/v2/models/{name}/versions/{version}"))
    } else {
        Err(Status::not_found(format!(
            "model '{name}' has no version {version:?}"
        )))
    }
}

async fn server_live(
    app: &App,
    request: tonic::Request<ServerLiveRequest>,
) -> Result<tonic::Response<ServerLiveResponse>, Status> {
    let answer = rest(
        app,
        Method::GET,
        "/v2/health/live",
        request.metadata(),
        None,
    )
    .await
    .ok()?;
    let live = answer.json()?["live"].as_bool().unwrap_or(false);
    Ok(answer.reply(ServerLiveResponse { live }))
}

async fn server_ready(
    app: &App,
    request: tonic::Request<ServerReadyRequest>,
) -> Result<tonic::Response<ServerReadyResponse>, Status> {
    let answer = rest(
        app,
        Method::GET,
        "/v2/health/ready",
        request.metadata(),
        None,
    )
    .await;
    // Not ready is an answer, not a failure (503 on REST).
    let ready = answer.status.is_success();
    if !ready && answer.status != StatusCode::SERVICE_UNAVAILABLE {
        return Err(status(&answer));
    }
    Ok(answer.reply(ServerReadyResponse { ready }))
}

async fn model_ready(
    app: &App,
    request: tonic::Request<ModelReadyRequest>,
) -> Result<tonic::Response<ModelReadyResponse>, Status> {
    let message = request.get_ref();
    let path = format!("{}/ready", model_path(&message.name, &message.version)?);
    let answer = rest(app, Method::GET, &path, request.metadata(), None).await;
    // A model still loading, or with no healthy instance, is not ready: an answer, as REST's
    // 503 (KServe's client would retry UNAVAILABLE).
    let ready = answer.status.is_success();
    if !ready && answer.status != StatusCode::SERVICE_UNAVAILABLE {
        return Err(status(&answer));
    }
    Ok(answer.reply(ModelReadyResponse { ready }))
}

async fn server_metadata(
    app: &App,
    request: tonic::Request<ServerMetadataRequest>,
) -> Result<tonic::Response<ServerMetadataResponse>, Status> {
    let answer = rest(app, Method::GET, "/v2", request.metadata(), None)
        .await
        .ok()?;
    let body = answer.json()?;
    let text = |key: &str| body[key].as_str().unwrap_or_default().to_owned();
    Ok(answer.reply(ServerMetadataResponse {
        name: text("name"),
        version: text("version"),
        extensions: strings(&body["extensions"]),
    }))
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn tensors(value: &Value) -> Vec<TensorMetadata> {
    value
        .as_array()
        .map(|a| {
            a.iter()
                .map(|t| TensorMetadata {
                    name: t["name"].as_str().unwrap_or_default().to_owned(),
                    datatype: t["datatype"].as_str().unwrap_or_default().to_owned(),
                    shape: t["shape"]
                        .as_array()
                        .map(|s| s.iter().filter_map(Value::as_i64).collect())
                        .unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default()
}

async fn model_metadata(
    app: &App,
    request: tonic::Request<ModelMetadataRequest>,
) -> Result<tonic::Response<ModelMetadataResponse>, Status> {
    let message = request.get_ref();
    let path = model_path(&message.name, &message.version)?;
    let answer = rest(app, Method::GET, &path, request.metadata(), None)
        .await
        .ok()?;
    let body = answer.json()?;
    Ok(answer.reply(ModelMetadataResponse {
        name: body["name"].as_str().unwrap_or_default().to_owned(),
        versions: strings(&body["versions"]),
        platform: body["platform"].as_str().unwrap_or_default().to_owned(),
        inputs: tensors(&body["inputs"]),
        outputs: tensors(&body["outputs"]),
    }))
}

async fn model_infer(
    app: &App,
    request: tonic::Request<ModelInferRequest>,
) -> Result<tonic::Response<ModelInferResponse>, Status> {
    let (metadata, _, message) = request.into_parts();
    let path = format!(
        "{}/infer",
        model_path(&message.model_name, &message.model_version)?
    );
    let (body, json_length) = rest_request(&message)?;
    let answer = rest(
        app,
        Method::POST,
        &path,
        &metadata,
        Some((body, json_length)),
    )
    .await
    .ok()?;
    let reply = infer_reply(&answer)?;
    Ok(answer.reply(reply))
}

/// A ModelInfer call as the REST binary extension's body: the JSON header (every output
/// asked for binary) and each input's bytes, raw as given or made from its typed contents.
fn rest_request(message: &ModelInferRequest) -> Result<(Bytes, usize), Status> {
    let raw = &message.raw_input_contents;
    if !raw.is_empty() && raw.len() != message.inputs.len() {
        return Err(Status::invalid_argument(format!(
            "{} raw_input_contents for {} inputs: give one per input, in order, or none",
            raw.len(),
            message.inputs.len()
        )));
    }
    let mut data = Vec::with_capacity(message.inputs.len());
    for (i, input) in message.inputs.iter().enumerate() {
        let bytes = match (raw.get(i), &input.contents) {
            (Some(_), Some(_)) => {
                return Err(Status::invalid_argument(format!(
                    "input '{}': contents and raw_input_contents are both given",
                    input.name
                )));
            }
            (Some(bytes), None) => bytes.clone(),
            (None, Some(contents)) => typed_bytes(&input.name, &input.datatype, contents)?,
            (None, None) => {
                return Err(Status::invalid_argument(format!(
                    "input '{}': no contents",
                    input.name
                )));
            }
        };
        data.push(bytes);
    }
    let inputs: Vec<Value> = message
        .inputs
        .iter()
        .zip(&data)
        .map(|(input, bytes)| {
            json!({
                "name": input.name,
                "datatype": input.datatype,
                "shape": input.shape,
                "parameters": {"binary_data_size": bytes.len()},
            })
        })
        .collect();
    let mut header = json!({
        "inputs": inputs,
        "parameters": {"binary_data_output": true},
    });
    if !message.id.is_empty() {
        header["id"] = json!(message.id);
    }
    if !message.outputs.is_empty() {
        header["outputs"] = message
            .outputs
            .iter()
            .map(|o| json!({"name": o.name, "parameters": {"binary_data": true}}))
            .collect();
    }
    let header = header.to_string();
    let total = header.len() + data.iter().map(Bytes::len).sum::<usize>();
    let mut body = BytesMut::with_capacity(total);
    body.put_slice(header.as_bytes());
    for bytes in &data {
        body.put_slice(bytes);
    }
    Ok((body.freeze(), header.len()))
}

/// An input's typed contents as the little-endian bytes of its datatype (BYTES: each element
/// a 4-byte length and its bytes); a value out of the datatype's range or a field that does
/// not match the datatype is INVALID_ARGUMENT.
fn typed_bytes(name: &str, datatype: &str, c: &InferTensorContents) -> Result<Bytes, Status> {
    let out_of_range = |value: &dyn std::fmt::Display| {
        Status::invalid_argument(format!("input '{name}': {value} does not fit {datatype}"))
    };
    let mut out = BytesMut::new();
    match datatype {
        "BOOL" => c
            .bool_contents
            .iter()
            .for_each(|&b| out.put_u8(u8::from(b))),
        "INT8" => {
            for &v in &c.int_contents {
                out.put_i8(i8::try_from(v).map_err(|_| out_of_range(&v))?);
            }
        }
        "INT16" => {
            for &v in &c.int_contents {
                out.put_i16_le(i16::try_from(v).map_err(|_| out_of_range(&v))?);
            }
        }
        "INT32" => c.int_contents.iter().for_each(|&v| out.put_i32_le(v)),
        "INT64" => c.int64_contents.iter().for_each(|&v| out.put_i64_le(v)),
        "UINT8" => {
            for &v in &c.uint_contents {
                out.put_u8(u8::try_from(v).map_err(|_| out_of_range(&v))?);
            }
        }
        "UINT16" => {
            for &v in &c.uint_contents {
                out.put_u16_le(u16::try_from(v).map_err(|_| out_of_range(&v))?);
            }
        }
        "UINT32" => c.uint_contents.iter().for_each(|&v| out.put_u32_le(v)),
        "UINT64" => c.uint64_contents.iter().for_each(|&v| out.put_u64_le(v)),
        "FP32" => c.fp32_contents.iter().for_each(|&v| out.put_f32_le(v)),
        "FP64" => c.fp64_contents.iter().for_each(|&v| out.put_f64_le(v)),
        "BYTES" => {
            for element in &c.bytes_contents {
                let length = u32::try_from(element.len()).map_err(|_| {
                    Status::invalid_argument(format!("input '{name}': an element over 4 GiB"))
                })?;
                out.put_u32_le(length);
                out.put_slice(element);
            }
        }
        other => {
            return Err(Status::invalid_argument(format!(
                "input '{name}': {other} has no typed contents field; send it in raw_input_contents"
            )));
        }
    }
    Ok(out.freeze())
}

/// The REST binary answer (JSON header, then each output's bytes) as a ModelInferResponse
/// with raw output contents, as Triton answers.
fn infer_reply(answer: &Answer) -> Result<ModelInferResponse, Status> {
    let internal = |what: &str| Status::internal(format!("the REST answer {what}"));
    let json_length = match answer.headers.get(HEADER_LENGTH) {
        Some(value) => value
            .to_str()
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .ok_or_else(|| internal("has a bad header length"))?,
        None => answer.body.len(),
    };
    let header: Value = serde_json::from_slice(
        answer
            .body
            .get(..json_length)
            .ok_or_else(|| internal("is shorter than its header"))?,
    )
    .map_err(|_| internal("has no JSON header"))?;
    let mut offset = json_length;
    let mut outputs = Vec::new();
    let mut raw = Vec::new();
    for output in header["outputs"].as_array().into_iter().flatten() {
        let size = output["parameters"]["binary_data_size"]
            .as_u64()
            .and_then(|s| usize::try_from(s).ok())
            .ok_or_else(|| internal("has an output without binary data"))?;
        let end = offset
            .checked_add(size)
            .filter(|&end| end <= answer.body.len())
            .ok_or_else(|| internal("is shorter than its outputs"))?;
        raw.push(answer.body.slice(offset..end));
        offset = end;
        outputs.push(InferOutputTensor {
            name: output["name"].as_str().unwrap_or_default().to_owned(),
            datatype: output["datatype"].as_str().unwrap_or_default().to_owned(),
            shape: output["shape"]
                .as_array()
                .map(|s| s.iter().filter_map(Value::as_i64).collect())
                .unwrap_or_default(),
            ..InferOutputTensor::default()
        });
    }
    let text = |key: &str| header[key].as_str().unwrap_or_default().to_owned();
    Ok(ModelInferResponse {
        model_name: text("model_name"),
        model_version: text("model_version"),
        id: text("id"),
        parameters: Default::default(),
        outputs,
        raw_output_contents: raw,
    })
}
