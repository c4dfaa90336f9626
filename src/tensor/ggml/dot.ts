/**
 * The integer dot products of a ggml-quantized weight row with a quantized activation row, as
 * ggml's ggml_vec_dot_<type>_<act>_generic (llama.cpp ggml/src/ggml-cpu/quants.c) computes them:
 * integer products summed within each block (sub-block scales applied as integers), then per block
 * one float combination with the block's f16 scale(s) and the activation scale, accumulated over the
 * blocks in order in float32. Differences from ggml: activation scales are float32 (ggml: f16 for
 * Q8_0/Q8_1), the Q8_1 block sum is d·Σq in float32, and the k-quants' 8-lane partial float sums are
 * one integer sum per block. This is the specification the native and WebGPU kernels follow (same
 * integers; float order may differ). Ported from llama.cpp (MIT licence).
 */
import { f16ToF32 } from '../dtype.js';
import type { QuantizedActs } from './activations.js';
import { IQ1_DELTA, iq1mScale, q3kScales, scaleMinK4 } from './dequantize.js';
import { BLOCK_TYPES, type GGMLBlockType } from './formats.js';
import {
  iq1s_grid, iq2s_grid, iq2xs_grid, iq2xxs_grid, iq3s_grid, iq3xxs_grid, kmask_iq2xs, ksigns_iq2xs, kvalues_iq4nl,
} from './grids.js';
import { FugakuError } from '../../errors.js';

const fr = Math.fround;

function h(src: Uint8Array, o: number): number {
  return f16ToF32(src[o] | (src[o + 1] << 8));
}
function u16(src: Uint8Array, o: number): number {
  return src[o] | (src[o + 1] << 8);
}
function u32(src: Uint8Array, o: number): number {
  return (src[o] | (src[o + 1] << 8) | (src[o + 2] << 16) | (src[o + 3] << 24)) >>> 0;
}
const i8 = (v: number): number => (v << 24) >> 24;

/**
 * One block's contribution (float32). `w`/`o`: the weight block; `a`: activations; `qa`: offset of
 * the block's first activation quant; `ab`: index of its activation block (scale), i.e. for Q8_K the
 * 256-block, for Q8_0/Q8_1 the 32-block.
 */
type BlockDot = (w: Uint8Array, o: number, a: QuantizedActs, qa: number, ab: number) => number;

/** Σ over 32 values of a 4-bit-unsigned-nibble block (low nibbles → first 16, high → last 16), offset `bias`. */
function nib32(w: Uint8Array, qs: number, q: Int8Array, qa: number, bias: number): number {
  let s0 = 0, s1 = 0;
  for (let j = 0; j < 16; j++) {
    s0 += ((w[qs + j] & 0x0f) - bias) * q[qa + j];
    s1 += ((w[qs + j] >> 4) - bias) * q[qa + j + 16];
  }
  return s0 + s1;
}

function q5x(w: Uint8Array, qs: number, qh: number, q: Int8Array, qa: number, bias: number): number {
  let s0 = 0, s1 = 0;
  for (let j = 0; j < 16; j++) {
    const xh0 = ((qh >>> j) << 4) & 0x10, xh1 = (qh >>> (j + 12)) & 0x10;
    s0 += (((w[qs + j] & 0x0f) | xh0) - bias) * q[qa + j];
    s1 += (((w[qs + j] >> 4) | xh1) - bias) * q[qa + j + 16];
  }
  return s0 + s1;
}

/** Σ_j sign_j·grid_j·q_j over 8 values (grid bytes unsigned). */
function signed8(grid: Uint8Array, g: number, signs: number, q: Int8Array, qa: number): number {
  let s = 0;
  for (let j = 0; j < 8; j++) s += grid[g + j] * q[qa + j] * (signs & kmask_iq2xs[j] ? -1 : 1);
  return s;
}

/** Σ over 4+4 values of an iq3 pair of grid entries. */
function signed4x2(grid: Uint8Array, g1: number, g2: number, signs: number, q: Int8Array, qa: number): number {
  let s = 0;
  for (let j = 0; j < 4; j++) {
    s += grid[g1 + j] * q[qa + j] * (signs & kmask_iq2xs[j] ? -1 : 1);
    s += grid[g2 + j] * q[qa + j + 4] * (signs & kmask_iq2xs[j + 4] ? -1 : 1);
  }
  return s;
}

