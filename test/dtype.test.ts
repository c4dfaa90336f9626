/** Storage dtype conversions: exact widening, round-to-nearest-even narrowing. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16, convertStorage, storageToF32, toF32 } from '../src/tensor/dtype.js';

test('bf16 and f16 bit patterns decode exactly', () => {
  assert.equal(bf16ToF32(0x3f80), 1);
  assert.equal(bf16ToF32(0xc000), -2);
  assert.equal(bf16ToF32(0x7f80), Infinity);
  assert.ok(Number.isNaN(bf16ToF32(0x7fc0)));
  assert.equal(f16ToF32(0x3c00), 1);
  assert.equal(f16ToF32(0x0001), 2 ** -24);
  assert.equal(f16ToF32(0x7bff), 65504);
  assert.equal(f16ToF32(0xfc00), -Infinity);
});

test('every bf16 and f16 pattern round-trips through float32', () => {
  for (let b = 0; b < 65536; b++) {
    const v = bf16ToF32(b);
    if (!Number.isNaN(v)) assert.equal(f32ToBf16(v), b, `bf16 ${b.toString(16)}`);
    const h = f16ToF32(b);
    if (!Number.isNaN(h)) assert.equal(f32ToF16(h), b, `f16 ${b.toString(16)}`);
  }
});

test('bulk toF32 agrees with the scalar decoders', () => {
  const bits = Uint16Array.from({ length: 4096 }, (_, i) => (i * 37) & 0xffff);
  const bf = storageToF32('BF16', bits);
  const hf = storageToF32('F16', bits);
  bits.forEach((b, i) => {
    assert.ok(Object.is(bf[i], Math.fround(bf16ToF32(b))) || (Number.isNaN(bf[i]) && Number.isNaN(bf16ToF32(b))));
    assert.ok(Object.is(hf[i], Math.fround(f16ToF32(b))) || (Number.isNaN(hf[i]) && Number.isNaN(f16ToF32(b))));
  });
  const out = new Float32Array(8);
  toF32('BF16', bits, 10, 4, out, 2);
  assert.equal(out[2], bf[10]);
  assert.equal(out[0], 0);
});

test('narrowing rounds to the nearest representable value', () => {
  fc.assert(
    fc.property(fc.float({ min: -60000, max: 60000, noNaN: true }), (x) => {
      for (const [enc, dec] of [[f32ToBf16, bf16ToF32], [f32ToF16, f16ToF32]] as const) {
        const b = enc(x);
        const y = dec(b);
        // No representable neighbour is closer.
        for (const n of [b - 1, b + 1]) {
          const z = dec(n & 0xffff);
          if (Number.isFinite(z) && Math.sign(z) === Math.sign(y)) assert.ok(Math.abs(z - x) >= Math.abs(y - x), `${x}: ${y} vs ${z}`);
        }
      }
    }),
  );
  const c = convertStorage('F32', Float32Array.from([1, 1.00390625, -3.5]), 'BF16');
  assert.deepEqual(Array.from(c), [0x3f80, 0x3f80, 0xc060]); // 1 + 2^-8 is a tie: rounds to even (1.0)
});
