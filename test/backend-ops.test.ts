/**
 * Every op of every backend against the reference backend (the specification), in the spirit of
 * llama.cpp's test-backend-ops: each entry of the backend registry (test/backend-registry.ts: every
 * backend and kernel set this machine runs, at 1 and 3 threads), every weight format and layout, on
 * random shapes including head_dim 144, odd sizes and row counts around the kernels' register blocking.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ReferenceBackend } from '../src/backend/reference.js';
import { NativeBackend, availableKernels, type KernelSet } from '../src/backend/native.js';
import * as path from 'node:path';
import { addonPath, loadNativeAddon } from '../src/backend/native-addon.js';
import { createBackend } from '../src/backend/select.js';
import type { Backend, MatrixFormat, MatrixLayout, WeightTensor } from '../src/backend/backend.js';
import { Rng } from '../src/generation/rng.js';
import { convertStorage, f32ToF16 } from '../src/tensor/dtype.js';
import { ACTIVATIONS, type ActivationName } from '../src/tensor/activations.js';
import { quantizeMatrix } from '../src/tensor/quant.js';
import { FugakuError } from '../src/errors.js';
import { backendRegistry } from './backend-registry.js';

const addon = loadNativeAddon();
const registry = backendRegistry();

test('the backend registry: what runs here, and what does not and why', (t) => {
  t.diagnostic(registry.describe());
  assert.equal(registry.present[0].name, 'reference');
  assert.ok(registry.accelerated.length >= 1, 'at least one backend besides the reference (the native addon builds with npm install)');
  for (const a of registry.absent) assert.ok(a.reason.length > 0, a.name);
});

test('the native addon is built and loads (npm install builds it with node-gyp)', () => {
  assert.ok(addon.ok, `native addon missing: ${addon.ok ? '' : addon.reason}`);
  const be = createBackend({ backend: 'auto' });
  assert.equal(be.name, 'native');
  // FUGAKU_NATIVE_ADDON may name it relative to the working directory.
  const rel = path.relative(process.cwd(), addonPath());
  assert.equal(addonPath({ FUGAKU_NATIVE_ADDON: rel }), path.resolve(rel));
  assert.ok(loadNativeAddon(rel).ok);
});

function randn(rng: Rng, n: number, scale = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = Math.max(rng.nextFloat(), 1e-12);
    a[i] = scale * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng.nextFloat());
  }
  return a;
}

function relErr(a: Float32Array, b: Float32Array): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num = Math.max(num, Math.abs(a[i] - b[i]));
    den = Math.max(den, Math.abs(b[i]));
  }
  return num / Math.max(den, 1e-30);
}

/** Every kernel set this CPU runs (AVX-512 ones only where the CPU has AVX-512 VNNI). */
function kernelSets(): KernelSet[] {
  if (!addon.ok) return [];
  return availableKernels(addon.addon.cpuFeatures());
}

test('the bandwidth probes return plausible figures and reject bad sizes', () => {
  const nat = NativeBackend.create({ threads: 2 });
  for (const gbs of [nat.streamTriad(2 ** 20, 2), nat.streamRead(2 ** 20, 2)]) {
    assert.ok(Number.isFinite(gbs) && gbs > 0.1 && gbs < 10000, `${gbs} GB/s`);
  }
  assert.throws(() => nat.streamRead(10, 1), /streamRead/);
});

