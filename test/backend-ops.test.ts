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
import { tensorFrom, type Backend, type MatrixFormat, type MatrixLayout, type Tensor, type TensorDType, type WeightTensor } from '../src/backend/backend.js';
import { Rng } from '../src/generation/rng.js';
import { convertStorage, f16ToF32, f32ToF16 } from '../src/tensor/dtype.js';
import { ACTIVATIONS, type ActivationName } from '../src/tensor/activations.js';
import { quantizeMatrix } from '../src/tensor/quant.js';
import { FugakuError } from '../src/errors.js';
import { backendRegistry } from './backend-registry.js';
import { randomBlockRows } from './ggml-blocks.js';
import { BLOCK_TYPES, GGML_BLOCK_TYPE_NAMES, type GGMLBlockType } from '../src/tensor/ggml/formats.js';
import { dequantizeRowGGML } from '../src/tensor/ggml/dequantize.js';
import { dequantizeActs, quantizeActsFor } from '../src/tensor/ggml/activations.js';
import { randn, relErr } from './helpers.js';

const addon = loadNativeAddon();
const registry = backendRegistry();

test('the backend registry: what runs here, and what does not and why', (t) => {
  t.diagnostic(registry.describe());
  assert.equal(registry.present[0].name, 'reference');
  assert.ok(registry.accelerated.length >= 1, 'at least one backend besides the reference (the native addon builds with npm install)');
  for (const a of registry.absent) assert.ok(a.reason.length > 0, a.name);
});

test('the native addon is built and loads (npm install builds it with node-gyp)', async () => {
  assert.ok(addon.ok, `native addon missing: ${addon.ok ? '' : addon.reason}`);
  const be = await createBackend({ backend: 'auto', gpu: false });
  assert.equal(be.name, 'native');
  // FUGAKU_NATIVE_ADDON may name it relative to the working directory.
  const rel = path.relative(process.cwd(), addonPath());
  assert.equal(addonPath({ FUGAKU_NATIVE_ADDON: rel }), path.resolve(rel));
  assert.ok(loadNativeAddon(rel).ok);
});

/** Host floats into a new tensor of `be` (f32, or rounded to f16 bits). */
function up(be: Backend, data: Float32Array, dtype: TensorDType = 'f32'): Tensor {
  if (dtype === 'f32') return tensorFrom(be, data);
  const t = be.alloc(data.length, dtype);
  be.write(t, data);
  return t;
}

/** A tensor's contents on the host (f16 elements widened exactly to float32). */
function down(be: Backend, t: Tensor, offset?: number, n?: number): Promise<Float32Array> {
  return be.read(t, offset, n);
}

/** Allocates an output of `n` elements on `be`, runs `op` into it and reads it back. */
async function run(be: Backend, n: number, op: (out: Tensor) => void): Promise<Float32Array> {
  const out = be.alloc(n);
  op(out);
  return down(be, out);
}

/** Attention inputs on the host: f32 rows, or f16 caches given as floats to round (`cacheDtype`). */
interface HostAttention {
  q: Float32Array;
  t: number;
  kCache: Float32Array;
  vCache: Float32Array;
  cacheDtype?: TensorDType;
  past: number;
  nHead: number;
  headDim: number;
  scale: number;
  keyMask: Uint8Array | null;
}

/**
 * Uploads the inputs, runs attention and reads its output back. `qOffset`/`outOffset` place the
 * queries and the output that many elements into larger tensors (the rest of q is noise, the rest of
 * out must stay untouched).
 */
