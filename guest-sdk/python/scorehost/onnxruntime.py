"""onnxruntime's Python API for entry scripts, run by the host's inference engine (`wasi:nn`).

An Azure ML ONNX entry script ports by changing its import lines:

    import json, os
    from scorehost import numpy as np              # was: import numpy as np
    from scorehost import onnxruntime              # was: import onnxruntime

    def init():
        global session
        path = os.path.join(os.getenv("AZUREML_MODEL_DIR"), "model.onnx")
        session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])

    def run(raw_data):
        data = np.array(json.loads(raw_data)["data"], dtype=np.float32)
        outputs = session.run(None, {session.get_inputs()[0].name: data})
        return {"result": outputs[0].tolist()}

No ML runtime is bundled into the component: the host loads every model of the deployment
once, natively, and `run` sends the input tensors through `wasi:nn`'s `compute`. What differs
from onnxruntime:

- the model must be one the host loaded from the deployment's model folder: a path under
  `$AZUREML_MODEL_DIR` (the usual `os.path.join(...)`, or `Model.get_model_path(...)` joined
  with the file name), a path relative to that folder, or the name `wasi:nn`'s `load-by-name`
  takes (`"NAME"`, `"NAME/VERSION"` for the multi-model layout). Model bytes
  (`InferenceSession(onnx_bytes)`) work only where the deployment allows guests to load
  models themselves (`nn_load_bytes`);
- `get_inputs()`/`get_outputs()` come from the model file itself (the guest reads its graph's
  declarations with a small protobuf reader; `wasi:nn` has no call for them), so the file
  must be readable in the model folder;
- `providers`, `sess_options`, `provider_options` and `run_options` are accepted and
  ignored (the host decides how models run);
- element types are those `wasi:nn` carries: float32, float64, int64, int32, uint8, and
  bool (sent as uint8, one byte per element, which the host reads as the model declares);
  an input of another type is refused with `InvalidArgument`;
- errors are this module's `InvalidArgument` (a subclass of `scorehost.schema.BadInput`, so
  a bad request that reaches `run` answers 400 with the message, which names the input),
  `NoSuchFile` (model not found) and `Fail` (anything else, a 500 unless caught).
"""

import os

from . import numpy as _np
from ._onnx_proto import ModelFormatError, graph_signature
from .schema import BadInput

__all__ = [
    "InferenceSession",
    "NodeArg",
    "SessionOptions",
    "RunOptions",
    "InvalidArgument",
    "NoSuchFile",
    "Fail",
    "get_available_providers",
    "get_device",
]

__version__ = "1.32.0"  # the onnxruntime API this module follows


class Fail(Exception):
    """The model could not be loaded or run (onnxruntime's `Fail`)."""


class NoSuchFile(Fail):
    """The model is not one the deployment serves (onnxruntime's `NoSuchFile`)."""


class InvalidArgument(BadInput, Fail):
    """An input does not fit the model: wrong name, element type or shape (onnxruntime's
    `InvalidArgument`). It is a `BadInput`, so it answers 400 with the message when `run`
    lets it through."""


def get_available_providers():
    """The execution providers, as onnxruntime names them (the host runs models on CPU)."""
    return ["CPUExecutionProvider"]


def get_device():
    """`"CPU"`."""
    return "CPU"


class SessionOptions:
    """Accepted for compatibility; the host decides threading and optimisation."""

    def __init__(self):
        self.graph_optimization_level = None
        self.intra_op_num_threads = 0
        self.inter_op_num_threads = 0
        self.execution_mode = None
        self.log_severity_level = 2
        self.enable_profiling = False


class RunOptions:
    """Accepted for compatibility and ignored."""

    def __init__(self):
        self.log_severity_level = 2
        self.tag = ""


class NodeArg:
    """A graph input or output: `name`, `type` (`'tensor(float)'`) and `shape` (an int per
    fixed dimension, a name for a symbolic one such as the batch, `None` when unknown)."""

    __slots__ = ("name", "type", "shape")

    def __init__(self, name, type_, shape):
        self.name = name
        self.type = type_
        self.shape = shape

    def __repr__(self):
        return f"NodeArg(name='{self.name}', type='{self.type}', shape={self.shape})"


# ONNX element names -> the numpy stand-in's dtype names, for the types wasi:nn carries.
_DTYPE_OF_ELEM = {
    "float": "float32",
    "double": "float64",
    "int64": "int64",
    "int32": "int32",
    "uint8": "uint8",
    "bool": "bool",
}
_ELEM_OF_DTYPE = {dtype: elem for elem, dtype in _DTYPE_OF_ELEM.items()}


def _wasi_nn():
    """The `wasi:nn` bindings (imported late: they exist only inside a component, or where
    the SDK's unit tests put generated bindings on the path)."""
    from wit_world.imports import graph, tensor

    return graph, tensor


