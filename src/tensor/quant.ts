/**
 * Block quantization formats, bit-compatible with ggml/GGUF so a converted file is read by
 * llama.cpp as is. This file is the specification: the native kernels and the GGUF writer use
 * the same rules.
 *
 * - Q8_0: blocks of 32 values → { f16 d; int8 q[32] } (34 bytes), x ≈ d·q, d = max|x| / 127.
 * - Q4_0: blocks of 32 values → { f16 d; u8 qs[16] } (18 bytes), x ≈ d·(q − 8), d = m / −8 where
 *   m is the value of largest magnitude; element j < 16 is the low nibble of qs[j], element
 *   j + 16 the high nibble (ggml's quantize_row_q4_0_ref).
 *
 * A quantized matrix is stored row-major [out][in] (each output row's blocks contiguous), so
 * `in` must be a multiple of 32.
 */
import { FugakuError } from '../errors.js';
import { f16ToF32, f32ToF16 } from './dtype.js';

export type QuantType = 'Q8_0' | 'Q4_0';
export const QK = 32;
export const QUANT_BLOCK_BYTES: Record<QuantType, number> = { Q8_0: 34, Q4_0: 18 };

export function isQuantType(s: string): s is QuantType {
  return s === 'Q8_0' || s === 'Q4_0';
}

/** Bytes of `n` values (n a multiple of 32) in a quant format. */
export function quantRowBytes(type: QuantType, n: number): number {
  if (n % QK !== 0) {
    throw new FugakuError('DTYPE_UNSUPPORTED', `${type} needs rows whose length is a multiple of ${QK}, got ${n}`, 'use bf16, f16 or f32 for this model');
  }
  return (n / QK) * QUANT_BLOCK_BYTES[type];
}

/** C's roundf: halves round away from zero. */
function roundf(x: number): number {
  return x < 0 ? -Math.floor(-x + 0.5) : Math.floor(x + 0.5);
}

/** Quantizes x[xOff .. xOff+n) (n a multiple of 32) into dst at dstOff (ggml's quantize_row_q8_0_ref). */
export function quantizeRowQ8_0(x: ArrayLike<number>, xOff: number, n: number, dst: Uint8Array, dstOff: number): void {
  const dv = new DataView(dst.buffer, dst.byteOffset);
  for (let b = 0; b < n / QK; b++) {
    const base = xOff + b * QK;
    let amax = 0;
    for (let j = 0; j < QK; j++) amax = Math.max(amax, Math.abs(x[base + j]));
    const d = Math.fround(amax / 127);
    const id = d !== 0 ? Math.fround(1 / d) : 0;
    const o = dstOff + b * 34;
    dv.setUint16(o, f32ToF16(d), true);
    for (let j = 0; j < QK; j++) dst[o + 2 + j] = roundf(Math.fround(x[base + j] * id)) & 0xff;
  }
}

/** Quantizes x[xOff .. xOff+n) into Q4_0 blocks (ggml's quantize_row_q4_0_ref). */
export function quantizeRowQ4_0(x: ArrayLike<number>, xOff: number, n: number, dst: Uint8Array, dstOff: number): void {
  const dv = new DataView(dst.buffer, dst.byteOffset);
  for (let b = 0; b < n / QK; b++) {
    const base = xOff + b * QK;
    let amax = 0;
    let max = 0;
    for (let j = 0; j < QK; j++) {
      const v = x[base + j];
      if (amax < Math.abs(v)) {
        amax = Math.abs(v);
        max = v;
      }
    }
    const d = Math.fround(max / -8);
    const id = d !== 0 ? Math.fround(1 / d) : 0;
    const o = dstOff + b * 18;
    dv.setUint16(o, f32ToF16(d), true);
    for (let j = 0; j < QK / 2; j++) {
      // (int8_t)(x0 + 8.5f) truncates toward zero; MIN(15, ·)
      const q0 = Math.min(15, Math.trunc(Math.fround(Math.fround(x[base + j] * id) + 8.5)));
      const q1 = Math.min(15, Math.trunc(Math.fround(Math.fround(x[base + j + 16] * id) + 8.5)));
      dst[o + 2 + j] = q0 | (q1 << 4);
    }
  }
}

