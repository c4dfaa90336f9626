/**
 * The native addon on ggml's other block types (Q4_1 … IQ1_M, kept as raw GGUF rows: native/blocks.h):
 * every kernel set this CPU runs against the TypeScript spec (src/tensor/ggml: quantizeActsFor +
 * dotRowGGML for matmul, dequantizeRowGGML for embedding) at odd shapes (out not a multiple of 8, in
 * = 256·k and 32·k), and on the kernels' edge cases: all-zero scales and maximal quants (every byte
 * 0xff). The kernel sets are also compared with the portable one, which they must match to float
 * rounding (they compute the same integer sums per block). And the loader's checks: no conversion
 * to these types, whole blocks only, the exact byte length.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadNativeAddon, NATIVE_FORMATS, type NativeAddon } from '../src/backend/native-addon.js';
import { NativeBackend, availableKernels } from '../src/backend/native.js';
import { BLOCK_TYPES, blockRowBytes, type GGMLBlockType } from '../src/tensor/ggml/formats.js';
import { quantizeActsFor } from '../src/tensor/ggml/activations.js';
import { dotRowGGML } from '../src/tensor/ggml/dot.js';
import { dequantizeRowGGML } from '../src/tensor/ggml/dequantize.js';
import { FugakuError } from '../src/errors.js';
import { Rng } from '../src/generation/rng.js';
import { randn, relErr } from './helpers.js';

const load = loadNativeAddon();
if (!load.ok) throw new Error(`native addon missing: ${load.reason}`);
const addon: NativeAddon = load.addon;
const F = addon.constants.formats;
const sets = availableKernels(addon.cpuFeatures());

/** The byte offsets of each block's f16 scales (ggml-common.h's structs); IQ1_M's is spread over its scales' top nibbles. */
const F16_FIELDS: Record<string, number[]> = {
  Q4_1: [0, 2], Q5_0: [0], Q5_1: [0, 2], Q2_K: [80, 82], Q3_K: [108], Q4_K: [0, 2], Q5_K: [0, 2], Q6_K: [208],
  IQ2_XXS: [0], IQ2_XS: [0], IQ3_XXS: [0], IQ1_S: [0], IQ4_NL: [0], IQ3_S: [0], IQ2_S: [0], IQ4_XS: [0], IQ1_M: [],
};
const TYPES = Object.keys(F16_FIELDS) as GGMLBlockType[];

type Mode = 'random' | 'max quants' | 'zero scales';
/** rows × in values of `type` as GGUF block bytes: random (small random f16 scales), all 0xff (scales kept valid) or with zero scales. */
function blockRows(type: GGMLBlockType, rows: number, inDim: number, mode: Mode, rng: Rng): Uint8Array {
  const { blockSize, typeSize } = BLOCK_TYPES[type];
  const nb = rows * (inDim / blockSize);
  const u = new Uint8Array(nb * typeSize);
  for (let i = 0; i < u.length; i++) u[i] = mode === 'max quants' ? 0xff : Math.floor(rng.nextFloat() * 256);
  for (let b = 0; b < nb; b++) {
    const o = b * typeSize;
    for (const f of F16_FIELDS[type]) {
      const h = mode === 'zero scales' ? 0 : 0x2000 + Math.floor(rng.nextFloat() * 0x800);
      u[o + f] = h & 255;
      u[o + f + 1] = h >> 8;
    }
    if (type === 'IQ1_M') {
      const h = mode === 'zero scales' ? 0 : 0x2400 + Math.floor(rng.nextFloat() * 0x400);
      for (let k = 0; k < 4; k++) u[o + 49 + 2 * k] = (u[o + 49 + 2 * k] & 0x0f) | (((h >> (4 * k)) & 15) << 4);
    }
  }
  return u;
}

/** The spec's product: each activation row quantized for the type, then one dotRowGGML per weight row. */
function specMatmul(type: GGMLBlockType, w: Uint8Array, x: Float32Array, rows: number, inDim: number, outDim: number): Float32Array {
  const acts = quantizeActsFor(BLOCK_TYPES[type].act, x, rows, inDim);
  const rb = blockRowBytes(type, inDim);
  const out = new Float32Array(rows * outDim);
  for (let r = 0; r < rows; r++) for (let o = 0; o < outDim; o++) out[r * outDim + o] = dotRowGGML(type, w, o * rb, acts, r, inDim);
  return out;
}