async function attend(be: Backend, a: HostAttention, qOffset = 0, outOffset = 0): Promise<Float32Array> {
  const n = a.t * a.nHead * a.headDim;
  const q = be.alloc(qOffset + n + 3);
  be.write(q, new Float32Array(qOffset + n + 3).fill(7.5));
  be.write(q, a.q, qOffset);
  const out = be.alloc(outOffset + n + 3);
  be.attention({
    q, qOffset, t: a.t, past: a.past, nHead: a.nHead, headDim: a.headDim, scale: a.scale, keyMask: a.keyMask,
    kCache: up(be, a.kCache, a.cacheDtype), vCache: up(be, a.vCache, a.cacheDtype), out, outOffset,
  });
  const all = await down(be, out);
  for (let i = 0; i < all.length; i++) if (i < outOffset || i >= outOffset + n) assert.equal(all[i], 0, `attention wrote element ${i}, outside its output rows`);
  return all.subarray(outOffset, outOffset + n);
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
  test(`native ${x86Sets.join(', ')}: quantized matmul results are bit-identical across the sets, 1 to 130 rows`, async (t) => {
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
        const outs = await Promise.all(backends.map((b) => run(b, rows * outDim, (y) => b.matmul(up(b, x), rows, b.loadMatrix(w, 'out_in', format), up(b, bias), y))));
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
    const be = entry.name;
    let nat: Backend;
    try {
      nat = await entry.create({ threads });
    } catch (e) {
      test(`${be} ×${threads}: the backend opens`, () => {
        throw e;
      });
      continue;
    }

    test(`${be} ×${threads}: matmul equals the reference for every format, layout and shape`, async () => {
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
            const a = await run(ref, rows * outDim, (o) => ref.matmul(up(ref, x), rows, mr, bias && up(ref, bias), o));
            const b = await run(nat, rows * outDim, (o) => nat.matmul(up(nat, x), rows, mn, bias && up(nat, bias), o));
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

    test(`${be} ×${threads}: embedding rows equal the reference's (dequantized) rows exactly`, async () => {
      const rng = new Rng(5);
      for (const format of FORMATS) {
        // Include values that land exactly on rounding ties of the quantizers.
        const data = randn(rng, 50 * 96);
        for (let i = 0; i < 96; i += 3) data[i] = (i % 7) - 3 + 0.5;
        const w: WeightTensor = { dtype: 'F32', shape: [50, 96], data };
        const ids = Int32Array.from([0, 49, 7, 7, 23]);
        const a = await run(ref, ids.length * 96, (o) => ref.embedding(ref.loadMatrix(w, 'out_in', format), ids, o));
        const b = await run(nat, ids.length * 96, (o) => nat.embedding(nat.loadMatrix(w, 'out_in', format), ids, o));
        // Conversion and quantization are bit-exact with the TypeScript specification.
        assert.deepEqual(b, a, `${format}: rows differ`);
        assert.throws(() => nat.embedding(nat.loadMatrix(w, 'out_in', format), Int32Array.from([50]), nat.alloc(96)), (e: FugakuError) => e.code === 'TOKEN_ID_OUT_OF_RANGE');
      }
    });

    test(`${be} ×${threads}: Q4_0/Q8_0 quantization corner cases are bit-exact with the spec`, async () => {
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
      const ids = Int32Array.from(rows.map((_, i) => i));
      for (const format of ['Q4_0', 'Q8_0'] as const) {
        const a = await run(ref, ids.length * 32, (o) => ref.embedding(ref.loadMatrix(w, 'out_in', format), ids, o));
        const b = await run(nat, ids.length * 32, (o) => nat.embedding(nat.loadMatrix(w, 'out_in', format), ids, o));
        assert.deepEqual(b, a, `${format}: dequantized rows differ`);
      }
    });

    test(`${be} ×${threads}: activations are quantized as the spec rounds them (ties away from zero)`, async () => {
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
        const a = await run(ref, rows * n, (o) => ref.matmul(up(ref, x), rows, ref.loadMatrix(w, 'out_in', format), null, o));
        const b = await run(nat, rows * n, (o) => nat.matmul(up(nat, x), rows, nat.loadMatrix(w, 'out_in', format), null, o));
        for (let i = 0; i < a.length; i++) {
          assert.ok(Math.abs(b[i] - a[i]) <= 1e-6 * Math.abs(a[i]), `${format} output ${i}: ${b[i]} vs the spec's ${a[i]}`);
        }
        // One row alone (the decode path) quantizes the same way.
        const one = await run(nat, n, (o) => nat.matmul(up(nat, x.subarray(n, 2 * n)), 1, nat.loadMatrix(w, 'out_in', format), null, o));
        assert.deepEqual(one, b.subarray(n, 2 * n));
      }
    });

    test(`${be} ×${threads}: copyRows copies strided rows (f32, and f16 rounded like f32ToF16); addInPlace adds`, async () => {
      const rng = new Rng(23);
      const E = 37;
      const t = 6;
      const src = randn(rng, t * 3 * E + 5, 2);
      for (const dtype of ['f32', 'f16'] as const) {
        const at = ref.alloc(2 + t * E, dtype);
        const bt = nat.alloc(2 + t * E, dtype);
        ref.copyRows(up(ref, src), 5 + E, at, 2, E, t, 3 * E);
        nat.copyRows(up(nat, src), 5 + E, bt, 2, E, t, 3 * E);
        const a = await down(ref, at);
        const b = await down(nat, bt);
        assert.deepEqual(b, a);
        assert.equal(b[0], 0, 'nothing written before dstOff');
      }
      assert.throws(() => nat.copyRows(up(nat, src), 0, nat.alloc(10), 0, E, t, 3 * E), /too short|outside the tensor/);
      for (const len of [7, 100_003, 300_000]) {
        const x = randn(rng, len);
        const y = randn(rng, len);
        const at = up(ref, x);
        const bt = up(nat, x);
        ref.addInPlace(at, up(ref, y), len - 3);
        nat.addInPlace(bt, up(nat, y), len - 3);
        assert.deepEqual(await down(nat, bt), await down(ref, at));
      }
    });

    test(`${be} ×${threads}: pre-quantized blocks (as in GGUF) load and compute like the reference`, async () => {
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
          const a = await run(ref, rows * outDim, (o) => ref.matmul(up(ref, x), rows, mr, null, o));
          const b = await run(nat, rows * outDim, (o) => nat.matmul(up(nat, x), rows, mn, null, o));
          assert.ok(relErr(b, a) < 2e-3, `${type} [${inDim}→${outDim}] rows ${rows}: rel err ${relErr(b, a)}`);
          const ids = Int32Array.from({ length: outDim }, (_, i) => outDim - 1 - i);
          const ea = await run(ref, outDim * inDim, (o) => ref.embedding(mr, ids, o));
          const eb = await run(nat, outDim * inDim, (o) => nat.embedding(mn, ids, o));
          assert.deepEqual(eb, ea, `${type} [${inDim}→${outDim}]: dequantized rows differ`);
        }
      }
    });

    test(`${be} ×${threads}: attention (head_dim 144, past > 0, padding mask) equals the reference`, async () => {
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
        const a = await attend(ref, args);
        // Rows further into q and out, as for the second and later sequences of a batch.
        const b = await attend(nat, args, (i % 3) * width, (i % 2) * width);
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
        const a = await attend(ref, args);
        const b = await attend(nat, args);
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
        const a = await attend(ref, args);
        const b = await attend(nat, args);
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
        const a = await attend(ref, args);
        const b = await attend(nat, args);
        assert.ok(relErr(b, a) < 1e-5, `peaked decode: heads ${nHead}×${headDim} past ${past}: ${relErr(b, a)}`);
      }
    });

    test(`${be} ×${threads}: f16 KV cache — stores round like f32ToF16 and attention over f16 rows equals the reference`, async () => {
      const rng = new Rng(21);
      const n = 1000;
      const src = randn(rng, n, 2);
      const at = ref.alloc(n + 8, 'f16');
      const bt = nat.alloc(n + 8, 'f16');
      ref.copyRows(up(ref, src), 3, at, 5, n - 3);
      nat.copyRows(up(nat, src), 3, bt, 5, n - 3);
      // Reading widens f16 exactly, so equal floats are equal half bits.
      const a = await down(ref, at);
      const b = await down(nat, bt);
      assert.deepEqual(b, a);
      for (let i = 0; i < n - 3; i++) assert.equal(a[5 + i], f16ToF32(f32ToF16(src[3 + i])));
      // One query block and one per-query step (t = 2), over f16 rows.
      for (const [nHead, headDim, past, t] of [[3, 144, 11, 2], [3, 144, 11, 9]]) {
        const width = nHead * headDim;
        const q = randn(rng, t * width);
        // Rounded to f16 when uploaded (write rounds as copyRows does: f32ToF16).
        const k16 = randn(rng, (past + t) * width);
        const v16 = randn(rng, (past + t) * width);
        const args = { q, t, kCache: k16, vCache: v16, cacheDtype: 'f16' as const, past, nHead, headDim, scale: 1 / 12, keyMask: null };
        const o1 = await attend(ref, args);
        const o2 = await attend(nat, args);
        assert.ok(relErr(o2, o1) < 1e-5, `f16 attention t ${t}: ${relErr(o2, o1)}`);
      }
      // A long f16 cache (the decode path), with a masked prefix.
      {
        const [nHead, headDim, past] = [4, 144, 1000];
        const width = nHead * headDim;
        const q = randn(rng, width);
        const k16 = randn(rng, (past + 1) * width);
        const v16 = randn(rng, (past + 1) * width);
        const keyMask = new Uint8Array(past + 1).fill(1);
        keyMask.fill(0, 0, 70);
        const args = { q, t: 1, kCache: k16, vCache: v16, cacheDtype: 'f16' as const, past, nHead, headDim, scale: 1 / 12, keyMask };
        const r1 = await attend(ref, args);
        const r2 = await attend(nat, args);
        assert.ok(relErr(r2, r1) < 1e-5, `long f16 attention ${relErr(r2, r1)}`);
      }
    });

    test(`${be} ×${threads}: layerNorm and every activation equal the reference`, async () => {
      const rng = new Rng(3);
      // A few rows (one thread) and many (spread over the pool), an odd width and Fugaku's.
      for (const [rows, dim] of [[3, 5184 / 16 + 1], [40, 5184]]) {
        const x = randn(rng, rows * dim, 3);
        for (let i = 0; i < dim; i++) x[i] += 50;  // a large mean: the variance needs the exact mean
        const g = randn(rng, dim);
        const bta = randn(rng, dim);
        const a = await run(ref, rows * dim, (o) => ref.layerNorm(up(ref, x), rows, dim, up(ref, g), up(ref, bta), 1e-5, o));
        const b = await run(nat, rows * dim, (o) => nat.layerNorm(up(nat, x), rows, dim, up(nat, g), up(nat, bta), 1e-5, o));
        assert.ok(relErr(b, a) < 1e-5, `layerNorm [${rows}×${dim}] ${relErr(b, a)}`);
      }
      for (const name of Object.keys(ACTIVATIONS) as ActivationName[]) {
        const v = randn(rng, 1001, 4);
        const rt = up(ref, v);
        const nt = up(nat, v);
        ref.activation(name, rt, v.length);
        nat.activation(name, nt, v.length);
        const ra = await down(ref, rt);
        const na = await down(nat, nt);
        assert.ok(relErr(na, ra) < 1e-5, `${name}: ${relErr(na, ra)}`);
      }
    });
  }
}

