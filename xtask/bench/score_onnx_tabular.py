# The ONNX tabular example for the Azure ML scoring server, as the benchmark runs it: the iris
# classifier of plugins/onnx_tabular/model/train.py ($AZUREML_MODEL_DIR/model.onnx) in
# onnxruntime, native, one thread per call (as scorehost's engine), inference-schema decorators.
import os

import numpy as np
import onnxruntime as ort
from inference_schema.schema_decorators import input_schema, output_schema
from inference_schema.parameter_types.numpy_parameter_type import NumpyParameterType
from inference_schema.parameter_types.standard_py_parameter_type import StandardPythonParameterType


def init():
    global session, input_name
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    path = os.path.join(os.getenv("AZUREML_MODEL_DIR"), "model.onnx")
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name


sample = StandardPythonParameterType(
    {"data": NumpyParameterType(np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]], dtype=np.float32))}
)


@input_schema("Inputs", sample)
@output_schema(StandardPythonParameterType({"Results": {"label": [0, 2], "probabilities": [[1.0, 0.0, 0.0]]}}))
def run(Inputs):
    label, probabilities = session.run(None, {input_name: Inputs["data"]})
    return {"Results": {"label": label.tolist(), "probabilities": probabilities.tolist()}}
