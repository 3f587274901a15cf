# The Python twin of plugins/onnx_tabular: the iris classifier of
# plugins/onnx_tabular/model/train.py, served through scorehost.onnxruntime (the host runs the
# model, wasi:nn). An undecorated Azure ML ONNX entry script; only the import lines differ.
import json
import os

from scorehost import numpy as np  # was: import numpy as np
from scorehost import onnxruntime  # was: import onnxruntime


def init():
    global session
    model_path = os.path.join(os.getenv("AZUREML_MODEL_DIR"), "model.onnx")
    session = onnxruntime.InferenceSession(model_path, providers=["CPUExecutionProvider"])


def run(raw_data):
    data = np.array(json.loads(raw_data)["data"], dtype=np.float32)
    names = [output.name for output in session.get_outputs()]
    outputs = session.run(None, {session.get_inputs()[0].name: data})
    return {"Results": {name: output.tolist() for name, output in zip(names, outputs)}}
