/**
 * The reference backend: plain TypeScript, written to be read. It is the executable
 * specification every faster backend is tested against. Weights stay in their storage dtype
 * (bf16/f16 as Uint16Array bits, f32) and are converted one row at a time when computed on;
 * sums accumulate in float64 (JavaScript numbers), results are stored as float32. Q8_0/Q4_0 weights
 * use the integer dot of src/tensor/quant.ts; the other ggml block types (Q4_K, IQ4_NL, ...) that of
 * src/tensor/ggml (quantizeActsFor + dotRowGGML, ggml's vec_dot arithmetic), which is the
 * specification the native and WebGPU kernels for those types follow.
 */
import { FugakuError } from '../errors.js';
import { convertStorage, f32ToF16, toF32, type StorageArray, type StorageDType, DTYPE_BYTES } from '../tensor/dtype.js';
import { ACTIVATIONS, type ActivationName } from '../tensor/activations.js';
import { dequantizeRow, dotQuantRow, isQuantType, quantizeActivations, quantizeMatrix, quantRowBytes, type QuantType } from '../tensor/quant.js';
import { BLOCK_TYPES, blockRowBytes, type GGMLBlockType } from '../tensor/ggml/formats.js';
import { dequantizeRowGGML } from '../tensor/ggml/dequantize.js';
import { quantizeActsFor } from '../tensor/ggml/activations.js';
import { dotRowGGML } from '../tensor/ggml/dot.js';
import { checkTokenIds, isLoadQuantizable, matrixDims, type AttentionArgs, type Backend, type Matrix, type MatrixFormat, type MatrixLayout, type Tensor, type WeightTensor } from './backend.js';
import { HostBackend } from './host.js';

interface FloatMatrix extends Matrix {
  readonly kind: 'float';
  readonly layout: MatrixLayout;
  readonly dtype: StorageDType;
  readonly data: StorageArray;
  readonly f16Table: Float32Array | undefined;
}

/** Q8_0/Q4_0 blocks, always [out][in]. */
interface QuantMatrix extends Matrix {
  readonly kind: 'quant';
  readonly dtype: QuantType;
  readonly data: Uint8Array;
  readonly rowBytes: number;
}

/** Any other ggml block type (Q4_K, Q6_K, IQ4_NL, ...) as GGUF stores it, [out][in]. */
interface GGMLMatrix extends Matrix {
  readonly kind: 'ggml';
  readonly dtype: GGMLBlockType;
  readonly data: Uint8Array;
  readonly rowBytes: number;
}

type RefMatrix = FloatMatrix | QuantMatrix | GGMLMatrix;

/** Σ x[xb + i] · w[wb + i] for i < n, in float64 (four partial sums, so JIT-compiled code pipelines). */
function dot(x: Float32Array, xb: number, w: Float32Array, wb: number, n: number): number {
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  let i = 0;
  for (; i + 3 < n; i += 4) {
    s0 += x[xb + i] * w[wb + i];
    s1 += x[xb + i + 1] * w[wb + i + 1];
    s2 += x[xb + i + 2] * w[wb + i + 2];
    s3 += x[xb + i + 3] * w[wb + i + 3];
  }
  for (; i < n; i++) s0 += x[xb + i] * w[wb + i];
  return s0 + s1 + s2 + s3;
}

// Weights are converted to float32 a block of BLOCK rows at a time (bf16/f16 stay 16-bit in
// memory); each block is then used for every input row while it is still in cache.
const BLOCK = 32;

/** W is [in, out] (Conv1D): acc[r, :] += x[r, i] · W[i, :] for every input feature i. */
function matmulInOut(m: FloatMatrix, x: Float32Array, rows: number, acc: Float64Array): void {
  const { inDim, outDim } = m;
  const blk = new Float32Array(BLOCK * outDim);
  for (let i0 = 0; i0 < inDim; i0 += BLOCK) {
    const n = Math.min(BLOCK, inDim - i0);
    toF32(m.dtype, m.data, i0 * outDim, n * outDim, blk, 0, m.f16Table);
    for (let r = 0; r < rows; r++) {
      for (let ii = 0; ii < n; ii++) {
        const xi = x[r * inDim + i0 + ii];
        if (xi !== 0) axpy(acc, r * outDim, xi, blk, ii * outDim, outDim);
      }
    }
  }
}

