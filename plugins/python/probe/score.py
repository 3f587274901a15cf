# Test plugin: the Python twin of plugins/probe. Looks at the sandbox from inside, so the same
# tests show that a Python guest sees its model folder read-only and nothing else.
import os

from scorehost import numpy as np
from scorehost.model import Model
from scorehost.schema import BadInput, StandardPythonParameterType, input_schema


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
            return np.array([[1.5, 2.0], [3.0, 4.0]])
        if action == "alloc":
            blocks = [bytearray(b"\x01" * (1 << 20)) for _ in range(int(Inputs["mib"]))]
            return {"allocated_mib": len(blocks)}
    except OSError as e:
        raise PermissionError(f"denied: {e}") from None
    raise BadInput(f"unknown action {action!r}")
