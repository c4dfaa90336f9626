/**
 * The native addon's ggml quantizers (quantizeRows, native/ggml_quantize.cc, ported from llama.cpp's
 * ggml-quants.c) against the TypeScript spec (quantizeTensorGGML, which convert-kquants.test.ts checks
 * against llama-quantize): for every type `fugaku convert` writes, with and without an importance
 * matrix, on random rows of several widths and on the edge cases (zeros, constants, huge and tiny
 * values, f32 subnormals, outliers), the bytes must be equal. Thread counts must not change the bytes; a Uint8Array
 * that starts at an odd offset gets the same bytes; bad arguments are typed errors. And the
 * converter's choice of quantizer (ConvertOptions.quantizer / FUGAKU_QUANTIZER).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadNativeAddon, type NativeAddon } from '../src/backend/native-addon.js';
import { quantizeTensorGGML, QUANT_BLOCKS, type GGMLQuantType } from '../src/tensor/ggml/quantize.js';
import { createGGMLQuantizer, resolveQuantizerChoice } from '../src/convert/ggml-quantizer.js';
import { FugakuError } from '../src/errors.js';
import { Rng } from '../src/generation/rng.js';
import { randn } from './helpers.js';

const load = loadNativeAddon();
if (!load.ok) throw new Error(`native addon missing: ${load.reason}`);
const addon: NativeAddon = load.addon;
const F = addon.constants.formats;
const ctx1 = addon.createContext(1, addon.constants.levels.portable);
const ctx2 = addon.createContext(2, addon.constants.levels.portable);

const TYPES = Object.keys(QUANT_BLOCKS) as GGMLQuantType[];

function native(ctx: ReturnType<NativeAddon['createContext']>, type: GGMLQuantType, src: Float32Array, rows: number, n: number, qw: Float32Array | null): Uint8Array {
  const { blockSize, typeSize } = QUANT_BLOCKS[type];
  const dst = new Uint8Array(rows * (n / blockSize) * typeSize);
  addon.quantizeRows(ctx, F[type], src, rows, n, qw, dst);
  return dst;
}

/** The test rows for width n: random weights, zeros, constants, huge, tiny, outliers, mixed scales. */
function testRows(n: number, rng: Rng): { name: string; x: Float32Array; rows: number }[] {
  const rows = 3;
  const out: { name: string; x: Float32Array; rows: number }[] = [];
  out.push({ name: 'random', x: randn(rng, rows * n, 0.02), rows });
  out.push({ name: 'zeros', x: new Float32Array(n), rows: 1 });
  out.push({ name: 'constant', x: new Float32Array(n).fill(0.37), rows: 1 });
  out.push({ name: 'negative constant', x: new Float32Array(n).fill(-1.5), rows: 1 });
  out.push({ name: 'huge', x: randn(rng, rows * n, 3e3), rows });
  out.push({ name: 'tiny', x: randn(rng, rows * n, 1e-6), rows });
  const sub = randn(rng, n, 1e-9);
  out.push({ name: 'f16-subnormal', x: sub, rows: 1 });
  // f32-subnormal weights: the searches' scales overflow to inf, and ggml's nearest_int returns its
  // trick's value for the out-of-range argument (the spec's nearestInt mirrors that)
  out.push({ name: 'f32-subnormal', x: randn(rng, rows * n, 1e-40), rows });
  const outl = randn(rng, rows * n, 0.02);
  for (let k = 0; k < 8; k++) outl[Math.floor(rng.nextFloat() * outl.length)] *= 200;
  out.push({ name: 'outliers', x: outl, rows });
  // blocks of very different magnitudes within a row, and a few all-zero blocks
  const mixed = randn(rng, rows * n, 1);
  for (let b = 0; b < mixed.length / 32; b++) {
    const s = b % 5 === 0 ? 0 : 10 ** (-(b % 7));
    for (let j = 0; j < 32; j++) mixed[b * 32 + j] *= s;
  }
  out.push({ name: 'mixed blocks', x: mixed, rows });
  // only positive and only negative values (min/max paths)
  out.push({ name: 'positive', x: randn(rng, n, 0.1).map(Math.abs), rows: 1 });
  out.push({ name: 'negative', x: randn(rng, n, 0.1).map((v) => -Math.abs(v)), rows: 1 });
  return out;
}

/** Column weights like llama-imatrix's (positive, spread over a few decades, some zeros). */
function imatrixRow(n: number, rng: Rng): Float32Array {
  const w = new Float32Array(n);
  for (let i = 0; i < n; i++) w[i] = i % 97 === 5 ? 0 : Math.exp(2 * (rng.nextFloat() - 0.5) * 3);
  return w;
}

for (const type of TYPES) {
  const widths = QUANT_BLOCKS[type].blockSize === 32 ? [256, 512, 5184] : [256, 512, 2560];
  test(`quantizeRows ${type}: the same bytes as quantizeTensorGGML, without and with an imatrix (widths ${widths.join(', ')})`, () => {
    const rng = new Rng(1000 + F[type]);
    let cases = 0;
    for (const n of widths) {
      const qws = [null, imatrixRow(n, rng)];
      for (const { name, x, rows } of testRows(n, rng)) {
        for (const qw of qws) {
          const want = quantizeTensorGGML(type, x, rows, n, qw);
          const got = native(ctx1, type, x, rows, n, qw);
          assert.equal(got.length, want.length);
          if (!Buffer.from(got).equals(Buffer.from(want))) {
            let i = 0;
            while (got[i] === want[i]) i++;
            assert.fail(`${type} n=${n} ${name}${qw ? ' imatrix' : ''}: first differing byte ${i} (block ${Math.floor(i / QUANT_BLOCKS[type].typeSize)}): native ${got[i]}, spec ${want[i]}`);
          }
          cases++;
        }
      }
    }
    assert.equal(cases, widths.length * 12 * 2);
  });
}

