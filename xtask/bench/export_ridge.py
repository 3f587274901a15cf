"""Writes the ridge plugin's model as a scikit-learn `model.joblib` for the peer servers.

The coefficients come from `plugins/ridge/model/sklearn_regression_model.json`, so MLServer,
KServe and scorehost compute the same predictions. Usage: export_ridge.py MODEL_JSON OUT_DIR
"""

import json
import pathlib
import sys

import joblib
import numpy as np
from sklearn.linear_model import Ridge


def main() -> None:
    source, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    spec = json.loads(source.read_text())
    coef = np.asarray(spec["coef"], dtype=np.float64)
    model = Ridge(alpha=0.5)
    # A fitted Ridge is its coefficients and intercept; set them instead of refitting.
    model.coef_ = coef
    model.intercept_ = float(spec["intercept"])
    model.n_features_in_ = coef.shape[0]
    out.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, out / "model.joblib")
    check = model.predict(np.array([[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]], dtype=np.float64))
    print(f"model.joblib written; prediction for 1..10: {check[0]}")


if __name__ == "__main__":
    main()
