/**
 * llama.cpp's importance matrix (tools/imatrix/imatrix.cpp, llama-imatrix), computed by this runtime:
 * for every weight matrix that multiplies activations, per input column j, the sum over all tokens of
 * x_j² ("in_sum2") and the number of tokens ("counts"), keyed by the matrix's GGUF tensor name.
 *
 * Chunking mirrors llama-imatrix: the token ids are cut into chunks of `chunkSize` tokens (a partial
 * last chunk is dropped; `maxChunks` keeps the first N); each chunk is one sequence evaluated from an
 * empty cache, and the activations of EVERY token of the chunk count (llama-imatrix scores perplexity on
 * the second half only; the imatrix uses all tokens). Recorded, as llama-imatrix records them: the
 * matrices named `blk.*` (attn_qkv, attn_output, ffn_up, ffn_down), and `output.weight` only with
 * `processOutput` and an untied head (a tied head is `token_embd.weight`, which llama-imatrix never
 * records). Sums accumulate in float64 (llama.cpp: float32) and are written as float32.
 */
import { FugakuError } from '../errors.js';
import type { Matrix } from '../backend/backend.js';
import { GPT2Model } from '../model/gpt2.js';
import { ggufNameOf } from '../io/gguf-names.js';
import { ObservingBackend } from './imatrix-observer.js';

export interface ImatrixEntry {
  /** Σ over tokens of x_j², per input column j. */
  inSum2: Float64Array;
  /** Tokens accumulated. */
  count: number;
}

export interface ImatrixResult {
  /** GGUF tensor name → entry, sorted by name (llama-imatrix's order). */
  entries: Map<string, ImatrixEntry>;
  chunkSize: number;
  /** Chunks evaluated. */
  chunkCount: number;
}

export interface ImatrixOptions {
  /** Tokens per chunk (llama-imatrix -c; default 512). */
  chunkSize?: number;
  /** Evaluate at most this many chunks (llama-imatrix --chunks; default all). */
  maxChunks?: number;
  /** Also record output.weight (llama-imatrix --process-output; only an untied head has that name). */
  processOutput?: boolean;
  /** Called once with the number of chunks before the first is evaluated. */
  onStart?: (chunks: number) => void;
  /** Called after each chunk. */
  onProgress?: (done: number, total: number) => void;
}

/** The GGUF name of every matrix of the model (the tied head is token_embd.weight, as in llama.cpp). */
export function matrixNames(model: GPT2Model): Map<Matrix, string> {
  const w = model.weights;
  const names = new Map<Matrix, string>();
  const put = (m: Matrix, hf: string) => {
    if (!names.has(m)) names.set(m, ggufNameOf(hf)!);
  };
  put(w.wte, 'wte.weight');
  put(w.wpe, 'wpe.weight');
  w.blocks.forEach((b, l) => {
    put(b.attnQKV, `h.${l}.attn.c_attn.weight`);
    put(b.attnProj, `h.${l}.attn.c_proj.weight`);
    put(b.mlpFc, `h.${l}.mlp.c_fc.weight`);
    put(b.mlpProj, `h.${l}.mlp.c_proj.weight`);
  });
  put(w.lmHead, 'lm_head.weight');
  return names;
}

/** Whether llama-imatrix records a matrix of this name (its collect_imatrix filter). */
export function isRecorded(name: string, processOutput: boolean): boolean {
  return name.startsWith('blk.') || (processOutput && name === 'output.weight');
}

export async function computeImatrix(model: GPT2Model, ids: ArrayLike<number>, opts: ImatrixOptions = {}): Promise<ImatrixResult> {
  const chunkSize = opts.chunkSize ?? 512;
  const nPos = model.config.nPositions;
  if (!Number.isInteger(chunkSize) || chunkSize < 1 || chunkSize > nPos) {
    throw new FugakuError('INVALID_ARGUMENT', `chunk size ${chunkSize} must be an integer in 1..${nPos} (the model's n_positions)`, 'pass a smaller --chunk-size');
  }
  const available = Math.floor(ids.length / chunkSize);
  if (available === 0) {
    throw new FugakuError('INVALID_ARGUMENT', `the text tokenizes to ${ids.length} tokens, fewer than one chunk of ${chunkSize}`, `use a longer text (at least ${chunkSize} tokens) or a smaller --chunk-size`);
  }
  if (opts.maxChunks !== undefined && (!Number.isInteger(opts.maxChunks) || opts.maxChunks < 1)) {
    throw new FugakuError('INVALID_ARGUMENT', `chunks ${opts.maxChunks} must be a positive integer`, 'pass --chunks N with N >= 1');
  }
  const chunkCount = Math.min(available, opts.maxChunks ?? available);
  const processOutput = opts.processOutput ?? false;
  const names = matrixNames(model);
  const acc = new Map<string, ImatrixEntry>();
  const observed = new ObservingBackend(model.backend, (w, x, rows) => {
    const name = names.get(w);
    if (name === undefined || !isRecorded(name, processOutput)) return;
    const n = w.inDim;
    let e = acc.get(name);
    if (e === undefined) {
      e = { inSum2: new Float64Array(n), count: 0 };
      acc.set(name, e);
    }
    const s = e.inSum2;
    for (let r = 0; r < rows; r++) {
      const b = r * n;
      for (let j = 0; j < n; j++) s[j] += x[b + j] * x[b + j];
    }
    e.count += rows;
  });
  // The same weights, computed through the observing decorator (tensors keep the inner backend's name).
  const m = new GPT2Model(model.config, model.weights, observed, model.kvCacheDtype);
  const wantHead = processOutput && names.get(model.weights.lmHead) === 'output.weight';
  const arr = Array.from(ids);
  opts.onStart?.(chunkCount);
  for (let c = 0; c < chunkCount; c++) {
    const cache = m.newCache(chunkSize);
    try {
      await m.forward(arr.slice(c * chunkSize, (c + 1) * chunkSize), cache, { logits: wantHead ? 'all' : 'none' });
    } finally {
      cache.free();
    }
    opts.onProgress?.(c + 1, chunkCount);
  }
  const entries = new Map([...acc].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return { entries, chunkSize, chunkCount };
}
