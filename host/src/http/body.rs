//! Reading request bodies under a size and time limit, and taking the scoring payload
//! `{"Inputs": {...}, "GlobalParameters": ...}` apart without re-serialising it.

use std::marker::PhantomData;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::{Body, Incoming};
use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use super::error::ApiError;
use crate::runtime::bindings::raw::FormFile;

/// How long a client may take to send its body.
const BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// After answering 413, keep reading (and discarding) up to this much so the client sees the
/// answer instead of a reset connection.
const DRAIN_LIMIT: u64 = 64 << 20;
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Reads the whole body, refusing more than `limit` bytes.
pub(crate) async fn read_limited(mut body: Incoming, limit: usize) -> Result<Bytes, ApiError> {
    if body.size_hint().lower() > limit as u64 {
        drain(body);
        return Err(ApiError::PayloadTooLarge { limit });
    }
    let read = async {
        let mut buf = BytesMut::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| {
                tracing::debug!("reading the body failed: {e}");
                ApiError::BadRequest("The request body could not be read.".to_owned())
            })?;
            if let Ok(data) = frame.into_data() {
                if buf.len() + data.len() > limit {
                    return Err(ApiError::PayloadTooLarge { limit });
                }
                buf.extend_from_slice(&data);
            }
        }
        Ok(buf.freeze())
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
fn drain(mut body: Incoming) {
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
    let mime = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

/// The scoring payload: the entries of `Inputs` and the `GlobalParameters` value, each still
/// the JSON text the client sent (borrowed from the body, never re-serialised).
#[derive(Debug)]
pub(crate) struct Payload<'a> {
    pub(crate) inputs: Vec<(String, &'a RawValue)>,
    pub(crate) global_parameters: Option<&'a RawValue>,
}

/// Parses `{"Inputs": {...}, "GlobalParameters": ...}`. Other top-level keys are ignored, as
/// the Azure ML server ignores them.
pub(crate) fn parse_payload(body: &[u8]) -> Result<Payload<'_>, ApiError> {
    if body.is_empty() {
        return Err(ApiError::BadRequest(
            "POST body is empty. Expecting a JSON dictionary.".to_owned(),
        ));
    }
    let top = serde_json::from_slice::<Entries>(body).map_err(|e| {
        ApiError::BadRequest(if e.is_data() {
            "POST body should be a JSON dictionary.".to_owned()
        } else {
            format!("POST body could not be decoded as JSON: {e}")
        })
    })?;
    let inputs = top.get("Inputs").ok_or_else(|| {
        ApiError::BadRequest("A value is not provided for the 'Inputs' parameter.".to_owned())
    })?;
    let inputs = serde_json::from_str::<Entries>(inputs.get())
        .map_err(|_| ApiError::BadRequest("Inputs should be a JSON dictionary.".to_owned()))?;
    Ok(Payload {
        inputs: inputs.0,
        global_parameters: top.get("GlobalParameters"),
    })
}

/// The entries of a JSON object in document order, values left as raw JSON text. A repeated
/// key keeps its first position and its last value, as Python's `json` does.
struct Entries<'a>(Vec<(String, &'a RawValue)>);

impl<'a> Entries<'a> {
    fn get(&self, key: &str) -> Option<&'a RawValue> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| *v)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Entries<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EntriesVisitor<'a>(PhantomData<&'a ()>);

        impl<'de: 'a, 'a> Visitor<'de> for EntriesVisitor<'a> {
            type Value = Entries<'a>;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON dictionary")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut entries: Vec<(String, &'a RawValue)> = Vec::new();
                while let Some((key, value)) = map.next_entry::<String, &'de RawValue>()? {
                    match entries.iter_mut().find(|(k, _)| *k == key) {
                        Some(slot) => slot.1 = value,
                        None => entries.push((key, value)),
                    }
                }
                Ok(Entries(entries))
            }
        }

        deserializer.deserialize_map(EntriesVisitor(PhantomData))
    }
}

/// Turns `GET /score` query arguments into the JSON body a POST would carry: each value is
/// parsed as JSON where it can be and kept as a string otherwise (the Azure ML server's rule).
pub(crate) fn query_to_body(query: &str) -> Vec<u8> {
    let mut object = serde_json::Map::new();
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        let value = serde_json::from_str(&value)
            .unwrap_or_else(|_| serde_json::Value::String(value.into_owned()));
        object.insert(key.into_owned(), value);
    }
    serde_json::Value::Object(object).to_string().into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(err: ApiError) -> String {
        match err {
            ApiError::BadRequest(m) => m,
            other => panic!("expected a 400, got {other:?}"),
        }
    }

    #[test]
    fn inputs_keep_order_and_raw_text() {
        let parsed = parse_payload(
            br#"{"extra": 1, "Inputs": {"b": [1, 2.50], "a": {"x": "y"}, "b": [3]}, "GlobalParameters": 1.0}"#,
        )
        .unwrap();
        let inputs: Vec<_> = parsed
            .inputs
            .iter()
            .map(|(n, v)| (n.as_str(), v.get()))
            .collect();
        assert_eq!(inputs, [("b", "[3]"), ("a", r#"{"x": "y"}"#)]);
        assert_eq!(parsed.global_parameters.map(RawValue::get), Some("1.0"));
    }

    #[test]
    fn bodies_that_are_not_objects_get_the_azure_messages() {
        assert_eq!(
            message(parse_payload(b"").unwrap_err()),
            "POST body is empty. Expecting a JSON dictionary."
        );
        for body in [&b"[1,2]"[..], b"\"hello\"", b"null"] {
            assert_eq!(
                message(parse_payload(body).unwrap_err()),
                "POST body should be a JSON dictionary."
            );
        }
        let m = message(parse_payload(b"{\"Inputs\": {\"a\" 1}}").unwrap_err());
        assert!(
            m.starts_with("POST body could not be decoded as JSON: "),
            "{m}"
        );
        assert_eq!(
            message(parse_payload(b"{\"GlobalParameters\": 1}").unwrap_err()),
            "A value is not provided for the 'Inputs' parameter."
        );
    }

    #[test]
    fn json_content_types() {
        assert!(is_json(Some("application/json")));
        assert!(is_json(Some("Application/JSON; charset=utf-8")));
        assert!(is_json(Some("application/vnd.api+json")));
        assert!(!is_json(Some("text/plain")));
        assert!(!is_json(None));
    }

    #[test]
    fn query_values_are_json_where_possible() {
        let body =
            query_to_body("Inputs=%7B%22input1%22%3A%5B1%5D%7D&GlobalParameters=0.5&name=bob");
        let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"Inputs": {"input1": [1]}, "GlobalParameters": 0.5, "name": "bob"})
        );
    }
}
