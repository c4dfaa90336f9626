/**
 * ggml's k-quant quantizers (Q3_K, Q4_K, Q5_K, Q6_K), ported from llama.cpp's
 * ggml/src/ggml-quants.c (MIT, commit 80fb11a) so that the blocks are bit-identical to what
 * llama-quantize writes: the `_ref` path (no importance matrix) and the `_impl` path (with one).
 *
 * Float semantics: every float operation of the C code is a float32 operation (ggml-base is built
 * without -ffast-math and without FMA), so each one is followed here by Math.fround (`f`), in the
 * C evaluation order (left to right). double rounding of +, −, ×, ÷, sqrt then fround is exact
 * (53 ≥ 2·24 + 2). Integer ↔ float conversions and uint8/int8 stores mirror the C casts.
 */
import { f16ToF32, f32ToF16 } from '../dtype.js';
import { f, nearestInt, makeQxQuants, makeQkx2Quants, makeQkx3Quants, makeQpQuants, makeQ3Quants, setF16 } from './quantize-helpers.js';

import { QK_K } from './formats.js';

function getScaleMinK4(j: number, q: Uint8Array, qo: number): [number, number] {
  if (j < 4) return [q[qo + j] & 63, q[qo + j + 4] & 63];
  return [(q[qo + j + 4] & 0xf) | ((q[qo + j - 4] >> 6) << 4), (q[qo + j + 4] >> 4) | ((q[qo + j] >> 6) << 4)];
}

/** Packs 8 (scale, min) 6-bit pairs into a Q4_K/Q5_K `scales[12]` at `so`. */
function packScalesMins(y: Uint8Array, so: number, Ls: ArrayLike<number>, Lm: ArrayLike<number>, clamp: boolean): void {
  for (let j = 0; j < 8; j++) {
    let ls = Ls[j] & 0xff;
    let lm = Lm[j] & 0xff;
    if (clamp) {
      ls = Math.min(63, ls);
      lm = Math.min(63, lm);
    }
    if (j < 4) {
      y[so + j] = ls;
      y[so + j + 4] = lm;
    } else {
      y[so + j + 4] = (ls & 0xf) | ((lm & 0xf) << 4);
      y[so + j - 4] |= (ls >> 4) << 6;
      y[so + j] |= (lm >> 4) << 6;
    }
  }
}

