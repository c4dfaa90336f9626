/**
 * ggml's dequantize_row_* (llama.cpp ggml/src/ggml-quants.c), bit for bit: every intermediate
 * that ggml computes in float is rounded to float32 here (Math.fround; a Float32Array store rounds
 * the final value). Ported from llama.cpp (MIT licence).
 */
import { f16ToF32 } from '../dtype.js';
import { BLOCK_TYPES, type GGMLBlockType } from './formats.js';
import {
  iq1s_grid, iq2s_grid, iq2xs_grid, iq2xxs_grid, iq3s_grid, iq3xxs_grid, kmask_iq2xs, ksigns_iq2xs, kvalues_iq4nl,
} from './grids.js';

const fr = Math.fround;
/** IQ1S_DELTA / IQ1M_DELTA. */
export const IQ1_DELTA = 0.125;

function h(src: Uint8Array, o: number): number {
  return f16ToF32(src[o] | (src[o + 1] << 8));
}
function u16(src: Uint8Array, o: number): number {
  return src[o] | (src[o + 1] << 8);
}
function u32(src: Uint8Array, o: number): number {
  return (src[o] | (src[o + 1] << 8) | (src[o + 2] << 16) | (src[o + 3] << 24)) >>> 0;
}

/** get_scale_min_k4: the 6-bit scale (j-th) and min of a Q4_K/Q5_K block's 12 scale bytes at `s`. */
export function scaleMinK4(j: number, q: Uint8Array, s: number): [number, number] {
  if (j < 4) return [q[s + j] & 63, q[s + j + 4] & 63];
  return [(q[s + j + 4] & 0xf) | ((q[s + j - 4] >> 6) << 4), (q[s + j + 4] >> 4) | ((q[s + j] >> 6) << 4)];
}

/** The 16 signed 6-bit scales (−32 already subtracted) of a Q3_K block's 12 scale bytes at `s`. */
export function q3kScales(q: Uint8Array, s: number): Int8Array {
  const a0 = u32(q, s), a1 = u32(q, s + 4), tmp = u32(q, s + 8);
  const kmask1 = 0x03030303, kmask2 = 0x0f0f0f0f;
  const aux = new Uint32Array(4);
  aux[2] = ((a0 >>> 4) & kmask2) | (((tmp >>> 4) & kmask1) << 4);
  aux[3] = ((a1 >>> 4) & kmask2) | (((tmp >>> 6) & kmask1) << 4);
  aux[0] = (a0 & kmask2) | (((tmp >>> 0) & kmask1) << 4);
  aux[1] = (a1 & kmask2) | (((tmp >>> 2) & kmask1) << 4);
  const sc = new Int8Array(aux.buffer);
  for (let i = 0; i < 16; i++) sc[i] -= 32;
  return sc;
}

/** The IQ1_M super-block scale (an f16 assembled from the top nibbles of the 4 scale words). */
export function iq1mScale(src: Uint8Array, scalesOff: number): number {
  const s0 = u16(src, scalesOff), s1 = u16(src, scalesOff + 2), s2 = u16(src, scalesOff + 4), s3 = u16(src, scalesOff + 6);
  return f16ToF32((s0 >> 12) | ((s1 >> 8) & 0x00f0) | ((s2 >> 4) & 0x0f00) | (s3 & 0xf000));
}

type Deq = (src: Uint8Array, o: number, y: Float32Array, p: number) => void;

