//! The Open Inference Protocol v2 routes: `GET /v2`, `GET /v2/health/live`,
//! `GET /v2/models/NAME[/versions/V]`, `GET …/ready` and `POST …/infer` (readiness,
//! `/v2/health/ready`, is the host's own route). The model name is the deployment's name, its
//! version the active plugin's SHA-256. Errors are `{"error": "…"}` with the statuses of the
//! Azure ML routes (made by `error::ApiError::respond`); an infer request needs the
//! deployment's key as `/score` does, metadata and readiness need none (as `/swagger.json`).

use std::sync::Arc;

use super::RequestBody;
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Method, Request, StatusCode};

use super::Routed;
use super::body::read_limited;
use super::error::{ApiError, json_response};
use super::request_id::RequestIds;
use super::score::scored_response;
use scorehost_core::deployment::Deployment;
use scorehost_core::registry::{Registry, Status};
use scorehost_core::scoring::{Failure, Input, Output};
use scorehost_metrics::Route;
use scorehost_schema::oip::{binary_header_length, encode_response, parse_request};

/// The binary extension's header: the JSON header's length in a binary body.
const HEADER_LENGTH: HeaderName = HeaderName::from_static("inference-header-content-length");
/// Where the models are.
const MODELS_PREFIX: &str = "/v2/models/";

/// An Open Inference Protocol path.
pub(crate) enum Target {
    /// `/v2`: server metadata.
    Server,
    /// `/v2/health/live`.
    Live,
    /// `/v2/models/NAME[/versions/V][/ready|/infer]`.
    Model {
        deployment: Arc<Deployment>,
        version: Option<String>,
        action: Action,
    },
    /// A model that is still loading (503).
    Loading(String),
    /// No such route or model (404 with this message).
    NotFound(String),
}

/// What a model path asks for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    Metadata,
    Ready,
    Infer,
}

impl Target {
    /// The route of `path` if it is an Open Inference Protocol path (`/v2…`, except the
    /// host's readiness route).
    pub(crate) fn of(registry: &Registry, path: &str) -> Option<Target> {
        match path {
            "/v2" | "/v2/" => return Some(Target::Server),
            "/v2/health/live" => return Some(Target::Live),
            _ => {}
        }
        if !path.starts_with("/v2/") {
            return None;
        }
        let Some(rest) = path.strip_prefix(MODELS_PREFIX) else {
            return Some(Target::NotFound(format!("no such route: {path}")));
        };
        let parts: Vec<&str> = rest.split('/').collect();
        let (name, version, action) = match parts.as_slice() {
            [name] => (*name, None, Action::Metadata),
            [name, "ready"] => (*name, None, Action::Ready),
            [name, "infer"] => (*name, None, Action::Infer),
            [name, "versions", v] => (*name, Some(*v), Action::Metadata),
            [name, "versions", v, "ready"] => (*name, Some(*v), Action::Ready),
            [name, "versions", v, "infer"] => (*name, Some(*v), Action::Infer),
            _ => return Some(Target::NotFound(format!("no such route: {path}"))),
        };
        Some(match registry.get(name) {
            Some(deployment) => Target::Model {
                deployment,
                version: version.map(str::to_owned),
                action,
            },
            None if registry
                .statuses()
                .iter()
                .any(|(n, s)| n == name && *s == Status::Loading) =>
            {
                Target::Loading(name.to_owned())
            }
            None => Target::NotFound(format!("unknown model '{name}'")),
        })
    }

    /// The `route` label of the request metrics.
    pub(crate) fn route(&self) -> Route {
        match self {
            Target::Server => Route::server_metadata,
            Target::Live => Route::liveness,
            Target::Model { action, .. } => match action {
                Action::Metadata => Route::model_metadata,
                Action::Ready => Route::model_ready,
                Action::Infer => Route::infer,
            },
            Target::Loading(_) | Target::NotFound(_) => Route::not_found,
        }
    }

    /// The deployment the request belongs to, for its metrics, log span and headers.
    pub(crate) fn deployment(&self) -> Option<&Arc<Deployment>> {
        match self {
            Target::Model { deployment, .. } => Some(deployment),
            _ => None,
        }
    }
}