def _tensor_types(tensor):
    """numpy dtype name -> wasi:nn tensor type, and back (bool travels as U8)."""
    types = tensor.TensorType
    to_wasi = {
        "float32": types.FP32,
        "float64": types.FP64,
        "int64": types.I64,
        "int32": types.I32,
        "uint8": types.U8,
        "bool": types.U8,
    }
    from_wasi = {
        types.FP32: "float32",
        types.FP64: "float64",
        types.I64: "int64",
        types.I32: "int32",
        types.U8: "uint8",
    }
    return to_wasi, from_wasi


def _error_text(error):
    """The text of a `wasi:nn` error (an `Err` holding an `error` resource)."""
    value = getattr(error, "value", error)
    try:
        data = value.data()
        code = value.code()
    except Exception:  # not a wasi:nn error resource
        return str(value)
    finally:
        _drop(value)
    name = getattr(code, "name", str(code)).lower().replace("_", "-")
    return f"{data} ({name})" if data else name


def _error_code(error):
    value = getattr(error, "value", None)
    try:
        return getattr(value.code(), "name", None)
    except Exception:
        return None


def _drop(resource):
    """Releases a resource handle now instead of at garbage collection."""
    exit_ = getattr(resource, "__exit__", None)
    if exit_ is not None:
        try:
            exit_(None, None, None)
        except Exception:
            pass


def _read_model(path):
    """The model file's bytes, or `None` when the guest cannot read it."""
    try:
        with open(path, "rb") as file:
            return file.read()
    except OSError:
        return None


def _model_file(name):
    """The file `load-by-name(name)` stands for, found as the host finds it: a path (absolute,
    or relative to `$AZUREML_MODEL_DIR`) to a model file, or to a folder holding `model.onnx`
    (or a single `.onnx` file), or `NAME` of the `NAME/VERSION/` layout (its highest numeric
    version). `None` when there is no such file here."""
    base = os.environ.get("AZUREML_MODEL_DIR", "")
    path = name if os.path.isabs(name) else os.path.join(base, name)
    if os.path.isfile(path):
        return path
    if not os.path.isdir(path):
        return None
    found = _onnx_in(path)
    if found is not None:
        return found
    versions = [v for v in os.listdir(path) if v.isdigit()]
    for version in sorted(versions, key=int, reverse=True):
        found = _onnx_in(os.path.join(path, version))
        if found is not None:
            return found
    return None


def _onnx_in(folder):
    """`folder/model.onnx`, else the folder's only `.onnx` file, else `None`."""
    if os.path.isfile(os.path.join(folder, "model.onnx")):
        return os.path.join(folder, "model.onnx")
    try:
        files = [f for f in os.listdir(folder) if f.endswith(".onnx")]
    except OSError:
        return None
    if len(files) == 1 and os.path.isfile(os.path.join(folder, files[0])):
        return os.path.join(folder, files[0])
    return None


