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
  // data = np.array(json.loads(raw_data)["data"]) (ragged rows throw, as in numpy)
  const data = NDArray.from(body.data);
  return data.tolist().map(predict);
}

// Ridge.predict: intercept + x . coef, added up left to right as the Rust twin does. Like
// Python's arithmetic, anything but numbers throws.
function predict(row) {
  if (!Array.isArray(row)) throw new TypeError(`a row is not a list: ${JSON.stringify(row)}`);
  let total = 0;
  for (let j = 0; j < Math.min(row.length, model.coef.length); j++) {
    if (typeof row[j] !== 'number') throw new TypeError(`not a number: ${JSON.stringify(row[j])}`);
    total += row[j] * model.coef[j];
  }
  return model.intercept + total;
}
