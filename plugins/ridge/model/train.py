"""Regenerates sklearn_regression_model.json: the Ridge regression of Azure ML's classic
`sklearn_regression_model.pkl` sample (scikit-learn's diabetes data set, 10 features), with its
coefficients written as JSON so a Wasm guest can load it without Python pickles.

Run with scikit-learn installed: python train.py  (the committed file is its output).
"""
import json
import pathlib

from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge

X, y = load_diabetes(return_X_y=True)
model = Ridge(alpha=0.5).fit(X, y)
out = pathlib.Path(__file__).with_name("sklearn_regression_model.json")
out.write_text(json.dumps({
    "model": "sklearn.linear_model.Ridge(alpha=0.5) fitted on sklearn.datasets.load_diabetes",
    "coef": model.coef_.tolist(),
    "intercept": float(model.intercept_),
}, indent=2) + "\n")
sample = [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], [10, 9, 8, 7, 6, 5, 4, 3, 2, 1]]
print(out, model.predict(sample).tolist())
