// Unit tests of 'scorehost-guest/onnxruntime''s pure parts (src/onnx.js): onnxruntime-node's
// Tensor, the input checks, and the reader of a model file's inputs and outputs. The wasi:nn
// calls are tested end to end through the server (tests/all/onnx_python.rs).

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { BadInput } from '../src/errors.js';
import { checkInput, graphSignature, InvalidArgument, Tensor } from '../src/onnx.js';

// A protobuf encoder for the few ONNX messages these tests need.
const varint = (n) => {
  const out = [];
  let v = BigInt.asUintN(64, BigInt(n));
  do {
    const byte = Number(v & 0x7fn);
    v >>= 7n;
    out.push(v ? byte | 0x80 : byte);
  } while (v);
  return out;
};
const field = (number, value) =>
  typeof value === 'number'
    ? [...varint(number << 3), ...varint(value)]
    : (() => {
        const bytes = typeof value === 'string' ? [...new TextEncoder().encode(value)] : value;
        return [...varint((number << 3) | 2), ...varint(bytes.length), ...bytes];
      })();
const valueInfo = (name, elem, dims) => {
  const shape = dims.flatMap((d) =>
    field(1, typeof d === 'number' ? field(1, d) : typeof d === 'string' ? field(2, d) : []),
  );
  return [...field(1, name), ...field(2, field(1, [...field(1, elem), ...field(2, shape)]))];
};
const model = (inputs, outputs, weights = []) => {
  const graph = [
    ...weights.flatMap((w) => field(5, [...field(1, 1), ...field(2, 1), ...field(8, w)])),
    ...inputs.flatMap((i) => field(11, valueInfo(...i))),
    ...outputs.flatMap((o) => field(12, valueInfo(...o))),
  ];
  return new Uint8Array([...field(1, 8), ...field(7, graph)]);
};

test('the signature lists inputs without weights, with types and shapes as onnxruntime has them', () => {
  const { inputs, outputs } = graphSignature(
    model([['x', 1, ['batch', 4]], ['w', 1, [1]]], [['label', 7, [null]], ['mask', 9, ['batch', 4]]], ['w']),
  );
  assert.deepEqual(
    inputs.map((i) => [i.name, i.type, i.shape]),
    [['x', 'tensor(float)', ['batch', 4]]],
  );
  assert.deepEqual(
    outputs.map((o) => [o.name, o.type, o.shape]),
    [['label', 'tensor(int64)', [null]], ['mask', 'tensor(bool)', ['batch', 4]]],
  );
  assert.throws(() => graphSignature(new TextEncoder().encode('not a model at all')), /wire type/);
  assert.throws(() => graphSignature(new Uint8Array([0x3a, 0xff])), /truncated/);
});

test('a Tensor takes its type, typed array or list, and dims, as onnxruntime-node does', () => {
  const t = new Tensor('float32', [1, 2.5, 3, 4], [2, 2]);
  assert.ok(t.data instanceof Float32Array);
  assert.deepEqual(t.dims, [2, 2]);
  assert.equal(t.size, 4);
  assert.deepEqual(t.toNested(), [[1, 2.5], [3, 4]]);
  const ints = new Tensor(BigInt64Array.from([1n, 2n]), [2]);
  assert.equal(ints.type, 'int64');
  assert.deepEqual(ints.toNested(), [1, 2]);
  assert.deepEqual(new Tensor('bool', [true, false], [2]).toNested(), [true, false]);
  assert.throws(() => new Tensor('float32', [1, 2, 3], [2, 2]), RangeError);
  assert.throws(() => new Tensor('complex64', [1], [1]), TypeError);
});

test('a feed of the wrong type, rank or size is an InvalidArgument naming the input', () => {
  const info = { name: 'X', type: 'tensor(float)', elemType: 'float', shape: [null, 4] };
  checkInput(info, new Tensor('float32', new Float32Array(8), [2, 4]));
  const cases = [
    [new Tensor('float64', new Float64Array(4), [1, 4]), /Unexpected input data type for input: X\. Actual: \(tensor\(double\)\)/],
    [new Tensor('float32', new Float32Array(3), [1, 3]), /invalid dimensions for input: X .*index: 1 Got: 3 Expected: 4/],
    [new Tensor('float32', new Float32Array(4), [4]), /Invalid rank for input: X Got: 1 Expected: 2/],
    [[1, 2, 3, 4], /input 'X' must be a Tensor/],
  ];
  for (const [value, message] of cases) {
    assert.throws(() => checkInput(info, value), (e) => e instanceof InvalidArgument && e instanceof BadInput && message.test(e.message));
  }
});
