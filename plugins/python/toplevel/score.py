# inference-schema's top-level form: @input_schema("data", NumpyParameterType(sample)) with
# def run(data), so a request body is {"data": [[...]]}; `scale` has a default, so requests
# may leave it out. Twins: plugins/toplevel (Rust) and plugins/js/toplevel.
#
# Changed from an Azure ML script: the import lines, and the model (the ridge model's
# exported coefficients, applied row by row as the Rust twin does).
import json
import os

from scorehost import numpy as np
from scorehost.schema import batchable, input_schema, output_schema
from scorehost.schema import NumpyParameterType, StandardPythonParameterType


def init():
    global model
    model_path = os.path.join(os.getenv("AZUREML_MODEL_DIR"), "sklearn_regression_model.json")
    with open(model_path) as f:
        model = json.load(f)


sample_data = NumpyParameterType(
    np.array([[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], [10, 9, 8, 7, 6, 5, 4, 3, 2, 1]], dtype="float64"))


# batchable: each result row is its input row's, so the host may join requests (when the
# deployment sets max_batch_size).
@batchable
@input_schema("data", sample_data)
@input_schema("scale", StandardPythonParameterType(1.0))
@output_schema(StandardPythonParameterType({"Results": [1.0, 1.0]}))
def run(data, scale=1.0):
    assert isinstance(data, np.ndarray)
    return {"Results": [predict(row) * scale for row in data.tolist()]}


def predict(row):
    total = 0.0
    for x, c in zip(row, model["coef"]):
        total += x * c
    return model["intercept"] + total
