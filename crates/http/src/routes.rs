//! Routing: `/` (liveness), `/v2/health/ready` (readiness), `/metrics`; `/score` and `/swagger.json` for the default deployment;
//! `/api/v1/service/NAME/score|swagger.json` per deployment (keys checked here); the admin API
//! (`GET /api/v1/deployments`, `GET|PUT /api/v1/service/NAME`); the pages for people (`/docs`,
//! `/api/v1/service/NAME/docs`, `/console` and their feeds, in `pages`).

use std::sync::Arc;
use std::time::Instant;

use super::RequestBody;
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{
    ACCESS_CONTROL_REQUEST_METHOD, ALLOW, AUTHORIZATION, CONTENT_TYPE, HeaderName, HeaderValue,
};
use hyper::{Method, Request, Response, StatusCode};
use tracing::Instrument as _;

use subtle::ConstantTimeEq as _;

use super::cors::{self, CorsRequest};
use super::error::{ApiError, ErrorBody, RUN_FUNCTION_FAILED, json_response, run_flag};
use super::pages::{self, Page};
use super::request_id::{RequestIds, X_REQUEST_ID, insert_id};
use super::{HttpResponse, Routed, ServerOptions, TEXT_HTML, admin, oip, score};
use scorehost_core::deployment::{Deployment, Form};
use scorehost_core::registry::Registry;
use scorehost_metrics::Route;

/// Value of the `x-ms-server-version` header (the Azure ML server sends `azmlinfsrv/VERSION`).
const SERVER_VERSION: &str = concat!("scorehost/", env!("CARGO_PKG_VERSION"));
/// Carries the active plugin version (SHA-256 of the component) on every deployment response.
const VERSION_HEADER: HeaderName = HeaderName::from_static("x-scorehost-plugin-sha256");
/// `x-ms-server-version`.
const SERVER_VERSION_HEADER: HeaderName = HeaderName::from_static("x-ms-server-version");
/// Readiness, at the path of KServe's v2 protocol.
pub(crate) const READINESS_PATH: &str = "/v2/health/ready";
/// Where the named deployments live, as in an Azure ML AKS scoring URI.
const SERVICE_PREFIX: &str = "/api/v1/service/";

/// What the routes serve.
pub(crate) struct App {
    pub(crate) registry: Arc<Registry>,
    pub(crate) options: ServerOptions,
    pub(crate) role: Role,
}

/// Which listener a request came in on.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// The scoring listener: everything, `/metrics` behind the admin key.
    Main,
    /// `--metrics-addr`: `/metrics` without a key (and `/`), nothing else.
    Metrics,
}

/// What a path names.
enum Target {
    Liveness,
    Readiness,
    Metrics,
    Score(Arc<Deployment>),
    Swagger(Arc<Deployment>),
    AdminList,
    AdminDeployment(String),
    /// The try-it page of a deployment.
    Docs(Arc<Deployment>),
    /// The console, its feeds and the pages' static files.
    Page(Page),
    /// An Open Inference Protocol route (`/v2…`).
    Oip(oip::Target),
    NotFound,
}

