//! Routes of the Azure ML scoring server: `/` (liveness) and `/score`.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{ALLOW, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use tracing::Instrument as _;

use super::body::{is_json, parse_multipart, parse_payload, query_to_body, read_limited};
use super::cors::{self, CorsRequest};
use super::error::{ApiError, RUN_FUNCTION_FAILED, run_flag};
use super::request_id::{RequestIds, insert_id};
use crate::deployment::Deployment;
use crate::runtime::bindings::raw::Request as RawRequest;
use crate::schema::SwaggerVersion;

/// Value of the `x-ms-server-version` header (the Azure ML server sends `azmlinfsrv/VERSION`).
const SERVER_VERSION: &str = concat!("scorehost/", env!("CARGO_PKG_VERSION"));
const TEXT_HTML: &str = "text/html; charset=utf-8";

type HttpResponse = Response<Full<Bytes>>;

/// What the routes serve.
pub(crate) struct App {
    pub(crate) deployment: Arc<Deployment>,
}

impl App {
    /// Answers one request: resolves its ids, routes it, stamps the common headers, logs it.
    pub(crate) async fn handle(&self, req: Request<Incoming>) -> HttpResponse {
        let started = Instant::now();
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        let ids = match RequestIds::from_headers(req.headers()) {
            Ok(ids) => ids,
            Err((error, request_id)) => {
                let mut response = error.into_response();
                if let Some(id) = request_id {
                    insert_id(response.headers_mut(), "x-request-id", &id);
                }
                return response;
            }
        };
        let cors_request = CorsRequest::from_request(method == Method::OPTIONS, req.headers());
        let span = tracing::info_span!("request", request_id = %ids.request_id);
        let mut response = self
            .route(req, &ids)
            .instrument(span.clone())
            .await
            .unwrap_or_else(ApiError::into_response);
        let headers = response.headers_mut();
        cors::apply(
            &self.deployment.settings().cors_origins,
            &cors_request,
            headers,
        );
        ids.apply(headers);
        headers.insert(
            "x-ms-server-version",
            HeaderValue::from_static(SERVER_VERSION),
        );
        span.in_scope(|| {
            tracing::info!(
                %method,
                path,
                status = response.status().as_u16(),
                ms = format_args!("{:.3}", started.elapsed().as_secs_f64() * 1e3),
                "request"
            )
        });
        response
    }

    async fn route(
        &self,
        req: Request<Incoming>,
        ids: &RequestIds,
    ) -> Result<HttpResponse, ApiError> {
        match req.uri().path() {
            "/" => match *req.method() {
                Method::GET | Method::HEAD => Ok(text(StatusCode::OK, "Healthy")),
                Method::OPTIONS => Ok(options("GET, HEAD, OPTIONS", false)),
                _ => Err(ApiError::MethodNotAllowed {
                    allow: "GET, HEAD, OPTIONS",
                }),
            },
            "/score" if self.deployment.is_raw() => self.score_raw(req, ids).await,
            "/score" => match *req.method() {
                Method::POST => self.score_post(req, ids).await,
                Method::GET => {
                    let body = query_to_body(req.uri().query().unwrap_or(""));
                    self.score(&body, ids).await
                }
                Method::OPTIONS => Ok(options("GET, POST, OPTIONS", true)),
                _ => Err(ApiError::MethodNotAllowed {
                    allow: "GET, POST, OPTIONS",
                }),
            },
            "/swagger.json" => match *req.method() {
                Method::GET | Method::HEAD => self.swagger(req.uri().query()),
                _ => Err(ApiError::MethodNotAllowed { allow: "GET, HEAD" }),
            },
            _ => Err(ApiError::NotFound),
        }
    }

