"""Typed inputs in the style of `inference-schema`.

The decorators and parameter types carry the names the Azure ML entry script uses, so the
seed's scripts need only new import lines:

    from scorehost.schema import input_schema, output_schema
    from scorehost.schema import NumpyParameterType, PandasParameterType, StandardPythonParameterType

    @input_schema("Inputs", StandardPythonParameterType({"input1": NumpyParameterType(sample)}))
    @input_schema("GlobalParameters", StandardPythonParameterType(1.0))
    @output_schema(StandardPythonParameterType({"Results": [1.0]}))
    def run(Inputs, GlobalParameters): ...

The samples fix each input's type; scorehost builds the Swagger/OpenAPI documents from them,
checks every request against them *before* `run` is called (a bad request gets 400 with the
field's path), and hands `run` values of the sample's kind: a `scorehost.numpy.ndarray`, a
`scorehost.pandas.DataFrame` or plain JSON data.

Any top-level name works, as in `inference-schema`: `@input_schema("data",
NumpyParameterType(sample))` with `def run(data)` takes a body `{"data": [[...]]}`. A parameter
is required unless `run` gives it a default (a request without it gets 400 `A value is not
provided for the 'data' parameter.`); unknown top-level keys are ignored. A
`StandardPythonParameterType` wrapping a dict of parameter types (the Power BI `Inputs`) is
checked entry by entry. A `run` without decorators is undecorated: it gets the body as a
`str`, as under the Azure ML server.
"""

from . import numpy as _np
from . import pandas as _pd
from .errors import BadInput

__all__ = [
    "input_schema",
    "output_schema",
    "batchable",
    "NumpyParameterType",
    "PandasParameterType",
    "StandardPythonParameterType",
    "BadInput",
]




class _ParameterType:
    __slots__ = ("sample_input",)

    def __init__(self, sample_input):
        self.sample_input = sample_input


class NumpyParameterType(_ParameterType):
    """An ndarray input: requests must match the sample's dtype and trailing dimensions."""

    __slots__ = ()

    def __init__(self, sample_input, enforce_column_type=True, enforce_shape=True):
        if not isinstance(sample_input, _np.ndarray):
            sample_input = _np.array(sample_input)
        super().__init__(sample_input)


class PandasParameterType(_ParameterType):
    """A DataFrame input: requests must have the sample's columns and column dtypes.
    `orient` is how requests write the frame (`records`, `split` or `columns`)."""

    __slots__ = ("orient",)

    def __init__(self, sample_input, enforce_column_type=True, enforce_shape=True, orient="records"):
        if not isinstance(sample_input, _pd.DataFrame):
            sample_input = _pd.DataFrame(sample_input)
        if orient not in _ORIENTS:
            raise ValueError(f"orient {orient!r} is not supported ({', '.join(_ORIENTS)})")
        super().__init__(sample_input)
        self.orient = orient


class StandardPythonParameterType(_ParameterType):
    """A plain JSON value (number, string, bool, list, dict); a dict may hold other
    parameter types as values."""

    __slots__ = ()


def input_schema(param_name, param_type):
    """Declares the type of `run`'s argument `param_name`, the request body's key of that name."""
    if not isinstance(param_name, str) or not param_name:
        raise ValueError(f"input_schema({param_name!r}, ...) needs a parameter name")
    if not isinstance(param_type, _ParameterType):
        raise TypeError(f"input_schema({param_name!r}, ...) needs a *ParameterType")

    def decorate(func):
        _schema_of(func)["inputs"][param_name] = param_type
        return func

    return decorate


def output_schema(output_type):
    """Declares a sample of what `run` returns (for the documentation)."""
    if not isinstance(output_type, _ParameterType):
        raise TypeError("output_schema(...) needs a *ParameterType")

    def decorate(func):
        _schema_of(func)["output"] = output_type
        return func

    return decorate


def batchable(func):
    """Declares `run` batchable: its output rows correspond to its input rows along the first
    dimension of every ndarray input, so the host may join concurrent requests into one `run`
    (when the deployment sets `max_batch_size`) and split the result back. Every list in the
    result must then have one entry per input row.

        @batchable
        @input_schema("data", NumpyParameterType(sample))
        def run(data): ...
    """
    _schema_of(func)["batchable"] = True
    return func


def _schema_of(func):
    """The declarations the decorators attached to `func`."""
    if not hasattr(func, "__scorehost_schema__"):
        func.__scorehost_schema__ = {"inputs": {}, "output": None}
    return func.__scorehost_schema__


def _plain(value):
    """A sample as plain JSON data (parameter types unwrapped, arrays as lists)."""
    if isinstance(value, _ParameterType):
        if isinstance(value, PandasParameterType):
            return _frame_plain(value.sample_input, value.orient)
        return _plain(value.sample_input)
    if isinstance(value, _np.ndarray):
        return value.tolist()
    if isinstance(value, _pd.DataFrame):
        return value.to_dict("records")
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


_ORIENTS = ("records", "split", "columns", "index", "values")


def _frame_plain(df, orient):
    """A DataFrame written with pandas' `orient` (`to_json(orient=...)`'s shape)."""
    if orient == "columns":
        return df.to_dict("dict")
    if orient in ("records", "split"):
        return df.to_dict(orient)
    records = df.to_dict("records")
    if orient == "index":
        return {str(i): record for i, record in enumerate(records)}
    return [list(record.values()) for record in records]
