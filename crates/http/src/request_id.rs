//! Request ids, as the Azure ML server handles them.
//!
//! - `x-request-id`: echoed, or a fresh UUID v4.
//! - `x-ms-request-id`: the legacy client header if given, else `x-ms-client-request-id`, else
//!   the request id.
//! - `x-ms-client-request-id`: returned only when a client id was given (the client header,
//!   else the legacy one).
//! - `TraceId`: echoed.
//!
//! Any of them over 100 characters gets 431.

use hyper::HeaderMap;
use hyper::header::{HeaderName, HeaderValue};

use super::error::ApiError;

/// The id headers, as constants so no request parses their names.
pub(crate) const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const X_MS_REQUEST_ID: HeaderName = HeaderName::from_static("x-ms-request-id");
const X_MS_CLIENT_REQUEST_ID: HeaderName = HeaderName::from_static("x-ms-client-request-id");
const TRACE_ID: HeaderName = HeaderName::from_static("traceid");

/// Longest id accepted.
const MAX_ID_LEN: usize = 100;

/// The ids of one request, resolved from its headers.
#[derive(Debug, Clone)]
pub(crate) struct RequestIds {
    /// The id this server uses in its logs (`x-request-id`).
    pub(crate) request_id: String,
    /// `x-ms-request-id` when it differs from the request id (`None`: the same id, whose
    /// header value is then made once and shared).
    ms_request_id: Option<String>,
    client_request_id: Option<String>,
    trace_id: Option<HeaderValue>,
}

impl RequestIds {
    /// Reads the ids; `Err` carries the 431 response, with `x-request-id` when it was valid.
    pub(crate) fn from_headers(headers: &HeaderMap) -> Result<Self, (ApiError, Option<String>)> {
        let [request_id, legacy, client, trace_id] = super::first_values(
            headers,
            [
                &X_REQUEST_ID,
                &X_MS_REQUEST_ID,
                &X_MS_CLIENT_REQUEST_ID,
                &TRACE_ID,
            ],
        );
        let text = |value: Option<&HeaderValue>| {
            value
                .and_then(|v| v.to_str().ok())
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let request_id = match text(request_id) {
            Some(id) if id.len() > MAX_ID_LEN => {
                return Err((
                    ApiError::HeadersTooLarge(
                        "x-request-id must not exceed 100 characters".to_owned(),
                    ),
                    None,
                ));
            }
            Some(id) => id,
            None => new_id(),
        };
        let legacy = text(legacy);
        let client = text(client);
        if legacy.iter().chain(&client).any(|id| id.len() > MAX_ID_LEN) {
            return Err((
                ApiError::HeadersTooLarge(
                    "x-ms-request-id and x-ms-client-request-id must not exceed 100 characters"
                        .to_owned(),
                ),
                Some(request_id),
            ));
        }
        if legacy.is_some() {
            tracing::debug!(
                "x-ms-request-id is deprecated; clients should send x-ms-client-request-id"
            );
        }
        Ok(RequestIds {
            ms_request_id: legacy.clone().or_else(|| client.clone()),
            client_request_id: client.or(legacy),
            trace_id: trace_id.cloned(),
            request_id,
        })
    }

    /// Adds the ids to a response.
    pub(crate) fn apply(&self, headers: &mut HeaderMap) {
        // Usually both headers carry the request id: one value, shared (`Bytes` clone).
        if let Ok(value) = HeaderValue::from_maybe_shared(bytes::Bytes::copy_from_slice(
            self.request_id.as_bytes(),
        )) {
            headers.insert(X_REQUEST_ID, value.clone());
            if self.ms_request_id.is_none() {
                headers.insert(X_MS_REQUEST_ID, value);
            }
        }
        if let Some(ms_request_id) = &self.ms_request_id {
            insert_id(headers, X_MS_REQUEST_ID, ms_request_id);
        }
        if let Some(client) = &self.client_request_id {
            insert_id(headers, X_MS_CLIENT_REQUEST_ID, client);
        }
        if let Some(trace) = &self.trace_id {
            headers.insert(TRACE_ID, trace.clone());
        }
    }
}

/// A fresh request id: a UUID v4, hyphenated lower case, written without the `fmt`
/// machinery (this runs on every request that brings no id).
fn new_id() -> String {
    let mut buffer = uuid::Uuid::encode_buffer();
    uuid::Uuid::new_v4()
        .hyphenated()
        .encode_lower(&mut buffer)
        .to_owned()
}

/// Adds one id; ids came from valid header values (or are UUIDs), so this cannot fail.
pub(crate) fn insert_id(headers: &mut HeaderMap, name: HeaderName, id: &str) {
    if let Ok(value) = HeaderValue::from_str(id) {
        headers.insert(name, value);
    }
}
