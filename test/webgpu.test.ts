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
