# The "ONNX CNN" bench suite's baseline (cargo xtask bench --only CNN): the same Azure ML
# entry script as plugins/python/onnx_cnn/score.py, with the real numpy and onnxruntime,
# served by the Azure ML scoring server (azmlinfsrv) in one Python process. The body is {"image": [NCHW image]}.
import json
import os

import numpy as np
import onnxruntime


def init():
    global session, input_name
    model_path = os.path.join(os.getenv("AZUREML_MODEL_DIR"), "model.onnx")
    session = onnxruntime.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name


def run(raw_data):
    image = np.array(json.loads(raw_data)["image"], dtype=np.float32)
    (probabilities,) = session.run(["probabilities"], {input_name: image})
    return {
        "classes": probabilities.argmax(axis=1).tolist(),
        "probabilities": probabilities.tolist(),
    }
