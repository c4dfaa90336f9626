/**
 * Activation quantization for the integer dot products of dot.ts, one per ggml vec_dot_type.
 *
 * - Q8_0: blocks of 32, d = amax/127 (float32), q = roundf(x/d): the project's existing
 *   quantizeActivations (src/tensor/quant.ts). ggml rounds d to f16; this project keeps it in f32.
 * - Q8_1: the same q and d, plus each block's Σq (ggml stores s = d·Σq as f16; dot.ts forms d·Σq in f32).
 * - Q8_K: ggml's quantize_row_q8_K_ref exactly (d is a float32 there too), bsums = Σ of each 16 q's.
 */
import { FugakuError } from '../../errors.js';
import { ACT_BLOCK, type ActType } from './formats.js';

export interface QuantizedActs {
  readonly kind: ActType;
  /** rows·n int8 quants. */
  readonly q: Int8Array;
  /** One scale per activation block (32 values for Q8_0/Q8_1, 256 for Q8_K). */
  readonly d: Float32Array;
  /** Q8_0/Q8_1: Σq of each 32-block; Q8_K: the 16 bsums (Σ of 16 q's) of each 256-block. */
  readonly sums: Int32Array;
}

const fr = Math.fround;

/** C's roundf: halves away from zero. */
function roundf(x: number): number {
  return x < 0 ? -Math.floor(-x + 0.5) : Math.floor(x + 0.5);
}

/** ggml's nearest_int: float32 round-half-to-even via the 1.5·2^23 trick. */
export function nearestInt(fval: number): number {
  return fr(fval + 12582912) - 12582912;
}

function quantizeQ8_0(x: Float32Array, total: number): QuantizedActs & { kind: 'Q8_0' } {
  const nb = total / 32;
  const q = new Int8Array(total);
  const d = new Float32Array(nb);
  const sums = new Int32Array(nb);
  for (let b = 0; b < nb; b++) {
    let amax = 0;
    for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[b * 32 + j]));
    const s = fr(amax / 127);
    const id = s !== 0 ? fr(1 / s) : 0;
    d[b] = s;
    let sum = 0;
    for (let j = 0; j < 32; j++) {
      const v = roundf(fr(x[b * 32 + j] * id));
      q[b * 32 + j] = v;
      sum += v;
    }
    sums[b] = sum;
  }
  return { kind: 'Q8_0', q, d, sums };
}

function quantizeQ8_K(x: Float32Array, total: number): QuantizedActs {
  const nb = total / 256;
  const q = new Int8Array(total);
  const d = new Float32Array(nb);
  const sums = new Int32Array(nb * 16);
  for (let b = 0; b < nb; b++) {
    const o = b * 256;
    let max = 0;
    let amax = 0;
    for (let j = 0; j < 256; j++) {
      const ax = Math.abs(x[o + j]);
      if (ax > amax) {
        amax = ax;
        max = x[o + j];
      }
    }
    if (amax === 0) continue; // d = 0, q = 0 (ggml leaves bsums unset; they multiply d = 0)
    const iscale = fr(-127 / max);
    for (let j = 0; j < 256; j++) q[o + j] = Math.min(127, nearestInt(fr(iscale * x[o + j])));
    for (let j = 0; j < 16; j++) {
      let sum = 0;
      for (let i = 0; i < 16; i++) sum += q[o + 16 * j + i];
      sums[b * 16 + j] = sum;
    }
    d[b] = fr(1 / iscale);
  }
  return { kind: 'Q8_K', q, d, sums };
}

/** Quantizes `rows` activation rows of n values (x is rows·n, row-major) for a weight of vec_dot_type `act`. */
export function quantizeActsFor(act: ActType, x: Float32Array, rows: number, n: number): QuantizedActs {
  if (n % ACT_BLOCK[act] !== 0) {
    throw new FugakuError('DTYPE_UNSUPPORTED', `${act} activations need rows whose length is a multiple of ${ACT_BLOCK[act]}, got ${n}`, 'use a weight type whose block size divides the row length');
  }
  const total = rows * n;
  if (act === 'Q8_K') return quantizeQ8_K(x, total);
  const r = quantizeQ8_0(x, total);
  return act === 'Q8_1' ? { ...r, kind: 'Q8_1' } : r;
}

/** The float values the quantized activations stand for (q·d), rows·n of them. */
export function dequantizeActs(acts: QuantizedActs): Float32Array {
  const bs = ACT_BLOCK[acts.kind];
  const out = new Float32Array(acts.q.length);
  for (let i = 0; i < acts.q.length; i++) out[i] = acts.q[i] * acts.d[Math.floor(i / bs)];
  return out;
}
