"""`azureml.core.model.Model.get_model_path`, as an Azure ML entry script calls it in `init()`:
the folder of a registered model under `$AZUREML_MODEL_DIR` (`NAME/VERSION`, the highest
numeric version when none is given), resolved by the host against the read-only model folder.
"""

from scorehost.model import Model

__all__ = ["Model"]
