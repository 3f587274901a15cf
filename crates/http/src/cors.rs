//! Cross-origin resource sharing, per deployment (the Azure ML server's `AML_CORS_ORIGINS`).
//!
//! For a request whose `Origin` is allowed the host adds `Access-Control-Allow-Origin` (the
//! origin, or `*` when any is allowed) and `Vary: Origin`; for a preflight (`OPTIONS` with
//! `Access-Control-Request-Method`) also the allowed methods, the requested headers and a
//! max-age. A disallowed origin gets no CORS headers and an unchanged status and body, as with
//! flask-cors. A header the response already has (a raw entry script's own CORS headers) is
//! never overwritten: the script wins.

use hyper::HeaderMap;
use hyper::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_MAX_AGE, ACCESS_CONTROL_REQUEST_HEADERS, ACCESS_CONTROL_REQUEST_METHOD,
    HeaderName, HeaderValue, ORIGIN, VARY,
};

/// Methods a preflight is told the deployment accepts.
const ALLOWED_METHODS: &str = "GET, POST, OPTIONS";
/// How long a browser may cache a preflight answer, in seconds.
const MAX_AGE: &str = "600";

/// What the CORS decision needs from a request.
#[derive(Debug, Default)]
pub(crate) struct CorsRequest {
    origin: Option<HeaderValue>,
    preflight: bool,
    requested_headers: Option<HeaderValue>,
}

impl CorsRequest {
    /// Whether the request names an origin (else no CORS header is due).
    pub(crate) fn has_origin(&self) -> bool {
        self.origin.is_some()
    }

    /// Reads the CORS headers of a request with `method`.
    pub(crate) fn from_request(is_options: bool, headers: &HeaderMap) -> Self {
        let [origin, requested_method, requested_headers] = super::first_values(
            headers,
            [
                &ORIGIN,
                &ACCESS_CONTROL_REQUEST_METHOD,
                &ACCESS_CONTROL_REQUEST_HEADERS,
            ],
        );
        CorsRequest {
            origin: origin.cloned(),
            preflight: is_options && requested_method.is_some(),
            requested_headers: requested_headers.cloned(),
        }
    }
}

/// Adds the CORS headers `allowed` grants `request` to `response`.
pub(crate) fn apply(allowed: &[String], request: &CorsRequest, response: &mut HeaderMap) {
    let Some(origin) = &request.origin else {
        return;
    };
    let any = allowed.iter().any(|o| o == "*");
    let listed = origin
        .to_str()
        .is_ok_and(|o| allowed.iter().any(|a| a.eq_ignore_ascii_case(o)));
    if !any && !listed {
        return;
    }
    let mut add = |name: HeaderName, value: HeaderValue| {
        if !response.contains_key(&name) {
            response.insert(name, value);
        }
    };
    if listed {
        add(ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        add(VARY, HeaderValue::from_static("Origin"));
    } else {
        add(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    }
    if request.preflight {
        add(
            ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static(ALLOWED_METHODS),
        );
        if let Some(requested) = &request.requested_headers {
            add(ACCESS_CONTROL_ALLOW_HEADERS, requested.clone());
        }
        add(ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static(MAX_AGE));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(origin: &str, preflight: bool) -> CorsRequest {
        let mut headers = HeaderMap::new();
        headers.insert(ORIGIN, HeaderValue::from_str(origin).unwrap());
        if preflight {
            headers.insert(
                ACCESS_CONTROL_REQUEST_METHOD,
                HeaderValue::from_static("POST"),
            );
            headers.insert(
                ACCESS_CONTROL_REQUEST_HEADERS,
                HeaderValue::from_static("content-type"),
            );
        }
        CorsRequest::from_request(preflight, &headers)
    }

    #[test]
    fn allowed_origins_are_granted_and_others_are_not() {
        let allowed = vec!["http://a.example".to_owned()];
        let mut out = HeaderMap::new();
        apply(&allowed, &request("http://a.example", true), &mut out);
        assert_eq!(out[ACCESS_CONTROL_ALLOW_ORIGIN], "http://a.example");
        assert_eq!(out[VARY], "Origin");
        assert_eq!(out[ACCESS_CONTROL_ALLOW_HEADERS], "content-type");
        assert_eq!(out[ACCESS_CONTROL_ALLOW_METHODS], ALLOWED_METHODS);

        let mut out = HeaderMap::new();
        apply(&allowed, &request("http://evil.example", true), &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn the_responses_own_headers_win() {
        let mut out = HeaderMap::new();
        out.insert(
            ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("http://www.example.com"),
        );
        apply(
            &["*".to_owned()],
            &request("http://b.example", false),
            &mut out,
        );
        assert_eq!(out[ACCESS_CONTROL_ALLOW_ORIGIN], "http://www.example.com");
    }
}
