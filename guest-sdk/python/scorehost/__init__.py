"""Write scorehost entry scripts in Python, the way Azure ML entry scripts are written.

A script defines `init()` (load the model from `os.getenv("AZUREML_MODEL_DIR")`) and `run()`,
and is built into a Wasm component by `scorehost-build score.py -o score.wasm`
(componentize-py underneath). Modules:

- `scorehost.schema`: `input_schema`, `output_schema` and the `*ParameterType` samples
  (typed `run(Inputs, GlobalParameters)`, the `scorer` world);
- `scorehost.rawhttp`: `@rawhttp`, `AMLRequest`, `AMLResponse` (the `raw-scorer` world);
- `scorehost.model`: `Model.get_model_path(name, version)`;
- `scorehost.log`: the host's structured log;
- `scorehost.onnxruntime`: onnxruntime's `InferenceSession` API, the model run by the host's
  inference engine through `wasi:nn`;
- `scorehost.numpy`, `scorehost.pandas`, `scorehost.pil`: small pure-Python stand-ins for the
  parts of numpy, pandas and PIL that entry scripts use (the real ones are C extensions that
  cannot be bundled into a component).
"""

__version__ = "0.1.0"
