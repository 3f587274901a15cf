# The classic undecorated Azure ML tutorial script: run(raw_data) gets the request body as a
# str, reads json.loads(raw_data)["data"], scores it and returns the list of results.
#
# Changed from the tutorial: the import line (scorehost's numpy stand-in), and the model:
# scikit-learn cannot run inside a Wasm component, so the ridge model is read from its
# exported coefficients (plugins/ridge/model) and applied row by row, adding up left to right
# as the Rust twin (plugins/tutorial) does.
import json
import os

from scorehost import numpy as np  # was: import numpy as np


def init():
    global model
    model_path = os.path.join(os.getenv("AZUREML_MODEL_DIR"), "sklearn_regression_model.json")
    with open(model_path) as f:
        model = json.load(f)


def run(raw_data):
    data = np.array(json.loads(raw_data)["data"])
    result = [predict(row) for row in data.tolist()]
    return result


def predict(row):
    total = 0.0
    for x, c in zip(row, model["coef"]):
        total += x * c
    return model["intercept"] + total
