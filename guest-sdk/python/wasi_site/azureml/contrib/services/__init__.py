"""`azureml.contrib.services`: the request and response of `@rawhttp` entry scripts."""
