// Unit tests of the SDK's pure parts (no WIT imports), run by node: `node --test test/`.
// The examples in plugins/js are tested end to end through the server (tests/all/js.rs).

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import { BadInput } from '../src/errors.js';
import { unpackArguments } from '../src/packed.js';
import { AMLResponse, rawhttp } from '../src/request.js';
import {
  batchable,
  inputSchema,
  NumpyParameterType,
  outputSchema,
  PandasParameterType,
  sampleJSON,
  StandardPythonParameterType,
} from '../src/samples.js';
import { DataFrame, float, NDArray, paramFromWit, tensorFromWit } from '../src/values.js';
import { rawScorerExports, scorerExports } from '../src/world.js';

const hex = (bytes) => Buffer.from(bytes).toString('hex');

// The host's side of `arguments(list<u8>)` (wit/scorehost.wit), written from the grammar
// there so the tests can hand `run` the buffer it now gets.
const DTYPES = [
  'float64', 'float32', 'int64', 'int32', 'int16', 'int8',
  'uint64', 'uint32', 'uint16', 'uint8', 'bool', 'str',
];
function packArguments(args) {
  const out = [];
  const u8 = (n) => out.push(n);
  const u32 = (n) => {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, n, true);
    out.push(...b);
  };
  const u64 = (n) => {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, BigInt(n), true);
    out.push(...b);
  };
  const str = (s) => {
    const b = new TextEncoder().encode(s);
    u32(b.length);
    out.push(...b);
  };
  const tensor = ({ dtype, shape, elements }) => {
    u8(DTYPES.indexOf(dtype));
    u32(shape.length);
    for (const d of shape) u64(d);
    if (elements.tag === 'bytes') {
      u8(0);
      u32(elements.val.length);
      out.push(...elements.val);
    } else {
      u8(1);
      u32(elements.val.length);
      elements.val.forEach(str);
    }
  };
  const param = ({ tag, val }) => {
    if (tag === 'tensor') {
      u8(0);
      tensor(val);
    } else if (tag === 'frame') {
      u8(1);
      u32(val.columns.length);
      for (const c of val.columns) {
        str(c.name);
        tensor(c.values);
      }
    } else {
      u8(2);
      str(val);
    }
  };
  u32(args.length);
  for (const { name, value } of args) {
    str(name);
    if (value.tag === 'value') {
      u8(0);
      param(value.val);
    } else {
      u8(1);
      u32(value.val.length);
      for (const entry of value.val) {
        str(entry.name);
        param(entry.value);
      }
    }
  }
  return new Uint8Array(out);
}

/** A little-endian tensor of 8-byte elements, as the host sends float64 and int64 values. */
function tensorOf(dtype, shape, values) {
  const bytes = new Uint8Array(values.length * 8);
  const view = new DataView(bytes.buffer);
  values.forEach((x, i) =>
    dtype === 'int64' ? view.setBigInt64(i * 8, BigInt(x), true) : view.setFloat64(i * 8, x, true),
  );
  return { dtype, shape: BigUint64Array.from(shape, BigInt), elements: { tag: 'bytes', val: bytes } };
}

/** A `str` tensor. */
function stringsOf(shape, values) {
  return { dtype: 'str', shape: BigUint64Array.from(shape, BigInt), elements: { tag: 'strings', val: values } };
}

/** The Power BI request: Inputs { input1 [2,10] float64, input2 frame, input3 0.0 }, GlobalParameters 1.0. */
function powerBiArguments() {
  const input1 = tensorOf('float64', [2, 10], Array.from({ length: 20 }, (_, i) => i / 2));
  const input2 = {
    columns: [
      { name: 'name', values: stringsOf([2], ['Sarah', 'John']) },
      { name: 'age', values: tensorOf('int64', [2], [25, 26]) },
    ],
  };
  return [
    {
      name: 'Inputs',
      value: {
        tag: 'group',
        val: [
          { name: 'input1', value: { tag: 'tensor', val: input1 } },
          { name: 'input2', value: { tag: 'frame', val: input2 } },
          { name: 'input3', value: { tag: 'json', val: '0.0' } },
        ],
      },
    },
    { name: 'GlobalParameters', value: { tag: 'value', val: { tag: 'json', val: '1.0' } } },
  ];
}

