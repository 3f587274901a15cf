//! Pages for people: `/docs` (and `/api/v1/service/NAME/docs`), a try-it page built in the
//! browser from the deployment's own OpenAPI 3 document, and `/console`, the operator's view
//! of every deployment (status, the last minute of traffic, failures by kind, swaps).
//!
//! The pages are static files compiled into the binary (`pages/`): HTML without inline
//! script or style, one JavaScript and one CSS file per page served from `/pages/`, all under a
//! Content-Security-Policy that allows scripts, styles and requests from this host only. The
//! scripts put everything a plugin or a client controls into the page as text
//! (`textContent`), never as markup. The console asks for the admin key and sends it only as
//! the `Authorization` header of the admin API; the docs page does the same with a
//! deployment key. Neither stores a key.
//!
//! The console's feeds are admin routes: `GET /api/v1/metrics/recent` (a point per second
//! over the last minute per deployment, see `scorehost_core::recent`) and `GET /api/v1/swaps`.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, HeaderMap, HeaderValue, REFERRER_POLICY,
    X_CONTENT_TYPE_OPTIONS,
};
use hyper::{Method, Response, StatusCode};
use serde_json::json;

use super::HttpResponse;
use super::error::{ApiError, json_response};
use scorehost_core::deployment::Deployment;
use scorehost_core::registry::Registry;
use scorehost_metrics::Route;

/// Scripts, styles, images and requests from this host only; no inline script or style, no
/// plugins, no frames, no form posts elsewhere.
pub(crate) const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

/// One of the static files under `/pages/`.
pub(crate) struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static str,
}

static ASSETS: [Asset; 3] = [
    Asset {
        path: "/pages/pages.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("pages/pages.css"),
    },
    Asset {
        path: "/pages/docs.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("pages/docs.js"),
    },
    Asset {
        path: "/pages/console.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("pages/console.js"),
    },
];

const DOCS_HTML: &str = include_str!("pages/docs.html");
const CONSOLE_HTML: &str = include_str!("pages/console.html");

/// A page or feed that belongs to no one deployment.
pub(crate) enum Page {
    Console,
    Asset(&'static Asset),
    /// `GET /api/v1/metrics/recent` (admin).
    Recent,
    /// `GET /api/v1/swaps` (admin).
    Swaps,
}

impl Page {
    /// The page at `path`, if any.
    pub(crate) fn of(path: &str) -> Option<Page> {
        match path {
            "/console" => Some(Page::Console),
            "/api/v1/metrics/recent" => Some(Page::Recent),
            "/api/v1/swaps" => Some(Page::Swaps),
            _ => ASSETS.iter().find(|a| a.path == path).map(Page::Asset),
        }
    }

    /// The `route` label of its requests.
    pub(crate) fn route(&self) -> Route {
        match self {
            Page::Console | Page::Recent | Page::Swaps => Route::admin,
            Page::Asset(_) => Route::swagger,
        }
    }

    /// Whether it needs the admin key (the console page itself does not: it asks for it).
    pub(crate) fn is_admin(&self) -> bool {
        matches!(self, Page::Recent | Page::Swaps)
    }

    /// Answers a request for it (the admin key, when needed, was checked by the caller).
    pub(crate) fn serve(
        &self,
        method: &Method,
        registry: &Registry,
    ) -> Result<HttpResponse, ApiError> {
        if self.is_admin() {
            if *method != Method::GET {
                return Err(ApiError::MethodNotAllowed { allow: "GET" });
            }
        } else if !matches!(*method, Method::GET | Method::HEAD) {
            return Err(ApiError::MethodNotAllowed { allow: "GET, HEAD" });
        }
        Ok(match self {
            Page::Console => html(Bytes::from_static(CONSOLE_HTML.as_bytes())),
            Page::Asset(asset) => {
                let mut response =
                    Response::new(Full::new(Bytes::from_static(asset.body.as_bytes())));
                let headers = response.headers_mut();
                headers.insert(CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
                protect(headers);
                response
            }
            Page::Recent => json_response(
                StatusCode::OK,
                &json!({
                    "interval_ms": scorehost_core::recent::INTERVAL.as_millis() as u64,
                    "deployments": registry.recent().view(),
                }),
            ),
            Page::Swaps => json_response(
                StatusCode::OK,
                &json!({ "swaps": registry.recent().swaps() }),
            ),
        })
    }
}

/// `GET /docs`: the try-it page of `deployment`. The page reads everything else (inputs,
/// samples) from `swagger.json?version=3` beside it; the HTML only says which world the
/// script is and whether it needs a key.
pub(crate) fn docs(deployment: &Deployment, method: &Method) -> Result<HttpResponse, ApiError> {
    if !matches!(*method, Method::GET | Method::HEAD) {
        return Err(ApiError::MethodNotAllowed { allow: "GET, HEAD" });
    }
    let world = deployment.form().world();
    let auth = if deployment.settings().keys.is_empty() {
        "false"
    } else {
        "true"
    };
    let page = DOCS_HTML
        .replace("{{world}}", world)
        .replace("{{auth}}", auth);
    Ok(html(Bytes::from(page)))
}

fn html(body: Bytes) -> HttpResponse {
    let mut response = Response::new(Full::new(body));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(super::TEXT_HTML));
    headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    protect(headers);
    response
}

/// Headers of every page and asset: no type sniffing, revalidate on every load (a swap or an
/// upgrade changes what should be shown).
fn protect(headers: &mut HeaderMap) {
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
}
