/**
 * The WGSL kernels of the WebGPU backend, as source generators (one pipeline per variant: weight
 * format and layout, activation, cache dtype). Only core WGSL: no `shader-f16` (f16 is read with
 * unpack2x16float and written with an exact round-to-nearest-even conversion; bf16 is a shift), so
 * the kernels run on every adapter, software rasterizers included.
 *
 * Conventions: every kernel gets its integer/float parameters in a uniform block `P` (16 u32 words,
 * floats bitcast), read with p(i)/pf(i); buffers are `array<u32>` or `array<f32>`; large 1-D grids
 * are folded into 2-D (x ≤ 65535) and unfolded with num_workgroups.
 */
import type { ActivationName } from '../../tensor/activations.js';
import type { MatrixFormat } from '../backend.js';

/** Rows up to which a matmul runs as a GEMV (weights streamed once for all rows); above, the tiled GEMM. */
export const GEMV_MAX_ROWS = 8;
/** Rows of weights (the in axis) one workgroup of the in_out GEMV covers; partial sums are added after. */
export const GEMV_K_CHUNK = 256;
/** Adjacent outputs one invocation of the direct GEMV computes. */
export const DIRECT_OUTPUTS = 16;

const PARAMS = /* wgsl */ `
@group(0) @binding(0) var<uniform> P: array<vec4<u32>, 4>;
fn p(i: u32) -> u32 { return P[i / 4u][i % 4u]; }
fn pf(i: u32) -> f32 { return bitcast<f32>(p(i)); }
`;

/** Index of the invocation in a folded 1-D grid of 256-wide workgroups. */
const FLAT = /* wgsl */ `
fn flat(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 { return (wid.y * nwg.x + wid.x) * 256u + lid; }
`;

/** f32 → IEEE half bits, round to nearest even; the same results as f32ToF16 in src/tensor/dtype.ts. */
export const F32_TO_F16 = /* wgsl */ `
fn f32_to_f16(x: f32) -> u32 {
  let b = bitcast<u32>(x);
  let sign = (b >> 16u) & 0x8000u;
  let a = b & 0x7fffffffu;
  if (a > 0x7f800000u) { return 0x7e00u; }
  if (a >= 0x477ff000u) { return sign | 0x7c00u; }
  if (a < 0x38800000u) {
    if (a <= 0x33000000u) { return sign; }
    // subnormal half: a · 2^24 rounded half to even (exact scaling by a power of two)
    return sign | u32(round(bitcast<f32>(a) * 16777216.0));
  }
  let m = a & 0x7fffffu;
  var h = (((a >> 23u) - 112u) << 10u) | (m >> 13u);
  let rem = m & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u) == 1u)) { h = h + 1u; }
  return sign | h;
}
`;

/**
 * Correctly rounded a / b for positive normal floats (GPU division may be off by an ulp or two, and the
 * activation scale d = amax/127 must equal the CPU's exactly, or values on rounding ties flip).
 */
export const DIV_RN = /* wgsl */ `
fn div_rn(a: f32, b: f32) -> f32 {
  let ba = bitcast<u32>(a);
  let bb = bitcast<u32>(b);
  var e = i32(ba >> 23u) - i32(bb >> 23u) + 127;
  var ma = (ba & 0x7fffffu) | 0x800000u;
  let mb = (bb & 0x7fffffu) | 0x800000u;
  if (ma < mb) { ma = ma << 1u; e = e - 1; }
  var q = 0u;
  var r = ma;
  for (var i = 0; i < 25; i = i + 1) {
    q = q << 1u;
    if (r >= mb) { r = r - mb; q = q | 1u; }
    r = r << 1u;
  }
  let guard = q & 1u;
  q = q >> 1u;
  if (guard == 1u && (r != 0u || (q & 1u) == 1u)) { q = q + 1u; }
  if (q == 0x1000000u) { q = q >> 1u; e = e + 1; }
  if (e <= 0) { return 0.0; }
  return bitcast<f32>((u32(e) << 23u) | (q & 0x7fffffu));
}
`;

/** C's roundf: halves away from zero (WGSL's round() goes to even). */
export const ROUNDF = /* wgsl */ `
fn roundf(v: f32) -> f32 {
  let t = trunc(v);
  if (abs(v - t) >= 0.5) { return t + sign(v); }
  return t;
}
`;

/**
 * Element fetch of a weight matrix held in `W` (array<u32>): wat(o, i) = W[o, i] as f32 for output o and
 * input i. Params used: p(0) = inDim, p(1) = outDim, p(2) = word offset of the quantized values
 * (after the f16 scales) for Q8_0/Q4_0.
 */
