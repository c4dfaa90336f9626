/**
 * Token selection from processed scores: greedy argmax, seeded multinomial sampling and log-probabilities.
 *
 * HF's `_sample` picks `argmax(next_token_scores)` when `do_sample=False`, otherwise
 * `torch.multinomial(softmax(next_token_scores), 1)`. We cannot reproduce torch's random stream, so sampling here is
 * an inverse-CDF draw driven by our own seeded `Rng` (deterministic for a seed, same distribution as HF).
 */
import { FugakuError } from '../errors.js';
import type { Rng } from './rng.js';

/**
 * Index of the first maximum, like `torch.argmax` (ties resolve to the lowest index). Like torch, NaN counts as
 * larger than every number: if any entry is NaN, the index of the first NaN is returned. Throws on an empty array.
 */
export function argmax(scores: Float32Array): number {
  const n = scores.length;
  if (n === 0) throw new FugakuError('INVALID_ARGUMENT', 'argmax of an empty score vector', 'pass a non-empty vocabulary');
  let best = 0;
  let bestValue = scores[0];
  if (Number.isNaN(bestValue)) return 0;
  for (let i = 1; i < n; i++) {
    const v = scores[i];
    if (v > bestValue) {
      best = i;
      bestValue = v;
    } else if (Number.isNaN(v)) {
      return i;
    }
  }
  return best;
}

/** Max over the entries and log(sum(exp(x - max))) in float64; max is -Infinity when every entry is -inf. */
function logSumExpParts(scores: Float32Array): { max: number; logSum: number } {
  let max = -Infinity;
  for (let i = 0; i < scores.length; i++) if (scores[i] > max) max = scores[i];
  if (max === -Infinity || !Number.isFinite(max)) return { max, logSum: NaN };
  let sum = 0;
  for (let i = 0; i < scores.length; i++) sum += Math.exp(scores[i] - max);
  return { max, logSum: Math.log(sum) };
}

/**
 * log_softmax(scores), accumulated in float64 and stored as float32 (in `out` when given, which may be `scores`
 * itself). -inf entries stay -inf. When no entry is finite (all -inf), or an entry is +inf or NaN, the result is all
 * NaN, as torch's `log_softmax` gives.
 */
export function logSoftmax(scores: Float32Array, out?: Float32Array): Float32Array {
  const result = out ?? new Float32Array(scores.length);
  if (result.length !== scores.length) {
    throw new FugakuError('INVALID_ARGUMENT', `logSoftmax: out has length ${result.length}, scores ${scores.length}`);
  }
  let hasNaN = false;
  for (let i = 0; i < scores.length; i++) if (Number.isNaN(scores[i])) hasNaN = true;
  const { max, logSum } = logSumExpParts(scores);
  if (hasNaN || Number.isNaN(logSum)) {
    result.fill(NaN);
    return result;
  }
  const lse = max + logSum;
  for (let i = 0; i < scores.length; i++) result[i] = scores[i] - lse;
  return result;
}

/**
 * Draws one token id from softmax(scores). `scores` must already be processed (temperature, top-k, ...); -inf
 * entries have probability 0 and are never drawn. Method: weights w_i = exp(s_i - max) in float64, one uniform
 * u = rng.nextFloat() in [0,1), target = u * sum(w); the token is the first index (in index order) whose cumulative
 * weight exceeds the target. Exactly one `rng.nextFloat()` (two 32-bit outputs) is consumed per call.
 * Throws when there is nothing to sample (all -inf, NaN, or +inf scores — where torch.multinomial also raises).
 */
export function sampleFromLogits(scores: Float32Array, rng: Rng): number {
  const n = scores.length;
  let max = -Infinity;
  for (let i = 0; i < n; i++) {
    const v = scores[i];
    if (Number.isNaN(v) || v === Infinity) {
      throw new FugakuError(
        'INVALID_ARGUMENT',
        `cannot sample: score ${String(v)} at token ${i}`,
        'the probability tensor contains inf or nan (torch.multinomial raises here too); check the logits processors',
      );
    }
    if (v > max) max = v;
  }
  if (max === -Infinity) {
    throw new FugakuError(
      'INVALID_ARGUMENT',
      'cannot sample: every token was filtered out (all scores are -inf)',
      'relax bad_words/suppress_tokens/min-length constraints',
    );
  }
  let total = 0;
  for (let i = 0; i < n; i++) total += Math.exp(scores[i] - max);
  const target = rng.nextFloat() * total;
  let cumulative = 0;
  let lastPositive = -1;
  for (let i = 0; i < n; i++) {
    const w = Math.exp(scores[i] - max);
    if (w <= 0) continue;
    lastPositive = i;
    cumulative += w;
    if (cumulative > target) return i;
  }
  // Only reachable through float rounding (target within an ulp of the total): take the last drawable token.
  return lastPositive;
}

/**
 * The `k` most probable tokens with their log-probabilities under softmax(scores), most probable first (ties:
 * lower id first). Tokens with probability 0 (-inf scores) are never listed, so fewer than k may be returned.
 */
export function topLogprobs(scores: Float32Array, k: number): { id: number; logprob: number }[] {
  if (!Number.isInteger(k) || k < 0) {
    throw new FugakuError('INVALID_ARGUMENT', `topLogprobs: k must be a non-negative integer, got ${k}`);
  }
  if (k === 0) return [];
  const logp = logSoftmax(scores);
  // Keep a small sorted buffer of the best k (k is small; V is large): O(V * k) worst case, O(V) typical.
  const best: { id: number; logprob: number }[] = [];
  for (let i = 0; i < logp.length; i++) {
    const v = logp[i];
    if (!(v > -Infinity)) continue; // skips -inf and NaN
    if (best.length === k && v <= best[k - 1].logprob) continue;
    let pos = best.length;
    while (pos > 0 && best[pos - 1].logprob < v) pos--;
    best.splice(pos, 0, { id: i, logprob: v });
    if (best.length > k) best.pop();
  }
  return best;
}
