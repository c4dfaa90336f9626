/**
 * WGSL for ggml's block formats (Q4_1, Q5_0, Q5_1, the k-quants, IQ4_NL, IQ4_XS), kept on the GPU as the
 * raw GGUF block bytes of the tensor in one array<u32> (byte-addressed: wb8/wf16/wu32; every f16 of these
 * blocks is 2-aligned, so it is half of one word). Like the spec (src/tensor/ggml/dot.ts, ggml's
 * ggml_vec_dot_<type>_<act>_generic), a matmul quantizes the activations first (Q8_0/Q8_1: 32-blocks as
 * QUANTIZE_ACTIVATIONS; Q8_K: ggml's quantize_row_q8_K_ref, bit-exact in f32) and then takes integer
 * dots per (sub)block with the float combination per block.
 *
 * One GEMV template (gemvGGML) owns the loop: 32 lanes per output, 8 outputs per workgroup, lanes over
 * whole blocks, R ≤ 8 rows baked in; each type contributes `blk(w, kb, r)` = its block kb (at byte w)
 * · activation row r, and `deq(w, j)` = element j of the block (embedding rows).
 * Activation buffers: XQ array<i32> (rows·in quants), XD array<f32> (one scale per activation block),
 * XS array<i32> (Q8_0/Q8_1: Σq per 32-block; Q8_K: 16 bsums per 256-block).
 */

import * as G from '../../tensor/ggml/grids.js';
// Correctly rounded a / b and C's roundf: the scales and quants must equal the CPU's (see wgsl.ts).
import { DIV_RN, ROUNDF } from './wgsl.js';
import { BLOCK_TYPES, GGML_BLOCK_TYPE_NAMES } from '../../tensor/ggml/formats.js';

/** What the GPU kernels need of a ggml block type. */
export interface GpuBlockType {
  readonly blockSize: 32 | 256;
  readonly typeSize: number;
  readonly act: 'Q8_0' | 'Q8_1' | 'Q8_K';
  /** Reads ggml's grids (the GR buffer of gridBytes()). */
  readonly grid?: true;
}

/**
 * The block types these kernels compute on: every ggml block type of src/tensor/ggml/formats.ts but Q8_0 and
 * Q4_0 (which keep wgsl.ts's split-scale path), with its sizes and activation type; the IQ types but IQ4
 * read ggml's grids.
 */
export const GGML_GPU_TYPES: Readonly<Record<string, GpuBlockType>> = Object.fromEntries(
  GGML_BLOCK_TYPE_NAMES.filter((t) => t !== 'Q8_0' && t !== 'Q4_0').map((t) => {
    const { blockSize, typeSize, act } = BLOCK_TYPES[t];
    return [t, { blockSize, typeSize, act, ...(t.startsWith('IQ') && !t.startsWith('IQ4') ? { grid: true as const } : {}) }];
  }),
);

/** ggml's tables in one buffer (each as its little-endian bytes), in this order; GRID_AT: byte offsets. */
const GRID_TABLES = [
  ['KS', G.ksigns_iq2xs],
  ['G2XXS', G.iq2xxs_grid],
  ['G2XS', G.iq2xs_grid],
  ['G2S', G.iq2s_grid],
  ['G3XXS', G.iq3xxs_grid],
  ['G3S', G.iq3s_grid],
  ['G1S', G.iq1s_grid],
] as const;

function gridLayout(): { at: Record<string, number>; bytes: number } {
  const at: Record<string, number> = {};
  let bytes = 0;
  for (const [name, t] of GRID_TABLES) {
    at[name] = bytes;
    bytes += Math.ceil(t.length / 4) * 4;
  }
  return { at, bytes };
}

/** The bytes of the GR buffer the grid types read (uploaded once per backend). */
export function gridBytes(): Uint8Array {
  const { at, bytes } = gridLayout();
  const out = new Uint8Array(bytes);
  for (const [name, t] of GRID_TABLES) out.set(t, at[name]);
  return out;
}

function gridWGSL(): string {
  const { at } = gridLayout();
  return `
${Object.entries(at).map(([n, a]) => `const ${n} = ${a}u;`).join('\n')}
fn gb8(a: u32) -> u32 { return (GR[a >> 2u] >> ((a & 3u) * 8u)) & 0xffu; }
fn sgn(s: u32, j: u32) -> i32 { return select(1, -1, ((s >> j) & 1u) != 0u); }
fn nib(b: u32, hi: bool) -> u32 { return select(b & 15u, b >> 4u, hi); }
fn wu16(a: u32) -> u32 { return wb8(a) | (wb8(a + 1u) << 8u); }
`;
}

export function isGpuBlockType(s: string): boolean {
  return Object.prototype.hasOwnProperty.call(GGML_GPU_TYPES, s);
}

