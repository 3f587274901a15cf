# A convolutional image classifier (a small ResNet, plugins/python/onnx_cnn/model/make.py)
# served through scorehost.onnxruntime: the host runs the model natively (wasi:nn), the
# script only moves tensors. Written as an Azure ML ONNX entry script with inference-schema
# decorators; only the import lines differ.
import os

from scorehost import numpy as np  # was: import numpy as np
from scorehost import onnxruntime  # was: import onnxruntime
from scorehost.schema import input_schema, output_schema  # was: inference_schema...
from scorehost.schema import NumpyParameterType, StandardPythonParameterType


def init():
    global session, input_name
    model_path = os.path.join(os.getenv("AZUREML_MODEL_DIR"), "model.onnx")
    session = onnxruntime.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name


# One or more 96x96 RGB images, NCHW, pixels scaled to [0, 1].
@input_schema("image", NumpyParameterType(np.zeros((1, 3, 96, 96), dtype=np.float32)))
@output_schema(StandardPythonParameterType({"classes": [8], "probabilities": [[0.1] * 10]}))
def run(image):
    (probabilities,) = session.run(["probabilities"], {input_name: image})
    return {
        "classes": probabilities.argmax(axis=1).tolist(),
        "probabilities": probabilities.tolist(),
    }
