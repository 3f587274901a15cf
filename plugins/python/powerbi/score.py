# The seed's "Power BI compatible endpoint" entry script, for scorehost.
#
# Changed from the seed: the import lines (scorehost's stand-ins for numpy, pandas and
# inference-schema), and the model: scikit-learn cannot run inside a Wasm component, so the
# same ridge model is read from its exported coefficients (sklearn_regression_model.json,
# written by plugins/ridge/model/train.py) and applied with a dot product. The result is
# wrapped in {"Results": ...}, as the Rust twin (plugins/powerbi) returns it.
import os
import json

from scorehost import numpy as np
from scorehost import pandas as pd

from scorehost.schema import input_schema, output_schema
from scorehost.schema import StandardPythonParameterType
from scorehost.schema import NumpyParameterType
from scorehost.schema import PandasParameterType


def init():
    global model
    model_path = os.path.join(os.getenv('AZUREML_MODEL_DIR'), 'sklearn_regression_model.json')
    with open(model_path) as f:
        model = json.load(f)


numpy_sample_input = NumpyParameterType(np.array([[1,2,3,4,5,6,7,8,9,10],[10,9,8,7,6,5,4,3,2,1]],dtype='float64'))
pandas_sample_input = PandasParameterType(pd.DataFrame({'name': ['Sarah', 'John'], 'age': [25, 26]}))
standard_sample_input = StandardPythonParameterType(0.0)

sample_input = StandardPythonParameterType({'input1': numpy_sample_input,
                                        'input2': pandas_sample_input,
                                        'input3': standard_sample_input})

sample_global_parameters = StandardPythonParameterType(1.0) # this is optional
sample_output = StandardPythonParameterType([1.0, 1.0])
outputs = StandardPythonParameterType({'Results':sample_output}) # 'Results' is case sensitive

@input_schema('Inputs', sample_input)
@input_schema('GlobalParameters', sample_global_parameters)
@output_schema(outputs)
def run(Inputs, GlobalParameters):
    data = Inputs['input1']
    assert isinstance(data, np.ndarray)
    return {'Results': [predict(row) for row in data.tolist()]}


def predict(row):
    # Ridge.predict: intercept + x . coef, added up left to right as the Rust twin does (the
    # built-in sum() compensates rounding since Python 3.12, which can differ in the last bit).
    total = 0.0
    for x, c in zip(row, model['coef']):
        total += x * c
    return model['intercept'] + total
