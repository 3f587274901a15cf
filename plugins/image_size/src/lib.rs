//! The seed's binary-data example: `GET` returns the full path, `POST` with a multipart file
//! `image` decodes it and returns `[width, height]`, any other method gets the seed's 500.
//!
//! Beyond the seed (as in the captured reference script): a POST without `image` gets 400, and
//! bytes that are not an image get 400 instead of an exception.

use scorehost_guest::json;
use scorehost_guest::raw::{RawEntryScript, Request, Response};

struct ImageSize;

impl RawEntryScript for ImageSize {
    fn init() -> Result<Self, String> {
        scorehost_guest::log::info("This is init()");
        Ok(ImageSize)
    }

    fn run(&mut self, request: Request) -> Result<Response, String> {
        Ok(match request.method.as_str() {
            "GET" => Response::new(200, request.full_path()),
            "POST" => {
                let Some(file) = request.file("image") else {
                    return Ok(Response::new(400, "missing multipart file 'image'"));
                };
                match image::load_from_memory(&file.data) {
                    Ok(img) => Response::json(200, &json!([img.width(), img.height()])),
                    Err(e) => {
                        Response::new(400, format!("'image' is not a PNG or JPEG image: {e}"))
                    }
                }
            }
            _ => Response::new(500, "bad request"),
        })
    }
}

scorehost_guest::export_raw_entry_script!(ImageSize);
