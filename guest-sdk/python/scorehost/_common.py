"""What both worlds' exports share: running `init` and reporting a script's exceptions.

A script's exception reaches the host as a short message (sent to the client where the
contract says so); the traceback goes to stderr, which the host writes to its log.
"""

import sys
import traceback

from componentize_py_types import Err


def describe(error):
    """`TypeName: message`, without the traceback."""
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def failure(error):
    """Logs `error`'s traceback to stderr and returns its one-line description."""
    traceback.print_exc(file=sys.stderr)
    return describe(error)


def call_init(init):
    """Runs the script's `init` (if any); an exception becomes the export's `Err`."""
    if init is None:
        return
    try:
        init()
    except Exception as error:
        raise Err(failure(error)) from None