const PARAMS = /* wgsl */ `
@group(0) @binding(0) var<uniform> P: array<vec4<u32>, 4>;
fn p(i: u32) -> u32 { return P[i / 4u][i % 4u]; }
`;

const FLAT = /* wgsl */ `
fn flat(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 { return (wid.y * nwg.x + wid.x) * 256u + lid; }
`;

/** Byte access to the weight words W. */
const BYTES = /* wgsl */ `
fn wb8(a: u32) -> u32 { return (W[a >> 2u] >> ((a & 3u) * 8u)) & 0xffu; }
fn wf16(a: u32) -> f32 { return unpack2x16float(W[a >> 2u])[(a >> 1u) & 1u]; }
fn wu32(a: u32) -> u32 { return wb8(a) | (wb8(a + 1u) << 8u) | (wb8(a + 2u) << 16u) | (wb8(a + 3u) << 24u); }
fn bytei(v: u32, k: u32) -> u32 { return (v >> (k * 8u)) & 0xffu; }
`;

const KVALUES = /* wgsl */ `
var<private> KV: array<i32, 16> = array<i32, 16>(-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113);
`;


const ACT_BINDINGS = /* wgsl */ `
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> XQ: array<i32>;
@group(0) @binding(3) var<storage, read_write> XD: array<f32>;
@group(0) @binding(4) var<storage, read_write> XS: array<i32>;
`;

/**
 * Q8_0/Q8_1 activations: per 32-block d = amax/127, q = roundf(x·(1/d)) (the same as QUANTIZE_ACTIVATIONS
 * and src/tensor/quant.ts), and Σq. One invocation per block. Params: 0 blocks.
 */
export const QUANTIZE_Q8_1 = `${PARAMS}${FLAT}${DIV_RN}${ROUNDF}${ACT_BINDINGS}
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let b = flat(wid, nwg, lid);
  if (b >= p(0)) { return; }
  var amax = 0.0;
  for (var j = 0u; j < 32u; j = j + 1u) { amax = max(amax, abs(X[b * 32u + j])); }
  var s = 0.0;
  var id = 0.0;
  if (amax > 0.0) {
    s = div_rn(amax, 127.0);
    id = div_rn(1.0, s);
  }
  var sum = 0;
  for (var j = 0u; j < 32u; j = j + 1u) {
    let q = i32(roundf(X[b * 32u + j] * id));
    XQ[b * 32u + j] = q;
    sum = sum + q;
  }
  XD[b] = s;
  XS[b] = sum;
}`;

/**
 * Q8_K activations, ggml's quantize_row_q8_K_ref in f32: max = the value of largest magnitude (the first),
 * iscale = -127/max, q = min(127, nearest_int(iscale·x)) (half to even, as WGSL's round), d = 1/iscale,
 * bsums of each 16 q's. Both divisions correctly rounded. One invocation per 256-block. Params: 0 blocks.
 */
export const QUANTIZE_Q8_K = `${PARAMS}${FLAT}${DIV_RN}${ROUNDF}${ACT_BINDINGS}
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let b = flat(wid, nwg, lid);
  if (b >= p(0)) { return; }
  let o = b * 256u;
  var mx = 0.0;
  var amax = 0.0;
  for (var j = 0u; j < 256u; j = j + 1u) {
    let ax = abs(X[o + j]);
    if (ax > amax) { amax = ax; mx = X[o + j]; }
  }
  if (amax == 0.0) {
    for (var j = 0u; j < 256u; j = j + 1u) { XQ[o + j] = 0; }
    for (var j = 0u; j < 16u; j = j + 1u) { XS[b * 16u + j] = 0; }
    XD[b] = 0.0;
    return;
  }
  let mag = div_rn(127.0, amax);
  let iscale = select(mag, -mag, mx > 0.0);
  for (var g = 0u; g < 16u; g = g + 1u) {
    var sum = 0;
    for (var j = 0u; j < 16u; j = j + 1u) {
      let q = min(127, i32(round(iscale * X[o + g * 16u + j])));
      XQ[o + g * 16u + j] = q;
      sum = sum + q;
    }
    XS[b * 16u + g] = sum;
  }
  let inv = div_rn(1.0, mag);
  XD[b] = select(inv, -inv, iscale < 0.0);
}`;

/** get_scale_min_k4 of the 12 scale bytes at s (Q4_K/Q5_K): 6-bit scale and min of sub-block j. */
const K_SCALES = /* wgsl */ `
fn kscale(s: u32, j: u32) -> i32 {
  if (j < 4u) { return i32(wb8(s + j) & 63u); }
  return i32((wb8(s + j + 4u) & 15u) | ((wb8(s + j - 4u) >> 6u) << 4u));
}
fn kmin(s: u32, j: u32) -> i32 {
  if (j < 4u) { return i32(wb8(s + j + 4u) & 63u); }
  return i32((wb8(s + j + 4u) >> 4u) | ((wb8(s + j) >> 6u) << 4u));
}`;