class InferenceSession:
    """A model the host serves, with onnxruntime's `InferenceSession` API.

    `path_or_bytes` is the model file's path under `$AZUREML_MODEL_DIR` (as the Azure ML
    script builds it), a model name as `wasi:nn`'s `load-by-name` takes it, or the model's
    bytes. The other arguments are accepted and ignored."""

    def __init__(self, path_or_bytes, sess_options=None, providers=None, provider_options=None, **kwargs):
        graph, tensor = _wasi_nn()
        self._to_wasi, self._from_wasi = _tensor_types(tensor)
        self._tensor = tensor
        if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
            model_bytes = bytes(path_or_bytes)
            self._model_path = "<bytes>"
            self._graph = self._load(
                lambda: graph.load([model_bytes], graph.GraphEncoding.ONNX, graph.ExecutionTarget.CPU)
            )
        else:
            name = os.fspath(path_or_bytes)
            self._model_path = name
            self._graph = self._load(lambda: graph.load_by_name(name))
            found = _model_file(name)
            model_bytes = _read_model(found) if found else None
        if model_bytes is None:
            raise Fail(
                f"Load model {self._model_path} failed: the host serves it, but its file is not "
                "readable here to describe its inputs and outputs"
            )
        try:
            inputs, outputs = graph_signature(model_bytes)
        except ModelFormatError as error:
            raise Fail(f"Load model from {self._model_path} failed: {error}") from None
        self._inputs = inputs
        self._outputs = outputs
        self._context = None

    def _load(self, load):
        from componentize_py_types import Err

        try:
            return load()
        except Err as error:
            code = _error_code(error)
            text = _error_text(error)
            if code == "NOT_FOUND":
                raise NoSuchFile(f"Load model from {self._model_path} failed: {text}") from None
            raise Fail(f"Load model from {self._model_path} failed: {text}") from None

    # -- description

    def get_inputs(self):
        """The graph's inputs (weights excluded), in order."""
        return [NodeArg(i.name, i.type, i.shape) for i in self._inputs]

    def get_outputs(self):
        """The graph's outputs, in order."""
        return [NodeArg(o.name, o.type, o.shape) for o in self._outputs]

    def get_overridable_initializers(self):
        """None: initializers cannot be fed in this host."""
        return []

    def get_providers(self):
        """`["CPUExecutionProvider"]`."""
        return get_available_providers()

    def get_provider_options(self):
        """`{"CPUExecutionProvider": {}}`."""
        return {"CPUExecutionProvider": {}}

    def get_session_options(self):
        """A default `SessionOptions`."""
        return SessionOptions()

    def set_providers(self, providers=None, provider_options=None):
        """Accepted and ignored."""

    # -- inference

    def run(self, output_names, input_feed, run_options=None):
        """Runs the model on `input_feed` (`{input name: array}`) and returns the outputs named
        in `output_names` (all of them, in the graph's order, when `None` or empty) as a list
        of `scorehost.numpy` arrays."""
        from componentize_py_types import Err

        tensors = self._input_tensors(input_feed)
        wanted = list(output_names) if output_names else [o.name for o in self._outputs]
        known = {o.name: o for o in self._outputs}
        for name in wanted:
            if name not in known:
                raise InvalidArgument(f"Invalid output name: {name}")
        try:
            if self._context is None:
                self._context = self._graph.init_execution_context()
            results = self._context.compute(tensors)
        except Err as error:
            code = _error_code(error)
            text = _error_text(error)
            if code in ("INVALID_ARGUMENT", "TOO_LARGE"):
                raise InvalidArgument(text) from None
            raise Fail(f"running the model failed: {text}") from None
        # The input tensors were moved to the host by `compute` (owned handles): not ours to drop.
        by_name = {}
        for name, result in results:
            by_name[name] = result
        try:
            out = []
            for name in wanted:
                if name not in by_name:
                    raise Fail(f"the model gave no output {name}")
                out.append(self._array_of(by_name[name], known[name]))
            return out
        finally:
            for result in by_name.values():
                _drop(result)

    def _input_tensors(self, feed):
        if not isinstance(feed, dict):
            raise InvalidArgument("input_feed must be a dict of input name to array")
        declared = {i.name: i for i in self._inputs}
        for name in feed:
            if name not in declared:
                raise InvalidArgument(f"Invalid input name: {name}")
        missing = [i.name for i in self._inputs if i.name not in feed]
        if missing:
            raise InvalidArgument(f"Required inputs ({missing}) are missing from input feed ({list(feed)}).")
        tensors = []
        for info in self._inputs:
            arr = self._checked(info, feed[info.name])
            data = _np._to_bytes(arr)
            dims = list(arr.shape) or [1]
            tensors.append((info.name, self._tensor.Tensor(dims, self._to_wasi[arr.dtype.name], data)))
        return tensors

    def _checked(self, info, value):
        """`value` as an array, after onnxruntime's checks of its element type and shape."""
        expected = _DTYPE_OF_ELEM.get(info.elem_type)
        if expected is None:
            raise InvalidArgument(
                f"input: {info.name} has type {info.type}, which this host cannot pass to a model "
                "(wasi:nn carries float, double, int64, int32, uint8 and bool tensors)"
            )
        if not isinstance(value, _np.ndarray):
            try:
                value = _np.array(value, dtype=expected)
            except (TypeError, ValueError) as error:
                raise InvalidArgument(f"input: {info.name} is not an array of {info.type}: {error}") from None
        actual = _ELEM_OF_DTYPE.get(value.dtype.name, value.dtype.name)
        if value.dtype.name != expected:
            raise InvalidArgument(
                f"Unexpected input data type for input: {info.name}. "
                f"Actual: (tensor({actual})) , expected: ({info.type})"
            )
        if info.shape is not None:
            if len(value.shape) != len(info.shape):
                raise InvalidArgument(
                    f"Invalid rank for input: {info.name} Got: {len(value.shape)} "
                    f"Expected: {len(info.shape)} Please fix either the inputs or the model."
                )
            wrong = [
                f"index: {i} Got: {got} Expected: {want}"
                for i, (got, want) in enumerate(zip(value.shape, info.shape))
                if isinstance(want, int) and want >= 0 and got != want
            ]
            if wrong:
                raise InvalidArgument(
                    f"Got invalid dimensions for input: {info.name} for the following indices "
                    + "; ".join(wrong)
                    + " Please fix either the inputs or the model."
                )
        return value

    def _array_of(self, result, info):
        """A `scorehost.numpy` array of an output tensor."""
        ty = result.ty()
        dtype = self._from_wasi.get(ty)
        if dtype is None:
            raise Fail(f"output {info.name} has a tensor type this SDK does not read: {ty}")
        if dtype == "uint8" and info.elem_type == "bool":
            dtype = "bool"
        shape = tuple(result.dimensions())
        if info.shape is not None and len(info.shape) == 0 and shape == (1,):
            shape = ()
        return _np._from_bytes(result.data(), shape, dtype)
