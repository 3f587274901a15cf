//! Reading request bodies under a size and time limit, and taking the scoring payload
//! `{"Inputs": {...}, "GlobalParameters": ...}` apart without re-serialising it.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::{Body, Incoming};
use serde_json::Value;

use super::error::ApiError;
use crate::runtime::bindings::raw::FormFile;
pub(crate) use crate::schema::Entries;

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
    // Compared without lower-casing into a new string: this runs on every scored request.
    let mime = value.split(';').next().unwrap_or("").trim().as_bytes();
    let (Some(kind), Some(sub)) = (mime.get(..12), mime.get(12..)) else {
        return false;
    };
    kind.eq_ignore_ascii_case(b"application/")
        && (sub.eq_ignore_ascii_case(b"json")
            || sub.len() >= 5 && sub[sub.len() - 5..].eq_ignore_ascii_case(b"+json"))
}

/// Parses a typed script's body: a JSON object whose top-level entries are left as raw JSON
/// text (borrowed from the body, never re-serialised), with the Azure ML server's messages for
/// bodies that are not one.
pub(crate) fn parse_payload(body: &[u8]) -> Result<Entries<'_>, ApiError> {
    if body.is_empty() {
        return Err(ApiError::BadRequest(
            "POST body is empty. Expecting a JSON dictionary.".to_owned(),
        ));
    }
    serde_json::from_slice::<Entries>(body).map_err(|e| {
        ApiError::BadRequest(if e.is_data() {
            "POST body should be a JSON dictionary.".to_owned()
        } else {
            format!("POST body could not be decoded as JSON: {e}")
        })
    })
}

/// The typed arguments of a request body for `schema`: the one-pass reader's, or, for what
/// it declines, the body parsed, checked ([`crate::schema::check_json_text`]: depth, finite
/// numbers, Unicode) and bound with the path of what is wrong. The one way a body becomes
/// arguments: `/score`, the Open Inference Protocol's `infer` (on the body its tensors
/// assemble into) and the benches' entry all bind through here, so they accept and refuse
/// alike.
pub(crate) fn bind_arguments(
    schema: &crate::schema::Schema,
    body: &[u8],
) -> Result<Vec<crate::runtime::bindings::NamedArgument>, ApiError> {
    if let Some(arguments) = schema.bind_body(body) {
        return Ok(arguments);
    }
    let top = parse_payload(body)?;
    // What the guest SDKs will parse must be JSON every one of them accepts.
    crate::schema::check_json_text(body)
        .map_err(|invalid| ApiError::Score(crate::deployment::ScoreError::Invalid(invalid)))?;
    schema.bind(&top.0).map_err(|e| ApiError::Score(e.into()))
}

/// An undecorated script's body as the `str` the Azure ML server hands `run(raw_data)`:
/// UTF-8, or 400 with Python's description of the first bad byte.
pub(crate) fn decode_text(body: &[u8]) -> Result<String, ApiError> {
    match std::str::from_utf8(body) {
        Ok(text) => Ok(text.to_owned()),
        Err(e) => {
            let at = e.valid_up_to();
            let byte = body[at];
            let reason = match e.error_len() {
                None => "unexpected end of data",
                Some(_) if matches!(byte, 0x80..=0xC1 | 0xF5..=0xFF) => "invalid start byte",
                Some(_) => "invalid continuation byte",
            };
            Err(ApiError::BadRequest(format!(
                "Input cannot be decoded as UTF-8: 'utf-8' codec can't decode byte 0x{byte:02x} \
                 in position {at}: {reason}"
            )))
        }
    }
}

/// The query arguments of `GET /score` as one JSON object: each value parsed as JSON where
/// it can be and kept as a string otherwise; with `lists`, a repeated key becomes the list of
/// its values (the Azure ML server's rule for undecorated scripts), else the last one wins.
fn query_object(query: &str, lists: bool) -> serde_json::Map<String, Value> {
    let mut object = serde_json::Map::new();
    let mut repeated: Vec<String> = Vec::new();
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        let value =
            serde_json::from_str(&value).unwrap_or_else(|_| Value::String(value.into_owned()));
        match object.get_mut(key.as_ref()) {
            Some(Value::Array(values)) if lists && repeated.iter().any(|k| k == &key) => {
                values.push(value);
            }
            Some(first) if lists => {
                *first = Value::Array(vec![first.take(), value]);
                repeated.push(key.into_owned());
            }
            _ => {
                object.insert(key.into_owned(), value);
            }
        }
    }
    object
}