test('quantizeRows: 1 and 2 threads give the same bytes (many row chunks); an odd dst offset too', () => {
  const rng = new Rng(7);
  const n = 512;
  const rows = 300; // 300 × 512 values: 3 chunks of 128 rows
  const x = randn(rng, rows * n, 0.05);
  const qw = imatrixRow(n, rng);
  for (const type of TYPES) {
    for (const q of [null, qw]) {
      const a = native(ctx1, type, x, rows, n, q);
      const b = native(ctx2, type, x, rows, n, q);
      assert.ok(Buffer.from(a).equals(Buffer.from(b)), `${type}${q ? ' imatrix' : ''}: 1 vs 2 threads`);
      const buf = new ArrayBuffer(a.length + 1);
      const odd = new Uint8Array(buf, 1, a.length);
      addon.quantizeRows(ctx2, F[type], x, rows, n, q, odd);
      assert.ok(Buffer.from(odd).equals(Buffer.from(a)), `${type}${q ? ' imatrix' : ''}: dst at an odd offset`);
    }
  }
  // one type against the spec on the whole multi-chunk tensor
  assert.ok(Buffer.from(native(ctx2, 'Q4_K', x, rows, n, qw)).equals(Buffer.from(quantizeTensorGGML('Q4_K', x, rows, n, qw))));
});

test('quantizeRows: bad arguments are NATIVE_INVALID_ARGUMENT errors', () => {
  const x = new Float32Array(512);
  const bad = (f: () => void, msg: RegExp) =>
    assert.throws(f, (e: unknown) => e instanceof FugakuError && e.code === 'NATIVE_INVALID_ARGUMENT' && msg.test(e.message));
  bad(() => addon.quantizeRows(ctx1, F.F32, x, 1, 512, null, new Uint8Array(4096)), /not one of/);
  bad(() => addon.quantizeRows(ctx1, F.Q2_K, x, 1, 512, null, new Uint8Array(4096)), /not one of/);
  bad(() => addon.quantizeRows(ctx1, F.Q4_K, x, 2, 256 + 32, null, new Uint8Array(4096)), /multiple of the block size/);
  bad(() => addon.quantizeRows(ctx1, F.Q8_0, x, 2, 512, null, new Uint8Array(4096)), /src is shorter/);
  bad(() => addon.quantizeRows(ctx1, F.Q8_0, x, 1, 512, new Float32Array(10), new Uint8Array(4096)), /imatrix must hold/);
  bad(() => addon.quantizeRows(ctx1, F.Q6_K, x, 1, 512, null, new Uint8Array(419)), /dst is shorter/);
  bad(() => addon.quantizeRows(ctx1, F.Q6_K, x, 1, 512, null, new Uint16Array(420) as unknown as Uint8Array), /quantizeRows\(ctx/);
});

test('the converter\'s quantizer choice: option, FUGAKU_QUANTIZER, auto fallback, typed errors', () => {
  assert.equal(resolveQuantizerChoice(undefined, {}), 'auto');
  assert.equal(resolveQuantizerChoice(undefined, { FUGAKU_QUANTIZER: 'TypeScript' }), 'typescript');
  assert.equal(resolveQuantizerChoice('native', { FUGAKU_QUANTIZER: 'typescript' }), 'native');
  assert.throws(() => resolveQuantizerChoice(undefined, { FUGAKU_QUANTIZER: 'fast' }), (e: unknown) => e instanceof FugakuError && e.code === 'INVALID_ARGUMENT' && e.message.includes('FUGAKU_QUANTIZER'));
  assert.throws(() => resolveQuantizerChoice('gpu', {}), (e: unknown) => e instanceof FugakuError && e.code === 'INVALID_ARGUMENT');

  const missing = '/nonexistent/fugaku.node';
  assert.throws(() => createGGMLQuantizer('native', { addonFile: missing }), (e: unknown) => e instanceof FugakuError && e.code === 'BACKEND_UNAVAILABLE' && e.message.includes(missing));
  const fb = createGGMLQuantizer('auto', { addonFile: missing });
  assert.equal(fb.kind, 'typescript');
  assert.match(fb.fallbackReason ?? '', /does not exist/);
  assert.equal(createGGMLQuantizer('typescript').kind, 'typescript');

  const q = createGGMLQuantizer('auto', { threads: 2 });
  assert.equal(q.kind, 'native');
  const rng = new Rng(3);
  const x = randn(rng, 4 * 512, 0.1);
  const qw = imatrixRow(512, rng);
  assert.ok(Buffer.from(q.quantize('Q5_K', x, 4, 512, qw)).equals(Buffer.from(quantizeTensorGGML('Q5_K', x, 4, 512, qw))));
  assert.throws(() => q.quantize('Q4_K', x, 4, 500, null), (e: unknown) => e instanceof FugakuError && e.code === 'DTYPE_UNSUPPORTED');
  assert.throws(() => q.quantize('Q4_K', x, 4, 512, new Float32Array(3)), (e: unknown) => e instanceof FugakuError && e.code === 'INVALID_ARGUMENT');
});
