// Describing inputs and outputs by samples, as inference-schema does in Python: parameter
// types, and the `inputSchema` / `outputSchema` decorators that attach them to `run`.

import { DataFrame, Float, NDArray } from './values.js';

/** Where the decorators keep what they declare, on the `run` function itself. */
const SCHEMA = Symbol.for('scorehost.schema');

/**
 * A numpy-style array sample (`NumpyParameterType(np.array(...))`): nested lists or an
 * NDArray. Requests must match its dtype, rank and every dimension but the first.
 * The dtype is inferred as numpy would (int64 for integers) unless `{ dtype }` is given.
 * Works with or without `new`.
 */
export function NumpyParameterType(sample, { dtype = undefined } = {}) {
  if (!new.target) return new NumpyParameterType(sample, { dtype });
  this.array = sample instanceof NDArray ? sample : NDArray.from(sample, dtype);
  if (dtype && this.array.dtype !== dtype) {
    this.array = new NDArray(this.array.data, this.array.shape, dtype);
  }
}

NumpyParameterType.prototype.toWitSample = function () {
  return { tag: 'tensor', val: tensorToWit(this.array) };
};

/**
 * A pandas-style data frame sample (`PandasParameterType(pd.DataFrame({...}))`): columns
 * `{ name: [values] }`, records `[{ name: value }]` or a DataFrame. Column dtypes are inferred
 * as pandas would unless given in `{ dtypes: { name: 'int32' } }`; `orient` is how requests
 * write the frame (`records`, the default, `split`, `columns`, `index` or `values`). Works
 * with or without `new`.
 */
export function PandasParameterType(sample, { orient = 'records', dtypes = {} } = {}) {
  if (!new.target) return new PandasParameterType(sample, { orient, dtypes });
  if (sample instanceof DataFrame) this.frame = sample;
  else if (Array.isArray(sample)) this.frame = DataFrame.fromRecords(sample, dtypes);
  else this.frame = DataFrame.fromColumns(sample, dtypes);
  if (!['records', 'split', 'columns', 'index', 'values'].includes(orient)) {
    throw new Error(`orient '${orient}' is not one of records, split, columns, index, values`);
  }
  this.orient = orient;
}

PandasParameterType.prototype.toWitSample = function () {
  const columns = this.frame._columns.map((c) => ({ name: c.name, values: tensorToWit(c.values) }));
  return { tag: 'frame', val: { frame: { columns }, orient: this.orient } };
};

/**
 * Any JSON value (`StandardPythonParameterType(...)`): requests must follow its structure and
 * types. Write `float(1)` for a float that happens to be integral (Python's `1.0`). As in
 * Python, the `Inputs` sample is a StandardPythonParameterType of an object whose values are
 * the inputs' parameter types. Works with or without `new`.
 */
export function StandardPythonParameterType(sample) {
  if (!new.target) return new StandardPythonParameterType(sample);
  this.sample = sample;
}

StandardPythonParameterType.prototype.toWitSample = function () {
  return { tag: 'json', val: sampleJSON(this.sample) };
};

/**
 * Declares a parameter of `run` by a sample, like inference-schema's `@input_schema`: the
 * request body's top-level key `name`, e.g. `inputSchema('data', NumpyParameterType(...))`,
 * or the Power BI `inputSchema('Inputs', StandardPythonParameterType({ input1: ... }))` and
 * `inputSchema('GlobalParameters', StandardPythonParameterType(float(1)))`.
 * Returns a decorator: `inputSchema(name, type)(run)` returns `run`, annotated. `run` gets
 * the declared parameters as positional arguments in the order the decorators read
 * (outermost first); one with a default in `run`'s signature is optional.
 */
export function inputSchema(name, type) {
  if (typeof name !== 'string' || name === '') {
    throw new Error('inputSchema(name, ...) needs a parameter name');
  }
  return (run) => {
    const schema = schemaOf(run);
    if (schema.parameters.some((p) => p.name === name)) {
      throw new Error(`inputSchema('${name}', ...) is declared twice`);
    }
    // Decorators apply innermost first: the outermost one is the first parameter.
    schema.parameters.unshift({ name, kind: parameterKindOf(name, type) });
    return run;
  };
}

