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
_ORIENTS = {"records": t.Orient.RECORDS, "split": t.Orient.SPLIT, "columns": t.Orient.COLUMNS}


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


def schema_of(run):
    """The WIT schema from `run`'s decorators, or `None` when it has none."""
    declared = getattr(run, "__scorehost_schema__", None)
    if declared is None:
        return None
    inputs = []
    if "Inputs" in declared["inputs"]:
        outer = declared["inputs"]["Inputs"]
        if not (isinstance(outer, StandardPythonParameterType) and isinstance(outer.sample_input, dict)):
            raise TypeError("@input_schema('Inputs', ...) needs StandardPythonParameterType({name: type, ...})")
        for name, inner in outer.sample_input.items():
            if not isinstance(inner, _ParameterType):
                inner = StandardPythonParameterType(inner)
            inputs.append(t.InputSpec(str(name), sample_of(inner)))
    global_parameters = declared["inputs"].get("GlobalParameters")
    output = declared["output"]
    return t.Schema(
        inputs=inputs,
        global_parameters=sample_of(global_parameters) if global_parameters is not None else None,
        global_parameters_required=global_parameters is not None and not _has_default(run, "GlobalParameters"),
        output=json.dumps(_plain(output)) if output is not None else None,
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


def world_for(script):
    """The exports class for the entry script module `script` (it defines `init` and `run`)."""
    run = script.run
    schema = schema_of(run)
    params = inspect.signature(run).parameters
    takes_inputs = "Inputs" in params
    takes_global = "GlobalParameters" in params
    init = getattr(script, "init", None)

    class WitWorld:
        def init(self):
            call_init(init)

        def schema(self):
            return schema

        def run(self, inputs, global_parameters):
            kwargs = {}
            if takes_inputs:
                kwargs["Inputs"] = {p.name: value_of(p.value) for p in inputs}
            if takes_global and global_parameters is not None:
                kwargs["GlobalParameters"] = value_of(global_parameters)
            try:
                result = run(**kwargs)
            except BadInput as error:
                raise Err(t.RunError_BadInput(str(error))) from None
            except Exception as error:
                raise Err(t.RunError_Failed(failure(error))) from None
            try:
                return json.dumps(result, default=_to_json)
            except (TypeError, ValueError) as error:
                raise Err(t.RunError_Failed(f"run() returned a value that is not JSON: {error}")) from None

    return WitWorld
