//! The one place where failures become HTTP responses: status, headers and a JSON body of the
//! Azure ML server's shape, `{"message": "…"}`. Internal detail is logged where the failure
//! is found and never reaches the client.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{ALLOW, CONTENT_TYPE, HeaderName, HeaderValue, RETRY_AFTER, WWW_AUTHENTICATE};
use hyper::{Response, StatusCode};

use scorehost_core::scoring::Failure;
use scorehost_schema::oip::OipError;

/// Header that tells a client whether the entry script's `run` failed.
pub(crate) const RUN_FUNCTION_FAILED: HeaderName =
    HeaderName::from_static("x-ms-run-function-failed");

/// Generic message for a guest crash; the Azure ML server's wording.
const SCRIPT_ERROR: &str =
    "An unexpected error occurred in scoring script. Check the logs for more info.";

/// Every way a request can fail.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiError {
    /// No such route or thing: `None` is the Azure ML server's own 404 (its generic
    /// message, no server version header), `Some` says what was not found.
    #[error("not found")]
    NotFound(Option<String>),
    #[error("unauthorized")]
    Unauthorized { invalid_key: bool },
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0}")]
    Unprocessable(String),
    #[error("method not allowed")]
    MethodNotAllowed { allow: &'static str },
    #[error("unsupported media type")]
    UnsupportedMediaType,
    #[error("body over {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("timed out reading the body")]
    BodyTimeout,
    #[error("{0}")]
    BadRequest(String),
    /// A header, or the request's line and headers together, over a limit (431).
    #[error("{0}")]
    HeadersTooLarge(String),
    /// Scoring found no result.
    #[error("{0}")]
    Score(#[from] Failure),
    /// An Open Inference Protocol request that cannot be answered.
    #[error("{0}")]
    Oip(#[from] OipError),
    /// The named thing exists but cannot serve yet (503).
    #[error("{0}")]
    Unavailable(String),
}

/// The shape of an error body: the Azure ML server's `{"message"}`, or the Open Inference
/// Protocol's `{"error"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorBody {
    AzureMl,
    Oip,
}

impl ApiError {
    /// The response for this failure, with an Azure ML style body.
    pub(crate) fn into_response(self) -> Response<Full<Bytes>> {
        self.respond(ErrorBody::AzureMl)
    }

    /// The response for this failure with a body of `style`; status and headers are the same
    /// whichever protocol asked.
    pub(crate) fn respond(self, style: ErrorBody) -> Response<Full<Bytes>> {
        let run_failed = matches!(&self, ApiError::Score(failure) if failure.run_failed());
        let mut extra: Option<(HeaderName, HeaderValue)> = None;
        let (status, message) = match self {
            ApiError::NotFound(message) => (
                StatusCode::NOT_FOUND,
                message.unwrap_or_else(|| "The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again.".to_owned()),
            ),
            ApiError::Unauthorized { invalid_key } => {
                let challenge = if invalid_key {
                    r#"Bearer realm="scorehost", error="invalid_token""#
                } else {
                    r#"Bearer realm="scorehost""#
                };
                extra = Some((WWW_AUTHENTICATE, HeaderValue::from_static(challenge)));
                (
                    StatusCode::UNAUTHORIZED,
                    if invalid_key {
                        "The key in the Authorization header is not valid for this deployment."
                    } else {
                        "Send a key: Authorization: Bearer <key>."
                    }
                    .to_owned(),
                )
            }
            ApiError::Forbidden(message) => (StatusCode::FORBIDDEN, message.to_owned()),
            ApiError::Unprocessable(message) => (StatusCode::UNPROCESSABLE_ENTITY, message),
            ApiError::MethodNotAllowed { allow } => {
                extra = Some((ALLOW, HeaderValue::from_static(allow)));
                (
                    StatusCode::METHOD_NOT_ALLOWED,
                    "The method is not allowed for the requested URL.".to_owned(),
                )
            }
            ApiError::UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Expects Content-Type to be application/json".to_owned(),
            ),
            ApiError::PayloadTooLarge { limit } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("Request body is larger than the limit of {limit} bytes."),
            ),
            ApiError::BodyTimeout => (
                StatusCode::REQUEST_TIMEOUT,
                "Timed out reading the request body.".to_owned(),
            ),
            ApiError::BadRequest(message) => (StatusCode::BAD_REQUEST, message),
            ApiError::HeadersTooLarge(message) => {
                (StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, message)
            }
            ApiError::Score(Failure::Overloaded) => {
                extra = Some((RETRY_AFTER, HeaderValue::from_static("1")));
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Every instance of the scoring script is busy. Try again later.".to_owned(),
                )
            }
            ApiError::Score(Failure::NotStarted) => {
                extra = Some((RETRY_AFTER, HeaderValue::from_static("1")));
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "The scoring script could not be started (its init failed or the host is \
                     out of memory). Check the logs for more info."
                        .to_owned(),
                )
            }
            ApiError::Score(Failure::BadInput { message, path }) => {
                let body = match style {
                    // A body that is not one, or a missing top-level parameter, has Azure's
                    // message alone; a nested field also names its path.
                    ErrorBody::AzureMl if path.is_empty() => {
                        serde_json::json!({ "message": message })
                    }
                    ErrorBody::AzureMl => {
                        serde_json::json!({ "message": message, "path": path })
                    }
                    ErrorBody::Oip => serde_json::json!({ "error": message }),
                };
                let mut response = json_response(StatusCode::BAD_REQUEST, &body);
                response
                    .headers_mut()
                    .insert(RUN_FUNCTION_FAILED, run_flag(false));
                return response;
            }
            ApiError::Oip(OipError::BadRequest(message)) => (StatusCode::BAD_REQUEST, message),
            ApiError::Oip(OipError::Unsupported(message)) => (StatusCode::NOT_IMPLEMENTED, message),
            ApiError::Oip(OipError::Output(message)) => {
                (StatusCode::INTERNAL_SERVER_ERROR, message)
            }
            ApiError::Unavailable(message) => (StatusCode::SERVICE_UNAVAILABLE, message),
            ApiError::Score(Failure::Internal) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "An unexpected internal error occurred. Check the logs for more info.".to_owned(),
            ),
            ApiError::Score(Failure::Refused(message)) => (StatusCode::BAD_REQUEST, message),
            ApiError::Score(Failure::ScriptFailed(Some(message))) => {
                (StatusCode::INTERNAL_SERVER_ERROR, message)
            }
            // The exception's text was logged with the request id by the deployment.
            ApiError::Score(Failure::ScriptFailed(None) | Failure::Crashed) => {
                (StatusCode::INTERNAL_SERVER_ERROR, SCRIPT_ERROR.to_owned())
            }
            ApiError::Score(Failure::MemoryLimit) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "The scoring script exceeded its memory limit. Check the logs for more info."
                    .to_owned(),
            ),
            ApiError::Score(Failure::TimedOut(budget)) => (
                StatusCode::GATEWAY_TIMEOUT,
                format!("Scoring timeout after {} ms", budget.as_millis()),
            ),
        };
        let body = match style {
            ErrorBody::AzureMl => serde_json::json!({ "message": message }),
            ErrorBody::Oip => serde_json::json!({ "error": message }),
        };
        let mut response = json_response(status, &body);
        let headers = response.headers_mut();
        headers.insert(RUN_FUNCTION_FAILED, run_flag(run_failed));
        if let Some((name, value)) = extra {
            headers.insert(name, value);
        }
        response
    }
}

/// `True`/`False`, spelled as the Azure ML server spells them.
pub(crate) fn run_flag(failed: bool) -> HeaderValue {
    HeaderValue::from_static(if failed { "True" } else { "False" })
}

/// A response with a JSON body.
pub(crate) fn json_response(status: StatusCode, body: &serde_json::Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