function weightFetch(format: MatrixFormat, layout: 'in_out' | 'out_in'): string {
  const elem = layout === 'out_in' ? 'o * p(0) + i' : 'i * p(1) + o';
  switch (format) {
    case 'F32':
      return `fn wat(o: u32, i: u32) -> f32 { return bitcast<f32>(W[${elem}]); }`;
    case 'BF16':
      return `fn wat(o: u32, i: u32) -> f32 { let e = ${elem}; let v = W[e >> 1u]; return bitcast<f32>(select(v << 16u, v & 0xffff0000u, (e & 1u) == 1u)); }`;
    case 'F16':
      return `fn wat(o: u32, i: u32) -> f32 { let e = ${elem}; return unpack2x16float(W[e >> 1u])[e & 1u]; }`;
    case 'Q8_0':
      return `fn wat(o: u32, i: u32) -> f32 {
  let b = o * (p(0) / 32u) + (i >> 5u);
  let d = unpack2x16float(W[b >> 1u])[b & 1u];
  let word = W[p(2) + b * 8u + ((i & 31u) >> 2u)];
  return d * f32(extractBits(bitcast<i32>(word), (i & 3u) * 8u, 8u));
}`;
    case 'Q4_0':
      return `fn wat(o: u32, i: u32) -> f32 {
  let b = o * (p(0) / 32u) + (i >> 5u);
  let d = unpack2x16float(W[b >> 1u])[b & 1u];
  let j = i & 31u;
  let byte = (W[p(2) + b * 4u + ((j & 15u) >> 2u)] >> ((j & 3u) * 8u)) & 0xffu;
  return d * (f32(select(byte & 15u, byte >> 4u, j >= 16u)) - 8.0);
}`;
    default:
      throw new Error(`no WGSL weight fetch for ${format}`); // the backend refuses these formats at loadMatrix
  }
}

/**
 * GEMV for up to GEMV_MAX_ROWS rows of a quantized matrix (Q8_0/Q4_0 blocks, [out, in]): 32 lanes per
 * output, 8 outputs per workgroup; each lane takes whole 32-value blocks (one f16 scale, 8 or 4 words of
 * quants), then the 32 lanes add up. Float matrices never come here: the backend stores them [in, out].
 * Params: 0 inDim, 1 outDim, 2 qbase, 4 has bias. Grid: ceil(outDim / 8) workgroups (folded).
 */
export function gemvQuant(format: 'Q8_0' | 'Q4_0', R: number): string {
  const rows = Array.from({ length: R }, (_, r) => r);
  const block = format === 'Q8_0'
    ? `for (var w = 0u; w < 8u; w = w + 1u) {
        let v = bitcast<i32>(W[p(2) + b * 8u + w]);
        for (var c = 0u; c < 4u; c = c + 1u) { wv[w * 4u + c] = d * f32(extractBits(v, c * 8u, 8u)); }
      }`
    : `for (var w = 0u; w < 4u; w = w + 1u) {
        let v = W[p(2) + b * 4u + w];
        for (var c = 0u; c < 4u; c = c + 1u) {
          let byte = (v >> (c * 8u)) & 0xffu;
          wv[w * 4u + c] = d * (f32(byte & 15u) - 8.0);
          wv[16u + w * 4u + c] = d * (f32(byte >> 4u) - 8.0);
        }
      }`;
  return `${PARAMS}
@group(0) @binding(1) var<storage, read> W: array<u32>;
@group(0) @binding(2) var<storage, read> X: array<f32>;
@group(0) @binding(3) var<storage, read> B: array<f32>;
@group(0) @binding(4) var<storage, read_write> Y: array<f32>;
var<workgroup> red: array<f32, 256>;
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let inDim = p(0);
  let outDim = p(1);
  let nb = inDim / 32u;
  let lane = lid % 32u;
  let o = (wid.y * nwg.x + wid.x) * 8u + lid / 32u;
  ${rows.map((r) => `var a${r} = 0.0;`).join(' ')}
  var wv: array<f32, 32>;
  if (o < outDim) {
    for (var kb = lane; kb < nb; kb = kb + 32u) {
      let b = o * nb + kb;
      let d = unpack2x16float(W[b >> 1u])[b & 1u];
      ${block}
      for (var j = 0u; j < 32u; j = j + 1u) {
        let x = kb * 32u + j;
        ${rows.map((r) => `a${r} = a${r} + wv[j] * X[${r}u * inDim + x];`).join('\n        ')}
      }
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
  if (lane == 0u && o < outDim) { Y[${r}u * outDim + o] = red[lid] + bias; }
  workgroupBarrier();`).join('\n  ')}
}`;
}

/** wat4(o, k): four adjacent outputs of input row k — two whole words of a 16-bit row when outDim is even. */
function wat4Fetch(format: MatrixFormat, evenOut: boolean): string {
  // Four adjacent outputs of one input row: two whole words of a 16-bit row when outDim is even.
  let wat4 = 'fn wat4(o: u32, k: u32) -> vec4<f32> { return vec4<f32>(wat(o, k), wat(o + 1u, k), wat(o + 2u, k), wat(o + 3u, k)); }';
  if (evenOut && format === 'BF16') {
    wat4 = `fn wat4e(e: u32) -> vec4<f32> {
  let w = e >> 1u;
  let a = W[w];
  let b = W[w + 1u];
  return vec4<f32>(bitcast<f32>(a << 16u), bitcast<f32>(a & 0xffff0000u), bitcast<f32>(b << 16u), bitcast<f32>(b & 0xffff0000u));
}
fn wat4(o: u32, k: u32) -> vec4<f32> { return wat4e(k * p(1) + o); }`;
  } else if (evenOut && format === 'F16') {
    wat4 = `fn wat4e(e: u32) -> vec4<f32> {
  let w = e >> 1u;
  return vec4<f32>(unpack2x16float(W[w]), unpack2x16float(W[w + 1u]));
}
fn wat4(o: u32, k: u32) -> vec4<f32> { return wat4e(k * p(1) + o); }`;
  } else if (format === 'F32') {
    wat4 = `fn wat4e(e: u32) -> vec4<f32> { return vec4<f32>(bitcast<f32>(W[e]), bitcast<f32>(W[e + 1u]), bitcast<f32>(W[e + 2u]), bitcast<f32>(W[e + 3u])); }
