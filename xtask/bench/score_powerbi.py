# The seed's Power BI entry script for the Azure ML scoring server, as the benchmark runs it:
# inference-schema decorators, numpy input, the same ridge coefficients as scorehost's powerbi
# plugin (read from $AZUREML_MODEL_DIR/sklearn_regression_model.json; no scikit-learn needed
# to apply a linear model).
import json
import os

import numpy as np
import pandas as pd
from inference_schema.schema_decorators import input_schema, output_schema
from inference_schema.parameter_types.numpy_parameter_type import NumpyParameterType
from inference_schema.parameter_types.pandas_parameter_type import PandasParameterType
from inference_schema.parameter_types.standard_py_parameter_type import StandardPythonParameterType


def init():
    global coef, intercept
    path = os.path.join(os.getenv("AZUREML_MODEL_DIR"), "sklearn_regression_model.json")
    with open(path) as f:
        model = json.load(f)
    coef = np.array(model["coef"], dtype="float64")
    intercept = float(model["intercept"])


numpy_sample_input = NumpyParameterType(np.array([[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], [10, 9, 8, 7, 6, 5, 4, 3, 2, 1]], dtype="float64"))
pandas_sample_input = PandasParameterType(pd.DataFrame({"name": ["Sarah", "John"], "age": [25, 26]}))
standard_sample_input = StandardPythonParameterType(0.0)
sample_input = StandardPythonParameterType({"input1": numpy_sample_input, "input2": pandas_sample_input, "input3": standard_sample_input})
sample_global_parameters = StandardPythonParameterType(1.0)
outputs = StandardPythonParameterType({"Results": StandardPythonParameterType([1.0, 1.0])})


@input_schema("Inputs", sample_input)
@input_schema("GlobalParameters", sample_global_parameters)
@output_schema(outputs)
def run(Inputs, GlobalParameters):
    data = Inputs["input1"]
    return {"Results": (data @ coef + intercept).tolist()}
