//! The admin API: list the deployments with their active versions and status (`loading`,
//! `ready`, `unhealthy`), and swap one for a new
//! version (`PUT /api/v1/service/NAME` with `{"plugin": "/path.wasm", "model_dir": "/path"}`,
//! either field optional). Protected by the admin key (checked in `routes`).

use super::RequestBody;
use hyper::{Request, StatusCode};
use serde_json::{Value, json};

use super::HttpResponse;
use super::body::read_limited;
use super::error::{ApiError, json_response};
use scorehost_core::deployment::Deployment;
use scorehost_core::registry::{Registry, Status, SwapError, SwapRequest, SwapRoots, status_of};

/// Largest swap request body.
const MAX_ADMIN_BODY: usize = 64 << 10;

/// `GET /api/v1/deployments`.
pub(crate) fn list(registry: &Registry) -> HttpResponse {
    let mut deployments: Vec<Value> = registry.list().iter().map(|d| describe(d)).collect();
    // Deployments still in their first load are listed by name and status only.
    deployments.extend(
        registry
            .statuses()
            .into_iter()
            .filter(|(_, status)| *status == Status::Loading)
            .map(|(name, status)| json!({ "name": name, "status": status })),
    );
    json_response(StatusCode::OK, &json!({ "deployments": deployments }))
}

/// `GET /api/v1/service/NAME`.
pub(crate) fn show(registry: &Registry, name: &str) -> Result<HttpResponse, ApiError> {
    let d = registry.get(name).ok_or(ApiError::NotFound(None))?;
    Ok(json_response(StatusCode::OK, &describe(&d)))
}

/// `PUT /api/v1/service/NAME`: loads the new version beside the old and switches to it. New
/// paths must resolve inside `roots` (else 403; `None`: the folders the deployments use).
pub(crate) async fn swap(
    registry: &Registry,
    name: &str,
    req: Request<RequestBody>,
    roots: Option<&SwapRoots>,
) -> Result<HttpResponse, ApiError> {
    let body = read_limited(req.into_body(), MAX_ADMIN_BODY).await?;
    let change: SwapRequest = if body.is_empty() {
        SwapRequest::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::BadRequest(format!("Expected {{\"plugin\", \"model_dir\"}}: {e}"))
        })?
    };
    if registry.get(name).is_none() {
        return Err(ApiError::NotFound(None));
    }
    let derived;
    let roots = match roots {
        Some(roots) => roots,
        None => {
            let deployments = registry.list();
            derived = SwapRoots::of(deployments.iter().map(|d| d.settings()));
            &derived
        }
    };
    roots.confine(&change).map_err(ApiError::Forbidden)?;
    match registry.swap(name, change).await {
        Ok(d) => Ok(json_response(StatusCode::OK, &describe(&d))),
        Err(SwapError::NotFound(_)) => Err(ApiError::NotFound(None)),
        // The operator needs the reason; the old version keeps serving.
        Err(e @ SwapError::Refused(_)) => Err(ApiError::Unprocessable(e.to_string())),
    }
}

fn describe(d: &Deployment) -> Value {
    let s = d.settings();
    json!({
        "name": s.name,
        "version": d.digest(),
        "plugin": s.plugin,
        "model_dir": s.model_dir,
        "world": d.form().world(),
        "typed": matches!(d.form(), scorehost_core::deployment::Form::Typed(_)),
        "instances": d.instances(),
        "min_instances": d.min_instances(),
        "max_instances": d.max_instances(),
        "idle_timeout_s": s.limits.idle_timeout.map(|t| t.as_secs_f64()),
        "scaled_to_zero": d.instances() == 0,
        "healthy_instances": d.healthy_instances(),
        "snapshot": d.snapshot(),
        "nn": d.nn_info(),
        "status": status_of(d),
        "auth": !s.keys.is_empty(),
        "score_uri": format!("/api/v1/service/{}/score", s.name),
    })
}