test('the addon exports a format code for every block type', () => {
  for (const t of TYPES) {
    assert.ok(NATIVE_FORMATS.includes(t), t);
    assert.ok(Number.isInteger(F[t]), t);
  }
});

for (const type of TYPES) {
  test(`${type}: every kernel set (${sets.join(', ')}) agrees with the TypeScript spec; embedding is its dequantization`, () => {
    const rng = new Rng(1000 + BLOCK_TYPES[type].id);
    const small = BLOCK_TYPES[type].blockSize === 32;
    // [out, in, rows]: out not a multiple of 8; in = 256·k, or 32·k not a multiple of 256 for the 32-blocks;
    // 9 and 21 rows take the tile path where there is one (two 16-row tiles, the second part padding).
    const shapes: [number, number, number][] = [[37, small ? 608 : 512, 5], [13, small ? 96 : 256, 1], [3, small ? 1312 : 1280, 9], [35, small ? 544 : 768, 21]];
    const modes: Mode[] = ['random', 'max quants', 'zero scales'];
    for (const [outDim, inDim, rows] of shapes) {
      for (const mode of modes) {
        const w = blockRows(type, outDim, inDim, mode, rng);
        const x = randn(rng, rows * inDim);
        const want = specMatmul(type, w, x, rows, inDim, outDim);
        let portable: Float32Array | null = null;
        for (const simd of [...sets].reverse()) {  // portable first
          const ctx = addon.createContext(2, addon.constants.levels[simd]);
          const m = addon.loadMatrix(ctx, F[type], w, inDim, outDim, false, F[type]);
          assert.equal(addon.matrixBytes(m), w.length);
          const got = new Float32Array(rows * outDim);
          addon.matmul(ctx, m, x, rows, null, got);
          const where = `${type} ${simd} ${outDim}x${inDim} rows ${rows} (${mode})`;
          if (mode === 'zero scales') assert.ok(got.every((v) => v === 0), `${where}: zero scales give zeros`);
          else assert.ok(relErr(got, want) < 1e-4, `${where}: relErr ${relErr(got, want)} vs the spec`);
          if (portable === null) portable = got;
          else assert.ok(relErr(got, portable) < 1e-5, `${where}: relErr ${relErr(got, portable)} vs portable`);
          if (simd === 'portable' && mode !== 'zero scales') {
            const ids = Int32Array.from([outDim - 1, 0, Math.floor(outDim / 2)]);
            const emb = new Float32Array(ids.length * inDim);
            addon.embedding(ctx, m, ids, emb);
            const ref = new Float32Array(ids.length * inDim);
            const rb = blockRowBytes(type, inDim);
            ids.forEach((id, k) => dequantizeRowGGML(type, w, id * rb, inDim, ref, k * inDim));
            assert.ok(relErr(emb, ref) <= 1e-6, `${where}: embedding relErr ${relErr(emb, ref)}`);
          }
        }
      }
    }
  });
}