fn wat4(o: u32, k: u32) -> vec4<f32> { return wat4e(k * p(1) + o); }`;
  }
  return wat4;
}

/**
 * GEMV without workgroup memory or barriers, for R rows of a float matrix [in, out]: one invocation per
 * DIRECT_OUTPUTS adjacent outputs runs the whole input. Chosen on software adapters (a CPU runs few wide invocations best);
 * on a GPU it would leave most of the chip idle, so there the split-K kernel below runs.
 * Params: 0 inDim, 1 outDim, 2 qbase, 3 -, 4 has bias. Grid: ceil(outDim / (64 · DIRECT_OUTPUTS)) workgroups (folded).
 */
export function gemvInOutDirect(format: MatrixFormat, R: number, evenOut: boolean): string {
  const rows = Array.from({ length: R }, (_, r) => r);
  const groups = Array.from({ length: DIRECT_OUTPUTS / 4 }, (_, g) => g);
  const indexed = format === 'F32' || (evenOut && (format === 'BF16' || format === 'F16'));
  return `${PARAMS}
@group(0) @binding(1) var<storage, read> W: array<u32>;
@group(0) @binding(2) var<storage, read> X: array<f32>;
@group(0) @binding(3) var<storage, read> B: array<f32>;
@group(0) @binding(4) var<storage, read_write> Y: array<f32>;
${weightFetch(format, 'in_out')}
${wat4Fetch(format, evenOut)}
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let inDim = p(0);
  let outDim = p(1);
  let o0 = ((wid.y * nwg.x + wid.x) * 64u + lid) * ${DIRECT_OUTPUTS}u;
  if (o0 >= outDim) { return; }
  ${rows.flatMap((r) => groups.map((g) => `var a${r}_${g} = vec4<f32>(0.0);`)).join('\n  ')}
  for (var k = 0u; k < inDim; k = k + 1u) {
    // Outputs past the end read clamped words (robust access) and are never written.
    ${indexed ? 'let e = k * outDim + o0;' : ''}
    ${groups.map((g) => (indexed ? `let w${g} = wat4e(e + ${4 * g}u);` : `let w${g} = wat4(o0 + ${4 * g}u, k);`)).join('\n    ')}
    ${rows.map((r) => `let x${r} = X[${r}u * inDim + k];\n    ${groups.map((g) => `a${r}_${g} = a${r}_${g} + w${g} * x${r};`).join(' ')}`).join('\n    ')}
  }
  ${rows.flatMap((r) => groups.map((g) => `for (var c = 0u; c < 4u; c = c + 1u) {
    let o = o0 + ${4 * g}u + c;
    if (o < outDim) { Y[${r}u * outDim + o] = a${r}_${g}[c] + select(0.0, B[o], p(4) == 1u); }
  }`)).join('\n  ')}
}`;
}

/**
 * GEMV for R ≤ GEMV_MAX_ROWS rows (R is baked into the pipeline, so the accumulators are registers),
 * weights [in, out] (GPT-2's Conv1D as stored; the backend keeps every float matrix this way): lanes run
 * along the output axis, four adjacent outputs each (a 16-bit row is read as whole words, coalesced across
 * lanes); 4 lanes split each GEMV_K_CHUNK slice of the input. Each workgroup writes partial sums for its
 * slice, added by GEMV_REDUCE. Params: 0 inDim, 1 outDim, 2 qbase. Grid: (ceil(outDim / 256),
 * ceil(inDim / K_CHUNK)). Output: Part[chunk][r][o].
 */
export function gemvInOut(format: MatrixFormat, R: number, evenOut: boolean): string {
  const rows = Array.from({ length: R }, (_, r) => r);
  const wat4 = wat4Fetch(format, evenOut);
  return `${PARAMS}
