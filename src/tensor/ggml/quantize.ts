/**
 * ggml_quantize_chunk in TypeScript: float32 rows → GGUF block bytes, bit-identical to what
 * llama.cpp's llama-quantize writes (ggml/src/ggml-quants.c, llama.cpp commit 80fb11a, MIT).
 * The 32-element block types and IQ4_NL/IQ4_XS are here; the k-quants are in quantize-k.ts,
 * the shared searches in quantize-helpers.ts. See quantize-helpers.ts for the float32 rules.
 *
 * With an importance matrix (`imatrix`: one weight per column, n_per_row values) each type uses
 * ggml's weighted `quantize_row_*_impl`; without one, the `_ref` path, as ggml does
 * (Q8_0 ignores the matrix; IQ4_NL/IQ4_XS use x² weights then).
 */
import { FugakuError } from '../../errors.js';
import { f32ToF16 } from '../dtype.js';
import { bestIndexInt8, f, GROUP_MAX_EPS, makeQkx3Quants, makeQxQuants, nearestInt, setF16 } from './quantize-helpers.js';
import { BLOCK_TYPES, blockRowBytes, QK_K, type BlockTypeInfo } from './formats.js';
import { kvalues_iq4nl } from './grids.js';
import { quantizeRowQ3KImpl, quantizeRowQ3KRef, quantizeRowQ4KImpl, quantizeRowQ4KRef, quantizeRowQ5KImpl, quantizeRowQ5KRef, quantizeRowQ6K } from './quantize-k.js';

/** The block types this module writes. */
export type GGMLQuantType = 'Q4_0' | 'Q5_0' | 'Q5_1' | 'Q8_0' | 'Q3_K' | 'Q4_K' | 'Q5_K' | 'Q6_K' | 'IQ4_NL' | 'IQ4_XS';

/** Elements and bytes per block of the types written here (formats.ts's BLOCK_TYPES). */
export const QUANT_BLOCKS: Readonly<Record<GGMLQuantType, BlockTypeInfo>> = Object.fromEntries(
  (['Q4_0', 'Q5_0', 'Q5_1', 'Q8_0', 'IQ4_NL', 'Q3_K', 'Q4_K', 'Q5_K', 'Q6_K', 'IQ4_XS'] as const).map((t) => [t, BLOCK_TYPES[t]]),
) as Record<GGMLQuantType, BlockTypeInfo>;

const KVALUES_IQ4NL = kvalues_iq4nl;

// ---------------------------------------------------------------------------------------------
// 32-element blocks

function absMaxSigned(x: Float32Array, xo: number, n: number): number {
  let amax = 0;
  let max = 0;
  for (let j = 0; j < n; j++) {
    const v = x[xo + j];
    if (amax < Math.abs(v)) {
      amax = Math.abs(v);
      max = v;
    }
  }
  return max;
}

/** C's (int8_t)(float) cast (truncation; the values here are in range). */
const toI8 = (v: number): number => (Math.trunc(v) << 24) >> 24;

function quantizeRowQ4_0Ref(x: Float32Array, xo: number, y: Uint8Array, yo: number, k: number): void {
  for (let i = 0; i < k / 32; i++, xo += 32, yo += 18) {
    const max = absMaxSigned(x, xo, 32);
    const d = f(max / -8);
    const id = d ? f(1 / d) : 0;
    setF16(y, yo, f32ToF16(d));
    for (let j = 0; j < 16; j++) {
      const x0 = f(x[xo + j] * id);
      const x1 = f(x[xo + 16 + j] * id);
      const xi0 = Math.min(15, toI8(f(x0 + 8.5))) & 0xff;
      const xi1 = Math.min(15, toI8(f(x1 + 8.5))) & 0xff;
      y[yo + 2 + j] = (xi0 | (xi1 << 4)) & 0xff;
    }
  }
}

