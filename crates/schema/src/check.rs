//! The one check of client JSON before any guest sees it: what every guest SDK can parse.
//!
//! A text passes when it nests at most [`MAX_DEPTH`] arrays and objects, every number is
//! finite in float64 (`1e400` is not) and every string and key is valid Unicode (no lone
//! surrogate escape such as `"\ud800"`). serde_json in the Rust SDK, Python's `json` and
//! JavaScript's `JSON.parse` all accept such a text alike. A failure names the field path,
//! e.g. `Inputs.input1[2]`.

use std::cell::RefCell;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use super::Invalid;

/// Deepest nesting of arrays and objects accepted. Below serde_json's own limit (127 levels,
/// which the Rust guest SDK keeps), with room for an SDK that wraps the text.
pub const MAX_DEPTH: usize = 100;

/// Checks a JSON text (a whole request body, or one value of it) for depth, finite numbers
/// and valid Unicode. Syntax errors are reported too, but callers that want their own wording
/// for those parse the text first.
pub fn check_json_text(text: &[u8]) -> Result<(), Invalid> {
    check_json_text_at(text, 0)
}

/// [`check_json_text`] for a value that sits `depth` containers deep in its request body (an
/// `Inputs` entry is 2 deep): the nesting limit counts from the body's top.
pub fn check_json_text_at(text: &[u8], depth: usize) -> Result<(), Invalid> {
    let found = RefCell::new(None);
    let mut deserializer = serde_json::Deserializer::from_slice(text);
    let checked = Check {
        path: &Path::Root,
        depth,
        found: &found,
    }
    .deserialize(&mut deserializer)
    .and_then(|()| deserializer.end());
    match checked {
        Ok(()) => Ok(()),
        Err(e) => Err(found
            .into_inner()
            .unwrap_or_else(|| classify(&e, &Path::Root))),
    }
}

/// Passes over one value `depth` containers deep with the same checks, for a value the
/// request carries but the schema ignores; fails without saying why (the caller's slow path,
/// [`check_json_text`], names the problem).
pub struct Skip {
    pub depth: usize,
}

impl<'de> DeserializeSeed<'de> for Skip {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        let found = RefCell::new(None);
        Check {
            path: &Path::Root,
            depth: self.depth,
            found: &found,
        }
        .deserialize(deserializer)
    }
}

/// Where a value sits, as a chain of parents on the stack (built into text only on failure).
enum Path<'a> {
    Root,
    Key(&'a str, &'a Path<'a>),
    Index(usize, &'a Path<'a>),
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Path::Root => Ok(()),
            Path::Key(key, parent) => match parent {
                Path::Root => f.write_str(key),
                _ => write!(f, "{parent}.{key}"),
            },
            Path::Index(index, parent) => write!(f, "{parent}[{index}]"),
        }
    }
}

/// What went wrong at `path`, from serde_json's error (the checks it makes itself: number
/// range and string escapes).
fn classify(error: &serde_json::Error, path: &Path<'_>) -> Invalid {
    let text = error.to_string();
    let message = if text.starts_with("number out of range") {
        "a number must be finite as a float64".to_owned()
    } else if text.contains("surrogate")
        || text.contains("unicode code point")
        || text.contains("hex escape")
    {
        "a string must be valid Unicode (no lone surrogate escapes)".to_owned()
    } else if text.starts_with("recursion limit exceeded") {
        format!("nested deeper than {MAX_DEPTH} levels")
    } else {
        format!("is not valid JSON: {text}")
    };
    Invalid::new(path.to_string(), message)
}

/// Checks one value at `path`, `depth` containers deep; the first failure found is kept in
/// `found` (serde errors themselves carry no path).
struct Check<'a> {
    path: &'a Path<'a>,
    depth: usize,
    found: &'a RefCell<Option<Invalid>>,
}

