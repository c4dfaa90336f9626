/**
 * Storage dtypes and their conversion to float32. bf16 and f16 weights stay in Uint16Array
 * until a kernel computes on them; these helpers are the one place their bits become numbers.
 */
export type StorageDType = 'BF16' | 'F16' | 'F32';

/** A typed array holding values of a storage dtype (bf16/f16 as raw 16-bit patterns). */
export type StorageArray = Uint16Array | Float32Array;

export const DTYPE_BYTES: Record<StorageDType, number> = { BF16: 2, F16: 2, F32: 4 };

/** Converts one bf16 bit pattern to a float32 value (exact: bf16 is the top half of f32). */
export function bf16ToF32(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >> 7) & 0xff;
  const frac = bits & 0x7f;
  if (exp === 0) return sign * frac * 2 ** -133; // subnormal: frac/128 * 2^-126
  if (exp === 255) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 128) * 2 ** (exp - 127);
}

/** Converts one IEEE half bit pattern to a number (exact). */
export function f16ToF32(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >> 10) & 0x1f;
  const frac = bits & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24; // subnormal
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** f16 → f32 lookup table (256 KiB); callers build it once and keep it with their weights. */
export function makeF16Table(): Float32Array {
  const t = new Float32Array(65536);
  for (let i = 0; i < 65536; i++) t[i] = f16ToF32(i);
  return t;
}

/**
 * Converts `count` elements of `src` starting at `srcOffset` into `dst` (float32) at `dstOffset`.
 * For F16, pass `f16Table` (see makeF16Table) in hot loops; without it each element is decoded arithmetically.
 */
export function toF32(
  dtype: StorageDType,
  src: StorageArray,
  srcOffset: number,
  count: number,
  dst: Float32Array,
  dstOffset = 0,
  f16Table?: Float32Array,
): void {
  if (dtype === 'F32') {
    dst.set((src as Float32Array).subarray(srcOffset, srcOffset + count), dstOffset);
  } else if (dtype === 'BF16') {
    // Reinterpret the destination as u32 and shift the bf16 bits into the high half.
    const d32 = new Uint32Array(dst.buffer, dst.byteOffset + dstOffset * 4, count);
    const s = src as Uint16Array;
    for (let i = 0; i < count; i++) d32[i] = s[srcOffset + i] << 16;
  } else {
    const s = src as Uint16Array;
    if (f16Table) for (let i = 0; i < count; i++) dst[dstOffset + i] = f16Table[s[srcOffset + i]];
    else for (let i = 0; i < count; i++) dst[dstOffset + i] = f16ToF32(s[srcOffset + i]);
  }
}

/** Whole-array conversion (f16 through a lookup table when the array is large enough to pay for it). */
export function storageToF32(dtype: StorageDType, src: StorageArray): Float32Array {
  const out = new Float32Array(src.length);
  toF32(dtype, src, 0, src.length, out, 0, dtype === 'F16' && src.length > 65536 ? makeF16Table() : undefined);
  return out;
}

/** Rounds a float32 value to the nearest bf16 (round-to-nearest-even), returning the bit pattern. */
export function f32ToBf16(value: number): number {
  return f32BitsToBf16(new Uint32Array(new Float32Array([value]).buffer)[0]);
}

/** f32 bit pattern → bf16 bit pattern, round to nearest even (NaN stays NaN). */
export function f32BitsToBf16(u: number): number {
  if ((u & 0x7f800000) === 0x7f800000 && (u & 0x7fffff) !== 0) return (u >>> 16) | 0x40;
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}

/**
 * f32 bit pattern → f16 bit pattern, round to nearest even (NaN → 0x7e00): the same results as
 * f32ToF16 (tested on every kind of value), done on integers so whole tensors convert quickly.
 */
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

/** Rounds a number to the nearest IEEE half (round-to-nearest-even), returning the bit pattern. */
export function f32ToF16(value: number): number {
  const f = Math.fround(value);
  if (Number.isNaN(f)) return 0x7e00;
  const sign = f < 0 || Object.is(f, -0) ? 0x8000 : 0;
  const a = Math.abs(f);
  if (a >= 65520) return sign | 0x7c00; // overflows to infinity
  if (a < 2 ** -24 * 0.5) return sign; // underflows to zero
  if (a < 2 ** -14) {
    // subnormal: a = m · 2^-24
    return sign | roundHalfEven(a / 2 ** -24);
  }
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--; // guard log2 rounding
  let m = roundHalfEven((a / 2 ** e - 1) * 1024);
  if (m === 1024) {
    m = 0;
    e++;
  }
  if (e > 15) return sign | 0x7c00;
  return sign | ((e + 15) << 10) | m;
}

function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Converts storage to another storage dtype (rounding to nearest even where precision drops). */
export function convertStorage(from: StorageDType, src: StorageArray, to: StorageDType): StorageArray {
  return convertFloat(from, src, to).data;
}

/**
 * convertStorage that also reports, for a conversion to F16, how many finite inputs overflowed to
 * ±inf (|x| ≥ 65520). Works on bit patterns, fast enough for whole 13B checkpoints.
 */
export function convertFloat(from: StorageDType, src: StorageArray, to: StorageDType): { data: StorageArray; overflow: number } {
  if (from === to) return { data: src, overflow: 0 };
  const f = from === 'F32' ? (src as Float32Array) : storageToF32(from, src);
  if (to === 'F32') return { data: from === 'F32' ? f.slice() : f, overflow: 0 };
  const bits = new Uint32Array(f.buffer, f.byteOffset, f.length);
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
