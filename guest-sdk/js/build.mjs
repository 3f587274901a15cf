#!/usr/bin/env node
// Builds a JavaScript entry script into a scorehost plugin (a Wasm component):
//
//   node guest-sdk/js/build.mjs path/to/score.js out.wasm [--world scorer|raw-scorer]
//
// The world is `raw-scorer` when the script imports 'scorehost-guest/raw', else `scorer`.
// componentize-js resolves only relative imports, so the script's folder and the SDK are
// copied into a staging folder with 'scorehost-guest' imports rewritten to relative paths,
// next to a generated entry module that exports the world's functions.

import { componentize } from '@bytecodealliance/componentize-js';
import { _setPreopens } from '@bytecodealliance/preview2-shim/filesystem';
import { init as lexerReady, parse } from 'es-module-lexer';
import { realpathSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const SDK_SRC = join(HERE, 'src');
const WIT = resolve(HERE, '../../wit');
/** The WASI 0.2 WIT that the pinned jco ships; the engine imports this same version. */
const WASI_WIT = join(HERE, 'node_modules/@bytecodealliance/jco/lib/wit/builtin/0.2.12');
const SDK_NAME = 'scorehost-guest';
const WORLDS = ['scorer', 'raw-scorer'];
/** The SDK's modules a script imports, by specifier. */
const SDK_MODULES = new Map([
  [SDK_NAME, 'index.js'],
  [`${SDK_NAME}/raw`, 'raw.js'],
  [`${SDK_NAME}/onnxruntime`, 'onnxruntime.js'],
]);
/** Module files copied from the script's folder. */
const MODULE_FILE = /\.(m?js|json)$/;

async function main(argv) {
  const positional = [];
  let world;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--world') world = argv[++i];
    else positional.push(argv[i]);
  }
  if (positional.length !== 2 || (world !== undefined && !WORLDS.includes(world))) {
    console.error('usage: node build.mjs SCRIPT.js OUT.wasm [--world scorer|raw-scorer]');
    return 2;
  }
  const [script, out] = positional.map((a) => resolve(a));
  const started = Date.now();
  const built = await build(script, out, world);
  console.log(`built ${relative(process.cwd(), out)} (${built}) in ${Date.now() - started} ms`);
  return 0;
}

/** Builds `script` into the component `out`; returns the world it targets. */
export async function build(script, out, world = undefined) {
  await lexerReady;
  const stage = await mkdtemp(join(tmpdir(), 'scorehost-js-'));
  try {
    const sdkDir = join(stage, SDK_NAME);
    const scriptDir = join(stage, 'script');
    await cp(SDK_SRC, sdkDir, { recursive: true });
    const imported = await copyScript(dirname(script), scriptDir, sdkDir);
    const main = relative(dirname(script), script);
    world ??= imported.get(main)?.has(`${SDK_NAME}/raw`) ? 'raw-scorer' : 'scorer';

    const exportsOf = world === 'scorer' ? 'scorerExports' : 'rawScorerExports';
    const names = world === 'scorer' ? 'init, schema, run' : 'init, run';
    const entry = join(stage, 'entry.js');
    await writeFile(
      entry,
      `import * as script from './script/${main}';\n` +
        `import { ${exportsOf} } from './${SDK_NAME}/world.js';\n` +
        `export const { ${names} } = ${exportsOf}(script);\n`,
    );

    const witPath = await stageWit(join(stage, 'wit'));
    // componentize-js parses the WIT in a WASI component run by preview2-shim, which since
    // 0.26 opens no folder by default: without this, reading the WIT fails with "os error 44".
    _setPreopens({ [stage]: stage });
    const { component } = await componentize({
      sourcePath: entry,
      witPath,
      worldName: world, // in scorehost:js, the staged folder's own package
      // No wasi:http: the host links WASI 0.2 without it.
      disableFeatures: ['http', 'fetch-event'],
    });
    await mkdir(dirname(out), { recursive: true });
    // Write beside and rename, so a reader never sees half a component.
    const partial = `${out}.${process.pid}.partial`;
    await writeFile(partial, component);
    await rename(partial, out);
    return world;
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
}

/**
 * Copies the script's folder's modules to `to`, pointing 'scorehost-guest' imports at the
 * staged SDK. Returns each module's imported specifiers, by path relative to the folder.
 */
async function copyScript(from, to, sdkDir) {
  const imported = new Map();
  for (const entry of await readdir(from, { recursive: true, withFileTypes: true })) {
    const source = join(entry.parentPath ?? entry.path, entry.name);
    const rel = relative(from, source);
    if (!entry.isFile() || !MODULE_FILE.test(entry.name) || rel.split('/').includes('node_modules')) {
      continue;
    }
    const target = join(to, rel);
    await mkdir(dirname(target), { recursive: true });
    let text = await readFile(source, 'utf8');
    if (!entry.name.endsWith('.json')) {
      const [imports] = parse(text, rel);
      imported.set(rel, new Set(imports.map((i) => i.n).filter(Boolean)));
      // Rewrite from the end so earlier offsets stay valid.
      for (const i of [...imports].reverse()) {
        const sdkModule = SDK_MODULES.get(i.n);
        if (sdkModule === undefined || i.d !== -1) continue;
        let path = relative(dirname(target), join(sdkDir, sdkModule));
        if (!path.startsWith('.')) path = `./${path}`;
        text = text.slice(0, i.s) + path + text.slice(i.e);
      }
    }
    await writeFile(target, text);
  }
  return imported;
}

/** A WIT folder for componentize-js: wit/js's worlds, wit/ (with its deps/) and WASI 0.2 as dependencies. */
async function stageWit(dir) {
  await mkdir(join(dir, 'deps'), { recursive: true });
  await cp(join(WIT, 'js'), dir, { recursive: true });
  const plugin = join(dir, 'deps', 'scorehost-plugin');
  await mkdir(plugin);
  for (const name of await readdir(WIT)) {
    if (name.endsWith('.wit')) await cp(join(WIT, name), join(plugin, basename(name)));
  }
  // wit/'s own dependencies (wasi:nn).
  await cp(join(WIT, 'deps'), join(dir, 'deps'), { recursive: true });
  try {
    for (const name of await readdir(WASI_WIT)) {
      await cp(join(WASI_WIT, name), join(dir, 'deps', name), { recursive: true });
    }
  } catch (e) {
    throw new Error(`the WASI WIT of jco is missing (${WASI_WIT}); run npm ci in ${HERE}: ${e.message}`);
  }
  return dir;
}

// Run as a program (not imported by the tests). Node gives this module its real path, so the
// path it was started by is resolved the same way: through a symlinked cache folder, a
// plain comparison would skip the build without a word.
if (process.argv[1] && realpathSync(resolve(process.argv[1])) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e) => {
      console.error(`build.mjs: ${e.message ?? e}`);
      process.exit(1);
    },
  );
}
