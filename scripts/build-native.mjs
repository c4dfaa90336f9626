#!/usr/bin/env node
// `npm install` step: builds the native addon (the sources under native/, listed in binding.gyp) with node-gyp and the machine's
// compiler. Node's own headers are used when they are installed beside node (no download). A
// failed build is not an install failure: the package then runs on the reference backend and says
// so once; the compiler output is kept in build/native-build.log.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const require = createRequire(import.meta.url);

function findNodeGyp() {
  if (process.env.npm_config_node_gyp && existsSync(process.env.npm_config_node_gyp)) return process.env.npm_config_node_gyp;
  const candidates = [
    path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ];
  try { candidates.push(require.resolve('node-gyp/bin/node-gyp.js')); } catch { /* not installed locally */ }
  return candidates.find((p) => existsSync(p)) ?? null;
}

const nodedir = path.resolve(path.dirname(process.execPath), '..');
const args = ['rebuild'];
if (existsSync(path.join(nodedir, 'include', 'node', 'node_api.h'))) args.push(`--nodedir=${nodedir}`);
const gyp = findNodeGyp();
mkdirSync(path.join(root, 'build'), { recursive: true });
const log = path.join(root, 'build', 'native-build.log');
if (!gyp) {
  writeFileSync(log, 'node-gyp was not found\n');
  console.warn('fugaku-llm: node-gyp not found; the native backend is not built (the reference backend will be used).');
  process.exit(0);
}
const r = spawnSync(process.execPath, [gyp, ...args], { cwd: root, encoding: 'utf8' });
const out = `${r.stdout ?? ''}${r.stderr ?? ''}`;
if (r.status !== 0) {
  writeFileSync(log, out);
  console.warn(`fugaku-llm: the native backend failed to build (see ${log}); the reference backend will be used.`);
  process.exit(0);
}
writeFileSync(log, 'ok\n');
console.log('fugaku-llm: native backend built (build/Release/fugaku.node)');