/**
 * Per type: `blk(w, kb, r) -> f32` (weight block at byte w, activation row r, block kb of the row; the
 * row's first quant is XQ[r·inDim], p(0) = inDim) and `deq(w, j) -> f32`. Helper names: q8(r, i) is
 * activation i of row r; ad(r, b) the scale of its activation block b; as_(r, b) the sum(s).
 */
const TYPE_WGSL: Record<string, string> = {
  Q4_1: `
fn blk(w: u32, kb: u32, r: u32) -> f32 {
  let x0 = kb * 32u;
  var s = 0;
  for (var j = 0u; j < 16u; j = j + 1u) {
    let b = wb8(w + 4u + j);
    s = s + i32(b & 15u) * q8(r, x0 + j) + i32(b >> 4u) * q8(r, x0 + j + 16u);
  }
  let yd = ad(r, kb);
  return wf16(w) * yd * f32(s) + wf16(w + 2u) * (yd * f32(as_(r, kb)));
}
fn deq(w: u32, j: u32) -> f32 {
  let b = wb8(w + 4u + (j & 15u));
  return wf16(w) * f32(select(b & 15u, b >> 4u, j >= 16u)) + wf16(w + 2u);
}`,
  Q5_0: `
fn q50(w: u32, qh: u32, j: u32) -> i32 {
  let b = wb8(w + 6u + (j & 15u));
  return i32(select(b & 15u, b >> 4u, j >= 16u) | (((qh >> j) & 1u) << 4u)) - 16;
}
fn blk(w: u32, kb: u32, r: u32) -> f32 {
  let qh = wu32(w + 2u);
  let x0 = kb * 32u;
  var s = 0;
  for (var j = 0u; j < 32u; j = j + 1u) { s = s + q50(w, qh, j) * q8(r, x0 + j); }
  return wf16(w) * ad(r, kb) * f32(s);
}
fn deq(w: u32, j: u32) -> f32 { return wf16(w) * f32(q50(w, wu32(w + 2u), j)); }`,
  Q5_1: `
fn q51(w: u32, qh: u32, j: u32) -> i32 {
  let b = wb8(w + 8u + (j & 15u));
  return i32(select(b & 15u, b >> 4u, j >= 16u) | (((qh >> j) & 1u) << 4u));
}
fn blk(w: u32, kb: u32, r: u32) -> f32 {
  let qh = wu32(w + 4u);
  let x0 = kb * 32u;
  var s = 0;
  for (var j = 0u; j < 32u; j = j + 1u) { s = s + q51(w, qh, j) * q8(r, x0 + j); }
  let yd = ad(r, kb);
  return wf16(w) * yd * f32(s) + wf16(w + 2u) * (yd * f32(as_(r, kb)));
}
fn deq(w: u32, j: u32) -> f32 { return wf16(w) * f32(q51(w, wu32(w + 4u), j)) + wf16(w + 2u); }`,
  IQ4_NL: `
fn kq(w: u32, j: u32) -> i32 {
  let b = wb8(w + 2u + (j & 15u));
  return KV[select(b & 15u, b >> 4u, j >= 16u)];
}
fn blk(w: u32, kb: u32, r: u32) -> f32 {
  let x0 = kb * 32u;
  var s = 0;
  for (var j = 0u; j < 32u; j = j + 1u) { s = s + kq(w, j) * q8(r, x0 + j); }
  return ad(r, kb) * wf16(w) * f32(s);
}
fn deq(w: u32, j: u32) -> f32 { return wf16(w) * f32(kq(w, j)); }`,
  Q2_K: `
// scales[16] at 0, qs[64] at 16, d at 80, dmin at 82. Element e: sc = scales[e / 16], q = (qs[32·(e/128) + e%32] >> 2·((e%128)/32)) & 3.
fn q2(w: u32, e: u32) -> i32 { return i32((wb8(w + 16u + (e / 128u) * 32u + (e & 31u)) >> (((e & 127u) / 32u) * 2u)) & 3u); }
fn blk(w: u32, kb: u32, r: u32) -> f32 {
  let x0 = kb * 256u;
  var summs = 0;
  for (var j = 0u; j < 16u; j = j + 1u) { summs = summs + as_(r, kb * 16u + j) * i32(wb8(w + j) >> 4u); }
  var isum = 0;
  for (var g = 0u; g < 16u; g = g + 1u) {
    var s = 0;
    for (var l = 0u; l < 16u; l = l + 1u) { let e = g * 16u + l; s = s + q8(r, x0 + e) * q2(w, e); }
    isum = isum + i32(wb8(w + g) & 15u) * s;
  }
  let yd = ad(r, kb);
  return yd * wf16(w + 80u) * f32(isum) - yd * wf16(w + 82u) * f32(summs);
}
fn deq(w: u32, e: u32) -> f32 {
  let sc = wb8(w + e / 16u);
  return wf16(w + 80u) * f32(sc & 15u) * f32(q2(w, e)) - wf16(w + 82u) * f32(sc >> 4u);
}`,
  Q3_K: `
// hmask[32] at 0, qs[64] at 32, scales[12] at 96, d at 108.
fn q3(w: u32, e: u32) -> i32 {
  let l = e & 31u;
  let sh = (e & 127u) / 32u;
  let q = i32((wb8(w + 32u + (e / 128u) * 32u + l) >> (sh * 2u)) & 3u);
  let m = 1u << ((e / 128u) * 4u + sh);
  return q - select(4, 0, (wb8(w + l) & m) != 0u);
}
fn q3scale(w: u32, k: u32) -> i32 {
  let a0 = wu32(w + 96u);
  let a1 = wu32(w + 100u);
  let tmp = wu32(w + 104u);
  var v = 0u;
  switch (k / 4u) {
    case 0u: { v = (a0 & 0x0f0f0f0fu) | (((tmp >> 0u) & 0x03030303u) << 4u); }
    case 1u: { v = (a1 & 0x0f0f0f0fu) | (((tmp >> 2u) & 0x03030303u) << 4u); }
    case 2u: { v = ((a0 >> 4u) & 0x0f0f0f0fu) | (((tmp >> 4u) & 0x03030303u) << 4u); }
    default: { v = ((a1 >> 4u) & 0x0f0f0f0fu) | (((tmp >> 6u) & 0x03030303u) << 4u); }
  }
  return i32(bytei(v, k & 3u)) - 32;
}
fn blk(w: u32, kb: u32, r: u32) -> f32 {
  let x0 = kb * 256u;
  var isum = 0;
  for (var g = 0u; g < 16u; g = g + 1u) {
    var s = 0;
    for (var l = 0u; l < 16u; l = l + 1u) { let e = g * 16u + l; s = s + q8(r, x0 + e) * q3(w, e); }
    isum = isum + q3scale(w, g) * s;
  }
  return wf16(w + 108u) * ad(r, kb) * f32(isum);
}
fn deq(w: u32, e: u32) -> f32 { return wf16(w + 108u) * f32(q3scale(w, e / 16u)) * f32(q3(w, e)); }`,
  Q4_K: `
// d at 0, dmin at 2, scales[12] at 4, qs[128] at 16.
${K_SCALES}
fn q4(w: u32, e: u32) -> i32 {
  let b = wb8(w + 16u + (e / 64u) * 32u + (e & 31u));
  return i32(select(b & 15u, b >> 4u, (e & 32u) != 0u));
}
fn blk(w: u32, kb: u32, r: u32) -> f32 {
  let x0 = kb * 256u;
  var summ = 0;
  for (var j = 0u; j < 16u; j = j + 1u) { summ = summ + as_(r, kb * 16u + j) * kmin(w + 4u, j / 2u); }
  var isum = 0;
  for (var sb = 0u; sb < 8u; sb = sb + 1u) {
    var s = 0;
    for (var l = 0u; l < 32u; l = l + 1u) { let e = sb * 32u + l; s = s + q8(r, x0 + e) * q4(w, e); }
    isum = isum + kscale(w + 4u, sb) * s;
  }
  let yd = ad(r, kb);
  return wf16(w) * yd * f32(isum) - wf16(w + 2u) * yd * f32(summ);
}
fn deq(w: u32, e: u32) -> f32 { return wf16(w) * f32(kscale(w + 4u, e / 32u)) * f32(q4(w, e)) - wf16(w + 2u) * f32(kmin(w + 4u, e / 32u)); }`,
  Q5_K: `
// d at 0, dmin at 2, scales[12] at 4, qh[32] at 16, qs[128] at 48.
${K_SCALES}
fn q5(w: u32, e: u32) -> i32 {
  let b = wb8(w + 48u + (e / 64u) * 32u + (e & 31u));
  let lo = select(b & 15u, b >> 4u, (e & 32u) != 0u);
  let hi = (wb8(w + 16u + (e & 31u)) >> (e / 32u)) & 1u;
  return i32(lo | (hi << 4u));
}
fn blk(w: u32, kb: u32, r: u32) -> f32 {
  let x0 = kb * 256u;
  var summ = 0;
  for (var j = 0u; j < 16u; j = j + 1u) { summ = summ + as_(r, kb * 16u + j) * kmin(w + 4u, j / 2u); }
  var isum = 0;
  for (var sb = 0u; sb < 8u; sb = sb + 1u) {
    var s = 0;
    for (var l = 0u; l < 32u; l = l + 1u) { let e = sb * 32u + l; s = s + q8(r, x0 + e) * q5(w, e); }
    isum = isum + kscale(w + 4u, sb) * s;
  }
  let yd = ad(r, kb);
  return wf16(w) * yd * f32(isum) - wf16(w + 2u) * yd * f32(summ);
}
fn deq(w: u32, e: u32) -> f32 { return wf16(w) * f32(kscale(w + 4u, e / 32u)) * f32(q5(w, e)) - wf16(w + 2u) * f32(kmin(w + 4u, e / 32u)); }`,
  Q6_K: `
// ql[128] at 0, qh[64] at 128, scales[16] (int8) at 192, d at 208.
fn q6(w: u32, e: u32) -> i32 {
  let j = e / 128u;
  let quarter = (e & 127u) / 32u;
  let l = e & 31u;
  let b = wb8(w + j * 64u + l + (quarter & 1u) * 32u);
  let lo = select(b & 15u, b >> 4u, quarter >= 2u);
  let hi = (wb8(w + 128u + j * 32u + l) >> (quarter * 2u)) & 3u;
  return i32(lo | (hi << 4u)) - 32;
}
fn q6scale(w: u32, k: u32) -> i32 { return bitcast<i32>(wb8(w + 192u + k) << 24u) >> 24u; }
fn blk(w: u32, kb: u32, r: u32) -> f32 {
  let x0 = kb * 256u;
  var isum = 0;
  for (var g = 0u; g < 16u; g = g + 1u) {
    var s = 0;
    for (var l = 0u; l < 16u; l = l + 1u) { let e = g * 16u + l; s = s + q8(r, x0 + e) * q6(w, e); }
    isum = isum + q6scale(w, g) * s;
  }
  return wf16(w + 208u) * ad(r, kb) * f32(isum);
}
fn deq(w: u32, e: u32) -> f32 { return wf16(w + 208u) * f32(q6scale(w, e / 16u)) * f32(q6(w, e)); }`,
  IQ4_XS: `
// d at 0, scales_h (u16) at 2, scales_l[4] at 4, qs[128] at 8.
fn xsls(w: u32, sb: u32) -> i32 {
  let h = wb8(w + 2u) | (wb8(w + 3u) << 8u);
  let sl = wb8(w + 4u + sb / 2u);
  let lo = select(sl & 15u, sl >> 4u, (sb & 1u) == 1u);
  return i32(lo | (((h >> (2u * sb)) & 3u) << 4u)) - 32;
}
fn xsq(w: u32, e: u32) -> i32 {
  let l = e & 31u;
  let b = wb8(w + 8u + (e / 32u) * 16u + (l & 15u));
  return KV[select(b & 15u, b >> 4u, l >= 16u)];
}
fn blk(w: u32, kb: u32, r: u32) -> f32 {
  let x0 = kb * 256u;
  let d4d8 = wf16(w) * ad(r, kb);
  var sum = 0.0;
  for (var sb = 0u; sb < 8u; sb = sb + 1u) {
    var s = 0;
    for (var l = 0u; l < 32u; l = l + 1u) { let e = sb * 32u + l; s = s + q8(r, x0 + e) * xsq(w, e); }
    sum = sum + d4d8 * f32(xsls(w, sb)) * f32(s);
  }
  return sum;
}
fn deq(w: u32, e: u32) -> f32 { return wf16(w) * f32(xsls(w, e / 32u)) * f32(xsq(w, e)); }`,
};