function quantizeRowQ5_0Ref(x: Float32Array, xo: number, y: Uint8Array, yo: number, k: number): void {
  for (let i = 0; i < k / 32; i++, xo += 32, yo += 22) {
    const max = absMaxSigned(x, xo, 32);
    const d = f(max / -16);
    const id = d ? f(1 / d) : 0;
    setF16(y, yo, f32ToF16(d));
    let qh = 0;
    for (let j = 0; j < 16; j++) {
      const x0 = f(x[xo + j] * id);
      const x1 = f(x[xo + 16 + j] * id);
      const xi0 = Math.min(31, toI8(f(x0 + 16.5))) & 0xff;
      const xi1 = Math.min(31, toI8(f(x1 + 16.5))) & 0xff;
      y[yo + 6 + j] = (xi0 & 0x0f) | ((xi1 & 0x0f) << 4);
      qh |= ((xi0 & 0x10) >>> 4) << j;
      qh |= ((xi1 & 0x10) >>> 4) << (j + 16);
    }
    writeU32(y, yo + 2, qh);
  }
}

function quantizeRowQ5_1Ref(x: Float32Array, xo: number, y: Uint8Array, yo: number, k: number): void {
  for (let i = 0; i < k / 32; i++, xo += 32, yo += 24) {
    let min = Infinity;
    let max = -Infinity;
    for (let j = 0; j < 32; j++) {
      const v = x[xo + j];
      if (v < min) min = v;
      if (v > max) max = v;
    }
    const d = f(f(max - min) / 31);
    const id = d ? f(1 / d) : 0;
    setF16(y, yo, f32ToF16(d));
    setF16(y, yo + 2, f32ToF16(min));
    let qh = 0;
    for (let j = 0; j < 16; j++) {
      const x0 = f(f(x[xo + j] - min) * id);
      const x1 = f(f(x[xo + 16 + j] - min) * id);
      const xi0 = Math.trunc(f(x0 + 0.5)) & 0xff;
      const xi1 = Math.trunc(f(x1 + 0.5)) & 0xff;
      y[yo + 8 + j] = ((xi0 & 0x0f) | ((xi1 & 0x0f) << 4)) & 0xff;
      qh |= ((xi0 & 0x10) >>> 4) << j;
      qh |= ((xi1 & 0x10) >>> 4) << (j + 16);
    }
    writeU32(y, yo + 4, qh);
  }
}

function quantizeRowQ8_0Ref(x: Float32Array, xo: number, y: Uint8Array, yo: number, k: number): void {
  for (let i = 0; i < k / 32; i++, xo += 32, yo += 34) {
    let amax = 0;
    for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[xo + j]));
    const d = f(amax / 127);
    const id = d ? f(1 / d) : 0;
    setF16(y, yo, f32ToF16(d));
    for (let j = 0; j < 32; j++) {
      const x0 = f(x[xo + j] * id);
      // roundf: half away from zero
      y[yo + 2 + j] = (Math.sign(x0) * Math.round(Math.abs(x0))) & 0xff;
    }
  }
}

function writeU32(y: Uint8Array, at: number, v: number): void {
  y[at] = v & 0xff;
  y[at + 1] = (v >>> 8) & 0xff;
  y[at + 2] = (v >>> 16) & 0xff;
  y[at + 3] = (v >>> 24) & 0xff;
}

/** σ² = Σx²/n over a whole row (the 32-block _impl functions). */
function rowSigma2(x: Float32Array, xo: number, n: number): number {
  let s = 0;
  for (let j = 0; j < n; j++) s = f(s + f(x[xo + j] * x[xo + j]));
  return f(s / n);
}

function blockWeights(x: Float32Array, xo: number, qw: Float32Array, qwo: number, sigma2: number, out: Float32Array): void {
  for (let j = 0; j < 32; j++) out[j] = f(qw[qwo + j] * f(Math.sqrt(f(sigma2 + f(x[xo + j] * x[xo + j])))));
}

function quantizeRowQ4_0Impl(x: Float32Array, xo: number, y: Uint8Array, yo: number, n: number, qw: Float32Array): void {
  const weight = new Float32Array(32);
  const L = new Int8Array(32);
  const sigma2 = rowSigma2(x, xo, n);
  for (let ib = 0; ib < n / 32; ib++) {
    blockWeights(x, xo + 32 * ib, qw, 32 * ib, sigma2, weight);
    const d = makeQxQuants(32, 8, x, xo + 32 * ib, L, 0, 1, weight, 0);
    const bo = yo + 18 * ib;
    setF16(y, bo, f32ToF16(d));
    for (let j = 0; j < 16; j++) y[bo + 2 + j] = (L[j] | (L[j + 16] << 4)) & 0xff;
  }
}