const DOT: Record<GGMLBlockType, BlockDot> = {
  Q4_0: (w, o, a, qa, ab) => fr(fr(nib32(w, o + 2, a.q, qa, 8) * h(w, o)) * a.d[ab]),
  Q4_1: (w, o, a, qa, ab) => fr(fr(fr(h(w, o) * a.d[ab]) * nib32(w, o + 4, a.q, qa, 0)) + fr(h(w, o + 2) * fr(a.d[ab] * a.sums[ab]))),
  Q5_0: (w, o, a, qa, ab) => fr(fr(h(w, o) * a.d[ab]) * q5x(w, o + 6, u32(w, o + 2), a.q, qa, 16)),
  Q5_1: (w, o, a, qa, ab) => fr(fr(fr(h(w, o) * a.d[ab]) * q5x(w, o + 8, u32(w, o + 4), a.q, qa, 0)) + fr(h(w, o + 2) * fr(a.d[ab] * a.sums[ab]))),
  Q8_0: (w, o, a, qa, ab) => {
    let s = 0;
    for (let j = 0; j < 32; j++) s += i8(w[o + 2 + j]) * a.q[qa + j];
    return fr(s * fr(h(w, o) * a.d[ab]));
  },
  IQ4_NL: (w, o, a, qa, ab) => {
    let s1 = 0, s2 = 0;
    for (let j = 0; j < 16; j++) {
      s1 += a.q[qa + j] * kvalues_iq4nl[w[o + 2 + j] & 0xf];
      s2 += a.q[qa + j + 16] * kvalues_iq4nl[w[o + 2 + j] >> 4];
    }
    return fr(fr(a.d[ab] * h(w, o)) * (s1 + s2));
  },
  Q2_K: (w, o, a, qa, ab) => {
    const q = a.q;
    let summs = 0;
    for (let j = 0; j < 16; j++) summs += a.sums[ab * 16 + j] * (w[o + j] >> 4);
    const dall = fr(a.d[ab] * h(w, o + 80)), dmin = fr(a.d[ab] * h(w, o + 82));
    let isum = 0, is = 0, q2 = o + 16, q8 = qa;
    for (let k = 0; k < 2; k++) {
      for (let shift = 0; shift < 8; shift += 2) {
        let d = w[o + is++] & 0xf;
        let isuml = 0;
        for (let l = 0; l < 16; l++) isuml += q[q8 + l] * ((w[q2 + l] >> shift) & 3);
        isum += d * isuml;
        d = w[o + is++] & 0xf;
        isuml = 0;
        for (let l = 16; l < 32; l++) isuml += q[q8 + l] * ((w[q2 + l] >> shift) & 3);
        isum += d * isuml;
        q8 += 32;
      }
      q2 += 32;
    }
    return fr(fr(dall * isum) - fr(dmin * summs));
  },
  Q3_K: (w, o, a, qa, ab) => {
    const q = a.q;
    const sc = q3kScales(w, o + 96);
    let isum = 0, q3 = o + 32, q8 = qa, m = 1, is = 0;
    for (let k = 0; k < 2; k++) {
      for (let shift = 0; shift < 8; shift += 2) {
        for (let half = 0; half < 2; half++) {
          let s = 0;
          for (let l = 16 * half; l < 16 * half + 16; l++) s += q[q8 + l] * (((w[q3 + l] >> shift) & 3) - (w[o + l] & m ? 0 : 4));
          isum += sc[is++] * s;
        }
        q8 += 32;
        m <<= 1;
      }
      q3 += 32;
    }
    return fr(fr(h(w, o + 108) * a.d[ab]) * isum);
  },
  Q4_K: (w, o, a, qa, ab) => {
    const q = a.q;
    let isum = 0, summ = 0, q4 = o + 16, q8 = qa;
    for (let j = 0; j < 4; j++) {
      const [sc1, m1] = scaleMinK4(2 * j, w, o + 4), [sc2, m2] = scaleMinK4(2 * j + 1, w, o + 4);
      let s1 = 0, s2 = 0;
      for (let l = 0; l < 32; l++) {
        s1 += q[q8 + l] * (w[q4 + l] & 0xf);
        s2 += q[q8 + 32 + l] * (w[q4 + l] >> 4);
      }
      isum += sc1 * s1 + sc2 * s2;
      const bs = a.sums, b0 = ab * 16 + 4 * j;
      summ += m1 * (bs[b0] + bs[b0 + 1]) + m2 * (bs[b0 + 2] + bs[b0 + 3]);
      q4 += 32;
      q8 += 64;
    }
    return fr(fr(fr(h(w, o) * a.d[ab]) * isum) - fr(fr(h(w, o + 2) * a.d[ab]) * summ));
  },
  Q5_K: (w, o, a, qa, ab) => {
    const q = a.q;
    const qh = o + 16;
    let isum = 0, summ = 0, q4 = o + 48, q8 = qa, u1 = 1, u2 = 2;
    for (let j = 0; j < 4; j++) {
      const [sc1, m1] = scaleMinK4(2 * j, w, o + 4), [sc2, m2] = scaleMinK4(2 * j + 1, w, o + 4);
      let s1 = 0, s2 = 0;
      for (let l = 0; l < 32; l++) {
        s1 += q[q8 + l] * ((w[q4 + l] & 0xf) + (w[qh + l] & u1 ? 16 : 0));
        s2 += q[q8 + 32 + l] * ((w[q4 + l] >> 4) + (w[qh + l] & u2 ? 16 : 0));
      }
      isum += sc1 * s1 + sc2 * s2;
      const bs = a.sums, b0 = ab * 16 + 4 * j;
      summ += m1 * (bs[b0] + bs[b0 + 1]) + m2 * (bs[b0 + 2] + bs[b0 + 3]);
      q4 += 32;
      q8 += 64;
      u1 <<= 2;
      u2 <<= 2;
    }
    return fr(fr(fr(h(w, o) * a.d[ab]) * isum) - fr(fr(h(w, o + 2) * a.d[ab]) * summ));
  },
  Q6_K: (w, o, a, qa, ab) => {
    const q = a.q;
    let isum = 0, ql = o, qh = o + 128, sc = o + 192, q8 = qa;
    for (let n = 0; n < 2; n++) {
      const s = [0, 0, 0, 0, 0, 0, 0, 0];
      for (let l = 0; l < 32; l++) {
        const is = l >> 4;
        s[is] += q[q8 + l] * (((w[ql + l] & 0xf) | (((w[qh + l] >> 0) & 3) << 4)) - 32);
        s[is + 2] += q[q8 + l + 32] * (((w[ql + l + 32] & 0xf) | (((w[qh + l] >> 2) & 3) << 4)) - 32);
        s[is + 4] += q[q8 + l + 64] * (((w[ql + l] >> 4) | (((w[qh + l] >> 4) & 3) << 4)) - 32);
        s[is + 6] += q[q8 + l + 96] * (((w[ql + l + 32] >> 4) | (((w[qh + l] >> 6) & 3) << 4)) - 32);
      }
      for (let k = 0; k < 8; k++) isum += i8(w[sc + k]) * s[k];
      ql += 64;
      qh += 32;
      sc += 8;
      q8 += 128;
    }
    return fr(fr(h(w, o + 208) * a.d[ab]) * isum);
  },
  IQ2_XXS: (w, o, a, qa, ab) => {
    let bsum = 0, q8 = qa;
    for (let ib = 0; ib < 8; ib++) {
      const q2 = o + 2 + 8 * ib;
      const a1 = u32(w, q2 + 4);
      const ls = 2 * (a1 >>> 28) + 1;
      let sumi = 0;
      for (let l = 0; l < 4; l++) {
        sumi += signed8(iq2xxs_grid, 8 * w[q2 + l], ksigns_iq2xs[(a1 >>> (7 * l)) & 127], a.q, q8);
        q8 += 8;
      }
      bsum += sumi * ls;
    }
    return fr(fr(h(w, o) * a.d[ab]) * bsum);
  },
  IQ2_XS: (w, o, a, qa, ab) => {
    let bsum = 0, q8 = qa;
    for (let ib = 0; ib < 8; ib++) {
      const sc = w[o + 66 + ib];
      const ls1 = 2 * (sc & 0xf) + 1, ls2 = 2 * (sc >> 4) + 1;
      let s1 = 0, s2 = 0;
      for (let l = 0; l < 4; l++) {
        const qv = u16(w, o + 2 + 2 * (4 * ib + l));
        const s = signed8(iq2xs_grid, 8 * (qv & 511), ksigns_iq2xs[qv >> 9], a.q, q8);
        if (l < 2) s1 += s;
        else s2 += s;
        q8 += 8;
      }
      bsum += s1 * ls1 + s2 * ls2;
    }
    return fr(fr(h(w, o) * a.d[ab]) * bsum);
  },
  IQ2_S: (w, o, a, qa, ab) => {
    let bsum = 0, q8 = qa, qs = o + 2, signs = o + 34;
    for (let ib = 0; ib < 8; ib++) {
      const sc = w[o + 74 + ib], qh = w[o + 66 + ib];
      const ls1 = 1 + 2 * (sc & 0xf), ls2 = 1 + 2 * (sc >> 4);
      let s1 = 0, s2 = 0;
      for (let l = 0; l < 4; l++) {
        const s = signed8(iq2s_grid, 8 * (w[qs + l] | ((qh << (8 - 2 * l)) & 0x300)), w[signs + l], a.q, q8);
        if (l < 2) s1 += s;
        else s2 += s;
        q8 += 8;
      }
      bsum += ls1 * s1 + ls2 * s2;
      qs += 4;
      signs += 4;
    }
    return fr(fr(h(w, o) * a.d[ab]) * bsum);
  },
  IQ3_XXS: (w, o, a, qa, ab) => {
    let bsum = 0, q8 = qa, q3 = o + 2;
    for (let ib = 0; ib < 8; ib++) {
      const aux = u32(w, o + 66 + 4 * ib);
      const ls = 2 * (aux >>> 28) + 1;
      let sumi = 0;
      for (let l = 0; l < 4; l++) {
        sumi += signed4x2(iq3xxs_grid, 4 * w[q3 + 2 * l], 4 * w[q3 + 2 * l + 1], ksigns_iq2xs[(aux >>> (7 * l)) & 127], a.q, q8);
        q8 += 8;
      }
      q3 += 8;
      bsum += sumi * ls;
    }
    return fr(fr(h(w, o) * a.d[ab]) * bsum);
  },
  IQ3_S: (w, o, a, qa, ab) => {
    let bsum = 0, q8 = qa, qs = o + 2, signs = o + 74;
    for (let ib = 0; ib < 8; ib += 2) {
      const sc = w[o + 106 + ib / 2];
      const ls = [2 * (sc & 0xf) + 1, 2 * (sc >> 4) + 1];
      for (let half = 0; half < 2; half++) {
        const hb = w[o + 66 + ib + half];
        let sumi = 0;
        for (let l = 0; l < 4; l++) {
          const g1 = 4 * (w[qs + 2 * l] | ((hb << (8 - 2 * l)) & 256));
          const g2 = 4 * (w[qs + 2 * l + 1] | ((hb << (7 - 2 * l)) & 256));
          sumi += signed4x2(iq3s_grid, g1, g2, w[signs + l], a.q, q8);
          q8 += 8;
        }
        qs += 8;
        signs += 4;
        bsum += sumi * ls[half];
      }
    }
    return fr(fr(h(w, o) * a.d[ab]) * bsum);
  },
  IQ1_S: (w, o, a, qa, ab) => {
    const q = a.q;
    let sumi = 0, sumi1 = 0, q8 = qa, qs = o + 2;
    for (let ib = 0; ib < 8; ib++) {
      const qh = u16(w, o + 34 + 2 * ib);
      const ls = 2 * ((qh >> 12) & 7) + 1;
      const delta = qh & 0x8000 ? -1 : 1;
      let lsum = 0;
      for (let l = 0; l < 4; l++) {
        const g = 8 * (w[qs + l] | (((qh >> (3 * l)) & 7) << 8));
        for (let j = 0; j < 8; j++) lsum += q[q8 + j] * i8(iq1s_grid[g + j]);
        q8 += 8;
      }
      sumi += ls * lsum;
      sumi1 += ls * delta * (a.sums[ab * 16 + 2 * ib] + a.sums[ab * 16 + 2 * ib + 1]);
      qs += 4;
    }
    return fr(fr(h(w, o) * a.d[ab]) * fr(sumi + IQ1_DELTA * sumi1));
  },
  IQ1_M: (w, o, a, qa, ab) => {
    const q = a.q;
    const scales = o + 48;
    let sumi1 = 0, sumi2 = 0, q8 = qa, qs = o, qh = o + 32;
    for (let ib = 0; ib < 8; ib++) {
      const sc = u16(w, scales + 2 * (ib >> 1));
      const ls1 = 2 * ((sc >> (6 * (ib % 2))) & 7) + 1;
      const ls2 = 2 * ((sc >> (6 * (ib % 2) + 3)) & 7) + 1;
      const sum1 = [0, 0], sum2 = [0, 0];
      for (let l = 0; l < 4; l++) {
        const hb = w[qh + (l >> 1)];
        const delta = hb & (l % 2 === 0 ? 0x08 : 0x80) ? -1 : 1;
        const g = 8 * (w[qs + l] | ((hb << (8 - 4 * (l % 2))) & 0x700));
        let lsum1 = 0, lsum2 = 0;
        for (let j = 0; j < 8; j++) {
          lsum1 += q[q8 + j] * i8(iq1s_grid[g + j]);
          lsum2 += q[q8 + j];
        }
        q8 += 8;
        sum1[l >> 1] += lsum1;
        sum2[l >> 1] += lsum2 * delta;
      }
      sumi1 += sum1[0] * ls1 + sum1[1] * ls2;
      sumi2 += sum2[0] * ls1 + sum2[1] * ls2;
      qs += 4;
      qh += 2;
    }
    return fr(fr(iq1mScale(w, scales) * a.d[ab]) * fr(sumi1 + IQ1_DELTA * sumi2));
  },
  IQ4_XS: (w, o, a, qa, ab) => {
    const q = a.q;
    const scalesH = u16(w, o + 2);
    let isum = 0, qs = o + 8, q8 = qa;
    for (let ib = 0; ib < 8; ib++) {
      const ls = ((w[o + 4 + (ib >> 1)] >> (4 * (ib % 2))) & 0xf) | (((scalesH >> (2 * ib)) & 3) << 4);
      let s1 = 0, s2 = 0;
      for (let j = 0; j < 16; j++) {
        s1 += q[q8 + j] * kvalues_iq4nl[w[qs + j] & 0xf];
        s2 += q[q8 + j + 16] * kvalues_iq4nl[w[qs + j] >> 4];
      }
      isum += (ls - 32) * (s1 + s2);
      qs += 16;
      q8 += 32;
    }
    return fr(fr(h(w, o) * a.d[ab]) * isum);
  },
};