/// Turns `GET /score` query arguments into the JSON body a POST would carry (typed scripts).
pub(crate) fn query_to_body(query: &str) -> Vec<u8> {
    Value::Object(query_object(query, false))
        .to_string()
        .into_bytes()
}

/// What an undecorated script's `run(raw_data)` gets on `GET /score`: `json.dumps` of the
/// query arguments, written as Python writes it (`", "` and `": "` separators, non-ASCII
/// escaped).
pub(crate) fn query_to_text(query: &str) -> String {
    let mut out = String::new();
    python_json(&Value::Object(query_object(query, true)), &mut out);
    out
}

/// `json.dumps(value)` with Python's defaults.
fn python_json(value: &Value, out: &mut String) {
    use std::fmt::Write as _;
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) if n.is_f64() => {
            // Python's float repr: `1e+16`, `1e-07` where Rust writes `1e16`, `1e-7`.
            let text = n.to_string();
            match text.split_once('e') {
                Some((mantissa, exponent)) => {
                    let (sign, digits) = match exponent.strip_prefix('-') {
                        Some(d) => ('-', d),
                        None => ('+', exponent.trim_start_matches('+')),
                    };
                    let _ = write!(out, "{mantissa}e{sign}{digits:0>2}");
                }
                None => out.push_str(&text),
            }
        }
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => {
            out.push('"');
            for c in s.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    '\u{08}' => out.push_str("\\b"),
                    '\u{0c}' => out.push_str("\\f"),
                    ' '..='~' => out.push(c),
                    _ => {
                        let mut units = [0u16; 2];
                        for unit in c.encode_utf16(&mut units) {
                            let _ = write!(out, "\\u{unit:04x}");
                        }
                    }
                }
            }
            out.push('"');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                python_json(item, out);
            }
            out.push(']');
        }
        Value::Object(fields) => {
            out.push('{');
            for (i, (key, item)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                python_json(&Value::String(key.clone()), out);
                out.push_str(": ");
                python_json(item, out);
            }
            out.push('}');
        }
    }
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
    fn entries_keep_order_and_raw_text() {
        let parsed =
            parse_payload(br#"{"b": [1, 2.50], "a": {"x": "y"}, "b": [3], "c": 1.0}"#).unwrap();
        let entries: Vec<_> = parsed
            .0
            .iter()
            .map(|(n, v)| (n.as_str(), v.get()))
            .collect();
        assert_eq!(
            entries,
            [("b", "[3]"), ("a", r#"{"x": "y"}"#), ("c", "1.0")]
        );
    }

    #[test]
    fn undecorated_bodies_are_utf8_text_with_python_messages() {
        assert_eq!(decode_text(b"").unwrap(), "");
        assert_eq!(decode_text("naïve".as_bytes()).unwrap(), "naïve");
        assert_eq!(
            message(decode_text(b"ab\xff").unwrap_err()),
            "Input cannot be decoded as UTF-8: 'utf-8' codec can't decode byte 0xff in \
             position 2: invalid start byte"
        );
        assert_eq!(
            message(decode_text(b"\xc3(").unwrap_err()),
            "Input cannot be decoded as UTF-8: 'utf-8' codec can't decode byte 0xc3 in \
             position 0: invalid continuation byte"
        );
        assert_eq!(
            message(decode_text(b"a\xe2\x82").unwrap_err()),
            "Input cannot be decoded as UTF-8: 'utf-8' codec can't decode byte 0xe2 in \
             position 1: unexpected end of data"
        );
    }

    #[test]
    fn undecorated_get_is_python_json_dumps_of_the_query() {
        assert_eq!(query_to_text(""), "{}");
        assert_eq!(
            query_to_text("a=1&b=x&a=%5B2%5D&c=%7B%22k%22%3A1.5e20%7D&d=%C3%A9&e=1e-7&a=null"),
            r#"{"a": [1, [2], null], "b": "x", "c": {"k": 1.5e+20}, "d": "\u00e9", "e": 1e-07}"#
        );
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
    }

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

    #[test]
    fn query_values_are_json_where_possible() {
        let body =
            query_to_body("Inputs=%7B%22input1%22%3A%5B1%5D%7D&GlobalParameters=0.5&name=bob");
        let value: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"Inputs": {"input1": [1]}, "GlobalParameters": 0.5, "name": "bob"})
        );
    }
}