test('packed arguments unpack into the objects the bindings gave for list<named-argument>', () => {
  const value = (name, tensor) => ({ name, value: { tag: 'value', val: { tag: 'tensor', val: tensor } } });
  const args = [
    value('data', tensorOf('float64', [2, 3], [1, 2, 3, 4, 5, 6.5])),
    // A leading U+FEFF is part of the string, not a byte-order mark to drop.
    value('words', stringsOf([3], ['a', '', '\ufeffh\u00e9'])),
    ...powerBiArguments(),
  ];
  const unpacked = unpackArguments(packArguments(args));
  assert.deepEqual(unpacked, args);
  // Each element buffer is its own copy, so a typed array can view it at offset 0.
  const bytes = unpacked[0].value.val.val.elements.val;
  assert.equal(bytes.byteOffset, 0);
  assert.equal(bytes.buffer.byteLength, 48);
  assert.ok(unpacked[0].value.val.val.shape instanceof BigUint64Array);
  assert.deepEqual(paramFromWit(unpacked[0].value.val).tolist(), [[1, 2, 3], [4, 5, 6.5]]);
  const frame = paramFromWit(unpacked[2].value.val[1].value);
  assert.deepEqual(frame.records(), [{ name: 'Sarah', age: 25 }, { name: 'John', age: 26 }]);

  assert.deepEqual(unpackArguments(new Uint8Array([0, 0, 0, 0])), []);
  // A buffer that starts inside a larger one, as a view may.
  const inner = packArguments(args);
  const outer = new Uint8Array(inner.length + 3);
  outer.set(inner, 3);
  assert.deepEqual(unpackArguments(outer.subarray(3)), args);
});

// The golden vectors of the packed layout, shared by the tests of all four codecs.
const VECTORS = JSON.parse(
  readFileSync(new URL('../../../wit/packed-vectors.json', import.meta.url), 'utf8'),
);
const fromHex = (text) => new Uint8Array(Buffer.from(text, 'hex'));

/** Unpacked arguments in the vectors' neutral form (their `form` says how). */
function neutral(args) {
  const tensor = ({ dtype, shape, elements }) => ({
    dtype,
    shape: Array.from(shape, Number),
    ...(elements.tag === 'bytes' ? { bytes: hex(elements.val) } : { strings: elements.val }),
  });
  const param = ({ tag, val }) => {
    if (tag === 'tensor') return { tensor: tensor(val) };
    if (tag === 'frame') {
      return { frame: val.columns.map((c) => ({ name: c.name, tensor: tensor(c.values) })) };
    }
    return { json: val };
  };
  return args.map(({ name, value }) =>
    value.tag === 'value'
      ? { name, value: param(value.val) }
      : { name, group: value.val.map((e) => ({ name: e.name, param: param(e.value) })) },
  );
}

/** A vector's neutral arguments in the bindings' shape, which `packArguments` takes. */
function witArguments(args) {
  const tensor = ({ dtype, shape, bytes, strings }) => ({
    dtype,
    shape,
    elements: bytes !== undefined ? { tag: 'bytes', val: [...fromHex(bytes)] } : { tag: 'strings', val: strings },
  });
  const param = (p) => {
    if (p.tensor) return { tag: 'tensor', val: tensor(p.tensor) };
    if (p.frame) {
      return { tag: 'frame', val: { columns: p.frame.map((c) => ({ name: c.name, values: tensor(c.tensor) })) } };
    }
    return { tag: 'json', val: p.json };
  };
  return args.map((a) => ({
    name: a.name,
    value: a.value
      ? { tag: 'value', val: param(a.value) }
      : { tag: 'group', val: a.group.map((e) => ({ name: e.name, value: param(e.param) })) },
  }));
}

