"""Reads the input and output descriptions out of an ONNX model file.

`wasi:nn` has no call that describes a graph's inputs and outputs, but onnxruntime's
`get_inputs()`/`get_outputs()` need their names, element types and shapes. They are in the
model file's `GraphProto` (`input`, `output`), which this module decodes with a minimal
protobuf wire-format reader. Weights (`initializer`) and nodes are skipped over without being
decoded, so a model of many megabytes costs one file read and a walk over its top-level fields.

Field numbers are those of onnx/onnx.proto (stable since IR version 3).
"""

__all__ = ["ValueInfo", "graph_signature", "ELEMENT_TYPES"]

# TensorProto.DataType -> the name onnxruntime writes inside `tensor(...)`.
ELEMENT_TYPES = {
    1: "float",
    2: "uint8",
    3: "int8",
    4: "uint16",
    5: "int16",
    6: "int32",
    7: "int64",
    8: "string",
    9: "bool",
    10: "float16",
    11: "double",
    12: "uint32",
    13: "uint64",
    14: "complex64",
    15: "complex128",
    16: "bfloat16",
}

# ModelProto.graph; GraphProto.{initializer, input, output, sparse_initializer};
# ValueInfoProto.{name, type}; TensorProto.name; SparseTensorProto.values.
_MODEL_GRAPH = 7
_GRAPH_INITIALIZER, _GRAPH_INPUT, _GRAPH_OUTPUT, _GRAPH_SPARSE_INITIALIZER = 5, 11, 12, 15
_VALUE_NAME, _VALUE_TYPE = 1, 2
_TENSOR_NAME = 8
_SPARSE_VALUES = 1
# TypeProto.{tensor_type, sequence_type, map_type, sparse_tensor_type, optional_type}.
_TYPE_TENSOR, _TYPE_SEQUENCE, _TYPE_MAP, _TYPE_SPARSE, _TYPE_OPTIONAL = 1, 4, 5, 8, 9


class ValueInfo:
    """One graph input or output: `name`, `type` in onnxruntime's spelling
    (`'tensor(float)'`), `shape` as onnxruntime gives it (an int per fixed dimension, the
    symbol's name for a named one, `None` for an unknown one), and `elem_type` (the
    `tensor(...)` element name, `None` for sequences and maps)."""

    __slots__ = ("name", "type", "shape", "elem_type")

    def __init__(self, name, type_, shape, elem_type):
        self.name = name
        self.type = type_
        self.shape = shape
        self.elem_type = elem_type

    def __repr__(self):
        return f"ValueInfo(name={self.name!r}, type={self.type!r}, shape={self.shape!r})"


class ModelFormatError(ValueError):
    """The bytes are not an ONNX model this reader understands."""


def _fields(data, start=0, end=None):
    """Yields `(field number, wire type, value)` for each field of the message in
    `data[start:end]`: an int for varints and fixed-width fields, a `(start, end)` pair of
    offsets for length-delimited ones (not copied)."""
    end = len(data) if end is None else end
    pos = start
    while pos < end:
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 2:
            length, pos = _varint(data, pos)
            value = (pos, pos + length)
            pos += length
        elif wire == 1:
            value = int.from_bytes(data[pos : pos + 8], "little")
            pos += 8
        elif wire == 5:
            value = int.from_bytes(data[pos : pos + 4], "little")
            pos += 4
        else:
            raise ModelFormatError(f"unsupported protobuf wire type {wire}")
        if pos > end:
            raise ModelFormatError("truncated protobuf message")
        yield number, wire, value


