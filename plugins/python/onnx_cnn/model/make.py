"""Makes the onnx_cnn example's model and onnxruntime's answers for a few images.

Usage: python make.py OUT   (with plugins/onnx_requirements.txt installed; the tests do this
in target/onnx-venv). Writes:

- OUT/model.onnx      a small ResNet-style classifier for 96x96 RGB images (NCHW float32,
                      any batch size): a strided 3x3 stem, three stages of two residual blocks
                      (32, 64, 128 channels; 48x48, 24x24, 12x12), batch norm after every
                      convolution, global average pooling, and two outputs: `logits` and
                      their softmax `probabilities` (10 classes). 0.7 M parameters (2.8 MB)
                      and about 0.25 G multiply-adds per image.
- OUT/expected.json   the input images (as nested lists, NCHW) and onnxruntime's outputs.

The weights are random (He-initialised, seeded): the model classifies nothing real, but it
has the operators and the arithmetic of a real one. A rerun writes the same files.
"""
import json
import pathlib
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

SIZE = 96
CLASSES = 10
STAGES = [(32, 1), (64, 2), (128, 2)]  # (channels, stride of the stage's first block)
BLOCKS = 2

rng = np.random.default_rng(20261129)
nodes, weights = [], []


def weight(name, array):
    weights.append(numpy_helper.from_array(array.astype(np.float32), name))
    return name


def conv_bn(x, out, cin, cout, stride, relu=True):
    """Conv 3x3 (or 1x1 when cin->cout shortcut) + BatchNorm (+ ReLU)."""
    k = 3 if not out.endswith("_short") else 1
    w = rng.normal(0.0, np.sqrt(2.0 / (cin * k * k)), (cout, cin, k, k))
    nodes.append(helper.make_node(
        "Conv", [x, weight(out + "_w", w)], [out + "_conv"],
        kernel_shape=[k, k], strides=[stride, stride], pads=[k // 2] * 4))
    # The last norm of a residual branch starts small, as in ResNet training recipes, so the
    # activations stay in range through the blocks and the softmax is not saturated.
    scale = (0.1, 0.3) if out.endswith("_b") else (0.8, 1.2)
    bn = [weight(out + "_gamma", rng.uniform(*scale, cout)),
          weight(out + "_beta", rng.normal(0.0, 0.1, cout)),
          weight(out + "_mean", rng.normal(0.0, 0.1, cout)),
          weight(out + "_var", rng.uniform(0.8, 1.2, cout))]
    y = out + "_bn" if relu else out
    nodes.append(helper.make_node("BatchNormalization", [out + "_conv", *bn], [y], epsilon=1e-5))
    if relu:
        nodes.append(helper.make_node("Relu", [y], [out]))
    return out


x, channels = conv_bn("image", "stem", 3, 32, 2), 32
for s, (cout, stride) in enumerate(STAGES):
    for b in range(BLOCKS):
        step = stride if b == 0 else 1
        name = f"s{s}b{b}"
        h = conv_bn(x, name + "_a", channels, cout, step)
        h = conv_bn(h, name + "_b", cout, cout, 1, relu=False)
        short = x
        if step != 1 or cout != channels:
            short = conv_bn(x, name + "_short", channels, cout, step, relu=False)
        nodes.append(helper.make_node("Add", [h, short], [name + "_sum"]))
        nodes.append(helper.make_node("Relu", [name + "_sum"], [name]))
        x, channels = name, cout
nodes.append(helper.make_node("GlobalAveragePool", [x], ["pooled"]))
nodes.append(helper.make_node("Flatten", ["pooled"], ["features"], axis=1))
fc = rng.normal(0.0, np.sqrt(0.5 / channels), (channels, CLASSES))
nodes.append(helper.make_node(
    "Gemm", ["features", weight("fc_w", fc), weight("fc_b", np.zeros(CLASSES))], ["logits"]))
nodes.append(helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1))

graph = helper.make_graph(
    nodes, "small_resnet",
    [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, SIZE, SIZE])],
    [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", CLASSES]),
     helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", CLASSES])],
    initializer=weights)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                          producer_name="scorehost onnx_cnn make.py")
model.ir_version = 8
onnx.checker.check_model(model)

out = pathlib.Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
(out / "model.onnx").write_bytes(model.SerializeToString())

# Images in [0, 1], like normalised pixels: one smooth, one noisy, one half black.
images = rng.uniform(0.0, 1.0, (3, 3, SIZE, SIZE)).astype(np.float32)
ramp = np.linspace(0.0, 1.0, SIZE, dtype=np.float32)
images[0] = ramp[None, None, :] * ramp[None, :, None]
images[2, :, : SIZE // 2] = 0.0
session = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
logits, probabilities = session.run(None, {"image": images})
params = sum(int(np.prod(w.dims)) for w in weights)
print(f"onnx_cnn: {params} parameters, top classes {probabilities.argmax(axis=1).tolist()}, "
      f"max probability {probabilities.max():.3f}")
(out / "expected.json").write_text(json.dumps({
    "images": images.tolist(),
    "logits": logits.tolist(),
    "probabilities": probabilities.tolist(),
}))
