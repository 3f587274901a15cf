"""onnxruntime's in-process time for the ONNX examples' models, the baseline for scorehost's
onnx_tabular and onnx_image figures in BENCHMARKS.md.

Usage: target/onnx-venv/bin/python xtask/bench/onnx_ort.py target/onnx-models
(the folder the ONNX tests fill with plugins/onnx_*/model/train.py).
"""
import io
import json
import pathlib
import sys
import timeit

import numpy as np
import onnxruntime as ort

models = pathlib.Path(sys.argv[1])


def report(label, fn, number=2000):
    fn()
    runs = timeit.repeat(fn, number=number, repeat=5)
    print(f"{label}: {min(runs) / number * 1e6:.1f} us per call (best of 5 x {number})")


def session(path):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


iris = session(models / "tabular/single/model.onnx")
row = np.array([[5.1, 3.5, 1.4, 0.2]], dtype=np.float32)
report("iris v1 (LogisticRegression), 1 row", lambda: iris.run(None, {"X": row}))
forest = session(models / "tabular/multi/iris/2/model.onnx")
report("iris v2 (RandomForest), 1 row", lambda: forest.run(None, {"X": row}))

digits = session(models / "image/model.onnx")
grey = np.array(json.loads((models / "image/expected.json").read_text())["images"][0]["grey"],
                dtype=np.uint8)
pixels = (grey.astype(np.float32) * np.float32(16) / np.float32(255)).reshape(1, 64)
report("digits MLP, 1 image (model only)", lambda: digits.run(None, {"X": pixels}))
try:
    from PIL import Image
except ImportError:
    sys.exit(0)
png = io.BytesIO()
Image.fromarray(grey.reshape(8, 8)).resize((32, 32), Image.NEAREST).save(png, "PNG")
data = png.getvalue()


def decode_and_run():
    img = Image.open(io.BytesIO(data)).convert("L").resize((8, 8), Image.BOX)
    x = np.asarray(img, dtype=np.float32).reshape(1, 64) * np.float32(16) / np.float32(255)
    return digits.run(None, {"X": x})


report("digits MLP, 1 image (PNG decode + resize + model, PIL)", decode_and_run)
