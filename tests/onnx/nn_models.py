"""Makes the small ONNX models of the wasi-nn tests (tests/all/onnx.rs) with the `onnx` package's
helpers, and onnxruntime's answers for them.

Usage: python nn_models.py OUT   (in target/onnx-venv, plugins/onnx_requirements.txt). Writes:

- OUT/dtypes/model.onnx   one input per dtype wasi-nn carries, each with its own output:
                          f64 [N, 2] -> f64_out = f64 * 2;  i64 [N] -> i64_out = i64 + 1;
                          i32 [N] -> i32_out = i32 * 3;  u8 [N] -> u8_out = u8 (Identity);
                          flag bool [N] -> flag_out = not flag;
- OUT/dtypes/expected.json  the inputs the test sends and onnxruntime's outputs for them;
- OUT/slow/model.onnx     x f32 [N, 256] -> y: 400 x (MatMul by one 256x256 matrix, Tanh):
                          seconds of CPU for a few hundred rows (the timeout test).
"""
import json
import pathlib
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

out = pathlib.Path(sys.argv[1])


def save(model, folder):
    folder.mkdir(parents=True, exist_ok=True)
    onnx.checker.check_model(model)
    onnx.save(model, folder / "model.onnx")
    return str(folder / "model.onnx")


def const(name, array):
    return numpy_helper.from_array(np.asarray(array), name)


# One input and output per dtype.
T = TensorProto
graph = helper.make_graph(
    [
        helper.make_node("Mul", ["f64", "two"], ["f64_out"]),
        helper.make_node("Add", ["i64", "one"], ["i64_out"]),
        helper.make_node("Mul", ["i32", "three"], ["i32_out"]),
        helper.make_node("Identity", ["u8"], ["u8_out"]),
        helper.make_node("Not", ["flag"], ["flag_out"]),
    ],
    "dtypes",
    [
        helper.make_tensor_value_info("f64", T.DOUBLE, ["N", 2]),
        helper.make_tensor_value_info("i64", T.INT64, ["N"]),
        helper.make_tensor_value_info("i32", T.INT32, ["N"]),
        helper.make_tensor_value_info("u8", T.UINT8, ["N"]),
        helper.make_tensor_value_info("flag", T.BOOL, ["N"]),
    ],
    [
        helper.make_tensor_value_info("f64_out", T.DOUBLE, ["N", 2]),
        helper.make_tensor_value_info("i64_out", T.INT64, ["N"]),
        helper.make_tensor_value_info("i32_out", T.INT32, ["N"]),
        helper.make_tensor_value_info("u8_out", T.UINT8, ["N"]),
        helper.make_tensor_value_info("flag_out", T.BOOL, ["N"]),
    ],
    [
        const("two", np.array(2.0, dtype=np.float64)),
        const("one", np.array(1, dtype=np.int64)),
        const("three", np.array(3, dtype=np.int32)),
    ],
)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
model.ir_version = 8
path = save(model, out / "dtypes")
inputs = {
    "f64": np.array([[0.1, -2.5], [1e300, 3.25], [7.0, 0.0]], dtype=np.float64),
    "i64": np.array([-(2**62), 0, 41], dtype=np.int64),
    "i32": np.array([-7, 0, 2**20], dtype=np.int32),
    "u8": np.array([0, 128, 255], dtype=np.uint8),
    "flag": np.array([True, False, True]),
}
session = ort.InferenceSession(path)
outputs = session.run(None, inputs)
names = [o.name for o in session.get_outputs()]
(out / "dtypes" / "expected.json").write_text(
    json.dumps(
        {
            "inputs": {k: v.tolist() for k, v in inputs.items()},
            "outputs": {n: v.tolist() for n, v in zip(names, outputs)},
        }
    )
)

# Slow: a long chain of matrix products.
rng = np.random.default_rng(0)
w = (rng.standard_normal((256, 256)) / 16).astype(np.float32)
nodes, prev = [], "x"
for i in range(400):
    nodes.append(helper.make_node("MatMul", [prev, "w"], [f"m{i}"]))
    nodes.append(helper.make_node("Tanh", [f"m{i}"], [f"t{i}" if i < 399 else "y"]))
    prev = f"t{i}"
graph = helper.make_graph(
    nodes,
    "slow",
    [helper.make_tensor_value_info("x", T.FLOAT, ["N", 256])],
    [helper.make_tensor_value_info("y", T.FLOAT, ["N", 256])],
    [const("w", w)],
)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
model.ir_version = 8
save(model, out / "slow")
print(f"wrote {out}/dtypes and {out}/slow")