test('each kernel set runs where the CPU has it, is a typed error where not, and auto picks the best', () => {
  assert.ok(addon.ok);
  const have = kernelSets();
  assert.equal(have[have.length - 1], 'portable');
  for (const k of ['amx', 'avx512', 'avxvnni', 'avx2', 'neon', 'portable'] as const) {
    if (have.includes(k)) assert.equal(NativeBackend.create({ simd: k, threads: 1 }).kernels, k);
    else assert.throws(() => NativeBackend.create({ simd: k, threads: 1 }), (e: FugakuError) => e.code === 'BACKEND_UNAVAILABLE' && /need a CPU with/.test(e.message));
  }
  assert.equal(NativeBackend.create({ threads: 1 }).kernels, have[0]);
  // The addon itself refuses a level the CPU lacks (not only the TypeScript check).
  if (!have.includes('avx512')) assert.throws(() => addon.addon.createContext(1, addon.addon.constants.levels.avx512), /AVX-512|x86-64/);
  if (!have.includes('neon')) assert.throws(() => addon.addon.createContext(1, addon.addon.constants.levels.neon), /Arm/);
  if (!have.includes('avxvnni')) assert.throws(() => addon.addon.createContext(1, addon.addon.constants.levels.avxvnni), /AVX-VNNI|AVX2|x86-64/);
  if (!have.includes('amx')) assert.throws(() => addon.addon.createContext(1, addon.addon.constants.levels.amx), /AMX|AVX-512|AVX2|x86-64/);
  assert.throws(() => addon.addon.createContext(1, 7), /level/);
  assert.throws(() => NativeBackend.create({ simd: 'sse9' as never, threads: 1 }), (e: FugakuError) => e.code === 'INVALID_ARGUMENT');
  assert.throws(() => NativeBackend.create({ threads: 0 }), (e: FugakuError) => e.code === 'INVALID_ARGUMENT');
});

test('availableKernels reads the feature flags: AVX-512 needs F, BW, VL and VNNI on top of AVX2, AMX needs AVX-512, AVX-VNNI needs AVX2; NEON needs AArch64', () => {
  const avx2 = { x86: true, avx2: true, fma: true, f16c: true };
  const full = { ...avx2, avx512f: true, avx512bw: true, avx512vl: true, avx512vnni: true };
  assert.deepEqual(availableKernels(full), ['avx512', 'avx2', 'portable']);
  assert.deepEqual(availableKernels({ ...full, avx512vnni: false }), ['avx2', 'portable']);
  assert.deepEqual(availableKernels({ ...full, avx2: false }), ['portable']);
  assert.deepEqual(availableKernels(avx2), ['avx2', 'portable']);
  assert.deepEqual(availableKernels({ ...avx2, avxvnni: true }), ['avxvnni', 'avx2', 'portable']);
  assert.deepEqual(availableKernels({ ...full, avxvnni: true }), ['avx512', 'avxvnni', 'avx2', 'portable']);
  assert.deepEqual(availableKernels({ ...avx2, avx2: false, avxvnni: true }), ['portable']);
  assert.deepEqual(availableKernels({ ...full, amx: true }), ['amx', 'avx512', 'avx2', 'portable']);
  assert.deepEqual(availableKernels({ ...full, avx512vnni: false, amx: true }), ['avx2', 'portable']);
  assert.deepEqual(availableKernels({ ...avx2, amx: true }), ['avx2', 'portable']);
  assert.deepEqual(availableKernels({ x86: false }), ['portable']);
  assert.deepEqual(availableKernels({ x86: false, aarch64: true, dotprod: true }), ['neon', 'portable']);
  assert.deepEqual(availableKernels({ x86: false, aarch64: true, dotprod: false }), ['neon', 'portable']);
});

const FORMATS: MatrixFormat[] = ['F32', 'BF16', 'F16', 'Q8_0', 'Q4_0'];
const ref = new ReferenceBackend();