impl App {
    /// Answers one request: resolves its ids, routes it, stamps the common headers, logs it.
    pub(crate) async fn handle(&self, req: Request<RequestBody>) -> HttpResponse {
        let started = Instant::now();
        let method = req.method().clone();
        // Kept for the log line: a `Uri` clone shares hyper's bytes (no copy of the path).
        let uri = req.uri().clone();
        let cors_request = CorsRequest::from_request(method == Method::OPTIONS, req.headers());
        let ids = match RequestIds::from_headers(req.headers()) {
            Ok(ids) => ids,
            Err((error, request_id)) => {
                let mut response = error.into_response();
                let headers = response.headers_mut();
                if let Some(id) = request_id {
                    insert_id(headers, X_REQUEST_ID, &id);
                }
                self.common_headers(headers, None, &cors_request, true);
                return response;
            }
        };
        let header_limit = self.options.max_header_bytes();
        let too_large = header_bytes(&req) > header_limit;
        let target = self.target(uri.path());
        let route = match req.extensions().get::<GrpcCall>() {
            Some(_) => target.route().over_grpc(),
            None => target.route(),
        };
        let deployment = match &target {
            Target::Score(d) | Target::Swagger(d) | Target::Docs(d) => Some(d.clone()),
            Target::Oip(t) => t.deployment().cloned(),
            _ => None,
        };
        let style = match target {
            Target::Oip(_) => ErrorBody::Oip,
            _ => ErrorBody::AzureMl,
        };
        let span = tracing::info_span!(
            "request",
            request_id = %ids.request_id,
            deployment = deployment.as_ref().map(|d| d.settings().name.as_str()).unwrap_or("-"),
        );
        let result = if too_large {
            Err(ApiError::HeadersTooLarge(format!(
                "The request line and headers are larger than the limit of {header_limit} bytes."
            )))
        } else {
            self.route(target, req, &ids).instrument(span.clone()).await
        };
        // The Azure ML server's own 404/405 (no such route or method) carry no server version.
        let routed = !matches!(
            result,
            Err(ApiError::NotFound(None) | ApiError::MethodNotAllowed { .. })
        );
        let (mut response, run_time) = match result {
            Ok(routed) => (routed.response, routed.run_time),
            Err(e) => (e.respond(style), None),
        };
        let headers = response.headers_mut();
        if let Some(d) = &deployment {
            headers.insert(VERSION_HEADER, d.digest_header().clone());
        }
        ids.apply(headers);
        self.common_headers(headers, deployment.as_deref(), &cors_request, routed);
        let status = response.status().as_u16();
        let elapsed = started.elapsed();
        match &deployment {
            Some(d) => {
                let metrics = d.metrics();
                metrics.requests.record(route, status, elapsed);
                if let Some(run) = run_time {
                    metrics.host_seconds.observe(elapsed.saturating_sub(run));
                }
            }
            None => self
                .registry
                .metrics()
                .host_requests()
                .record(route, status, elapsed),
        }
        span.in_scope(|| {
            tracing::info!(
                %method,
                path = uri.path(),
                status,
                ms = format_args!("{:.3}", elapsed.as_secs_f64() * 1e3),
                "request"
            )
        });
        response
    }

    /// The headers every response the host makes carries, the early ones (431) included:
    /// CORS for an allowed `Origin` (the deployment's origins; on the host's own routes such
    /// as `/`, those of the default deployment, the one a `--plugin` server serves) and
    /// `x-ms-server-version` when `server_version` (not on the Azure ML server's own 404/405)
    /// and not turned off.
    fn common_headers(
        &self,
        headers: &mut hyper::HeaderMap,
        deployment: Option<&Deployment>,
        cors_request: &CorsRequest,
        server_version: bool,
    ) {
        if cors_request.has_origin() {
            match deployment {
                Some(d) => cors::apply(&d.settings().cors_origins, cors_request, headers),
                None => {
                    let default = self.options.default_deployment.as_deref();
                    if let Some(d) = default.and_then(|name| self.registry.get(name)) {
                        cors::apply(&d.settings().cors_origins, cors_request, headers);
                    }
                }
            }
        }
        if server_version && !self.options.hide_server_version {
            headers.insert(
                SERVER_VERSION_HEADER,
                HeaderValue::from_static(SERVER_VERSION),
            );
        }
    }

