"""A small stand-in for numpy inside a Wasm component.

numpy cannot be bundled by componentize-py: PyPI has no wasm32-wasip2 wheel, and the Linux
wheel's C extension cannot load in the sandbox. This module offers the part of `ndarray` that
entry scripts in the Azure ML style use: building samples with `np.array(..., dtype=...)`,
`shape`, `dtype`, `ndim`, `size`, `tolist()`, row iteration and indexing, `sum`, `dot`/`@`,
element-wise arithmetic with scalars, `astype` and `reshape`. It is plain Python on lists, so
it is meant for request-sized data, not for heavy numerics.

Write `from scorehost import numpy as np` where the script had `import numpy as np`.
"""

import array as _array
import math as _math

__all__ = [
    "ndarray",
    "dtype",
    "array",
    "asarray",
    "zeros",
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
    "bool_",
    "str_",
]

# dtype name -> `array` module type code (`None` for bool and str, stored as Python values).
_TYPECODES = {
    "float64": "d",
    "float32": "f",
    "int64": "q",
    "int32": "i",
    "int16": "h",
    "int8": "b",
    "uint64": "Q",
    "uint32": "I",
    "uint16": "H",
    "uint8": "B",
    "bool": None,
    "str": None,
}

# Spellings numpy accepts for the same dtypes.
_ALIASES = {
    "float": "float64",
    "double": "float64",
    "f8": "float64",
    "<f8": "float64",
    "f4": "float32",
    "<f4": "float32",
    "int": "int64",
    "i8": "int64",
    "<i8": "int64",
    "i4": "int32",
    "<i4": "int32",
    "bool_": "bool",
    "?": "bool",
    "object": "str",
    "U": "str",
    "str_": "str",
}


class dtype:
    """An element type, named as numpy names it (`float64`, `int64`, `bool`, `str`, ...)."""

    __slots__ = ("name",)

    def __init__(self, spec):
        self.name = _dtype_name(spec)

    @property
    def kind(self):
        """numpy's one-letter kind: `f`, `i`, `u`, `b` or `U`."""
        return {"f": "f", "i": "i", "u": "u", "b": "b", "s": "U"}[self.name[0]]

    @property
    def itemsize(self):
        """Bytes per element (`str` has no fixed size here: 0)."""
        code = _TYPECODES[self.name]
        return 1 if self.name == "bool" else (_array.array(code).itemsize if code else 0)

    def __eq__(self, other):
        try:
            return self.name == _dtype_name(other)
        except TypeError:
            return NotImplemented

    def __hash__(self):
        return hash(self.name)

    def __str__(self):
        return self.name

    def __repr__(self):
        return f"dtype('{self.name}')"


def _dtype_name(spec):
    if isinstance(spec, dtype):
        return spec.name
    if spec is float:
        return "float64"
    if spec is int:
        return "int64"
    if spec is bool:
        return "bool"
    if spec is str:
        return "str"
    if isinstance(spec, str):
        name = _ALIASES.get(spec, spec)
        if name.startswith("<U") or name.startswith("U"):
            name = "str"
        if name in _TYPECODES:
            return name
    raise TypeError(f"data type {spec!r} not understood")


float64 = dtype("float64")
float32 = dtype("float32")
int64 = dtype("int64")
int32 = dtype("int32")
int16 = dtype("int16")
int8 = dtype("int8")
uint64 = dtype("uint64")
uint32 = dtype("uint32")
uint16 = dtype("uint16")
uint8 = dtype("uint8")
bool_ = dtype("bool")
str_ = dtype("str")


def _caster(name):
    """The Python function that turns a value into an element of dtype `name`."""
    if name == "bool":
        return bool
    if name == "str":
        return str
    if name.startswith("float"):
        return float
    return _to_int


def _to_int(value):
    if isinstance(value, float) and not value.is_integer():
        raise ValueError(f"cannot cast {value!r} to an integer dtype without loss")
    return int(value)


def _infer_dtype(flat):
    if all(isinstance(v, bool) for v in flat):
        return "bool" if flat else "float64"
    if all(isinstance(v, int) and not isinstance(v, bool) for v in flat):
        return "int64"
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in flat):
        return "float64"
    if all(isinstance(v, (int, float, bool)) for v in flat):
        return "float64"
    return "str"