// The x86 SIMD sets compute quantized products bit-identically (the same integer block sums, then the
// same float steps in the same order) whatever the number of activation rows: amx's tiles (8 rows and
// more), avx512's 16-output pairs, avxvnni's and avx2's 8-output groups. Registered where the CPU
// runs two or more of them.
const X86_SETS = ['amx', 'avx512', 'avxvnni', 'avx2'] as const;
const x86Sets = kernelSets().filter((k) => (X86_SETS as readonly string[]).includes(k));
if (x86Sets.length >= 2) {
  test(`native ${x86Sets.join(', ')}: quantized matmul results are bit-identical across the sets, 1 to 130 rows`, (t) => {
    const missing = X86_SETS.filter((k) => !x86Sets.includes(k));
    t.diagnostic(`bit-identity across ${x86Sets.join(', ')}${missing.length ? `; not on this CPU: ${missing.join(', ')}` : ''}`);
    const rng = new Rng(29);
    const backends = x86Sets.map((simd) => NativeBackend.create({ simd, threads: 2 }));
    let compared = 0;
    for (const format of ['Q8_0', 'Q4_0'] as MatrixFormat[]) {
      for (const [inDim, outDim, rows] of [[64, 24, 1], [96, 40, 8], [160, 136, 16], [32, 8, 17], [288, 200, 33], [576, 72, 64], [128, 120, 130]]) {
        const w: WeightTensor = { dtype: 'F32', shape: [outDim, inDim], data: randn(rng, inDim * outDim, 0.2) };
        const x = randn(rng, rows * inDim);
        const bias = randn(rng, outDim);
        const outs = backends.map((b) => {
          const y = new Float32Array(rows * outDim);
          b.matmul(x, rows, b.loadMatrix(w, 'out_in', format), bias, y);
          return y;
        });
        for (let i = 1; i < outs.length; i++) {
          assert.deepEqual(new Uint32Array(outs[i].buffer), new Uint32Array(outs[0].buffer), `${format} [${inDim}→${outDim}] × ${rows} rows: ${x86Sets[i]} vs ${x86Sets[0]}`);
          compared++;
        }
      }
    }
    assert.equal(compared, 2 * 7 * (x86Sets.length - 1));
  });
}