function quantizeRowQ5_0Impl(x: Float32Array, xo: number, y: Uint8Array, yo: number, n: number, qw: Float32Array): void {
  const weight = new Float32Array(32);
  const L = new Int8Array(32);
  const sigma2 = rowSigma2(x, xo, n);
  for (let ib = 0; ib < n / 32; ib++) {
    blockWeights(x, xo + 32 * ib, qw, 32 * ib, sigma2, weight);
    const d = makeQxQuants(32, 16, x, xo + 32 * ib, L, 0, 1, weight, 0);
    const bo = yo + 22 * ib;
    setF16(y, bo, f32ToF16(d));
    let qh = 0;
    for (let j = 0; j < 16; j++) {
      const xi0 = L[j] & 0xff;
      const xi1 = L[j + 16] & 0xff;
      y[bo + 6 + j] = (xi0 & 0x0f) | ((xi1 & 0x0f) << 4);
      qh |= ((xi0 & 0x10) >>> 4) << j;
      qh |= ((xi1 & 0x10) >>> 4) << (j + 16);
    }
    writeU32(y, bo + 2, qh);
  }
}

function quantizeRowQ5_1Impl(x: Float32Array, xo: number, y: Uint8Array, yo: number, n: number, qw: Float32Array): void {
  const weight = new Float32Array(32);
  const L = new Uint8Array(32);
  const Laux = new Uint8Array(32);
  const the = new Float32Array(1);
  const sigma2 = rowSigma2(x, xo, n);
  for (let ib = 0; ib < n / 32; ib++) {
    blockWeights(x, xo + 32 * ib, qw, 32 * ib, sigma2, weight);
    const d = makeQkx3Quants(32, 31, x, xo + 32 * ib, weight, L, 0, the, Laux, f(-0.9), f(0.05), 36, false);
    const bo = yo + 24 * ib;
    setF16(y, bo, f32ToF16(d));
    setF16(y, bo + 2, f32ToF16(-the[0]));
    let qh = 0;
    for (let j = 0; j < 16; j++) {
      const xi0 = L[j];
      const xi1 = L[j + 16];
      y[bo + 8 + j] = (xi0 & 0x0f) | ((xi1 & 0x0f) << 4);
      qh |= ((xi0 & 0x10) >>> 4) << j;
      qh |= ((xi1 & 0x10) >>> 4) << (j + 16);
    }
    writeU32(y, bo + 4, qh);
  }
}

// ---------------------------------------------------------------------------------------------
// IQ4_NL (d f16, qs[16]) and IQ4_XS (d f16, scales_h u16, scales_l[4], qs[128])

/**
 * quantize_row_iq4_nl_impl for one super-block at x[xo], writing d at `dAt`, the nibbles at `qAt`
 * and (IQ4_XS) scales_h at `shAt`, scales_l at `slAt`. ntry = 7 (what quantize_iq4_* pass).
 */
