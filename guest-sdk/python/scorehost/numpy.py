"""A small stand-in for numpy inside a Wasm component.

numpy cannot be bundled by componentize-py: PyPI has no wasm32-wasip2 wheel, and the Linux
wheel's C extension cannot load in the sandbox. This module offers the part of numpy that
scoring scripts use, with numpy 2's rules for shapes, broadcasting and result dtypes:

- construction: `array`, `asarray`, `zeros`/`ones`/`full`/`empty` (and `*_like`), `arange`,
  `linspace`, `eye`; dtype names `float64`, `float32`, `int64`, ... (`np.float32(x)` casts),
  `issubdtype` with `floating`, `integer`, `number`;
- arithmetic (`+ - * / // % **`, unary `-`, `abs`), comparisons and `& | ^ ~` with scalars or
  arrays, broadcast as numpy broadcasts arrays of any rank;
- reductions `sum`, `mean`, `max`, `min`, `argmax`, `argmin`, `prod`, `std`, `var`, `any`,
  `all` with `axis` (an int or a tuple) and `keepdims`;
- shape: `reshape` (with `-1`), `.T`, `transpose`, `ravel`/`flatten`, `squeeze`,
  `expand_dims`, `concatenate`, `stack`, `vstack`, `hstack`, `column_stack`;
- functions: `exp`, `log`, `log2`, `log10`, `log1p`, `expm1`, `sqrt`, `tanh`, `sin`, `cos`,
  `floor`, `ceil`, `abs`, `round`, `clip`, `where`, `maximum`, `minimum`, `isnan`, `isinf`,
  `isfinite`, `isclose`, `allclose`, `array_equal`, `cumsum`, `median`, `dot`/`matmul`/`@`,
  `sort`, `argsort`, `unique`, `nonzero`, `astype`;
- indexing (read and write): integers, slices, `...`, `None`, boolean masks, integer arrays;
- conversion: `tolist`, `item`, `float(a[0])`, `int(...)`, `len`, iteration.

It is plain Python on a flat list of Python values, so it is meant for request-sized data,
not for heavy numerics. float32 elements are Python floats rounded to float32; a number taken
out of an array is a `floating`/`integer` (a Python `float`/`int` that keeps its dtype).
What is still missing is listed in the SDK's README.

Write `from scorehost import numpy as np` where the script had `import numpy as np`.
"""

import array as _array
# numpy's `sum`, `max`, `min`, `any`, `all`, `abs` and `round` below shadow Python's in this
# module, whose own code therefore calls Python's as `_builtins.sum` and so on.
import builtins as _builtins
import math as _math
import operator as _op
import struct as _struct
from functools import reduce as _reduce

_pack_f32 = _struct.Struct("<f").pack
_unpack_f32 = _struct.Struct("<f").unpack

nan = float("nan")
inf = float("inf")
pi = _math.pi
e = _math.e
newaxis = None

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

# dtype name -> (kind, bits).
_INFO = {
    "bool": ("b", 8),
    "int8": ("i", 8),
    "int16": ("i", 16),
    "int32": ("i", 32),
    "int64": ("i", 64),
    "uint8": ("u", 8),
    "uint16": ("u", 16),
    "uint32": ("u", 32),
    "uint64": ("u", 64),
    "float32": ("f", 32),
    "float64": ("f", 64),
    "str": ("U", 0),
}

# Spellings numpy accepts for the same dtypes.
_ALIASES = {
    "float": "float64",
    "double": "float64",
    "f8": "float64",
    "<f8": "float64",
    "d": "float64",
    "f4": "float32",
    "<f4": "float32",
    "f": "float32",
    "single": "float32",
    "int": "int64",
    "i8": "int64",
    "<i8": "int64",
    "long": "int64",
    "int_": "int64",
    "intp": "int64",
    "i4": "int32",
    "<i4": "int32",
    "i2": "int16",
    "<i2": "int16",
    "i1": "int8",
    "u8": "uint64",
    "<u8": "uint64",
    "u4": "uint32",
    "<u4": "uint32",
    "u2": "uint16",
    "<u2": "uint16",
    "u1": "uint8",
    "bool_": "bool",
    "?": "bool",
    "object": "str",
    "U": "str",
    "str_": "str",
}


class dtype:
    """An element type, named as numpy names it (`float64`, `int64`, `bool`, `str`, ...).

    Like numpy's scalar types, the module's dtype names can be called: `np.float32(0.1)`
    is `0.1` rounded to float32, `np.int64([1, 2])` an array."""

    __slots__ = ("name",)

    def __init__(self, spec):
        self.name = _dtype_name(spec)

    @property
    def kind(self):
        """numpy's one-letter kind: `f`, `i`, `u`, `b` or `U`."""
        return _INFO[self.name][0]

    @property
    def itemsize(self):
        """Bytes per element (`str` has no fixed size here: 0)."""
        return _INFO[self.name][1] // 8

    def __call__(self, value=0):
        if isinstance(value, (list, tuple, ndarray)):
            return array(value, dtype=self)
        return _scalar(_convert(self.name)([value])[0], self.name)

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
double = float64
single = float32
int_ = int64
intp = int64


# ---- Element conversion -------------------------------------------------------------------


def _int_converter(bits, signed):
    mask = (1 << bits) - 1
    half = 1 << (bits - 1)
    low = -half if signed else 0

    def convert(values):
        out = []
        for v in values:
            if isinstance(v, float):
                if v != v or v in (inf, -inf):
                    out.append(low)  # what numpy's C cast gives for nan and inf
                    continue
                v = int(v)  # truncates toward zero, as numpy does
            elif isinstance(v, str):
                v = int(v.strip())
            else:
                v = int(v)
            v &= mask
            out.append(v - (1 << bits) if signed and v >= half else v)
        return out

    return convert


def _float32(values):
    return _array.array("f", map(float, values)).tolist()


_CONVERTERS = {
    "float64": lambda values: list(map(float, values)),
    "float32": _float32,
    "bool": lambda values: [bool(v) for v in values],
    "str": lambda values: [str(v) for v in values],
}
for _name, (_kind, _bits) in _INFO.items():
    if _kind in "iu":
        _CONVERTERS[_name] = _int_converter(_bits, _kind == "i")


def _convert(name):
    """The function that turns a list of Python values into elements of dtype `name`
    (numpy's casts: floats to ints truncate and integers wrap around)."""
    return _CONVERTERS[name]


# ---- Result dtypes (numpy 2's promotion rules) ------------------------------------------


def _promote(a, b):
    """The dtype numpy gives an operation on two arrays of dtypes `a` and `b`."""
    if a == b:
        return a
    (ka, ba), (kb, bb) = _INFO[a], _INFO[b]
    if "U" in (ka, kb):
        return "str"
    if ka == "b":
        return b
    if kb == "b":
        return a
    if ka == "f" or kb == "f":
        if ka == "f" and kb == "f":
            return a if ba >= bb else b
        other_bits = bb if ka == "f" else ba
        return "float32" if other_bits <= 16 and "float32" in (a, b) else "float64"
    if ka == kb:
        return a if ba >= bb else b
    signed_bits, unsigned_bits = (ba, bb) if ka == "i" else (bb, ba)
    if signed_bits > unsigned_bits:
        return f"int{signed_bits}"
    if unsigned_bits < 64:
        return f"int{unsigned_bits * 2}"
    return "float64"


def _weak_kind(value):
    """The kind of a Python scalar, which numpy 2 treats as "weak" next to arrays."""
    if isinstance(value, bool):
        return "b"
    if isinstance(value, int):
        return "i"
    if isinstance(value, float):
        return "f"
    if isinstance(value, str):
        return "U"
    return None


_KIND_ORDER = {"b": 0, "i": 1, "u": 1, "f": 2, "U": 3}
_KIND_DEFAULT = {"b": "bool", "i": "int64", "f": "float64", "U": "str"}


def _result_dtype(operands):
    """The result dtype of an element-wise operation on arrays and Python scalars."""
    strong = None
    weak = None
    for x in operands:
        if isinstance(x, ndarray):
            strong = x.dtype.name if strong is None else _promote(strong, x.dtype.name)
        else:
            kind = _weak_kind(x)
            if weak is None or _KIND_ORDER[kind] > _KIND_ORDER[weak]:
                weak = kind
    if strong is None:
        return _KIND_DEFAULT[weak]
    if weak is None:
        return strong
    kind = _INFO[strong][0]
    if weak == "U" or kind == "U":
        return "str"
    if _KIND_ORDER[weak] > _KIND_ORDER[kind]:
        return _KIND_DEFAULT[weak]
    return strong


def _operand(x):
    """An array, or a Python scalar kept as it is (weak); numpy-style scalars are 0-d arrays."""
    if isinstance(x, ndarray):
        return x
    if isinstance(x, generic):
        return ndarray([x.item()], (), x._dtype)
    if _weak_kind(x) is not None:
        return x
    if isinstance(x, dtype):
        raise TypeError("a dtype is not an operand")
    return asarray(x)


def _float_result(name):
    """The dtype numpy's float functions (exp, log, /, ...) give for an input dtype."""
    kind, bits = _INFO[name]
    if kind == "f":
        return name
    if kind == "U":
        raise TypeError("ufunc not supported for str arrays")
    # numpy gives float16 for bool/int8/uint8, which this stand-in does not have.
    return "float32" if bits <= 16 else "float64"


# ---- Shapes and broadcasting --------------------------------------------------------------


def _strides(shape):
    strides = [1] * len(shape)
    for k in range(len(shape) - 2, -1, -1):
        strides[k] = strides[k + 1] * shape[k + 1]
    return strides