/** A group (an object of named parameter types, the Power BI `Inputs`) or one value. */
function parameterKindOf(name, type) {
  const entries = type instanceof StandardPythonParameterType ? type.sample : undefined;
  const isObject = entries !== null && typeof entries === 'object' && !Array.isArray(entries);
  const hasTypes =
    isObject && Object.values(entries).some((v) => v && typeof v.toWitSample === 'function');
  if (name === 'Inputs' && !isObject) {
    throw new Error("inputSchema('Inputs', ...) needs an object of named inputs");
  }
  if (isObject && (name === 'Inputs' || hasTypes)) {
    return {
      tag: 'group',
      val: Object.entries(entries).map(([entry, sample]) => ({
        name: entry,
        sample: witSampleOf(sample),
      })),
    };
  }
  return { tag: 'value', val: witSampleOf(type) };
}

/** Declares a sample of what `run` returns, like `@output_schema`; shown in Swagger. */
export function outputSchema(type) {
  return (run) => {
    schemaOf(run).output = sampleJSON(type);
    return run;
  };
}

/**
 * Declares `run` batchable: its output rows correspond to its input rows along the first
 * dimension of every array input, so the host may join concurrent requests into one `run`
 * (when the deployment sets `max_batch_size`) and split the result back. Every array in the
 * result must then have one entry per input row. A decorator like the others:
 * `batchable(inputSchema('data', NumpyParameterType(...))(run))`.
 */
export function batchable(run) {
  schemaOf(run).batchable = true;
  return run;
}

/**
 * The WIT `schema` of a decorated `run`, or `undefined` when it has none: the script is then
 * undecorated and `run(rawData)` gets the body text, as Azure ML's `run(raw_data)`. A
 * parameter is required unless `run` gives it a default (`run.length` counts the parameters
 * before the first one with a default), as a Python default makes it optional.
 */
export function witSchemaOf(run) {
  const schema = run[SCHEMA];
  if (!schema) return undefined;
  const parameters = declaredParameters(run).map(({ name, kind }, i) => ({
    name,
    kind,
    // The Power BI `Inputs` is always required, as every Power BI request carries it.
    required: name === 'Inputs' || i < run.length,
  }));
  return { parameters, output: schema.output, batchable: schema.batchable === true };
}

/** The names of the parameters `run` takes, in its order. */
export function parameterNames(run) {
  return declaredParameters(run).map((p) => p.name);
}

/**
 * The declared parameters in the order `run` takes them. A script of the Power BI form
 * (only `Inputs` and `GlobalParameters` declared) is called `run(Inputs, GlobalParameters)`,
 * with an empty `Inputs` group if it declares none; any other in the decorators' order.
 */
function declaredParameters(run) {
  const declared = run[SCHEMA]?.parameters ?? [];
  if (!declared.every((p) => p.name === 'Inputs' || p.name === 'GlobalParameters')) {
    return declared;
  }
  const inputs = declared.find((p) => p.name === 'Inputs') ?? {
    name: 'Inputs',
    kind: { tag: 'group', val: [] },
  };
  const global = declared.find((p) => p.name === 'GlobalParameters');
  return global ? [inputs, global] : [inputs];
}

/**
 * A value as JSON text, like `JSON.stringify`, except that `float()` numbers and the
 * elements of float arrays are written as floats (`1.0`): JavaScript has one number type,
 * Python and the host's schema have two.
 */
export function sampleJSON(value) {
  return writeJSON(value, false) ?? 'null';
}

function schemaOf(run) {
  if (typeof run !== 'function') throw new Error('a schema decorator needs the run function');
  if (!run[SCHEMA]) {
    Object.defineProperty(run, SCHEMA, {
      value: { parameters: [], output: undefined },
    });
  }
  return run[SCHEMA];
}

function witSampleOf(type) {
  if (type && typeof type.toWitSample === 'function') return type.toWitSample();
  return { tag: 'json', val: sampleJSON(type) };
}

