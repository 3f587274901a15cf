"""Makes the onnx_image plugin's model and onnxruntime's answers for the held-out digits.

Usage: python train.py OUT   (with plugins/onnx_requirements.txt installed; the tests do this
in target/onnx-venv). Writes:

- OUT/model.onnx      an MLP (64 -> 32 -> 10) trained on 75% of scikit-learn's 8x8 digits,
                      input float32 [N, 64], pixels 0-16 (bright = ink), outputs
                      output_label [N] and output_probability [N, 10];
- OUT/expected.json   the held-out 25%: each digit as 64 grey levels 0-255 (what a PNG of it
                      holds), its true label, and onnxruntime's probabilities for the pixels the
                      plugin computes from those grey levels (grey * 16 / 255 in float32); plus
                      onnxruntime's accuracy on them.

Everything is seeded, so a rerun writes the same model.
"""
import json
import pathlib
import sys

import numpy as np
import onnxruntime as ort
from skl2onnx import to_onnx
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

out = pathlib.Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
X, y = load_digits(return_X_y=True)
X = X.astype(np.float32)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.25, random_state=0, stratify=y)

model = MLPClassifier(hidden_layer_sizes=(32,), max_iter=1000, random_state=0)
model.fit(X_train, y_train)
onx = to_onnx(model, X_train[:1], options={"zipmap": False},
              target_opset={"": 17, "ai.onnx.ml": 3})
(out / "model.onnx").write_bytes(onx.SerializeToString())

# What the plugin sees: an image stores grey levels, the plugin scales them back to 0-16.
grey = np.rint(X_test * 255 / 16).astype(np.uint8)
pixels = grey.astype(np.float32) * np.float32(16) / np.float32(255)
session = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
labels, probabilities = session.run(None, {session.get_inputs()[0].name: pixels})
accuracy = float((labels == y_test).mean())
print(f"digits MLP: held-out accuracy {accuracy:.4f} on {len(y_test)} images")
(out / "expected.json").write_text(json.dumps({
    "accuracy": accuracy,
    "images": [
        {"grey": g.tolist(), "label": int(t), "probabilities": p.tolist()}
        for g, t, p in zip(grey, y_test, probabilities)
    ],
}))