/** W is [out, in] (nn.Linear, embedding as LM head): acc[r, o] = x[r, :] · W[o, :]. */
function matmulOutIn(m: FloatMatrix, x: Float32Array, rows: number, acc: Float64Array): void {
  const { inDim, outDim } = m;
  const blk = new Float32Array(BLOCK * inDim);
  for (let o0 = 0; o0 < outDim; o0 += BLOCK) {
    const n = Math.min(BLOCK, outDim - o0);
    toF32(m.dtype, m.data, o0 * inDim, n * inDim, blk, 0, m.f16Table);
    for (let r = 0; r < rows; r++) {
      for (let oo = 0; oo < n; oo++) acc[r * outDim + o0 + oo] = dot(x, r * inDim, blk, oo * inDim, inDim);
    }
  }
}

/**
 * Quantized W [out][in]: activations are quantized to int8 blocks (see quantizeActivations) and each
 * block's integer dot product is scaled by both block scales — the arithmetic the fast kernels do.
 */
function matmulQuant(m: QuantMatrix, x: Float32Array, rows: number, acc: Float64Array): void {
  const { inDim, outDim } = m;
  const xq = quantizeActivations(x, rows, inDim);
  const blocksPerRow = inDim / 32;
  for (let o = 0; o < outDim; o++) {
    for (let r = 0; r < rows; r++) acc[r * outDim + o] = dotQuantRow(m.dtype, m.data, o * m.rowBytes, xq.q, xq.d, r * blocksPerRow, inDim);
  }
}

/** ggml block W [out][in]: activations quantized to the type's vec_dot_type, then ggml's integer dot per row. */
function matmulGGML(m: GGMLMatrix, x: Float32Array, rows: number, acc: Float64Array): void {
  const { inDim, outDim } = m;
  const acts = quantizeActsFor(BLOCK_TYPES[m.dtype].act, x, rows, inDim);
  for (let o = 0; o < outDim; o++) {
    for (let r = 0; r < rows; r++) acc[r * outDim + o] = dotRowGGML(m.dtype, m.data, o * m.rowBytes, acts, r, inDim);
  }
}

/** y[yb + i] += a · w[wb + i] for i < n. */
function axpy(y: Float64Array, yb: number, a: number, w: Float32Array, wb: number, n: number): void {
  for (let i = 0; i < n; i++) y[yb + i] += a * w[wb + i];
}

export class ReferenceBackend extends HostBackend implements Backend {
  readonly name = 'reference';
  readonly weightMemory: 'host' | 'device' = 'host';

  loadMatrix(w: WeightTensor, layout: MatrixLayout, format?: MatrixFormat): Matrix {
    const { inDim, outDim, target } = matrixDims(this.name, w, layout, format);
    if (isQuantType(w.dtype)) {
      if (layout !== 'out_in') throw new FugakuError('INTERNAL', 'quantized weights are stored [out, in]');
      if (target === w.dtype) return this.quantMatrix(w.dtype, w.data as Uint8Array, inDim, outDim);
      // Another format was asked for: dequantize, then convert below.
      const f = new Float32Array(inDim * outDim);
      for (let o = 0; o < outDim; o++) dequantizeRow(w.dtype, w.data as Uint8Array, o * quantRowBytes(w.dtype, inDim), inDim, f, o * inDim);
      return this.loadMatrix({ dtype: 'F32', shape: w.shape, data: f }, layout, target);
    }
    if (w.dtype !== 'F32' && w.dtype !== 'BF16' && w.dtype !== 'F16') {
      // Another ggml block type: computed on as stored, or dequantized for a float format.
      if (layout !== 'out_in') throw new FugakuError('INTERNAL', 'quantized weights are stored [out, in]');
      const rowBytes = blockRowBytes(w.dtype, inDim);
      const data = w.data as Uint8Array;
      if (data.length !== rowBytes * outDim) {
        throw new FugakuError('TENSOR_SHAPE_MISMATCH', `${w.dtype} matrix [${outDim}, ${inDim}] needs ${rowBytes * outDim} bytes, got ${data.length}`, 'the file is corrupt; convert it again');
      }
      if (target === w.dtype) {
        const m: GGMLMatrix = { kind: 'ggml', backend: this.name, dtype: w.dtype, data, inDim, outDim, rowBytes, format: w.dtype, byteSize: data.length };
        return m;
      }
      if (target !== 'F32' && target !== 'BF16' && target !== 'F16') {
        throw new FugakuError('DTYPE_UNSUPPORTED', `a ${w.dtype} weight cannot be converted to ${target}`, `load it as ${w.dtype.toLowerCase()} (the format it is stored in), or as f32`);
      }
      const f = new Float32Array(inDim * outDim);
      for (let o = 0; o < outDim; o++) dequantizeRowGGML(w.dtype, data, o * rowBytes, inDim, f, o * inDim);
      return this.loadMatrix({ dtype: 'F32', shape: w.shape, data: f }, layout, target);
    }
    const src = w.data as StorageArray;
    if (target !== 'F32' && target !== 'BF16' && target !== 'F16' && !isLoadQuantizable(target)) {
      throw new FugakuError('DTYPE_UNSUPPORTED', `${w.dtype} weights cannot be quantized to ${target} while loading`, 'quantize the checkpoint with `fugaku convert`, or load it as q8_0/q4_0/f16/bf16/f32');
    }
    if (isQuantType(target)) {
      const f = convertStorage(w.dtype, src, 'F32') as Float32Array;
      return this.quantMatrix(target, quantizeMatrix(target, f, inDim, outDim, layout === 'in_out'), inDim, outDim);
    }
    const dtype = target;
    const data = dtype === w.dtype ? src : convertStorage(w.dtype, src, dtype);
    const m: FloatMatrix = {
      kind: 'float',
      backend: this.name,
      layout,
      dtype,
      data,
      inDim,
      outDim,
      format: dtype,
      byteSize: data.length * DTYPE_BYTES[dtype],
      f16Table: dtype === 'F16' ? this.f16Table() : undefined,
    };
    return m;
  }