def _broadcast_shapes(*shapes):
    ndim = _builtins.max((len(s) for s in shapes), default=0)
    out = []
    for k in range(ndim):
        size = 1
        for s in shapes:
            n = s[k - ndim + len(s)] if k - ndim + len(s) >= 0 else 1
            if n != 1:
                if size != 1 and size != n:
                    raise ValueError(
                        "operands could not be broadcast together with shapes "
                        + " ".join(str(tuple(s)) for s in shapes)
                    )
                size = n
        out.append(size)
    return tuple(out)


def _broadcast_offsets(shape, out_shape):
    """For each element of `out_shape` (row-major), the flat index of the element of an
    array of `shape` broadcast to it."""
    pad = len(out_shape) - len(shape)
    strides = _strides(shape)
    offsets = [0]
    for k, n in enumerate(out_shape):
        j = k - pad
        stride = strides[j] if j >= 0 and shape[j] != 1 else 0
        if stride == 0:
            offsets = [o for o in offsets for _ in range(n)]
        else:
            steps = [i * stride for i in range(n)]
            offsets = [o + s for o in offsets for s in steps]
    return offsets


def _values_as(x, out_shape):
    """The elements of an operand broadcast to `out_shape`, as a flat list."""
    size = _math.prod(out_shape)
    if not isinstance(x, ndarray):
        return [x] * size
    if x.shape == tuple(out_shape):
        return x._flat
    if x.size == 1:
        return x._flat * size
    flat = x._flat
    return [flat[i] for i in _broadcast_offsets(x.shape, out_shape)]


def _permuted_offsets(shape, perm):
    """The flat indices of the elements of an array of `shape` in the row-major order of its
    axes permuted by `perm`."""
    strides = _strides(shape)
    offsets = [0]
    for p in perm:
        steps = [i * strides[p] for i in range(shape[p])]
        offsets = [o + s for o in offsets for s in steps]
    return offsets


def _axis(axis, ndim):
    a = _op.index(axis)
    if not -ndim <= a < ndim:
        raise AxisError(f"axis {axis} is out of bounds for array of dimension {ndim}")
    return a % ndim if ndim else 0


def _axes(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (tuple, list)):
        axes = tuple(_axis(a, ndim) for a in axis)
        if len(set(axes)) != len(axes):
            raise ValueError("duplicate value in 'axis'")
        return axes
    return (_axis(axis, ndim),)


class AxisError(ValueError, IndexError):
    """An axis out of range (numpy's `AxisError`, both a ValueError and an IndexError)."""


# ---- Element operations -------------------------------------------------------------------


def _float_div(a, b):
    try:
        return a / b
    except ZeroDivisionError:
        if a != a or a == 0:
            return nan
        return _math.copysign(inf, a) * _math.copysign(1.0, b)


def _floor_div(a, b):
    try:
        return a // b
    except ZeroDivisionError:
        if isinstance(a, float) or isinstance(b, float):
            return _float_div(a, b) if a != 0 and a == a else nan
        return 0


def _mod(a, b):
    try:
        return a % b
    except ZeroDivisionError:
        return nan if isinstance(a, float) or isinstance(b, float) else 0


def _int_pow(a, b):
    if b < 0:
        raise ValueError("Integers to negative integer powers are not allowed.")
    return a**b


def _float_pow(a, b):
    try:
        return _math.pow(a, b)
    except OverflowError:
        return inf if a > 0 or float(b).is_integer() and b % 2 == 0 else -inf
    except ValueError:
        if a == 0:  # a negative power of zero: C's pow keeps the sign for odd integers
            odd = float(b).is_integer() and b % 2 == 1
            return _math.copysign(inf, a) if odd else inf
        return nan


def _safe(func, overflow=inf):
    def call(x):
        try:
            return func(x)
        except OverflowError:
            return overflow
        except ValueError:
            if func in (_math.log, _math.log2, _math.log10) and x == 0:
                return -inf
            if func is _math.log1p and x == -1:
                return -inf
            return nan

    return call


def _rint(x):
    """Round half to even, keeping inf, nan and the sign of zero."""
    return _integral(x, _builtins.round)


def _integral(x, func):
    if x != x or x in (inf, -inf):
        return x
    return _math.copysign(float(func(x)), x)


_BINARY = {
    "add": _op.add,
    "subtract": _op.sub,
    "multiply": _op.mul,
    "floor_divide": _floor_div,
    "remainder": _mod,
}
_COMPARE = {
    "equal": _op.eq,
    "not_equal": _op.ne,
    "less": _op.lt,
    "less_equal": _op.le,
    "greater": _op.gt,
    "greater_equal": _op.ge,
}
_BITWISE = {"bitwise_and": _op.and_, "bitwise_or": _op.or_, "bitwise_xor": _op.xor}


def _binary(name, a, b):
    a, b = _operand(a), _operand(b)
    out_dtype = _result_dtype([a, b])
    kind = _INFO[out_dtype][0]
    if name in _BITWISE and kind == "f":
        raise TypeError(f"ufunc '{name}' is not supported for float arrays")
    shape = _broadcast_shapes(
        a.shape if isinstance(a, ndarray) else (), b.shape if isinstance(b, ndarray) else ()
    )
    if name in _COMPARE:
        xs, ys = _values_as(a, shape), _values_as(b, shape)
        if out_dtype != "str":
            # Compare the values as numpy does: both cast to the common dtype first, except
            # a Python int, which compares exactly (uint8 values are all > -1).
            convert = _convert(out_dtype)
            if _cast_for_compare(a, out_dtype):
                xs = convert(xs)
            if _cast_for_compare(b, out_dtype):
                ys = convert(ys)
        elif not _builtins.all(isinstance(x, str) for x in (a, b) if not isinstance(x, ndarray)):
            raise TypeError("cannot compare a str array with numbers")
        func = _COMPARE[name]
        return _scalar_or_array([func(x, y) for x, y in zip(xs, ys)], shape, "bool")
    if kind == "U":
        raise TypeError(f"ufunc '{name}' is not supported for str arrays")
    if name == "true_divide":
        out_dtype = out_dtype if kind == "f" else "float64"
        kind = "f"
    if kind == "b" and name == "subtract":
        raise TypeError("numpy boolean subtract, the `-` operator, is not supported")
    if kind == "b" and name in ("floor_divide", "remainder", "power"):
        out_dtype, kind = "int8", "i"
    for x in (a, b):
        _check_weak_int(x, out_dtype)
    convert = _convert(out_dtype)
    xs, ys = _values_as(a, shape), _values_as(b, shape)
    if not isinstance(a, ndarray) or a.dtype.name != out_dtype:
        xs = convert(xs)
    if not isinstance(b, ndarray) or b.dtype.name != out_dtype:
        ys = convert(ys)
    if name == "true_divide":
        func = _float_div
    elif name == "power":
        func = _float_pow if kind == "f" else _int_pow
    elif name in _BITWISE:
        func = _BITWISE[name]
    else:
        func = _BINARY[name]
    flat = [func(x, y) for x, y in zip(xs, ys)]
    if kind == "b" and name in ("add", "multiply"):
        flat = [x or y for x, y in zip(xs, ys)] if name == "add" else [x and y for x, y in zip(xs, ys)]
    return _scalar_or_array(convert(flat), shape, out_dtype)


def _cast_for_compare(x, name):
    if isinstance(x, ndarray):
        return x.dtype.name != name
    return not (isinstance(x, int) and _INFO[name][0] in "iu")


def _int_range(name):
    kind, bits = _INFO[name]
    if kind == "i":
        return -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return 0, (1 << bits) - 1


def _check_weak_int(x, name):
    """numpy 2 refuses a Python integer that the array's integer dtype cannot hold."""
    if isinstance(x, int) and not isinstance(x, bool) and _INFO[name][0] in "iu":
        low, high = _int_range(name)
        if not low <= x <= high:
            raise OverflowError(f"Python integer {x} out of bounds for {name}")


def _unary_float(func, x, overflow=inf):
    x = asarray(x)
    out = _float_result(x.dtype.name)
    call = _safe(func, overflow)
    flat = [call(float(v)) for v in x._flat]
    result = ndarray(_convert(out)(flat), x.shape, out)
    return result if result.shape else _scalar(result._flat[0], out)


def _scalar_or_array(flat, shape, name):
    if shape == ():
        return _scalar(flat[0], name)
    return ndarray(flat, shape, name)


class generic:
    """What numpy scalars have beyond Python numbers: `dtype`, `item()`, `tolist()`, ...

    A single number taken from an array (`a[0, 1]`, `a.sum()`, `a.argmax()`) is a `floating`
    (a `float`) or an `integer` (an `int`) that remembers its dtype, so it combines with
    arrays as numpy's scalars do. bool and str elements come back as plain `bool` and `str`."""

    shape = ()
    ndim = 0
    size = 1

    @property
    def dtype(self):
        """The dtype of the array this number came from."""
        return dtype(self._dtype)

    def item(self):
        """The plain Python number."""
        return self._python(self)

    tolist = item

    def astype(self, dtype_):
        """The number converted to another dtype."""
        return dtype(dtype_)(self._python(self))


class number(generic):
    """numpy's abstract type of numeric scalars (`isinstance(x, np.number)`)."""


class floating(number, float):
    """A float scalar with its dtype (`float64` or `float32`); a Python `float`."""

    _python = float

    def __new__(cls, value, name="float64"):
        obj = float.__new__(cls, value)
        obj._dtype = name
        return obj


