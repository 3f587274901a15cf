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
  // np.array(json.loads(raw_data)["data"], dtype=np.float32): the shape of the nested lists
  // (ragged ones do not fill the Tensor's dims, which throws).
  const data = JSON.parse(rawData).data;
  const dims = [];
  for (let level = data; Array.isArray(level); level = level[0]) dims.push(level.length);
  const input = new ort.Tensor('float32', [data].flat(Infinity), dims);
  const results = await session.run({ [session.inputNames[0]]: input });
  const out = {};
  for (const name of session.outputNames) out[name] = results[name].toNested();
  return { Results: out };
}
