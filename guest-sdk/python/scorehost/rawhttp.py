"""Raw HTTP entry scripts in the style of Azure ML's `@rawhttp`.

    from scorehost.rawhttp import AMLRequest, AMLResponse, rawhttp

    @rawhttp
    def run(request):
        if request.method == "GET":
            return AMLResponse(request.full_path, 200)
        data = request.get_data()
        ...

`run` gets every request to `/score` whatever its method, as an `AMLRequest` shaped like the
Flask request Azure ML passes (`method`, `path`, `full_path`, `args`, `headers`, `files`,
`form`, `get_data()`, `get_json()`), and returns an `AMLResponse` (or a `str`/`bytes` body,
sent with status 200). The host owns framing headers (`content-length`, `transfer-encoding`,
hop-by-hop headers) and drops them from the response.
"""

import io
import json
from urllib.parse import parse_qsl

__all__ = ["rawhttp", "AMLRequest", "AMLResponse"]


def rawhttp(func):
    """Marks `run` as taking the raw request (the component then targets `raw-scorer`)."""
    func.__scorehost_rawhttp__ = True
    return func


class Headers:
    """Case-insensitive, multi-valued headers, like werkzeug's `Headers`."""

    def __init__(self, items=()):
        self._items = [(str(k), str(v)) for k, v in items]

    def get(self, name, default=None):
        """The first value of header `name`, or `default`."""
        lower = name.lower()
        for key, value in self._items:
            if key.lower() == lower:
                return value
        return default

    def getlist(self, name):
        """Every value of header `name`."""
        lower = name.lower()
        return [v for k, v in self._items if k.lower() == lower]

    def add(self, name, value):
        """Adds a value, keeping the ones already there."""
        self._items.append((str(name), str(value)))

    add_header = add

    def remove(self, name):
        """Drops every value of header `name`."""
        lower = name.lower()
        self._items = [(k, v) for k, v in self._items if k.lower() != lower]

    def set(self, name, value):
        """Replaces every value of header `name` with one value."""
        self.remove(name)
        self.add(name, value)

    def items(self):
        """(name, value) pairs in order, one per value."""
        return list(self._items)

    def keys(self):
        """The header names, one per value."""
        return [k for k, _ in self._items]

    def __getitem__(self, name):
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __setitem__(self, name, value):
        self.set(name, value)

    def __delitem__(self, name):
        self.remove(name)

    def __contains__(self, name):
        return self.get(name) is not None

    def __iter__(self):
        return iter(self._items)

    def __len__(self):
        return len(self._items)

    def __repr__(self):
        return f"Headers({self._items!r})"


class FileStorage:
    """An uploaded file (`request.files["image"]`): readable like a file."""

    def __init__(self, data, filename=None, name=None, content_type=None):
        self.stream = io.BytesIO(data)
        self.filename = filename
        self.name = name
        self.content_type = content_type

    def read(self, size=-1):
        """Reads from the file's bytes."""
        return self.stream.read(size)

    def seek(self, offset, whence=0):
        """Moves in the file's bytes."""
        return self.stream.seek(offset, whence)

    def tell(self):
        """The position in the file's bytes."""
        return self.stream.tell()

    def getvalue(self):
        """All the file's bytes."""
        return self.stream.getvalue()

    def save(self, dst):
        """Writes the bytes to a file-like object (the sandbox has no writable folders)."""
        dst.write(self.stream.getvalue())

    def __repr__(self):
        return f"<FileStorage: {self.filename!r} ({self.content_type!r})>"


class MultiDict(dict):
    """A dict whose values are the first of each key's values; `getlist` gives them all."""

    def __init__(self, pairs=()):
        super().__init__()
        self._lists = {}
        for key, value in pairs:
            self._lists.setdefault(key, []).append(value)
            self.setdefault(key, value)

    def getlist(self, key):
        """Every value of `key`."""
        return list(self._lists.get(key, []))


class AMLRequest:
    """The request `run` receives, shaped like the Flask request Azure ML passes."""

    def __init__(self, method, path, query, headers, body, files=(), form=()):
        self.method = method
        self.path = path
        self.query_string = query.encode()
        self.headers = Headers(headers)
        self.args = MultiDict(parse_qsl(query, keep_blank_values=True))
        self.files = MultiDict(files)
        self.form = MultiDict(form)
        self._body = body

    @property
    def full_path(self):
        """The path and query, as Flask writes it (`/score?` when there is no query)."""
        return f"{self.path}?{self.query_string.decode()}"

    @property
    def content_type(self):
        """The `Content-Type` header, or `None`."""
        return self.headers.get("content-type")

    @property
    def mimetype(self):
        """The media type without parameters (`application/json`)."""
        return (self.content_type or "").split(";")[0].strip().lower()

    @property
    def is_json(self):
        """Whether the body is declared as JSON."""
        mt = self.mimetype
        return mt == "application/json" or (mt.startswith("application/") and mt.endswith("+json"))

    @property
    def data(self):
        """The raw body."""
        return self._body

    def get_data(self, cache=True, as_text=False):
        """The raw body, as bytes or (with `as_text`) as text."""
        return self._body.decode("utf-8", "replace") if as_text else self._body

    def get_json(self, force=False, silent=False):
        """The body parsed as JSON; `None` when it is not JSON and `silent` is set."""
        if not (force or self.is_json):
            if silent:
                return None
            raise ValueError("the request's Content-Type is not application/json")
        try:
            return json.loads(self._body)
        except ValueError:
            if silent:
                return None
            raise

    @property
    def json(self):
        """`get_json()`."""
        return self.get_json()

    def __repr__(self):
        return f"<AMLRequest '{self.full_path}' [{self.method}]>"


class AMLResponse:
    """The response `run` returns, as Azure ML's `AMLResponse(message, status_code,
    response_headers, json_str)` builds it: a `str`/`bytes` message is sent as
    `text/html; charset=utf-8`; with `json_str=True`, or a `None` message, the body is JSON.
    Header values given to the constructor are split on `,` into repeated headers (as Azure
    ML does); headers set afterwards (`resp.headers["X"] = v`) are sent as given."""

    def __init__(self, message, status_code, response_headers=None, json_str=False):
        self.status_code = int(status_code)
        self.headers = Headers()
        response_headers = response_headers or {}
        if message is None:
            self.body = b"{}"
            self.headers.add("Content-Type", "application/json")
        elif json_str:
            self.body = json.dumps(message).encode()
            self.headers.add("Content-Type", "application/json")
        else:
            self.body = message if isinstance(message, bytes) else str(message).encode()
            if not any(k.lower() == "content-type" for k in response_headers):
                self.headers.add("Content-Type", "text/html; charset=utf-8")
        for name, value in response_headers.items():
            for part in str(value).split(","):
                self.headers.add(name, part.strip())

    @property
    def status(self):
        """The status line, like Flask's (`200 OK` is written `200`)."""
        return str(self.status_code)

    def get_data(self, as_text=False):
        """The body, as bytes or text."""
        return self.body.decode("utf-8", "replace") if as_text else self.body

    def __repr__(self):
        return f"<AMLResponse {self.status_code}>"