def _varint(data, pos):
    result = shift = 0
    while True:
        if pos >= len(data):
            raise ModelFormatError("truncated protobuf varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
        if shift > 70:
            raise ModelFormatError("malformed protobuf varint")


def _string(data, span):
    return bytes(data[span[0] : span[1]]).decode("utf-8")


def _signed(value):
    """A varint read as protobuf's two's-complement int64."""
    return value - (1 << 64) if value >= 1 << 63 else value


def _dimension(data, span):
    value = param = None
    for number, wire, field in _fields(data, *span):
        if number == 1 and wire == 0:
            value = _signed(field)
        elif number == 2 and wire == 2:
            param = _string(data, field)
    if value is not None:
        return value
    return param or None


def _tensor_type(data, span):
    """`(element name, shape)` of a TypeProto.Tensor; the shape is `None` when unknown."""
    elem, shape = None, None
    for number, wire, field in _fields(data, *span):
        if number == 1 and wire == 0:
            elem = ELEMENT_TYPES.get(field, f"unknown({field})")
        elif number == 2 and wire == 2:
            shape = [_dimension(data, dim) for n, w, dim in _fields(data, *field) if n == 1 and w == 2]
    return elem, shape


def _type(data, span):
    """`(onnxruntime type text, shape, element name)` of a TypeProto."""
    for number, wire, field in _fields(data, *span):
        if wire != 2:
            continue
        if number in (_TYPE_TENSOR, _TYPE_SPARSE):
            elem, shape = _tensor_type(data, field)
            kind = "tensor" if number == _TYPE_TENSOR else "sparse_tensor"
            return f"{kind}({elem})", shape, elem if number == _TYPE_TENSOR else None
        if number in (_TYPE_SEQUENCE, _TYPE_OPTIONAL):
            inner = [_type(data, f)[0] for n, w, f in _fields(data, *field) if n == 1 and w == 2]
            kind = "seq" if number == _TYPE_SEQUENCE else "optional"
            return f"{kind}({inner[0] if inner else ''})", [], None
        if number == _TYPE_MAP:
            key, value = None, ""
            for n, w, f in _fields(data, *field):
                if n == 1 and w == 0:
                    key = ELEMENT_TYPES.get(f, f"unknown({f})")
                elif n == 2 and w == 2:
                    value = _type(data, f)[0]
            return f"map({key},{value})", [], None
    return "unknown", None, None


def _value_info(data, span):
    name, type_, shape, elem = "", "unknown", None, None
    for number, wire, field in _fields(data, *span):
        if number == _VALUE_NAME and wire == 2:
            name = _string(data, field)
        elif number == _VALUE_TYPE and wire == 2:
            type_, shape, elem = _type(data, field)
    return ValueInfo(name, type_, shape, elem)


def _tensor_name(data, span, field_number):
    for number, wire, field in _fields(data, *span):
        if number == field_number and wire == 2:
            return _string(data, field)
    return None


def graph_signature(data):
    """`(inputs, outputs)` of the ONNX model in `data` (bytes): lists of `ValueInfo` in the
    graph's order. Inputs that are initializers (weights listed as inputs by models of IR
    version < 4) are left out, as onnxruntime leaves them out."""
    data = memoryview(data)
    graph = None
    try:
        for number, wire, field in _fields(data):
            if number == _MODEL_GRAPH and wire == 2:
                graph = field
        if graph is None:
            raise ModelFormatError("no graph in the model")
        inputs, outputs, weights = [], [], set()
        for number, wire, field in _fields(data, *graph):
            if wire != 2:
                continue
            if number == _GRAPH_INPUT:
                inputs.append(_value_info(data, field))
            elif number == _GRAPH_OUTPUT:
                outputs.append(_value_info(data, field))
            elif number == _GRAPH_INITIALIZER:
                weights.add(_tensor_name(data, field, _TENSOR_NAME))
            elif number == _GRAPH_SPARSE_INITIALIZER:
                for n, w, values in _fields(data, *field):
                    if n == _SPARSE_VALUES and w == 2:
                        weights.add(_tensor_name(data, values, _TENSOR_NAME))
    except (IndexError, UnicodeDecodeError) as error:
        raise ModelFormatError(f"malformed ONNX model: {error}") from None
    return [i for i in inputs if i.name not in weights], outputs