def _flatten(obj, depth, shape, flat):
    if isinstance(obj, ndarray):
        obj = obj.tolist()
    if isinstance(obj, (list, tuple)):
        if len(shape) == depth:
            shape.append(len(obj))
        elif shape[depth] != len(obj):
            raise ValueError("setting an array element with a sequence: the rows are ragged")
        for item in obj:
            _flatten(item, depth + 1, shape, flat)
    else:
        if len(shape) > depth:
            raise ValueError("setting an array element with a sequence: the rows are ragged")
        flat.append(obj)


class ndarray:
    """An n-dimensional array in row-major order: a flat list of elements plus a shape."""

    __slots__ = ("_flat", "shape", "dtype")

    def __init__(self, flat, shape, dtype_):
        if _math.prod(shape) != len(flat):
            raise ValueError(f"cannot make an array of shape {tuple(shape)} from {len(flat)} elements")
        self._flat = flat
        self.shape = tuple(int(n) for n in shape)
        self.dtype = dtype_ if isinstance(dtype_, dtype) else dtype(dtype_)

    @property
    def ndim(self):
        """Number of axes."""
        return len(self.shape)

    @property
    def size(self):
        """Number of elements."""
        return len(self._flat)

    @property
    def T(self):
        """The transpose of a 2-D array (1-D arrays are returned as they are)."""
        if self.ndim < 2:
            return self
        if self.ndim != 2:
            raise NotImplementedError("transpose is supported for 1-D and 2-D arrays")
        rows, cols = self.shape
        flat = [self._flat[r * cols + c] for c in range(cols) for r in range(rows)]
        return ndarray(flat, (cols, rows), self.dtype)

    def tolist(self):
        """The elements as nested Python lists of Python scalars, like numpy's `tolist`."""
        return _nest(self._flat, self.shape)

    def flatten(self):
        """A 1-D copy."""
        return ndarray(list(self._flat), (len(self._flat),), self.dtype)

    def reshape(self, *shape):
        """The same elements with another shape; one axis may be `-1`."""
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        if shape.count(-1) == 1:
            known = _math.prod(n for n in shape if n != -1)
            shape = tuple(len(self._flat) // known if n == -1 else n for n in shape)
        return ndarray(self._flat, shape, self.dtype)

    def astype(self, dtype_):
        """A copy converted to another dtype."""
        target = dtype(dtype_)
        cast = _caster(target.name)
        return ndarray([cast(v) for v in self._flat], self.shape, target)

    def sum(self, axis=None):
        """The sum of all elements, or along `axis` for a 2-D array."""
        return self._reduce(sum, axis)

    def mean(self, axis=None):
        """The mean of all elements, or along `axis` for a 2-D array."""
        return self._reduce(lambda values: sum(values) / len(values), axis)

    def max(self, axis=None):
        """The largest element, or along `axis` for a 2-D array."""
        return self._reduce(max, axis)

    def min(self, axis=None):
        """The smallest element, or along `axis` for a 2-D array."""
        return self._reduce(min, axis)

    def argmax(self):
        """The flat index of the largest element."""
        return max(range(len(self._flat)), key=self._flat.__getitem__)

    def dot(self, other):
        """Matrix-vector or vector-vector product (`a @ b`)."""
        other = asarray(other)
        if other.ndim != 1:
            raise NotImplementedError("dot is supported with a 1-D right-hand side")
        width = other.shape[0]
        if self.shape[-1] != width:
            raise ValueError(f"shapes {self.shape} and {other.shape} not aligned")
        w = other._flat
        if self.ndim == 1:
            return sum(x * c for x, c in zip(self._flat, w))
        if self.ndim != 2:
            raise NotImplementedError("dot is supported for 1-D and 2-D left-hand sides")
        flat = self._flat
        out = [
            sum(x * c for x, c in zip(flat[start : start + width], w))
            for start in range(0, len(flat), width)
        ]
        return ndarray(out, (self.shape[0],), "float64")

    __matmul__ = dot

    def __len__(self):
        if not self.shape:
            raise TypeError("len() of unsized object")
        return self.shape[0]

    def __iter__(self):
        if not self.shape:
            raise TypeError("iteration over a 0-d array")
        for i in range(self.shape[0]):
            yield self[i]

    def __getitem__(self, index):
        if isinstance(index, tuple):
            if len(index) != self.ndim or not all(isinstance(i, int) for i in index):
                raise NotImplementedError("only integer indices, one per axis, are supported")
            flat_index = 0
            for i, n in zip(index, self.shape):
                flat_index = flat_index * n + _wrap(i, n)
            return self._flat[flat_index]
        if isinstance(index, int):
            i = _wrap(index, len(self))
            if self.ndim == 1:
                return self._flat[i]
            stride = _math.prod(self.shape[1:])
            return ndarray(self._flat[i * stride : (i + 1) * stride], self.shape[1:], self.dtype)
        raise NotImplementedError("only integer indices are supported")

    def __eq__(self, other):
        if isinstance(other, ndarray):
            return self.shape == other.shape and self._flat == other._flat
        return NotImplemented

    __hash__ = None

    def __repr__(self):
        return f"array({self.tolist()!r}, dtype={self.dtype.name})"

    def _reduce(self, fold, axis):
        if axis is None:
            return fold(self._flat)
        if self.ndim != 2:
            raise NotImplementedError("reductions along an axis are supported for 2-D arrays")
        rows, cols = self.shape
        if axis in (1, -1):
            out = [fold(self._flat[r * cols : (r + 1) * cols]) for r in range(rows)]
        elif axis in (0, -2):
            out = [fold(self._flat[c::cols]) for c in range(cols)]
        else:
            raise ValueError(f"axis {axis} is out of bounds for an array of dimension 2")
        return asarray(out)

    def _elementwise(self, other, op):
        if isinstance(other, ndarray):
            if other.shape != self.shape:
                raise ValueError(f"operands could not be broadcast together: {self.shape} {other.shape}")
            flat = [op(a, b) for a, b in zip(self._flat, other._flat)]
        else:
            flat = [op(a, other) for a in self._flat]
        return ndarray(flat, self.shape, _infer_dtype(flat))

    def __add__(self, other):
        return self._elementwise(other, lambda a, b: a + b)

    def __radd__(self, other):
        return self._elementwise(other, lambda a, b: b + a)

    def __sub__(self, other):
        return self._elementwise(other, lambda a, b: a - b)

    def __rsub__(self, other):
        return self._elementwise(other, lambda a, b: b - a)

    def __mul__(self, other):
        return self._elementwise(other, lambda a, b: a * b)

    def __rmul__(self, other):
        return self._elementwise(other, lambda a, b: b * a)

    def __truediv__(self, other):
        return self._elementwise(other, lambda a, b: a / b)


def _wrap(index, length):
    if index < 0:
        index += length
    if not 0 <= index < length:
        raise IndexError(f"index {index} is out of bounds for axis with size {length}")
    return index


def _nest(flat, shape):
    if len(shape) <= 1:
        return list(flat)
    stride = _math.prod(shape[1:])
    return [_nest(flat[i * stride : (i + 1) * stride], shape[1:]) for i in range(shape[0])]


def array(obj, dtype=None):
    """An array from nested lists (rectangular), like `numpy.array`."""
    shape, flat = [], []
    _flatten(obj, 0, shape, flat)
    name = _dtype_name(dtype) if dtype is not None else _infer_dtype(flat)
    cast = _caster(name)
    return ndarray([cast(v) for v in flat], shape, name)


def asarray(obj, dtype=None):
    """`obj` itself when it is already an array of that dtype, else `array(obj, dtype)`."""
    if isinstance(obj, ndarray) and (dtype is None or obj.dtype == dtype):
        return obj
    return array(obj, dtype)


def zeros(shape, dtype="float64"):
    """An array of zeros."""
    if isinstance(shape, int):
        shape = (shape,)
    cast = _caster(_dtype_name(dtype))
    return ndarray([cast(0)] * _math.prod(shape), shape, dtype)


def _from_bytes(data, shape, name):
    """An array from little-endian element bytes (the host's tensor encoding)."""
    if name == "bool":
        flat = [b != 0 for b in data]
    else:
        values = _array.array(_TYPECODES[name])
        values.frombytes(data)
        flat = values.tolist()
    return ndarray(flat, shape, name)


def _to_bytes(arr):
    """The little-endian element bytes of a numeric or bool array."""
    if arr.dtype.name == "bool":
        return bytes(1 if v else 0 for v in arr._flat)
    return _array.array(_TYPECODES[arr.dtype.name], arr._flat).tobytes()


def _elements(arr):
    """The flat element list (for the SDK's codecs)."""
    return arr._flat