  private quantMatrix(dtype: QuantType, data: Uint8Array, inDim: number, outDim: number): QuantMatrix {
    const rowBytes = quantRowBytes(dtype, inDim);
    if (data.length !== rowBytes * outDim) {
      throw new FugakuError('TENSOR_SHAPE_MISMATCH', `${dtype} matrix [${outDim}, ${inDim}] needs ${rowBytes * outDim} bytes, got ${data.length}`, 'the file is corrupt; convert it again');
    }
    return { kind: 'quant', backend: this.name, dtype, data, inDim, outDim, rowBytes, format: dtype, byteSize: data.length };
  }

  private own(w: Matrix): RefMatrix {
    if (w.backend !== this.name) throw new FugakuError('INTERNAL', `matrix belongs to backend ${w.backend}, not ${this.name}`);
    return w as RefMatrix;
  }

  matmul(xt: Tensor, rows: number, w: Matrix, biasT: Tensor | null, outT: Tensor): void {
    const m = this.own(w);
    const x = this.f32(xt);
    const bias = biasT === null ? null : this.f32(biasT);
    const out = this.f32(outT);
    const acc = new Float64Array(rows * m.outDim);
    if (m.kind === 'quant') matmulQuant(m, x, rows, acc);
    else if (m.kind === 'ggml') matmulGGML(m, x, rows, acc);
    else if (m.layout === 'in_out') matmulInOut(m, x, rows, acc);
    else matmulOutIn(m, x, rows, acc);
    const outDim = m.outDim;
    for (let r = 0; r < rows; r++) {
      for (let o = 0; o < outDim; o++) out[r * outDim + o] = acc[r * outDim + o] + (bias !== null ? bias[o] : 0);
    }
  }

  embedding(w: Matrix, ids: Int32Array, outT: Tensor): void {
    const m = this.own(w);
    const out = this.f32(outT);
    if (m.kind === 'float' && m.layout !== 'out_in') throw new FugakuError('INTERNAL', 'embedding needs an out_in matrix');
    checkTokenIds(ids, m.outDim);
    for (let t = 0; t < ids.length; t++) {
      const id = ids[t];
      if (m.kind === 'quant') dequantizeRow(m.dtype, m.data, id * m.rowBytes, m.inDim, out, t * m.inDim);
      else if (m.kind === 'ggml') dequantizeRowGGML(m.dtype, m.data, id * m.rowBytes, m.inDim, out, t * m.inDim);
      else toF32(m.dtype, m.data, id * m.inDim, m.inDim, out, t * m.inDim, m.f16Table);
    }
  }

