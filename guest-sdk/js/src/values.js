// Input values as a script sees them: a small numpy-like array, a small pandas-like frame,
// and plain JSON values, decoded from what the host sends (wit/scorehost.wit, `param`).

import { BadInput } from './errors.js';

/**
 * How each numeric dtype's little-endian bytes are viewed: Wasm is little-endian, so a typed
 * array over the bytes reads them directly (far cheaper in the guest's interpreter than a
 * DataView call per element). 64-bit integers become Numbers, exact up to 2^53 (as the Rust
 * SDK's f64); booleans become `true`/`false`.
 */
const VIEWS = {
  float64: Float64Array,
  float32: Float32Array,
  int64: BigInt64Array,
  int32: Int32Array,
  int16: Int16Array,
  int8: Int8Array,
  uint64: BigUint64Array,
  uint32: Uint32Array,
  uint16: Uint16Array,
  uint8: Uint8Array,
  bool: Uint8Array,
};

/**
 * An n-dimensional array, like a numpy `ndarray`: `dtype`, `shape`, and the elements in
 * row-major order in `data` (Numbers, booleans or strings). Iterating gives the rows.
 */
export class NDArray {
  constructor(data, shape, dtype) {
    const count = shape.reduce((a, b) => a * b, 1);
    if (count !== data.length) {
      throw new Error(`shape [${shape}] needs ${count} elements, got ${data.length}`);
    }
    /** The elements, row after row: an Array, or a typed array for numeric dtypes. */
    this.data = data;
    /** The length of each axis. */
    this.shape = shape;
    /** The numpy name of the element type (`float64`, `int64`, `bool`, `str`, ...). */
    this.dtype = dtype;
  }

  /** The number of axes. */
  get ndim() {
    return this.shape.length;
  }

  /** The number of elements. */
  get size() {
    return this.data.length;
  }

  /** The length of the first axis, as `len()` of a numpy array. */
  get length() {
    return this.shape.length === 0 ? 0 : this.shape[0];
  }

  /** The array as nested lists, like numpy's `tolist()`. */
  tolist() {
    if (this.shape.length === 0) return this.data[0];
    return nest(this.data, this.shape, 0, 0);
  }

  /** Row `i` of the first axis: a sub-array, or an element for a one-dimensional array. */
  row(i) {
    if (this.shape.length === 0) throw new Error('a 0-dimensional array has no rows');
    const [n, ...rest] = this.shape;
    const index = i < 0 ? n + i : i;
    if (!(index >= 0 && index < n)) throw new RangeError(`index ${i} out of range for ${n} rows`);
    if (rest.length === 0) return this.data[index];
    const width = rest.reduce((a, b) => a * b, 1);
    const [start, end] = [index * width, (index + 1) * width];
    // A typed array's row is a view (no copy), as numpy's is.
    const data = ArrayBuffer.isView(this.data) ? this.data.subarray(start, end) : this.data.slice(start, end);
    return new NDArray(data, rest, this.dtype);
  }

  *[Symbol.iterator]() {
    for (let i = 0; i < this.length; i++) yield this.row(i);
  }

  /** `JSON.stringify` writes the nested lists. */
  toJSON() {
    return this.tolist();
  }

  /** Builds an array from nested lists; the dtype is inferred as numpy does unless given. */
  static from(nested, dtype = undefined) {
    const shape = [];
    for (let level = nested; Array.isArray(level); level = level[0]) shape.push(level.length);
    const leaves = [];
    flatten(nested, shape, 0, leaves, []);
    return new NDArray(leaves.map(plain), shape, dtype ?? inferDtype(leaves));
  }
}

/**
 * A table, like a pandas `DataFrame`: named columns of equal length. `frame.get('age')`
 * (or `frame.column('age')`) is a column as an NDArray; `records()` gives the rows as objects.
 */
export class DataFrame {
  constructor(columns) {
    /** The columns, in order: `{ name, values: NDArray }`. */
    this._columns = columns;
  }

  /** The column names, in order (pandas' `df.columns`). */
  get columns() {
    return this._columns.map((c) => c.name);
  }

  /** Each column's dtype, by name (pandas' `df.dtypes`). */
  get dtypes() {
    return Object.fromEntries(this._columns.map((c) => [c.name, c.values.dtype]));
  }

  /** The number of rows. */
  get length() {
    return this._columns.length === 0 ? 0 : this._columns[0].values.length;
  }

  /** The column called `name` as an NDArray (`df[name]`); throws BadInput when missing. */
  column(name) {
    const found = this._columns.find((c) => c.name === name);
    if (!found) throw new BadInput(`the frame has no column '${name}'`);
    return found.values;
  }

  /** The values of column `name` as a list. */
  get(name) {
    return this.column(name).tolist();
  }

  /** The rows as objects, `[{col: value, ...}, ...]` (pandas' `orient='records'`). */
  records() {
    const lists = this._columns.map((c) => [c.name, c.values.tolist()]);
    const rows = [];
    for (let i = 0; i < this.length; i++) {
      rows.push(Object.fromEntries(lists.map(([name, values]) => [name, values[i]])));
    }
    return rows;
  }

