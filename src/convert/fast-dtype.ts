/**
 * Whole-tensor float conversions for the converter, done on bit patterns (the per-value helpers in
 * src/tensor/dtype.ts are the specification; these give bit-identical results — see
 * test/convert-dtype.test.ts — but are fast enough for 13 billion weights).
 */
import type { StorageArray, StorageDType } from '../tensor/dtype.js';
import { f16ToF32 } from '../tensor/dtype.js';

let f16Table: Float32Array | null = null;
function table(): Float32Array {
  if (f16Table === null) {
    f16Table = new Float32Array(65536);
    for (let i = 0; i < 65536; i++) f16Table[i] = f16ToF32(i);
  }
  return f16Table;
}

/** f32 bit pattern → f16 bit pattern, round to nearest even (as f32ToF16; NaN → 0x7e00). */
export function f32BitsToF16(u: number): number {
  const sign = (u >>> 16) & 0x8000;
  const e = (u >>> 23) & 0xff;
  const mant = u & 0x7fffff;
  if (e === 0xff) return mant !== 0 ? 0x7e00 : sign | 0x7c00;
  const exp = e - 127 + 15;
  if (exp >= 31) return sign | 0x7c00;
  if (exp <= 0) {
    const shift = 14 - exp;
    if (shift > 24) return sign;
    const full = mant | 0x800000;
    let q = full >>> shift;
    const rem = full & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && (q & 1) === 1)) q++;
    return sign | q;
  }
  let q = (exp << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (q & 1) === 1)) q++;
  return sign | q;
}

/** f32 bit pattern → bf16 bit pattern, round to nearest even (as f32ToBf16). */
export function f32BitsToBf16(u: number): number {
  if ((u & 0x7f800000) === 0x7f800000 && (u & 0x7fffff) !== 0) return (u >>> 16) | 0x40;
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}

/** Storage → float32 (f16 through a lookup table). */
export function toF32Fast(dtype: StorageDType, src: StorageArray): Float32Array {
  if (dtype === 'F32') return src as Float32Array;
  const out = new Float32Array(src.length);
  const s = src as Uint16Array;
  if (dtype === 'BF16') {
    const o = new Uint32Array(out.buffer);
    for (let i = 0; i < s.length; i++) o[i] = s[i] << 16;
  } else {
    const t = table();
    for (let i = 0; i < s.length; i++) out[i] = t[s[i]];
  }
  return out;
}

/**
 * Converts storage between float dtypes. Returns the data and, for a conversion to F16, how many
 * finite inputs overflowed to ±inf (|x| ≥ 65520).
 */
export function convertFloat(from: StorageDType, src: StorageArray, to: StorageDType): { data: StorageArray; overflow: number } {
  if (from === to) return { data: src, overflow: 0 };
  if (to === 'F32') return { data: toF32Fast(from, src), overflow: 0 };
  // Bits of the values as float32.
  let bits: Uint32Array;
  if (from === 'F32') {
    const f = src as Float32Array;
    bits = new Uint32Array(f.buffer, f.byteOffset, f.length);
  } else {
    bits = new Uint32Array(toF32Fast(from, src).buffer);
  }
  const out = new Uint16Array(bits.length);
  let overflow = 0;
  if (to === 'BF16') {
    for (let i = 0; i < bits.length; i++) out[i] = f32BitsToBf16(bits[i]);
  } else {
    for (let i = 0; i < bits.length; i++) {
      const h = f32BitsToF16(bits[i]);
      out[i] = h;
      if ((h & 0x7fff) === 0x7c00 && (bits[i] & 0x7f800000) !== 0x7f800000) overflow++;
    }
  }
  return { data: out, overflow };
}