@group(0) @binding(1) var<storage, read> W: array<u32>;
@group(0) @binding(2) var<storage, read> X: array<f32>;
@group(0) @binding(3) var<storage, read_write> Part: array<f32>;
${weightFetch(format, 'in_out')}
${wat4}
var<workgroup> xs: array<f32, ${GEMV_K_CHUNK * R}>;
var<workgroup> red: array<vec4<f32>, 256>;
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let inDim = p(0);
  let outDim = p(1);
  let col = lid % 64u;
  let ks = lid / 64u;
  let o0 = wid.x * 256u + col * 4u;
  let k0 = wid.y * ${GEMV_K_CHUNK}u;
  for (var j = lid; j < ${GEMV_K_CHUNK * R}u; j = j + 256u) {
    let r = j / ${GEMV_K_CHUNK}u;
    let k = k0 + j % ${GEMV_K_CHUNK}u;
    var v = 0.0;
    if (k < inDim) { v = X[r * inDim + k]; }
    xs[j] = v;
  }
  workgroupBarrier();
  ${rows.map((r) => `var a${r} = vec4<f32>(0.0);`).join('\n  ')}
  let kEnd = min(k0 + ${GEMV_K_CHUNK}u, inDim);
  if (o0 < outDim) {
    // Outputs past the end read clamped words (robust access) and are never written.
    for (var k = k0 + ks; k < kEnd; k = k + 4u) {
      let w = wat4(o0, k);
      let kk = k - k0;
      ${rows.map((r) => `a${r} = a${r} + w * xs[${r * GEMV_K_CHUNK}u + kk];`).join('\n      ')}
    }
  }
  ${rows.map((r) => `red[lid] = a${r};
  workgroupBarrier();
  if (ks == 0u) {
    let s = red[col] + red[64u + col] + red[128u + col] + red[192u + col];
    let base = (wid.y * ${R}u + ${r}u) * outDim;
    for (var c = 0u; c < 4u; c = c + 1u) { if (o0 + c < outDim) { Part[base + o0 + c] = s[c]; } }
  }
  workgroupBarrier();`).join('\n  ')}
}`;
}

/** Y[r, o] = Σ_chunks Part[chunk][r][o] + bias[o]. Params: 0 n = rows·outDim, 1 outDim, 2 chunks, 3 has bias. */
export const GEMV_REDUCE = `${PARAMS}${FLAT}
@group(0) @binding(1) var<storage, read> Part: array<f32>;
@group(0) @binding(2) var<storage, read> B: array<f32>;
@group(0) @binding(3) var<storage, read_write> Y: array<f32>;
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let e = flat(wid, nwg, lid);
  let n = p(0);
  if (e >= n) { return; }
  var s = 0.0;
  for (var c = 0u; c < p(2); c = c + 1u) { s = s + Part[c * n + e]; }
  if (p(3) == 1u) { s = s + B[e % p(1)]; }
  Y[e] = s;
}`;

/**
 * Tiled GEMM for prefill and batched decode: 64×64 output tiles (rows × outputs), 256 invocations of
 * 4×4 each, K in steps of 16 through workgroup memory. Any weight format and layout (through wat).
 * Params: 0 inDim, 1 outDim, 2 qbase, 3 rows, 4 has bias. Grid: (ceil(outDim/64), ceil(rows/64)).
 */
export function gemm(format: MatrixFormat, layout: 'in_out' | 'out_in'): string {
  return `${PARAMS}
