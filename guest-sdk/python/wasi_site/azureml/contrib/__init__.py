"""`azureml.contrib`, as far as an entry script uses it: `azureml.contrib.services`."""
