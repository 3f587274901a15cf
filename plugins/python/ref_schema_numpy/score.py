# Follows the seed's "Power BI compatible endpoint" example: nested Inputs with a
# NumpyParameterType, optional-by-docs GlobalParameters (scalar float), nested Results output.
# Model replaced by a trivial deterministic function: row sum * GlobalParameters.
from scorehost import numpy as np

from scorehost.schema import input_schema, output_schema
from scorehost.schema import StandardPythonParameterType
from scorehost.schema import NumpyParameterType


def init():
    global model
    model = lambda arr, factor: (arr.sum(axis=1) * factor)  # noqa: E731
    print("schema_numpy init done")


numpy_sample_input = NumpyParameterType(
    np.array([[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], [10, 9, 8, 7, 6, 5, 4, 3, 2, 1]], dtype="float64"))
sample_input = StandardPythonParameterType({"input1": numpy_sample_input})
sample_global_parameters = StandardPythonParameterType(1.0)
sample_output = StandardPythonParameterType([1.0, 1.0])
outputs = StandardPythonParameterType({"Results": sample_output})


@input_schema("Inputs", sample_input)
@input_schema("GlobalParameters", sample_global_parameters)
@output_schema(outputs)
def run(Inputs, GlobalParameters):
    data = Inputs["input1"]
    assert isinstance(data, np.ndarray), f"input1 is {type(data).__name__}, not ndarray"
    result = model(data, float(GlobalParameters))
    return {"Results": result.tolist()}
