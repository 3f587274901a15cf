// The component's exports, made from an entry script's module (`init`, `run`). The build
// (build.mjs) generates the module that componentize-js compiles:
//
//   import * as script from './script/score.js';
//   import { scorerExports } from './scorehost-guest/world.js';
//   export const { init, schema, run } = scorerExports(script);
//
// Every export returns a `{ tag: 'ok' | 'err' }` result itself: the bindings would turn a
// thrown Error into a trap, which costs the host the instance.

import { BadInput, messageOf } from './errors.js';
import { unpackArguments } from './packed.js';
import { paramFromWit } from './values.js';
import { parameterNames, sampleJSON, witSchemaOf } from './samples.js';
import { AMLRequest, isRawhttp, responseToWit } from './request.js';

/** The `scorer` world's exports for a typed entry script. */
export function scorerExports(script) {
  const run = requireRun(script);
  if (isRawhttp(run)) {
    throw new Error("run is marked rawhttp: build it for the raw-scorer world (import 'scorehost-guest/raw')");
  }
  const names = parameterNames(run);
  return {
    init: () => callInit(script),
    schema: () => witSchemaOf(run),
    run(input) {
      // Undecorated: the body text, as Azure ML's `run(raw_data)` gets it.
      if (input.tag === 'text') return settle(() => run(input.val), resultToWit, runErrorToWit);
      let args;
      try {
        // A buffer that does not unpack is the host's fault, not the request's: it throws a
        // plain Error, so the result is an exception (a 500), and the instance survives.
        const named = unpackArguments(input.val);
        // The declared parameters, positionally; one the request left out is `undefined`,
        // so the script's default applies.
        args = names.map((name) => {
          const argument = named.find((a) => a.name === name);
          if (argument === undefined) return undefined;
          const { tag, val } = argument.value;
          return tag === 'group' ? lazyInputs(val) : paramFromWit(val);
        });
      } catch (e) {
        return runErrorToWit(e);
      }
      return settle(() => run(...args), resultToWit, runErrorToWit);
    },
  };
}

/** The `raw-scorer` world's exports for a `@rawhttp` entry script. */
export function rawScorerExports(script) {
  const run = requireRun(script);
  if (!isRawhttp(run)) {
    throw new Error('a raw-scorer script marks its run with rawhttp: export const run = rawhttp(...)');
  }
  return {
    init: () => callInit(script),
    run: (request) =>
      settle(
        () => run(new AMLRequest(request)),
        (response) => ({ tag: 'ok', val: responseToWit(response) }),
        (e) => ({ tag: 'err', val: messageOf(e) }),
      ),
  };
}

/**
 * The `Inputs` object, each entry decoded when first read: a script that uses one input of
 * three does not pay for decoding the others (the guest's JavaScript is interpreted).
 */
function lazyInputs(inputs) {
  const decoded = {};
  for (const { name, value } of inputs) {
    Object.defineProperty(decoded, name, {
      enumerable: true,
      configurable: true,
      get() {
        const param = paramFromWit(value);
        Object.defineProperty(decoded, name, { value: param, enumerable: true, writable: true });
        return param;
      },
      set(param) {
        Object.defineProperty(decoded, name, { value: param, enumerable: true, writable: true });
      },
    });
  }
  return decoded;
}

function requireRun(script) {
  if (typeof script.run !== 'function') {
    throw new Error('the entry script must export a function run');
  }
  return script.run;
}

/** Calls the script's `init` (optional, like Python's), turning errors into `err`. */
function callInit(script) {
  if (typeof script.init !== 'function') return { tag: 'ok', val: undefined };
  return settle(
    () => script.init(),
    () => ({ tag: 'ok', val: undefined }),
    (e) => ({ tag: 'err', val: messageOf(e) }),
  );
}

/** Runs `f`, mapping its value or error, also when it returns a promise (`async run`). */
function settle(f, onValue, onError) {
  let value;
  try {
    value = f();
  } catch (e) {
    return onError(e);
  }
  if (value !== null && typeof value === 'object' && typeof value.then === 'function') {
    return value.then(
      (v) => {
        try {
          return onValue(v);
        } catch (e) {
          return onError(e);
        }
      },
      onError,
    );
  }
  try {
    return onValue(value);
  } catch (e) {
    return onError(e);
  }
}

/** `run`'s result as the JSON text the Azure ML server sends (`null`/`undefined` is `{}`). */
function resultToWit(value) {
  if (value === null || value === undefined) return { tag: 'ok', val: '{}' };
  let text;
  try {
    text = sampleJSON(value);
  } catch (e) {
    return runErrorToWit(new TypeError(`result is not JSON: ${messageOf(e)}`));
  }
  return { tag: 'ok', val: text };
}

/**
 * `BadInput` is the script's 400 with its message; anything else thrown is an exception whose
 * text the host logs with the request id (the client gets Azure ML's generic 500).
 */
function runErrorToWit(error) {
  if (error instanceof BadInput) {
    return { tag: 'err', val: { tag: 'bad-input', val: messageOf(error) } };
  }
  const name = error instanceof Error ? error.name : typeof error;
  return { tag: 'err', val: { tag: 'exception', val: `${name}: ${messageOf(error)}` } };
}
