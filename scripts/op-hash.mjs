#!/usr/bin/env node
// One SHA-256 per (kernel set, thread count) over the output bytes of every op of a native addon build,
// on fixed pseudo-random inputs: to show that two builds (e.g. before and after a refactor of
// native/) compute bit-identical results. Runs the addon's N-API functions directly (no TypeScript
// build needed), so it works on any build given on the command line:
//
//   node scripts/op-hash.mjs [ADDON.node] [--sets amx,avx512,avxvnni,avx2,portable] [--threads 1,2] [--verbose]
//
// ADDON defaults to build/Release/fugaku.node. Every kernel set this CPU runs is hashed unless --sets
// narrows it; --verbose adds one hash per op group, to find which op differs. Covered: matmul for every
// weight format (f32/bf16/f16/q8_0/q4_0, loaded from f32/bf16/f16 sources in both layouts, and
// pre-quantized blocks) at row counts 1..20 and around the kernels' blocking (24..130, AMX's 16-row
// tiles), with and without bias; embedding; attention decode (cache-streaming and per-head paths, more
// than 64 heads, 8+4+1 head groups) and prefill (the 8-query blocks and the per-query path), f32 and f16
// caches, with and without a key mask (one query fully masked), head_dim 144 and 64; layerNorm; every
// activation kind; storeRows (f32 and f16 rows, values that round to inf and to subnormal halves);
// addInPlace; matrixBytes.
//
// Builds before the constants export (commit a97f508 and earlier) are supported: their codes were the
// numbers below, and their storeRows took no context.
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { parseArgs } from 'node:util';

const usage = 'node scripts/op-hash.mjs [ADDON.node] [--sets amx,avx512,avxvnni,avx2,neon,portable] [--threads 1,2] [--verbose]';
let args;
try {
  args = parseArgs({ allowPositionals: true, options: { sets: { type: 'string' }, threads: { type: 'string' }, verbose: { type: 'boolean' }, help: { type: 'boolean' } } });
} catch (e) {
  console.error(`op-hash: ${e.message}\nusage: ${usage}`);
  process.exit(2);
}
if (args.values.help) { console.log(`usage: ${usage}`); process.exit(0); }
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const file = path.resolve(args.positionals[0] ?? path.join(root, 'build', 'Release', 'fugaku.node'));
const addon = createRequire(import.meta.url)(file);

// The codes shared across N-API: from the addon where it exports them, else a97f508's numbers.
const LEGACY = {
  formats: { F32: 0, BF16: 1, F16: 2, Q8_0: 3, Q4_0: 4 },
  levels: { portable: 0, avx2: 1, avx512: 2, neon: 3, avxvnni: 4, amx: 5 },
  activations: { gelu: 0, gelu_tanh: 1, gelu_fast: 2, quick_gelu: 3, relu: 4, silu: 5 },
};
const C = addon.constants ?? LEGACY;
const storeRowsTakesContext = addon.constants !== undefined;