function quantizeRowIq4NlImpl(
  superBlockSize: number, x: Float32Array, xo: number, y: Uint8Array, dAt: number, qAt: number, shAt: number, slAt: number,
  qw: Float32Array | null, qwo: number, scales: Float32Array, weight: Float32Array, L: Uint8Array,
): void {
  const blockSize = 32;
  const ntry = 7;
  const values = KVALUES_IQ4NL;
  let sigma2 = 0;
  for (let j = 0; j < superBlockSize; j++) sigma2 = f(sigma2 + f(x[xo + j] * x[xo + j]));
  sigma2 = f(sigma2 * f(2 / superBlockSize));
  y.fill(0, qAt, qAt + superBlockSize / 2);
  setF16(y, dAt, f32ToF16(0));
  let maxScale = 0;
  let amaxScale = 0;
  for (let ib = 0; ib < superBlockSize / blockSize; ib++) {
    const xb = xo + ib * blockSize;
    const Lb = ib * blockSize;
    if (qw) {
      for (let j = 0; j < blockSize; j++) weight[j] = f(qw[qwo + ib * blockSize + j] * f(Math.sqrt(f(sigma2 + f(x[xb + j] * x[xb + j])))));
    } else {
      for (let j = 0; j < blockSize; j++) weight[j] = f(x[xb + j] * x[xb + j]);
    }
    let amax = 0;
    let max = 0;
    for (let j = 0; j < blockSize; j++) {
      const ax = Math.abs(x[xb + j]);
      if (ax > amax) {
        amax = ax;
        max = x[xb + j];
      }
    }
    if (amax < GROUP_MAX_EPS) {
      scales[ib] = 0;
      continue;
    }
    let d = ntry > 0 ? f(-max / values[0]) : f(max / values[0]);
    let id = f(1 / d);
    let sumqx = 0;
    let sumq2 = 0;
    for (let j = 0; j < blockSize; j++) {
      const al = f(id * x[xb + j]);
      const l = bestIndexInt8(16, values, al);
      L[Lb + j] = l;
      const q = values[l];
      const w = weight[j];
      sumqx = f(sumqx + f(f(w * q) * x[xb + j]));
      sumq2 = f(sumq2 + f(f(w * q) * q));
    }
    d = sumq2 > 0 ? f(sumqx / sumq2) : 0;
    let best = f(d * sumqx);
    for (let itry = -ntry; itry <= ntry; itry++) {
      id = f((itry + values[0]) / max);
      sumqx = 0;
      sumq2 = 0;
      for (let j = 0; j < blockSize; j++) {
        const al = f(id * x[xb + j]);
        const l = bestIndexInt8(16, values, al);
        const q = values[l];
        const w = weight[j];
        sumqx = f(sumqx + f(f(w * q) * x[xb + j]));
        sumq2 = f(sumq2 + f(f(w * q) * q));
      }
      if (sumq2 > 0 && f(sumqx * sumqx) > f(best * sumq2)) {
        d = f(sumqx / sumq2);
        best = f(d * sumqx);
      }
    }
    scales[ib] = d;
    const absD = Math.abs(d);
    if (absD > amaxScale) {
      amaxScale = absD;
      maxScale = d;
    }
  }

  if (superBlockSize / blockSize > 1) {
    const nb = superBlockSize / blockSize;
    let scalesH = 0;
    const d = f(-maxScale / 32);
    setF16(y, dAt, f32ToF16(d));
    const id = d ? f(1 / d) : 0;
    for (let ib = 0; ib < nb; ib++) {
      let l = nearestInt(f(id * scales[ib]));
      l = Math.max(-32, Math.min(31, l));
      const dl = f(d * l);
      const idl = dl ? f(1 / dl) : 0;
      const Lb = ib * blockSize;
      const xb = xo + ib * blockSize;
      for (let j = 0; j < blockSize; j++) L[Lb + j] = bestIndexInt8(16, values, f(idl * x[xb + j]));
      l += 32;
      const lL = l & 0xf;
      const lH = l >> 4;
      if (ib % 2 === 0) y[slAt + (ib >> 1)] = lL;
      else y[slAt + (ib >> 1)] |= lL << 4;
      scalesH |= lH << (2 * (ib % 8));
    }
    y[shAt] = scalesH & 0xff;
    y[shAt + 1] = (scalesH >> 8) & 0xff;
  } else {
    setF16(y, dAt, f32ToF16(scales[0]));
    // ntry > 0
    const id = scales[0] ? f(1 / scales[0]) : 0;
    for (let j = 0; j < superBlockSize; j++) L[j] = bestIndexInt8(16, values, f(id * x[xo + j]));
  }
  for (let i = 0; i < superBlockSize / 32; i++) {
    for (let j = 0; j < 16; j++) y[qAt + 16 * i + j] = L[32 * i + j] | (L[32 * i + 16 + j] << 4);
  }
}