/**
 * The grid types as val(w, e) (the signed grid value of element e) and ls(w, g) (the integer scale of
 * 16-group g), with blk = mult · d · d_y · Σ_g ls · Σ q8·val, as ggml's vec_dot generic sums them.
 */
function gridDot(mult: string, d: string): string {
  return `
fn blk(w: u32, kb: u32, r: u32) -> f32 {
  let x0 = kb * 256u;
  var isum = 0;
  for (var g = 0u; g < 16u; g = g + 1u) {
    var s = 0;
    for (var l = 0u; l < 16u; l = l + 1u) { let e = g * 16u + l; s = s + q8(r, x0 + e) * val(w, e); }
    isum = isum + ls(w, g) * s;
  }
  return ${mult} * (${d} * ad(r, kb) * f32(isum));
}`;
}

const GRID_TYPE_WGSL: Record<string, string> = {
  IQ2_XXS: `
// d at 0, qs (8 bytes per 32: 4 grid indices, then a u32 of 4·7 sign bits and a 4-bit scale) at 2.
fn a1(w: u32, ib: u32) -> u32 { return wu32(w + 2u + 8u * ib + 4u); }
fn val(w: u32, e: u32) -> i32 {
  let ib = e / 32u; let l = (e / 8u) & 3u; let j = e & 7u;
  let s = gb8(KS + ((a1(w, ib) >> (7u * l)) & 127u));
  return i32(gb8(G2XXS + wb8(w + 2u + 8u * ib + l) * 8u + j)) * sgn(s, j);
}
fn ls(w: u32, g: u32) -> i32 { return i32(2u * (a1(w, g / 2u) >> 28u) + 1u); }
${gridDot('0.125', 'wf16(w)')}
fn deq(w: u32, e: u32) -> f32 {
  let ib = e / 32u; let l = (e / 8u) & 3u; let j = e & 7u;
  let db = (wf16(w) * (0.5 + f32(a1(w, ib) >> 28u))) * 0.25;
  let s = gb8(KS + ((a1(w, ib) >> (7u * l)) & 127u));
  return db * f32(gb8(G2XXS + wb8(w + 2u + 8u * ib + l) * 8u + j)) * f32(sgn(s, j));
}`,
  IQ2_XS: `
// d at 0, qs u16[32] at 2 (9-bit grid index, 7-bit sign index), scales[8] at 66.
fn val(w: u32, e: u32) -> i32 {
  let qv = wu16(w + 2u + 2u * (e / 8u)); let j = e & 7u;
  return i32(gb8(G2XS + (qv & 511u) * 8u + j)) * sgn(gb8(KS + (qv >> 9u)), j);
}
fn ls(w: u32, g: u32) -> i32 { return i32(2u * nib(wb8(w + 66u + g / 2u), (g & 1u) == 1u) + 1u); }
${gridDot('0.125', 'wf16(w)')}
fn deq(w: u32, e: u32) -> f32 {
  let g = e / 16u;
  let db = (wf16(w) * (0.5 + f32(nib(wb8(w + 66u + g / 2u), (g & 1u) == 1u)))) * 0.25;
  let qv = wu16(w + 2u + 2u * (e / 8u)); let j = e & 7u;
  return db * f32(gb8(G2XS + (qv & 511u) * 8u + j)) * f32(sgn(gb8(KS + (qv >> 9u)), j));
}`,
  IQ2_S: `
// d at 0, qs[32] at 2, signs[32] at 34, qh[8] at 66, scales[8] at 74.
fn gidx(w: u32, k: u32) -> u32 { return wb8(w + 2u + k) | ((wb8(w + 66u + k / 4u) << (8u - 2u * (k & 3u))) & 0x300u); }
fn val(w: u32, e: u32) -> i32 {
  let k = e / 8u; let j = e & 7u;
  return i32(gb8(G2S + gidx(w, k) * 8u + j)) * sgn(wb8(w + 34u + k), j);
}
fn ls(w: u32, g: u32) -> i32 { return i32(2u * nib(wb8(w + 74u + g / 2u), (g & 1u) == 1u) + 1u); }
${gridDot('0.125', 'wf16(w)')}
fn deq(w: u32, e: u32) -> f32 {
  let g = e / 16u;
  let db = (wf16(w) * (0.5 + f32(nib(wb8(w + 74u + g / 2u), (g & 1u) == 1u)))) * 0.25;
  let k = e / 8u; let j = e & 7u;
  return db * f32(gb8(G2S + gidx(w, k) * 8u + j)) * f32(sgn(wb8(w + 34u + k), j));
}`,
  IQ3_XXS: `
// d at 0, qs[64] (grid indices) at 2, scales_and_signs u32[8] at 66.
fn a(w: u32, ib: u32) -> u32 { return wu32(w + 66u + 4u * ib); }
fn gv(w: u32, e: u32) -> u32 {
  let ib = e / 32u; let l = (e / 8u) & 3u; let jj = e & 7u;
  return gb8(G3XXS + wb8(w + 2u + 8u * ib + 2u * l + jj / 4u) * 4u + (jj & 3u));
}
fn sg(w: u32, e: u32) -> i32 { return sgn(gb8(KS + ((a(w, e / 32u) >> (7u * ((e / 8u) & 3u))) & 127u)), e & 7u); }
fn val(w: u32, e: u32) -> i32 { return i32(gv(w, e)) * sg(w, e); }
fn ls(w: u32, g: u32) -> i32 { return i32(2u * (a(w, g / 2u) >> 28u) + 1u); }
${gridDot('0.25', 'wf16(w)')}
fn deq(w: u32, e: u32) -> f32 {
  let db = (wf16(w) * (0.5 + f32(a(w, e / 32u) >> 28u))) * 0.5;
  return db * f32(gv(w, e)) * f32(sg(w, e));
}`,
  IQ3_S: `
// d at 0, qs[64] at 2, qh[8] at 66, signs[32] at 74, scales[4] at 106.
fn gv(w: u32, e: u32) -> u32 {
  let k = e / 8u; let ib = k / 4u; let l = k & 3u; let jj = e & 7u;
  let qh = wb8(w + 66u + ib);
  let hi = select((qh << (8u - 2u * l)) & 256u, (qh << (7u - 2u * l)) & 256u, jj >= 4u);
  return gb8(G3S + (wb8(w + 2u + 8u * ib + 2u * l + jj / 4u) | hi) * 4u + (jj & 3u));
}
fn sg(w: u32, e: u32) -> i32 { return sgn(wb8(w + 74u + e / 8u), e & 7u); }
fn val(w: u32, e: u32) -> i32 { return i32(gv(w, e)) * sg(w, e); }
fn ls32(w: u32, ib: u32) -> u32 { return 2u * nib(wb8(w + 106u + ib / 2u), (ib & 1u) == 1u) + 1u; }
fn ls(w: u32, g: u32) -> i32 { return i32(ls32(w, g / 2u)); }
${gridDot('1.0', 'wf16(w)')}
fn deq(w: u32, e: u32) -> f32 { return (wf16(w) * f32(ls32(w, e / 32u))) * f32(gv(w, e)) * f32(sg(w, e)); }`,
  IQ1_S: `
// d at 0, qs[32] at 2, qh u16[8] at 34 (3 high index bits per 8, a 3-bit scale, the delta sign).
fn g1(w: u32, e: u32) -> i32 {
  let ib = e / 32u; let l = (e / 8u) & 3u;
  let qh = wu16(w + 34u + 2u * ib);
  let idx = wb8(w + 2u + 4u * ib + l) | (((qh >> (3u * l)) & 7u) << 8u);
  return bitcast<i32>(gb8(G1S + idx * 8u + (e & 7u)) << 24u) >> 24u;
}
fn lsd(w: u32, ib: u32) -> vec2<i32> {
  let qh = wu16(w + 34u + 2u * ib);
  return vec2<i32>(i32(2u * ((qh >> 12u) & 7u) + 1u), select(1, -1, (qh & 0x8000u) != 0u));
}
fn blk(w: u32, kb: u32, r: u32) -> f32 {
  let x0 = kb * 256u;
  var sumi = 0;
  var sumi1 = 0;
  for (var ib = 0u; ib < 8u; ib = ib + 1u) {
    var s = 0;
    for (var l = 0u; l < 32u; l = l + 1u) { let e = ib * 32u + l; s = s + q8(r, x0 + e) * g1(w, e); }
    let sd = lsd(w, ib);
    sumi = sumi + sd.x * s;
    sumi1 = sumi1 + sd.x * sd.y * (as_(r, kb * 16u + 2u * ib) + as_(r, kb * 16u + 2u * ib + 1u));
  }
  return wf16(w) * ad(r, kb) * (f32(sumi) + 0.125 * f32(sumi1));
}
fn deq(w: u32, e: u32) -> f32 {
  let sd = lsd(w, e / 32u);
  return (wf16(w) * f32(sd.x)) * (f32(g1(w, e)) + select(0.125, -0.125, sd.y < 0));
}`,
  IQ1_M: `
// qs[32] at 0, qh[16] at 32, scales u16[4] at 48 (3-bit scales; their top nibbles make the f16 d).
fn dm(w: u32) -> f32 {
  let s0 = wu16(w + 48u); let s1 = wu16(w + 50u); let s2 = wu16(w + 52u); let s3 = wu16(w + 54u);
  return unpack2x16float((s0 >> 12u) | ((s1 >> 8u) & 0xf0u) | ((s2 >> 4u) & 0xf00u) | (s3 & 0xf000u)).x;
}
fn qhb(w: u32, k: u32) -> u32 { return wb8(w + 32u + 2u * (k / 4u) + (k & 3u) / 2u); }
fn g1(w: u32, e: u32) -> i32 {
  let k = e / 8u;
  let idx = wb8(w + 4u * (k / 4u) + (k & 3u)) | ((qhb(w, k) << (8u - 4u * (k & 1u))) & 0x700u);
  return bitcast<i32>(gb8(G1S + idx * 8u + (e & 7u)) << 24u) >> 24u;
}
fn dlt(w: u32, k: u32) -> i32 { return select(1, -1, (qhb(w, k) & select(0x08u, 0x80u, (k & 1u) == 1u)) != 0u); }
fn ls(w: u32, g: u32) -> i32 {
  let ib = g / 2u;
  let sc = wu16(w + 48u + 2u * (ib / 2u));
  return i32(2u * ((sc >> (6u * (ib % 2u) + 3u * (g & 1u))) & 7u) + 1u);
}
fn blk(w: u32, kb: u32, r: u32) -> f32 {
  let x0 = kb * 256u;
  var sumi1 = 0;
  var sumi2 = 0;
  for (var k = 0u; k < 32u; k = k + 1u) {
    var s1 = 0;
    var s2 = 0;
    for (var j = 0u; j < 8u; j = j + 1u) { let e = k * 8u + j; let q = q8(r, x0 + e); s1 = s1 + q * g1(w, e); s2 = s2 + q; }
    let l = ls(w, k / 2u);
    sumi1 = sumi1 + l * s1;
    sumi2 = sumi2 + l * dlt(w, k) * s2;
  }
  return dm(w) * ad(r, kb) * (f32(sumi1) + 0.125 * f32(sumi2));
}
fn deq(w: u32, e: u32) -> f32 {
  let k = e / 8u;
  return (dm(w) * f32(ls(w, k / 2u))) * (f32(g1(w, e)) + select(0.125, -0.125, dlt(w, k) < 0));
}`,
};

