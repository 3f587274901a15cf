// The JavaScript twin of plugins/onnx_tabular and plugins/python/onnx_tabular: the iris
// classifier of plugins/onnx_tabular/model/train.py, run by the host's engine (wasi:nn)
// through 'scorehost-guest/onnxruntime', which has onnxruntime-node's API. Undecorated:
// run(rawData) gets the body {"data": [[...], ...]}.

import { joinPath, modelDir } from 'scorehost-guest';
import * as ort from 'scorehost-guest/onnxruntime'; // was: import * as ort from 'onnxruntime-node'

let session;

export async function init() {
  session = await ort.InferenceSession.create(joinPath(modelDir(), 'model.onnx'));
}

export async function run(rawData) {
  const rows = JSON.parse(rawData).data;
  if (!Array.isArray(rows) || !rows.every(Array.isArray)) throw new ort.InvalidArgument('data must be a list of rows');
  const width = rows.length ? rows[0].length : 0;
  const input = new ort.Tensor('float32', rows.flat(), [rows.length, width]);
  const results = await session.run({ [session.inputNames[0]]: input });
  const out = {};
  for (const name of session.outputNames) out[name] = results[name].toNested();
  return { Results: out };
}