/// Answers an Open Inference Protocol request (the key was checked by the caller for
/// `infer`).
pub(crate) async fn handle(
    target: Target,
    req: Request<RequestBody>,
    ids: &RequestIds,
) -> Result<Routed, ApiError> {
    let get_only = |method: &Method| match *method {
        Method::GET | Method::HEAD => Ok(()),
        _ => Err(ApiError::MethodNotAllowed { allow: "GET, HEAD" }),
    };
    match target {
        Target::Server => {
            get_only(req.method())?;
            Ok(json_response(
                StatusCode::OK,
                &serde_json::json!({
                    "name": "scorehost",
                    "version": env!("CARGO_PKG_VERSION"),
                    "extensions": ["binary_tensor_data"],
                }),
            )
            .into())
        }
        Target::Live => {
            get_only(req.method())?;
            Ok(json_response(StatusCode::OK, &serde_json::json!({ "live": true })).into())
        }
        Target::Loading(name) => Err(ApiError::Unavailable(format!("model '{name}' is loading"))),
        Target::NotFound(message) => Err(ApiError::NotFound(Some(message))),
        Target::Model {
            deployment,
            version,
            action,
        } => {
            let name = deployment.settings().name.as_str();
            let active = deployment.digest();
            if let Some(version) = version.filter(|v| v != active) {
                return Err(ApiError::NotFound(Some(format!(
                    "model '{name}' has no version '{version}' (it serves version {active})"
                ))));
            }
            match action {
                Action::Metadata => {
                    get_only(req.method())?;
                    Ok(json_response(
                        StatusCode::OK,
                        &deployment.signature().metadata(name, active),
                    )
                    .into())
                }
                Action::Ready => {
                    get_only(req.method())?;
                    let ready = deployment.healthy_instances() > 0;
                    let status = if ready {
                        StatusCode::OK
                    } else {
                        StatusCode::SERVICE_UNAVAILABLE
                    };
                    Ok(
                        json_response(status, &serde_json::json!({ "name": name, "ready": ready }))
                            .into(),
                    )
                }
                Action::Infer => {
                    if req.method() != Method::POST {
                        return Err(ApiError::MethodNotAllowed { allow: "POST" });
                    }
                    Box::pin(infer(&deployment, req, ids)).await
                }
            }
        }
    }
}

/// `POST /v2/models/NAME/infer`: tensors → the script's `/score` request → scored with the
/// same checks → the result as output tensors. Any `Content-Type` is accepted (tritonclient
/// sends none).
async fn infer(
    deployment: &Deployment,
    req: Request<RequestBody>,
    ids: &RequestIds,
) -> Result<Routed, ApiError> {
    let signature = deployment.signature();
    signature.check_supported()?;
    let header_length = binary_header_length(req.headers())?;
    let body = read_limited(req.into_body(), deployment.settings().limits.max_body).await?;
    let request = parse_request(&body, header_length)?;
    let selection = signature.select_outputs(request.outputs.as_deref(), request.binary_output)?;
    let score_body = signature.assemble(&request)?;
    // Scored as `/score` scores its body: the same checks, the same 400s.
    let scored = deployment
        .score(&ids.request_id, Input::Body(&score_body))
        .await?;
    // `check_supported` let only a typed script through, whose answer is JSON.
    let Output::Json(text) = scored.output else {
        return Err(ApiError::Score(Failure::Internal));
    };
    let outputs = signature
        .outputs(&text, &selection)
        .inspect_err(|e| tracing::warn!("{e}"))?;
    let id = request.id.as_deref().unwrap_or(&ids.request_id);
    let (body, json_length) = encode_response(
        &deployment.settings().name,
        deployment.digest(),
        id,
        &outputs,
    );
    let content_type = HeaderValue::from_static(match json_length {
        Some(_) => "application/octet-stream",
        None => "application/json",
    });
    let mut response = scored_response(body.into(), content_type, scored.run_time);
    if let Some(n) = json_length {
        response
            .headers_mut()
            .insert(HEADER_LENGTH, HeaderValue::from(n));
    }
    Ok(Routed {
        response,
        run_time: Some(scored.run_time),
    })
}