function typeSource(type: string): string {
  const src = TYPE_WGSL[type] ?? (GRID_TYPE_WGSL[type] === undefined ? undefined : gridWGSL() + GRID_TYPE_WGSL[type]);
  if (src === undefined) throw new Error(`no WGSL for ${type}`);
  return src;
}

/**
 * GEMV of R ≤ 8 activation rows starting at row p(3) over a block-format matrix [out, in]: 32 lanes per
 * output, 8 outputs per workgroup, each lane whole blocks; the 32 lanes add up.
 * Params: 0 inDim, 1 outDim, 2 row bytes, 3 first row, 4 has bias. Grid: ceil(outDim / 8) workgroups (folded).
 */
export function gemvGGML(type: string, R: number): string {
  const t = GGML_GPU_TYPES[type];
  const rows = Array.from({ length: R }, (_, r) => r);
  return `${PARAMS}
@group(0) @binding(1) var<storage, read> W: array<u32>;
@group(0) @binding(2) var<storage, read> XQ: array<i32>;
@group(0) @binding(3) var<storage, read> XD: array<f32>;
@group(0) @binding(4) var<storage, read> XS: array<i32>;
@group(0) @binding(5) var<storage, read> B: array<f32>;
@group(0) @binding(6) var<storage, read_write> Y: array<f32>;
${t.grid ? '@group(0) @binding(7) var<storage, read> GR: array<u32>;' : ''}
var<workgroup> red: array<f32, 256>;
${BYTES}${KVALUES}
fn q8(r: u32, i: u32) -> i32 { return XQ[(p(3) + r) * p(0) + i]; }
fn ad(r: u32, b: u32) -> f32 { return XD[(p(3) + r) * (p(0) / ${t.act === 'Q8_K' ? 256 : 32}u) + b]; }
fn as_(r: u32, b: u32) -> i32 { return XS[(p(3) + r) * (p(0) / ${t.act === 'Q8_K' ? 16 : 32}u) + b]; }
${typeSource(type)}
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let inDim = p(0);
  let outDim = p(1);
  let nb = inDim / ${t.blockSize}u;
  _ = XS[0]; // every binding is used (a type without sums still gets the same layout)
  let lane = lid % 32u;
  let o = (wid.y * nwg.x + wid.x) * 8u + lid / 32u;
  ${rows.map((r) => `var a${r} = 0.0;`).join(' ')}
  if (o < outDim) {
    for (var kb = lane; kb < nb; kb = kb + 32u) {
      let w = o * p(2) + kb * ${t.typeSize}u;
      ${rows.map((r) => `a${r} = a${r} + blk(w, kb, ${r}u);`).join('\n      ')}
    }
  }
  var bias = 0.0;
  if (p(4) == 1u && o < outDim) { bias = B[o]; }
  ${rows.map((r) => `red[lid] = a${r};
  workgroupBarrier();
  for (var st = 16u; st > 0u; st = st >> 1u) {
    if (lane < st) { red[lid] = red[lid] + red[lid + st]; }
    workgroupBarrier();
  }
  if (lane == 0u && o < outDim) { Y[(p(3) + ${r}u) * outDim + o] = red[lid] + bias; }
  workgroupBarrier();`).join('\n  ')}
}`;
}

/** Embedding rows of a block-format table [out, in]: Y[t, i] = deq(row ids[t], i). Params: 0 inDim, 1 outDim, 2 row bytes, 3 n = tokens·inDim. */
export function embeddingGGML(type: string): string {
  const t = GGML_GPU_TYPES[type];
  return `${PARAMS}${FLAT}
@group(0) @binding(1) var<storage, read> W: array<u32>;
@group(0) @binding(2) var<storage, read> Ids: array<u32>;
@group(0) @binding(3) var<storage, read_write> Y: array<f32>;
${t.grid ? '@group(0) @binding(4) var<storage, read> GR: array<u32>;' : ''}
${BYTES}${KVALUES}
fn q8(r: u32, i: u32) -> i32 { return 0; }
fn ad(r: u32, b: u32) -> f32 { return 0.0; }
fn as_(r: u32, b: u32) -> i32 { return 0; }
${typeSource(type)}
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let e = flat(wid, nwg, lid);
  if (e >= p(3)) { return; }
  let i = e % p(0);
  let w = Ids[e / p(0)] * p(2) + (i / ${t.blockSize}u) * ${t.typeSize}u;
  Y[e] = deq(w, i % ${t.blockSize}u);
}`;
}
