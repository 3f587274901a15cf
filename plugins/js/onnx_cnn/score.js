// The JavaScript twin of plugins/python/onnx_cnn and plugins/onnx_cnn: the small ResNet of
// plugins/python/onnx_cnn/model/make.py, run by the host's engine (wasi:nn) through
// 'scorehost-guest/onnxruntime', which has onnxruntime-node's API. The script only moves
// tensors.

import {
  float,
  inputSchema,
  joinPath,
  modelDir,
  NumpyParameterType,
  outputSchema,
  StandardPythonParameterType,
} from 'scorehost-guest';
import * as ort from 'scorehost-guest/onnxruntime'; // was: import * as ort from 'onnxruntime-node'

let session;

export async function init() {
  session = await ort.InferenceSession.create(joinPath(modelDir(), 'model.onnx'));
}

// One or more 96x96 RGB images, NCHW, pixels scaled to [0, 1].
const zeros = [[0, 1, 2].map(() => Array.from({ length: 96 }, () => new Array(96).fill(0)))];
const sampleImage = NumpyParameterType(zeros, { dtype: 'float32' });
const sampleOutput = StandardPythonParameterType({
  classes: [8],
  probabilities: [new Array(10).fill(float(0.1))],
});

export const run = inputSchema('image', sampleImage)(
  outputSchema(sampleOutput)(async function run(image) {
    // The host has checked dtype and shape against the sample: image is float32 [*, 3, 96, 96].
    const input = new ort.Tensor('float32', image.data, image.shape);
    const { probabilities } = await session.run({ [session.inputNames[0]]: input }, ['probabilities']);
    const rows = probabilities.toNested();
    // numpy's argmax: the first of equal maxima.
    const classes = rows.map((row) => row.reduce((best, p, i) => (p > row[best] ? i : best), 0));
    return { classes, probabilities: rows };
  }),
);
