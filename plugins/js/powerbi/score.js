// The seed's "Power BI compatible endpoint" in JavaScript: the twin of plugins/powerbi (Rust)
// and of the seed's Python script. Three typed inputs (a numpy array, a pandas frame and a
// standard value), GlobalParameters, and {"Results": [...]} out, with the ridge model's
// weights read from the model folder in init().

import {
  float,
  inputSchema,
  joinPath,
  modelDir,
  NumpyParameterType,
  outputSchema,
  PandasParameterType,
  readJSON,
  StandardPythonParameterType,
} from 'scorehost-guest';

let model;

export function init() {
  const path = joinPath(modelDir(), 'sklearn_regression_model.json');
  const { coef, intercept } = readJSON(path);
  if (!Array.isArray(coef) || typeof intercept !== 'number') {
    throw new Error(`${path} is not a linear model`);
  }
  model = { coef, intercept };
}

const numpySampleInput = NumpyParameterType(
  [
    [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
    [10, 9, 8, 7, 6, 5, 4, 3, 2, 1],
  ],
  { dtype: 'float64' },
);
const pandasSampleInput = PandasParameterType({ name: ['Sarah', 'John'], age: [25, 26] });
// float(0) is Python's 0.0: JavaScript would write 0 and the input would be an integer.
const standardSampleInput = StandardPythonParameterType(float(0));

const sampleInput = StandardPythonParameterType({
  input1: numpySampleInput,
  input2: pandasSampleInput,
  input3: standardSampleInput,
});
const sampleGlobalParameters = StandardPythonParameterType(float(1));
const outputs = StandardPythonParameterType({ Results: [float(1), float(1)] });

export const run = inputSchema('Inputs', sampleInput)(
  inputSchema('GlobalParameters', sampleGlobalParameters)(
    outputSchema(outputs)(function run(Inputs, GlobalParameters) {
      // The host has checked dtype and shape against the sample: input1 is float64 [*, 10].
      const data = Inputs.input1;
      const Results = [];
      for (const row of data) {
        let sum = 0;
        for (let j = 0; j < model.coef.length; j++) sum += row.data[j] * model.coef[j];
        Results.push(model.intercept + sum);
      }
      return { Results };
    }),
  ),
);
