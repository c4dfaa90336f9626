/**
 * One decode step's attention, alone: a single query over L layers' caches of n positions, each call
 * timed, with 32 MiB streamed through the CPU caches before every layer (in a model the layer's
 * weights go through in between, so the cache rows are cold). `--warm` leaves that out: with
 * `--layers 1` and a cache that fits the CPU's caches, that gives the compute floor. A diagnostic next
 * to profile.js; to compare two builds of the native addon,
 * run it with FUGAKU_NATIVE_ADDON pointing at each, alternating.
 *
 *   npx tsc -p tsconfig.json && node dist/bench/attention.js [--heads 16] [--head-dim 128] [--positions 1000]
 *       [--layers 20] [--threads N] [--kv-cache-dtype f16|f32] [--reps 30] [--warm]
 */
import { benchArgs } from './args.js';
import { tensorFrom } from '../src/backend/backend.js';
import { NativeBackend } from '../src/backend/native.js';

const values = benchArgs('attention', 'node dist/bench/attention.js [--heads H] [--head-dim D] [--positions N] [--layers L] [--threads T] [--kv-cache-dtype f16|f32] [--reps R] [--warm]', {
  heads: { type: 'string' }, 'head-dim': { type: 'string' }, positions: { type: 'string' }, layers: { type: 'string' },
  threads: { type: 'string' }, 'kv-cache-dtype': { type: 'string' }, reps: { type: 'string' }, warm: { type: 'boolean' },
});
const nHead = Number(values.heads ?? 16);
const headDim = Number(values['head-dim'] ?? 128);
const n = Number(values.positions ?? 1000);
const layers = Number(values.layers ?? 20);
const reps = Number(values.reps ?? 30);
const f16 = (values['kv-cache-dtype'] ?? 'f16') === 'f16';
const be = NativeBackend.create({ threads: values.threads ? Number(values.threads) : undefined });
const width = nHead * headDim;

// Caches of small values (f16 bits in [0x3000, 0x3800): 0.125–0.5), written through copyRows.
const src = new Float32Array(n * width);
const caches = Array.from({ length: layers }, (_, l) => {
  const kv = [0, 1].map((which) => {
    for (let i = 0; i < src.length; i++) src[i] = 0.125 + (((i + l * 7 + which * 13) * 7919) % 2048) / 4096;
    const c = be.alloc(n * width, f16 ? 'f16' : 'f32');
    be.copyRows(tensorFrom(be, src), 0, c, 0, src.length);
    return c;
  });
  return { k: kv[0], v: kv[1] };
});
const q = tensorFrom(be, new Float32Array(width).map((_, i) => Math.sin(i) / 4));
const out = be.alloc(width);
const evictA = be.alloc(4 << 20);
const evictB = be.alloc(4 << 20);

const perStep: number[] = [];
for (let r = 0; r < reps + 3; r++) {
  let ms = 0;
  for (const { k, v } of caches) {
    if (!values.warm) { be.addInPlace(evictA, evictB, evictA.length); be.addInPlace(evictB, evictA, evictB.length); }
    const t0 = process.hrtime.bigint();
    be.attention({ q, qOffset: 0, t: 1, kCache: k, vCache: v, past: n - 1, nHead, headDim, scale: 1 / Math.sqrt(headDim), keyMask: null, out, outOffset: 0 });
    ms += Number(process.hrtime.bigint() - t0) / 1e6;
  }
  if (r >= 3) perStep.push(ms);  // the first three are warm-up
}
perStep.sort((a, b) => a - b);
const bytes = 2 * layers * n * width * (f16 ? 2 : 4);
const median = perStep[perStep.length >> 1];
console.log(
  `attention, ${nHead}×${headDim} heads, ${n} positions, ${layers} layers, ${f16 ? 'f16' : 'f32'} cache, ${be.threads} thread(s), ${values.warm ? 'warm' : 'cold'}: ` +
  `per step min ${perStep[0].toFixed(2)} / median ${median.toFixed(2)} / max ${perStep[perStep.length - 1].toFixed(2)} ms; ` +
  `${(bytes / 1e6).toFixed(0)} MB of cache → ${(bytes / median / 1e6).toFixed(1)} GB/s at the median`,
);