test('backends refuse matrices of another backend and bad quantized shapes', () => {
  const nat = NativeBackend.create({ threads: 1 });
  const w: WeightTensor = { dtype: 'F32', shape: [40, 8], data: new Float32Array(320) };
  const m = ref.loadMatrix(w, 'out_in');
  assert.throws(() => nat.matmul(nat.alloc(40), 1, m, null, nat.alloc(8)), (e: FugakuError) => e.code === 'INTERNAL');
  for (const be of [nat, ref] as Backend[]) {
    assert.throws(() => be.loadMatrix(w, 'in_out', 'Q8_0'), (e: FugakuError) => e.code === 'DTYPE_UNSUPPORTED' && /multiple of 32/.test(e.message));
  }
});

// The tensor part of the interface (alloc, write, read, argmax, copyRows between dtypes, ownership), on
// every backend of the registry, the reference included: checked against its specification directly.
for (const entry of registry.present) {
  const be = await entry.create({ threads: 2 });
  const name = entry.name;
  // A tensor this backend must refuse: one of another backend (the reference's, or the native one's
  // for the reference), and one that is no backend's at all.
  const other = entry.isSpec ? await registry.accelerated[0]?.create({ threads: 1 }) : ref;
  const foreign: Tensor[] = [{ backend: 'elsewhere', dtype: 'f32', length: 64 }];
  if (other !== undefined && other.name !== be.name) foreign.push(other.alloc(64));

  test(`${name}: alloc gives zero-filled tensors of the asked size and dtype (f32 and f16)`, async () => {
    for (const dtype of ['f32', 'f16'] as const) {
      for (const n of [0, 1, 37, 4099]) {
        const t = be.alloc(n, dtype);
        assert.equal(t.backend, be.name);
        assert.equal(t.dtype, dtype);
        assert.equal(t.length, n);
        const back = await down(be, t);
        assert.equal(back.length, n);
        for (let i = 0; i < n; i++) assert.ok(Object.is(back[i], 0), `${dtype} element ${i} of ${n} is ${back[i]}, not +0`);
      }
    }
    assert.equal(be.alloc(5).dtype, 'f32', 'f32 by default');
    for (const bad of [-1, 1.5, NaN]) assert.throws(() => be.alloc(bad), (e: unknown) => e instanceof FugakuError && e.code === 'INVALID_ARGUMENT');
  });

  test(`${name}: write/read round trip with offsets; f16 rounds like f32ToF16; read is the value as of the call`, async () => {
    const rng = new Rng(41);
    // Values that round in f16: a third, past the largest half (→ ∞), subnormal halves, −0, ties.
    const special = new Float32Array([1 / 3, 65519, 65520, 1e6, -1e6, 6e-8, 3e-5, -0, 1 + 2 ** -11, 1 + 3 * 2 ** -11, -2.5e-3]);
    for (const dtype of ['f32', 'f16'] as const) {
      const round = (x: number) => (dtype === 'f16' ? f16ToF32(f32ToF16(x)) : Math.fround(x));
      const t = be.alloc(60, dtype);
      const a = randn(rng, 10, 3);
      be.write(t, a, 7);
      be.write(t, special, 45);
      be.write(t, new Float32Array([2.75]));  // offset 0 by default
      const all = await down(be, t);
      assert.equal(all.length, 60);
      for (let i = 0; i < 60; i++) {
        const want = i === 0 ? 2.75 : i >= 7 && i < 17 ? round(a[i - 7]) : i >= 45 && i < 56 ? round(special[i - 45]) : 0;
        assert.ok(Object.is(all[i], want), `${dtype} element ${i}: ${all[i]} vs ${want}`);
      }
      assert.deepEqual(await down(be, t, 7, 10), all.slice(7, 17));
      assert.deepEqual(await down(be, t, 45), all.slice(45));
      assert.equal((await down(be, t, 60, 0)).length, 0);
      // Later writes do not change a read already asked for.
      const pending = be.read(t, 7, 10);
      be.write(t, new Float32Array(10).fill(-1), 7);
      assert.deepEqual(await pending, all.slice(7, 17));
      assert.deepEqual(await down(be, t, 7, 10), new Float32Array(10).fill(-1));
      // Out of range: typed errors, for write and read.
      const outside = (e: unknown) => e instanceof FugakuError && e.code === 'INVALID_ARGUMENT';
      assert.throws(() => be.write(t, new Float32Array(4), 57), outside);
      await assert.rejects(async () => be.read(t, 55, 6), outside);
      await assert.rejects(async () => be.read(t, -1, 2), outside);
    }
  });

  test(`${name}: argmax of several rows (the first index on ties; only rows·cols elements read)`, async () => {
    const rng = new Rng(43);
    const rows = 6;
    const cols = 37;
    const x = randn(rng, rows * cols + 5);
    x[1 * cols + 30] = 9; x[1 * cols + 4] = 9; x[1 * cols + 20] = 9;  // a three-way tie: 4
    x[2 * cols + 0] = 8; x[2 * cols + 36] = 8;                           // first and last: 0
    x.fill(-1.5, 3 * cols, 4 * cols);                                    // all equal: 0
    x.fill(-Infinity, 4 * cols, 5 * cols); x[4 * cols + 36] = -1e30;     // the last one
    x[5 * cols + 36] = 5; x[5 * cols + 35] = 5;                          // two at the end: 35
    x.fill(1e9, rows * cols);                                            // past the rows: not read
    const want = new Int32Array(rows);
    for (let r = 0; r < rows; r++) {
      for (let i = 1; i < cols; i++) if (x[r * cols + i] > x[r * cols + want[r]]) want[r] = i;
    }
    assert.deepEqual(Array.from(want.subarray(1)), [4, 0, 0, 36, 35]);
    const got = await be.argmax(up(be, x), rows, cols);
    assert.ok(got instanceof Int32Array);
    assert.deepEqual(got, want);
    assert.deepEqual(await be.argmax(up(be, x), 1, cols), want.subarray(0, 1));
  });

  test(`${name}: copyRows f16 → f16 (bit copies) and f32 → f16 (rounded like f32ToF16); f16 → f32 is refused`, async () => {
    const rng = new Rng(47);
    const n = 13;
    const rows = 4;
    const stride = 29;
    const srcOff = 3;
    const dstOff = 5;
    const host = randn(rng, srcOff + rows * stride, 4);
    host.set([65520, 1 / 3, -0, 6e-8], srcOff);  // rounding cases inside the first copied row
    const expected = (r: number, i: number) => f16ToF32(f32ToF16(host[srcOff + r * stride + i]));
    for (const from of ['f32', 'f16'] as const) {
      const src = up(be, host, from);
      const dst = be.alloc(dstOff + rows * n + 2, 'f16');
      be.copyRows(src, srcOff, dst, dstOff, n, rows, stride);
      const got = await down(be, dst);
      for (let k = 0; k < got.length; k++) {
        const j = k - dstOff;
        const want = j < 0 || j >= rows * n ? 0 : expected(Math.floor(j / n), j % n);
        assert.ok(Object.is(got[k], want), `${from} → f16 element ${k}: ${got[k]} vs ${want}`);
      }
      // One row, default stride (the KV cache copy).
      const one = be.alloc(n, 'f16');
      be.copyRows(src, srcOff, one, 0, n);
      assert.deepEqual(await down(be, one), got.slice(dstOff, dstOff + n));
    }
    assert.throws(() => be.copyRows(up(be, host, 'f16'), 0, be.alloc(n), 0, n), (e: unknown) => e instanceof FugakuError);
  });

  test(`${name}: every op refuses a tensor of another backend (FugakuError)`, async () => {
    const E = 64;
    const w = be.loadMatrix({ dtype: 'F32', shape: [E, E], data: new Float32Array(E * E) }, 'out_in');
    const mine = () => be.alloc(E);
    const refused = (e: unknown) => e instanceof FugakuError;
    for (const f of foreign) {
      const ops: [string, () => unknown][] = [
        ['matmul x', () => be.matmul(f, 1, w, null, mine())],
        ['matmul bias', () => be.matmul(mine(), 1, w, f, mine())],
        ['matmul out', () => be.matmul(mine(), 1, w, null, f)],
        ['embedding', () => be.embedding(w, Int32Array.from([1]), f)],
        ['layerNorm x', () => be.layerNorm(f, 1, E, mine(), mine(), 1e-5, mine())],
        ['layerNorm gamma', () => be.layerNorm(mine(), 1, E, f, mine(), 1e-5, mine())],
        ['layerNorm out', () => be.layerNorm(mine(), 1, E, mine(), mine(), 1e-5, f)],
        ['activation', () => be.activation('gelu_new', f, E)],
        ['addInPlace a', () => be.addInPlace(f, mine(), E)],
        ['addInPlace b', () => be.addInPlace(mine(), f, E)],
        ['copyRows src', () => be.copyRows(f, 0, mine(), 0, E)],
        ['copyRows dst', () => be.copyRows(mine(), 0, f, 0, E)],
        ['write', () => be.write(f, new Float32Array(4))],
        ['free', () => be.free(f)],
      ];
      const attn = { qOffset: 0, t: 1, past: 0, nHead: 1, headDim: E, scale: 1, keyMask: null, outOffset: 0 };
      ops.push(['attention q', () => be.attention({ ...attn, q: f, kCache: mine(), vCache: mine(), out: mine() })]);
      ops.push(['attention kCache', () => be.attention({ ...attn, q: mine(), kCache: f, vCache: mine(), out: mine() })]);
      ops.push(['attention out', () => be.attention({ ...attn, q: mine(), kCache: mine(), vCache: mine(), out: f })]);
      for (const [op, call] of ops) assert.throws(call, refused, `${op} took a tensor of ${f.backend}`);
      await assert.rejects(async () => be.read(f), refused, 'read');
      await assert.rejects(async () => be.argmax(f, 1, E), refused, 'argmax');
    }
    assert.ok(foreign.length >= 1);
  });
}

