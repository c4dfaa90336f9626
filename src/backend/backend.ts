/**
 * The one small interface every compute backend implements. The model code (src/model) calls
 * only these ops; the plain-TypeScript reference backend (./reference.ts) is their specification,
 * and every faster backend must pass the same op-level and model-level tests against it.
 *
 * Conventions: a backend owns its data. A "matrix" is a weight held in whatever format the backend
 * likes (bf16 bits, f32, quantized blocks...); a Tensor is a buffer of activations (float32, row-major)
 * or KV cache rows (f32 or f16). Outputs are written into caller-allocated tensors so the model controls
 * allocation, and only `read`/`argmax` bring numbers back to the host, asynchronously.
 */
import { FugakuError } from '../errors.js';
import type { StorageArray, StorageDType } from '../tensor/dtype.js';
import { GGML_BLOCK_TYPE_NAMES, blockRowBytes, isGGMLBlockType, type GGMLBlockType } from '../tensor/ggml/formats.js';
import type { ActivationName } from '../tensor/activations.js';

/**
 * Formats a backend may hold a matrix in: float storage or one of ggml's block quantizations
 * (src/tensor/ggml/formats.ts: Q8_0 and Q4_0, which every backend can also quantize to at load time,
 * and the other GGUF block types Q4_1..IQ1_M, which are only ever loaded as stored).
 */
export type MatrixFormat = StorageDType | GGMLBlockType;
export const MATRIX_FORMATS: readonly MatrixFormat[] = ['F32', 'BF16', 'F16', ...GGML_BLOCK_TYPE_NAMES];

/** Block formats every backend can quantize float weights to while loading (`--dtype q8_0|q4_0`). */
export function isLoadQuantizable(f: MatrixFormat): f is 'Q8_0' | 'Q4_0' {
  return f === 'Q8_0' || f === 'Q4_0';
}

/** The typed error a backend raises for a block format it does not compute on (yet). */
export function blockFormatUnsupported(backend: string, f: MatrixFormat): FugakuError {
  return new FugakuError('DTYPE_UNSUPPORTED', `the ${backend} backend cannot compute on ${f} weights`, 'use the reference backend (--backend reference) for this model, or a GGUF quantized with q8_0/q4_0');
}

/**
 * A weight as read from a checkpoint: raw storage, not yet computed on. Quantized weights (from a
 * GGUF file) are bytes of ggml blocks (any GGMLBlockType), shape [out, in], layout 'out_in', each
 * row inDim / blockSize blocks.
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

/** Element type of a backend tensor: float32, or IEEE half bits (KV caches with --kv-cache-dtype f16). */
export type TensorDType = 'f32' | 'f16';

/**
 * A buffer of numbers that a backend owns: activations, the residual stream, KV cache rows, LayerNorm
 * weights and biases. Opaque: only the backend that made it computes on it, and its contents reach
 * the host only through `Backend.read` (the CPU backends back it with a typed array at no cost; the
 * WebGPU backend with a GPU buffer). Offsets and lengths are in elements.
 */
export interface Tensor {
  readonly backend: string;
  readonly dtype: TensorDType;
  /** Number of elements. */
  readonly length: number;
}

export interface AttentionArgs {
  /** Queries for `t` new tokens: rows [t, nHead·headDim] of `q` from element `qOffset`. */
  readonly q: Tensor;
  readonly qOffset: number;
  readonly t: number;
  /** Key and value cache rows [capacity, nHead·headDim] (f32 or f16); rows [0, past + t) are filled. */
  readonly kCache: Tensor;
  readonly vCache: Tensor;
  /** Number of cached positions before the new tokens; query i sits at position past + i. */
  readonly past: number;
  readonly nHead: number;
  readonly headDim: number;
  /** Multiplier applied to q·k (1/√headDim, possibly /(layer+1)). */
  readonly scale: number;
  /** Per cached position: 1 = may be attended to, 0 = padding (HF attention_mask). null = all 1. */
  readonly keyMask: Uint8Array | null;
  /** Output rows [t, nHead·headDim] of `out` from element `outOffset`. */
  readonly out: Tensor;
  readonly outOffset: number;
}

/**
 * Ops are queued in call order and may run later (a GPU backend records them into command buffers);
 * every op sees the results of the ops queued before it. Data leaves the backend only through `read`
 * and `argmax`, which are async and resolve with the values as of the call: ops queued after the call
 * do not change what it returns.
 */
