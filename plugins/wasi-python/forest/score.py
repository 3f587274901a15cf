# An undecorated Azure ML entry script with a pickled scikit-learn model: run() gets the raw
# body and parses it itself. The model is train.py's RandomForestClassifier on the iris data.
import json
import os

import joblib
import numpy as np


def init():
    global model
    model = joblib.load(os.path.join(os.environ["AZUREML_MODEL_DIR"], "model.joblib"))


def run(raw_data):
    rows = np.array(json.loads(raw_data)["data"], dtype=np.float64)
    return {
        "labels": model.predict(rows).tolist(),
        "probabilities": model.predict_proba(rows).tolist(),
    }