    /// `/score` and `/swagger.json` belong to the default deployment (the `--plugin` one);
    /// `/api/v1/service/NAME/...` to deployment NAME.
    fn target(&self, path: &str) -> Target {
        let by_name = |name: &str, make: fn(Arc<Deployment>) -> Target| {
            self.registry.get(name).map_or(Target::NotFound, make)
        };
        if self.role == Role::Metrics {
            return match path {
                "/" => Target::Liveness,
                "/metrics" => Target::Metrics,
                _ => Target::NotFound,
            };
        }
        if path != READINESS_PATH
            && let Some(target) = oip::Target::of(&self.registry, path)
        {
            return Target::Oip(target);
        }
        let default = self.options.default_deployment.as_deref();
        match path {
            "/" => Target::Liveness,
            READINESS_PATH => Target::Readiness,
            "/metrics" => Target::Metrics,
            "/score" => default.map_or(Target::NotFound, |n| by_name(n, Target::Score)),
            "/swagger.json" => default.map_or(Target::NotFound, |n| by_name(n, Target::Swagger)),
            "/api/v1/deployments" => Target::AdminList,
            "/docs" => default.map_or(Target::NotFound, |n| by_name(n, Target::Docs)),
            _ => match path
                .strip_prefix(SERVICE_PREFIX)
                .map(|rest| rest.split_once('/'))
            {
                Some(Some((name, "score"))) => by_name(name, Target::Score),
                Some(Some((name, "swagger.json"))) => by_name(name, Target::Swagger),
                Some(Some((name, "docs"))) => by_name(name, Target::Docs),
                Some(None) => Target::AdminDeployment(path[SERVICE_PREFIX.len()..].to_owned()),
                Some(Some(_)) => Target::NotFound,
                None => Page::of(path).map_or(Target::NotFound, Target::Page),
            },
        }
    }

    /// The answer to a request for `target`: the scoring routes' with the guest's run time,
    /// the others' as they are. One `async fn` with one match: each nested future would be
    /// polled (and moved) on every request.
    async fn route(
        &self,
        target: Target,
        req: Request<RequestBody>,
        ids: &RequestIds,
    ) -> Result<Routed, ApiError> {
        let response = match target {
            Target::Score(d) => {
                // A browser preflight carries no credentials; everything else needs a key.
                let preflight = *req.method() == Method::OPTIONS
                    && req.headers().contains_key(ACCESS_CONTROL_REQUEST_METHOD);
                if !preflight {
                    authorize(req.headers(), d.settings().keys.as_slice())?;
                }
                // The scoring futures are boxed: kept inline they would make every request's
                // future several KiB, which hyper moves around (measured: 6.3 KiB, ~3 % of a
                // liveness request's CPU time in memmove).
                if matches!(d.form(), Form::Raw) {
                    return Box::pin(score::score_raw(&d, req, ids)).await;
                }
                return match *req.method() {
                    Method::POST => Box::pin(score::score_post(&d, req, ids)).await,
                    Method::GET => {
                        let query = req.uri().query().unwrap_or("");
                        Box::pin(score::score_get(&d, query, ids)).await
                    }
                    Method::OPTIONS => Ok(options("GET, POST, OPTIONS", true).into()),
                    _ => Err(ApiError::MethodNotAllowed {
                        allow: "GET, POST, OPTIONS",
                    }),
                };
            }
            Target::Oip(target) => {
                if let oip::Target::Model {
                    deployment,
                    action: oip::Action::Infer,
                    ..
                } = &target
                {
                    authorize(req.headers(), deployment.settings().keys.as_slice())?;
                }
                return Box::pin(oip::handle(target, req, ids)).await;
            }
            Target::Liveness => match *req.method() {
                Method::GET | Method::HEAD => Ok(text(StatusCode::OK, "Healthy")),
                Method::OPTIONS => Ok(options("GET, HEAD, OPTIONS", false)),
                _ => Err(ApiError::MethodNotAllowed {
                    allow: "GET, HEAD, OPTIONS",
                }),
            },
            Target::Readiness => match *req.method() {
                Method::GET | Method::HEAD => Ok(readiness(self.registry.is_ready())),
                _ => Err(ApiError::MethodNotAllowed { allow: "GET, HEAD" }),
            },
            Target::Metrics => {
                if self.role == Role::Main {
                    self.admin(req.headers())?;
                }
                match *req.method() {
                    Method::GET | Method::HEAD => Ok(metrics(&self.registry)),
                    _ => Err(ApiError::MethodNotAllowed { allow: "GET, HEAD" }),
                }
            }
            Target::Swagger(d) => match *req.method() {
                Method::GET | Method::HEAD => score::swagger(&d, req.uri().query()),
                _ => Err(ApiError::MethodNotAllowed { allow: "GET, HEAD" }),
            },
            Target::AdminList => {
                self.admin(req.headers())?;
                match *req.method() {
                    Method::GET => Ok(admin::list(&self.registry)),
                    _ => Err(ApiError::MethodNotAllowed { allow: "GET" }),
                }
            }
            Target::AdminDeployment(name) => {
                self.admin(req.headers())?;
                match *req.method() {
                    Method::GET => admin::show(&self.registry, &name),
                    Method::PUT => {
                        let roots = self.options.swap_roots.as_ref();
                        Box::pin(admin::swap(&self.registry, &name, req, roots)).await
                    }
                    _ => Err(ApiError::MethodNotAllowed { allow: "GET, PUT" }),
                }
            }
            Target::Docs(d) => pages::docs(&d, req.method()),
            Target::Page(page) => {
                if page.is_admin() {
                    self.admin(req.headers())?;
                }
                page.serve(req.method(), &self.registry)
            }
            Target::NotFound => Err(ApiError::NotFound(None)),
        };
        response.map(Routed::from)
    }