// ---------------------------------------------------------------- deterministic inputs
function rng(seed) {
  let s = seed >>> 0;
  return () => {  // mulberry32
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
function floats(seed, n, scale = 1) {
  const r = rng(seed), a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = scale * ((r() + r() + r() + r()) - 2);
  return a;
}
// f16 bit patterns of magnitude 2^-5 .. 2^2, either sign (cache rows, f16 weights).
function halves(seed, n) {
  const r = rng(seed), a = new Uint16Array(n);
  for (let i = 0; i < n; i++) a[i] = ((r() < 0.5 ? 1 : 0) << 15) | ((10 + Math.floor(r() * 8)) << 10) | Math.floor(r() * 1024);
  return a;
}
// bf16 bit patterns of magnitude 2^-4 .. 2^2.
function bhalves(seed, n) {
  const r = rng(seed), a = new Uint16Array(n);
  for (let i = 0; i < n; i++) a[i] = ((r() < 0.5 ? 1 : 0) << 15) | ((123 + Math.floor(r() * 6)) << 7) | Math.floor(r() * 128);
  return a;
}
// Plain Q8_0 (34-byte) or Q4_0 (18-byte) blocks, rows × in/32 of them, with f16 scales 2^-10 .. 2^-5.
function blocks(seed, fmt, rows, inDim) {
  const r = rng(seed), bb = fmt === 'Q8_0' ? 34 : 18, nb = inDim / 32;
  const a = new Uint8Array(rows * nb * bb);
  for (let b = 0; b < rows * nb; b++) {
    const d = ((4 + Math.floor(r() * 6)) << 10) | Math.floor(r() * 1024);
    a[b * bb] = d & 255;
    a[b * bb + 1] = d >> 8;
    for (let j = 2; j < bb; j++) a[b * bb + j] = Math.floor(r() * 256);
  }
  return a;
}

// ---------------------------------------------------------------- the ops
const ROWS = [...Array.from({ length: 20 }, (_, i) => i + 1), 24, 31, 32, 33, 47, 48, 63, 64, 65, 96, 127, 128, 129, 130];
const FORMATS = ['F32', 'BF16', 'F16', 'Q8_0', 'Q4_0'];

function run(level, threads, verbose) {
  const total = createHash('sha256');
  const groups = [];
  let group = null;
  const begin = (name) => { group = { name, h: createHash('sha256') }; groups.push(group); };
  const put = (ta) => {
    const b = Buffer.from(ta.buffer, ta.byteOffset, ta.byteLength);
    total.update(b);
    group.h.update(b);
  };
  const ctx = addon.createContext(threads, level);

  // matmul and embedding for every format, loaded several ways.
  for (const fmt of FORMATS) {
    const quant = fmt === 'Q8_0' || fmt === 'Q4_0';
    const inDim = quant ? 320 : 333, outDim = 83;
    const f32 = floats(11, inDim * outDim, 0.5);
    const loads = [
      { name: 'f32 out_in', src: C.formats.F32, data: f32, inOut: false, rows: ROWS },
      { name: 'f32 in_out', src: C.formats.F32, data: floats(12, inDim * outDim, 0.5), inOut: true, rows: [1, 5, 64] },
      { name: 'bf16 in_out', src: C.formats.BF16, data: bhalves(13, inDim * outDim), inOut: true, rows: [1, 5, 64] },
      { name: 'f16 out_in', src: C.formats.F16, data: halves(14, inDim * outDim), inOut: false, rows: [1, 5, 64] },
    ];
    if (quant) loads.push({ name: `${fmt} blocks`, src: C.formats[fmt], data: blocks(15, fmt, outDim, inDim), inOut: false, rows: [1, 4, 17] });
    for (const l of loads) {
      begin(`matmul ${fmt} from ${l.name}`);
      const m = addon.loadMatrix(ctx, l.src, l.data, inDim, outDim, l.inOut, C.formats[fmt]);
      put(new Float64Array([addon.matrixBytes(m)]));
      const bias = floats(16, outDim);
      const maxRows = Math.max(...l.rows);
      const x = floats(17, maxRows * inDim);
      for (const rows of l.rows) {
        for (const b of [null, bias]) {
          if (b === null && rows > 2 && rows % 3 !== 0) continue;  // bias on every row count, none on some
          const out = new Float32Array(rows * outDim);
          addon.matmul(ctx, m, x, rows, b, out);
          put(out);
        }
      }
      begin(`embedding ${fmt} from ${l.name}`);
      const ids = new Int32Array([0, 1, 7, 8, 82, 41, 41, 63]);
      const e = new Float32Array(ids.length * inDim);
      addon.embedding(ctx, m, ids, e);
      put(e);
    }
  }

  // attention: decode (t = 1) and prefill, f32 and f16 caches, with and without a key mask.
  const shapes = [
    { nHead: 4, headDim: 144, cases: [[1, 40], [1, 200], [1, 3], [2, 0], [3, 5], [4, 0], [9, 20], [17, 3], [33, 0]] },
    { nHead: 13, headDim: 64, cases: [[1, 100], [1, 2], [5, 10], [8, 0], [16, 30]] },
    { nHead: 66, headDim: 64, cases: [[1, 30], [12, 4]] },
  ];
  for (const { nHead, headDim, cases } of shapes) {
    const width = nHead * headDim;
    for (const [t, past] of cases) {
      const n = past + t;
      const q = floats(21 + t, t * width);
      for (const cache of ['f32', 'f16']) {
        const k = cache === 'f32' ? floats(22, n * width) : halves(22, n * width);
        const v = cache === 'f32' ? floats(23, n * width) : halves(23, n * width);
        for (const masked of [false, true]) {
          begin(`attention ${nHead}x${headDim} t=${t} past=${past} ${cache}${masked ? ' masked' : ''}`);
          let mask = null;
          if (masked) {
            const r = rng(24 + n);
            mask = new Uint8Array(n).map(() => (r() < 0.7 ? 1 : 0));
            mask[0] = 0;
            if (n > 1) mask[1] = 1;
            if (t > 1 && past === 0) mask[1] = 0;  // query 0 sees key 0 only, masked: its output is 0
          }
          const out = new Float32Array(t * width);
          addon.attention(ctx, q, t, k, v, past, nHead, headDim, 1 / Math.sqrt(headDim), mask, out);
          put(out);
        }
      }
    }
  }

  begin('layerNorm');
  for (const [rows, dim] of [[1, 333], [3, 1000], [70, 1000], [5, 7]]) {
    const x = floats(31 + dim, rows * dim, 3);
    for (let i = 0; i < x.length; i += 5) x[i] += 2;
    const out = new Float32Array(rows * dim);
    addon.layerNorm(ctx, x, rows, dim, floats(32, dim), floats(33, dim), 1e-5, out);
    put(out);
  }

  for (const [name, kind] of Object.entries(C.activations)) {
    begin(`activation ${name}`);
    for (const n of [20000, 13]) {
      const x = floats(41, n, 4);
      x.set([0, -0, 1e-30, -1e-30, 100, -100, 90, -90, 10.5, -10.5], 0);
      addon.activation(ctx, kind, x, n);
      put(x);
    }
  }

  begin('storeRows');
  {
    const src = floats(51, 3000, 2);
    src.set([70000, -65520, 65519, 6e-8, -3e-8, 1e-5, -0, 2.9e-8, 6.1e-5, 1.5e-7], 0);
    for (const [n, rows, stride] of [[300, 1, 300], [37, 5, 301], [8, 3, 8]]) {
      for (const dst of [new Float32Array(n * rows + 4), new Uint16Array(n * rows + 4)]) {
        if (storeRowsTakesContext) addon.storeRows(ctx, src, 2, stride, dst, 3, n, rows);
        else addon.storeRows(src, 2, stride, dst, 3, n, rows);
        put(dst);
      }
    }
  }

  begin('addInPlace');
  for (const n of [200000, 5]) {
    const a = floats(61, n), b = floats(62, n);
    addon.addInPlace(ctx, a, b, n);
    put(a);
  }

  return { total: total.digest('hex'), groups: verbose ? groups.map((g) => [g.name, g.h.digest('hex').slice(0, 16)]) : [] };
}

const features = addon.cpuFeatures();
const canRun = (set) => {
  try { addon.createContext(1, C.levels[set]); return true; } catch { return false; }
};
const sets = (args.values.sets ?? 'amx,avx512,avxvnni,avx2,neon,portable').split(',').filter((s) => s in C.levels && canRun(s));
const threadList = (args.values.threads ?? '1,2').split(',').map(Number);
console.log(`# ${file}\n# cpu: ${Object.entries(features).filter(([, v]) => v === true).map(([k]) => k).join(' ')}`);
for (const set of sets) {
  for (const threads of threadList) {
    const r = run(C.levels[set], threads, args.values.verbose);
    console.log(`${set.padEnd(8)} threads ${threads}  ${r.total}`);
    for (const [name, h] of r.groups) console.log(`    ${h}  ${name}`);
  }
}
