// The pure parts of 'scorehost-guest/onnxruntime' (no WIT imports, so node's tests load
// them): onnxruntime-node's `Tensor`, the input checks, and a reader of the inputs and outputs
// an ONNX model file declares (`wasi:nn` has no call that describes a graph).

import { BadInput } from './errors.js';

/** An input does not fit the model (onnxruntime's invalid argument): the client gets 400. */
export class InvalidArgument extends BadInput {
  constructor(message) {
    super(message);
    this.name = 'InvalidArgument';
  }
}

/** onnxruntime-node's tensor types -> [typed array, ONNX element name]. */
export const TENSOR_TYPES = {
  float32: [Float32Array, 'float'],
  float64: [Float64Array, 'double'],
  int64: [BigInt64Array, 'int64'],
  int32: [Int32Array, 'int32'],
  uint8: [Uint8Array, 'uint8'],
  bool: [Uint8Array, 'bool'],
  int8: [Int8Array, 'int8'],
  int16: [Int16Array, 'int16'],
  uint16: [Uint16Array, 'uint16'],
  uint32: [Uint32Array, 'uint32'],
  uint64: [BigUint64Array, 'uint64'],
};
/** ONNX element name -> onnxruntime-node's tensor type. */
export const TYPE_OF_ELEM = Object.fromEntries(Object.entries(TENSOR_TYPES).map(([t, [, e]]) => [e, t]));

/**
 * onnxruntime-node's `Tensor`: `new Tensor(type, data, dims)` (or `new Tensor(data, dims)`
 * with a typed array), with `type`, `data` (a typed array), `dims` and `size`.
 */
export class Tensor {
  constructor(typeOrData, dataOrDims, maybeDims) {
    let type, data, dims;
    if (typeof typeOrData === 'string') {
      [type, data, dims] = [typeOrData, dataOrDims, maybeDims];
    } else {
      [data, dims] = [typeOrData, dataOrDims];
      type = Object.entries(TENSOR_TYPES).find(([, [View]]) => data instanceof View)?.[0];
      if (type === undefined) throw new TypeError('Tensor: give the type, e.g. new Tensor("float32", data, dims)');
    }
    const entry = TENSOR_TYPES[type];
    if (entry === undefined) throw new TypeError(`Tensor: unsupported type '${type}'`);
    const [View] = entry;
    if (!(data instanceof View)) {
      if (!Array.isArray(data)) throw new TypeError(`Tensor: data of a ${type} tensor must be a ${View.name} or an Array`);
      data =
        View === BigInt64Array || View === BigUint64Array
          ? View.from(data, (v) => BigInt(v))
          : View.from(data, (v) => (type === 'bool' ? (v ? 1 : 0) : v));
    }
    dims = dims === undefined ? [data.length] : Array.from(dims, Number);
    const size = dims.reduce((a, b) => a * b, 1);
    if (size !== data.length) {
      throw new RangeError(`Tensor: dims [${dims}] hold ${size} elements, the data has ${data.length}`);
    }
    this.type = type;
    this.data = data;
    this.dims = dims;
    this.size = size;
  }

  /** The elements as nested Arrays of Numbers (64-bit integers too) or booleans, by `dims`. */
  toNested() {
    const flat = Array.from(this.data, this.type === 'bool' ? (v) => v !== 0 : Number);
    const nest = (offset, axis) => {
      if (axis === this.dims.length) return flat[offset];
      const stride = this.dims.slice(axis + 1).reduce((a, b) => a * b, 1);
      return Array.from({ length: this.dims[axis] }, (_, i) => nest(offset + i * stride, axis + 1));
    };
    return nest(0, 0);
  }
}

/** Checks a feed's tensor against the model's input as onnxruntime does; names the input. */
export function checkInput(info, value) {
  if (!(value instanceof Tensor)) {
    throw new InvalidArgument(`input '${info.name}' must be a Tensor`);
  }
  const expected = TYPE_OF_ELEM[info.elemType];
  if (value.type !== expected) {
    throw new InvalidArgument(
      `Unexpected input data type for input: ${info.name}. Actual: (tensor(${TENSOR_TYPES[value.type][1]})) , expected: (${info.type})`,
    );
  }
  if (info.shape !== null) {
    if (value.dims.length !== info.shape.length) {
      throw new InvalidArgument(
        `Invalid rank for input: ${info.name} Got: ${value.dims.length} Expected: ${info.shape.length} Please fix either the inputs or the model.`,
      );
    }
    const wrong = [];
    info.shape.forEach((want, i) => {
      if (typeof want === 'number' && want >= 0 && value.dims[i] !== want) {
        wrong.push(`index: ${i} Got: ${value.dims[i]} Expected: ${want}`);
      }
    });
    if (wrong.length) {
      throw new InvalidArgument(
        `Got invalid dimensions for input: ${info.name} for the following indices ${wrong.join('; ')} Please fix either the inputs or the model.`,
      );
    }
  }
}