    fn swagger(&self, query: Option<&str>) -> Result<HttpResponse, ApiError> {
        let version = query.and_then(|q| {
            form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == "version")
                .map(|(_, v)| v.into_owned())
        });
        let version = SwaggerVersion::parse(version.as_deref()).map_err(ApiError::NotFoundWith)?;
        let mut response = Response::new(Full::new(self.deployment.swagger(version)));
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(RUN_FUNCTION_FAILED, run_flag(false));
        Ok(response)
    }

    async fn score_post(
        &self,
        req: Request<Incoming>,
        ids: &RequestIds,
    ) -> Result<HttpResponse, ApiError> {
        let content_type = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        if !is_json(content_type) {
            return Err(ApiError::UnsupportedMediaType);
        }
        let limit = self.deployment.settings().limits.max_body;
        let body = read_limited(req.into_body(), limit).await?;
        self.score(&body, ids).await
    }

    /// A raw entry script gets the whole request, whatever its method, and makes the response.
    async fn score_raw(
        &self,
        req: Request<Incoming>,
        ids: &RequestIds,
    ) -> Result<HttpResponse, ApiError> {
        let (parts, body) = req.into_parts();
        let limit = self.deployment.settings().limits.max_body;
        let body = read_limited(body, limit).await?;
        let content_type = parts
            .headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        let (files, form) = parse_multipart(content_type, &body).await?;
        let request = RawRequest {
            method: parts.method.as_str().to_owned(),
            path: parts.uri.path().to_owned(),
            query: parts.uri.query().unwrap_or("").to_owned(),
            headers: parts
                .headers
                .iter()
                .map(|(name, value)| {
                    let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                    (name.as_str().to_owned(), value)
                })
                .collect(),
            body: body.to_vec(),
            files,
            form,
        };
        let scored = self
            .deployment
            .score_raw(&ids.request_id, &request)
            .await
            .inspect_err(|e| tracing::warn!("scoring failed: {e}"))?;
        let raw = scored.body;
        let Ok(status) = StatusCode::from_u16(raw.status) else {
            tracing::warn!(
                status = raw.status,
                "the entry script returned an invalid status"
            );
            return Err(ApiError::Score(
                crate::deployment::ScoreError::InvalidStatus,
            ));
        };
        let mut response = Response::new(Full::new(Bytes::from(raw.body)));
        *response.status_mut() = status;
        let headers = response.headers_mut();
        for (name, value) in raw.headers {
            match (
                hyper::header::HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(&value),
            ) {
                (Ok(name), Ok(value)) if !is_host_owned(&name) => {
                    headers.append(name, value);
                }
                (Ok(name), Ok(_)) => tracing::debug!(%name, "dropping a host-owned header"),
                _ => tracing::warn!(name, "dropping an invalid response header"),
            }
        }
        if !headers.contains_key(CONTENT_TYPE) {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static(TEXT_HTML));
        }
        headers.insert(RUN_FUNCTION_FAILED, run_flag(status.is_server_error()));
        insert_exec_ms(headers, scored.run_time);
        Ok(response)
    }

    async fn score(&self, body: &[u8], ids: &RequestIds) -> Result<HttpResponse, ApiError> {
        let payload = parse_payload(body)?;
        let scored = self
            .deployment
            .score(&ids.request_id, &payload.inputs, payload.global_parameters)
            .await
            .inspect_err(|e| tracing::warn!("scoring failed: {e}"))?;
        let mut response = Response::new(Full::new(Bytes::from(scored.body)));
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(RUN_FUNCTION_FAILED, run_flag(false));
        insert_exec_ms(headers, scored.run_time);
        Ok(response)
    }
}

/// `x-ms-run-fn-exec-ms`: the guest's run time, `%.3f` ms as the Azure ML server writes it.
fn insert_exec_ms(headers: &mut hyper::HeaderMap, run_time: std::time::Duration) {
    let exec_ms = format!("{:.3}", run_time.as_secs_f64() * 1e3);
    if let Ok(value) = HeaderValue::from_str(&exec_ms) {
        headers.insert("x-ms-run-fn-exec-ms", value);
    }
}

/// Headers the host sets itself: framing and connection management (hop-by-hop headers of
/// RFC 9110 §7.6.1, `content-length`, `transfer-encoding`) would corrupt the response if an
/// entry script could set them.
fn is_host_owned(name: &hyper::header::HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "content-length"
            | "transfer-encoding"
            | "keep-alive"
            | "proxy-connection"
            | "te"
            | "trailer"
            | "upgrade"
    )
}

fn text(status: StatusCode, body: &'static str) -> HttpResponse {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(TEXT_HTML));
    response
}

/// `OPTIONS`: 200 with an empty body and `Allow`, as the Azure ML server answers.
fn options(allow: &'static str, with_run_flag: bool) -> HttpResponse {
    let mut response = text(StatusCode::OK, "");
    let headers = response.headers_mut();
    headers.insert(ALLOW, HeaderValue::from_static(allow));
    if with_run_flag {
        headers.insert(RUN_FUNCTION_FAILED, run_flag(false));
    }
    response
}