@group(0) @binding(1) var<storage, read> W: array<u32>;
@group(0) @binding(2) var<storage, read> X: array<f32>;
@group(0) @binding(3) var<storage, read> B: array<f32>;
@group(0) @binding(4) var<storage, read_write> Y: array<f32>;
${weightFetch(format, layout)}
var<workgroup> As: array<f32, ${64 * 16}>;
var<workgroup> Bs: array<f32, ${16 * 64}>;
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let inDim = p(0);
  let outDim = p(1);
  let rows = p(3);
  let tr = (lid / 16u) * 4u;
  let tc = (lid % 16u) * 4u;
  let r0 = wid.y * 64u;
  let o0 = wid.x * 64u;
  var c0 = vec4<f32>(0.0);
  var c1 = vec4<f32>(0.0);
  var c2 = vec4<f32>(0.0);
  var c3 = vec4<f32>(0.0);
  for (var k0 = 0u; k0 < inDim; k0 = k0 + 16u) {
    for (var j = lid; j < 1024u; j = j + 256u) {
      // As[r][k] = X[r0 + r, k0 + k]
      let ar = j / 16u;
      let ak = j % 16u;
      var av = 0.0;
      if (r0 + ar < rows && k0 + ak < inDim) { av = X[(r0 + ar) * inDim + k0 + ak]; }
      As[j] = av;
      // Bs[k][o] = W[o0 + o, k0 + k]
      ${layout === 'in_out' ? 'let bk = j / 64u; let bo = j % 64u;' : 'let bo = j / 16u; let bk = j % 16u;'}
      var bv = 0.0;
      if (o0 + bo < outDim && k0 + bk < inDim) { bv = wat(o0 + bo, k0 + bk); }
      Bs[bk * 64u + bo] = bv;
    }
    workgroupBarrier();
    for (var k = 0u; k < 16u; k = k + 1u) {
      let b = vec4<f32>(Bs[k * 64u + tc], Bs[k * 64u + tc + 1u], Bs[k * 64u + tc + 2u], Bs[k * 64u + tc + 3u]);
      c0 = c0 + As[tr * 16u + k] * b;
      c1 = c1 + As[(tr + 1u) * 16u + k] * b;
      c2 = c2 + As[(tr + 2u) * 16u + k] * b;
      c3 = c3 + As[(tr + 3u) * 16u + k] * b;
    }
    workgroupBarrier();
  }
  var bias = vec4<f32>(0.0);
  for (var b = 0u; b < 4u; b = b + 1u) {
    if (p(4) == 1u && o0 + tc + b < outDim) { bias[b] = B[o0 + tc + b]; }
  }
  let outRows = array<vec4<f32>, 4>(c0 + bias, c1 + bias, c2 + bias, c3 + bias);
  for (var a = 0u; a < 4u; a = a + 1u) {
    let r = r0 + tr + a;
    if (r >= rows) { continue; }
    for (var b = 0u; b < 4u; b = b + 1u) {
      let o = o0 + tc + b;
      if (o < outDim) { Y[r * outDim + o] = outRows[a][b]; }
    }
  }
}`;
}

/**
 * Activations rounded to the int8 grid of a 32-block (d = max|x|/127, q = roundf(x/d)), stored as q·d: a
 * quantized matmul then computes Σ (q_w d_w)(q_x d_x), the specification's integer product up to float
 * rounding. One invocation per block. Params: 0 blocks.
 */
export const QUANTIZE_ACTIVATIONS = `${PARAMS}${FLAT}${DIV_RN}${ROUNDF}
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> Q: array<f32>;
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
  for (var j = 0u; j < 32u; j = j + 1u) { Q[b * 32u + j] = roundf(X[b * 32u + j] * id) * s; }
}`;

/** Embedding rows: Y[t, i] = W[ids[t], i] (a row of an [out, in] table, a column of an [in, out] one). Params: 0 inDim, 1 outDim, 2 qbase, 3 n = tokens·inDim. */
export function embedding(format: MatrixFormat, layout: 'in_out' | 'out_in'): string {
  return `${PARAMS}${FLAT}