class integer(number, int):
    """An integer scalar with its dtype (`int64`, `uint8`, ...); a Python `int`."""

    _python = int

    def __new__(cls, value, name="int64"):
        obj = int.__new__(cls, value)
        obj._dtype = name
        return obj


def issubdtype(arg1, arg2):
    """Whether dtype `arg1` is `arg2` or of its kind (`np.floating`, `np.integer`, `np.number`)."""
    name = _dtype_name(arg1)
    kinds = {generic: "fiubU", number: "fiu", floating: "f", integer: "iu"}.get(arg2)
    if kinds is not None:
        return _INFO[name][0] in kinds
    return name == _dtype_name(arg2)


def _scalar(value, name):
    kind = _INFO[name][0]
    if kind == "f":
        return floating(value, name)
    if kind in "iu":
        return integer(value, name)
    return value


# ---- The array ----------------------------------------------------------------------------


class ndarray:
    """An n-dimensional array in row-major order: a flat list of elements plus a shape.

    Unlike numpy, slices and indexing results are copies, not views: writing into `a[:, 0]`
    does not change `a` (write with `a[:, 0] = ...` instead). `reshape` does share the data."""

    # `_data` is the flat element list, or None while the array is still only the host's
    # tensor bytes: `_raw` is then (bytes, dtype name) and `_flat` decodes them on first use
    # (see `_from_bytes`).
    __slots__ = ("_data", "_raw", "_shape", "dtype")

    def __init__(self, flat, shape, dtype_):
        if isinstance(shape, int):
            shape = (shape,)
        if _math.prod(shape) != len(flat):
            raise ValueError(f"cannot make an array of shape {tuple(shape)} from {len(flat)} elements")
        self._data = flat
        self._raw = None
        self._shape = tuple(int(n) for n in shape)
        self.dtype = dtype_ if isinstance(dtype_, dtype) else dtype(dtype_)

    @property
    def _flat(self):
        data = self._data
        if data is None:
            data = self._data = _decode(*self._raw)
        return data

    @_flat.setter
    def _flat(self, value):
        self._data = value
        self._raw = None

    # -- attributes

    @property
    def shape(self):
        """The length of each axis."""
        return self._shape

    @shape.setter
    def shape(self, value):
        # `a.shape = (2, -1)` reshapes in place, as in numpy.
        self._shape = self.reshape(value)._shape

    @property
    def ndim(self):
        """Number of axes."""
        return len(self.shape)

    @property
    def size(self):
        """Number of elements."""
        return _math.prod(self._shape)

    @property
    def itemsize(self):
        """Bytes per element."""
        return self.dtype.itemsize

    @property
    def nbytes(self):
        """Bytes of all elements."""
        return self.size * self.dtype.itemsize

    @property
    def T(self):
        """The transpose: the axes in reverse order."""
        return self.transpose()

    # -- conversion

    def tolist(self):
        """The elements as nested Python lists of Python scalars, like numpy's `tolist`."""
        if not self.shape:
            return self._flat[0]
        return _nest(self._flat, self.shape)

    def item(self, *index):
        """One element as a Python scalar: the only one, or the one at a flat or full index."""
        if not index:
            if self.size != 1:
                raise ValueError("can only convert an array of size 1 to a Python scalar")
            return self._flat[0]
        if len(index) == 1:
            return self._flat[_wrap(_op.index(index[0]), self.size, 0)]
        value = self[tuple(index)]
        return value.item() if isinstance(value, generic) else value

    def copy(self):
        """A copy."""
        return ndarray(list(self._flat), self.shape, self.dtype)

    def astype(self, dtype_):
        """A copy converted to another dtype (floats to ints truncate, as in numpy)."""
        target = dtype(dtype_)
        return ndarray(_convert(target.name)(self._flat), self.shape, target)

    def _scalar(self, to):
        if self.size != 1:
            raise TypeError("only length-1 arrays can be converted to Python scalars")
        return to(self._flat[0])

    def __float__(self):
        return self._scalar(float)

    def __int__(self):
        return self._scalar(int)

    def __index__(self):
        if self.ndim or self.dtype.kind not in "iu":
            raise TypeError("only integer scalar arrays can be converted to a scalar index")
        return self._flat[0]

    def __bool__(self):
        if self.size != 1:
            raise ValueError(
                "The truth value of an array with more than one element is ambiguous. "
                "Use a.any() or a.all()"
            )
        return bool(self._flat[0])

    def __len__(self):
        if not self.shape:
            raise TypeError("len() of unsized object")
        return self.shape[0]

    def __iter__(self):
        if not self.shape:
            raise TypeError("iteration over a 0-d array")
        if self.ndim == 1:
            return (_scalar(v, self.dtype.name) for v in self._flat)
        return (self[i] for i in range(self.shape[0]))

    def __contains__(self, value):
        found = self == value
        return bool(found.any() if isinstance(found, ndarray) else found)

    def __repr__(self):
        return f"array({self.tolist()!r}, dtype={self.dtype.name})"

    __str__ = __repr__

    # -- shape

    def reshape(self, *shape, order="C"):
        """The same elements with another shape; one axis may be `-1`. Shares the data."""
        if order != "C":
            raise NotImplementedError("only order='C' is supported")
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        shape = tuple(_op.index(n) for n in shape)
        if shape.count(-1) > 1:
            raise ValueError("can only specify one unknown dimension")
        if -1 in shape:
            known = _math.prod(n for n in shape if n != -1)
            if known == 0 or self.size % known:
                raise ValueError(f"cannot reshape array of size {self.size} into shape {_shape_str(shape)}")
            shape = tuple(self.size // known if n == -1 else n for n in shape)
        if _math.prod(shape) != self.size or _builtins.any(n < 0 for n in shape):
            raise ValueError(f"cannot reshape array of size {self.size} into shape {_shape_str(shape)}")
        return ndarray(self._flat, shape, self.dtype)

    def transpose(self, *axes):
        """The axes permuted (reversed when `axes` is not given)."""
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        if not axes or axes == (None,):
            axes = tuple(range(self.ndim - 1, -1, -1))
        perm = _axes(axes, self.ndim)
        if len(perm) != self.ndim:
            raise ValueError("axes don't match array")
        if perm == tuple(range(self.ndim)):
            return ndarray(list(self._flat), self.shape, self.dtype)
        flat = self._flat
        out = [flat[i] for i in _permuted_offsets(self.shape, perm)]
        return ndarray(out, tuple(self.shape[p] for p in perm), self.dtype)

    def swapaxes(self, axis1, axis2):
        """Two axes exchanged."""
        perm = list(range(self.ndim))
        a, b = _axis(axis1, self.ndim), _axis(axis2, self.ndim)
        perm[a], perm[b] = perm[b], perm[a]
        return self.transpose(perm)

    def flatten(self):
        """A 1-D copy."""
        return ndarray(list(self._flat), (self.size,), self.dtype)

    def ravel(self):
        """The elements as a 1-D array (shares the data)."""
        return ndarray(self._flat, (self.size,), self.dtype)

    def squeeze(self, axis=None):
        """The array without axes of length 1 (all of them, or those in `axis`)."""
        if axis is None:
            axes = [k for k, n in enumerate(self.shape) if n == 1]
        else:
            axes = _axes(axis, self.ndim)
            if _builtins.any(self.shape[k] != 1 for k in axes):
                raise ValueError("cannot select an axis to squeeze out which has size not equal to one")
        return ndarray(self._flat, tuple(n for k, n in enumerate(self.shape) if k not in axes), self.dtype)

    # -- reductions

    def sum(self, axis=None, dtype=None, keepdims=False):
        """The sum of the elements, over all of them or along `axis`."""
        name = _dtype_name(dtype) if dtype is not None else _sum_dtype(self.dtype.name)
        return self._reduce(axis, keepdims, name, _sum_of(name))

    def prod(self, axis=None, dtype=None, keepdims=False):
        """The product of the elements, over all of them or along `axis`."""
        name = _dtype_name(dtype) if dtype is not None else _sum_dtype(self.dtype.name)
        return self._reduce(axis, keepdims, name, _math.prod)

    def mean(self, axis=None, dtype=None, keepdims=False):
        """The mean of the elements, over all of them or along `axis`."""
        name = _dtype_name(dtype) if dtype is not None else _float_result(self.dtype.name)
        if _INFO[self.dtype.name][0] in "biu" and dtype is None:
            name = "float64"
        add = _sum_of(name)
        return self._reduce(axis, keepdims, name, lambda values: _float_div(add(values), len(values)))

    def var(self, axis=None, dtype=None, ddof=0, keepdims=False):
        """The variance, over all of the elements or along `axis`."""
        name = "float64" if _INFO[self.dtype.name][0] in "biu" else self.dtype.name
        if dtype is not None:
            name = _dtype_name(dtype)
        add = _sum_of(name)

        convert = _convert(name)

        def var(values):
            # As numpy computes it, each step rounded to the dtype: the mean, the deviations,
            # their squares, and the mean of those.
            values = convert(values)
            mean = convert([_float_div(add(values), len(values))])[0]
            deviations = convert([v - mean for v in values])
            squares = convert([d * d for d in deviations])
            return _float_div(add(squares), _builtins.max(len(values) - ddof, 0))

        return self._reduce(axis, keepdims, name, var)

    def std(self, axis=None, dtype=None, ddof=0, keepdims=False):
        """The standard deviation, over all of the elements or along `axis`."""
        result = self.var(axis=axis, dtype=dtype, ddof=ddof, keepdims=keepdims)
        return sqrt(result)

    def max(self, axis=None, keepdims=False):
        """The largest element (nan if any is nan), over all of them or along `axis`."""
        return self._reduce(axis, keepdims, self.dtype.name, _extreme(_op.gt), "maximum")

    def min(self, axis=None, keepdims=False):
        """The smallest element (nan if any is nan), over all of them or along `axis`."""
        return self._reduce(axis, keepdims, self.dtype.name, _extreme(_op.lt), "minimum")

    def argmax(self, axis=None, keepdims=False):
        """The index of the (first) largest element: flat, or along `axis` (int64)."""
        return self._arg(axis, keepdims, _arg_extreme(_op.gt), "argmax")

    def argmin(self, axis=None, keepdims=False):
        """The index of the (first) smallest element: flat, or along `axis` (int64)."""
        return self._arg(axis, keepdims, _arg_extreme(_op.lt), "argmin")

    def any(self, axis=None, keepdims=False):
        """Whether any element is true, over all of them or along `axis`."""
        return self._reduce(axis, keepdims, "bool", _builtins.any)

    def all(self, axis=None, keepdims=False):
        """Whether every element is true, over all of them or along `axis`."""
        return self._reduce(axis, keepdims, "bool", _builtins.all)

    def _groups(self, axes):
        """The kept shape and, for each of its elements, the list of reduced values."""
        kept = [k for k in range(self.ndim) if k not in axes]
        flat = self._flat
        if list(axes) == list(range(len(kept), self.ndim)):
            ordered = flat  # the reduced axes are already the last ones
        else:
            ordered = [flat[i] for i in _permuted_offsets(self.shape, kept + list(axes))]
        n = _math.prod(self.shape[k] for k in axes)
        count = _math.prod(self.shape[k] for k in kept)
        return kept, [ordered[i * n : (i + 1) * n] for i in range(count)]

    def _reduce(self, axis, keepdims, name, fold, what=None):
        axes = _axes(axis, self.ndim)
        kept, groups = self._groups(axes)
        if what and groups and not groups[0]:
            raise ValueError(f"zero-size array to reduction operation {what} which has no identity")
        flat = _convert(name)([fold(g) for g in groups])
        return self._reduced(flat, kept, keepdims, name)

    def _arg(self, axis, keepdims, fold, what):
        if axis is None:
            if not self._flat:
                raise ValueError(f"attempt to get {what} of an empty sequence")
            index = fold(self._flat)
            return _scalar_or_array([index], (1,) * self.ndim if keepdims else (), "int64")
        axes = _axes(axis, self.ndim)
        kept, groups = self._groups(axes)
        if groups and not groups[0]:
            raise ValueError(f"attempt to get {what} of an empty sequence")
        return self._reduced([fold(g) for g in groups], kept, keepdims, "int64")

    def _reduced(self, flat, kept, keepdims, name):
        if keepdims:
            shape = tuple(n if k in kept else 1 for k, n in enumerate(self.shape))
        else:
            shape = tuple(self.shape[k] for k in kept)
        return _scalar_or_array(flat, shape, name)

    # -- other methods

    def clip(self, min=None, max=None):
        """The elements limited to [min, max]."""
        return clip(self, min, max)

    def round(self, decimals=0):
        """The elements rounded to `decimals` (half to even, as numpy rounds)."""
        return round_(self, decimals)

    def dot(self, other):
        """The dot product with `other` (see `numpy.dot`)."""
        return dot(self, other)

    def nonzero(self):
        """A tuple of index arrays, one per axis, of the non-zero elements."""
        return nonzero(self)

    def sort(self, axis=-1):
        """Sorts in place along `axis`."""
        self._flat[:] = sort(self, axis)._flat

    def argsort(self, axis=-1):
        """The indices that sort along `axis`."""
        return argsort(self, axis)

    def cumsum(self, axis=None, dtype=None):
        """The running sums along `axis`."""
        return cumsum(self, axis=axis, dtype=dtype)

    def fill(self, value):
        """Sets every element to `value`."""
        self._flat[:] = _convert(self.dtype.name)([value]) * self.size

    # -- indexing

    def __getitem__(self, index):
        if isinstance(index, int) and not isinstance(index, bool) and self.ndim:
            i = _wrap(index, self.shape[0], 0)
            if self.ndim == 1:
                return _scalar(self._flat[i], self.dtype.name)
            stride = len(self._flat) // self.shape[0]
            return ndarray(self._flat[i * stride : (i + 1) * stride], self.shape[1:], self.dtype)
        offsets, shape = _index_plan(self, index)
        flat = self._flat
        if shape == ():
            return _scalar(flat[offsets[0]], self.dtype.name)
        return ndarray([flat[o] for o in offsets], shape, self.dtype)

    def __setitem__(self, index, value):
        offsets, shape = _index_plan(self, index)
        value = _operand(value)
        if isinstance(value, ndarray):
            _broadcast_shapes(value.shape, shape)
            if value.ndim > len(shape):
                value = value.reshape(value.shape[value.ndim - len(shape) :])
        values = _convert(self.dtype.name)(_values_as(value, shape))
        flat = self._flat
        for o, v in zip(offsets, values):
            flat[o] = v

    # -- operators

    def __add__(self, other):
        return _binary("add", self, other)

    def __radd__(self, other):
        return _binary("add", other, self)

    def __sub__(self, other):
        return _binary("subtract", self, other)

    def __rsub__(self, other):
        return _binary("subtract", other, self)

    def __mul__(self, other):
        return _binary("multiply", self, other)

    def __rmul__(self, other):
        return _binary("multiply", other, self)

    def __truediv__(self, other):
        return _binary("true_divide", self, other)

    def __rtruediv__(self, other):
        return _binary("true_divide", other, self)

    def __floordiv__(self, other):
        return _binary("floor_divide", self, other)

    def __rfloordiv__(self, other):
        return _binary("floor_divide", other, self)

    def __mod__(self, other):
        return _binary("remainder", self, other)

    def __rmod__(self, other):
        return _binary("remainder", other, self)

    def __pow__(self, other):
        # Like numpy's `**`, a float array to a scalar power of -1, 0.5 or 2 takes the
        # reciprocal, the square root or the square (which differ from pow() for -0.0).
        if self.dtype.kind == "b" and type(other) is int and other == 2:
            return self.astype("int8") * self.astype("int8")  # numpy's square of bools
        if self.dtype.kind == "f" and isinstance(other, (int, float)) and not isinstance(other, bool):
            if other == 2:
                return self * self
            if other == 0.5:
                return sqrt(self)
            if other == -1:
                return 1 / self
        return _binary("power", self, other)

    def __rpow__(self, other):
        return _binary("power", other, self)

    def __and__(self, other):
        return _binary("bitwise_and", self, other)

    def __rand__(self, other):
        return _binary("bitwise_and", other, self)

    def __or__(self, other):
        return _binary("bitwise_or", self, other)

    def __ror__(self, other):
        return _binary("bitwise_or", other, self)

    def __xor__(self, other):
        return _binary("bitwise_xor", self, other)

    def __rxor__(self, other):
        return _binary("bitwise_xor", other, self)

    def __matmul__(self, other):
        return matmul(self, other)

    def __rmatmul__(self, other):
        return matmul(other, self)

    def __eq__(self, other):
        return _binary("equal", self, other)

    def __ne__(self, other):
        return _binary("not_equal", self, other)

    def __lt__(self, other):
        return _binary("less", self, other)

    def __le__(self, other):
        return _binary("less_equal", self, other)

    def __gt__(self, other):
        return _binary("greater", self, other)

    def __ge__(self, other):
        return _binary("greater_equal", self, other)

    __hash__ = None

    def __neg__(self):
        if self.dtype.kind == "b":
            raise TypeError("The numpy boolean negative, the `-` operator, is not supported")
        if self.dtype.kind == "U":
            raise TypeError("ufunc 'negative' is not supported for str arrays")
        return ndarray(_convert(self.dtype.name)([-v for v in self._flat]), self.shape, self.dtype)

    def __pos__(self):
        return self.copy()

    def __abs__(self):
        return absolute(self)

    def __invert__(self):
        if self.dtype.kind == "b":
            return ndarray([not v for v in self._flat], self.shape, self.dtype)
        if self.dtype.kind in "iu":
            return ndarray(_convert(self.dtype.name)([~v for v in self._flat]), self.shape, self.dtype)
        raise TypeError("ufunc 'invert' not supported for the input types")

    def _inplace(self, name, other):
        result = _binary(name, self, other)
        if not _same_kind(result.dtype.name, self.dtype.name):
            raise TypeError(
                f"Cannot cast ufunc '{name}' output from dtype('{result.dtype.name}') "
                f"to dtype('{self.dtype.name}') with casting rule 'same_kind'"
            )
        if result.shape != self.shape:
            raise ValueError(
                f"non-broadcastable output operand with shape {self.shape} "
                f"doesn't match the broadcast shape {result.shape}"
            )
        self._flat[:] = _convert(self.dtype.name)(result._flat)
        return self

    def __iadd__(self, other):
        return self._inplace("add", other)

    def __isub__(self, other):
        return self._inplace("subtract", other)

    def __imul__(self, other):
        return self._inplace("multiply", other)

    def __itruediv__(self, other):
        return self._inplace("true_divide", other)

    def __ifloordiv__(self, other):
        return self._inplace("floor_divide", other)

    def __imod__(self, other):
        return self._inplace("remainder", other)

    def __ipow__(self, other):
        return self._inplace("power", other)


def _same_kind(source, target):
    order = {"b": 0, "u": 1, "i": 1, "f": 2, "U": 3}
    ks, kt = _INFO[source][0], _INFO[target][0]
    if ks == "u" and kt == "i":
        return True
    if ks == "i" and kt == "u":
        return False
    return order[ks] <= order[kt]


def _shape_str(shape):
    return str(tuple(shape)) if len(shape) != 1 else f"({shape[0]},)"


def _sum_dtype(name):
    kind = _INFO[name][0]
    if kind == "U":
        raise TypeError("cannot sum a str array")
    if kind in "bi":
        return "int64"
    if kind == "u":
        return "uint64"
    return name


def _round32(x):
    """`x` rounded to float32 (inf beyond its range)."""
    try:
        return _unpack_f32(_pack_f32(x))[0]
    except OverflowError:
        return _math.copysign(inf, x)


def _pairwise(values, lo, n, r32):
    # numpy's pairwise summation (8 partial sums, halves above 128 values); `r32` rounds
    # each partial sum as numpy's float32 accumulators do.
    if n < 8:
        total = -0.0
        for i in range(lo, lo + n):
            total = r32(total + values[i])
        return total
    if n <= 128:
        r = values[lo : lo + 8]
        end = lo + n - n % 8
        for i in range(lo + 8, end, 8):
            for j in range(8):
                r[j] = r32(r[j] + values[i + j])
        total = r32(r32(r32(r[0] + r[1]) + r32(r[2] + r[3])) + r32(r32(r[4] + r[5]) + r32(r[6] + r[7])))
        for i in range(end, lo + n):
            total = r32(total + values[i])
        return total
    half = n // 2
    half -= half % 8
    return r32(_pairwise(values, lo, half, r32) + _pairwise(values, lo + half, n - half, r32))


def _pairwise64(values, lo, n):
    # `_pairwise` for float64, where no rounding is needed between additions: the same order
    # of additions, done by `functools.reduce` (never Python's `sum`, which compensates
    # rounding since Python 3.12).
    if n < 8:
        return _reduce(_op.add, values[lo : lo + n], -0.0)
    if n <= 128:
        end = lo + n - n % 8
        r = [_reduce(_op.add, values[lo + j : end : 8]) for j in range(8)]
        total = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
        return _reduce(_op.add, values[end : lo + n], total)
    half = n // 2
    half -= half % 8
    return _pairwise64(values, lo, half) + _pairwise64(values, lo + half, n - half)


def _same_value(x):
    return x


def _sum_of(name):
    kind = _INFO[name][0]
    if name == "float32":
        # numpy starts from the identity 0.0, so a sum of -0.0s is 0.0.
        return lambda values: _round32(0.0 + _pairwise(list(map(float, values)), 0, len(values), _round32))
    if kind == "f":
        return lambda values: 0.0 + _pairwise64(list(map(float, values)), 0, len(values))
    return _builtins.sum


def _extreme(better):
    # Of equal values (0.0 and -0.0) numpy's reduction keeps the later one.
    def fold(values):
        best = values[0]
        for v in values:
            if v != v:
                return v
            if not better(best, v):
                best = v
        return best

    return fold


def _arg_extreme(better):
    def fold(values):
        best = 0
        for i, v in enumerate(values):
            if v != v:
                return i
            if better(v, values[best]):
                best = i
        return best

    return fold


def _wrap(index, length, axis):
    if index < 0:
        index += length
    if not 0 <= index < length:
        raise IndexError(f"index {index - length if index < 0 else index} is out of bounds for axis {axis} with size {length}")
    return index


def _nest(flat, shape):
    if len(shape) <= 1:
        return list(flat)
    stride = _math.prod(shape[1:])
    return [_nest(flat[i * stride : (i + 1) * stride], shape[1:]) for i in range(shape[0])]


def _index_plan(arr, index):
    """The flat offsets an index selects and the shape of the selection (numpy's basic and
    advanced indexing)."""
    items = index if isinstance(index, tuple) else (index,)
    parsed = []
    for it in items:
        if it is None:
            parsed.append(("new", None))
        elif it is Ellipsis:
            parsed.append(("ellipsis", None))
        elif isinstance(it, slice):
            parsed.append(("slice", it))
        elif isinstance(it, (ndarray, list)):
            ix = asarray(it)
            if ix.size == 0 and ix.dtype.kind == "f":
                ix = ix.astype("int64")
            if ix.dtype.kind == "b":
                parsed.append(("mask", ix))
            elif ix.dtype.kind in "iu":
                parsed.append(("ints", ix))
            else:
                raise IndexError("arrays used as indices must be of integer (or boolean) type")
        elif isinstance(it, bool):
            raise IndexError("a bool scalar is not a supported index")
        else:
            try:
                parsed.append(("int", _op.index(it)))
            except TypeError:
                raise IndexError(
                    "only integers, slices (`:`), ellipsis (`...`), numpy.newaxis (`None`) "
                    "and integer or boolean arrays are valid indices"
                ) from None
    used = _builtins.sum(v.ndim if k == "mask" else k in ("int", "ints", "slice") for k, v in parsed)
    if used > arr.ndim:
        raise IndexError(
            f"too many indices for array: array is {arr.ndim}-dimensional, but {used} were indexed"
        )
    ellipses = [i for i, (k, _) in enumerate(parsed) if k == "ellipsis"]
    if len(ellipses) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    fill = [("slice", slice(None))] * (arr.ndim - used)
    if ellipses:
        i = ellipses[0]
        parsed[i : i + 1] = fill
    else:
        parsed += fill

    # Entries of (kind, value, axis); masks become one integer array per masked axis.
    entries = []
    axis = 0
    for kind, value in parsed:
        if kind == "mask":
            want = arr.shape[axis : axis + value.ndim]
            if value.shape != want:
                k = next(k for k in range(value.ndim) if value.shape[k] != want[k])
                raise IndexError(
                    f"boolean index did not match indexed array along axis {axis + k}; size of "
                    f"axis is {want[k]} but size of corresponding boolean axis is {value.shape[k]}"
                )
            for k, ix in enumerate(nonzero(value)):
                entries.append(("ints", ix, axis + k))
            axis += value.ndim
        elif kind == "new":
            entries.append(("new", None, None))
        else:
            entries.append((kind, value, axis))
            axis += 1
    advanced = [i for i, (k, _, _) in enumerate(entries) if k == "ints"]
    if advanced:
        # With an array index present, integers are array indices too (numpy's rule).
        entries = [("ints", asarray(v), a) if k == "int" else (k, v, a) for k, v, a in entries]
        advanced = [i for i, (k, _, _) in enumerate(entries) if k == "ints"]

    strides = _strides(arr.shape)
    base = 0
    groups = []  # (shape, contributions) in output order
    adv_group = None
    if advanced:
        adv_shape = _broadcast_shapes(*(entries[i][1].shape for i in advanced))
        contributions = [0] * _math.prod(adv_shape)
        for i in advanced:
            _, ix, a = entries[i]
            n = arr.shape[a]
            wrapped = [_wrap(int(j), n, a) * strides[a] for j in _values_as(ix, adv_shape)]
            contributions = [c + w for c, w in zip(contributions, wrapped)]
        adv_group = (adv_shape, contributions)
        if advanced != list(range(advanced[0], advanced[-1] + 1)):
            groups.append(adv_group)  # not adjacent: the array axes come first
            adv_group = None
    for i, (kind, value, a) in enumerate(entries):
        if kind == "int":
            base += _wrap(value, arr.shape[a], a) * strides[a]
        elif kind == "slice":
            positions = range(*value.indices(arr.shape[a]))
            groups.append(((len(positions),), [p * strides[a] for p in positions]))
        elif kind == "new":
            groups.append(((1,), [0]))
        elif adv_group is not None and i == advanced[0]:
            groups.append(adv_group)
    offsets = [base]
    shape = ()
    for group_shape, contributions in groups:
        offsets = [o + c for o in offsets for c in contributions]
        shape += tuple(group_shape)
    return offsets, shape


# ---- Construction -------------------------------------------------------------------------


def _flatten(obj, depth, shape, flat, dtypes):
    if isinstance(obj, generic):
        dtypes.append(obj._dtype)
        obj = obj.item()
    if isinstance(obj, ndarray):
        dtypes.append(obj.dtype.name)
        if len(shape) == depth:
            shape.extend(obj.shape)
        elif tuple(shape[depth:]) != obj.shape:
            raise ValueError("setting an array element with a sequence: the rows are ragged")
        flat.extend(obj._flat)
    elif isinstance(obj, (list, tuple)):
        if len(shape) == depth:
            shape.append(len(obj))
        elif shape[depth] != len(obj):
            raise ValueError("setting an array element with a sequence: the rows are ragged")
        for item in obj:
            _flatten(item, depth + 1, shape, flat, dtypes)
    else:
        if len(shape) > depth:
            raise ValueError("setting an array element with a sequence: the rows are ragged")
        flat.append(obj)


def _infer_dtype(flat, dtypes):
    """The dtype numpy gives nested lists of Python values (and arrays of `dtypes`)."""
    name = None
    for d in dtypes:
        name = d if name is None else _promote(name, d)
    kinds = set()
    for v in flat:
        if isinstance(v, bool):
            kinds.add("bool")
        elif isinstance(v, int):
            kinds.add("int64")
        elif isinstance(v, float):
            kinds.add("float64")
        else:
            kinds.add("str")  # numpy's object arrays: here their elements as text
    for d in kinds:
        name = d if name is None else _promote(name, d)
    return name or "float64"


def array(obj, dtype=None, copy=True, ndmin=0):
    """An array from nested lists (rectangular) or another array, like `numpy.array`."""
    if isinstance(obj, ndarray) and dtype is None:
        result = obj.copy() if copy else obj
    else:
        shape, flat, dtypes = [], [], []
        _flatten(obj, 0, shape, flat, dtypes)
        if isinstance(obj, ndarray) and copy is not False:
            flat = list(flat)
        name = _dtype_name(dtype) if dtype is not None else _infer_dtype(flat, dtypes)
        if not (isinstance(obj, ndarray) and obj.dtype.name == name):
            flat = _convert(name)(flat)
        result = ndarray(flat, shape, name)
    if result.ndim < ndmin:
        result = result.reshape((1,) * (ndmin - result.ndim) + result.shape)
    return result


def asarray(obj, dtype=None):
    """`obj` itself when it is already an array of that dtype, else `array(obj, dtype)`."""
    if isinstance(obj, ndarray) and (dtype is None or obj.dtype == dtype):
        return obj
    return array(obj, dtype)


def _shape_of(shape):
    if isinstance(shape, int):
        return (shape,)
    return tuple(_op.index(n) for n in shape)


def full(shape, fill_value, dtype=None):
    """An array of `shape` filled with `fill_value`."""
    shape = _shape_of(shape)
    name = _dtype_name(dtype) if dtype is not None else _infer_dtype([fill_value], [])
    return ndarray(_convert(name)([fill_value]) * _math.prod(shape), shape, name)


def zeros(shape, dtype="float64"):
    """An array of zeros."""
    return full(shape, 0, dtype)


def ones(shape, dtype="float64"):
    """An array of ones."""
    return full(shape, 1, dtype)


def empty(shape, dtype="float64"):
    """An array of zeros (numpy leaves `empty` arrays uninitialised)."""
    return full(shape, 0, dtype)


def zeros_like(a, dtype=None):
    """Zeros of `a`'s shape and dtype."""
    a = asarray(a)
    return full(a.shape, 0, dtype or a.dtype)


def ones_like(a, dtype=None):
    """Ones of `a`'s shape and dtype."""
    a = asarray(a)
    return full(a.shape, 1, dtype or a.dtype)


def full_like(a, fill_value, dtype=None):
    """`fill_value` in `a`'s shape and dtype."""
    a = asarray(a)
    return full(a.shape, fill_value, dtype or a.dtype)


def arange(start, stop=None, step=1, dtype=None):
    """Evenly spaced values in [start, stop), like `numpy.arange`."""
    if stop is None:
        start, stop = 0, start
    if step == 0:
        raise ZeroDivisionError("step must not be zero")
    n = _builtins.max(_math.ceil((stop - start) / step), 0)
    name = _dtype_name(dtype) if dtype is not None else _infer_dtype([start, stop, step], [])
    flat = [start + i * step for i in range(n)]
    return ndarray(_convert(name)(flat), (n,), name)


def linspace(start, stop, num=50, endpoint=True, dtype=None):
    """`num` evenly spaced values from `start` to `stop`, like `numpy.linspace`."""
    num = _op.index(num)
    if num < 0:
        raise ValueError(f"Number of samples, {num}, must be non-negative.")
    div = num - 1 if endpoint else num
    start, stop = float(start), float(stop)
    delta = stop - start
    if div > 0:
        step = delta / div
        flat = [i / div * delta + start for i in range(num)] if step == 0 else [i * step + start for i in range(num)]
    else:
        flat = [i * delta + start for i in range(num)]
    if endpoint and num > 1:
        flat[-1] = stop
    name = _dtype_name(dtype) if dtype is not None else "float64"
    if _INFO[name][0] in "iu":
        flat = [_math.floor(v) for v in flat]
    return ndarray(_convert(name)(flat), (num,), name)


def eye(n, m=None, k=0, dtype="float64"):
    """A 2-D array with ones on the diagonal `k`."""
    m = n if m is None else m
    name = _dtype_name(dtype)
    flat = _convert(name)([1 if c - r == k else 0 for r in range(n) for c in range(m)])
    return ndarray(flat, (n, m), name)


def identity(n, dtype="float64"):
    """The `n`-by-`n` identity matrix."""
    return eye(n, dtype=dtype)


def copy(a):
    """A copy of `a` as an array."""
    return array(a)


# ---- Shape functions ----------------------------------------------------------------------


def shape(a):
    """The shape of `a`."""
    return asarray(a).shape


def ndim(a):
    """The number of axes of `a`."""
    return asarray(a).ndim


def size(a):
    """The number of elements of `a`."""
    return asarray(a).size


def reshape(a, *shape, order="C"):
    """`a` with another shape (one axis may be `-1`)."""
    return asarray(a).reshape(*shape, order=order)


def transpose(a, axes=None):
    """`a` with its axes permuted (reversed when `axes` is not given)."""
    return asarray(a).transpose(axes)


def swapaxes(a, axis1, axis2):
    """`a` with two axes exchanged."""
    return asarray(a).swapaxes(axis1, axis2)


def ravel(a):
    """The elements of `a` as a 1-D array."""
    return asarray(a).ravel()


def squeeze(a, axis=None):
    """`a` without its axes of length 1."""
    return asarray(a).squeeze(axis)


def expand_dims(a, axis):
    """`a` with new axes of length 1 at the positions `axis`."""
    a = asarray(a)
    count = len(axis) if isinstance(axis, (tuple, list)) else 1
    axes = _axes(axis, a.ndim + count)
    shape = list(a.shape)
    for k in sorted(axes):
        shape.insert(k, 1)
    return ndarray(a._flat, tuple(shape), a.dtype)


def atleast_1d(a):
    """`a` with at least one axis."""
    a = asarray(a)
    return a.reshape(1) if a.ndim == 0 else a


def atleast_2d(a):
    """`a` with at least two axes (a 1-D array becomes one row)."""
    a = asarray(a)
    return a.reshape((1,) * (2 - a.ndim) + a.shape) if a.ndim < 2 else a


def concatenate(arrays, axis=0, dtype=None):
    """The arrays joined along an existing axis (`axis=None` flattens them first)."""
    arrays = [asarray(a) for a in arrays]
    if not arrays:
        raise ValueError("need at least one array to concatenate")
    if axis is None:
        arrays = [a.ravel() for a in arrays]
        axis = 0
    first = arrays[0]
    if first.ndim == 0:
        raise ValueError("zero-dimensional arrays cannot be concatenated")
    axis = _axis(axis, first.ndim)
    for i, a in enumerate(arrays[1:], 1):
        if a.ndim != first.ndim:
            raise ValueError(
                "all the input array dimensions except for the concatenation axis must match "
                f"exactly, but along dimension 0, the array at index 0 has {first.ndim} "
                f"dimension(s) and the array at index {i} has {a.ndim} dimension(s)"
            )
        for k in range(first.ndim):
            if k != axis and a.shape[k] != first.shape[k]:
                raise ValueError(
                    "all the input array dimensions except for the concatenation axis must "
                    f"match exactly, but along dimension {k}, the array at index 0 has size "
                    f"{first.shape[k]} and the array at index {i} has size {a.shape[k]}"
                )
    name = _dtype_name(dtype) if dtype is not None else _result_dtype(arrays)
    outer = _math.prod(first.shape[:axis])
    flat = []
    chunks = [len(a._flat) // outer if outer else 0 for a in arrays]
    for o in range(outer):
        for a, chunk in zip(arrays, chunks):
            flat.extend(a._flat[o * chunk : (o + 1) * chunk])
    shape = list(first.shape)
    shape[axis] = _builtins.sum(a.shape[axis] for a in arrays)
    return ndarray(_convert(name)(flat), tuple(shape), name)


def stack(arrays, axis=0):
    """The arrays (all of one shape) joined along a new axis."""
    arrays = [asarray(a) for a in arrays]
    if not arrays:
        raise ValueError("need at least one array to stack")
    if _builtins.any(a.shape != arrays[0].shape for a in arrays):
        raise ValueError("all input arrays must have the same shape")
    axis = _axis(axis, arrays[0].ndim + 1)
    return concatenate([expand_dims(a, axis) for a in arrays], axis=axis)


def vstack(arrays):
    """The arrays joined row-wise (1-D arrays become rows)."""
    return concatenate([atleast_2d(a) for a in arrays], axis=0)


def hstack(arrays):
    """The arrays joined column-wise (1-D arrays end to end)."""
    arrays = [atleast_1d(a) for a in arrays]
    return concatenate(arrays, axis=0 if arrays and arrays[0].ndim == 1 else 1)


def column_stack(arrays):
    """1-D arrays as the columns of a 2-D array (2-D arrays joined column-wise)."""
    arrays = [asarray(a) for a in arrays]
    arrays = [a.reshape(-1, 1) if a.ndim < 2 else a for a in arrays]
    return concatenate(arrays, axis=1)


# ---- Reductions as functions --------------------------------------------------------------


def sum(a, axis=None, dtype=None, keepdims=False):
    """The sum of the elements, over all of them or along `axis`."""
    return asarray(a).sum(axis=axis, dtype=dtype, keepdims=keepdims)


def prod(a, axis=None, dtype=None, keepdims=False):
    """The product of the elements, over all of them or along `axis`."""
    return asarray(a).prod(axis=axis, dtype=dtype, keepdims=keepdims)


def mean(a, axis=None, dtype=None, keepdims=False):
    """The mean of the elements, over all of them or along `axis`."""
    return asarray(a).mean(axis=axis, dtype=dtype, keepdims=keepdims)


def var(a, axis=None, dtype=None, ddof=0, keepdims=False):
    """The variance, over all of the elements or along `axis`."""
    return asarray(a).var(axis=axis, dtype=dtype, ddof=ddof, keepdims=keepdims)


def std(a, axis=None, dtype=None, ddof=0, keepdims=False):
    """The standard deviation, over all of the elements or along `axis`."""
    return asarray(a).std(axis=axis, dtype=dtype, ddof=ddof, keepdims=keepdims)


def max(a, axis=None, keepdims=False):
    """The largest element, over all of them or along `axis`."""
    return asarray(a).max(axis=axis, keepdims=keepdims)


def min(a, axis=None, keepdims=False):
    """The smallest element, over all of them or along `axis`."""
    return asarray(a).min(axis=axis, keepdims=keepdims)


amax = max
amin = min


def argmax(a, axis=None, keepdims=False):
    """The index of the (first) largest element: flat, or along `axis`."""
    return asarray(a).argmax(axis=axis, keepdims=keepdims)


def argmin(a, axis=None, keepdims=False):
    """The index of the (first) smallest element: flat, or along `axis`."""
    return asarray(a).argmin(axis=axis, keepdims=keepdims)


def any(a, axis=None, keepdims=False):
    """Whether any element is true, over all of them or along `axis`."""
    return asarray(a).any(axis=axis, keepdims=keepdims)


def all(a, axis=None, keepdims=False):
    """Whether every element is true, over all of them or along `axis`."""
    return asarray(a).all(axis=axis, keepdims=keepdims)


# ---- Element-wise functions ---------------------------------------------------------------


def exp(x):
    """e to the power of each element."""
    return _unary_float(_math.exp, x)


def expm1(x):
    """exp(x) - 1, accurate near 0."""
    return _unary_float(_math.expm1, x)


def log(x):
    """The natural logarithm (-inf at 0, nan below)."""
    return _unary_float(_math.log, x)


def log2(x):
    """The base-2 logarithm."""
    return _unary_float(_math.log2, x)


def log10(x):
    """The base-10 logarithm."""
    return _unary_float(_math.log10, x)


def log1p(x):
    """log(1 + x), accurate near 0."""
    return _unary_float(_math.log1p, x)


def sqrt(x):
    """The square root (nan below 0)."""
    return _unary_float(_math.sqrt, x)


def tanh(x):
    """The hyperbolic tangent."""
    return _unary_float(_math.tanh, x)


def sin(x):
    """The sine."""
    return _unary_float(_math.sin, x)


def cos(x):
    """The cosine."""
    return _unary_float(_math.cos, x)


def floor(x):
    """The largest integer not above each element (as floats for float input)."""
    return _rounding(x, _math.floor)


def ceil(x):
    """The smallest integer not below each element (as floats for float input)."""
    return _rounding(x, _math.ceil)


def _rounding(x, func):
    x = asarray(x)
    if x.dtype.kind != "f":
        return _scalar_or_array(list(x._flat), x.shape, x.dtype.name) if x.dtype.kind != "U" else _str_error()
    flat = [_integral(v, func) for v in x._flat]
    return _scalar_or_array(flat, x.shape, x.dtype.name)


def _str_error():
    raise TypeError("ufunc not supported for str arrays")


def absolute(x):
    """The absolute value of each element."""
    x = asarray(x)
    if x.dtype.kind == "U":
        _str_error()
    flat = _convert(x.dtype.name)([_builtins.abs(v) for v in x._flat])
    return _scalar_or_array(flat, x.shape, x.dtype.name)


abs = absolute


def negative(x):
    """Each element negated."""
    return -asarray(x)


def round_(a, decimals=0):
    """Each element rounded to `decimals` digits, half to even, as numpy rounds (it scales
    by 10**decimals, rounds to an integer and scales back, so `round(2.675, 2)` is 2.68)."""
    a = asarray(a)
    kind = a.dtype.kind
    if kind == "U":
        _str_error()
    if kind in "biu":
        if decimals >= 0:
            return _scalar_or_array(list(a._flat), a.shape, a.dtype.name)
        flat = [_builtins.round(v, decimals) for v in a._flat]
    else:
        convert = _convert(a.dtype.name)
        if decimals >= 0:
            scale = float(10**decimals)
            flat = [_rint(v) for v in convert([v * scale for v in a._flat])]
            flat = [v / scale for v in flat]
        else:
            scale = float(10**-decimals)
            flat = [_rint(v) for v in convert([v / scale for v in a._flat])]
            flat = [v * scale for v in flat]
    return _scalar_or_array(_convert(a.dtype.name)(flat), a.shape, a.dtype.name)


round = round_
around = round_


def clip(a, a_min=None, a_max=None):
    """The elements limited to [a_min, a_max] (either bound may be None)."""
    if a_min is None and a_max is None:
        raise ValueError("One of max or min must be given")
    a = _operand(a)
    if not isinstance(a, ndarray):
        a = asarray(a)
    if a.dtype.kind in "iu":
        # numpy drops a Python int bound beyond the dtype's range (NEP 50, no value-based casts).
        low, high = _int_range(a.dtype.name)
        if type(a_min) is int and a_min <= low:
            a_min = None
        if type(a_max) is int and a_max >= high:
            a_max = None
        if a_min is None and a_max is None:
            return _scalar_or_array(list(a._flat), a.shape, a.dtype.name)
    operands = [a] + [_operand(b) for b in (a_min, a_max) if b is not None]
    name = _result_dtype(operands)
    if _INFO[name][0] == "U":
        _str_error()
    for x in operands:
        _check_weak_int(x, name)
    shape = _broadcast_shapes(*(x.shape for x in operands if isinstance(x, ndarray)))
    convert = _convert(name)
    values = convert(_values_as(a, shape))
    lows = convert(_values_as(_operand(a_min), shape)) if a_min is not None else None
    highs = convert(_values_as(_operand(a_max), shape)) if a_max is not None else None
    flat = []
    for i, v in enumerate(values):
        if v == v:
            if lows is not None and v < lows[i]:
                v = lows[i]
            if highs is not None and v > highs[i]:
                v = highs[i]
        flat.append(v)
    return _scalar_or_array(flat, shape, name)


def maximum(a, b):
    """The element-wise larger of `a` and `b` (nan if either is nan)."""
    return _pick(a, b, _op.gt)


def minimum(a, b):
    """The element-wise smaller of `a` and `b` (nan if either is nan)."""
    return _pick(a, b, _op.lt)


def _pick(a, b, keep_first):
    # Of two equal values (0.0 and -0.0) numpy keeps the second.
    a, b = _operand(a), _operand(b)
    name = _result_dtype([a, b])
    for x in (a, b):
        _check_weak_int(x, name)
    shapes = [x.shape for x in (a, b) if isinstance(x, ndarray)]
    shape = _broadcast_shapes(*shapes)
    convert = _convert(name)
    xs, ys = convert(_values_as(a, shape)), convert(_values_as(b, shape))
    flat = [x if x != x or keep_first(x, y) else y for x, y in zip(xs, ys)]
    return _scalar_or_array(flat, shape, name)


def where(condition, x=None, y=None):
    """Elements of `x` where `condition` holds, else of `y` (broadcast together); with the
    condition alone, the indices of its true elements (`nonzero`)."""
    if x is None and y is None:
        return nonzero(condition)
    if x is None or y is None:
        raise ValueError("either both or neither of x and y should be given")
    cond = asarray(condition)
    x, y = _operand(x), _operand(y)
    name = _result_dtype([x, y])  # a Python int wraps around here, as in numpy
    shape = _broadcast_shapes(cond.shape, *(v.shape for v in (x, y) if isinstance(v, ndarray)))
    convert = _convert(name)
    xs, ys = convert(_values_as(x, shape)), convert(_values_as(y, shape))
    flat = [a if c else b for c, a, b in zip(_values_as(cond, shape), xs, ys)]
    return ndarray(flat, shape, name)


def isnan(x):
    """Whether each element is nan."""
    return _test(x, lambda v: v != v)


def isinf(x):
    """Whether each element is infinite."""
    return _test(x, lambda v: v in (inf, -inf))


def isfinite(x):
    """Whether each element is neither infinite nor nan."""
    return _test(x, lambda v: v == v and v not in (inf, -inf))


def _test(x, predicate):
    x = asarray(x)
    if x.dtype.kind == "U":
        _str_error()
    return _scalar_or_array([predicate(v) for v in x._flat], x.shape, "bool")


def nonzero(a):
    """A tuple of int64 index arrays, one per axis, of the non-zero elements."""
    a = asarray(a)
    if a.ndim == 0:
        raise ValueError("Calling nonzero on 0d arrays is not allowed. Use np.atleast_1d(scalar).nonzero() instead.")
    hits = [i for i, v in enumerate(a._flat) if v]
    strides = _strides(a.shape)
    return tuple(
        ndarray([(i // stride) % n for i in hits], (len(hits),), "int64") for stride, n in zip(strides, a.shape)
    )


def count_nonzero(a, axis=None):
    """How many elements are non-zero."""
    a = asarray(a)
    if axis is None:
        return integer(_builtins.sum(1 for v in a._flat if v))
    return a.astype("bool").sum(axis=axis)


def _along_last(a, axis, func):
    """`func` applied to each 1-D lane of `a` along `axis` (results of the lane's length)."""
    a = asarray(a)
    if axis is None:
        a, axis = a.ravel(), 0
    if a.ndim == 0:
        raise AxisError("axis -1 is out of bounds for array of dimension 0")
    axis = _axis(axis, a.ndim)
    perm = [k for k in range(a.ndim) if k != axis] + [axis]
    moved = a.transpose(perm)
    n = a.shape[axis]
    flat = []
    for i in range(0, moved.size, n or 1):
        flat.extend(func(moved._flat[i : i + n]))
    inverse = [perm.index(k) for k in range(a.ndim)]
    return flat, moved.shape, inverse


def _sort_key(v):
    return (v != v, v)  # nan last, as numpy sorts


def sort(a, axis=-1):
    """A sorted copy, along `axis` (nan last)."""
    a = asarray(a)
    flat, shape, inverse = _along_last(a, axis, lambda lane: sorted(lane, key=_sort_key))
    return ndarray(flat, shape, a.dtype).transpose(inverse)


def argsort(a, axis=-1):
    """The indices that sort `a` along `axis` (a stable sort: equal elements keep their
    order, which numpy's default quicksort promises only for short lanes)."""
    a = asarray(a)
    flat, shape, inverse = _along_last(
        a, axis, lambda lane: sorted(range(len(lane)), key=lambda i: _sort_key(lane[i]))
    )
    return ndarray(flat, shape, "int64").transpose(inverse)


def cumsum(a, axis=None, dtype=None):
    """The running sums along `axis` (of the flattened array when `axis` is None)."""
    a = asarray(a)
    name = _dtype_name(dtype) if dtype is not None else _sum_dtype(a.dtype.name)
    convert = _convert(name)
    step = _round32 if name == "float32" else _same_value

    def lane(values):
        out = []
        for v in convert(values):
            out.append(step(out[-1] + v) if out else v)
        return convert(out)

    flat, shape, inverse = _along_last(a, axis, lane)
    return ndarray(flat, shape, name).transpose(inverse)


def median(a, axis=None, keepdims=False):
    """The median, over all of the elements or along `axis` (nan if any is nan)."""
    a = asarray(a)
    name = "float64" if a.dtype.kind in "biu" else a.dtype.name
    add = _sum_of(name)

    def middle(values):
        values = sorted(_convert(name)(values), key=_sort_key)
        n = len(values)
        if n == 0:
            return nan
        if values[-1] != values[-1]:
            return nan
        if n % 2:
            return values[n // 2]
        return add(values[n // 2 - 1 : n // 2 + 1]) / 2

    return a._reduce(axis, keepdims, name, middle)


def isclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    """Whether `a` and `b` are equal within `atol + rtol * abs(b)`, element-wise."""
    a, b = _operand(a), _operand(b)
    if not isinstance(a, ndarray):
        a = asarray(a)
    shape = _broadcast_shapes(a.shape, b.shape if isinstance(b, ndarray) else ())
    xs = [float(v) for v in _values_as(a, shape)]
    ys = [float(v) for v in _values_as(b, shape)]
    flat = []
    for x, y in zip(xs, ys):
        if x != x or y != y:
            flat.append(equal_nan and x != x and y != y)
        elif x in (inf, -inf) or y in (inf, -inf):
            flat.append(x == y)
        else:
            flat.append(_builtins.abs(x - y) <= atol + rtol * _builtins.abs(y))
    return _scalar_or_array(flat, shape, "bool")


def allclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    """Whether every element of `a` is close to `b` (see `isclose`)."""
    result = isclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan)
    return bool(result.all()) if isinstance(result, ndarray) else bool(result)


def array_equal(a1, a2):
    """Whether two arrays have the same shape and elements."""
    a1, a2 = asarray(a1), asarray(a2)
    return a1.shape == a2.shape and bool((a1 == a2).all() if a1.shape else a1 == a2)


def unique(a):
    """The sorted distinct elements of `a`, as a 1-D array."""
    a = asarray(a)
    return ndarray(sorted(set(a._flat), key=_sort_key), (len(set(a._flat)),), a.dtype)


# ---- Products -----------------------------------------------------------------------------


def dot(a, b):
    """numpy's `dot` for arrays of up to two axes (scalars multiply)."""
    a, b = _operand(a), _operand(b)
    if not isinstance(a, ndarray) or not isinstance(b, ndarray) or a.ndim == 0 or b.ndim == 0:
        return _binary("multiply", a, b)
    return _matmul(a, b, "dot")


def matmul(a, b):
    """numpy's `matmul` (the `@` operator) for arrays of up to two axes."""
    a, b = asarray(a), asarray(b)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError("matmul: Input operand does not have enough dimensions")
    return _matmul(a, b, "matmul")


def _matmul(a, b, what):
    if a.ndim > 2 or b.ndim > 2:
        raise NotImplementedError(f"{what} is supported for arrays of one or two axes")
    name = _result_dtype([a, b])
    if _INFO[name][0] == "U":
        _str_error()
    left = a if a.ndim == 2 else a.reshape(1, -1)
    right = b if b.ndim == 2 else b.reshape(-1, 1)
    (m, n), (n2, k) = left.shape, right.shape
    if n != n2:
        raise ValueError(
            f"shapes {_shape_str(a.shape)} and {_shape_str(b.shape)} not aligned: "
            f"{n} (dim {a.ndim - 1}) != {n2} (dim 0)"
        )
    convert = _convert(name)
    lf = convert(left._flat) if a.dtype.name != name else left._flat
    rf = convert(right._flat) if b.dtype.name != name else right._flat
    columns = [rf[c::k] for c in range(k)]
    if _INFO[name][0] == "b":
        flat = [_builtins.any(x and y for x, y in zip(lf[r * n : (r + 1) * n], col)) for r in range(m) for col in columns]
    else:
        # numpy's BLAS adds in an order of its own: floats are added here exactly rounded
        # (the same on every Python), integers exactly.
        add = _math.fsum if _INFO[name][0] == "f" else _builtins.sum
        rows = [lf[r * n : (r + 1) * n] for r in range(m)]
        flat = [add(map(_op.mul, row, col)) for row in rows for col in columns]
    flat = convert(flat)
    shape = (m, k)
    if a.ndim == 1 and b.ndim == 1:
        return _scalar(flat[0], name)
    if a.ndim == 1:
        shape = (k,)
    elif b.ndim == 1:
        shape = (m,)
    return ndarray(flat, shape, name)


# ---- The SDK's codecs ---------------------------------------------------------------------


class _Encoded(list):
    """A flat element list that still holds the little-endian bytes it was decoded from, so
    an array passed on unchanged (a request's tensor fed to a model, a model's output
    returned) is not encoded again: 27,648 floats of an image cost ~1.5 ms each way in the
    component. Every list method that changes the elements forgets the bytes; arrays that
    share the list (reshaped views) see that too."""

    __slots__ = ("_bytes", "_dtype")

    def __setitem__(self, index, value):
        self._bytes = None
        list.__setitem__(self, index, value)

    def __delitem__(self, index):
        self._bytes = None
        list.__delitem__(self, index)

    def __iadd__(self, other):
        self._bytes = None
        return list.__iadd__(self, other)

    def __imul__(self, other):
        self._bytes = None
        return list.__imul__(self, other)

    def append(self, value):
        self._bytes = None
        list.append(self, value)

    def extend(self, values):
        self._bytes = None
        list.extend(self, values)

    def insert(self, index, value):
        self._bytes = None
        list.insert(self, index, value)

    def pop(self, *index):
        self._bytes = None
        return list.pop(self, *index)

    def remove(self, value):
        self._bytes = None
        list.remove(self, value)

    def clear(self):
        self._bytes = None
        list.clear(self)

    def sort(self, *args, **kwargs):
        self._bytes = None
        list.sort(self, *args, **kwargs)

    def reverse(self):
        self._bytes = None
        list.reverse(self)


def _from_bytes(data, shape, name):
    """An array from little-endian element bytes (the host's tensor encoding). The bytes are
    decoded only when the elements are first used: an input fed to a model unchanged, or a
    model's output returned as it came, is never turned into Python numbers."""
    if name == "bool":
        return ndarray([b != 0 for b in data], shape, name)
    shape = (shape,) if isinstance(shape, int) else tuple(int(n) for n in shape)
    dt = dtype(name)
    count, rest = divmod(len(data), dt.itemsize)
    if rest or _math.prod(shape) != count:
        raise ValueError(f"cannot make an array of shape {shape} from {len(data)} bytes of {name}")
    arr = ndarray.__new__(ndarray)
    arr._data = None
    arr._raw = (bytes(data), name)
    arr._shape = shape
    arr.dtype = dt
    return arr


def _decode(data, name):
    """The flat element list of little-endian element bytes, remembering them."""
    values = _array.array(_TYPECODES[name])
    values.frombytes(data)
    flat = _Encoded(values.tolist())
    flat._bytes = data
    flat._dtype = name
    return flat


def _to_bytes(arr):
    """The little-endian element bytes of a numeric or bool array."""
    if arr._data is None and arr._raw[1] == arr.dtype.name:
        return arr._raw[0]
    flat = arr._flat
    if type(flat) is _Encoded and flat._bytes is not None and flat._dtype == arr.dtype.name:
        return flat._bytes
    if arr.dtype.name == "bool":
        return bytes(1 if v else 0 for v in flat)
    return _array.array(_TYPECODES[arr.dtype.name], flat).tobytes()


def _elements(arr):
    """The flat element list (for the SDK's codecs)."""
    return arr._flat


# Everything above without a leading underscore, as `from numpy import *` gives numpy's names.
__all__ = sorted(name for name in globals() if not name.startswith("_"))
