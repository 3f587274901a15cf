// What the host offers a script: its log, the model folder, environment variables and files.
//
// componentize-js gives JavaScript no file API, so files are read through the
// `wasi:filesystem` imports that the `scorehost:js` worlds (wit/js/) add. Nothing here runs
// at module load: module-level code runs at build time (a snapshot), when neither the model
// folder nor the environment exist.

import { log as hostLog, getModelPath as hostGetModelPath } from 'scorehost:plugin/host@0.2.0';
import { getEnvironment } from 'wasi:cli/environment@0.2.12';
import { getDirectories } from 'wasi:filesystem/preopens@0.2.12';

/** Where Azure ML mounts models, and where the host mounts the model folder. */
const DEFAULT_MODEL_DIR = '/var/azureml-app/azureml-models';

/** How the bindings name a resource's destructor (SpiderMonkey may lack `Symbol.dispose`). */
const DISPOSE = Symbol.dispose ?? Symbol.for('dispose');

/**
 * The preopened folders, asked for once: every `get-directories` call hands out new
 * descriptors. Filled on first use, which is at run time (never in the build's snapshot).
 */
let preopens;

/** Lines in the host's structured log, tagged with the deployment and the request id. */
export const log = {
  trace: (message) => hostLog('trace', String(message)),
  debug: (message) => hostLog('debug', String(message)),
  info: (message) => hostLog('info', String(message)),
  warn: (message) => hostLog('warn', String(message)),
  error: (message) => hostLog('error', String(message)),
};

/** An environment variable, like Python's `os.getenv`: `undefined` when it is not set. */
export function getenv(name, fallback = undefined) {
  for (const [key, value] of getEnvironment()) {
    if (key === name) return value;
  }
  return fallback;
}

/** The model folder, `$AZUREML_MODEL_DIR` (the host always sets it). */
export function modelDir() {
  return getenv('AZUREML_MODEL_DIR', DEFAULT_MODEL_DIR);
}

/**
 * The folder of model `name` at `version` (the highest when left out), like Azure ML's
 * `Model.get_model_path`. Throws when the model or version is not there.
 */
export function getModelPath(name, version = undefined) {
  // The bindings return the `ok` value and throw an Error whose message is the `err` string.
  return hostGetModelPath(name, version ?? undefined);
}

/** Joins path parts with `/`, like `os.path.join` for absolute POSIX paths. */
export function joinPath(...parts) {
  let path = '';
  for (const part of parts) {
    const text = String(part);
    if (text.startsWith('/') || path === '') path = text;
    else path = path.endsWith('/') ? path + text : `${path}/${text}`;
  }
  return path;
}

/** The whole content of the file at absolute `path`, as bytes. */
export function readFile(path) {
  const { dir, rest } = preopenFor(path);
  let file;
  try {
    file = dir.openAt({ symlinkFollow: true }, rest, {}, { read: true });
  } catch (e) {
    throw new Error(`cannot open ${path}: ${fsMessage(e)}`);
  }
  try {
    const chunks = [];
    let offset = 0n;
    let total = 0;
    for (;;) {
      const [data, end] = file.read(1n << 20n, offset);
      chunks.push(data);
      total += data.length;
      offset += BigInt(data.length);
      if (end || data.length === 0) break;
    }
    const out = new Uint8Array(total);
    let at = 0;
    for (const chunk of chunks) {
      out.set(chunk, at);
      at += chunk.length;
    }
    return out;
  } catch (e) {
    throw new Error(`cannot read ${path}: ${fsMessage(e)}`);
  } finally {
    file[DISPOSE]?.();
  }
}

/** The file at absolute `path` decoded as UTF-8. */
export function readText(path) {
  return new TextDecoder().decode(readFile(path));
}

/** The file at absolute `path` parsed as JSON. */
export function readJSON(path) {
  const text = readText(path);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`${path} is not JSON: ${e.message}`);
  }
}

/** The preopened folder holding `path` (the longest match) and the path inside it. */
function preopenFor(path) {
  if (!String(path).startsWith('/')) {
    throw new Error(`${path}: give an absolute path (e.g. joinPath(modelDir(), NAME))`);
  }
  let best;
  preopens ??= getDirectories();
  for (const [dir, guestPath] of preopens) {
    const prefix = guestPath.endsWith('/') ? guestPath : `${guestPath}/`;
    if ((path === guestPath || path.startsWith(prefix)) &&
        (!best || guestPath.length > best.guestPath.length)) {
      best = { dir, guestPath, prefix };
    }
  }
  if (!best) throw new Error(`${path}: no such file (only the model folder is readable)`);
  const rest = path === best.guestPath ? '.' : path.slice(best.prefix.length);
  return { dir: best.dir, rest };
}

/** A filesystem `error-code` (thrown by the bindings as the error's payload) as text. */
function fsMessage(e) {
  const code = e && typeof e === 'object' && 'payload' in e ? e.payload : e;
  return typeof code === 'string' ? code.replaceAll('-', ' ') : String(code);
}
