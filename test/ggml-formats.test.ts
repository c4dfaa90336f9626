/**
 * The ggml format spec (src/tensor/ggml/) against llama.cpp's ggml itself: the fixture
 * test/fixtures/ggml-quants/ggml-quants.bin was written by scripts/ggml-ref/make-fixture.c linked
 * against llama.cpp's libggml (see its README). Dequantization must match ggml bit for bit; the
 * integer dots must equal the float64 dot of the dequantized operands (to float32 rounding) and agree
 * with ggml's vec_dot up to the activation-scale difference (ggml: f16, here: f32).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import fc from 'fast-check';
import { fixturesDir } from './helpers.js';
import { randomBlockRows } from './ggml-blocks.js';
import { BLOCK_TYPES, GGML_BLOCK_TYPE_NAMES, blockRowBytes, type GGMLBlockType } from '../src/tensor/ggml/formats.js';
import { dequantizeRowGGML } from '../src/tensor/ggml/dequantize.js';
import { dequantizeActs, quantizeActsFor } from '../src/tensor/ggml/activations.js';
import { dotRowGGML } from '../src/tensor/ggml/dot.js';
import { isFugakuError } from '../src/errors.js';

interface FixtureRecord { type: number; n: number; rows: number; rowBytes: number; blocks: Uint8Array; dequant: Float32Array; act: Float32Array; dot: Float32Array }

function readFixture(): FixtureRecord[] {
  const buf = readFileSync(path.join(fixturesDir, 'ggml-quants', 'ggml-quants.bin'));
  const bytes = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  assert.equal(buf.subarray(0, 4).toString('latin1'), 'GGQF');
  assert.equal(dv.getUint32(4, true), 1);
  const count = dv.getUint32(8, true);
  let p = 12;
  const f32 = (len: number): Float32Array => {
    const a = new Float32Array(len);
    for (let i = 0; i < len; i++) a[i] = dv.getFloat32(p + 4 * i, true);
    p += 4 * len;
    return a;
  };
  const out: FixtureRecord[] = [];
  for (let r = 0; r < count; r++) {
    const [type, n, rows, rowBytes] = [0, 1, 2, 3].map((i) => dv.getUint32(p + 4 * i, true));
    p += 16;
    const blocks = bytes.slice(p, p + rows * rowBytes);
    p += rows * rowBytes;
    const dequant = f32(rows * n);
    const act = f32(n);
    const dot = f32(rows);
    out.push({ type, n, rows, rowBytes, blocks, dequant, act, dot });
  }
  assert.equal(p, bytes.length, 'fixture fully consumed');
  return out;
}

const fixture = readFixture();
const byId = new Map(fixture.map((r) => [r.type, r]));

function f64Dot(a: Float32Array, aOff: number, b: Float32Array, bOff: number, n: number): { dot: number; abs: number } {
  let dot = 0, abs = 0;
  for (let i = 0; i < n; i++) {
    dot += a[aOff + i] * b[bOff + i];
    abs += Math.abs(a[aOff + i] * b[bOff + i]);
  }
  return { dot, abs };
}

test('the fixture covers every block type, with ggml row sizes equal to blockRowBytes', () => {
  assert.equal(GGML_BLOCK_TYPE_NAMES.length, 19);
  for (const t of GGML_BLOCK_TYPE_NAMES) {
    const r = byId.get(BLOCK_TYPES[t].id);
    assert.ok(r, `${t} in fixture`);
    assert.equal(r.rowBytes, blockRowBytes(t, r.n), t);
  }
});

for (const t of GGML_BLOCK_TYPE_NAMES) {
  test(`${t}: dequantizeRowGGML equals ggml's to_float bit for bit`, () => {
    const r = byId.get(BLOCK_TYPES[t].id)!;
    const ours = new Float32Array(r.rows * r.n);
    for (let row = 0; row < r.rows; row++) dequantizeRowGGML(t, r.blocks, row * r.rowBytes, r.n, ours, row * r.n);
    const a = new Uint32Array(ours.buffer), b = new Uint32Array(r.dequant.buffer);
    let bad = -1;
    for (let i = 0; i < a.length && bad < 0; i++) if (a[i] !== b[i]) bad = i;
    assert.equal(bad, -1, bad >= 0 ? `${t}: element ${bad}: ours ${ours[bad]} ggml ${r.dequant[bad]}` : '');
    assert.ok(r.dequant.some((v) => v !== 0), 'non-trivial fixture');
  });

  test(`${t}: dotRowGGML equals the float64 dot of the dequantized operands and agrees with ggml's vec_dot`, () => {
    const r = byId.get(BLOCK_TYPES[t].id)!;
    const acts = quantizeActsFor(BLOCK_TYPES[t].act, r.act, 1, r.n);
    const xa = dequantizeActs(acts);
    for (let row = 0; row < r.rows; row++) {
      const ours = dotRowGGML(t, r.blocks, row * r.rowBytes, acts, 0, r.n);
      const exact = f64Dot(r.dequant, row * r.n, xa, 0, r.n);
      assert.ok(Math.abs(ours - exact.dot) <= 1e-6 * exact.abs, `${t} row ${row}: ${ours} vs float64 ${exact.dot} (Σ|·| ${exact.abs})`);
      const vsFloats = f64Dot(r.dequant, row * r.n, r.act, 0, r.n);
      assert.ok(Math.abs(ours - r.dot[row]) <= 2e-3 * vsFloats.abs, `${t} row ${row}: ${ours} vs ggml ${r.dot[row]} (Σ|·| ${vsFloats.abs})`);
    }
  });
}

test("Q8_K activation quantization is ggml's quantize_row_q8_K_ref byte for byte (and ggml-cpu's from_float)", () => {
  const r = byId.get(15)!;
  assert.equal(r.rowBytes, (r.n / 256) * 292);
  const acts = quantizeActsFor('Q8_K', r.act, 1, r.n);
  const mine = new Uint8Array(r.rowBytes);
  const dv = new DataView(mine.buffer);
  for (let b = 0; b < r.n / 256; b++) {
    const o = b * 292;
    dv.setFloat32(o, acts.d[b], true);
    for (let j = 0; j < 256; j++) dv.setInt8(o + 4 + j, acts.q[b * 256 + j]);
    for (let j = 0; j < 16; j++) dv.setInt16(o + 260 + 2 * j, acts.sums[b * 16 + j], true);
  }
  assert.deepEqual(mine, r.blocks.subarray(0, r.rowBytes), 'quantize_row_q8_K_ref');
  assert.deepEqual(mine, r.blocks.subarray(r.rowBytes, 2 * r.rowBytes), 'ggml-cpu from_float');
});

test('Q8_0/Q8_1 activations: Σq per block, d = amax/127 in f32; Q8_K of an all-zero block is zero', () => {
  const x = new Float32Array(512);
  for (let i = 0; i < 256; i++) x[i] = Math.sin(i * 0.7) * 3;
  for (const kind of ['Q8_0', 'Q8_1'] as const) {
    const a = quantizeActsFor(kind, x, 2, 256);
    assert.equal(a.kind, kind);
    for (let b = 0; b < 16; b++) {
      let s = 0, amax = 0;
      for (let j = 0; j < 32; j++) {
        s += a.q[b * 32 + j];
        amax = Math.max(amax, Math.abs(x[b * 32 + j]));
      }
      assert.equal(a.sums[b], s);
      assert.equal(a.d[b], Math.fround(amax / 127));
    }
  }
  const k = quantizeActsFor('Q8_K', x, 2, 256);
  assert.equal(k.d[1], 0);
  assert.ok(k.q.subarray(256).every((v) => v === 0));
  assert.ok(k.sums.subarray(16).every((v) => v === 0));
});

for (const t of GGML_BLOCK_TYPE_NAMES) {
  test(`${t}: property — dot of random valid blocks equals Σ dequant(w)·dequant(acts)`, () => {
    const { blockSize, act } = BLOCK_TYPES[t];
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 3 }),
        fc.uint8Array({ minLength: 64, maxLength: 64 }),
        fc.array(fc.float({ min: -4, max: 4, noNaN: true, noDefaultInfinity: true }), { minLength: 3 * 512, maxLength: 3 * 512 }),
        fc.double({ min: -0.02, max: 0.02, noNaN: true }),
        (blocks, seed, xs, scale) => {
          const n = blocks * (blockSize === 256 ? 256 : 64);
          let k = 0, s = 0;
          const w = randomBlockRows(t, 1, n, () => seed[k++ % 64] ^ (k * 131), () => scale * (1 + (s++ % 3)));
          const x = Float32Array.from(xs.slice(0, 2 * n));
          const acts = quantizeActsFor(act, x, 2, n);
          const deq = new Float32Array(n);
          dequantizeRowGGML(t, w, 0, n, deq, 0);
          const xa = dequantizeActs(acts);
          const got = dotRowGGML(t, w, 0, acts, 1, n);
          const ref = f64Dot(deq, 0, xa, n, n);
          return Math.abs(got - ref.dot) <= 1e-5 * ref.abs + 1e-30;
        },
      ),
      { numRuns: 40, seed: 18 },
    );
  });
}

test('blockRowBytes refuses a row length that is not a multiple of the block size', () => {
  assert.equal(blockRowBytes('Q6_K', 512), 420);
  assert.equal(blockRowBytes('Q5_0', 5184), 162 * 22);
  assert.throws(() => blockRowBytes('Q4_K', 5184), (e: unknown) => isFugakuError(e) && e.code === 'DTYPE_UNSUPPORTED' && /Q4_K/.test(e.message) && /256/.test(e.message));
});

test('dotRowGGML refuses activations of the wrong kind', () => {
  const w = new Uint8Array(blockRowBytes('Q4_K', 256));
  const acts = quantizeActsFor('Q8_0', new Float32Array(256), 1, 256);
  assert.throws(() => dotRowGGML('Q4_K' as GGMLBlockType, w, 0, acts, 0, 256), (e: unknown) => isFugakuError(e) && /Q8_K/.test(e.message));
});
