// The `@rawhttp` side: request and response objects shaped like Azure ML's `AMLRequest` /
// `AMLResponse`, and their conversions from and to the WIT `request` / `response`.

const RAW = Symbol.for('scorehost.rawhttp');
const ENCODER = new TextEncoder();
const DECODER = new TextDecoder();

/** Marks `run` as taking the raw request, like `@rawhttp`; returns `run`. */
export function rawhttp(run) {
  if (typeof run !== 'function') throw new Error('rawhttp needs the run function');
  Object.defineProperty(run, RAW, { value: true });
  return run;
}

/** Whether `run` was marked with `rawhttp`. */
export function isRawhttp(run) {
  return typeof run === 'function' && run[RAW] === true;
}

/** Request headers: names match case-insensitively; a repeated header has several values. */
export class Headers {
  /** `pairs` as the host sends them: names already lower-case. */
  constructor(pairs) {
    this._pairs = pairs;
  }

  /** The first value of header `name`, or `undefined`. */
  get(name, fallback = undefined) {
    const key = name.toLowerCase();
    const found = this._pairs.find(([n]) => n === key);
    return found ? found[1] : fallback;
  }

  /** Every value of header `name`. */
  getAll(name) {
    const key = name.toLowerCase();
    return this._pairs.filter(([n]) => n === key).map(([, v]) => v);
  }

  has(name) {
    return this.get(name) !== undefined;
  }

  /** `[name, value]` pairs, names lower-case, in the order received. */
  entries() {
    return this._pairs.map((pair) => [...pair]);
  }

  [Symbol.iterator]() {
    return this.entries()[Symbol.iterator]();
  }

  toJSON() {
    return Object.fromEntries(this._pairs);
  }
}

/** An uploaded file of a `multipart/form-data` body (Flask's `FileStorage`). */
export class FileStorage {
  constructor({ field, filename, contentType, data }) {
    /** The form field's name. */
    this.name = field;
    /** The file name the client gave, or `undefined`. */
    this.filename = filename;
    /** The part's content type, or `undefined`. */
    this.contentType = contentType;
    /** The bytes. */
    this.data = data;
  }

  /** The part's content type (Flask's name). */
  get mimetype() {
    return this.contentType;
  }

  /** The bytes, as `file.read()`. */
  read() {
    return this.data;
  }
}

/**
 * The client's request, shaped like Azure ML's `AMLRequest` (a Flask request): `method`,
 * `path`, `query`, `fullPath`, `args`, `headers`, `files`, `form`, `getData()`, `json`.
 */
export class AMLRequest {
  constructor(request) {
    /** `GET`, `POST`, `OPTIONS`, ... */
    this.method = request.method;
    /** The path without the query, e.g. `/score`. */
    this.path = request.path;
    /** The query string without `?` (empty when there is none). */
    this.query = request.query;
    this.headers = new Headers(request.headers);
    this._request = request;
  }

  /** Uploaded files by form field (`request.files['image']`). */
  get files() {
    return Object.fromEntries(this._request.files.map((f) => [f.field, new FileStorage(f)]));
  }

  /** Plain form fields by name. */
  get form() {
    return Object.fromEntries(this._request.form);
  }

  /** Path and query as Flask's `request.full_path`: always with a `?`. */
  get fullPath() {
    return `${this.path}?${this.query}`;
  }

  /** The query parameters by name, first value of each (Flask's `request.args`). */
  get args() {
    const args = {};
    for (const part of this.query.split('&')) {
      if (part === '') continue;
      const eq = part.indexOf('=');
      const [key, value] = eq < 0 ? [part, ''] : [part.slice(0, eq), part.slice(eq + 1)];
      const name = decodeQuery(key);
      if (!(name in args)) args[name] = decodeQuery(value);
    }
    return args;
  }

  /**
   * The raw body, like Flask's `get_data(cache=True, as_text=False)`: bytes, or text when
   * `asText` is true. (`cache` is accepted for the seed's `get_data(False)` and ignored.)
   */
  getData(_cache = true, asText = false) {
    return asText ? DECODER.decode(this._request.body) : this._request.body;
  }

  /** The body parsed as JSON; throws when it is not JSON. */
  get json() {
    return JSON.parse(this.getData(true, true));
  }
}

/**
 * The response to send, shaped like Azure ML's `AMLResponse(body, status)`: set headers with
 * `response.headers['Name'] = 'value'`. The body is text, bytes, or any other value sent as
 * JSON. The content type defaults to the Azure ML server's `text/html; charset=utf-8`.
 */
export class AMLResponse {
  constructor(body = '', status = 200, headers = {}) {
    this.body = body;
    this.status = status;
    this.headers = { ...headers };
  }
}

/** A script's answer (an AMLResponse, text, bytes or a JSON value) as a WIT `response`. */
export function responseToWit(answer) {
  const response = answer instanceof AMLResponse ? answer : new AMLResponse(answer, 200);
  const headers = Object.entries(response.headers).map(([name, value]) => [name, String(value)]);
  const { body } = response;
  let bytes;
  if (body === undefined || body === null) bytes = new Uint8Array(0);
  else if (typeof body === 'string') bytes = ENCODER.encode(body);
  else if (body instanceof Uint8Array) bytes = body;
  else if (body instanceof ArrayBuffer) bytes = new Uint8Array(body);
  else if (ArrayBuffer.isView(body)) {
    bytes = new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
  } else {
    bytes = ENCODER.encode(JSON.stringify(body));
    if (!headers.some(([name]) => name.toLowerCase() === 'content-type')) {
      headers.push(['content-type', 'application/json']);
    }
  }
  const status = Number(response.status);
  if (!Number.isInteger(status) || status < 100 || status > 999) {
    throw new Error(`status ${response.status} is not an HTTP status`);
  }
  return { status, headers, body: bytes };
}

function decodeQuery(text) {
  try {
    return decodeURIComponent(text.replaceAll('+', ' '));
  } catch {
    return text;
  }
}