test('every golden vector unpacks to its arguments, and the test packer writes its bytes', () => {
  for (const c of VECTORS.cases) {
    assert.deepEqual(neutral(unpackArguments(fromHex(c.packed))), c.arguments, c.name);
    assert.equal(hex(packArguments(witArguments(c.arguments))), c.packed, c.name);
  }
  for (const c of VECTORS.malformed) {
    assert.throws(() => unpackArguments(fromHex(c.packed)), (e) => e.message.startsWith('packed arguments:') && e.message.includes(c.error), c.name);
  }
});

test('a malformed packed buffer throws a packed-arguments Error', () => {
  const packed = packArguments(powerBiArguments());
  const cases = [
    [new Uint8Array(), /truncated/],
    [packed.subarray(0, packed.length - 1), /truncated/],
    [packed.subarray(0, 40), /truncated/],
    [new Uint8Array([...packed, 0]), /1 bytes left over/],
    // One argument named "x" whose argument tag is 7.
    [new Uint8Array([1, 0, 0, 0, 1, 0, 0, 0, 120, 7]), /unknown argument tag 7 at byte 9/],
    // ... a value whose param tag is 3.
    [new Uint8Array([1, 0, 0, 0, 1, 0, 0, 0, 120, 0, 3]), /unknown param tag 3/],
    // ... a tensor of dtype 12.
    [new Uint8Array([1, 0, 0, 0, 1, 0, 0, 0, 120, 0, 0, 12]), /unknown dtype 12/],
    // ... a 0-d float64 tensor whose elements tag is 2.
    [new Uint8Array([1, 0, 0, 0, 1, 0, 0, 0, 120, 0, 0, 0, 0, 0, 0, 0, 2]), /unknown elements tag 2/],
    // ... a tensor claiming 2^32 - 1 axes.
    [new Uint8Array([1, 0, 0, 0, 1, 0, 0, 0, 120, 0, 0, 0, 255, 255, 255, 255]), /truncated/],
    // A name that is not UTF-8.
    [new Uint8Array([1, 0, 0, 0, 1, 0, 0, 0, 0xff]), /invalid UTF-8/],
  ];
  for (const [bytes, message] of cases) {
    assert.throws(
      () => unpackArguments(bytes),
      (e) => e.constructor === Error && e.message.startsWith('packed arguments: ') && message.test(e.message),
      message.source,
    );
  }
});

test('floats written with float() or in float arrays keep their .0', () => {
  assert.equal(sampleJSON(StandardPythonParameterType(float(0))), '0.0');
  assert.equal(sampleJSON({ Results: [float(1), 2.5, 3] }), '{"Results":[1.0,2.5,3]}');
  assert.equal(sampleJSON(NDArray.from([[1, 2]], 'float64')), '[[1.0,2.0]]');
  assert.equal(sampleJSON(NDArray.from([[1, 2]])), '[[1,2]]');
  assert.equal(sampleJSON('a "\u0001f:quoted" string'), '"a \\"\\u0001f:quoted\\" string"');
  assert.equal(sampleJSON(undefined), 'null');
  assert.equal(sampleJSON(['\u0001f:1', -0, NaN, undefined]), '["\\u0001f:1",0,null,null]');
  const frame = DataFrame.fromColumns({ x: [float(2)], n: ['a'] });
  assert.equal(sampleJSON({ a: undefined, b: () => 0, c: frame }), '{"c":[{"x":2.0,"n":"a"}]}');
  assert.throws(() => sampleJSON({ n: 1n }), TypeError);
});

test('a numpy sample becomes a little-endian tensor of its dtype', () => {
  const sample = NumpyParameterType([[1, 2], [3, 4]], { dtype: 'float64' }).toWitSample();
  assert.equal(sample.tag, 'tensor');
  assert.equal(sample.val.dtype, 'float64');
  assert.deepEqual([...sample.val.shape], [2n, 2n]);
  assert.equal(hex(sample.val.elements.val).slice(0, 16), '000000000000f03f');
  assert.equal(NumpyParameterType([1, 2]).array.dtype, 'int64');
  assert.equal(NumpyParameterType([true]).array.dtype, 'bool');
  assert.equal(new NumpyParameterType([0.5]).array.dtype, 'float64');
});