@group(0) @binding(1) var<storage, read> W: array<u32>;
@group(0) @binding(2) var<storage, read> Ids: array<u32>;
@group(0) @binding(3) var<storage, read_write> Y: array<f32>;
${weightFetch(format, layout)}
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let e = flat(wid, nwg, lid);
  if (e >= p(3)) { return; }
  let t = e / p(0);
  Y[e] = wat(Ids[t], e % p(0));
}`;
}

/**
 * A workgroup reduction over `size` invocations through the workgroup array `red` (which the kernel
 * declares): fn NAME(lid, v) returns the combination of every invocation's v (all must call it).
 */
function workgroupReduce(name: string, size: number, combine: (a: string, b: string) => string): string {
  return `fn ${name}(lid: u32, v: f32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var s = ${size / 2}u; s > 0u; s = s >> 1u) {
    if (lid < s) { red[lid] = ${combine('red[lid]', 'red[lid + s]')}; }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}`;
}

/** LayerNorm of each row (biased variance, two passes). Params: 0 dim, 1 eps (f32), 2 rows. One workgroup per row. */
export const LAYER_NORM = `${PARAMS}
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> G: array<f32>;
@group(0) @binding(3) var<storage, read> Bt: array<f32>;
@group(0) @binding(4) var<storage, read_write> Y: array<f32>;
var<workgroup> red: array<f32, 256>;
${workgroupReduce('reduce', 256, (a, b) => `${a} + ${b}`)}
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = wid.y * nwg.x + wid.x;
  let dim = p(0);
  let valid = row < p(2);
  let base = row * dim;
  var s = 0.0;
  if (valid) { for (var i = lid; i < dim; i = i + 256u) { s = s + X[base + i]; } }
  let mean = reduce(lid, s) / f32(dim);
  var v = 0.0;
  if (valid) { for (var i = lid; i < dim; i = i + 256u) { let d = X[base + i] - mean; v = v + d * d; } }
  let inv = 1.0 / sqrt(reduce(lid, v) / f32(dim) + pf(1));
  if (valid) { for (var i = lid; i < dim; i = i + 256u) { Y[base + i] = (X[base + i] - mean) * inv * G[i] + Bt[i]; } }
}`;

const ERF = /* wgsl */ `
// erf by the series 2/√π e^{-x²} Σ 2ⁿx^{2n+1}/(1·3···(2n+1)) (all terms positive, as src/tensor/math.ts).
fn erf_(x: f32) -> f32 {
  let ax = abs(x);
  if (ax >= 6.0) { return sign(x); }
  let x2 = ax * ax;
  var term = ax;
  var sum = ax;
  for (var n = 1; n < 120; n = n + 1) {
    term = term * (2.0 * x2) / f32(2 * n + 1);
    sum = sum + term;
    if (term < sum * 1e-8) { break; }
  }
  return sign(x) * 1.1283791670955126 * exp(-x2) * sum;
}
fn tanh_(x: f32) -> f32 {
  let ax = abs(x);
  if (ax < 0.125) { let x2 = x * x; return x * (1.0 + x2 * (-1.0 / 3.0 + x2 * (2.0 / 15.0 + x2 * (-17.0 / 315.0)))); }
  if (ax > 20.0) { return sign(x); }
  let t = exp(-2.0 * ax);
  return sign(x) * (1.0 - t) / (1.0 + t);
}
fn log1p_(y: f32) -> f32 {
  let u = 1.0 + y;
  if (u == 1.0) { return y; }
  return log(u) * y / (u - 1.0);
}
fn gelu_(x: f32) -> f32 { return 0.5 * x * (1.0 + erf_(x / 1.4142135623730951)); }
fn gelu_tanh_(x: f32) -> f32 { return 0.5 * x * (1.0 + tanh_(0.7978845608028654 * (x + 0.044715 * x * x * x))); }
`;

/** WGSL for each activation of src/tensor/activations.ts, the same formulas. */
const ACTIVATION_WGSL: Record<ActivationName, string> = {
  gelu: 'gelu_(x)',
  gelu_python: 'gelu_(x)',
  gelu_new: 'gelu_tanh_(x)',
  gelu_pytorch_tanh: 'gelu_tanh_(x)',
  gelu_accurate: 'gelu_tanh_(x)',
  gelu_fast: '0.5 * x * (1.0 + tanh_(x * 0.7978845608 * (1.0 + 0.044715 * x * x)))',
  gelu_10: 'clamp(gelu_(x), -10.0, 10.0)',
  quick_gelu: 'x / (1.0 + exp(-1.702 * x))',
  laplace: '0.5 * (1.0 + erf_((x - 0.707107) / (0.282095 * 1.4142135623730951)))',
  relu: 'max(x, 0.0)',
  relu2: 'select(0.0, x * x, x > 0.0)',
  relu6: 'clamp(x, 0.0, 6.0)',
  leaky_relu: 'select(0.01 * x, x, x >= 0.0)',
  sigmoid: '1.0 / (1.0 + exp(-x))',
  silu: 'x / (1.0 + exp(-x))',
  swish: 'x / (1.0 + exp(-x))',
  tanh: 'tanh_(x)',
  mish: 'x * tanh_(select(log1p_(exp(x)), x, x > 20.0))',
  linear: 'x',
};

/** In-place activation. Params: 0 n. */
export function activation(name: ActivationName): string {
  return `${PARAMS}${FLAT}${ERF}
