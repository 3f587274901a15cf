// 'scorehost-guest/onnxruntime': onnxruntime-node's API, run by the host's inference engine
// through `wasi:nn` (no ML runtime in the component). A script ports with its import lines:
//
//   import * as ort from 'scorehost-guest/onnxruntime';   // was: 'onnxruntime-node'
//   session = await ort.InferenceSession.create(joinPath(modelDir(), 'model.onnx'));
//   const results = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', data, dims) });
//
// The model must be one the host loaded from the deployment's model folder: a path under
// `$AZUREML_MODEL_DIR`, or the name `wasi:nn`'s `load-by-name` takes ('NAME', 'NAME/VERSION').
// Tensor types are those `wasi:nn` carries: float32, float64, int64, int32, uint8, and bool
// (sent as uint8). Options are accepted and ignored. Errors: `InvalidArgument` (a `BadInput`:
// 400 naming the input when `run` lets it through) and plain `Error`s otherwise.

import { load, loadByName } from 'wasi:nn/graph@0.2.0-rc-2024-10-28';
import { Tensor as WasiTensor } from 'wasi:nn/tensor@0.2.0-rc-2024-10-28';

import { getenv, getModelPath, joinPath, readFile } from './host.js';
import { checkInput, graphSignature, InvalidArgument, Tensor, TENSOR_TYPES, TYPE_OF_ELEM } from './onnx.js';

export { InvalidArgument, Tensor };

const DISPOSE = Symbol.dispose ?? Symbol.for('dispose');

/** onnxruntime-node tensor type -> wasi:nn tensor type. */
const TO_WASI = { float32: 'FP32', float64: 'FP64', int64: 'I64', int32: 'I32', uint8: 'U8', bool: 'U8' };
const FROM_WASI = { FP32: 'float32', FP64: 'float64', I64: 'int64', I32: 'int32', U8: 'uint8' };

/** The message of a `wasi:nn` error thrown by the bindings (its payload is the error resource). */
function nnError(e) {
  const payload = e && typeof e === 'object' && 'payload' in e ? e.payload : undefined;
  if (payload && typeof payload.code === 'function') {
    const code = payload.code();
    const data = payload.data();
    payload[DISPOSE]?.();
    return { code, message: data ? `${data} (${code})` : code };
  }
  return { code: undefined, message: e instanceof Error ? e.message : String(e) };
}

/**
 * The bytes of the file `loadByName(name)` stands for, found as the host finds it: a path
 * (absolute, or relative to `$AZUREML_MODEL_DIR`) to a model file or to a folder holding
 * `model.onnx`, or `NAME` of the `NAME/VERSION/` layout (its highest version).
 */
function modelFile(name) {
  const path = name.startsWith('/') ? name : joinPath(getenv('AZUREML_MODEL_DIR', ''), name);
  const candidates = [path, joinPath(path, 'model.onnx')];
  try {
    candidates.push(joinPath(getModelPath(name), 'model.onnx'));
  } catch {
    // not a registered model's name
  }
  for (const candidate of candidates) {
    try {
      return readFile(candidate);
    } catch {
      // not this one
    }
  }
  return undefined;
}

/** onnxruntime-node's `InferenceSession`, for a model the host serves. */
export class InferenceSession {
  constructor(graph, signature, label) {
    this._graph = graph;
    this._inputs = signature.inputs;
    this._outputs = signature.outputs;
    this._label = label;
    this._context = undefined;
    /** The graph's input names, in order. */
    this.inputNames = signature.inputs.map((i) => i.name);
    /** The graph's output names, in order. */
    this.outputNames = signature.outputs.map((o) => o.name);
    /** Each input's `{name, isTensor, type, shape}` (onnxruntime-node 1.21's metadata). */
    this.inputMetadata = signature.inputs.map(metadata);
    /** Each output's `{name, isTensor, type, shape}`. */
    this.outputMetadata = signature.outputs.map(metadata);
  }

