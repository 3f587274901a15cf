"""`azureml.core`, as far as an entry script uses it: `azureml.core.model.Model`."""
