// scorehost-guest/raw: entry scripts in the `@rawhttp` style, the whole request in and the
// whole response out. A script that imports this module is built for the `raw-scorer` world.

export { AMLRequest, AMLResponse, FileStorage, Headers, rawhttp } from './request.js';
export { getenv, getModelPath, joinPath, log, modelDir, readFile, readJSON, readText } from './host.js';