export interface Backend {
  readonly name: string;
  /**
   * Where the weights live: 'host' (the CPU backends; the loader refuses weights larger than the machine's
   * memory up front) or 'device' (GPU memory: host memory only streams them, one tensor at a time).
   */
  readonly weightMemory: 'host' | 'device';
  /** Takes a checkpoint weight and returns the backend's matrix for it, converted to `format` (default: as stored). */
  loadMatrix(w: WeightTensor, layout: MatrixLayout, format?: MatrixFormat): Matrix;
  /** A new zero-filled tensor of `n` elements. */
  alloc(n: number, dtype?: TensorDType): Tensor;
  /** Copies host floats into t[offset, offset + data.length) (rounded to nearest-even f16 for an f16 tensor). */
  write(t: Tensor, data: Float32Array, offset?: number): void;
  /** t[offset, offset + n) on the host (default: all of it), after every op queued before this call. */
  read(t: Tensor, offset?: number, n?: number): Promise<Float32Array>;
  /** The index of the largest value of each of `rows` rows of `cols` floats of x (the first one on ties). */
  argmax(x: Tensor, rows: number, cols: number): Promise<Int32Array>;
  /** Gives the tensor's memory back now (GPU memory; the CPU backends leave it to the garbage collector). */
  free(t: Tensor): void;
  /** out[r, :] = x[r, :] · W (+ bias) for r < rows. x is [rows, inDim], out is [rows, outDim]. */
  matmul(x: Tensor, rows: number, w: Matrix, bias: Tensor | null, out: Tensor): void;
  /** Copies embedding rows (ids index the matrix's outDim axis of an 'out_in' matrix) into out [ids.length, inDim]. */
  embedding(w: Matrix, ids: Int32Array, out: Tensor): void;
  /** LayerNorm over the last axis (biased variance, like torch). */
  layerNorm(x: Tensor, rows: number, dim: number, gamma: Tensor, beta: Tensor, eps: number, out: Tensor): void;
  /** Applies the activation to x[0..n) in place. */
  activation(name: ActivationName, x: Tensor, n: number): void;
  /** Causal multi-head attention of new queries over the cache (exact softmax). */
  attention(args: AttentionArgs): void;
  /**
   * dst[dstOff + r·n + i] = src[srcOff + r·srcStride + i] for i < n, r < rows (default 1 row; srcStride
   * default n), rounded to f16 when dst is f16 (an f16 src needs an f16 dst): KV cache stores, splitting
   * the fused QKV rows, gathering the rows whose logits are wanted, copying a cache.
   */
  copyRows(src: Tensor, srcOff: number, dst: Tensor, dstOff: number, n: number, rows?: number, srcStride?: number): void;
  /** a[i] += b[i] for i < n (residual connections). */
  addInPlace(a: Tensor, b: Tensor, n: number): void;
}

/**
 * The dimensions of a checkpoint weight as a matrix (inDim, outDim) and the format asked for, after the
 * checks every backend makes: 2-D, and rows of whole blocks (32 or 256 values) for the block formats.
 */
export function matrixDims(backend: string, w: WeightTensor, layout: MatrixLayout, format?: MatrixFormat): { inDim: number; outDim: number; target: MatrixFormat } {
  if (w.shape.length !== 2) throw new FugakuError('INTERNAL', `${backend} backend: matrix must be 2-D, got shape [${w.shape.join(', ')}]`);
  const [a, b] = w.shape as [number, number];
  const inDim = layout === 'in_out' ? a : b;
  const outDim = layout === 'in_out' ? b : a;
  const target = format ?? w.dtype;
  if (isGGMLBlockType(target)) blockRowBytes(target, inDim); // rows of whole blocks
  return { inDim, outDim, target };
}

/** Throws unless t[offset, offset + n) lies inside a tensor of `length` elements. */
export function checkRange(what: string, offset: number, n: number, length: number): void {
  if (!Number.isInteger(offset) || !Number.isInteger(n) || offset < 0 || n < 0 || offset + n > length) {
    throw new FugakuError('INVALID_ARGUMENT', `${what}: elements [${offset}, ${offset + n}) are outside the tensor's ${length}`, 'pass an offset and length inside the tensor');
  }
}

/** Throws TOKEN_ID_OUT_OF_RANGE unless every id indexes one of the `rows` rows of an embedding table. */
export function checkTokenIds(ids: Int32Array, rows: number): void {
  for (const id of ids) {
    if (id < 0 || id >= rows) {
      throw new FugakuError('TOKEN_ID_OUT_OF_RANGE', `token id ${id} is outside the embedding table (0..${rows - 1})`, 'check the input ids against the model vocabulary');
    }
  }
}

/** A new tensor holding a copy of host floats. */
export function tensorFrom(be: Backend, data: Float32Array): Tensor {
  const t = be.alloc(data.length);
  be.write(t, data);
  return t;
}