/** Final scale ggml applies to the whole sum (the IQ2 grids hold 8× the value, IQ3_XXS 4×). */
const FINAL_SCALE: Partial<Record<GGMLBlockType, number>> = { IQ2_XXS: 0.125, IQ2_XS: 0.125, IQ2_S: 0.125, IQ3_XXS: 0.25 };

/**
 * Dot product of one weight row (n values = n/blockSize blocks of `type` at w[wOff..]) with row
 * `row` of the quantized activations (which must be of the type's `act` kind).
 */
export function dotRowGGML(type: GGMLBlockType, w: Uint8Array, wOff: number, acts: QuantizedActs, row: number, n: number): number {
  const { blockSize, typeSize, act } = BLOCK_TYPES[type];
  if (acts.kind !== act) {
    throw new FugakuError('INTERNAL', `${type} weights need ${act} activations, got ${acts.kind}`, 'quantize the activations with quantizeActsFor(BLOCK_TYPES[type].act, ...)');
  }
  const f = DOT[type];
  const nb = n / blockSize;
  const qa0 = row * n;
  const ab0 = (row * n) / blockSize; // Q8_0/Q8_1 blocks are 32 = blockSize; Q8_K 256 = blockSize
  let sum = 0;
  for (let b = 0; b < nb; b++) sum = fr(sum + f(w, wOff + b * typeSize, acts, qa0 + b * blockSize, ab0 + b));
  const s = FINAL_SCALE[type];
  return s === undefined ? sum : fr(s * sum);
}
