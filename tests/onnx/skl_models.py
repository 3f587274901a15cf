"""Makes the scikit-learn models of the onnxruntime backend's coverage tests
(tests/all/onnx_backends.rs), converted with skl2onnx, and scikit-learn's own answers for them.

Usage: python skl_models.py OUT   (in target/onnx-venv, plugins/onnx_requirements.txt). Writes:

- OUT/forest/model.onnx    RandomForestRegressor on Friedman #1: X f32 [N, 5] ->
                           variable f32 [N, 1] (TreeEnsembleRegressor);
- OUT/boosting/model.onnx  GradientBoostingClassifier, three classes labelled 10, -3 and 7:
                           X f32 [N, 6] -> output_label i64 [N], output_probability
                           seq(map(int64, float)) (TreeEnsembleClassifier, then ZipMap);
- OUT/scaled/model.onnx    StandardScaler + LogisticRegression on the wine data: X f32 [N, 13]
                           -> label i64 [N], probabilities f32 [N, 3] (Scaler,
                           LinearClassifier, Normalizer; no ZipMap);
- OUT/onehot/model.onnx    OneHotEncoder(handle_unknown="ignore") + Ridge on three int64
                           category columns: X i64 [N, 3] -> variable f32 [N, 1]
                           (OneHotEncoder, Concat, LinearRegressor);
- OUT/expected.json        per model: `inputs` (input name -> the rows the test sends),
                           `outputs` (output name -> scikit-learn's answer in the output's
                           shape: `predict` as a column for a regressor, `predict_proba` as
                           [N, K] in `classes_` order for a ZipMap's maps), `sklearn` (output
                           name -> `predict` or `predict_proba`), `classes` and
                           `ml_operators` (the `ai.onnx.ml` operators the model uses).

Each model is also run here by onnxruntime and checked against scikit-learn (labels exactly,
numbers within 1e-5), so a converter mismatch fails this script, not the Rust test. Everything
is seeded, so a rerun writes the same models.
"""
import json
import pathlib
import sys

import numpy as np
import onnxruntime as ort
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType, Int64TensorType
from sklearn.datasets import load_wine, make_classification, make_friedman1
from sklearn.ensemble import GradientBoostingClassifier, RandomForestRegressor
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

TOLERANCE = 1e-5
# Opsets every backend of the host knows.
OPSETS = {"": 17, "ai.onnx.ml": 3}
TEST_ROWS = 24

out = pathlib.Path(sys.argv[1])


def split(X, y):
    return train_test_split(X, y, test_size=TEST_ROWS, random_state=0)


def forest():
    X, y = make_friedman1(n_samples=300, n_features=5, noise=0.5, random_state=0)
    X_train, X_test, y_train, _ = split(X.astype(np.float32), y)
    model = RandomForestRegressor(n_estimators=10, max_depth=6, random_state=0)
    return model.fit(X_train, y_train), X_test, FloatTensorType, None


def boosting():
    X, y = make_classification(n_samples=400, n_features=6, n_informative=4, n_classes=3,
                               random_state=0)
    # Labels out of order, one negative: the ZipMap's keys must come back as int64, in
    # ascending order (predict_proba's columns).
    y = np.array([10, -3, 7])[y]
    X_train, X_test, y_train, _ = split(X.astype(np.float32), y)
    model = GradientBoostingClassifier(n_estimators=20, max_depth=3, random_state=0)
    return model.fit(X_train, y_train), X_test, FloatTensorType, None


def scaled():
    X, y = load_wine(return_X_y=True)
    X_train, X_test, y_train, _ = split(X.astype(np.float32), y)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    return model.fit(X_train, y_train), X_test, FloatTensorType, {"zipmap": False}


def onehot():
    rng = np.random.default_rng(0)
    n = 300
    # Colour 0..4, size 1..3, region 100..400: codes, not magnitudes.
    X = np.stack([rng.integers(0, 5, n), rng.integers(1, 4, n), rng.integers(1, 5, n) * 100],
                 axis=1).astype(np.int64)
    y = (np.array([0.5, -1.0, 2.0, 0.0, 1.5])[X[:, 0]] + 0.7 * X[:, 1] - X[:, 2] / 200
         + rng.normal(0, 0.1, n))
    X_train, X_test, y_train, _ = split(X, y)
    # Categories never seen in training (colour 9, region 999): "ignore" encodes them as zeros.
    X_test[0] = [9, 2, 300]
    X_test[1] = [1, 3, 999]
    model = make_pipeline(OneHotEncoder(handle_unknown="ignore"), Ridge(alpha=1.0))
    return model.fit(X_train, y_train), X_test, Int64TensorType, None


def assert_close(name, what, actual, expected):
    actual, expected = np.asarray(actual), np.asarray(expected)
    at = f"{name} {what}"
    assert actual.shape == expected.shape, f"{at}: shape {actual.shape} vs {expected.shape}"
    if expected.dtype.kind in "iu":
        assert np.array_equal(actual, expected), f"{at}: {actual} vs {expected}"
    else:
        worst = float(np.max(np.abs(actual - expected)))
        assert worst <= TOLERANCE, f"{at}: onnxruntime differs from scikit-learn by {worst}"


expected = {}
for name, make in [("forest", forest), ("boosting", boosting), ("scaled", scaled),
                   ("onehot", onehot)]:
    model, X_test, tensor_type, options = make()
    onx = to_onnx(model, initial_types=[("X", tensor_type([None, X_test.shape[1]]))],
                  options=options, target_opset=OPSETS)
    folder = out / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.onnx").write_bytes(onx.SerializeToString())

    classifier = hasattr(model, "predict_proba")
    predict = model.predict(X_test)
    sklearn = {}
    outputs = {}
    for output in onx.graph.output:
        # skl2onnx names a classifier's outputs output_label/output_probability with a
        # ZipMap, label/probabilities without.
        if output.name in ("output_label", "label"):
            sklearn[output.name] = "predict"
            outputs[output.name] = predict.astype(np.int64)
        elif output.name in ("output_probability", "probabilities"):
            sklearn[output.name] = "predict_proba"
            outputs[output.name] = model.predict_proba(X_test)
        else:
            assert not classifier and len(onx.graph.output) == 1, [o.name for o in onx.graph.output]
            sklearn[output.name] = "predict"
            outputs[output.name] = predict.reshape(-1, 1)

    session = ort.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    answers = session.run(None, {"X": X_test})
    for output, answer in zip(session.get_outputs(), answers):
        if isinstance(answer, list):  # ZipMap: one {class: probability} per row
            assert all(sorted(row) == model.classes_.tolist() for row in answer), answer[0]
            answer = [[row[key] for key in sorted(row)] for row in answer]
        assert_close(name, output.name, answer, outputs[output.name])

    ml_operators = sorted({n.op_type for n in onx.graph.node if n.domain == "ai.onnx.ml"})
    expected[name] = {
        "inputs": {"X": X_test.tolist()},
        "outputs": {k: v.tolist() for k, v in outputs.items()},
        "sklearn": sklearn,
        "classes": model.classes_.tolist() if classifier else None,
        "ml_operators": ml_operators,
    }
    steps = [step for _, step in model.steps] if hasattr(model, "steps") else [model]
    print(f"{name}: {' + '.join(type(s).__name__ for s in steps)} ({', '.join(ml_operators)}): "
          "onnxruntime agrees with scikit-learn")

(out / "expected.json").write_text(json.dumps(expected))
