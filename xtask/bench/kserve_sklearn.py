"""A KServe model server for a scikit-learn `model.joblib`, for the benchmark.

KServe's own `sklearnserver` is not published on PyPI (it lives in KServe's repository and
container image), so this is the same thing written against the `kserve` package's public API:
a `kserve.Model` that loads the joblib file once and answers Open Inference Protocol `infer`
requests with `model.predict` on the first input, as `sklearnserver`'s `SKLearnModel` does.
Usage: kserve_sklearn.py --model_dir DIR --model_name NAME --http_port PORT
"""

import argparse
import pathlib
import uuid

import joblib
import kserve
import numpy as np
from kserve import InferOutput, InferRequest, InferResponse


class SKLearnModel(kserve.Model):
    def __init__(self, name: str, model_dir: str):
        super().__init__(name)
        self.model_dir = pathlib.Path(model_dir)
        self.model = None

    def load(self) -> bool:
        self.model = joblib.load(self.model_dir / "model.joblib")
        self.ready = True
        return self.ready

    def predict(self, payload: InferRequest, headers=None) -> InferResponse:
        instances = payload.inputs[0].as_numpy()
        result = np.asarray(self.model.predict(instances), dtype=np.float64)
        output = InferOutput(name="output-0", shape=list(result.shape), datatype="FP64")
        output.set_data_from_numpy(result, binary_data=False)
        return InferResponse(
            model_name=self.name,
            infer_outputs=[output],
            response_id=payload.id or str(uuid.uuid4()),
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(parents=[kserve.model_server.parser])
    parser.add_argument("--model_dir", required=True)
    args, _ = parser.parse_known_args()
    model = SKLearnModel(args.model_name, args.model_dir)
    model.load()
    kserve.ModelServer().start([model])
