// The `arguments` case of `input` arrives as one byte buffer, not as WIT records: lowering
// every name, shape and element buffer as a list of its own cost the host a call into the
// guest's allocator apiece. This module reads the buffer back into the objects the bindings
// used to give for `list<named-argument>`, so the rest of the SDK (values.js, world.js) is
// unchanged. The layout is the grammar in wit/scorehost.wit, above `arguments(list<u8>)`.

/** The WIT `dtype` cases in declaration order: the packed byte is the index. */
const DTYPES = [
  'float64',
  'float32',
  'int64',
  'int32',
  'int16',
  'int8',
  'uint64',
  'uint32',
  'uint16',
  'uint8',
  'bool',
  'str',
];

// `fatal` so bad UTF-8 is an error rather than silently replaced characters; `ignoreBOM` so a
// string that starts with U+FEFF keeps it (by default the decoder would drop it).
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * The named arguments packed in `bytes` (a Uint8Array), as
 * `[{ name, value: { tag: 'value', val: param } | { tag: 'group', val: [{ name, value }] } }]`.
 * Throws an Error starting with `packed arguments:` when the buffer does not follow the layout.
 */
export function unpackArguments(bytes) {
  const reader = new Reader(bytes);
  const count = reader.u32();
  const args = [];
  for (let i = 0; i < count; i++) {
    const name = reader.str();
    args.push({ name, value: readArgument(reader) });
  }
  if (reader.pos !== bytes.byteLength) {
    throw malformed(`${bytes.byteLength - reader.pos} bytes left over at byte ${reader.pos}`);
  }
  return args;
}

function readArgument(reader) {
  const at = reader.pos;
  const tag = reader.u8();
  if (tag === 0) return { tag: 'value', val: readParam(reader) };
  if (tag !== 1) throw malformed(`unknown argument tag ${tag} at byte ${at}`);
  const count = reader.u32();
  const entries = [];
  for (let i = 0; i < count; i++) {
    const name = reader.str();
    entries.push({ name, value: readParam(reader) });
  }
  return { tag: 'group', val: entries };
}

function readParam(reader) {
  const at = reader.pos;
  const tag = reader.u8();
  switch (tag) {
    case 0:
      return { tag: 'tensor', val: readTensor(reader) };
    case 1: {
      const count = reader.u32();
      const columns = [];
      for (let i = 0; i < count; i++) {
        const name = reader.str();
        columns.push({ name, values: readTensor(reader) });
      }
      return { tag: 'frame', val: { columns } };
    }
    case 2:
      return { tag: 'json', val: reader.str() };
    default:
      throw malformed(`unknown param tag ${tag} at byte ${at}`);
  }
}

function readTensor(reader) {
  let at = reader.pos;
  const index = reader.u8();
  const dtype = DTYPES[index];
  if (dtype === undefined) throw malformed(`unknown dtype ${index} at byte ${at}`);
  const ndim = reader.u32();
  // Checked before allocating, so a corrupt count cannot ask for a huge array.
  reader.need(ndim * 8);
  // A BigUint64Array, as the bindings lift a `list<u64>` (and as samples.js builds shapes).
  const shape = new BigUint64Array(ndim);
  for (let i = 0; i < ndim; i++) shape[i] = reader.u64();
  at = reader.pos;
  const tag = reader.u8();
  let elements;
  if (tag === 0) {
    const len = reader.u32();
    // A copy with its own buffer, as the bindings gave: values.js views it as a typed array,
    // which needs an offset aligned to the element width.
    elements = { tag: 'bytes', val: reader.copy(len) };
  } else if (tag === 1) {
    const count = reader.u32();
    const strings = [];
    for (let i = 0; i < count; i++) strings.push(reader.str());
    elements = { tag: 'strings', val: strings };
  } else {
    throw malformed(`unknown elements tag ${tag} at byte ${at}`);
  }
  return { dtype, shape, elements };
}

/** A position in the buffer; every read checks that the bytes are there. */
class Reader {
  constructor(bytes) {
    // Not `instanceof Uint8Array`: inside the component the bindings' array fails that test
    // (measured with componentize-js), though it is one.
    if (!ArrayBuffer.isView(bytes) || bytes.BYTES_PER_ELEMENT !== 1) {
      throw malformed(`expected a Uint8Array, got ${Object.prototype.toString.call(bytes)}`);
    }
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.pos = 0;
  }

  /** Throws unless `n` more bytes follow. */
  need(n) {
    if (n > this.bytes.byteLength - this.pos) {
      throw malformed(`truncated: ${n} bytes needed at byte ${this.pos}, ${this.bytes.byteLength - this.pos} left`);
    }
  }

  u8() {
    this.need(1);
    return this.view.getUint8(this.pos++);
  }

  u32() {
    this.need(4);
    const value = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return value;
  }

  u64() {
    this.need(8);
    const value = this.view.getBigUint64(this.pos, true);
    this.pos += 8;
    return value;
  }

  /** The next `len` bytes, copied into a buffer of their own. */
  copy(len) {
    this.need(len);
    const copy = this.bytes.slice(this.pos, this.pos + len);
    this.pos += len;
    return copy;
  }

  /** The next `len` bytes, as a view into the buffer (no copy). */
  take(len) {
    this.need(len);
    const view = this.bytes.subarray(this.pos, this.pos + len);
    this.pos += len;
    return view;
  }

  str() {
    const len = this.u32();
    const at = this.pos;
    const utf8 = this.take(len);
    try {
      return UTF8.decode(utf8);
    } catch {
      throw malformed(`invalid UTF-8 in the string at byte ${at}`);
    }
  }
}

function malformed(detail) {
  return new Error(`packed arguments: ${detail}`);
}