export function quantizeRow(type: QuantType, x: ArrayLike<number>, xOff: number, n: number, dst: Uint8Array, dstOff: number): void {
  if (type === 'Q8_0') quantizeRowQ8_0(x, xOff, n, dst, dstOff);
  else quantizeRowQ4_0(x, xOff, n, dst, dstOff);
}

/** Dequantizes n values (a multiple of 32) from src at srcOff into out at outOff. */
export function dequantizeRow(type: QuantType, src: Uint8Array, srcOff: number, n: number, out: Float32Array, outOff: number): void {
  const dv = new DataView(src.buffer, src.byteOffset);
  const bytes = QUANT_BLOCK_BYTES[type];
  for (let b = 0; b < n / QK; b++) {
    const o = srcOff + b * bytes;
    const d = f16ToF32(dv.getUint16(o, true));
    const ob = outOff + b * QK;
    if (type === 'Q8_0') {
      for (let j = 0; j < QK; j++) out[ob + j] = d * ((src[o + 2 + j] << 24) >> 24);
    } else {
      for (let j = 0; j < QK / 2; j++) {
        const q = src[o + 2 + j];
        out[ob + j] = d * ((q & 0x0f) - 8);
        out[ob + j + 16] = d * ((q >> 4) - 8);
      }
    }
  }
}

/**
 * Quantizes a whole matrix given as float32 rows in either layout into [out][in] blocks.
 * `get(o, i)` style access is avoided: `inOut` true means src is [in, out] (GPT-2 Conv1D) and is
 * transposed on the way.
 */
export function quantizeMatrix(type: QuantType, src: Float32Array, inDim: number, outDim: number, inOut: boolean): Uint8Array {
  const rowBytes = quantRowBytes(type, inDim);
  const dst = new Uint8Array(rowBytes * outDim);
  const row = new Float32Array(inDim);
  for (let o = 0; o < outDim; o++) {
    if (inOut) for (let i = 0; i < inDim; i++) row[i] = src[i * outDim + o];
    else row.set(src.subarray(o * inDim, (o + 1) * inDim));
    quantizeRow(type, row, 0, inDim, dst, o * rowBytes);
  }
  return dst;
}

/**
 * Σ over blocks of (Σ_j wq_j · xq_j) · d_w · d_x, the integer-dot form the fast kernels compute for
 * a Q8_0/Q4_0 weight row times a Q8_0-quantized activation row (llama.cpp's vec_dot_q8_0_q8_0 /
 * vec_dot_q4_0_q8_0). Activation scales are kept in float32 (`xd`) rather than rounded to f16.
 */
export function dotQuantRow(type: QuantType, w: Uint8Array, wOff: number, xq: Int8Array, xd: Float32Array, xBlock0: number, n: number): number {
  const dv = new DataView(w.buffer, w.byteOffset);
  const bytes = QUANT_BLOCK_BYTES[type];
  let sum = 0;
  for (let b = 0; b < n / QK; b++) {
    const o = wOff + b * bytes;
    const dw = f16ToF32(dv.getUint16(o, true));
    const xb = (xBlock0 + b) * QK;
    let isum = 0;
    if (type === 'Q8_0') {
      for (let j = 0; j < QK; j++) isum += ((w[o + 2 + j] << 24) >> 24) * xq[xb + j];
    } else {
      for (let j = 0; j < QK / 2; j++) {
        const q = w[o + 2 + j];
        isum += ((q & 0x0f) - 8) * xq[xb + j] + ((q >> 4) - 8) * xq[xb + j + 16];
      }
    }
    sum += isum * dw * xd[xBlock0 + b];
  }
  return sum;
}

/**
 * Quantizes activation rows to int8 blocks with float32 scales (d = max|x|/127, q = roundf(x/d)),
 * as the fast kernels do before an integer dot product.
 */
export function quantizeActivations(x: Float32Array, rows: number, n: number): { q: Int8Array; d: Float32Array } {
  const q = new Int8Array(rows * n);
  const d = new Float32Array((rows * n) / QK);
  for (let b = 0; b < (rows * n) / QK; b++) {
    let amax = 0;
    for (let j = 0; j < QK; j++) amax = Math.max(amax, Math.abs(x[b * QK + j]));
    const s = Math.fround(amax / 127);
    const id = s !== 0 ? Math.fround(1 / s) : 0;
    d[b] = s;
    for (let j = 0; j < QK; j++) q[b * QK + j] = roundf(Math.fround(x[b * QK + j] * id));
  }
  return { q, d };
}
