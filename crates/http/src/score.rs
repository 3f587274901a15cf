//! The scoring handlers: typed `/score` (JSON payload, GET query), raw `/score` (whole
//! request to the script) and `/swagger.json`, for one deployment.

use std::time::Duration;

use super::RequestBody;
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use hyper::{Request, Response, StatusCode};

use super::body::{is_json, parse_multipart, read_limited};
use super::error::{ApiError, RUN_FUNCTION_FAILED, run_flag};
use super::request_id::RequestIds;
use super::{HttpResponse, Routed, TEXT_HTML};
use scorehost_core::deployment::{Deployment, Form};
use scorehost_core::scoring::{HttpRequest, Input, Output, Scored};
use scorehost_schema::SwaggerVersion;

/// Answers `/swagger.json[?version=]` from the documents rendered at load.
pub(crate) fn swagger(
    deployment: &Deployment,
    query: Option<&str>,
) -> Result<HttpResponse, ApiError> {
    let version = query.and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "version")
            .map(|(_, v)| v.into_owned())
    });
    let version =
        SwaggerVersion::parse(version.as_deref()).map_err(|e| ApiError::NotFound(Some(e)))?;
    let mut response = Response::new(Full::new(deployment.swagger(version)));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(RUN_FUNCTION_FAILED, run_flag(false));
    Ok(response)
}

/// `POST /score`: the body read under the size limit, then scored. A typed script needs a
/// JSON body (415 otherwise); an undecorated one takes any content type, as Azure ML does.
pub(crate) async fn score_post(
    deployment: &Deployment,
    req: Request<RequestBody>,
    ids: &RequestIds,
) -> Result<Routed, ApiError> {
    let content_type = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    if matches!(deployment.form(), Form::Typed(_)) && !is_json(content_type) {
        return Err(ApiError::UnsupportedMediaType);
    }
    let limit = deployment.settings().limits.max_body;
    let body = read_limited(req.into_body(), limit).await?;
    let scored = deployment
        .score(&ids.request_id, Input::Body(&body))
        .await?;
    answer(scored)
}

/// `GET /score`: a typed script gets the query arguments as the JSON object a POST would
/// carry; an undecorated one gets Azure ML's `json.dumps` of them as its text.
pub(crate) async fn score_get(
    deployment: &Deployment,
    query: &str,
    ids: &RequestIds,
) -> Result<Routed, ApiError> {
    let scored = deployment
        .score(&ids.request_id, Input::Query(query))
        .await?;
    answer(scored)
}

/// A raw entry script gets the whole request, whatever its method, and makes the response.
pub(crate) async fn score_raw(
    deployment: &Deployment,
    req: Request<RequestBody>,
    ids: &RequestIds,
) -> Result<Routed, ApiError> {
    let (parts, body) = req.into_parts();
    let limit = deployment.settings().limits.max_body;
    let body = read_limited(body, limit).await?;
    let content_type = parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let (files, form) = parse_multipart(content_type, &body).await?;
    let request = HttpRequest {
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
    let scored = deployment
        .score(&ids.request_id, Input::Http(request))
        .await?;
    answer(scored)
}

/// The response of a scored request: the script's JSON with the run headers, or the
/// response a raw script made.
fn answer(scored: Scored) -> Result<Routed, ApiError> {
    let run_time = scored.run_time;
    let response = match scored.output {
        Output::Json(text) => scored_response(
            text.into(),
            HeaderValue::from_static("application/json"),
            run_time,
        ),
        Output::Http(raw) => {
            let Ok(status) = StatusCode::from_u16(raw.status) else {
                tracing::warn!(
                    status = raw.status,
                    "the entry script returned an invalid status"
                );
                return Err(ApiError::Score(scorehost_core::scoring::Failure::Internal));
            };
            let mut response = Response::new(Full::new(Bytes::from(raw.body)));
            *response.status_mut() = status;
            let headers = response.headers_mut();
            for (name, value) in raw.headers {
                match (
                    HeaderName::from_bytes(name.as_bytes()),
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
            insert_exec_ms(headers, run_time);
            response
        }
    };
    Ok(Routed {
        response,
        run_time: Some(run_time),
    })
}

/// The 200 of a scored request: `body` as `content_type`, with `x-ms-run-function-failed:
/// False` and the guest's run time header.
pub(crate) fn scored_response(
    body: Bytes,
    content_type: HeaderValue,
    run_time: Duration,
) -> HttpResponse {
    let mut response = Response::new(Full::new(body));
    // Sized for every header the response gets on its way out (routes add the ids, the
    // plugin digest and the server version): a map grown on the way is rehashed.
    *response.headers_mut() = hyper::HeaderMap::with_capacity(SCORED_HEADERS);
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, content_type);
    headers.insert(RUN_FUNCTION_FAILED, run_flag(false));
    insert_exec_ms(headers, run_time);
    response
}

/// Headers of a scored 200 with the common ones (content type, run flag, run time, plugin
/// digest, `x-request-id`, `x-ms-request-id`, server version, and room for CORS and client
/// ids).
const SCORED_HEADERS: usize = 16;

/// The guest's run time header.
const EXEC_MS: HeaderName = HeaderName::from_static("x-ms-run-fn-exec-ms");

/// `x-ms-run-fn-exec-ms`: the guest's run time, `%.3f` ms as the Azure ML server writes it.
/// Integer formatting: this runs on every request, and float formatting costs ~1 % of a
/// request's CPU time.
pub(crate) fn insert_exec_ms(headers: &mut hyper::HeaderMap, run_time: Duration) {
    // In u64, not the u128 of `as_nanos`: the loop below divides twice per digit, and 128-bit
    // arithmetic is dearer (measured: 92 of the function's 611 instructions per request).
    let micros = run_time
        .as_secs()
        .saturating_mul(1_000_000)
        .saturating_add(u64::from((run_time.subsec_nanos() + 500) / 1000));
    // Written right to left into a stack buffer: no `fmt` machinery, no allocation.
    let mut text = [0u8; 24];
    let mut at = text.len();
    let mut rest = micros;
    for digit in 0.. {
        if digit == 3 {
            at -= 1;
            text[at] = b'.';
        }
        at -= 1;
        text[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if digit >= 3 && rest == 0 {
            break;
        }
    }
    if let Ok(value) = HeaderValue::from_bytes(&text[at..]) {
        headers.insert(EXEC_MS, value);
    }
}

/// Headers the host sets itself: framing and connection management (hop-by-hop headers of
/// RFC 9110 §7.6.1, `content-length`, `transfer-encoding`) would corrupt the response if an
/// entry script could set them.
fn is_host_owned(name: &HeaderName) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_ms_has_three_decimals_rounded_to_the_microsecond() {
        for (run_time, expected) in [
            (Duration::ZERO, "0.000"),
            (Duration::from_nanos(499), "0.000"),
            (Duration::from_nanos(500), "0.001"),
            (Duration::from_micros(1_500), "1.500"),
            (Duration::from_nanos(12_345_600), "12.346"),
            (Duration::from_secs(2), "2000.000"),
            (Duration::from_millis(10_000_007), "10000007.000"),
        ] {
            let mut headers = hyper::HeaderMap::new();
            insert_exec_ms(&mut headers, run_time);
            assert_eq!(headers[EXEC_MS], expected, "{run_time:?}");
        }
    }
}