  /**
   * Opens the model at `pathOrBuffer` (a path under `$AZUREML_MODEL_DIR` or a model name; a
   * Uint8Array of model bytes only where the deployment lets guests load models). Options are
   * ignored.
   */
  static async create(pathOrBuffer, _options = undefined) {
    let graph;
    let bytes;
    let label;
    if (pathOrBuffer instanceof Uint8Array || pathOrBuffer instanceof ArrayBuffer) {
      bytes = new Uint8Array(pathOrBuffer);
      label = '<bytes>';
      graph = loadGraph(() => load([bytes], 'onnx', 'cpu'), label);
    } else {
      label = String(pathOrBuffer);
      graph = loadGraph(() => loadByName(label), label);
      bytes = modelFile(label);
      if (bytes === undefined) {
        throw new Error(`Load model ${label} failed: the host serves it, but its file is not readable here to describe its inputs and outputs`);
      }
    }
    let signature;
    try {
      signature = graphSignature(bytes);
    } catch (e) {
      throw new Error(`Load model from ${label} failed: malformed ONNX model: ${e.message}`);
    }
    return new InferenceSession(graph, signature, label);
  }

  /**
   * Runs the model on `feeds` (`{inputName: Tensor}`) and resolves to `{outputName: Tensor}`
   * for every output, or those named in `fetches` (an array of names). Options are ignored.
   */
  async run(feeds, fetches = undefined, _options = undefined) {
    if (feeds === null || typeof feeds !== 'object') throw new InvalidArgument('feeds must be an object of input name to Tensor');
    for (const name of Object.keys(feeds)) {
      if (!this.inputNames.includes(name)) throw new InvalidArgument(`Invalid input name: ${name}`);
    }
    const missing = this.inputNames.filter((n) => !(n in feeds));
    if (missing.length) throw new InvalidArgument(`Required inputs (${JSON.stringify(missing)}) are missing from feeds.`);
    const wanted = Array.isArray(fetches) ? fetches : this.outputNames;
    for (const name of wanted) {
      if (!this.outputNames.includes(name)) throw new InvalidArgument(`Invalid output name: ${name}`);
    }
    const tensors = this._inputs.map((info) => {
      const value = feeds[info.name];
      checkInput(info, value);
      if (TO_WASI[value.type] === undefined) {
        throw new InvalidArgument(`input: ${info.name} has type ${info.type}, which wasi:nn cannot carry`);
      }
      const data = new Uint8Array(value.data.buffer, value.data.byteOffset, value.data.byteLength);
      return [info.name, new WasiTensor(Uint32Array.from(value.dims), TO_WASI[value.type], data)];
    });
    let results;
    try {
      this._context ??= this._graph.initExecutionContext();
      results = this._context.compute(tensors);
    } catch (e) {
      const { code, message } = nnError(e);
      if (code === 'invalid-argument' || code === 'too-large') throw new InvalidArgument(message);
      throw new Error(`running the model failed: ${message}`);
    }
    // The input tensors were moved to the host by `compute` (owned handles): not ours to drop.
    const byName = new Map(results);
    try {
      const out = {};
      for (const name of wanted) {
        const result = byName.get(name);
        if (result === undefined) throw new Error(`the model gave no output ${name}`);
        out[name] = this._tensorOf(result, this._outputs.find((o) => o.name === name));
      }
      return out;
    } finally {
      for (const t of byName.values()) t[DISPOSE]?.();
    }
  }

  /** Nothing to release: the host owns the model. */
  async release() {}

  _tensorOf(result, info) {
    let type = FROM_WASI[result.ty()];
    if (type === undefined) throw new Error(`output ${info.name} has a tensor type this SDK does not read: ${result.ty()}`);
    if (type === 'uint8' && info.elemType === 'bool') type = 'bool';
    const bytes = result.data();
    const [View] = TENSOR_TYPES[type];
    // A copy aligned for the view (the bytes from the host may start anywhere).
    const data = new View(bytes.slice().buffer);
    return new Tensor(type, data, Array.from(result.dimensions()));
  }
}

function metadata(info) {
  return {
    name: info.name,
    isTensor: info.elemType !== null,
    type: TYPE_OF_ELEM[info.elemType] ?? info.type,
    shape: info.shape ?? [],
  };
}

function loadGraph(load, label) {
  try {
    return load();
  } catch (e) {
    const { message } = nnError(e);
    throw new Error(`Load model from ${label} failed: ${message}`);
  }
}

/** onnxruntime-node's `env` (settings are accepted and ignored). */
export const env = { logLevel: 'warning', wasm: {}, webgl: {} };
