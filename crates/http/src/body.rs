//! Reading request bodies under a size and time limit, multipart forms, JSON content types.
//! (What a body means to a script is the core's: `scorehost_core::scoring`.)

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::Body;

use super::RequestBody;

use super::error::ApiError;
use scorehost_core::scoring::FormFile;

/// How long a client may take to send its body.
const BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// After answering 413, keep reading (and discarding) up to this much so the client sees the
/// answer instead of a reset connection.
const DRAIN_LIMIT: u64 = 64 << 20;
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Reads the whole body, refusing more than `limit` bytes.
pub(crate) async fn read_limited(mut body: RequestBody, limit: usize) -> Result<Bytes, ApiError> {
    if body.size_hint().lower() > limit as u64 {
        drain(body);
        return Err(ApiError::PayloadTooLarge { limit });
    }
    let read = async {
        // A body that arrives in one frame (the usual small JSON request) is kept as hyper's
        // own `Bytes`, without a copy; only a second frame starts a buffer.
        let mut first: Option<Bytes> = None;
        let mut buf = BytesMut::new();
        let mut total = 0usize;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| {
                tracing::debug!("reading the body failed: {e}");
                ApiError::BadRequest("The request body could not be read.".to_owned())
            })?;
            if let Ok(data) = frame.into_data() {
                total += data.len();
                if total > limit {
                    return Err(ApiError::PayloadTooLarge { limit });
                }
                if first.is_none() && buf.is_empty() {
                    first = Some(data);
                } else {
                    if let Some(first) = first.take() {
                        buf.extend_from_slice(&first);
                    }
                    buf.extend_from_slice(&data);
                }
            }
        }
        Ok(first.unwrap_or_else(|| buf.freeze()))
    };
    let result = tokio::time::timeout(BODY_TIMEOUT, read).await;
    match result {
        Err(_elapsed) => Err(ApiError::BodyTimeout),
        Ok(Err(ApiError::PayloadTooLarge { limit })) => {
            drain(body);
            Err(ApiError::PayloadTooLarge { limit })
        }
        Ok(other) => other,
    }
}

/// Discards the rest of a refused body in the background (bounded in size and time), so the
/// connection stays usable and the client reads our 413 rather than a reset.
fn drain(mut body: RequestBody) {
    tokio::spawn(async move {
        let discard = async {
            let mut seen = 0u64;
            while let Some(Ok(frame)) = body.frame().await {
                seen += frame.data_ref().map_or(0, |d| d.len() as u64);
                if seen > DRAIN_LIMIT {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(DRAIN_TIMEOUT, discard).await;
    });
}

/// Most parts a `multipart/form-data` body may have.
const MAX_PARTS: usize = 100;

/// Splits a `multipart/form-data` body into its files and plain fields (`multer` does the
/// parsing). Not multipart: nothing. Malformed: 400.
pub(crate) async fn parse_multipart(
    content_type: Option<&str>,
    body: &Bytes,
) -> Result<(Vec<FormFile>, Vec<(String, String)>), ApiError> {
    let Some(boundary) = content_type.and_then(|ct| multer::parse_boundary(ct).ok()) else {
        return Ok((Vec::new(), Vec::new()));
    };
    let bad =
        |e: multer::Error| ApiError::BadRequest(format!("Malformed multipart/form-data body: {e}"));
    let mut multipart =
        multer::Multipart::with_reader(std::io::Cursor::new(body.clone()), boundary);
    let (mut files, mut form) = (Vec::new(), Vec::new());
    while let Some(field) = multipart.next_field().await.map_err(bad)? {
        if files.len() + form.len() >= MAX_PARTS {
            return Err(ApiError::BadRequest(format!(
                "Malformed multipart/form-data body: more than {MAX_PARTS} parts"
            )));
        }
        let name = field.name().unwrap_or_default().to_owned();
        let filename = field.file_name().map(str::to_owned);
        let content_type = field.content_type().map(|m| m.to_string());
        let data = field.bytes().await.map_err(bad)?;
        if filename.is_some() {
            files.push(FormFile {
                field: name,
                filename,
                content_type,
                data: data.to_vec(),
            });
        } else {
            form.push((name, String::from_utf8_lossy(&data).into_owned()));
        }
    }
    Ok((files, form))
}

/// Whether a `Content-Type` is JSON the way Flask's `request.is_json` decides it:
/// `application/json` or `application/*+json`, any parameters.
pub(crate) fn is_json(content_type: Option<&str>) -> bool {
    let Some(value) = content_type else {
        return false;
    };
    // Compared without lower-casing into a new string: this runs on every scored request.
    let mime = value.split(';').next().unwrap_or("").trim().as_bytes();
    let (Some(kind), Some(sub)) = (mime.get(..12), mime.get(12..)) else {
        return false;
    };
    kind.eq_ignore_ascii_case(b"application/")
        && (sub.eq_ignore_ascii_case(b"json")
            || sub.len() >= 5 && sub[sub.len() - 5..].eq_ignore_ascii_case(b"+json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_content_types() {
        assert!(is_json(Some("application/json")));
        assert!(is_json(Some("Application/JSON; charset=utf-8")));
        assert!(is_json(Some("application/vnd.api+json")));
        assert!(!is_json(Some("text/plain")));
        assert!(is_json(Some(" APPLICATION/X+JSON ")));
        assert!(!is_json(Some("application/")));
        assert!(!is_json(Some("application/jsonx")));
        assert!(!is_json(Some("text/json")));
        assert!(!is_json(None));
    }
}