@group(0) @binding(1) var<storage, read_write> A: array<f32>;
fn act(x: f32) -> f32 { return ${ACTIVATION_WGSL[name]}; }
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let e = flat(wid, nwg, lid);
  if (e >= p(0)) { return; }
  A[e] = act(A[e]);
}`;
}

/** a[i] += b[i]. Params: 0 n. */
export const ADD = `${PARAMS}${FLAT}
@group(0) @binding(1) var<storage, read_write> A: array<f32>;
@group(0) @binding(2) var<storage, read> Bv: array<f32>;
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let e = flat(wid, nwg, lid);
  if (e >= p(0)) { return; }
  A[e] = A[e] + Bv[e];
}`;

/**
 * Strided row copies. 'f32': dst f32 from src f32, one invocation per element. 'f16': dst f16 words from
 * an f32 (rounded) or f16 source, one invocation per destination word so no two write the same word
 * (a half outside the copied range keeps its old bits).
 * Params: 0 srcOff, 1 dstOff, 2 n, 3 rows, 4 srcStride, 5 count (elements or words), 6 first word.
 */
export function copyRows(kind: 'f32' | 'f32_to_f16' | 'f16_to_f16'): string {
  const srcType = kind === 'f16_to_f16' ? 'u32' : 'f32';
  const dstType = kind === 'f32' ? 'f32' : 'u32';
  const head = `${PARAMS}${FLAT}${F32_TO_F16}
@group(0) @binding(1) var<storage, read> S: array<${srcType}>;
@group(0) @binding(2) var<storage, read_write> D: array<${dstType}>;
fn srcIndex(k: u32) -> u32 { return p(0) + (k / p(2)) * p(4) + k % p(2); }
`;
  if (kind === 'f32') {
    return `${head}
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let k = flat(wid, nwg, lid);
  if (k >= p(5)) { return; }
  D[p(1) + k] = S[srcIndex(k)];
}`;
  }
  const half = kind === 'f32_to_f16' ? 'f32_to_f16(S[s])' : '(S[s >> 1u] >> ((s & 1u) * 16u)) & 0xffffu';
  return `${head}
fn halfAt(k: u32) -> u32 { let s = srcIndex(k); return ${half}; }
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let w = flat(wid, nwg, lid);
  if (w >= p(5)) { return; }
  let word = p(6) + w;
  let start = p(1);
  let end = p(1) + p(2) * p(3);
  var v = D[word];
  let e0 = word * 2u;
  if (e0 >= start && e0 < end) { v = (v & 0xffff0000u) | halfAt(e0 - start); }
  if (e0 + 1u >= start && e0 + 1u < end) { v = (v & 0xffffu) | (halfAt(e0 + 1u - start) << 16u); }
  D[word] = v;
}`;
}

/**
 * Exact causal attention with an online softmax over tiles of 64 keys (no limit on the context), one
 * 64-lane workgroup per (head, query); head_dim up to 256 (4 dims per lane). keyMask: Mask[j] = 0 for
 * padding. Params: 0 t, 1 past, 2 nHead, 3 headDim, 4 scale (f32), 5 qOff, 6 outOff, 7 has mask.
 */
export function attention(cache: 'f32' | 'f16'): string {
  const kv = cache === 'f32' ? 'f32' : 'u32';
  const at = cache === 'f32' ? (buf: string, e: string) => `${buf}[${e}]` : (buf: string, e: string) => `unpack2x16float(${buf}[(${e}) >> 1u])[(${e}) & 1u]`;
  return `${PARAMS}