/** The final L for Q4_K/Q5_K from the stored (f16) d/dmin and 6-bit scales. */
function finalLqkx(x: Float32Array, xo: number, y: Uint8Array, bo: number, L: Uint8Array, nmax: number): void {
  const d0 = f16ToF32(y[bo] | (y[bo + 1] << 8));
  const m0 = f16ToF32(y[bo + 2] | (y[bo + 3] << 8));
  for (let j = 0; j < QK_K / 32; j++) {
    const [sc, m] = getScaleMinK4(j, y, bo + 4);
    const d = f(d0 * sc);
    if (!d) continue;
    const dm = f(m0 * m);
    for (let ii = 0; ii < 32; ii++) {
      const l = nearestInt(f(f(x[xo + 32 * j + ii] + dm) / d));
      L[32 * j + ii] = Math.max(0, Math.min(nmax, l));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Q4_K: d f16, dmin f16, scales[12], qs[128] (144 bytes)

function packQ4K(y: Uint8Array, bo: number, L: Uint8Array): void {
  let q = bo + 16;
  for (let j = 0; j < QK_K; j += 64) {
    for (let l = 0; l < 32; l++) y[q + l] = L[j + l] | (L[j + l + 32] << 4);
    q += 32;
  }
}

export function quantizeRowQ4KRef(x: Float32Array, xo: number, y: Uint8Array, yo: number, k: number): void {
  const nb = k / QK_K;
  const L = new Uint8Array(QK_K);
  const Laux = new Uint8Array(32);
  const weights = new Float32Array(32);
  const mins = new Float32Array(8);
  const scales = new Float32Array(8);
  const the = new Float32Array(1);
  for (let i = 0; i < nb; i++) {
    const bo = yo + i * 144;
    let maxScale = 0;
    let maxMin = 0;
    for (let j = 0; j < 8; j++) {
      let sumX2 = 0;
      for (let l = 0; l < 32; l++) sumX2 = f(sumX2 + f(x[xo + 32 * j + l] * x[xo + 32 * j + l]));
      const avX = f(Math.sqrt(f(sumX2 / 32)));
      for (let l = 0; l < 32; l++) weights[l] = f(avX + Math.abs(x[xo + 32 * j + l]));
      scales[j] = makeQkx2Quants(32, 15, x, xo + 32 * j, weights, L, 32 * j, the, Laux, -1, f(0.1), 20, false);
      mins[j] = the[0];
      if (scales[j] > maxScale) maxScale = scales[j];
      if (mins[j] > maxMin) maxMin = mins[j];
    }
    const invScale = maxScale > 0 ? f(63 / maxScale) : 0;
    const invMin = maxMin > 0 ? f(63 / maxMin) : 0;
    const Ls = new Uint8Array(8);
    const Lm = new Uint8Array(8);
    for (let j = 0; j < 8; j++) {
      Ls[j] = nearestInt(f(invScale * scales[j]));
      Lm[j] = nearestInt(f(invMin * mins[j]));
    }
    y.fill(0, bo, bo + 144);
    packScalesMins(y, bo + 4, Ls, Lm, true);
    setF16(y, bo, f32ToF16(f(maxScale / 63)));
    setF16(y, bo + 2, f32ToF16(f(maxMin / 63)));
    finalLqkx(x, xo, y, bo, L, 15);
    packQ4K(y, bo, L);
    xo += QK_K;
  }
}

/** quantize_row_q4_K_impl / quantize_row_q5_K_impl (they differ only in nmax and packing). */
function qkxImplBlock(x: Float32Array, xo: number, qw: Float32Array | null, qwo: number, nmax: number, y: Uint8Array, bo: number, L: Uint8Array): void {
  const Laux = new Uint8Array(32);
  const Ls = new Uint8Array(8);
  const Lm = new Uint8Array(8);
  const weights = new Float32Array(32);
  const sw = new Float32Array(8);
  const mins = new Float32Array(8);
  const scales = new Float32Array(8);
  const the = new Float32Array(1);
  let sumX2 = 0;
  for (let l = 0; l < QK_K; l++) sumX2 = f(sumX2 + f(x[xo + l] * x[xo + l]));
  const sigma2 = f(f(2 * sumX2) / QK_K);
  const avX = f(Math.sqrt(sigma2));
  for (let j = 0; j < 8; j++) {
    if (qw) {
      for (let l = 0; l < 32; l++) {
        const v = x[xo + 32 * j + l];
        weights[l] = f(qw[qwo + 32 * j + l] * f(Math.sqrt(f(sigma2 + f(v * v)))));
      }
    } else {
      for (let l = 0; l < 32; l++) weights[l] = f(avX + Math.abs(x[xo + 32 * j + l]));
    }
    let sumw = 0;
    for (let l = 0; l < 32; l++) sumw = f(sumw + weights[l]);
    sw[j] = sumw;
    scales[j] = makeQkx3Quants(32, nmax, x, xo + 32 * j, weights, L, 32 * j, the, Laux, f(-0.9), f(0.05), 36, false);
    mins[j] = the[0];
  }
  const dBlock = makeQpQuants(8, 63, scales, Ls, sw);
  const mBlock = makeQpQuants(8, 63, mins, Lm, sw);
  packScalesMins(y, bo + 4, Ls, Lm, nmax === 31);
  setF16(y, bo, f32ToF16(dBlock));
  setF16(y, bo + 2, f32ToF16(mBlock));
  finalLqkx(x, xo, y, bo, L, nmax);
}

export function quantizeRowQ4KImpl(x: Float32Array, xo: number, y: Uint8Array, yo: number, n: number, qw: Float32Array): void {
  const L = new Uint8Array(QK_K);
  for (let i = 0; i < n / QK_K; i++) {
    const bo = yo + i * 144;
    y.fill(0, bo, bo + 144);
    qkxImplBlock(x, xo + i * QK_K, qw, i * QK_K, 15, y, bo, L);
    packQ4K(y, bo, L);
  }
}

// ---------------------------------------------------------------------------------------------
// Q5_K: d, dmin, scales[12], qh[32], qs[128] (176 bytes)

function packQ5K(y: Uint8Array, bo: number, L: Uint8Array): void {
  const qh = bo + 16;
  let ql = bo + 48;
  y.fill(0, qh, qh + 32);
  let m1 = 1;
  let m2 = 2;
  for (let n = 0; n < QK_K; n += 64) {
    for (let j = 0; j < 32; j++) {
      let l1 = L[n + j];
      if (l1 > 15) {
        l1 -= 16;
        y[qh + j] |= m1;
      }
      let l2 = L[n + j + 32];
      if (l2 > 15) {
        l2 -= 16;
        y[qh + j] |= m2;
      }
      y[ql + j] = l1 | (l2 << 4);
    }
    m1 = (m1 << 2) & 0xff;
    m2 = (m2 << 2) & 0xff;
    ql += 32;
  }
}

export function quantizeRowQ5KRef(x: Float32Array, xo: number, y: Uint8Array, yo: number, k: number): void {
  const nb = k / QK_K;
  const L = new Uint8Array(QK_K);
  const Laux = new Uint8Array(32);
  const weights = new Float32Array(32);
  const mins = new Float32Array(8);
  const scales = new Float32Array(8);
  const the = new Float32Array(1);
  for (let i = 0; i < nb; i++) {
    const bo = yo + i * 176;
    let maxScale = 0;
    let maxMin = 0;
    for (let j = 0; j < 8; j++) {
      let sumX2 = 0;
      for (let l = 0; l < 32; l++) sumX2 = f(sumX2 + f(x[xo + 32 * j + l] * x[xo + 32 * j + l]));
      const avX = f(Math.sqrt(f(sumX2 / 32)));
      for (let l = 0; l < 32; l++) weights[l] = f(avX + Math.abs(x[xo + 32 * j + l]));
      scales[j] = makeQkx2Quants(32, 31, x, xo + 32 * j, weights, L, 32 * j, the, Laux, f(-0.5), f(0.1), 15, false);
      mins[j] = the[0];
      if (scales[j] > maxScale) maxScale = scales[j];
      if (mins[j] > maxMin) maxMin = mins[j];
    }
    const invScale = maxScale > 0 ? f(63 / maxScale) : 0;
    const invMin = maxMin > 0 ? f(63 / maxMin) : 0;
    const Ls = new Uint8Array(8);
    const Lm = new Uint8Array(8);
    for (let j = 0; j < 8; j++) {
      Ls[j] = nearestInt(f(invScale * scales[j]));
      Lm[j] = nearestInt(f(invMin * mins[j]));
    }
    y.fill(0, bo, bo + 176);
    packScalesMins(y, bo + 4, Ls, Lm, true);
    setF16(y, bo, f32ToF16(f(maxScale / 63)));
    setF16(y, bo + 2, f32ToF16(f(maxMin / 63)));
    finalLqkx(x, xo, y, bo, L, 31);
    packQ5K(y, bo, L);
    xo += QK_K;
  }
}

export function quantizeRowQ5KImpl(x: Float32Array, xo: number, y: Uint8Array, yo: number, n: number, qw: Float32Array): void {
  const L = new Uint8Array(QK_K);
  for (let i = 0; i < n / QK_K; i++) {
    const bo = yo + i * 176;
    y.fill(0, bo, bo + 176);
    qkxImplBlock(x, xo + i * QK_K, qw, i * QK_K, 31, y, bo, L);
    packQ5K(y, bo, L);
  }
}

// ---------------------------------------------------------------------------------------------
// Q6_K: ql[128], qh[64], scales[16] (int8), d f16 (210 bytes)

/** quantize_row_q6_K_ref (qw null) and quantize_row_q6_K_impl (qw given). */
export function quantizeRowQ6K(x: Float32Array, xo: number, y: Uint8Array, yo: number, k: number, qw: Float32Array | null): void {
  const nb = k / QK_K;
  const L = new Int8Array(QK_K);
  const scales = new Float32Array(16);
  for (let i = 0; i < nb; i++) {
    const bo = yo + i * 210;
    let maxScale = 0;
    let maxAbsScale = 0;
    for (let ib = 0; ib < 16; ib++) {
      const scale = makeQxQuants(16, 32, x, xo + 16 * ib, L, 16 * ib, 1, qw, qw ? QK_K * i + 16 * ib : 0);
      scales[ib] = scale;
      const a = Math.abs(scale);
      if (a > maxAbsScale) {
        maxAbsScale = a;
        maxScale = scale;
      }
    }
    y.fill(0, bo, bo + 210);
    if (maxAbsScale < f(1e-15)) {
      xo += QK_K;
      continue;
    }
    const iscale = f(-128 / maxScale);
    setF16(y, bo + 208, f32ToF16(f(1 / iscale)));
    for (let ib = 0; ib < 16; ib++) y[bo + 192 + ib] = Math.min(127, nearestInt(f(iscale * scales[ib]))) & 0xff;
    const d0 = f16ToF32(y[bo + 208] | (y[bo + 209] << 8));
    for (let j = 0; j < 16; j++) {
      const sc = (y[bo + 192 + j] << 24) >> 24;
      const d = f(d0 * sc);
      if (!d) continue;
      for (let ii = 0; ii < 16; ii++) {
        const l = nearestInt(f(x[xo + 16 * j + ii] / d));
        L[16 * j + ii] = Math.max(-32, Math.min(31, l)) + 32;
      }
    }
    let ql = bo;
    let qh = bo + 128;
    for (let j = 0; j < QK_K; j += 128) {
      for (let l = 0; l < 32; l++) {
        const q1 = L[j + l] & 0xf;
        const q2 = L[j + l + 32] & 0xf;
        const q3 = L[j + l + 64] & 0xf;
        const q4 = L[j + l + 96] & 0xf;
        y[ql + l] = q1 | (q3 << 4);
        y[ql + l + 32] = q2 | (q4 << 4);
        y[qh + l] = (L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) | ((L[j + l + 64] >> 4) << 4) | ((L[j + l + 96] >> 4) << 6);
      }
      ql += 64;
      qh += 32;
    }
    xo += QK_K;
  }
}

// ---------------------------------------------------------------------------------------------
// Q3_K: hmask[32], qs[64], scales[12], d f16 (110 bytes)

function q3FinalAndPack(x: Float32Array, xo: number, y: Uint8Array, bo: number, L: Int8Array): void {
  const so = bo + 96;
  const d0 = f16ToF32(y[bo + 108] | (y[bo + 109] << 8));
  for (let j = 0; j < 16; j++) {
    let sc = j < 8 ? y[so + j] & 0xf : y[so + j - 8] >> 4;
    sc = (sc | (((y[so + 8 + (j % 4)] >> (2 * Math.floor(j / 4))) & 3) << 4)) - 32;
    const d = f(d0 * sc);
    if (!d) continue;
    for (let ii = 0; ii < 16; ii++) {
      const l = nearestInt(f(x[xo + 16 * j + ii] / d));
      L[16 * j + ii] = Math.max(-4, Math.min(3, l)) + 4;
    }
  }
  y.fill(0, bo, bo + 32);
  let m = 0;
  let hm = 1;
  for (let j = 0; j < QK_K; j++) {
    if (L[j] > 3) {
      y[bo + m] |= hm;
      L[j] -= 4;
    }
    if (++m === QK_K / 8) {
      m = 0;
      hm = (hm << 1) & 0xff;
    }
  }
  for (let j = 0; j < QK_K; j += 128) {
    for (let l = 0; l < 32; l++) {
      y[bo + 32 + j / 4 + l] = (L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6)) & 0xff;
    }
  }
}

function q3PackScale(y: Uint8Array, so: number, j: number, l: number): void {
  if (j < 8) y[so + j] = l & 0xf;
  else y[so + j - 8] |= (l & 0xf) << 4;
  l >>= 4;
  y[so + (j % 4) + 8] |= (l << (2 * Math.floor(j / 4))) & 0xff;
}

export function quantizeRowQ3KRef(x: Float32Array, xo: number, y: Uint8Array, yo: number, k: number): void {
  const nb = k / QK_K;
  const L = new Int8Array(QK_K);
  const scales = new Float32Array(16);
  for (let i = 0; i < nb; i++) {
    const bo = yo + i * 110;
    const so = bo + 96;
    let maxScale = 0;
    let amax = 0;
    for (let j = 0; j < 16; j++) {
      scales[j] = makeQ3Quants(16, 4, x, xo + 16 * j, L, 16 * j, true);
      const s = Math.abs(scales[j]);
      if (s > amax) {
        amax = s;
        maxScale = scales[j];
      }
    }
    y.fill(0, bo, bo + 110);
    if (maxScale) {
      const iscale = f(-32 / maxScale);
      for (let j = 0; j < 16; j++) {
        let l = (nearestInt(f(iscale * scales[j])) << 24) >> 24; // int8_t
        l = Math.max(-32, Math.min(31, l)) + 32;
        l = (l << 24) >> 24;
        q3PackScale(y, so, j, l);
      }
      setF16(y, bo + 108, f32ToF16(f(1 / iscale)));
    } else {
      setF16(y, bo + 108, f32ToF16(0));
    }
    q3FinalAndPack(x, xo, y, bo, L);
    xo += QK_K;
  }
}

export function quantizeRowQ3KImpl(x: Float32Array, xo: number, y: Uint8Array, yo: number, n: number, qw: Float32Array): void {
  const nb = n / QK_K;
  const L = new Int8Array(QK_K);
  const scales = new Float32Array(16);
  const weight = new Float32Array(16);
  const sw = new Float32Array(16);
  const Ls = new Int8Array(16);
  for (let i = 0; i < nb; i++) {
    const bo = yo + i * 110;
    const so = bo + 96;
    let sumx2 = 0;
    for (let j = 0; j < QK_K; j++) sumx2 = f(sumx2 + f(x[xo + j] * x[xo + j]));
    const sigma2 = f(f(2 * sumx2) / QK_K);
    for (let j = 0; j < 16; j++) {
      for (let l = 0; l < 16; l++) {
        const v = x[xo + 16 * j + l];
        weight[l] = f(qw[QK_K * i + 16 * j + l] * f(Math.sqrt(f(sigma2 + f(v * v)))));
      }
      let sumw = 0;
      for (let l = 0; l < 16; l++) sumw = f(sumw + weight[l]);
      sw[j] = sumw;
      scales[j] = makeQxQuants(16, 4, x, xo + 16 * j, L, 16 * j, 1, weight, 0);
    }
    y.fill(0, bo, bo + 110);
    const dBlock = makeQxQuants(16, 32, scales, 0, Ls, 0, 1, sw, 0);
    for (let j = 0; j < 16; j++) q3PackScale(y, so, j, Ls[j]);
    setF16(y, bo + 108, f32ToF16(dBlock));
    q3FinalAndPack(x, xo, y, bo, L);
    xo += QK_K;
  }
}
