"""The `raw-scorer` world: turns a `@rawhttp` entry script module into the component's exports.

`scorehost-build` generates an app module that calls `world_for(script)`; componentize-py
then exports the returned class.
"""

from componentize_py_types import Err
from wit_world.imports import http

from ._common import call_init, failure
from .rawhttp import AMLRequest, AMLResponse, FileStorage


def request_of(raw):
    """The `AMLRequest` for the host's request record."""
    files = [
        (f.field, FileStorage(f.data, filename=f.filename, name=f.field, content_type=f.content_type))
        for f in raw.files
    ]
    return AMLRequest(raw.method, raw.path, raw.query, raw.headers, raw.body, files, raw.form)


def response_of(result):
    """The host's response record for what `run` returned."""
    if not isinstance(result, AMLResponse):
        if isinstance(result, (str, bytes)):
            result = AMLResponse(result, 200)
        else:
            result = AMLResponse(result, 200, json_str=True)
    return http.Response(result.status_code, result.headers.items(), result.body)


def world_for(script):
    """The exports class for the `@rawhttp` entry script module `script`."""
    run = script.run
    init = getattr(script, "init", None)

    class WitWorld:
        def init(self):
            call_init(init)

        def run(self, request):
            try:
                return response_of(run(request_of(request)))
            except Exception as error:
                raise Err(failure(error)) from None

    return WitWorld