function isFloatDtype(dtype) {
  return dtype === 'float64' || dtype === 'float32';
}

/** `value` as JSON text, or `undefined` where JSON.stringify would leave it out. */
function writeJSON(value, floats) {
  if (value instanceof Float) return floatText(value.value);
  if (typeof value === 'number') return floats ? floatText(value) : JSON.stringify(value);
  if (typeof value === 'string' || typeof value === 'boolean' || value === null) {
    return JSON.stringify(value);
  }
  if (typeof value === 'bigint') throw new TypeError('a BigInt is not JSON');
  if (value === undefined || typeof value === 'function' || typeof value === 'symbol') {
    return undefined;
  }
  if (value instanceof StandardPythonParameterType) return writeJSON(value.sample, floats);
  if (value instanceof NumpyParameterType) return writeJSON(value.array, floats);
  if (value instanceof PandasParameterType) return writeJSON(value.frame, floats);
  if (value instanceof NDArray) return writeJSON(value.tolist(), isFloatDtype(value.dtype));
  if (value instanceof DataFrame) {
    const columns = value._columns.map((c) => [
      JSON.stringify(c.name),
      c.values.tolist(),
      isFloatDtype(c.values.dtype),
    ]);
    const rows = [];
    for (let i = 0; i < value.length; i++) {
      rows.push(`{${columns.map(([key, list, f]) => `${key}:${writeJSON(list[i], f)}`).join(',')}}`);
    }
    return `[${rows.join(',')}]`;
  }
  if (Array.isArray(value)) {
    return `[${value.map((v) => writeJSON(v, floats) ?? 'null').join(',')}]`;
  }
  if (typeof value.toJSON === 'function') return writeJSON(value.toJSON(), floats);
  const members = [];
  for (const [key, v] of Object.entries(value)) {
    const text = writeJSON(v, floats);
    if (text !== undefined) members.push(`${JSON.stringify(key)}:${text}`);
  }
  return `{${members.join(',')}}`;
}

/** A number written as a float: `1.0` for an integral value. */
function floatText(n) {
  if (!Number.isFinite(n)) return 'null';
  return Number.isInteger(n) && !Object.is(n, -0) ? `${n}.0` : JSON.stringify(n);
}

/** Little-endian writers of each numeric dtype. */
const WRITERS = {
  float64: [8, (v, i, x) => v.setFloat64(i, x, true)],
  float32: [4, (v, i, x) => v.setFloat32(i, x, true)],
  int64: [8, (v, i, x) => v.setBigInt64(i, BigInt(Math.trunc(x)), true)],
  int32: [4, (v, i, x) => v.setInt32(i, x, true)],
  int16: [2, (v, i, x) => v.setInt16(i, x, true)],
  int8: [1, (v, i, x) => v.setInt8(i, x)],
  uint64: [8, (v, i, x) => v.setBigUint64(i, BigInt(Math.trunc(x)), true)],
  uint32: [4, (v, i, x) => v.setUint32(i, x, true)],
  uint16: [2, (v, i, x) => v.setUint16(i, x, true)],
  uint8: [1, (v, i, x) => v.setUint8(i, x)],
  bool: [1, (v, i, x) => v.setUint8(i, x ? 1 : 0)],
};

/** An NDArray as a WIT `tensor`. */
function tensorToWit(array) {
  const shape = BigUint64Array.from(array.shape, (n) => BigInt(n));
  if (array.dtype === 'str') {
    return { dtype: 'str', shape, elements: { tag: 'strings', val: array.data.map(String) } };
  }
  const writer = WRITERS[array.dtype];
  if (!writer) throw new Error(`unknown dtype '${array.dtype}'`);
  const [width, write] = writer;
  const bytes = new Uint8Array(array.data.length * width);
  const view = new DataView(bytes.buffer);
  array.data.forEach((x, i) => write(view, i * width, Number(x)));
  return { dtype: array.dtype, shape, elements: { tag: 'bytes', val: bytes } };
}
