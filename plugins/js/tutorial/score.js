// The classic undecorated Azure ML tutorial script in JavaScript, the twin of
// plugins/tutorial (Rust) and plugins/python/tutorial: run(rawData) gets the request body as
// text, reads JSON.parse(rawData).data, scores each row with the ridge model and returns the
// list of results. What would raise in Python throws here (the client gets Azure ML's
// generic 500; the error's text goes to the host's log).

import { joinPath, modelDir, NDArray, readJSON } from 'scorehost-guest';

let model;

export function init() {
  model = readJSON(joinPath(modelDir(), 'sklearn_regression_model.json'));
}

export function run(rawData) {
  const body = JSON.parse(rawData);
  if (body === null || typeof body !== 'object' || Array.isArray(body) || !('data' in body)) {
    throw new Error("KeyError: 'data'");
  }
  // data = np.array(json.loads(raw_data)["data"])
  const data = NDArray.from(body.data);
  if (data.shape.length !== 2 || data.dtype === 'str' || data.dtype === 'bool') {
    throw new TypeError('data is not a list of rows of numbers');
  }
  return data.tolist().map(predict);
}

// Ridge.predict: intercept + x . coef, added up left to right as the Rust twin does.
function predict(row) {
  let total = 0;
  for (let j = 0; j < Math.min(row.length, model.coef.length); j++) total += row[j] * model.coef[j];
  return model.intercept + total;
}
