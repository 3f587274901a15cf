// inference-schema's top-level form in JavaScript, the twin of plugins/toplevel (Rust) and
// plugins/python/toplevel: inputSchema('data', NumpyParameterType(sample)) with run(data), so
// a request body is {"data": [[...]]}; `scale` has a default, so requests may leave it out.

import {
  batchable,
  float,
  inputSchema,
  joinPath,
  modelDir,
  NumpyParameterType,
  outputSchema,
  readJSON,
  StandardPythonParameterType,
} from 'scorehost-guest';

let model;

export function init() {
  model = readJSON(joinPath(modelDir(), 'sklearn_regression_model.json'));
}

const sampleData = NumpyParameterType(
  [
    [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
    [10, 9, 8, 7, 6, 5, 4, 3, 2, 1],
  ],
  { dtype: 'float64' },
);

// batchable: each result row is its input row's, so the host may join requests (when the
// deployment sets max_batch_size).
export const run = batchable(inputSchema('data', sampleData)(
  inputSchema('scale', StandardPythonParameterType(float(1)))(
    outputSchema(StandardPythonParameterType({ Results: [float(1), float(1)] }))(
      function run(data, scale = 1) {
        // The host has checked dtype and shape against the sample: data is float64 [*, 10].
        const Results = [];
        for (const row of data) {
          let total = 0;
          for (let j = 0; j < model.coef.length; j++) total += row.data[j] * model.coef[j];
          Results.push((model.intercept + total) * scale);
        }
        return { Results };
      },
    ),
  ),
));
