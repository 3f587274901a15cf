# Test plugin: serves every model of tests/onnx/skl_models.py (scikit-learn converted with
# skl2onnx) through scorehost.onnxruntime, the host's wasi:nn, on whichever backend the
# deployment chose. A request names the model and feeds its inputs by name:
#
#     {"model": "forest", "inputs": {"X": [[0.1, 0.2, 0.3, 0.4, 0.5]]}}
#
# and gets every output of the model as lists: {"outputs": {"variable": [[...]]}}. A ZipMap
# output (a list of {class: probability} under onnxruntime) comes as [N, K] rows, the classes in
# ascending order. Sessions are made on first use and kept.
import json
import os

from scorehost import numpy as np  # was: import numpy as np
from scorehost import onnxruntime  # was: import onnxruntime

# The element types of the inputs these models take.
DTYPES = {"tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(int64)": np.int64}


def init():
    global sessions
    sessions = {}


def session(name):
    if name not in sessions:
        path = os.path.join(os.getenv("AZUREML_MODEL_DIR"), name, "model.onnx")
        sessions[name] = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    return sessions[name]


def run(raw_data):
    request = json.loads(raw_data)
    model = session(request["model"])
    feed = {
        info.name: np.array(request["inputs"][info.name], dtype=DTYPES[info.type])
        for info in model.get_inputs()
    }
    names = [output.name for output in model.get_outputs()]
    outputs = model.run(None, feed)
    return {"outputs": {name: output.tolist() for name, output in zip(names, outputs)}}