// ---- ggml block formats as GGUF stores them (Q4_1..IQ1_M; Q8_0/Q4_0 are covered above) -------------

/**
 * The backends (Backend.name) that compute on the ggml block types besides Q8_0/Q4_0. A backend's
 * helper adds its name here when its kernels land; every other backend must refuse such a weight with
 * DTYPE_UNSUPPORTED at loadMatrix (asserted below), never crash or compute garbage.
 */
const BLOCK_FORMAT_BACKENDS: readonly string[] = ['reference', 'native', 'webgpu'];
const NEW_BLOCK_FORMATS = GGML_BLOCK_TYPE_NAMES.filter((t) => t !== 'Q8_0' && t !== 'Q4_0');

/** A random [outDim, inDim] weight of valid `type` blocks (random bytes, small finite f16 scales). */
function randomBlockWeight(type: GGMLBlockType, outDim: number, inDim: number, rng: Rng): WeightTensor {
  const data = randomBlockRows(type, outDim, inDim, () => Math.floor(rng.nextFloat() * 256), () => (rng.nextFloat() - 0.4) * 0.02);
  return { dtype: type, shape: [outDim, inDim], data };
}

test('reference: matmul on every ggml block type is Σ dequant(W)·dequant(quantized x) (+ bias), embedding is dequantizeRowGGML', async () => {
  const rng = new Rng(1801);
  for (const type of NEW_BLOCK_FORMATS) {
    const bs = BLOCK_TYPES[type].blockSize;
    const inDim = bs * (1 + Math.floor(rng.nextFloat() * (bs === 256 ? 2 : 8)));
    const outDim = 1 + Math.floor(rng.nextFloat() * 20);
    const w = randomBlockWeight(type, outDim, inDim, rng);
    const m = ref.loadMatrix(w, 'out_in');
    assert.equal(m.format, type);
    assert.equal(m.byteSize, w.data.length);
    const deq = new Float32Array(outDim * inDim);
    const rowBytes = w.data.length / outDim;
    for (let o = 0; o < outDim; o++) dequantizeRowGGML(type, w.data as Uint8Array, o * rowBytes, inDim, deq, o * inDim);
    for (const rows of [1, 3]) {
      const x = randn(rng, rows * inDim);
      const bias = randn(rng, outDim);
      const got = await run(ref, rows * outDim, (o) => ref.matmul(up(ref, x), rows, m, up(ref, bias), o));
      const xa = dequantizeActs(quantizeActsFor(BLOCK_TYPES[type].act, x, rows, inDim));
      const want = new Float32Array(rows * outDim);
      for (let r = 0; r < rows; r++) {
        for (let o = 0; o < outDim; o++) {
          let s = 0;
          for (let i = 0; i < inDim; i++) s += deq[o * inDim + i] * xa[r * inDim + i];
          want[r * outDim + o] = s + bias[o];
        }
      }
      assert.ok(relErr(got, want) < 1e-5, `${type} [${inDim}→${outDim}] rows ${rows}: rel err ${relErr(got, want)}`);
    }
    const ids = Int32Array.from([outDim - 1, 0, outDim - 1]);
    const emb = await run(ref, ids.length * inDim, (o) => ref.embedding(m, ids, o));
    for (let t = 0; t < ids.length; t++) assert.deepEqual(emb.subarray(t * inDim, (t + 1) * inDim), deq.subarray(ids[t] * inDim, (ids[t] + 1) * inDim), `${type} embedding row ${ids[t]}`);
    // As stored or dequantized to floats; never converted to another block type here.
    const f = ref.loadMatrix(w, 'out_in', 'F32');
    const embF = await run(ref, ids.length * inDim, (o) => ref.embedding(f, ids, o));
    assert.deepEqual(embF, emb, `${type} loaded as F32`);
    const other = bs === 256 ? (type === 'Q6_K' ? 'Q4_K' : 'Q6_K') : type === 'Q5_0' ? 'Q5_1' : 'Q5_0';
    assert.throws(() => ref.loadMatrix(w, 'out_in', other), (e: FugakuError) => e.code === 'DTYPE_UNSUPPORTED' && e.message.includes(type) && e.message.includes(other));
    assert.throws(() => ref.loadMatrix({ dtype: 'F32', shape: [outDim, inDim], data: deq }, 'out_in', type), (e: FugakuError) => e.code === 'DTYPE_UNSUPPORTED' && e.message.includes(type));
  }
  assert.throws(() => ref.loadMatrix(randomBlockWeight('Q4_K', 2, 256, rng), 'out_in', 'Q8_0'), (e: FugakuError) => e.code === 'DTYPE_UNSUPPORTED');
  assert.throws(() => ref.loadMatrix({ dtype: 'Q4_K', shape: [2, 96], data: new Uint8Array(2 * 144) }, 'out_in'), (e: FugakuError) => e.code === 'DTYPE_UNSUPPORTED' && /multiple of 256/.test(e.message));
});

