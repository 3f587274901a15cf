# PandasParameterType input (orient='records' default); output = list of strings.
from scorehost import pandas as pd

from scorehost.schema import input_schema, output_schema
from scorehost.schema import StandardPythonParameterType
from scorehost.schema import PandasParameterType


def init():
    print("schema_pandas init done")


pandas_sample_input = PandasParameterType(pd.DataFrame({"name": ["Sarah", "John"], "age": [25, 26]}))
output_sample = StandardPythonParameterType({"Results": ["Sarah:26", "John:27"]})


@input_schema("data", pandas_sample_input)
@output_schema(output_sample)
def run(data):
    assert isinstance(data, pd.DataFrame), f"data is {type(data).__name__}"
    out = [f"{n}:{int(a) + 1}" for n, a in zip(data["name"], data["age"])]
    return {"Results": out, "columns": list(map(str, data.columns)), "dtypes": [str(t) for t in data.dtypes]}