// ---- The model file's graph inputs and outputs (protobuf wire format) ----------------------

/** TensorProto.DataType -> the name onnxruntime writes inside `tensor(...)`. */
const ELEMENT_TYPES = [
  undefined, 'float', 'uint8', 'int8', 'uint16', 'int16', 'int32', 'int64', 'string', 'bool',
  'float16', 'double', 'uint32', 'uint64', 'complex64', 'complex128', 'bfloat16',
];

/** Each field of the message in `bytes[start, end)`: `[number, wire, value]`. */
function* fields(bytes, start, end) {
  let pos = start;
  const varint = () => {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (pos >= end) throw new Error('truncated protobuf varint');
      const byte = bytes[pos++];
      result |= BigInt(byte & 0x7f) << shift;
      if (byte < 0x80) return result;
      shift += 7n;
      if (shift > 70n) throw new Error('malformed protobuf varint');
    }
  };
  while (pos < end) {
    const key = Number(varint());
    const [number, wire] = [key >>> 3, key & 7];
    let value;
    if (wire === 0) value = varint();
    else if (wire === 2) {
      const length = Number(varint());
      value = [pos, pos + length];
      pos += length;
    } else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else throw new Error(`unsupported protobuf wire type ${wire}`);
    if (pos > end) throw new Error('truncated protobuf message');
    yield [number, wire, value];
  }
}

const text = (bytes, [s, e]) => new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(s, e));

function dimension(bytes, [s, e]) {
  let value = null;
  let param = null;
  for (const [n, w, v] of fields(bytes, s, e)) {
    if (n === 1 && w === 0) value = Number(BigInt.asIntN(64, v));
    else if (n === 2 && w === 2) param = text(bytes, v);
  }
  return value ?? (param || null);
}

function typeOf(bytes, [s, e]) {
  for (const [n, w, v] of fields(bytes, s, e)) {
    if (n === 1 && w === 2) {
      let elem;
      let shape = null;
      for (const [tn, tw, tv] of fields(bytes, ...v)) {
        if (tn === 1 && tw === 0) elem = ELEMENT_TYPES[Number(tv)] ?? `unknown(${tv})`;
        else if (tn === 2 && tw === 2) {
          shape = [];
          for (const [dn, dw, dv] of fields(bytes, ...tv)) if (dn === 1 && dw === 2) shape.push(dimension(bytes, dv));
        }
      }
      return { type: `tensor(${elem})`, elemType: elem, shape };
    }
    if (w === 2 && (n === 4 || n === 5 || n === 8 || n === 9)) {
      const kind = { 4: 'seq', 5: 'map', 8: 'sparse_tensor', 9: 'optional' }[n];
      return { type: `${kind}(...)`, elemType: null, shape: null };
    }
  }
  return { type: 'unknown', elemType: null, shape: null };
}

function valueInfo(bytes, [s, e]) {
  let info = { name: '', type: 'unknown', elemType: null, shape: null };
  let name = '';
  for (const [n, w, v] of fields(bytes, s, e)) {
    if (n === 1 && w === 2) name = text(bytes, v);
    else if (n === 2 && w === 2) info = typeOf(bytes, v);
  }
  return { ...info, name };
}

/**
 * The graph's inputs (weights that models of IR version < 4 list as inputs left out, as
 * onnxruntime leaves them out) and outputs: `{name, type, elemType, shape}` each, `type` in
 * onnxruntime's spelling ('tensor(float)'), `shape` with a number per fixed dimension, a name
 * per symbolic one, `null` for an unknown one.
 */
export function graphSignature(bytes) {
  let graph;
  for (const [n, w, v] of fields(bytes, 0, bytes.length)) if (n === 7 && w === 2) graph = v;
  if (graph === undefined) throw new Error('no graph in the model');
  const inputs = [];
  const outputs = [];
  const weights = new Set();
  for (const [n, w, v] of fields(bytes, ...graph)) {
    if (w !== 2) continue;
    if (n === 11) inputs.push(valueInfo(bytes, v));
    else if (n === 12) outputs.push(valueInfo(bytes, v));
    else if (n === 5) {
      for (const [tn, tw, tv] of fields(bytes, ...v)) if (tn === 8 && tw === 2) weights.add(text(bytes, tv));
    }
  }
  return { inputs: inputs.filter((i) => !weights.has(i.name)), outputs };
}
