//! The seed's CORS example: GET returns the full path, POST echoes the body, OPTIONS answers
//! the preflight, each with the script's own `Allow` and `Access-Control-*` headers.

use scorehost_guest::raw::{RawEntryScript, Request, Response};

struct CorsEcho;

/// The headers the seed's script sets on every answer.
fn with_cors(response: Response) -> Response {
    response
        .with_header("Allow", "OPTIONS, GET, POST")
        .with_header("Access-Control-Allow-Methods", "OPTIONS, GET, POST")
        .with_header("Access-Control-Allow-Origin", "http://www.example.com")
        .with_header("Access-Control-Allow-Headers", "*")
}

impl RawEntryScript for CorsEcho {
    fn init() -> Result<Self, String> {
        Ok(CorsEcho)
    }

    fn run(&mut self, request: Request) -> Result<Response, String> {
        Ok(match request.method.as_str() {
            "GET" => with_cors(Response::new(200, request.full_path())),
            "POST" => with_cors(Response::new(200, request.body)),
            "OPTIONS" => with_cors(Response::new(200, "")),
            _ => Response::new(400, "bad request"),
        })
    }
}

scorehost_guest::export_raw_entry_script!(CorsEcho);
