"""Unit tests of `scorehost.onnxruntime` on the build machine's CPython.

`wasi:nn` exists only inside a component, so these tests put a fake engine behind the
generated bindings (a graph that adds one to every input element); the ONNX model files are
written here with a small protobuf encoder. The end-to-end behaviour against the host's engine
and onnxruntime's outputs is tested by tests/all/onnx_python.rs.
"""

import os
import struct
import sys
import tempfile
import unittest
from pathlib import Path

SDK = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(SDK))
sys.path.insert(0, str(Path(os.environ["SCOREHOST_BINDINGS"]) / "scorer"))

from componentize_py_types import Err  # noqa: E402
from wit_world.imports import errors, graph, tensor  # noqa: E402

from scorehost import numpy as np  # noqa: E402
from scorehost import onnxruntime as ort  # noqa: E402
from scorehost._onnx_proto import graph_signature  # noqa: E402
from scorehost.schema import BadInput  # noqa: E402


# -- a protobuf encoder for the few ONNX messages the tests need


def _varint(n):
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number, value):
    if isinstance(value, int):
        return _varint(number << 3) + _varint(value)
    if isinstance(value, str):
        value = value.encode()
    return _varint(number << 3 | 2) + _varint(len(value)) + value


def _value_info(name, elem_type, dims):
    shape = b""
    for dim in dims:
        if isinstance(dim, int):
            shape += _field(1, _field(1, dim))
        elif isinstance(dim, str):
            shape += _field(1, _field(2, dim))
        else:
            shape += _field(1, b"")
    tensor_type = _field(1, elem_type) + _field(2, shape)
    return _field(1, name) + _field(2, _field(1, tensor_type))


def _model(inputs, outputs, weights=()):
    graph_ = _field(2, "g")
    for name in weights:  # an initializer: a float tensor with a name and data
        graph_ += _field(5, _field(1, 1) + _field(2, 1) + _field(8, name) + _field(9, b"\0" * 4))
    graph_ += b"".join(_field(11, _value_info(*i)) for i in inputs)
    graph_ += b"".join(_field(12, _value_info(*o)) for o in outputs)
    return _field(1, 8) + _field(2, "test") + _field(7, graph_) + _field(8, _field(2, 17))


FLOAT, INT64, BOOL, STRING = 1, 7, 9, 8


# -- a fake engine behind the bindings


class FakeTensor:
    def __init__(self, dimensions, ty, data):
        self._dims, self._ty, self._data = list(dimensions), ty, bytes(data)

    def dimensions(self):
        return self._dims

    def ty(self):
        return self._ty

    def data(self):
        return self._data


class FakeError:
    def __init__(self, code, text):
        self._code, self._text = code, text

    def code(self):
        return self._code

    def data(self):
        return self._text


class AddOne:
    """A graph whose output `y` is its input `x` plus one, and `mask` is `x > 0`."""

    calls = 0

    def init_execution_context(self):
        return self

    def compute(self, inputs):
        AddOne.calls += 1
        (name, x), = inputs
        if x.dimensions()[0] > 100:
            raise Err(FakeError(errors.ErrorCode.TOO_LARGE, "x is too large for the memory limit"))
        values = struct.unpack(f"<{len(x.data()) // 4}f", x.data())
        y = struct.pack(f"<{len(values)}f", *(v + 1 for v in values))
        mask = bytes(1 if v > 0 else 0 for v in values)
        return [
            ("y", FakeTensor(x.dimensions(), tensor.TensorType.FP32, y)),
            ("mask", FakeTensor(x.dimensions(), tensor.TensorType.U8, mask)),
        ]