@group(0) @binding(1) var<storage, read> Q: array<f32>;
@group(0) @binding(2) var<storage, read> K: array<${kv}>;
@group(0) @binding(3) var<storage, read> V: array<${kv}>;
@group(0) @binding(4) var<storage, read> Mask: array<u32>;
@group(0) @binding(5) var<storage, read_write> O: array<f32>;
var<workgroup> qs: array<f32, 256>;
var<workgroup> sc: array<f32, 64>;
var<workgroup> red: array<f32, 64>;
fn kAt(e: u32) -> f32 { return ${at('K', 'e')}; }
fn vAt(e: u32) -> f32 { return ${at('V', 'e')}; }
${workgroupReduce('reduceMax', 64, (a, b) => `max(${a}, ${b})`)}
${workgroupReduce('reduceSum', 64, (a, b) => `${a} + ${b}`)}
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
  let h = wid.x;
  let i = wid.y;
  let hd = p(3);
  let width = p(2) * hd;
  let scale = pf(4);
  let last = p(1) + i;
  let qb = p(5) + i * width + h * hd;
  for (var d = lane; d < hd; d = d + 64u) { qs[d] = Q[qb + d]; }
  workgroupBarrier();
  var m = -3.40282e38;
  var seen = false;
  var l = 0.0;
  var acc: array<f32, 4>;
  for (var c = 0u; c < 4u; c = c + 1u) { acc[c] = 0.0; }
  for (var j0 = 0u; j0 <= last; j0 = j0 + 64u) {
    let j = j0 + lane;
    var s = -3.40282e38;
    var ok = j <= last;
    if (ok && p(7) == 1u) { ok = Mask[j] != 0u; }
    if (ok) {
      let kb = j * width + h * hd;
      var dot = 0.0;
      for (var d = 0u; d < hd; d = d + 1u) { dot = dot + qs[d] * kAt(kb + d); }
      s = dot * scale;
    }
    let anyOk = reduceMax(lane, select(0.0, 1.0, ok)) > 0.0;
    let tmax = reduceMax(lane, s);
    var pj = 0.0;
    var mNew = m;
    if (anyOk) {
      mNew = select(tmax, max(m, tmax), seen);
      if (ok) { pj = exp(s - mNew); }
    }
    sc[lane] = pj;
    let tsum = reduceSum(lane, pj);
    if (anyOk) {
      var f = 0.0;
      if (seen) { f = exp(m - mNew); }
      l = l * f + tsum;
      let n = min(64u, last + 1u - j0);
      for (var c = 0u; c < 4u; c = c + 1u) {
        let d = lane + c * 64u;
        if (d < hd) {
          var a = acc[c] * f;
          for (var jj = 0u; jj < n; jj = jj + 1u) {
            let pv = sc[jj];
            if (pv != 0.0) { a = a + pv * vAt((j0 + jj) * width + h * hd + d); }
          }
          acc[c] = a;
        }
      }
      m = mNew;
      seen = true;
    }
    workgroupBarrier();
  }
  let ob = p(6) + i * width + h * hd;
  for (var c = 0u; c < 4u; c = c + 1u) {
    let d = lane + c * 64u;
    if (d < hd) { O[ob + d] = select(0.0, acc[c] / l, seen && l > 0.0); }
  }
}`;
}

/** Index of each row's maximum (first on ties). One workgroup per row. Params: 0 cols. */
export const ARGMAX = `${PARAMS}
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> Out: array<u32>;
var<workgroup> bv: array<f32, 256>;
var<workgroup> bi: array<u32, 256>;
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x;
  let cols = p(0);
  var best = -3.40282e38;
  var idx = 0xffffffffu;
  for (var i = lid; i < cols; i = i + 256u) {
    let v = X[row * cols + i];
    if (v > best || idx == 0xffffffffu) { best = v; idx = i; }
  }
  bv[lid] = best;
  bi[lid] = idx;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s = s >> 1u) {
    if (lid < s) {
      let ov = bv[lid + s];
      let oi = bi[lid + s];
      if (oi != 0xffffffffu && (bi[lid] == 0xffffffffu || ov > bv[lid] || (ov == bv[lid] && oi < bi[lid]))) { bv[lid] = ov; bi[lid] = oi; }
    }
    workgroupBarrier();
  }
  if (lid == 0u) { Out[row] = bi[0]; }
}`;

/** Reads every word of a buffer (the read-bandwidth probe of the benchmarks). Params: 0 words. */
export const READ_PROBE = `${PARAMS}${FLAT}
@group(0) @binding(1) var<storage, read> S: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read_write> Out: array<u32>;
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let total = nwg.x * nwg.y * 256u;
  var x = vec4<u32>(0u);
  for (var e = flat(wid, nwg, lid); e < p(0) / 4u; e = e + total) { x = x ^ S[e]; }
  if ((x.x ^ x.y ^ x.z ^ x.w) == 0x9e3779b9u) { Out[0] = 1u; }
}`;

/** Fills a weight buffer with pseudo-random words (benchmarks of shapes too big to generate on the host). Params: 0 words, 1 seed, 2 kind (0 bf16/f16 small values, 1 quantized blocks: small f16 scales), 3 qbase. */
export const RANDOM_FILL = `${PARAMS}${FLAT}
@group(0) @binding(1) var<storage, read_write> W: array<u32>;
fn hash(x: u32) -> u32 {
  var h = x * 0x9e3779b1u;
  h = (h ^ (h >> 16u)) * 0x85ebca6bu;
  h = (h ^ (h >> 13u)) * 0xc2b2ae35u;
  return h ^ (h >> 16u);
}
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let e = flat(wid, nwg, lid);
  if (e >= p(0)) { return; }
  let h = hash(e ^ p(1));
  // 16-bit floats of magnitude below 2^-4 with random sign and mantissa (both halves of the word).
  let small = (h & 0x807f807fu) | 0x3c003c00u;
  if (p(2) == 1u && e < p(3)) { W[e] = pack2x16float(vec2<f32>(0.002, 0.002)); return; }
  if (p(2) == 1u) { W[e] = h; return; }
  W[e] = small;
}`;