for (const entry of registry.accelerated) {
  for (const threads of entry.threadCounts) {
    const nat = entry.create({ threads });
    const be = entry.name;

    test(`${be} ×${threads}: matmul equals the reference for every format, layout and shape`, () => {
      const rng = new Rng(be === 'native avx512' ? 13 : be === 'native avx2' ? 11 : 12);
      let cases = 0;
      for (const format of FORMATS) {
        const quant = format === 'Q8_0' || format === 'Q4_0';
        for (const layout of ['in_out', 'out_in'] as MatrixLayout[]) {
          for (let k = 0; k < 8; k++) {
            const inDim = quant ? 32 * (1 + Math.floor(rng.nextFloat() * 12)) : 1 + Math.floor(rng.nextFloat() * 300);
            const outDim = 1 + Math.floor(rng.nextFloat() * 150);
            const rows = [1, 2, 3, 4, 5, 7, 9, 70][k];
            const src = randn(rng, inDim * outDim, 0.2);
            // Checkpoints hold bf16 or f16: start from a stored dtype, as the loader does.
            const stored: WeightTensor = { dtype: 'BF16', shape: layout === 'in_out' ? [inDim, outDim] : [outDim, inDim], data: convertStorage('F32', src, 'BF16') };
            const mr = ref.loadMatrix(stored, layout, format);
            const mn = nat.loadMatrix(stored, layout, format);
            assert.equal(mn.format, format);
            assert.equal(mn.byteSize, mr.byteSize, 'same storage size');
            const x = randn(rng, rows * inDim);
            const bias = k % 2 ? randn(rng, outDim) : null;
            const a = new Float32Array(rows * outDim);
            const b = new Float32Array(rows * outDim);
            ref.matmul(x, rows, mr, bias, a);
            nat.matmul(x, rows, mn, bias, b);
            // Same arithmetic up to float summation order; quantized activations may round a
            // value at an exact .5 tie differently (a few ulps of the block scale).
            const tol = quant ? 2e-3 : 1e-5;
            assert.ok(relErr(b, a) < tol, `${format} ${layout} [${inDim}→${outDim}] rows ${rows}: rel err ${relErr(b, a)}`);
            cases++;
          }
        }
      }
      assert.equal(cases, FORMATS.length * 2 * 8);
    });

    test(`${be} ×${threads}: embedding rows equal the reference's (dequantized) rows exactly`, () => {
      const rng = new Rng(5);
      for (const format of FORMATS) {
        // Include values that land exactly on rounding ties of the quantizers.
        const data = randn(rng, 50 * 96);
        for (let i = 0; i < 96; i += 3) data[i] = (i % 7) - 3 + 0.5;
        const w: WeightTensor = { dtype: 'F32', shape: [50, 96], data };
        const ids = [0, 49, 7, 7, 23];
        const a = new Float32Array(ids.length * 96);
        const b = new Float32Array(ids.length * 96);
        ref.embedding(ref.loadMatrix(w, 'out_in', format), ids, a);
        nat.embedding(nat.loadMatrix(w, 'out_in', format), ids, b);
        // Conversion and quantization are bit-exact with the TypeScript specification.
        assert.deepEqual(b, a, `${format}: rows differ`);
        assert.throws(() => nat.embedding(nat.loadMatrix(w, 'out_in', format), [50], b), (e: FugakuError) => e.code === 'TOKEN_ID_OUT_OF_RANGE');
      }
    });

    test(`${be} ×${threads}: Q4_0/Q8_0 quantization corner cases are bit-exact with the spec`, () => {
      // Rows of one block each: all zeros; ± the same largest magnitude (the first one sets the sign);
      // negative zero; multiples of max/8 so that x·id + 8.5 lands on integers; tiny and huge values.
      const rows: number[][] = [
        new Array(32).fill(0),
        Array.from({ length: 32 }, (_, j) => (j === 5 ? -3 : j === 9 ? 3 : (j % 5) * 0.1)),
        Array.from({ length: 32 }, (_, j) => (j === 0 ? 3 : j === 31 ? -3 : -0.2 * (j % 3))),
        Array.from({ length: 32 }, (_, j) => (j === 3 ? -0 : 0)),
        Array.from({ length: 32 }, (_, j) => ((j % 16) - 8) * 0.75),
        Array.from({ length: 32 }, (_, j) => ((j % 17) - 8) * -1.25 + (j === 7 ? 0.0625 : 0)),
        Array.from({ length: 32 }, (_, j) => (j % 2 ? 1e-30 : -3e-31) * (j + 1)),
        Array.from({ length: 32 }, (_, j) => (j % 3 ? 6e4 : -6.5e4) / (j + 1)),
      ];
      const data = new Float32Array(rows.flat());
      const w: WeightTensor = { dtype: 'F32', shape: [rows.length, 32], data };
      const ids = rows.map((_, i) => i);
      for (const format of ['Q4_0', 'Q8_0'] as const) {
        const a = new Float32Array(ids.length * 32);
        const b = new Float32Array(ids.length * 32);
        ref.embedding(ref.loadMatrix(w, 'out_in', format), ids, a);
        nat.embedding(nat.loadMatrix(w, 'out_in', format), ids, b);
        assert.deepEqual(b, a, `${format}: dequantized rows differ`);
      }
    });

    test(`${be} ×${threads}: activations are quantized as the spec rounds them (ties away from zero)`, () => {
      // Identity weights (row o has a single 1 at column o, exact in Q8_0 and Q4_0), so output o is
      // q_o·d_x·(its weight): one activation rounded the other way changes it by ≥ 1/127 of itself.
      const n = 64;
      const eye = new Float32Array(n * n);
      for (let o = 0; o < n; o++) eye[o * n + o] = 1;
      const rng = new Rng(17);
      const rows = 5;
      const x = new Float32Array(rows * n);
      for (let r = 0; r < rows; r++) {
        for (let b = 0; b < n / 32; b++) {
          // Block amax 127 (scale exactly 1: ties at k + 0.5) or a random amax (x·id lands next to ties).
          const amax = (r + b) % 2 === 0 ? 127 : 1 + rng.nextFloat() * 200;
          const s = Math.fround(amax / 127);
          for (let j = 0; j < 32; j++) {
            const k = Math.floor(rng.nextFloat() * 126) - 63;
            x[r * n + b * 32 + j] = j === 7 ? (r % 2 ? -amax : amax) : Math.fround((k + 0.5) * s);
          }
        }
      }
      for (const format of ['Q8_0', 'Q4_0'] as const) {
        const w: WeightTensor = { dtype: 'F32', shape: [n, n], data: eye };
        const a = new Float32Array(rows * n);
        const b = new Float32Array(rows * n);
        ref.matmul(x, rows, ref.loadMatrix(w, 'out_in', format), null, a);
        nat.matmul(x, rows, nat.loadMatrix(w, 'out_in', format), null, b);
        for (let i = 0; i < a.length; i++) {
          assert.ok(Math.abs(b[i] - a[i]) <= 1e-6 * Math.abs(a[i]), `${format} output ${i}: ${b[i]} vs the spec's ${a[i]}`);
        }
        // One row alone (the decode path) quantizes the same way.
        const one = new Float32Array(n);
        nat.matmul(x.subarray(n, 2 * n), 1, nat.loadMatrix(w, 'out_in', format), null, one);
        assert.deepEqual(one, b.subarray(n, 2 * n));
      }
    });

    test(`${be} ×${threads}: storeKV copies strided rows (f32, and f16 rounded like f32ToF16); addInPlace adds`, () => {
      const rng = new Rng(23);
      const E = 37;
      const t = 6;
      const src = randn(rng, t * 3 * E + 5, 2);
      for (const mk of [(k: number) => new Float32Array(k), (k: number) => new Uint16Array(k)]) {
        const a = mk(2 + t * E);
        const b = mk(2 + t * E);
        ref.storeKV(src, 5 + E, a, 2, E, t, 3 * E);
        nat.storeKV(src, 5 + E, b, 2, E, t, 3 * E);
        assert.deepEqual(b, a);
        assert.equal(b[0], 0, 'nothing written before dstOff');
      }
      assert.throws(() => nat.storeKV(src, 0, new Float32Array(10), 0, E, t, 3 * E), /too short/);
      for (const len of [7, 100_003, 300_000]) {
        const x = randn(rng, len);
        const y = randn(rng, len);
        const a = x.slice();
        const b = x.slice();
        ref.addInPlace(a, y, len - 3);
        nat.addInPlace(b, y, len - 3);
        assert.deepEqual(b, a);
      }
    });

    test(`${be} ×${threads}: pre-quantized blocks (as in GGUF) load and compute like the reference`, () => {
      // The native backend interleaves blocks of 8 output rows at load; out dims around multiples of 8
      // exercise the zero rows that pad the last group.
      const rng = new Rng(21);
      for (const type of ['Q8_0', 'Q4_0'] as const) {
        for (const [inDim, outDim, rows] of [[64, 1, 1], [96, 7, 3], [32, 8, 4], [160, 9, 5], [64, 17, 9]] as const) {
          const w: WeightTensor = { dtype: type, shape: [outDim, inDim], data: quantizeMatrix(type, randn(rng, inDim * outDim, 0.3), inDim, outDim, false) };
          const mr = ref.loadMatrix(w, 'out_in', type);
          const mn = nat.loadMatrix(w, 'out_in', type);
          assert.equal(mn.byteSize, w.data.byteLength, 'byteSize is the weights\' bytes, not the padding');
          const x = randn(rng, rows * inDim);
          const a = new Float32Array(rows * outDim);
          const b = new Float32Array(rows * outDim);
          ref.matmul(x, rows, mr, null, a);
          nat.matmul(x, rows, mn, null, b);
          assert.ok(relErr(b, a) < 2e-3, `${type} [${inDim}→${outDim}] rows ${rows}: rel err ${relErr(b, a)}`);
          const ids = Array.from({ length: outDim }, (_, i) => outDim - 1 - i);
          const ea = new Float32Array(outDim * inDim);
          const eb = new Float32Array(outDim * inDim);
          ref.embedding(mr, ids, ea);
          nat.embedding(mn, ids, eb);
          assert.deepEqual(eb, ea, `${type} [${inDim}→${outDim}]: dequantized rows differ`);
        }
      }
    });

    test(`${be} ×${threads}: attention (head_dim 144, past > 0, padding mask) equals the reference`, () => {
      const rng = new Rng(9);
      // t ≥ 4 takes the blocked prefill path (8 queries of a head per task; short last blocks, an odd
      // head_dim, a first query whose only key is masked so its output is 0); one query over a cache of
      // < 64 KiB the per-head path ([3, 144, 17, 1], [1, 8, 0, 1]); the last two, and the case after the
      // loop (one partial 64-key chunk), the decode path for larger caches (rows streamed in order,
      // per-chunk partial sums): several chunks, a partial last chunk, masked keys.
      const cases = [[2, 144, 0, 5, false], [3, 144, 17, 1, false], [3, 144, 9, 4, true], [4, 37, 30, 3, true], [3, 37, 5, 6, true], [2, 144, 0, 11, true], [3, 37, 2, 19, true], [6, 64, 40, 64, false], [1, 8, 0, 1, false], [4, 144, 500, 1, true], [5, 96, 600, 1, false]] as const;
      const mid = [[3, 144, 40, 1, true]] as const;
      const midRng = new Rng(10);  // its own generator, so the peaked cases below keep their data
      for (const [i, [nHead, headDim, past, t, masked]] of [...cases, ...mid].entries()) {
        const g = i < cases.length ? rng : midRng;
        const width = nHead * headDim;
        const cap = past + t + 3;
        const q = randn(g, t * width);
        const kc = randn(g, cap * width);
        const vc = randn(g, cap * width);
        const keyMask = masked ? new Uint8Array(cap).fill(1) : null;
        if (keyMask) { keyMask[0] = 0; keyMask[2] = 0; }
        const args = { q, t, kCache: kc, vCache: vc, past, nHead, headDim, scale: 1 / Math.sqrt(headDim), keyMask };
        const a = new Float32Array(t * width);
        const b = new Float32Array(t * width);
        ref.attention({ ...args, out: a });
        nat.attention({ ...args, out: b });
        assert.ok(relErr(b, a) < 1e-5, `heads ${nHead}×${headDim} past ${past} t ${t}: ${relErr(b, a)}`);
      }
      // Peaked softmaxes: scores spread over ±100, so about half of the exp arguments fall below float's
      // range (the vectorized exp saturates there) and one or two keys carry the weight. Queries and
      // keys are integers in −2..2 and the scale is 2, so every score is exact in float as in the
      // reference's doubles; with real-valued data, float's rounding of a score in the hundreds alone
      // moves its exp by ~1e-5, the tolerance (the portable set once measured 1.14e-5 that way).
      const int2 = (len: number) => new Float32Array(len).map(() => Math.floor(rng.nextFloat() * 5) - 2);
      for (const [nHead, headDim, past, t] of [[2, 144, 3, 13], [2, 144, 40, 1], [3, 37, 0, 9]] as const) {
        const width = nHead * headDim;
        const q = int2(t * width);
        const kc = int2((past + t) * width);
        const vc = randn(rng, (past + t) * width);
        const args = { q, t, kCache: kc, vCache: vc, past, nHead, headDim, scale: 2, keyMask: null };
        const a = new Float32Array(t * width);
        const b = new Float32Array(t * width);
        ref.attention({ ...args, out: a });
        nat.attention({ ...args, out: b });
        assert.ok(relErr(b, a) < 1e-5, `peaked: heads ${nHead}×${headDim} past ${past} t ${t}: ${relErr(b, a)}`);
      }
      // The decode path's row kernels (its own generator, so the cases above keep their data): eight
      // heads at a time plus four plus one, a head_dim that is not a multiple of 8, more than 64 heads
      // (two rounds over each chunk), chunks whose length is not a multiple of 4, masked keys, and a
      // fully masked first chunk.
      const dec = new Rng(11);
      for (const [nHead, headDim, past, masked] of [
        [9, 37, 120, 'some'], [13, 64, 100, 'none'], [66, 8, 200, 'some'], [16, 128, 150, 'prefix'],
      ] as const) {
        const width = nHead * headDim;
        const n = past + 1;
        const q = randn(dec, width);
        const kc = randn(dec, n * width);
        const vc = randn(dec, n * width);
        const keyMask = masked === 'none' ? null : new Uint8Array(n).fill(1);
        if (masked === 'some' && keyMask) for (let j = 0; j < n; j += 7) keyMask[j] = 0;
        if (masked === 'prefix' && keyMask) keyMask.fill(0, 0, 40);
        assert.ok(n * width * 4 >= 1 << 16, 'a cache of at least 64 KiB (the decode path)');
        const args = { q, t: 1, kCache: kc, vCache: vc, past, nHead, headDim, scale: 1 / Math.sqrt(headDim), keyMask };
        const a = new Float32Array(width);
        const b = new Float32Array(width);
        ref.attention({ ...args, out: a });
        nat.attention({ ...args, out: b });
        assert.ok(relErr(b, a) < 1e-5, `decode: heads ${nHead}×${headDim} past ${past} mask ${masked}: ${relErr(b, a)}`);
      }
      // A peaked decode softmax: a few hot keys score ~100 above the rest, so every other chunk's
      // weights (and most weights next to the hot keys) underflow to zero in float. Queries and keys are
      // small integers and the scale is 1, so every score is exact in float and in the reference's
      // doubles: what is compared is the softmax and the weighted sum, not float's rounding of
      // scores in the hundreds (which alone moves exp by ~1e-5).
      for (const [nHead, headDim, past, hot] of [[8, 64, 300, [150, 151, 153]], [5, 144, 77, [3]]] as const) {
        const width = nHead * headDim;
        const n = past + 1;
        const q = new Float32Array(width).map(() => Math.floor(dec.nextFloat() * 3) - 1);
        const kc = new Float32Array(n * width).map(() => Math.floor(dec.nextFloat() * 3) - 1);
        for (const j of hot) kc.set(q.map((x, i) => x * (2 + (i % 2))), j * width);
        const vc = randn(dec, n * width);
        const args = { q, t: 1, kCache: kc, vCache: vc, past, nHead, headDim, scale: 1, keyMask: null };
        const a = new Float32Array(width);
        const b = new Float32Array(width);
        ref.attention({ ...args, out: a });
        nat.attention({ ...args, out: b });
        assert.ok(relErr(b, a) < 1e-5, `peaked decode: heads ${nHead}×${headDim} past ${past}: ${relErr(b, a)}`);
      }
    });

    test(`${be} ×${threads}: f16 KV cache — stores round like f32ToF16 and attention over f16 rows equals the reference`, () => {
      const rng = new Rng(21);
      const n = 1000;
      const src = randn(rng, n, 2);
      const a = new Uint16Array(n + 8);
      const b = new Uint16Array(n + 8);
      ref.storeKV(src, 3, a, 5, n - 3);
      nat.storeKV(src, 3, b, 5, n - 3);
      assert.deepEqual(b, a);
      for (let i = 0; i < n - 3; i++) assert.equal(a[5 + i], f32ToF16(src[3 + i]));
      // One query block and one per-query step (t = 2), over f16 rows.
      for (const [nHead, headDim, past, t] of [[3, 144, 11, 2], [3, 144, 11, 9]]) {
        const width = nHead * headDim;
        const q = randn(rng, t * width);
        const k16 = new Uint16Array((past + t) * width);
        const v16 = new Uint16Array((past + t) * width);
        nat.storeKV(randn(rng, k16.length), 0, k16, 0, k16.length);
        nat.storeKV(randn(rng, v16.length), 0, v16, 0, v16.length);
        const args = { q, t, kCache: k16, vCache: v16, past, nHead, headDim, scale: 1 / 12, keyMask: null };
        const o1 = new Float32Array(t * width);
        const o2 = new Float32Array(t * width);
        ref.attention({ ...args, out: o1 });
        nat.attention({ ...args, out: o2 });
        assert.ok(relErr(o2, o1) < 1e-5, `f16 attention t ${t}: ${relErr(o2, o1)}`);
      }
      // A long f16 cache (the decode path), with a masked prefix.
      {
        const [nHead, headDim, past] = [4, 144, 1000];
        const width = nHead * headDim;
        const q = randn(rng, width);
        const k16 = new Uint16Array((past + 1) * width);
        const v16 = new Uint16Array((past + 1) * width);
        nat.storeKV(randn(rng, k16.length), 0, k16, 0, k16.length);
        nat.storeKV(randn(rng, v16.length), 0, v16, 0, v16.length);
        const keyMask = new Uint8Array(past + 1).fill(1);
        keyMask.fill(0, 0, 70);
        const args = { q, t: 1, kCache: k16, vCache: v16, past, nHead, headDim, scale: 1 / 12, keyMask };
        const r1 = new Float32Array(width);
        const r2 = new Float32Array(width);
        ref.attention({ ...args, out: r1 });
        nat.attention({ ...args, out: r2 });
        assert.ok(relErr(r2, r1) < 1e-5, `long f16 attention ${relErr(r2, r1)}`);
      }
    });

    test(`${be} ×${threads}: layerNorm and every activation equal the reference`, () => {
      const rng = new Rng(3);
      // A few rows (one thread) and many (spread over the pool), an odd width and Fugaku's.
      for (const [rows, dim] of [[3, 5184 / 16 + 1], [40, 5184]]) {
        const x = randn(rng, rows * dim, 3);
        for (let i = 0; i < dim; i++) x[i] += 50;  // a large mean: the variance needs the exact mean
        const g = randn(rng, dim);
        const bta = randn(rng, dim);
        const a = new Float32Array(rows * dim);
        const b = new Float32Array(rows * dim);
        ref.layerNorm(x, rows, dim, g, bta, 1e-5, a);
        nat.layerNorm(x, rows, dim, g, bta, 1e-5, b);
        assert.ok(relErr(b, a) < 1e-5, `layerNorm [${rows}×${dim}] ${relErr(b, a)}`);
      }
      for (const name of Object.keys(ACTIVATIONS) as ActivationName[]) {
        const v = randn(rng, 1001, 4);
        const ra = v.slice();
        const na = v.slice();
        ref.activation(name, ra, ra.length);
        nat.activation(name, na, na.length);
        assert.ok(relErr(na, ra) < 1e-5, `${name}: ${relErr(na, ra)}`);
      }
    });
  }
}

test('backends refuse matrices of another backend and bad quantized shapes', () => {
  const nat = NativeBackend.create({ threads: 1 });
  const w: WeightTensor = { dtype: 'F32', shape: [40, 8], data: new Float32Array(320) };
  const m = ref.loadMatrix(w, 'out_in');
  assert.throws(() => nat.matmul(new Float32Array(40), 1, m, null, new Float32Array(8)), (e: FugakuError) => e.code === 'INTERNAL');
  for (const be of [nat, ref] as Backend[]) {
    assert.throws(() => be.loadMatrix(w, 'in_out', 'Q8_0'), (e: FugakuError) => e.code === 'DTYPE_UNSUPPORTED' && /multiple of 32/.test(e.message));
  }
});