function quantizeIq4(type: 'IQ4_NL' | 'IQ4_XS', x: Float32Array, y: Uint8Array, nrows: number, nPerRow: number, qw: Float32Array | null): void {
  const sb = type === 'IQ4_NL' ? 32 : QK_K;
  const typeSize = QUANT_BLOCKS[type].typeSize;
  const L = new Uint8Array(sb);
  const weight = new Float32Array(32);
  const scales = new Float32Array(sb / 32);
  let yo = 0;
  for (let row = 0; row < nrows; row++) {
    for (let ibl = 0; ibl < nPerRow / sb; ibl++) {
      const bo = yo + ibl * typeSize;
      const xo = row * nPerRow + sb * ibl;
      if (type === 'IQ4_NL') quantizeRowIq4NlImpl(32, x, xo, y, bo, bo + 2, -1, -1, qw, sb * ibl, scales, weight, L);
      else quantizeRowIq4NlImpl(QK_K, x, xo, y, bo, bo + 8, bo + 2, bo + 4, qw, sb * ibl, scales, weight, L);
    }
    yo += (nPerRow / sb) * typeSize;
  }
}

// ---------------------------------------------------------------------------------------------

/** Bytes of one row of `nPerRow` values. */
export function quantRowBytesGGML(type: GGMLQuantType, nPerRow: number): number {
  return blockRowBytes(type, nPerRow);
}

/**
 * ggml_quantize_chunk(type, src, dst, 0, nRows, nPerRow, imatrix): `nRows` rows of `nPerRow`
 * float32 values → the GGUF block bytes. `imatrix` (nPerRow values, or null) weights the columns.
 */
export function quantizeTensorGGML(type: GGMLQuantType, src: Float32Array, nRows: number, nPerRow: number, imatrix: Float32Array | null): Uint8Array {
  const rowBytes = quantRowBytesGGML(type, nPerRow);
  if (src.length < nRows * nPerRow) {
    throw new FugakuError('INVALID_ARGUMENT', `quantizeTensorGGML: ${src.length} values for ${nRows} × ${nPerRow}`, 'pass the whole tensor');
  }
  if (imatrix !== null && imatrix.length !== nPerRow) {
    throw new FugakuError('INVALID_ARGUMENT', `quantizeTensorGGML: the importance matrix has ${imatrix.length} values for rows of ${nPerRow}`, 'pass one weight per column');
  }
  const y = new Uint8Array(nRows * rowBytes);
  const n = nRows * nPerRow;
  if (type === 'IQ4_NL' || type === 'IQ4_XS') {
    quantizeIq4(type, src, y, nRows, nPerRow, imatrix);
    return y;
  }
  if (type === 'Q8_0') {
    quantizeRowQ8_0Ref(src, 0, y, 0, n);
    return y;
  }
  if (imatrix === null) {
    switch (type) {
      case 'Q4_0': quantizeRowQ4_0Ref(src, 0, y, 0, n); break;
      case 'Q5_0': quantizeRowQ5_0Ref(src, 0, y, 0, n); break;
      case 'Q5_1': quantizeRowQ5_1Ref(src, 0, y, 0, n); break;
      case 'Q3_K': quantizeRowQ3KRef(src, 0, y, 0, n); break;
      case 'Q4_K': quantizeRowQ4KRef(src, 0, y, 0, n); break;
      case 'Q5_K': quantizeRowQ5KRef(src, 0, y, 0, n); break;
      case 'Q6_K': quantizeRowQ6K(src, 0, y, 0, n, null); break;
    }
    return y;
  }
  for (let row = 0; row < nRows; row++) {
    const xo = row * nPerRow;
    const yo = row * rowBytes;
    switch (type) {
      case 'Q4_0': quantizeRowQ4_0Impl(src, xo, y, yo, nPerRow, imatrix); break;
      case 'Q5_0': quantizeRowQ5_0Impl(src, xo, y, yo, nPerRow, imatrix); break;
      case 'Q5_1': quantizeRowQ5_1Impl(src, xo, y, yo, nPerRow, imatrix); break;
      case 'Q3_K': quantizeRowQ3KImpl(src, xo, y, yo, nPerRow, imatrix); break;
      case 'Q4_K': quantizeRowQ4KImpl(src, xo, y, yo, nPerRow, imatrix); break;
      case 'Q5_K': quantizeRowQ5KImpl(src, xo, y, yo, nPerRow, imatrix); break;
      case 'Q6_K': quantizeRowQ6K(src, xo, y, yo, nPerRow, imatrix); break;
    }
  }
  return y;
}