  layerNorm(xt: Tensor, rows: number, dim: number, gammaT: Tensor, betaT: Tensor, eps: number, outT: Tensor): void {
    const [x, gamma, beta, out] = [this.f32(xt), this.f32(gammaT), this.f32(betaT), this.f32(outT)];
    for (let r = 0; r < rows; r++) {
      const b = r * dim;
      let mean = 0;
      for (let i = 0; i < dim; i++) mean += x[b + i];
      mean /= dim;
      let v = 0;
      for (let i = 0; i < dim; i++) {
        const d = x[b + i] - mean;
        v += d * d;
      }
      const inv = 1 / Math.sqrt(v / dim + eps);
      for (let i = 0; i < dim; i++) out[b + i] = (x[b + i] - mean) * inv * gamma[i] + beta[i];
    }
  }

  activation(name: ActivationName, xt: Tensor, n: number): void {
    const x = this.f32(xt);
    const f = ACTIVATIONS[name];
    for (let i = 0; i < n; i++) x[i] = f(x[i]);
  }

  attention(a: AttentionArgs): void {
    const { t, past, nHead, headDim, scale, keyMask } = a;
    const width = nHead * headDim;
    const q = this.f32(a.q).subarray(a.qOffset, a.qOffset + t * width);
    const out = this.f32(a.out).subarray(a.outOffset, a.outOffset + t * width);
    // f16 caches are read through the f16 → f32 table.
    const kc = this.host(a.kCache);
    const vc = this.host(a.vCache);
    const kCache = kc instanceof Uint16Array ? this.f16View(kc, (past + t) * width) : kc;
    const vCache = vc instanceof Uint16Array ? this.f16View(vc, (past + t) * width) : vc;
    const scores = new Float64Array(past + t);
    for (let i = 0; i < t; i++) {
      const last = past + i; // causal: keys 0..last
      for (let h = 0; h < nHead; h++) {
        const qb = i * width + h * headDim;
        let max = -Infinity;
        for (let j = 0; j <= last; j++) {
          if (keyMask !== null && keyMask[j] === 0) {
            scores[j] = -Infinity;
            continue;
          }
          const kb = j * width + h * headDim;
          let s = 0;
          for (let d = 0; d < headDim; d++) s += q[qb + d] * kCache[kb + d];
          s *= scale;
          scores[j] = s;
          if (s > max) max = s;
        }
        const ob = i * width + h * headDim;
        for (let d = 0; d < headDim; d++) out[ob + d] = 0;
        if (max === -Infinity) continue; // every key is padding: this query's output is unused
        let sum = 0;
        for (let j = 0; j <= last; j++) {
          const e = scores[j] === -Infinity ? 0 : Math.exp(scores[j] - max);
          scores[j] = e;
          sum += e;
        }
        const acc = new Float64Array(headDim);
        for (let j = 0; j <= last; j++) {
          const p = scores[j] / sum;
          if (p === 0) continue;
          const vb = j * width + h * headDim;
          for (let d = 0; d < headDim; d++) acc[d] += p * vCache[vb + d];
        }
        for (let d = 0; d < headDim; d++) out[ob + d] = acc[d];
      }
    }
  }

  private f16View(bits: Uint16Array, n: number): Float32Array {
    const out = new Float32Array(n);
    const table = this.f16Table();
    for (let i = 0; i < n; i++) out[i] = table[bits[i]];
    return out;
  }

  copyRows(srcT: Tensor, srcOff: number, dstT: Tensor, dstOff: number, n: number, rows = 1, srcStride = n): void {
    const src = this.host(srcT);
    const dst = this.host(dstT);
    if (src instanceof Uint16Array) return this.copyHalfRows(src, srcOff, dst, dstOff, n, rows, srcStride);
    for (let r = 0; r < rows; r++) {
      const s = srcOff + r * srcStride;
      const d = dstOff + r * n;
      if (dst instanceof Float32Array) dst.set(src.subarray(s, s + n), d);
      else for (let i = 0; i < n; i++) dst[d + i] = f32ToF16(src[s + i]);
    }
  }

  addInPlace(at: Tensor, bt: Tensor, n: number): void {
    const a = this.f32(at);
    const b = this.f32(bt);
    for (let i = 0; i < n; i++) a[i] += b[i];
  }
}