impl Check<'_> {
    fn remember(&self, invalid: impl FnOnce() -> Invalid) {
        let mut found = self.found.borrow_mut();
        if found.is_none() {
            *found = Some(invalid());
        }
    }

    /// Entering a container one level deeper: refused past [`MAX_DEPTH`].
    fn enter<E: de::Error>(&self) -> Result<usize, E> {
        let depth = self.depth + 1;
        if depth > MAX_DEPTH {
            self.remember(|| {
                Invalid::new(
                    self.path.to_string(),
                    format!("nested deeper than {MAX_DEPTH} levels"),
                )
            });
            return Err(E::custom("too deep"));
        }
        Ok(depth)
    }
}

impl<'de> DeserializeSeed<'de> for Check<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Check<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, value: f64) -> Result<(), E> {
        if value.is_finite() {
            return Ok(());
        }
        self.remember(|| {
            Invalid::new(
                self.path.to_string(),
                "a number must be finite as a float64",
            )
        });
        Err(E::custom("not finite"))
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let depth = self.enter()?;
        let mut index = 0;
        loop {
            let path = Path::Index(index, self.path);
            let child = Check {
                path: &path,
                depth,
                found: self.found,
            };
            match seq.next_element_seed(child) {
                Ok(Some(())) => index += 1,
                Ok(None) => return Ok(()),
                Err(e) => {
                    self.remember(|| classify_de(&e, &path));
                    return Err(e);
                }
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let depth = self.enter()?;
        loop {
            let key = match map.next_key_seed(Key) {
                Ok(Some(key)) => key,
                Ok(None) => return Ok(()),
                Err(e) => {
                    self.remember(|| {
                        let invalid = classify_de(&e, self.path);
                        Invalid::new(invalid.path, format!("key: {}", invalid.message))
                    });
                    return Err(e);
                }
            };
            let path = Path::Key(&key, self.path);
            let child = Check {
                path: &path,
                depth,
                found: self.found,
            };
            if let Err(e) = map.next_value_seed(child) {
                self.remember(|| classify_de(&e, &path));
                return Err(e);
            }
        }
    }
}

/// [`classify`] for an error seen through a generic deserializer (always serde_json's here).
fn classify_de<E: fmt::Display>(error: &E, path: &Path<'_>) -> Invalid {
    let text = error.to_string();
    let error = <serde_json::Error as de::Error>::custom(text);
    classify(&error, path)
}

/// A map key, borrowed from the text when it has no escapes.
struct Key;

impl<'de> DeserializeSeed<'de> for Key {
    type Value = std::borrow::Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key {
    type Value = std::borrow::Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string key")
    }

    fn visit_borrowed_str<E>(self, key: &'de str) -> Result<Self::Value, E> {
        Ok(key.into())
    }

    fn visit_str<E>(self, key: &str) -> Result<Self::Value, E> {
        Ok(key.to_owned().into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> Result<(), (String, String)> {
        check_json_text(text.as_bytes()).map_err(|e| (e.path, e.message))
    }

    #[test]
    fn ordinary_json_passes() {
        check(r#"{"Inputs": {"a": [1, -2.5e3, "x\u00e9\ud83d\ude00", null, true, {}]}}"#).unwrap();
    }

    #[test]
    fn violations_name_their_path() {
        let (path, message) = check(r#"{"Inputs": {"a": [1, 1e400]}}"#).unwrap_err();
        assert_eq!(
            (path.as_str(), message.as_str()),
            ("Inputs.a[1]", "a number must be finite as a float64")
        );
        let (path, message) = check(r#"{"Inputs": {"b": {"c": "\ud800"}}}"#).unwrap_err();
        assert_eq!(path, "Inputs.b.c");
        assert!(message.contains("Unicode"), "{message}");
        let deep = format!(
            r#"{{"Inputs": {{"d": {}{}}}}}"#,
            "[".repeat(200),
            "]".repeat(200)
        );
        let (path, message) = check(&deep).unwrap_err();
        assert!(path.starts_with("Inputs.d[0]"), "{path}");
        assert!(message.contains("deeper than 100"), "{message}");
    }
}