// Integer-exact products: every f16 scale 1.0 and activations that quantize exactly (integers, each
// 32-block holding a 127, so every activation scale is ±1): each kernel set's result is then ggml's
// integer sum itself, as long as the partial sums stay below 2^24 (small activations keep them there),
// and must equal the spec's exactly, whatever the float order. One superblock (n = 256) and several.
// The types whose values are integers at scale 1 (the other i-quants' grids and sub-block scales have
// fractions: (0.5 + ls)/4, IQ1's delta).
const INTEGER_TYPES: GGMLBlockType[] = ['Q4_1', 'Q5_0', 'Q5_1', 'Q2_K', 'Q3_K', 'Q4_K', 'Q5_K', 'Q6_K', 'IQ4_NL', 'IQ3_S', 'IQ4_XS'];
for (const type of INTEGER_TYPES) {
  test(`${type}: every kernel set gives the spec's integers exactly when the scales are 1`, () => {
    const rng = new Rng(2000 + BLOCK_TYPES[type].id);
    const { blockSize, typeSize } = BLOCK_TYPES[type];
    for (const [outDim, inDim, rows] of [[5, 256, 1], [7, 2304, 3]] as const) {
      const w = blockRows(type, outDim, inDim, 'random', rng);
      for (let b = 0; b < (outDim * inDim) / blockSize; b++) {
        const o = b * typeSize;
        for (const f of F16_FIELDS[type]) { u16(w, o + f, 0x3c00); }
        if (type === 'IQ1_M') for (let k = 0; k < 4; k++) w[o + 49 + 2 * k] = (w[o + 49 + 2 * k] & 0x0f) | (((0x3c00 >> (4 * k)) & 15) << 4);
      }
      const x = new Float32Array(rows * inDim);
      for (let i = 0; i < x.length; i++) x[i] = i % 32 === 0 ? (rng.nextFloat() < 0.5 ? 127 : -127) : Math.floor(rng.nextFloat() * 31) - 15;
      const want = specMatmul(type, w, x, rows, inDim, outDim);
      assert.ok(want.every((v) => Number.isInteger(v) && Math.abs(v) < 2 ** 24), `${type}: the spec's values are integers`);
      for (const simd of sets) {
        const ctx = addon.createContext(1, addon.constants.levels[simd]);
        const m = addon.loadMatrix(ctx, F[type], w, inDim, outDim, false, F[type]);
        const got = new Float32Array(rows * outDim);
        addon.matmul(ctx, m, x, rows, null, got);
        assert.deepEqual(Array.from(got), Array.from(want), `${type} ${simd} ${outDim}x${inDim} rows ${rows}`);
      }
    }
  });
}

/** Writes a little-endian uint16. */
function u16(u: Uint8Array, o: number, v: number): void {
  u[o] = v & 255;
  u[o + 1] = v >> 8;
}

test('block-type matrices load only from their own blocks, whole blocks, the exact length', () => {
  const ctx = addon.createContext(1, addon.constants.levels.portable);
  const bad = (f: () => unknown, re: RegExp) =>
    assert.throws(f, (e: unknown) => e instanceof FugakuError && e.code === 'NATIVE_INVALID_ARGUMENT' && re.test(e.message));
  bad(() => addon.loadMatrix(ctx, F.F32, new Float32Array(256 * 2), 256, 2, false, F.Q4_K), /own type/);
  bad(() => addon.loadMatrix(ctx, F.Q4_K, new Uint8Array(144 * 2), 128, 2, false, F.Q4_K), /whole blocks/);
  bad(() => addon.loadMatrix(ctx, F.Q4_K, new Uint8Array(144 * 2 - 1), 256, 2, false, F.Q4_K), /wrong length/);
  bad(() => addon.loadMatrix(ctx, F.Q5_0, new Uint8Array(22 * 2), 32, 2, true, F.Q5_0), /\[out\]\[in\]/);
});

test('NativeBackend: float weights do not convert to the other block types, nor block weights to floats (DTYPE_UNSUPPORTED)', () => {
  const be = NativeBackend.create({ threads: 1, simd: 'portable', addon });
  const unsupported = (e: unknown) => e instanceof FugakuError && e.code === 'DTYPE_UNSUPPORTED';
  assert.throws(() => be.loadMatrix({ dtype: 'F32', shape: [2, 256], data: new Float32Array(512) }, 'out_in', 'Q4_K'), unsupported);
  const w = blockRows('Q6_K', 2, 256, 'random', new Rng(5));
  assert.throws(() => be.loadMatrix({ dtype: 'Q6_K', shape: [2, 256], data: w }, 'out_in', 'F32'), unsupported);
  assert.throws(() => be.loadMatrix({ dtype: 'Q6_K', shape: [2, 256], data: w }, 'out_in', 'Q4_K'), unsupported);
  assert.throws(() => be.loadMatrix({ dtype: 'Q6_K', shape: [2, 128], data: w }, 'out_in'), unsupported);  // not whole blocks
  assert.equal(be.loadMatrix({ dtype: 'Q6_K', shape: [2, 256], data: w }, 'out_in').format, 'Q6_K');
});