test('a pandas sample infers column dtypes as pandas does', () => {
  const sample = PandasParameterType({ name: ['Sarah', 'John'], age: [25, 26] }).toWitSample();
  const [name, age] = sample.val.frame.columns;
  assert.equal(sample.val.orient, 'records');
  assert.deepEqual(name.values.elements, { tag: 'strings', val: ['Sarah', 'John'] });
  assert.equal(age.values.dtype, 'int64');
  assert.equal(hex(age.values.elements.val), '19000000000000001a00000000000000');
  const records = PandasParameterType([{ x: float(1) }], { orient: 'split' }).toWitSample();
  assert.equal(records.val.frame.columns[0].values.dtype, 'float64');
  assert.equal(records.val.orient, 'split');
});

test('tensors of every dtype decode from little-endian bytes', () => {
  const cases = [
    ['float64', [0.1, -0], (v, i, x) => v.setFloat64(i, x, true), 8],
    ['float32', [0.5, -2], (v, i, x) => v.setFloat32(i, x, true), 4],
    ['int64', [-5, 2 ** 40], (v, i, x) => v.setBigInt64(i, BigInt(x), true), 8],
    ['uint64', [7, 2 ** 52], (v, i, x) => v.setBigUint64(i, BigInt(x), true), 8],
    ['int32', [-2147483648, 2147483647], (v, i, x) => v.setInt32(i, x, true), 4],
    ['uint32', [0, 4294967295], (v, i, x) => v.setUint32(i, x, true), 4],
    ['int16', [-32768, 1], (v, i, x) => v.setInt16(i, x, true), 2],
    ['uint16', [65535, 1], (v, i, x) => v.setUint16(i, x, true), 2],
    ['int8', [-128, 127], (v, i, x) => v.setInt8(i, x), 1],
    ['uint8', [255, 0], (v, i, x) => v.setUint8(i, x), 1],
  ];
  for (const [dtype, values, write, width] of cases) {
    const bytes = new Uint8Array(values.length * width);
    const view = new DataView(bytes.buffer);
    values.forEach((x, i) => write(view, i * width, x));
    const array = tensorFromWit({
      dtype,
      shape: new BigUint64Array([2n]),
      elements: { tag: 'bytes', val: bytes },
    });
    assert.deepEqual(array.tolist(), values, dtype);
    assert.equal(array.dtype, dtype);
  }
  const flags = tensorFromWit({
    dtype: 'bool',
    shape: [1n, 2n],
    elements: { tag: 'bytes', val: new Uint8Array([1, 0]) },
  });
  assert.deepEqual(flags.tolist(), [[true, false]]);
  assert.deepEqual(flags.shape, [1, 2]);
});

test('arrays iterate by rows and frames by records', () => {
  const array = NDArray.from([[1, 2, 3], [4, 5, 6]]);
  assert.deepEqual([...array].map((row) => row.tolist()), [[1, 2, 3], [4, 5, 6]]);
  assert.deepEqual(array.row(-1).data, [4, 5, 6]);
  assert.equal(array.size, 6);
  assert.throws(() => NDArray.from([[1, 2], [3]]), /length 2/);
  const frame = DataFrame.fromRecords([{ a: 1, b: 'x' }, { a: 2, b: 'y' }]);
  assert.deepEqual(frame.columns, ['a', 'b']);
  assert.deepEqual(frame.get('a'), [1, 2]);
  assert.deepEqual(frame.dtypes, { a: 'int64', b: 'str' });
  assert.deepEqual([...frame], [{ a: 1, b: 'x' }, { a: 2, b: 'y' }]);
  assert.throws(() => frame.column('c'), BadInput);
  assert.deepEqual(paramFromWit({ tag: 'json', val: '{"k":[1]}' }), { k: [1] });
});

