"""The `scorer` world: turns an entry script module into the component's exports.

`scorehost-build` generates an app module that calls `world_for(script)`; componentize-py
then exports the returned class. The script's module-level code, and the schema built here
from its decorators, run at build time (componentize-py snapshots the interpreter), so a
mistake in the decorators fails the build, not the first request.
"""

import inspect
import json

from componentize_py_types import Err
from wit_world.imports import types as t

from . import numpy as _np
from . import pandas as _pd
from ._common import call_init, failure
from ._output import result_text
from ._packed import unpack_arguments
from .schema import (
    BadInput,
    NumpyParameterType,
    PandasParameterType,
    StandardPythonParameterType,
    _ParameterType,
    _plain,
)

_DTYPES = {
    "float64": t.Dtype.FLOAT64,
    "float32": t.Dtype.FLOAT32,
    "int64": t.Dtype.INT64,
    "int32": t.Dtype.INT32,
    "int16": t.Dtype.INT16,
    "int8": t.Dtype.INT8,
    "uint64": t.Dtype.UINT64,
    "uint32": t.Dtype.UINT32,
    "uint16": t.Dtype.UINT16,
    "uint8": t.Dtype.UINT8,
    "bool": t.Dtype.BOOL,
    "str": t.Dtype.STR,
}
_DTYPE_NAMES = {wit: name for name, wit in _DTYPES.items()}
_ORIENTS = {
    "records": t.Orient.RECORDS,
    "split": t.Orient.SPLIT,
    "columns": t.Orient.COLUMNS,
    "index": t.Orient.INDEX,
    "values": t.Orient.VALUES,
}


def tensor_of(arr):
    """The WIT tensor of an ndarray."""
    if arr.dtype.name == "str":
        elements = t.Elements_Strings([str(v) for v in _np._elements(arr)])
    else:
        elements = t.Elements_Bytes(_np._to_bytes(arr))
    return t.Tensor(_DTYPES[arr.dtype.name], list(arr.shape), elements)


def ndarray_of(tensor):
    """The ndarray of a WIT tensor."""
    name = _DTYPE_NAMES[tensor.dtype]
    if isinstance(tensor.elements, t.Elements_Strings):
        return _np.ndarray(list(tensor.elements.value), tensor.shape, name)
    return _np._from_bytes(tensor.elements.value, tensor.shape, name)


def frame_of(df):
    """The WIT frame of a DataFrame."""
    return t.Frame([t.Column(str(name), tensor_of(df[name].values)) for name in df.columns])


def dataframe_of(frame):
    """The DataFrame of a WIT frame."""
    columns = []
    for column in frame.columns:
        arr = ndarray_of(column.values)
        columns.append(_pd.Series._of(_np._elements(arr), column.name, arr.dtype))
    return _pd.DataFrame._of_columns(columns)


def sample_of(param_type):
    """The WIT sample of a parameter type."""
    if isinstance(param_type, NumpyParameterType):
        return t.Sample_Tensor(tensor_of(param_type.sample_input))
    if isinstance(param_type, PandasParameterType):
        frame = frame_of(param_type.sample_input)
        return t.Sample_Frame(t.FrameSample(frame, _ORIENTS[param_type.orient]))
    return t.Sample_Json(json.dumps(_plain(param_type)))


def value_of(param):
    """What `run` receives for a WIT param."""
    if isinstance(param, t.Param_Tensor):
        return ndarray_of(param.value)
    if isinstance(param, t.Param_Frame):
        return dataframe_of(param.value)
    return json.loads(param.value)


def _is_group(param_type):
    """Whether a parameter is a dict of named parameter types (the Power BI `Inputs`), checked
    entry by entry. A dict of plain values is one JSON value, as in inference-schema."""
    if not isinstance(param_type, StandardPythonParameterType):
        return False
    sample = param_type.sample_input
    return isinstance(sample, dict) and any(isinstance(v, _ParameterType) for v in sample.values())


def parameter_of(run, name, param_type):
    """The WIT parameter for `@input_schema(name, param_type)` on `run`."""
    if _is_group(param_type):
        entries = []
        for entry, inner in param_type.sample_input.items():
            if not isinstance(inner, _ParameterType):
                inner = StandardPythonParameterType(inner)
            entries.append(t.InputSpec(str(entry), sample_of(inner)))
        kind = t.ParameterKind_Group(entries)
    else:
        kind = t.ParameterKind_Value(sample_of(param_type))
    return t.Parameter(name, kind, not _has_default(run, name))


def schema_of(run):
    """The WIT schema from `run`'s decorators, or `None` when it has none (undecorated)."""
    declared = getattr(run, "__scorehost_schema__", None)
    if declared is None:
        return None
    # In the order of `run`'s signature, as inference-schema documents them.
    order = list(inspect.signature(run).parameters)
    names = sorted(declared["inputs"], key=lambda n: order.index(n) if n in order else len(order))
    output = declared["output"]
    return t.Schema(
        parameters=[parameter_of(run, name, declared["inputs"][name]) for name in names],
        output=json.dumps(_plain(output)) if output is not None else None,
        batchable=bool(declared.get("batchable", False)),
    )


def _has_default(func, name):
    param = inspect.signature(func).parameters.get(name)
    return param is not None and param.default is not inspect.Parameter.empty


def _to_json(value):
    if isinstance(value, _np.ndarray):
        return value.tolist()
    if isinstance(value, _pd.DataFrame):
        return value.to_dict("records")
    if isinstance(value, _pd.Series):
        return value.tolist()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _result(result):
    """`run`'s result as the JSON text the Azure ML server sends."""
    return result_text(result, _to_json)


def world_for(script):
    """The exports class for the entry script module `script` (it defines `init` and `run`)."""
    run = script.run
    schema = schema_of(run)
    init = getattr(script, "init", None)

    def arguments(input):
        if isinstance(input, t.Input_Text):
            return (input.value,), {}
        # A buffer that does not unpack raises ValueError: a host bug, so `run` reports it as
        # an exception (logged, generic 500), not as the client's bad input.
        kwargs = {}
        for argument in unpack_arguments(input.value):
            value = argument.value
            if isinstance(value, t.Argument_Group):
                kwargs[argument.name] = {p.name: value_of(p.value) for p in value.value}
            else:
                kwargs[argument.name] = value_of(value.value)
        return (), kwargs

    class WitWorld:
        def init(self):
            call_init(init)

        def schema(self):
            return schema

        def run(self, input):
            try:
                args, kwargs = arguments(input)
                return _result(run(*args, **kwargs))
            except BadInput as error:
                raise Err(t.RunError_BadInput(str(error))) from None
            except Exception as error:
                # The text goes to the host's log with the request id, not to the client.
                raise Err(t.RunError_Exception(failure(error))) from None

    return WitWorld