const DEQ: Record<GGMLBlockType, Deq> = {
  Q4_0(s, o, y, p) {
    const d = h(s, o);
    for (let j = 0; j < 16; j++) {
      y[p + j] = ((s[o + 2 + j] & 0x0f) - 8) * d;
      y[p + j + 16] = ((s[o + 2 + j] >> 4) - 8) * d;
    }
  },
  Q4_1(s, o, y, p) {
    const d = h(s, o), m = h(s, o + 2);
    for (let j = 0; j < 16; j++) {
      y[p + j] = fr((s[o + 4 + j] & 0x0f) * d) + m;
      y[p + j + 16] = fr((s[o + 4 + j] >> 4) * d) + m;
    }
  },
  Q5_0(s, o, y, p) {
    const d = h(s, o), qh = u32(s, o + 2);
    for (let j = 0; j < 16; j++) {
      const xh0 = ((qh >>> j) << 4) & 0x10, xh1 = (qh >>> (j + 12)) & 0x10;
      y[p + j] = (((s[o + 6 + j] & 0x0f) | xh0) - 16) * d;
      y[p + j + 16] = (((s[o + 6 + j] >> 4) | xh1) - 16) * d;
    }
  },
  Q5_1(s, o, y, p) {
    const d = h(s, o), m = h(s, o + 2), qh = u32(s, o + 4);
    for (let j = 0; j < 16; j++) {
      const xh0 = ((qh >>> j) << 4) & 0x10, xh1 = (qh >>> (j + 12)) & 0x10;
      y[p + j] = fr(((s[o + 8 + j] & 0x0f) | xh0) * d) + m;
      y[p + j + 16] = fr(((s[o + 8 + j] >> 4) | xh1) * d) + m;
    }
  },
  Q8_0(s, o, y, p) {
    const d = h(s, o);
    for (let j = 0; j < 32; j++) y[p + j] = ((s[o + 2 + j] << 24) >> 24) * d;
  },
  Q2_K(s, o, y, p) {
    const d = h(s, o + 80), min = h(s, o + 82);
    let q = o + 16, is = 0;
    for (let n = 0; n < 256; n += 128) {
      for (let shift = 0; shift < 8; shift += 2) {
        for (let half = 0; half < 2; half++) {
          const sc = s[o + is++];
          const dl = fr(d * (sc & 0xf)), ml = fr(min * (sc >> 4));
          for (let l = 0; l < 16; l++) y[p++] = fr(dl * ((s[q + l + 16 * half] >> shift) & 3)) - ml;
        }
      }
      q += 32;
    }
  },
  Q3_K(s, o, y, p) {
    const dAll = h(s, o + 108);
    const sc = q3kScales(s, o + 96);
    let q = o + 32, is = 0, m = 1;
    for (let n = 0; n < 256; n += 128) {
      for (let shift = 0; shift < 8; shift += 2) {
        for (let half = 0; half < 2; half++) {
          const dl = fr(dAll * sc[is++]);
          for (let l = 16 * half; l < 16 * half + 16; l++) {
            y[p++] = dl * (((s[q + l] >> shift) & 3) - (s[o + l] & m ? 0 : 4));
          }
        }
        m <<= 1;
      }
      q += 32;
    }
  },
  Q4_K(s, o, y, p) {
    const d = h(s, o), min = h(s, o + 2);
    let q = o + 16;
    for (let is = 0; is < 8; is += 2) {
      const [sc1, m1i] = scaleMinK4(is, s, o + 4), [sc2, m2i] = scaleMinK4(is + 1, s, o + 4);
      const d1 = fr(d * sc1), m1 = fr(min * m1i), d2 = fr(d * sc2), m2 = fr(min * m2i);
      for (let l = 0; l < 32; l++) y[p++] = fr(d1 * (s[q + l] & 0xf)) - m1;
      for (let l = 0; l < 32; l++) y[p++] = fr(d2 * (s[q + l] >> 4)) - m2;
      q += 32;
    }
  },
  Q5_K(s, o, y, p) {
    const d = h(s, o), min = h(s, o + 2);
    const qh = o + 16;
    let ql = o + 48, u1 = 1, u2 = 2;
    for (let is = 0; is < 8; is += 2) {
      const [sc1, m1i] = scaleMinK4(is, s, o + 4), [sc2, m2i] = scaleMinK4(is + 1, s, o + 4);
      const d1 = fr(d * sc1), m1 = fr(min * m1i), d2 = fr(d * sc2), m2 = fr(min * m2i);
      for (let l = 0; l < 32; l++) y[p++] = fr(d1 * ((s[ql + l] & 0xf) + (s[qh + l] & u1 ? 16 : 0))) - m1;
      for (let l = 0; l < 32; l++) y[p++] = fr(d2 * ((s[ql + l] >> 4) + (s[qh + l] & u2 ? 16 : 0))) - m2;
      ql += 32;
      u1 <<= 2;
      u2 <<= 2;
    }
  },
  Q6_K(s, o, y, p) {
    const d = h(s, o + 208);
    let ql = o, qh = o + 128, sc = o + 192;
    for (let n = 0; n < 256; n += 128) {
      for (let l = 0; l < 32; l++) {
        const is = l >> 4;
        const q1 = ((s[ql + l] & 0xf) | (((s[qh + l] >> 0) & 3) << 4)) - 32;
        const q2 = ((s[ql + l + 32] & 0xf) | (((s[qh + l] >> 2) & 3) << 4)) - 32;
        const q3 = ((s[ql + l] >> 4) | (((s[qh + l] >> 4) & 3) << 4)) - 32;
        const q4 = ((s[ql + l + 32] >> 4) | (((s[qh + l] >> 6) & 3) << 4)) - 32;
        y[p + l] = fr(d * ((s[sc + is] << 24) >> 24)) * q1;
        y[p + l + 32] = fr(d * ((s[sc + is + 2] << 24) >> 24)) * q2;
        y[p + l + 64] = fr(d * ((s[sc + is + 4] << 24) >> 24)) * q3;
        y[p + l + 96] = fr(d * ((s[sc + is + 6] << 24) >> 24)) * q4;
      }
      p += 128;
      ql += 64;
      qh += 32;
      sc += 8;
    }
  },
  IQ2_XXS(s, o, y, p) {
    const d = h(s, o);
    for (let ib = 0; ib < 8; ib++) {
      const q = o + 2 + 8 * ib;
      const a1 = u32(s, q + 4);
      const db = fr(fr(d * (0.5 + (a1 >>> 28))) * 0.25);
      for (let l = 0; l < 4; l++) {
        const g = 8 * s[q + l];
        const signs = ksigns_iq2xs[(a1 >>> (7 * l)) & 127];
        for (let j = 0; j < 8; j++) y[p + j] = fr(db * iq2xxs_grid[g + j]) * (signs & kmask_iq2xs[j] ? -1 : 1);
        p += 8;
      }
    }
  },
  IQ2_XS(s, o, y, p) {
    const d = h(s, o);
    for (let ib = 0; ib < 8; ib++) {
      const sc = s[o + 66 + ib];
      const db0 = fr(fr(d * (0.5 + (sc & 0xf))) * 0.25), db1 = fr(fr(d * (0.5 + (sc >> 4))) * 0.25);
      for (let l = 0; l < 4; l++) {
        const qv = u16(s, o + 2 + 2 * (4 * ib + l));
        const g = 8 * (qv & 511);
        const signs = ksigns_iq2xs[qv >> 9];
        const db = l < 2 ? db0 : db1;
        for (let j = 0; j < 8; j++) y[p + j] = fr(db * iq2xs_grid[g + j]) * (signs & kmask_iq2xs[j] ? -1 : 1);
        p += 8;
      }
    }
  },
  IQ2_S(s, o, y, p) {
    const d = h(s, o);
    let qs = o + 2, signs = o + 2 + 32;
    const qh = o + 66, scales = o + 74;
    for (let ib = 0; ib < 8; ib++) {
      const sc = s[scales + ib];
      const db0 = fr(fr(d * (0.5 + (sc & 0xf))) * 0.25), db1 = fr(fr(d * (0.5 + (sc >> 4))) * 0.25);
      for (let l = 0; l < 4; l++) {
        const dl = l < 2 ? db0 : db1;
        const g = 8 * (s[qs + l] | ((s[qh + ib] << (8 - 2 * l)) & 0x300));
        for (let j = 0; j < 8; j++) y[p + j] = fr(dl * iq2s_grid[g + j]) * (s[signs + l] & kmask_iq2xs[j] ? -1 : 1);
        p += 8;
      }
      qs += 4;
      signs += 4;
    }
  },
  IQ3_XXS(s, o, y, p) {
    const d = h(s, o);
    let qs = o + 2;
    const sas = o + 2 + 64;
    for (let ib = 0; ib < 8; ib++) {
      const a = u32(s, sas + 4 * ib);
      const db = fr(fr(d * (0.5 + (a >>> 28))) * 0.5);
      for (let l = 0; l < 4; l++) {
        const signs = ksigns_iq2xs[(a >>> (7 * l)) & 127];
        const g1 = 4 * s[qs + 2 * l], g2 = 4 * s[qs + 2 * l + 1];
        for (let j = 0; j < 4; j++) {
          y[p + j] = fr(db * iq3xxs_grid[g1 + j]) * (signs & kmask_iq2xs[j] ? -1 : 1);
          y[p + j + 4] = fr(db * iq3xxs_grid[g2 + j]) * (signs & kmask_iq2xs[j + 4] ? -1 : 1);
        }
        p += 8;
      }
      qs += 8;
    }
  },
  IQ3_S(s, o, y, p) {
    const d = h(s, o);
    let qs = o + 2, qh = o + 66, signs = o + 74;
    const scales = o + 106;
    for (let ib = 0; ib < 8; ib += 2) {
      const sc = s[scales + ib / 2];
      const db = [fr(d * (1 + 2 * (sc & 0xf))), fr(d * (1 + 2 * (sc >> 4)))];
      for (let half = 0; half < 2; half++) {
        const dl = db[half], hb = s[qh + half];
        for (let l = 0; l < 4; l++) {
          const g1 = 4 * (s[qs + 2 * l] | ((hb << (8 - 2 * l)) & 256));
          const g2 = 4 * (s[qs + 2 * l + 1] | ((hb << (7 - 2 * l)) & 256));
          for (let j = 0; j < 4; j++) {
            y[p + j] = fr(dl * iq3s_grid[g1 + j]) * (s[signs + l] & kmask_iq2xs[j] ? -1 : 1);
            y[p + j + 4] = fr(dl * iq3s_grid[g2 + j]) * (s[signs + l] & kmask_iq2xs[j + 4] ? -1 : 1);
          }
          p += 8;
        }
        qs += 8;
        signs += 4;
      }
      qh += 2;
    }
  },
  IQ1_S(s, o, y, p) {
    const d = h(s, o);
    let qs = o + 2;
    for (let ib = 0; ib < 8; ib++) {
      const qh = u16(s, o + 34 + 2 * ib);
      const dl = fr(d * (2 * ((qh >> 12) & 7) + 1));
      const delta = qh & 0x8000 ? -IQ1_DELTA : IQ1_DELTA;
      for (let l = 0; l < 4; l++) {
        const g = 8 * (s[qs + l] | (((qh >> (3 * l)) & 7) << 8));
        for (let j = 0; j < 8; j++) y[p + j] = dl * (((iq1s_grid[g + j] << 24) >> 24) + delta);
        p += 8;
      }
      qs += 4;
    }
  },
  IQ1_M(s, o, y, p) {
    const scales = o + 48;
    const d = iq1mScale(s, scales);
    let qs = o, qh = o + 32;
    for (let ib = 0; ib < 8; ib++) {
      const sc = u16(s, scales + 2 * (ib >> 1));
      const dl1 = fr(d * (2 * ((sc >> (6 * (ib % 2))) & 7) + 1));
      const dl2 = fr(d * (2 * ((sc >> (6 * (ib % 2) + 3)) & 7) + 1));
      const h0 = s[qh], h1 = s[qh + 1];
      const idx = [s[qs] | ((h0 << 8) & 0x700), s[qs + 1] | ((h0 << 4) & 0x700), s[qs + 2] | ((h1 << 8) & 0x700), s[qs + 3] | ((h1 << 4) & 0x700)];
      const delta = [h0 & 0x08 ? -IQ1_DELTA : IQ1_DELTA, h0 & 0x80 ? -IQ1_DELTA : IQ1_DELTA, h1 & 0x08 ? -IQ1_DELTA : IQ1_DELTA, h1 & 0x80 ? -IQ1_DELTA : IQ1_DELTA];
      for (let l = 0; l < 4; l++) {
        const dl = l < 2 ? dl1 : dl2;
        const g = 8 * idx[l];
        for (let j = 0; j < 8; j++) y[p + j] = dl * (((iq1s_grid[g + j] << 24) >> 24) + delta[l]);
        p += 8;
      }
      qs += 4;
      qh += 2;
    }
  },
  IQ4_NL(s, o, y, p) {
    const d = h(s, o);
    for (let j = 0; j < 16; j++) {
      y[p + j] = d * kvalues_iq4nl[s[o + 2 + j] & 0xf];
      y[p + j + 16] = d * kvalues_iq4nl[s[o + 2 + j] >> 4];
    }
  },
  IQ4_XS(s, o, y, p) {
    const d = h(s, o), scalesH = u16(s, o + 2);
    let qs = o + 8;
    for (let ib = 0; ib < 8; ib++) {
      const ls = ((s[o + 4 + (ib >> 1)] >> (4 * (ib % 2))) & 0xf) | (((scalesH >> (2 * ib)) & 3) << 4);
      const dl = fr(d * (ls - 32));
      for (let j = 0; j < 16; j++) {
        y[p + j] = dl * kvalues_iq4nl[s[qs + j] & 0xf];
        y[p + j + 16] = dl * kvalues_iq4nl[s[qs + j] >> 4];
      }
      p += 32;
      qs += 16;
    }
  },
};

/** Dequantizes n values (n/blockSize blocks) of `type` from src at srcOff into out at outOff. */
export function dequantizeRowGGML(type: GGMLBlockType, src: Uint8Array, srcOff: number, n: number, out: Float32Array, outOff: number): void {
  const { blockSize, typeSize } = BLOCK_TYPES[type];
  const f = DEQ[type];
  for (let b = 0; b < n / blockSize; b++) f(src, srcOff + b * typeSize, out, outOff + b * blockSize);
}
