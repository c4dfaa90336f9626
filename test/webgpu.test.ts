/**
 * What is particular to the WebGPU backend (its ops are checked with every backend's in backend-ops.test.ts
 * and its forward pass by the model goldens): both decode GEMV kernels (split-K, which a hardware adapter
 * runs, and direct, which a software one runs) against the reference at every row count up to the GEMV
 * limit and on odd shapes; the adapter description; ops recorded before a host write do not see it;
 * aliased arguments; and a clear error where no adapter can be opened.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { tensorFrom, type Backend, type MatrixFormat, type MatrixLayout } from '../src/backend/backend.js';
import { ReferenceBackend } from '../src/backend/reference.js';
import { WebGPUBackend } from '../src/backend/webgpu/webgpu.js';
import { FugakuError } from '../src/errors.js';
import { Rng } from '../src/generation/rng.js';
import { convertStorage } from '../src/tensor/dtype.js';
import { BLOCK_TYPES, blockRowBytes, type GGMLBlockType } from '../src/tensor/ggml/formats.js';
import { quantizeActsFor } from '../src/tensor/ggml/activations.js';
import { dotRowGGML } from '../src/tensor/ggml/dot.js';
import { dequantizeRowGGML } from '../src/tensor/ggml/dequantize.js';
import { softwareVulkanDir } from './software-gpu.js';
import { randn, relErr } from './helpers.js';

const vulkanDir = softwareVulkanDir() ?? undefined;
const ref = new ReferenceBackend();

async function matmul(be: Backend, fmt: MatrixFormat, layout: MatrixLayout, inDim: number, outDim: number, rows: number, w: Float32Array, x: Float32Array, bias: Float32Array | null): Promise<Float32Array> {
  const stored = { dtype: 'BF16' as const, shape: layout === 'in_out' ? [inDim, outDim] : [outDim, inDim], data: convertStorage('F32', w, 'BF16') };
  const out = be.alloc(rows * outDim);
  be.matmul(tensorFrom(be, x), rows, be.loadMatrix(stored, layout, fmt), bias ? tensorFrom(be, bias) : null, out);
  return be.read(out);
}

for (const gemv of ['splitk', 'direct'] as const) {
  test(`webgpu ${gemv} GEMV: float matmuls of 1 to 8 rows equal the reference (odd and even widths, both layouts, K over several chunks)`, async () => {
    const gpu = await WebGPUBackend.create({ vulkanDir, gemv });
    assert.equal(gpu.gemv, gemv);
    const rng = new Rng(gemv === 'splitk' ? 41 : 43);
    let cases = 0;
    for (const fmt of ['F32', 'BF16', 'F16'] as MatrixFormat[]) {
      for (const [inDim, outDim] of [[1, 1], [37, 5], [300, 131], [600, 258], [513, 7]]) {
        for (const rows of [1, 2, 3, 5, 8]) {
          const layout: MatrixLayout = (inDim + rows) % 2 ? 'out_in' : 'in_out';
          const w = randn(rng, inDim * outDim, 0.2);
          const x = randn(rng, rows * inDim);
          const bias = rows % 2 ? randn(rng, outDim) : null;
          const a = await matmul(ref, fmt, layout, inDim, outDim, rows, w, x, bias);
          const b = await matmul(gpu, fmt, layout, inDim, outDim, rows, w, x, bias);
          assert.ok(relErr(b, a) < 1e-5, `${fmt} ${layout} [${inDim}→${outDim}] × ${rows}: ${relErr(b, a)}`);
          cases++;
        }
      }
    }
    assert.equal(cases, 3 * 5 * 5);
    gpu.destroy();
  });
}

test('webgpu: the adapter is described in one line, and a software rasterizer is recognized as one', async () => {
  const gpu = await WebGPUBackend.create({ vulkanDir });
  assert.match(gpu.adapterLine, /\S/);
  assert.ok(!gpu.adapterLine.includes('\n'));
  if (vulkanDir !== undefined && /swiftshader/.test(vulkanDir)) {
    assert.equal(gpu.adapter.software, true);
    assert.equal(gpu.gemv, 'direct');
    await assert.rejects(WebGPUBackend.create({ vulkanDir, adapter: 'hardware' }), (e: FugakuError) => e.code === 'BACKEND_UNAVAILABLE' && /software rasterizer/.test(e.message));
  }
  gpu.destroy();
});

test('webgpu: ops queued before a host write do not see it; a += a and an overlapping copy read the old values', async () => {
  const gpu = await WebGPUBackend.create({ vulkanDir });
  const a = tensorFrom(gpu, Float32Array.from([1, 2, 3, 4]));
  const b = tensorFrom(gpu, Float32Array.from([10, 20, 30, 40]));
  gpu.addInPlace(a, b, 4); // queued, not yet submitted
  gpu.write(b, Float32Array.from([100, 200, 300, 400]));
  assert.deepEqual([...(await gpu.read(a))], [11, 22, 33, 44]);
  gpu.addInPlace(a, a, 4);
  assert.deepEqual([...(await gpu.read(a))], [22, 44, 66, 88]);
  gpu.copyRows(a, 0, a, 1, 3); // a[1..4) = old a[0..3)
  assert.deepEqual([...(await gpu.read(a))], [22, 22, 44, 66]);
  const freed = gpu.alloc(4);
  gpu.free(freed);
  assert.throws(() => gpu.addInPlace(freed, a, 4), /freed/);
  gpu.destroy();
});

test('webgpu: with no Vulkan driver the backend fails with BACKEND_UNAVAILABLE and what to install', async () => {
  const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'fugaku-novulkan-'));
  await assert.rejects(WebGPUBackend.create({ vulkanDir: empty }), (e: FugakuError) => e.code === 'BACKEND_UNAVAILABLE' && /libvulkan/.test(e.message) && /Vulkan/.test(e.hint ?? ''));
  fs.rmSync(empty, { recursive: true, force: true });
});

// ---- ggml block formats (issue 18) ---------------------------------------------------------------

/** Byte offsets of each block's f16 fields: set to small normal halves so random blocks are finite. */
const F16_FIELDS: Record<string, number[]> = {
  Q4_1: [0, 2], Q5_0: [0], Q5_1: [0, 2], Q2_K: [80, 82], Q3_K: [108], Q4_K: [0, 2], Q5_K: [0, 2], Q6_K: [208],
  IQ4_NL: [0], IQ4_XS: [0], IQ2_XXS: [0], IQ2_XS: [0], IQ2_S: [0], IQ3_XXS: [0], IQ3_S: [0], IQ1_S: [0], IQ1_M: [],
};

