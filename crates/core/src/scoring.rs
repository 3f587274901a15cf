//! The one way into scoring: what a request gives a deployment ([`Input`]), what comes back
//! ([`Scored`], [`Output`]) or why nothing does ([`Failure`]), and how a body becomes the
//! script's input (bound to its schema with the host's JSON checks, or decoded as the text an
//! undecorated script gets). `/score`, the Open Inference Protocol's `infer` and the benches
//! all go through [`crate::deployment::Deployment::score`] and so accept and refuse alike.

use std::time::Duration;

use serde_json::Value;

use scorehost_schema::{Entries, Invalid, Schema};
use scorehost_wit::NamedArgument;
/// A raw script's request and response, and an uploaded file: the records of the WIT
/// contract's `http` interface (`wit/scorehost.wit`), which a raw script gets as they are.
pub use scorehost_wit::http::{FormFile, Request as HttpRequest, Response as HttpResponse};

/// What a request gives the entry script.
#[derive(Debug)]
pub enum Input<'a> {
    /// A request body: a typed script gets it bound to its schema (a JSON object of its
    /// parameters), an undecorated one its text.
    Body(&'a [u8]),
    /// A `GET` query: a typed script gets the object of its arguments, an undecorated one the
    /// Azure ML server's `json.dumps` of them.
    Query(&'a str),
    /// A whole HTTP request, for a raw (`@rawhttp`) script.
    Http(HttpRequest),
}

impl Input<'_> {
    /// Bytes the request holds: its weight in the queue's memory admission.
    pub fn weight(&self) -> usize {
        match self {
            Input::Body(body) => body.len(),
            Input::Query(query) => query.len(),
            Input::Http(request) => request.body.len(),
        }
    }
}

/// What the entry script answered.
#[derive(Debug)]
pub enum Output {
    /// The JSON text `run` returned (a typed or undecorated script).
    Json(String),
    /// The response a raw script made.
    Http(HttpResponse),
}

/// A scored request: the script's answer and how long its `run` took.
#[derive(Debug)]
pub struct Scored<T = Output> {
    /// What the script answered.
    pub output: T,
    /// The guest call's time (the rest of a request's time is the host's).
    pub run_time: Duration,
}

/// Why a request got no result: one flat list whatever the guest's language or the protocol
/// that asked. Detail that must not reach a client (an exception's text, a trap's backtrace)
/// is logged with the request id where the failure is found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    /// The request does not fit what the script takes: its message names the field, and
    /// `path` is that field's JSON path (empty for the body itself or a top-level parameter).
    #[error("{message}")]
    BadInput {
        /// The client's message (with the path in front when there is one).
        message: String,
        /// Where in the body (`Inputs.data[3]`); empty at the top.
        path: String,
    },
    /// The script itself refused its input, with its message.
    #[error("the entry script refused its input: {0}")]
    Refused(String),
    /// The script failed. `Some`: a message it meant for the client; `None`: an exception or a
    /// raw script's error, whose text is only in the log.
    #[error("the entry script failed")]
    ScriptFailed(Option<String>),
    /// The guest trapped (a panic, `unreachable`, a bad memory access); its instance is gone.
    #[error("the entry script crashed")]
    Crashed,
    /// The call ran past its time budget.
    #[error("the entry script ran past its {0:?} budget")]
    TimedOut(Duration),
    /// The guest went over its memory limit (or the host's budget, or its `wasi:nn` handles).
    #[error("the entry script exceeded its memory limit")]
    MemoryLimit,
    /// Every instance stayed busy for the whole queue timeout.
    #[error("every instance stayed busy")]
    Overloaded,
    /// No instance was idle and starting one failed (its `init`, or the host's memory
    /// budget).
    #[error("no instance could be started")]
    NotStarted,
    /// The host's fault, or an answer it cannot send (text that is not JSON, an invalid
    /// status).
    #[error("internal error")]
    Internal,
}

impl Failure {
    /// A bad request about the body as a whole.
    pub fn bad_input(message: impl Into<String>) -> Failure {
        Failure::BadInput {
            message: message.into(),
            path: String::new(),
        }
    }

    /// Whether the script's `run` was entered and failed (the `x-ms-run-function-failed`
    /// header).
    pub fn run_failed(&self) -> bool {
        matches!(
            self,
            Failure::Refused(_)
                | Failure::ScriptFailed(_)
                | Failure::Crashed
                | Failure::TimedOut(_)
                | Failure::MemoryLimit
        )
    }
}

impl From<Invalid> for Failure {
    fn from(invalid: Invalid) -> Failure {
        Failure::BadInput {
            message: invalid.text(),
            path: invalid.path,
        }
    }
}

/// Parses a typed script's body: a JSON object whose top-level entries are left as raw JSON
/// text (borrowed from the body, never re-serialised), with the Azure ML server's messages for
/// bodies that are not one.
pub fn parse_payload(body: &[u8]) -> Result<Entries<'_>, Failure> {
    if body.is_empty() {
        return Err(Failure::bad_input(
            "POST body is empty. Expecting a JSON dictionary.".to_owned(),
        ));
    }
    serde_json::from_slice::<Entries>(body).map_err(|e| {
        Failure::bad_input(if e.is_data() {
            "POST body should be a JSON dictionary.".to_owned()
        } else {
            format!("POST body could not be decoded as JSON: {e}")
        })
    })
}

/// The typed arguments of a request body for `schema`: the one-pass reader's, or, for what
/// it declines, the body parsed, checked ([`scorehost_schema::check_json_text`]: depth, finite
/// numbers, Unicode) and bound with the path of what is wrong. The one way a body becomes
/// arguments: `/score`, the Open Inference Protocol's `infer` (on the body its tensors
/// assemble into) and the benches' entry all bind through here, so they accept and refuse
/// alike.
pub fn bind_arguments(schema: &Schema, body: &[u8]) -> Result<Vec<NamedArgument>, Failure> {
    if let Some(arguments) = schema.bind_body(body) {
        return Ok(arguments);
    }
    let top = parse_payload(body)?;
    // What the guest SDKs will parse must be JSON every one of them accepts.
    scorehost_schema::check_json_text(body)?;
    Ok(schema.bind(&top.0)?)
}

/// An undecorated script's body as the `str` the Azure ML server hands `run(raw_data)`:
/// UTF-8, or 400 with Python's description of the first bad byte.
pub fn decode_text(body: &[u8]) -> Result<String, Failure> {
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
            Err(Failure::bad_input(format!(
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
pub fn query_to_body(query: &str) -> Vec<u8> {
    Value::Object(query_object(query, false))
        .to_string()
        .into_bytes()
}

/// What an undecorated script's `run(raw_data)` gets on `GET /score`: `json.dumps` of the
/// query arguments, written as Python writes it (`", "` and `": "` separators, non-ASCII
/// escaped).
pub fn query_to_text(query: &str) -> String {
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

    fn message(err: Failure) -> String {
        match err {
            Failure::BadInput { message, path } if path.is_empty() => message,
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
