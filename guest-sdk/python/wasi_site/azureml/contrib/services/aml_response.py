"""`AMLResponse`, as Azure ML's scoring server provides it: a werkzeug `Response`.

`AMLResponse(message, status_code, response_headers=None, json_str=False)`: a `str`/`bytes`
message is sent as `text/html; charset=utf-8` (unless the headers name a content type); with
`json_str=True`, or a `None` message, the body is the message as JSON. Header values given
here are split on `,` into repeated headers, as the Azure ML server's copy does; headers set
afterwards (`response.headers["X"] = v`) are sent as given.
"""

import json

from werkzeug.wrappers import Response

__all__ = ["AMLResponse"]


class AMLResponse(Response):
    """The response a `@rawhttp` `run` returns."""

    def __init__(self, message, status_code, response_headers=None, json_str=False):
        response_headers = dict(response_headers or {})
        content_type = next(
            (v for k, v in response_headers.items() if k.lower() == "content-type"), None
        )
        if message is None:
            body, mimetype = "{}", "application/json"
        elif json_str:
            body, mimetype = json.dumps(message), "application/json"
        else:
            body, mimetype = message, "text/html"
        if content_type is not None:
            super().__init__(body, status=int(status_code), content_type=str(content_type))
        else:
            super().__init__(body, status=int(status_code), mimetype=mimetype)
        for name, value in response_headers.items():
            if name.lower() == "content-type":
                continue
            for part in str(value).split(","):
                self.headers.add(name, part.strip())