/** Random blocks of `type` (every bit pattern of the quants and scales is a valid block). */
function randomBlocks(rng: Rng, type: GGMLBlockType, inDim: number, outDim: number): Uint8Array {
  const { blockSize, typeSize } = BLOCK_TYPES[type];
  const nb = (inDim / blockSize) * outDim;
  const w = new Uint8Array(nb * typeSize);
  for (let i = 0; i < w.length; i++) w[i] = Math.floor(rng.nextFloat() * 256);
  const dv = new DataView(w.buffer);
  for (let b = 0; b < nb; b++) {
    for (const off of F16_FIELDS[type]) dv.setUint16(b * typeSize + off, 0x2000 + Math.floor(rng.nextFloat() * 0x800), true);
    // IQ1_M: the f16 scale is the top nibbles of the 4 scale words; keep its sign/exponent nibble small.
    if (type === 'IQ1_M') w[b * typeSize + 55] = (w[b * typeSize + 55] & 0x0f) | 0x20;
  }
  return w;
}

/** The spec's result: dotRowGGML over activations quantized by quantizeActsFor. */
function specMatmul(type: GGMLBlockType, w: Uint8Array, x: Float32Array, rows: number, inDim: number, outDim: number): Float32Array {
  const acts = quantizeActsFor(BLOCK_TYPES[type].act, x, rows, inDim);
  const rowBytes = blockRowBytes(type, inDim);
  const y = new Float32Array(rows * outDim);
  for (let r = 0; r < rows; r++) for (let o = 0; o < outDim; o++) y[r * outDim + o] = dotRowGGML(type, w, o * rowBytes, acts, r, inDim);
  return y;
}

async function gpuMatmul(gpu: WebGPUBackend, type: GGMLBlockType, w: Uint8Array, x: Float32Array, rows: number, inDim: number, outDim: number, bias: Float32Array | null = null): Promise<Float32Array> {
  const m = gpu.loadMatrix({ dtype: type as unknown as MatrixFormat, shape: [outDim, inDim], data: w }, 'out_in');
  const out = gpu.alloc(rows * outDim);
  gpu.matmul(tensorFrom(gpu, x), rows, m, bias ? tensorFrom(gpu, bias) : null, out);
  return gpu.read(out);
}

const GPU_BLOCK_TYPES = (Object.keys(BLOCK_TYPES) as GGMLBlockType[]).filter((t) => t !== 'Q8_0' && t !== 'Q4_0');