    /// The admin API needs the admin key; without one configured it is off.
    fn admin(&self, headers: &hyper::HeaderMap) -> Result<(), ApiError> {
        match &self.options.admin_key {
            None => Err(ApiError::Forbidden(
                "The admin API is off: no admin key is configured.",
            )),
            Some(key) => authorize(headers, std::slice::from_ref(key)),
        }
    }
}

impl Target {
    /// The `route` label of the request metrics.
    fn route(&self) -> Route {
        match self {
            Target::Liveness => Route::liveness,
            Target::Readiness => Route::readiness,
            Target::Metrics => Route::metrics,
            Target::Score(_) => Route::score,
            Target::Swagger(_) | Target::Docs(_) => Route::swagger,
            Target::Page(page) => page.route(),
            Target::AdminList | Target::AdminDeployment(_) => Route::admin,
            Target::Oip(t) => t.route(),
            Target::NotFound => Route::not_found,
        }
    }
}

/// Marks a request the gRPC service made from a call (`grpc`): counted under the gRPC route.
#[derive(Clone, Copy)]
pub(crate) struct GrpcCall;

/// Readiness: 200 once every deployment has loaded and while each has a healthy instance,
/// else 503. The path is KServe's (open inference protocol v2), which probes and load
/// balancers set up for KServe already use. The body tells no more than ready or not; the
/// admin list has each deployment's status.
fn readiness(ready: bool) -> HttpResponse {
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    json_response(status, &serde_json::json!({ "ready": ready }))
}

/// `/metrics`: the Prometheus text exposition.
fn metrics(registry: &Registry) -> HttpResponse {
    let mut response = Response::new(Full::new(Bytes::from(registry.metrics().encode())));
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static(scorehost_metrics::CONTENT_TYPE),
    );
    response
}

/// Bytes of a request's line and header fields as sent: method, target, and for each field
/// its name, value, `": "` and CRLF.
fn header_bytes<B>(req: &Request<B>) -> usize {
    // "METHOD TARGET HTTP/1.1\r\n"
    let line = req.method().as_str().len()
        + 1
        + req.uri().path_and_query().map_or(1, |p| p.as_str().len())
        + " HTTP/1.1\r\n".len();
    req.headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum::<usize>()
        + line
}

/// Checks `Authorization: Bearer <key>` against `keys` (none: open) in constant time, so a
/// timing difference cannot reveal how much of a guess was right.
fn authorize(headers: &hyper::HeaderMap, keys: &[String]) -> Result<(), ApiError> {
    if keys.is_empty() {
        return Ok(());
    }
    let presented = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let Some(presented) = presented else {
        return Err(ApiError::Unauthorized { invalid_key: false });
    };
    let mut matched = subtle::Choice::from(0);
    for key in keys {
        matched |= presented.as_bytes().ct_eq(key.as_bytes());
    }
    if bool::from(matched) {
        Ok(())
    } else {
        Err(ApiError::Unauthorized { invalid_key: true })
    }
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
