/**
 * The one small interface every compute backend implements. The model code (src/model) calls
 * only these ops; the plain-TypeScript reference backend (./reference.ts) is their specification,
 * and every faster backend must pass the same op-level and model-level tests against it.
 *
 * Conventions: activations are float32, row-major; a "matrix" is a weight the backend owns in
 * whatever format it likes (bf16 bits, f32, quantized blocks...). Outputs are written into
 * caller-provided arrays so the model controls allocation.
 */
import type { StorageArray, StorageDType } from '../tensor/dtype.js';
import type { QuantType } from '../tensor/quant.js';
import type { ActivationName } from '../tensor/activations.js';

/** Formats a backend may hold a matrix in: float storage or ggml-compatible block quantization. */
export type MatrixFormat = StorageDType | QuantType;
export const MATRIX_FORMATS: readonly MatrixFormat[] = ['F32', 'BF16', 'F16', 'Q8_0', 'Q4_0'];

/**
 * A weight as read from a checkpoint: raw storage, not yet computed on. Quantized weights (from a
 * GGUF file) are bytes of Q8_0/Q4_0 blocks, shape [out, in], layout 'out_in'.
 */
export interface WeightTensor {
  readonly dtype: MatrixFormat;
  readonly shape: readonly number[];
  readonly data: StorageArray | Uint8Array;
}

/**
 * How a 2-D weight is laid out in the checkpoint:
 * - 'in_out': GPT-2 Conv1D, shape [in, out], y = x·W
 * - 'out_in': nn.Linear / embedding table, shape [out, in], y = x·Wᵀ (the tied LM head)
 */
export type MatrixLayout = 'in_out' | 'out_in';

/** A weight matrix prepared by a backend. Only the backend that made it may use it. */
export interface Matrix {
  readonly backend: string;
  readonly inDim: number;
  readonly outDim: number;
  /** The format it is stored in by the backend (e.g. 'BF16', 'F32'). */
  readonly format: string;
  /** Bytes held for this matrix. */
  readonly byteSize: number;
}

export interface AttentionArgs {
  /** Queries for `t` new tokens, [t, nHead·headDim]. */
  readonly q: Float32Array;
  readonly t: number;
  /** Key and value cache rows [capacity, nHead·headDim] (float32 or f16 bits); rows [0, past + t) are filled. */
  readonly kCache: Float32Array | Uint16Array;
  readonly vCache: Float32Array | Uint16Array;
  /** Number of cached positions before the new tokens; query i sits at position past + i. */
  readonly past: number;
  readonly nHead: number;
  readonly headDim: number;
  /** Multiplier applied to q·k (1/√headDim, possibly /(layer+1)). */
  readonly scale: number;
  /** Per cached position: 1 = may be attended to, 0 = padding (HF attention_mask). null = all 1. */
  readonly keyMask: Uint8Array | null;
  /** Output [t, nHead·headDim]. */
  readonly out: Float32Array;
}

export interface Backend {
  readonly name: string;
  /** Takes a checkpoint weight and returns the backend's matrix for it, converted to `format` (default: as stored). */
  loadMatrix(w: WeightTensor, layout: MatrixLayout, format?: MatrixFormat): Matrix;
  /** out[r, :] = x[r, :] · W (+ bias) for r < rows. x is [rows, inDim], out is [rows, outDim]. */
  matmul(x: Float32Array, rows: number, w: Matrix, bias: Float32Array | null, out: Float32Array): void;
  /** Copies embedding rows (ids index the matrix's outDim axis of an 'out_in' matrix) into out [ids.length, inDim]. */
  embedding(w: Matrix, ids: ArrayLike<number>, out: Float32Array): void;
  /** LayerNorm over the last axis (biased variance, like torch). */
  layerNorm(x: Float32Array, rows: number, dim: number, gamma: Float32Array, beta: Float32Array, eps: number, out: Float32Array): void;
  /** Applies the activation to x[0..n) in place. */
  activation(name: ActivationName, x: Float32Array, n: number): void;
  /** Causal multi-head attention of new queries over the cache (exact softmax). */
  attention(args: AttentionArgs): void;
  /**
   * dst[dstOff + r·n + i] = src[srcOff + r·srcStride + i] for i < n, r < rows (default 1 row; srcStride
   * default n), rounded to f16 when dst holds f16 bits: KV cache stores, and splitting the fused QKV rows.
   */
  storeKV(src: Float32Array, srcOff: number, dst: Float32Array | Uint16Array, dstOff: number, n: number, rows?: number, srcStride?: number): void;
  /** a[i] += b[i] for i < n (residual connections). */
  addInPlace(a: Float32Array, b: Float32Array, n: number): void;
}