test('the decorators make the WIT schema; GlobalParameters with a default are optional', () => {
  const run = inputSchema('Inputs', StandardPythonParameterType({ x: NumpyParameterType([[1.5]]) }))(
    inputSchema('GlobalParameters', StandardPythonParameterType(float(1)))(
      outputSchema(StandardPythonParameterType({ Results: [float(1)] }))(function (Inputs, GlobalParameters) {
        return { Inputs, GlobalParameters };
      }),
    ),
  );
  const exports = scorerExports({ run });
  const schema = exports.schema();
  assert.deepEqual(
    schema.parameters.map((p) => [p.name, p.kind.tag, p.required]),
    [['Inputs', 'group', true], ['GlobalParameters', 'value', true]],
  );
  assert.deepEqual(schema.parameters[0].kind.val.map((i) => [i.name, i.sample.tag]), [['x', 'tensor']]);
  assert.deepEqual(schema.parameters[1].kind.val, { tag: 'json', val: '1.0' });
  assert.equal(schema.output, '{"Results":[1.0]}');

  // Only GlobalParameters declared: still run(Inputs, GlobalParameters), Inputs an empty group.
  const optional = inputSchema('GlobalParameters', float(2))((Inputs, GlobalParameters = 2) => 0);
  assert.deepEqual(
    scorerExports({ run: optional }).schema().parameters.map((p) => [p.name, p.kind.tag, p.required]),
    [['Inputs', 'group', true], ['GlobalParameters', 'value', false]],
  );
  assert.equal(scorerExports({ run: () => 1 }).schema(), undefined);
});

test('top-level parameters of any name, positional in the decorators order, defaults optional', () => {
  const run = inputSchema('data', NumpyParameterType([[1.5, 2.5]]))(
    inputSchema('scale', StandardPythonParameterType(float(1)))((data, scale = 2) => ({
      rows: data.tolist(),
      scale,
    })),
  );
  const exports = scorerExports({ run });
  assert.deepEqual(
    exports.schema().parameters.map((p) => [p.name, p.kind.tag, p.required]),
    [['data', 'value', true], ['scale', 'value', false]],
  );
  const tensor = {
    tag: 'tensor',
    val: { dtype: 'uint8', shape: [1n, 2n], elements: { tag: 'bytes', val: new Uint8Array([3, 4]) } },
  };
  const input = { tag: 'arguments', val: packArguments([{ name: 'data', value: { tag: 'value', val: tensor } }]) };
  assert.deepEqual(exports.run(input), { tag: 'ok', val: '{"rows":[[3,4]],"scale":2}' });
});

test('batchable() sets the schema flag; it is off without it', () => {
  const plain = inputSchema('data', NumpyParameterType([[1.5]]))((data) => data.tolist());
  assert.equal(scorerExports({ run: plain }).schema().batchable, false);
  const run = batchable(inputSchema('data', NumpyParameterType([[1.5]]))((data) => data.tolist()));
  const schema = scorerExports({ run }).schema();
  assert.equal(schema.batchable, true);
  assert.deepEqual(schema.parameters.map((p) => p.name), ['data']);
});

test('an undecorated run gets the body text; null is an empty object', () => {
  const exports = scorerExports({ run: (rawData) => ({ got: rawData, type: typeof rawData }) });
  assert.equal(exports.schema(), undefined);
  assert.deepEqual(exports.run({ tag: 'text', val: '{"data": [1]}' }), {
    tag: 'ok',
    val: '{"got":"{\\"data\\": [1]}","type":"string"}',
  });
  assert.deepEqual(scorerExports({ run: () => null }).run({ tag: 'text', val: '' }), { tag: 'ok', val: '{}' });
});

