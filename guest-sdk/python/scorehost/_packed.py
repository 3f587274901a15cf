"""Unpacks the `arguments` case of `input`: the request's typed arguments in one byte buffer.

The host packs the `list<named-argument>` into a `list<u8>` because lowering every name,
shape, element buffer and string as a list of its own cost one call into the guest's
`cabi_realloc` apiece. This module turns the buffer back into the binding objects
componentize-py used to lift for that list, so `_scorer.value_of` and everything after it
stay as they were. The layout is in the doc comment of that case in wit/scorehost.wit.

A buffer that does not follow the layout is a host bug, not a bad request: it raises
`ValueError("packed arguments: ...")`, which `run` reports as an exception.
"""

import struct

from wit_world.imports import types as t

__all__ = ["unpack_arguments"]

_U8 = struct.Struct("<B")
_U32 = struct.Struct("<I")
# A one-byte tag or dtype and the u32 after it: the head of a tensor (dtype, ndim) and of
# its elements (tag, length or count), read in one call.
_BYTE_U32 = struct.Struct("<BI")
# Shapes of this many dimensions or fewer use a prebuilt Struct; a longer one builds its own.
_SHAPES = tuple(struct.Struct(f"<{n}Q") for n in range(9))
# The packed dtype byte is the case's index in the WIT enum, which is the order the
# bindings declare `Dtype` in.
_DTYPES = tuple(t.Dtype)

# The tags, as the WIT grammar numbers them.
_VALUE, _GROUP = 0, 1
_TENSOR, _FRAME, _JSON = 0, 1, 2
_BYTES, _STRINGS = 0, 1

# Module-level names: each is looked up once per object built, so a global read beats an
# attribute read on the bindings module.
_NamedArgument = t.NamedArgument
_Argument_Value = t.Argument_Value
_Argument_Group = t.Argument_Group
_NamedParam = t.NamedParam
_Param_Tensor = t.Param_Tensor
_Param_Frame = t.Param_Frame
_Param_Json = t.Param_Json
_Tensor = t.Tensor
_Frame = t.Frame
_Column = t.Column
_Elements_Bytes = t.Elements_Bytes
_Elements_Strings = t.Elements_Strings


def unpack_arguments(data):
    """The `list[t.NamedArgument]` packed in `data` (the `bytes` of `t.Input_Arguments`)."""
    # Reads slice the `bytes` (the same object when componentize-py passes `bytes`) rather
    # than a memoryview: every slice becomes a copy anyway, a `str` or a tensor's own
    # elements, and for the short names and JSON texts of a request `bytes[a:b].decode()`
    # measured twice as fast as `str(view[a:b], "utf-8")`.
    buf = bytes(data)
    try:
        (count,) = _U32.unpack_from(buf, 0)
        pos = 4
        arguments = []
        for _ in range(count):
            name, pos = _str(buf, pos)
            (tag,) = _U8.unpack_from(buf, pos)
            if tag == _VALUE:
                param, pos = _param(buf, pos + 1)
                arguments.append(_NamedArgument(name, _Argument_Value(param)))
            elif tag == _GROUP:
                group, pos = _named(buf, pos + 1, _param, _NamedParam)
                arguments.append(_NamedArgument(name, _Argument_Group(group)))
            else:
                raise _malformed(f"unknown argument tag {tag}", pos)
    except struct.error:
        # Only a fixed-size read past the end gets here; the variable-size ones check first
        # and say which item ran over.
        size = len(buf)
        raise ValueError(f"packed arguments: truncated: the {size}-byte buffer ends inside an item") from None
    if pos != len(buf):
        raise _malformed(f"{len(buf) - pos} trailing bytes", pos)
    return arguments


def _malformed(what, pos):
    return ValueError(f"packed arguments: {what} at offset {pos}")


def _str(buf, pos):
    (size,) = _U32.unpack_from(buf, pos)
    start = pos + 4
    end = start + size
    if end > len(buf):
        raise _malformed(f"truncated: a {size}-byte string runs past the end", pos)
    try:
        return buf[start:end].decode(), end
    except UnicodeDecodeError:
        raise _malformed("a string that is not UTF-8", pos) from None


def _named(buf, pos, read, make):
    """A count and that many (name, value) pairs, each value read by `read` and the pair made
    into `make(name, value)`: a group's entries and a frame's columns."""
    (count,) = _U32.unpack_from(buf, pos)
    pos += 4
    items = []
    for _ in range(count):
        name, pos = _str(buf, pos)
        value, pos = read(buf, pos)
        items.append(make(name, value))
    return items, pos


def _param(buf, pos):
    (tag,) = _U8.unpack_from(buf, pos)
    if tag == _JSON:
        text, pos = _str(buf, pos + 1)
        return _Param_Json(text), pos
    if tag == _TENSOR:
        tensor, pos = _tensor(buf, pos + 1)
        return _Param_Tensor(tensor), pos
    if tag == _FRAME:
        columns, pos = _named(buf, pos + 1, _tensor, _Column)
        return _Param_Frame(_Frame(columns)), pos
    raise _malformed(f"unknown param tag {tag}", pos)


def _tensor(buf, pos):
    code, ndim = _BYTE_U32.unpack_from(buf, pos)
    if code >= len(_DTYPES):
        raise _malformed(f"unknown dtype {code}", pos)
    start = pos + 5
    end = start + 8 * ndim
    # Checked before a Struct is built, so a garbage `ndim` cannot ask for a huge one.
    if end > len(buf):
        raise _malformed(f"truncated: a shape of {ndim} dimensions runs past the end", pos)
    dims = _SHAPES[ndim] if ndim < len(_SHAPES) else struct.Struct(f"<{ndim}Q")
    shape = list(dims.unpack_from(buf, start))
    tag, size = _BYTE_U32.unpack_from(buf, end)
    pos = end + 5
    if tag == _BYTES:
        end = pos + size
        if end > len(buf):
            raise _malformed(f"truncated: {size} element bytes run past the end", pos - 5)
        # The slice is `bytes`, as componentize-py lifted them: a copy the array owns
        # (numpy's `_from_bytes` keeps it as it is), not a view pinning the whole buffer.
        return _Tensor(_DTYPES[code], shape, _Elements_Bytes(buf[pos:end])), end
    if tag == _STRINGS:
        strings = []
        for _ in range(size):
            text, pos = _str(buf, pos)
            strings.append(text)
        return _Tensor(_DTYPES[code], shape, _Elements_Strings(strings)), pos
    raise _malformed(f"unknown elements tag {tag}", end)