for (const entry of registry.accelerated) {
  const be = await entry.create({ threads: 2 }).catch(() => null);
  if (be === null) continue; // reported by "the backend opens" above
  const supports = BLOCK_FORMAT_BACKENDS.includes(be.name);
  test(`${entry.name}: ggml block types ${supports ? 'matmul (rows 1, 3, 9) and embedding equal the reference' : 'are refused with DTYPE_UNSUPPORTED'}`, async () => {
    const rng = new Rng(1802);
    for (const type of NEW_BLOCK_FORMATS) {
      const bs = BLOCK_TYPES[type].blockSize;
      const inDim = bs * (bs === 256 ? 2 : 5);
      const outDim = 13;
      const w = randomBlockWeight(type, outDim, inDim, rng);
      if (!supports) {
        assert.throws(() => be.loadMatrix(w, 'out_in'), (e: FugakuError) => e.code === 'DTYPE_UNSUPPORTED' && e.message.includes(type), type);
        continue;
      }
      const mr = ref.loadMatrix(w, 'out_in');
      const mb = be.loadMatrix(w, 'out_in');
      assert.equal(mb.format, type);
      for (const rows of [1, 3, 9]) {
        const x = randn(rng, rows * inDim);
        const bias = rows === 3 ? randn(rng, outDim) : null;
        const a = await run(ref, rows * outDim, (o) => ref.matmul(up(ref, x), rows, mr, bias && up(ref, bias), o));
        const b = await run(be, rows * outDim, (o) => be.matmul(up(be, x), rows, mb, bias && up(be, bias), o));
        assert.ok(relErr(b, a) < 1e-4, `${type} [${inDim}→${outDim}] rows ${rows}: rel err ${relErr(b, a)}`);
      }
      const ids = Int32Array.from([0, 12, 5, 5]);
      const a = await run(ref, ids.length * inDim, (o) => ref.embedding(mr, ids, o));
      const b = await run(be, ids.length * inDim, (o) => be.embedding(mb, ids, o));
      assert.ok(relErr(b, a) < 1e-4, `${type} embedding: rel err ${relErr(b, a)}`);
    }
  });
}