test('run gets decoded values and its errors become run-errors', async () => {
  const run = inputSchema('Inputs', StandardPythonParameterType({ a: NumpyParameterType([1]), fail: 'x' }))(
    (Inputs, GlobalParameters = 'default') => {
      if (Inputs.fail === 'bad') throw new BadInput('no good');
      if (Inputs.fail === 'boom') throw new TypeError('x is undefined');
      if (Inputs.fail === 'async') return Promise.resolve({ later: true });
      if (Inputs.fail === 'bigint') return { n: 1n };
      return { got: Inputs.a.tolist(), GlobalParameters };
    },
  );
  const exports = scorerExports({ init() {}, run });
  assert.deepEqual(exports.init(), { tag: 'ok', val: undefined });
  const tensor = {
    tag: 'tensor',
    val: { dtype: 'uint8', shape: [2n], elements: { tag: 'bytes', val: new Uint8Array([3, 4]) } },
  };
  const inputs = (entries) => ({
    tag: 'arguments',
    val: packArguments([{ name: 'Inputs', value: { tag: 'group', val: entries } }]),
  });
  assert.deepEqual(exports.run(inputs([{ name: 'a', value: tensor }])), {
    tag: 'ok',
    val: '{"got":[3,4],"GlobalParameters":"default"}',
  });
  const json = (fail) => inputs([{ name: 'fail', value: { tag: 'json', val: JSON.stringify(fail) } }]);
  assert.deepEqual(exports.run(json('bad')), {
    tag: 'err',
    val: { tag: 'bad-input', val: 'no good' },
  });
  assert.deepEqual(exports.run(json('boom')), {
    tag: 'err',
    val: { tag: 'exception', val: 'TypeError: x is undefined' },
  });
  assert.deepEqual(await exports.run(json('async')), { tag: 'ok', val: '{"later":true}' });
  assert.equal(exports.run(json('bigint')).val.tag, 'exception');

  // A buffer the host packed wrong is an exception result, not a trap.
  const broken = exports.run({ tag: 'arguments', val: new Uint8Array([1, 0, 0]) });
  assert.equal(broken.val.tag, 'exception');
  assert.match(broken.val.val, /^Error: packed arguments: truncated/);

  const failing = scorerExports({ init: () => { throw new Error('no model'); }, run: () => 0 });
  assert.deepEqual(failing.init(), { tag: 'err', val: 'no model' });
});

test('raw scripts see a Flask-like request and answer with an AMLResponse', () => {
  const exports = rawScorerExports({
    run: rawhttp((request) => {
      if (request.method === 'GET') {
        const response = new AMLResponse(request.fullPath, 201);
        response.headers['X-Args'] = JSON.stringify(request.args);
        response.headers['X-Type'] = request.headers.get('Content-Type');
        return response;
      }
      if (request.method === 'PUT') return { json: request.files.image.filename };
      if (request.method === 'PATCH') throw new Error('nope');
      return request.getData(false);
    }),
  });
  const request = (method, extra = {}) => ({
    method,
    path: '/score',
    query: 'a=1&b=x%20y&a=2',
    headers: [['content-type', 'text/plain']],
    body: new Uint8Array([104, 105]),
    files: [],
    form: [],
    ...extra,
  });
  const get = exports.run(request('GET'));
  assert.equal(get.tag, 'ok');
  assert.equal(get.val.status, 201);
  assert.equal(new TextDecoder().decode(get.val.body), '/score?a=1&b=x%20y&a=2');
  assert.deepEqual(get.val.headers, [
    ['X-Args', '{"a":"1","b":"x y"}'],
    ['X-Type', 'text/plain'],
  ]);
  assert.deepEqual([...exports.run(request('POST')).val.body], [104, 105]);
  const file = { field: 'image', filename: 'a.png', contentType: 'image/png', data: new Uint8Array() };
  const put = exports.run(request('PUT', { files: [file] }));
  assert.deepEqual(put.val.headers, [['content-type', 'application/json']]);
  assert.equal(new TextDecoder().decode(put.val.body), '{"json":"a.png"}');
  assert.deepEqual(exports.run(request('PATCH')), { tag: 'err', val: 'nope' });
  assert.throws(() => rawScorerExports({ run: () => 0 }), /rawhttp/);
  assert.throws(() => scorerExports({ run: rawhttp(() => 0) }), /raw-scorer/);
});
