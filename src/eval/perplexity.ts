/**
 * Causal-LM loss and perplexity with Hugging Face's definitions:
 *  - loss of one window = mean cross-entropy of predicting token i from tokens < i, i = 1..n-1
 *    (`model(ids, labels=ids).loss`);
 *  - texts longer than the context use HF's strided sliding window ("Perplexity of fixed-length
 *    models"): windows of `maxLength` tokens starting every `stride` tokens; in each window only the
 *    tokens not scored by the previous window count, and the first token of a window is never a
 *    target. With stride = maxLength the windows do not overlap. The total is token-weighted.
 */
import { FugakuError } from '../errors.js';
import type { GPT2Model } from '../model/gpt2.js';

export interface LossResult {
  /** Number of predicted tokens the mean is over. */
  predicted: number;
  /** Sum of the negative log-likelihoods (nats). */
  nllSum: number;
}

/** Negative log-likelihood of `targets[i]` under logits row i, in float64. */
function nll(logits: Float32Array, row: number, vocab: number, target: number): number {
  const b = row * vocab;
  let max = -Infinity;
  for (let v = 0; v < vocab; v++) if (logits[b + v] > max) max = logits[b + v];
  let sum = 0;
  for (let v = 0; v < vocab; v++) sum += Math.exp(logits[b + v] - max);
  return Math.log(sum) + max - logits[b + target];
}

/**
 * NLL of the ids of one window, scoring only the last `scored` targets (default all n-1).
 */
export async function windowLoss(model: GPT2Model, ids: ArrayLike<number>, scored = ids.length - 1): Promise<LossResult> {
  if (ids.length < 2) return { predicted: 0, nllSum: 0 };
  const cache = model.newCache(ids.length);
  try {
    const logits = await model.forward(ids, cache, { logits: 'all' });
    return lossFromLogits(logits, model.config.vocabSize, ids, scored);
  } finally {
    cache.free();
  }
}

/** NLL from logits [n, vocab] of `ids` (row i predicts ids[i + 1]); scores the last `scored` targets. */
export function lossFromLogits(logits: Float32Array, vocab: number, ids: ArrayLike<number>, scored = ids.length - 1): LossResult {
  let nllSum = 0;
  const first = ids.length - 1 - Math.min(scored, ids.length - 1);
  for (let i = first; i < ids.length - 1; i++) nllSum += nll(logits, i, vocab, ids[i + 1]);
  return { predicted: ids.length - 1 - first, nllSum };
}

/** HF loss of a single sequence that fits the context: mean NLL over positions 1..n-1. */
export async function causalLMLoss(model: GPT2Model, ids: ArrayLike<number>): Promise<number> {
  if (ids.length > model.config.nPositions) {
    throw new FugakuError('CONTEXT_OVERFLOW', `${ids.length} tokens exceed the context of ${model.config.nPositions}`, 'use perplexity() for long texts');
  }
  const r = await windowLoss(model, ids);
  return r.nllSum / r.predicted;
}

export interface PerplexityOptions {
  /** Window length (default and maximum: n_positions). */
  maxLength?: number;
  /** Step between window starts (default: maxLength, i.e. non-overlapping windows). */
  stride?: number;
  /** Called after each window with tokens scored so far and the total. */
  onProgress?: (done: number, total: number) => void;
}

export interface PerplexityResult {
  tokens: number;
  predicted: number;
  /** Sum of the NLLs of the predicted tokens (nats): loss = nllSum / predicted. */
  nllSum: number;
  loss: number;
  perplexity: number;
}

/** Token-weighted combination of several texts' results (total NLL / total predicted tokens). */
export function combinePerplexity(results: readonly PerplexityResult[]): PerplexityResult {
  if (results.length === 0) throw new FugakuError('INVALID_ARGUMENT', 'no perplexity results to combine', 'evaluate at least one text');
  let tokens = 0;
  let predicted = 0;
  let nllSum = 0;
  for (const r of results) {
    tokens += r.tokens;
    predicted += r.predicted;
    nllSum += r.nllSum;
  }
  const loss = nllSum / predicted;
  return { tokens, predicted, nllSum, loss, perplexity: Math.exp(loss) };
}

export async function perplexity(model: GPT2Model, ids: ArrayLike<number>, opts: PerplexityOptions = {}): Promise<PerplexityResult> {
  const maxLength = opts.maxLength ?? model.config.nPositions;
  const stride = opts.stride ?? maxLength;
  if (!Number.isInteger(maxLength) || maxLength < 2 || maxLength > model.config.nPositions) {
    throw new FugakuError('INVALID_ARGUMENT', `window length ${maxLength} must be an integer in 2..${model.config.nPositions}`, 'leave it unset to use the model context');
  }
  if (!Number.isInteger(stride) || stride < 1 || stride > maxLength) {
    throw new FugakuError('INVALID_ARGUMENT', `stride ${stride} must be an integer in 1..${maxLength}`, 'use a stride no larger than the window');
  }
  if (ids.length < 2) {
    throw new FugakuError('INVALID_ARGUMENT', `perplexity needs at least 2 tokens, got ${ids.length}`, 'use a longer text');
  }
  const arr = Array.from(ids);
  let nllSum = 0;
  let predicted = 0;
  let prevEnd = 0;
  for (let begin = 0; begin < arr.length; begin += stride) {
    const end = Math.min(begin + maxLength, arr.length);
    const trgLen = end - prevEnd; // tokens not yet scored
    const window = arr.slice(begin, end);
    // HF masks the first (len - trgLen) labels; the first token of a window is never a target.
    const r = await windowLoss(model, window, Math.min(trgLen, window.length - 1));
    nllSum += r.nllSum;
    predicted += r.predicted;
    prevEnd = end;
    opts.onProgress?.(end, arr.length);
    if (end === arr.length) break;
  }
  const loss = nllSum / predicted;
  return { tokens: arr.length, predicted, nllSum, loss, perplexity: Math.exp(loss) };
}