test('webgpu ggml block formats: matmul (1, 3 and 9 rows; outputs not a multiple of the workgroup; in = 32·k and 256·k) equals the spec dot, embedding its dequantized rows', async () => {
  const gpu = await WebGPUBackend.create({ vulkanDir });
  const rng = new Rng(181);
  let cases = 0;
  for (const type of GPU_BLOCK_TYPES) {
    const bs = BLOCK_TYPES[type].blockSize;
    for (const [k, outDim, rows] of [[1, 9, 1], [3, 5, 3], [2, 11, 9]]) {
      const inDim = bs * k;
      const w = randomBlocks(rng, type, inDim, outDim);
      const x = randn(rng, rows * inDim);
      const bias = rows === 3 ? randn(rng, outDim) : null;
      const want = specMatmul(type, w, x, rows, inDim, outDim);
      if (bias) for (let i = 0; i < want.length; i++) want[i] += bias[i % outDim];
      const got = await gpuMatmul(gpu, type, w, x, rows, inDim, outDim, bias);
      assert.ok(relErr(got, want) < 1e-5, `${type} [${inDim}→${outDim}] × ${rows}: ${relErr(got, want)}`);
      cases++;
    }
    const inDim = bs * 2;
    const outDim = 7;
    const w = randomBlocks(rng, type, inDim, outDim);
    const m = gpu.loadMatrix({ dtype: type as unknown as MatrixFormat, shape: [outDim, inDim], data: w }, 'out_in');
    const ids = new Int32Array([6, 0, 3, 6]);
    const out = gpu.alloc(ids.length * inDim);
    gpu.embedding(m, ids, out);
    const got = await gpu.read(out);
    const want = new Float32Array(ids.length * inDim);
    ids.forEach((id, t) => dequantizeRowGGML(type, w, id * blockRowBytes(type, inDim), inDim, want, t * inDim));
    assert.deepEqual(got, want, `${type} embedding`);
  }
  assert.equal(cases, GPU_BLOCK_TYPES.length * 3);
  gpu.destroy();
});

test('webgpu ggml block formats: Q8_1 and Q8_K activations are quantized bit-exactly as the spec (near-ties, zero blocks, negative and positive maxima, ties of |max|)', async () => {
  const gpu = await WebGPUBackend.create({ vulkanDir });
  const rng = new Rng(187);
  // One flipped activation quant moves a dot by about |w|·d_x, far more than the 1e-6 allowed here.
  for (const type of ['Q4_1', 'Q5_1', 'Q4_K', 'Q6_K', 'IQ2_XS'] as GGMLBlockType[]) {
    const inDim = 512;
    const rows = 2;
    const x = new Float32Array(rows * inDim);
    for (let b = 0; b < x.length / 256; b++) {
      const max = (b % 2 ? -1 : 1) * (0.5 + rng.nextFloat());
      for (let j = 0; j < 256; j++) x[b * 256 + j] = Math.fround((max * (Math.floor(rng.nextFloat() * 254) - 127 + 0.5)) / 127);
      x[b * 256 + 17] = max;
      x[b * 256 + 200] = -max; // same magnitude later: the first one is the max
    }
    x.fill(0, 256, 256 + 64); // zero 32-blocks (and, in Q8_K, a block with zeros in it)
    x.fill(0, 3 * 256, 4 * 256); // a whole zero 256-block
    const outDim = 13;
    const w = randomBlocks(rng, type, inDim, outDim);
    const want = specMatmul(type, w, x, rows, inDim, outDim);
    const got = await gpuMatmul(gpu, type, w, x, rows, inDim, outDim);
    assert.ok(relErr(got, want) < 1e-6, `${type}: ${relErr(got, want)}`);
  }
  gpu.destroy();
});

test('webgpu ggml block formats: typed errors for a row length off the block size, a conversion, and a wrong byte count', async () => {
  const gpu = await WebGPUBackend.create({ vulkanDir });
  const w = (type: string, shape: number[], bytes: number) => ({ dtype: type as unknown as MatrixFormat, shape, data: new Uint8Array(bytes) });
  assert.throws(() => gpu.loadMatrix(w('Q4_K', [2, 288], 2 * 162), 'out_in'), (e: FugakuError) => e.code === 'DTYPE_UNSUPPORTED' && /multiple of 256/.test(e.message));
  assert.throws(() => gpu.loadMatrix(w('Q5_0', [2, 64], 2 * 44), 'out_in', 'BF16'), (e: FugakuError) => e.code === 'DTYPE_UNSUPPORTED' && /Q5_0/.test(e.message));
  assert.throws(() => gpu.loadMatrix(w('Q6_K', [2, 256], 400), 'out_in'), (e: FugakuError) => e.code === 'TENSOR_SHAPE_MISMATCH');
  gpu.destroy();
});