class SessionTest(unittest.TestCase):
    def setUp(self):
        self.folder = tempfile.TemporaryDirectory()
        self.addCleanup(self.folder.cleanup)
        self.model_dir = Path(self.folder.name)
        model = _model(
            inputs=[("x", FLOAT, ["batch", 4]), ("w", FLOAT, [1])],
            outputs=[("y", FLOAT, ["batch", 4]), ("mask", BOOL, ["batch", 4])],
            weights=["w"],
        )
        (self.model_dir / "model.onnx").write_bytes(model)
        (self.model_dir / "iris" / "2").mkdir(parents=True)
        (self.model_dir / "iris" / "2" / "model.onnx").write_bytes(model)
        self.loaded = []

        def load_by_name(name):
            self.loaded.append(name)
            if name.endswith("missing.onnx"):
                raise Err(FakeError(errors.ErrorCode.NOT_FOUND, f"no model named {name!r}"))
            return AddOne()

        saved = (graph.load_by_name, tensor.Tensor, os.environ.get("AZUREML_MODEL_DIR"))
        graph.load_by_name, tensor.Tensor = load_by_name, FakeTensor
        os.environ["AZUREML_MODEL_DIR"] = str(self.model_dir)

        def restore():
            graph.load_by_name, tensor.Tensor = saved[0], saved[1]
            if saved[2] is None:
                os.environ.pop("AZUREML_MODEL_DIR", None)
            else:
                os.environ["AZUREML_MODEL_DIR"] = saved[2]

        self.addCleanup(restore)

    def session(self):
        path = os.path.join(os.getenv("AZUREML_MODEL_DIR"), "model.onnx")
        return ort.InferenceSession(path, providers=["CPUExecutionProvider"])

    def test_inputs_and_outputs_are_described_as_onnxruntime_describes_them(self):
        session = self.session()
        self.assertEqual(self.loaded, [str(self.model_dir / "model.onnx")])
        # The initializer `w` is not an input.
        self.assertEqual(
            [(i.name, i.shape, i.type) for i in session.get_inputs()], [("x", ["batch", 4], "tensor(float)")]
        )
        self.assertEqual(
            [(o.name, o.shape, o.type) for o in session.get_outputs()],
            [("y", ["batch", 4], "tensor(float)"), ("mask", ["batch", 4], "tensor(bool)")],
        )
        self.assertEqual(session.get_providers(), ["CPUExecutionProvider"])

    def test_run_returns_every_output_or_the_named_ones_as_arrays(self):
        session = self.session()
        x = np.array([[1.5, -2.0, 0.0, 3.25], [0.5, 0.5, 0.5, -0.5]], dtype=np.float32)
        y, mask = session.run(None, {"x": x})
        self.assertEqual(y.dtype, np.float32)
        self.assertEqual(y.shape, (2, 4))
        self.assertEqual(y.tolist(), [[2.5, -1.0, 1.0, 4.25], [1.5, 1.5, 1.5, 0.5]])
        self.assertEqual(mask.dtype, "bool")
        self.assertEqual(mask.tolist()[0], [True, False, False, True])
        (only,) = session.run(["mask"], {"x": x})
        self.assertEqual(only.dtype, "bool")

    def test_a_model_is_found_by_name_and_version_in_the_model_folder(self):
        session = ort.InferenceSession("iris/2")
        self.assertEqual(self.loaded, ["iris/2"])
        self.assertEqual([i.name for i in session.get_inputs()], ["x"])
        session = ort.InferenceSession("iris")  # the highest version
        self.assertEqual([o.name for o in session.get_outputs()], ["y", "mask"])
        session = ort.InferenceSession("iris/2/model.onnx")  # relative to the model folder
        self.assertEqual([i.name for i in session.get_inputs()], ["x"])
        with self.assertRaises(ort.Fail):  # served by the host, but not a file here
            ort.InferenceSession("elsewhere")

    def test_wrong_dtype_shape_or_name_is_invalid_argument_naming_the_input(self):
        session = self.session()
        calls = AddOne.calls
        cases = [
            ({"x": np.array([[1.0, 2.0, 3.0, 4.0]])}, "Unexpected input data type for input: x"),
            ({"x": np.array([[1, 2, 3, 4]], dtype=np.int64)}, "Actual: (tensor(int64))"),
            ({"x": np.zeros((2, 3), dtype=np.float32)}, "invalid dimensions for input: x"),
            ({"x": np.zeros((4,), dtype=np.float32)}, "Invalid rank for input: x Got: 1 Expected: 2"),
            ({"x": np.zeros((1, 4), dtype=np.float32), "z": 1}, "Invalid input name: z"),
            ({}, "Required inputs (['x']) are missing"),
        ]
        for feed, message in cases:
            with self.assertRaises(ort.InvalidArgument) as raised:
                session.run(None, feed)
            self.assertIn(message, str(raised.exception))
            self.assertIsInstance(raised.exception, BadInput)
        with self.assertRaises(ort.InvalidArgument) as raised:
            session.run(["z"], {"x": np.zeros((1, 4), dtype=np.float32)})
        self.assertIn("Invalid output name: z", str(raised.exception))
        # Refused before the engine was asked.
        self.assertEqual(AddOne.calls, calls)

    def test_lists_are_converted_to_the_declared_type(self):
        session = self.session()
        (y,) = session.run(["y"], {"x": [[1, 2, 3, 4]]})
        self.assertEqual(y.tolist(), [[2.0, 3.0, 4.0, 5.0]])

    def test_engine_errors_become_onnxruntime_exceptions(self):
        session = self.session()
        with self.assertRaises(ort.InvalidArgument) as raised:
            session.run(None, {"x": np.zeros((101, 4), dtype=np.float32)})
        self.assertIn("x is too large for the memory limit (too-large)", str(raised.exception))
        with self.assertRaises(ort.NoSuchFile) as raised:
            ort.InferenceSession(os.path.join(os.getenv("AZUREML_MODEL_DIR"), "missing.onnx"))
        self.assertIn("missing.onnx failed: no model named", str(raised.exception))


class SignatureTest(unittest.TestCase):
    def test_shapes_keep_fixed_symbolic_and_unknown_dimensions(self):
        model = _model(
            inputs=[("a", INT64, [None, 3]), ("b", STRING, []), ("c", 11, [-1 & ((1 << 64) - 1)])],
            outputs=[("out", FLOAT, ["n", 2, None])],
        )
        inputs, outputs = graph_signature(model)
        self.assertEqual([(i.name, i.type, i.shape) for i in inputs][:2], [
            ("a", "tensor(int64)", [None, 3]),
            ("b", "tensor(string)", []),
        ])
        self.assertEqual(inputs[2].type, "tensor(double)")
        self.assertEqual(inputs[2].shape, [-1])
        self.assertEqual((outputs[0].name, outputs[0].shape), ("out", ["n", 2, None]))

    def test_a_file_that_is_not_a_model_is_refused(self):
        from scorehost._onnx_proto import ModelFormatError

        for data in (b"\x89PNG\r\n", b"\x0a\xff", b"not a model at all"):
            with self.assertRaises(ModelFormatError):
                graph_signature(data)


if __name__ == "__main__":
    unittest.main()
