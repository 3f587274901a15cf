"""The host's structured log: lines are tagged with the deployment and the request id.

`print` works too (the host captures stdout and stderr per deployment); these calls add a
level.
"""

__all__ = ["trace", "debug", "info", "warn", "error"]


def _log(level, message):
    from wit_world.imports import host

    host.log(getattr(host.Level, level), str(message))


def trace(message):
    """Logs at trace level."""
    _log("TRACE", message)


def debug(message):
    """Logs at debug level."""
    _log("DEBUG", message)


def info(message):
    """Logs at info level."""
    _log("INFO", message)


def warn(message):
    """Logs at warn level."""
    _log("WARN", message)


def error(message):
    """Logs at error level."""
    _log("ERROR", message)
