//! The host's structured log: lines are tagged with the deployment and the request id.
//!
//! Prefer these to `println!`: the host also captures stdout and stderr, but cannot tell
//! their severity.

use crate::wit::scorehost::plugin::host::{self, Level};

/// Logs at debug level.
pub fn debug(message: impl AsRef<str>) {
    host::log(Level::Debug, message.as_ref());
}

/// Logs at info level.
pub fn info(message: impl AsRef<str>) {
    host::log(Level::Info, message.as_ref());
}

/// Logs at warn level.
pub fn warn(message: impl AsRef<str>) {
    host::log(Level::Warn, message.as_ref());
}

/// Logs at error level.
pub fn error(message: impl AsRef<str>) {
    host::log(Level::Error, message.as_ref());
}
