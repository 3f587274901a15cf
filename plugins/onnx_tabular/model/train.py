"""Makes the onnx_tabular plugin's models and onnxruntime's answers for a held-out set.

Usage: python train.py OUT   (with plugins/onnx_requirements.txt installed; the tests do this
in target/onnx-venv). Writes:

- OUT/single/model.onnx          iris v1, the single-model layout;
- OUT/multi/iris/1/model.onnx    iris v1: LogisticRegression (ONNX LinearClassifier);
- OUT/multi/iris/2/model.onnx    iris v2: a small RandomForestClassifier (TreeEnsembleClassifier);
- OUT/expected.json              the held-out rows (float32) and each version's onnxruntime
                                 outputs on them, by output name.

Everything is seeded, so a rerun writes the same models.
"""
import json
import pathlib
import shutil
import sys

import numpy as np
import onnxruntime as ort
from skl2onnx import to_onnx
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

out = pathlib.Path(sys.argv[1])
X, y = load_iris(return_X_y=True)
X = X.astype(np.float32)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.3, random_state=0, stratify=y)

versions = {
    "1": LogisticRegression(max_iter=1000),
    "2": RandomForestClassifier(n_estimators=10, max_depth=4, random_state=0),
}
expected = {"inputs": X_test.tolist(), "labels": y_test.tolist(), "outputs": {}}
for version, model in versions.items():
    model.fit(X_train, y_train)
    # Plain tensors out (no ZipMap, a list of dicts that tract has no operator for); opsets
    # that tract knows.
    onx = to_onnx(model, X_train[:1], options={"zipmap": False},
                  target_opset={"": 17, "ai.onnx.ml": 3})
    folder = out / "multi" / "iris" / version
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.onnx").write_bytes(onx.SerializeToString())
    session = ort.InferenceSession(str(folder / "model.onnx"),
                                   providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    outputs = session.run(None, {session.get_inputs()[0].name: X_test})
    expected["outputs"][version] = {n: o.tolist() for n, o in zip(names, outputs)}
    accuracy = float((outputs[0] == y_test).mean())
    print(f"iris v{version}: {type(model).__name__}, held-out accuracy {accuracy:.3f}")

(out / "single").mkdir(parents=True, exist_ok=True)
shutil.copyfile(out / "multi" / "iris" / "1" / "model.onnx", out / "single" / "model.onnx")
(out / "expected.json").write_text(json.dumps(expected))
