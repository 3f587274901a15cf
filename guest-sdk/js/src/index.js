// scorehost-guest: write scorehost entry scripts in JavaScript, in the style of an Azure ML
// entry script. A script exports `init()` and `run(Inputs, GlobalParameters)`; samples
// declared with `inputSchema` / `outputSchema` type the inputs. `@rawhttp` scripts import
// from 'scorehost-guest/raw' instead. See README.md.

export { BadInput } from './errors.js';
export { getenv, getModelPath, joinPath, log, modelDir, readFile, readJSON, readText } from './host.js';
export {
  batchable,
  inputSchema,
  NumpyParameterType,
  outputSchema,
  PandasParameterType,
  StandardPythonParameterType,
} from './samples.js';
export { DataFrame, float, NDArray } from './values.js';