  *[Symbol.iterator]() {
    yield* this.records();
  }

  toJSON() {
    return this.records();
  }

  /** Builds a frame from columns `{name: [values], ...}`, dtypes inferred as pandas does. */
  static fromColumns(columns, dtypes = {}) {
    return new DataFrame(
      Object.entries(columns).map(([name, values]) => ({
        name,
        values: new NDArray(
          Array.from(values, plain),
          [values.length],
          dtypes[name] ?? inferDtype([...values]),
        ),
      })),
    );
  }

  /** Builds a frame from rows `[{col: value, ...}, ...]`; columns in first-seen order. */
  static fromRecords(records, dtypes = {}) {
    const names = [];
    for (const record of records) {
      for (const name of Object.keys(record)) if (!names.includes(name)) names.push(name);
    }
    return DataFrame.fromColumns(
      Object.fromEntries(names.map((n) => [n, records.map((r) => r[n])])),
      dtypes,
    );
  }
}

/**
 * A number meant as a float even when it is integral, like Python's `1.0`: JavaScript has one
 * number type, so `float(1)` tells samples and results to write `1.0`. See `float()`.
 */
export class Float {
  constructor(value) {
    this.value = Number(value);
  }

  valueOf() {
    return this.value;
  }
}

/** `float(1)` is the Python float `1.0`: written `1.0` in samples and results (see README). */
export function float(value) {
  return new Float(value);
}

/**
 * The dtype numpy would pick for these values: int64 for integers (as on Linux), float64 when
 * any is fractional or written with `float()`, bool, or str.
 */
export function inferDtype(values) {
  if (values.length === 0) return 'float64';
  if (values.every((v) => typeof v === 'boolean')) return 'bool';
  if (values.every((v) => typeof v === 'string')) return 'str';
  if (values.every((v) => typeof v === 'number' && Number.isInteger(v))) return 'int64';
  if (values.every((v) => typeof v === 'number' || v instanceof Float)) return 'float64';
  throw new Error(`cannot infer one dtype for the values ${JSON.stringify(values)}`);
}

/** Decodes a WIT `tensor` into an NDArray. */
export function tensorFromWit(tensor) {
  const shape = Array.from(tensor.shape, Number);
  const { tag, val } = tensor.elements;
  if (tag === 'strings') return new NDArray(val, shape, tensor.dtype);
  const View = VIEWS[tensor.dtype];
  if (!View) throw new Error(`the host sent dtype ${tensor.dtype} as bytes`);
  const width = View.BYTES_PER_ELEMENT;
  if (val.byteLength % width !== 0) {
    throw new Error(`the host sent ${val.byteLength} bytes for ${tensor.dtype} elements`);
  }
  // A view needs an aligned offset; the bindings hand over a fresh buffer, but copy if not.
  const bytes = val.byteOffset % width === 0 ? val : val.slice();
  const view = new View(bytes.buffer, bytes.byteOffset, bytes.byteLength / width);
  let data = view;
  if (tensor.dtype === 'int64' || tensor.dtype === 'uint64') data = Array.from(view, Number);
  else if (tensor.dtype === 'bool') data = Array.from(view, (b) => b !== 0);
  return new NDArray(data, shape, tensor.dtype);
}

/** Decodes a WIT `param`: tensor → NDArray, frame → DataFrame, json → the parsed value. */
export function paramFromWit(param) {
  switch (param.tag) {
    case 'tensor':
      return tensorFromWit(param.val);
    case 'frame':
      return new DataFrame(
        param.val.columns.map((c) => ({ name: c.name, values: tensorFromWit(c.values) })),
      );
    case 'json':
      try {
        return JSON.parse(param.val);
      } catch (e) {
        throw new Error(`the host sent invalid JSON: ${e.message}`);
      }
    default:
      throw new Error(`the host sent an unknown kind of value: ${param.tag}`);
  }
}

/** A `float()` marker as its Number; anything else as it is. */
function plain(v) {
  return v instanceof Float ? v.value : v;
}

function nest(data, shape, axis, offset) {
  const n = shape[axis];
  if (axis === shape.length - 1) return Array.from(data.slice(offset, offset + n));
  const width = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const out = new Array(n);
  for (let i = 0; i < n; i++) out[i] = nest(data, shape, axis + 1, offset + i * width);
  return out;
}

function flatten(level, shape, axis, out, path) {
  if (axis === shape.length) {
    if (Array.isArray(level)) throw new Error(`[${path}] has more dimensions than [0]`);
    out.push(level);
    return;
  }
  if (!Array.isArray(level) || level.length !== shape[axis]) {
    throw new Error(`[${path}] does not have the length ${shape[axis]} of the rows before it`);
  }
  level.forEach((item, i) => flatten(item, shape, axis + 1, out, [...path, i]));
}
