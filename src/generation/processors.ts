/**
 * Logits processors and warpers, ported from Hugging Face transformers `generation/logits_process.py`, and the list
 * `generate()` builds from a generation config (`GenerationMixin._get_logits_processor`, same order).
 *
 * Numerics: HF works on float32 tensors. Elementwise ops (temperature, repetition penalty) are reproduced exactly:
 * a float32 value op a float32-rounded scalar, rounded to float32 (float64 has enough precision for the result to be
 * the correctly rounded float32 one). Softmax probabilities are computed in float64 and rounded to float32;
 * cumulative sums are accumulated in float64 and each partial sum rounded to float32 (torch's CPU `cumsum`
 * accumulates floats in double). Comparisons against a Python float (`top_p`, `typical_p`, `min_p`) use the
 * float32-rounded scalar, as torch's type promotion does for a float32 tensor and a Python scalar. Sorts are
 * stable (ties keep index order).
 *
 * Every processor rewrites `scores` in place; `inputIds` is the whole sequence so far (prompt + generated).
 */
import { FugakuError } from '../errors.js';
import type { GenerationConfig } from './config.js';

/** A logits processor rewrites `scores` (length V, float32) in place, given all ids so far (prompt + generated) of this sequence. */
export interface LogitsProcessor {
  /** The HF class this processor mirrors (e.g. `TopKLogitsWarper`). */
  readonly name: string;
  process(inputIds: ArrayLike<number>, scores: Float32Array): void;
}

function invalid(field: string, value: unknown, requirement: string, hint?: string): FugakuError {
  return new FugakuError(
    'GENERATION_CONFIG_INVALID',
    `${field} ${requirement}, but is ${formatValue(value)}`,
    hint ?? `fix ${field} in the call options or generation_config.json`,
  );
}

function formatValue(value: unknown): string {
  try {
    return typeof value === 'string' ? JSON.stringify(value) : (JSON.stringify(value) ?? String(value));
  } catch {
    return String(value);
  }
}

function isNonNegInt(x: unknown): x is number {
  return typeof x === 'number' && Number.isInteger(x) && x >= 0;
}

function checkMinTokensToKeep(minTokensToKeep: number): void {
  if (!Number.isInteger(minTokensToKeep) || minTokensToKeep < 1) {
    throw invalid('min_tokens_to_keep', minTokensToKeep, 'has to be a positive integer');
  }
}

function tokenOutOfRange(processor: string, id: number, vocabSize: number): FugakuError {
  return new FugakuError(
    'TOKEN_ID_OUT_OF_RANGE',
    `${processor}: token id ${id} is outside the vocabulary (size ${vocabSize})`,
    'token ids must be integers in [0, vocab_size)',
  );
}

// ---------------------------------------------------------------------------------------------------------------
// Numeric helpers shared by the warpers
// ---------------------------------------------------------------------------------------------------------------

/** Largest finite-or-infinite entry (NaN ignored); -Infinity when all are -inf or the array is empty. */
function maxOf(values: ArrayLike<number>): number {
  let m = -Infinity;
  for (let i = 0; i < values.length; i++) if (values[i] > m) m = values[i];
  return m;
}

/** The max and Σ exp(score - max) of a row (float64), or null when the max is not finite. */
function expSum(scores: Float32Array): { m: number; sum: number } | null {
  const m = maxOf(scores);
  if (!Number.isFinite(m)) return null;
  let sum = 0;
  for (let i = 0; i < scores.length; i++) sum += Math.exp(scores[i] - m);
  return { m, sum };
}

/**
 * softmax(scores) as float32 values (computed in float64, rounded once). An all -inf (or +inf-containing) row gives
 * NaN everywhere, as torch does.
 */
function softmax32(scores: Float32Array): Float32Array {
  const out = new Float32Array(scores.length);
  const e = expSum(scores);
  if (e === null) return out.fill(NaN);
  for (let i = 0; i < scores.length; i++) out[i] = Math.exp(scores[i] - e.m) / e.sum;
  return out;
}

/** log_softmax(scores) as float32 values (float64 log-sum-exp). */
function logSoftmax32(scores: Float32Array): Float32Array {
  const out = new Float32Array(scores.length);
  const e = expSum(scores);
  if (e === null) return out.fill(NaN);
  const lse = e.m + Math.log(e.sum);
  for (let i = 0; i < scores.length; i++) out[i] = scores[i] - lse;
  return out;
}

/**
 * Indices of `values` sorted ascending by value, ties by index (a stable sort, like torch.sort(stable=True)).
 * With `subset` (indices in increasing order), only those entries are sorted and the result holds their indices.
 * Implementation: each float32 is mapped to an order-preserving unsigned 32-bit key, combined with its position into
 * one exact float64 key (key * 2^20 + position < 2^52), and the keys are sorted numerically — much faster in V8 than
 * a comparator sort of 50k indices. NaNs sort to the ends (by sign bit), -0 before +0.
 */
function argsortAscending(values: Float32Array, subset?: Uint32Array): Uint32Array {
  const n = subset ? subset.length : values.length;
  if (n > 1 << 20) {
    throw new FugakuError('INTERNAL', `cannot sort ${n} entries (max 2^20)`);
  }
  // Reinterpret the float32 bits as uint32 (on a copy, so `values` may be any view).
  const bits = new Uint32Array(Float32Array.from(values).buffer);
  const keys = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    const u = bits[subset ? subset[j] : j];
    // Negative floats: flip all bits (larger magnitude => smaller key). Positive: set the sign bit.
    const ordered = u & 0x80000000 ? ~u >>> 0 : (u | 0x80000000) >>> 0;
    keys[j] = ordered * 1048576 + j;
  }
  keys.sort();
  const idx = new Uint32Array(n);
  for (let j = 0; j < n; j++) {
    const position = keys[j] % 1048576;
    idx[j] = subset ? subset[position] : position;
  }
  return idx;
}

/**
 * The k-th largest value of `values` counting duplicates, i.e. `torch.topk(values, k)[0][-1]`, in O(V log k) with a
 * size-k min-heap. NaN counts as the largest value (as in torch.topk): with at least k NaNs the result is NaN.
 * Requires 1 <= k <= values.length.
 */
function kthLargest(values: Float32Array, k: number): number {
  let nanCount = 0;
  for (let i = 0; i < values.length; i++) if (Number.isNaN(values[i])) nanCount++;
  if (nanCount >= k) return NaN;
  const kk = k - nanCount;
  const heap = new Float64Array(kk); // min-heap of the kk largest non-NaN values seen so far
  let size = 0;
  const siftDown = (start: number): void => {
    let i = start;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < size && heap[l] < heap[m]) m = l;
      if (r < size && heap[r] < heap[m]) m = r;
      if (m === i) return;
      const t = heap[i];
      heap[i] = heap[m];
      heap[m] = t;
      i = m;
    }
  };
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (Number.isNaN(v)) continue;
    if (size < kk) {
      // sift up
      let c = size++;
      heap[c] = v;
      while (c > 0) {
        const parent = (c - 1) >> 1;
        if (heap[parent] <= heap[c]) break;
        const t = heap[parent];
        heap[parent] = heap[c];
        heap[c] = t;
        c = parent;
      }
    } else if (v > heap[0]) {
      heap[0] = v;
      siftDown(0);
    }
  }
  return heap[0];
}

// ---------------------------------------------------------------------------------------------------------------
// Processors (applied for greedy and sampling)
// ---------------------------------------------------------------------------------------------------------------

/**
 * HF `RepetitionPenaltyLogitsProcessor(penalty)`: for every distinct token id present in `inputIds` (prompt
 * included), a negative score is multiplied by `penalty` and a non-negative one divided by it (so penalty > 1 always
 * makes the token less likely). Applied at most once per token however often it occurs.
 */
export class RepetitionPenaltyLogitsProcessor implements LogitsProcessor {
  readonly name = 'RepetitionPenaltyLogitsProcessor';
  readonly penalty: number;
  private readonly penalty32: number;

  constructor(penalty: number) {
    if (typeof penalty !== 'number' || !(penalty > 0) || !Number.isFinite(penalty)) {
      throw invalid('repetition_penalty', penalty, 'has to be a strictly positive float');
    }
    this.penalty = penalty;
    this.penalty32 = Math.fround(penalty);
  }

  process(inputIds: ArrayLike<number>, scores: Float32Array): void {
    const v = scores.length;
    const seen = new Set<number>();
    for (let i = 0; i < inputIds.length; i++) {
      const id = inputIds[i];
      if (seen.has(id)) continue;
      if (!Number.isInteger(id) || id < 0 || id >= v) throw tokenOutOfRange(this.name, id, v);
      seen.add(id);
      // torch.where(score < 0, score * penalty, score / penalty) — gathered before, scattered after.
      const s = scores[id];
      scores[id] = s < 0 ? s * this.penalty32 : s / this.penalty32;
    }
  }
}

/**
 * HF `NoRepeatNGramLogitsProcessor(ngram_size)`: bans every token that would complete an n-gram already present
 * in `inputIds` (prompt included). With n = 1 every token seen so far is banned. Nothing is banned while the
 * sequence is shorter than n.
 */
export class NoRepeatNGramLogitsProcessor implements LogitsProcessor {
  readonly name = 'NoRepeatNGramLogitsProcessor';
  readonly ngramSize: number;

  constructor(ngramSize: number) {
    if (!Number.isInteger(ngramSize) || ngramSize <= 0) {
      throw invalid('no_repeat_ngram_size', ngramSize, 'has to be a strictly positive integer');
    }
    this.ngramSize = ngramSize;
  }

  process(inputIds: ArrayLike<number>, scores: Float32Array): void {
    const n = this.ngramSize;
    const len = inputIds.length;
    if (len < n) return;
    // The next token completes an n-gram whose first n-1 tokens are the current suffix. Every earlier window
    // (start s, s + n <= len) whose first n-1 tokens equal that suffix bans its last token.
    const prefixStart = len - (n - 1);
    for (let s = 0; s + n <= len; s++) {
      let match = true;
      for (let j = 0; j < n - 1; j++) {
        if (inputIds[s + j] !== inputIds[prefixStart + j]) {
          match = false;
          break;
        }
      }
      if (!match) continue;
      const banned = inputIds[s + n - 1];
      if (banned >= 0 && banned < scores.length) scores[banned] = -Infinity;
    }
  }
}

/**
 * HF `NoBadWordsLogitsProcessor(bad_words_ids, eos_token_id)` (a `SequenceBiasLogitsProcessor` with bias -inf):
 * a one-token entry is always banned; a longer entry bans its last token when the sequence currently ends with the
 * entry's other tokens (and is skipped while the entry is longer than the whole sequence). Entries equal to `[eos]`
 * are dropped, as HF does, so EOS is never banned this way.
 */
export class NoBadWordsLogitsProcessor implements LogitsProcessor {
  readonly name = 'NoBadWordsLogitsProcessor';
  readonly badWordsIds: readonly (readonly number[])[];
  private readonly single: number[];
  private readonly multi: (readonly number[])[];

  constructor(badWordsIds: number[][], eosTokenId: number[] = []) {
    if (!Array.isArray(badWordsIds) || badWordsIds.length === 0) {
      throw invalid('bad_words_ids', badWordsIds, 'has to be a non-empty list');
    }
    for (const seq of badWordsIds) {
      if (!Array.isArray(seq) || seq.length === 0 || !seq.every(isNonNegInt)) {
        throw invalid('bad_words_ids', badWordsIds, 'has to be a list of non-empty lists of non-negative integers');
      }
    }
    const kept = badWordsIds.filter((seq) => !(seq.length === 1 && eosTokenId.includes(seq[0])));
    this.badWordsIds = kept.map((s) => [...s]);
    this.single = kept.filter((s) => s.length === 1).map((s) => s[0]);
    this.multi = kept.filter((s) => s.length > 1);
  }

  process(inputIds: ArrayLike<number>, scores: Float32Array): void {
    const v = scores.length;
    for (const seq of this.badWordsIds) for (const id of seq) if (id >= v) throw tokenOutOfRange(this.name, id, v);
    // scores + bias, with bias = -inf at banned positions (so +inf + -inf = NaN, exactly as in HF).
    for (const id of this.single) scores[id] += -Infinity;
    const len = inputIds.length;
    for (const seq of this.multi) {
      if (seq.length > len) continue;
      const prefixLength = seq.length - 1;
      let match = true;
      for (let j = 0; j < prefixLength; j++) {
        if (inputIds[len - prefixLength + j] !== seq[j]) {
          match = false;
          break;
        }
      }
      if (match) scores[seq[prefixLength]] += -Infinity;
    }
  }
}

/**
 * HF `MinLengthLogitsProcessor(min_length, eos_token_id)`: while the whole sequence (prompt included) is shorter
 * than `min_length`, EOS tokens get -inf.
 */
export class MinLengthLogitsProcessor implements LogitsProcessor {
  readonly name = 'MinLengthLogitsProcessor';
  readonly minLength: number;
  readonly eosTokenId: readonly number[];

  constructor(minLength: number, eosTokenId: number[]) {
    if (!Number.isInteger(minLength) || minLength < 0) {
      throw invalid('min_length', minLength, 'has to be a non-negative integer');
    }
    this.minLength = minLength;
    this.eosTokenId = [...eosTokenId];
  }

  process(inputIds: ArrayLike<number>, scores: Float32Array): void {
    if (inputIds.length < this.minLength) {
      for (const eos of this.eosTokenId) if (eos >= 0 && eos < scores.length) scores[eos] = -Infinity;
    }
  }
}

/**
 * HF `MinNewTokensLengthLogitsProcessor(prompt_length_to_skip, min_new_tokens, eos_token_id)`: while fewer than
 * `min_new_tokens` tokens have been generated after the prompt, EOS tokens get -inf.
 */
export class MinNewTokensLengthLogitsProcessor implements LogitsProcessor {
  readonly name = 'MinNewTokensLengthLogitsProcessor';
  readonly promptLength: number;
  readonly minNewTokens: number;
  readonly eosTokenId: readonly number[];

  constructor(promptLength: number, minNewTokens: number, eosTokenId: number[]) {
    if (!Number.isInteger(promptLength) || promptLength < 0) {
      throw invalid('prompt_length_to_skip', promptLength, 'has to be a non-negative integer');
    }
    if (!Number.isInteger(minNewTokens) || minNewTokens < 0) {
      throw invalid('min_new_tokens', minNewTokens, 'has to be a non-negative integer');
    }
    this.promptLength = promptLength;
    this.minNewTokens = minNewTokens;
    this.eosTokenId = [...eosTokenId];
  }

  process(inputIds: ArrayLike<number>, scores: Float32Array): void {
    if (inputIds.length - this.promptLength < this.minNewTokens) {
      for (const eos of this.eosTokenId) if (eos >= 0 && eos < scores.length) scores[eos] = -Infinity;
    }
  }
}

/** HF `SuppressTokensLogitsProcessor(suppress_tokens)`: the listed ids always get -inf (ids outside V are ignored, as `torch.isin` does). */
export class SuppressTokensLogitsProcessor implements LogitsProcessor {
  readonly name = 'SuppressTokensLogitsProcessor';
  readonly suppressTokens: readonly number[];

  constructor(suppressTokens: number[]) {
    if (!Array.isArray(suppressTokens) || !suppressTokens.every((t) => Number.isInteger(t))) {
      throw invalid('suppress_tokens', suppressTokens, 'has to be a list of integers');
    }
    this.suppressTokens = [...suppressTokens];
  }

  process(_inputIds: ArrayLike<number>, scores: Float32Array): void {
    for (const id of this.suppressTokens) if (id >= 0 && id < scores.length) scores[id] = -Infinity;
  }
}

/**
 * OpenAI's presence and frequency penalties (no HF processor; vLLM applies them before its others):
 * scores[t] − c_t·frequency − presence for every token t that occurs c_t > 0 times among the generated
 * tokens (the ids past the prompt's `promptLength`). Counted from the ids at each step, so one instance
 * serves every sequence of a request.
 */
export class PresenceFrequencyPenaltyLogitsProcessor implements LogitsProcessor {
  readonly name = 'PresenceFrequencyPenaltyLogitsProcessor';

  constructor(
    readonly presencePenalty: number,
    readonly frequencyPenalty: number,
    readonly promptLength: number,
  ) {
    if (!Number.isFinite(presencePenalty)) throw invalid('presence_penalty', presencePenalty, 'has to be a finite number');
    if (!Number.isFinite(frequencyPenalty)) throw invalid('frequency_penalty', frequencyPenalty, 'has to be a finite number');
  }

  process(inputIds: ArrayLike<number>, scores: Float32Array): void {
    const counts = new Map<number, number>();
    for (let i = this.promptLength; i < inputIds.length; i++) counts.set(inputIds[i], (counts.get(inputIds[i]) ?? 0) + 1);
    for (const [id, c] of counts) scores[id] = scores[id] - c * this.frequencyPenalty - this.presencePenalty;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Warpers (only with do_sample)
// ---------------------------------------------------------------------------------------------------------------

/** HF `TemperatureLogitsWarper(temperature)`: scores / temperature (float32). */
export class TemperatureLogitsWarper implements LogitsProcessor {
  readonly name = 'TemperatureLogitsWarper';
  readonly temperature: number;
  private readonly temperature32: number;

  constructor(temperature: number) {
    if (typeof temperature !== 'number' || !(temperature > 0) || !Number.isFinite(temperature)) {
      throw invalid(
        'temperature',
        temperature,
        'has to be a strictly positive float, otherwise your next token scores will be invalid',
        temperature === 0 ? "for greedy decoding set doSample to false (do_sample=False)" : undefined,
      );
    }
    this.temperature = temperature;
    this.temperature32 = Math.fround(temperature);
  }

  process(_inputIds: ArrayLike<number>, scores: Float32Array): void {
    const t = this.temperature32;
    for (let i = 0; i < scores.length; i++) scores[i] = scores[i] / t;
  }
}

/**
 * HF `TopKLogitsWarper(top_k, min_tokens_to_keep=1)`: removes every score strictly below the k-th largest score
 * (`scores < torch.topk(scores, k)[0][..., -1]`), so entries tied with the k-th largest are all kept.
 * k = max(top_k, min_tokens_to_keep), clipped to V.
 */
export class TopKLogitsWarper implements LogitsProcessor {
  readonly name = 'TopKLogitsWarper';
  readonly topK: number;

  constructor(topK: number, minTokensToKeep = 1) {
    if (!Number.isInteger(topK) || topK <= 0) {
      throw invalid('top_k', topK, 'has to be a strictly positive integer', 'use topK 0 (top_k=0) to disable top-k');
    }
    checkMinTokensToKeep(minTokensToKeep);
    this.topK = Math.max(topK, minTokensToKeep);
  }

  process(_inputIds: ArrayLike<number>, scores: Float32Array): void {
    const v = scores.length;
    const k = Math.min(this.topK, v);
    if (k === 0 || k === v) return;
    const threshold = kthLargest(scores, k); // topk(scores, k)[0][..., -1]; NaN threshold removes nothing
    for (let i = 0; i < v; i++) if (scores[i] < threshold) scores[i] = -Infinity;
  }
}

/**
 * HF `TopPLogitsWarper(top_p, min_tokens_to_keep=1)`, in HF's ascending formulation: sort scores ascending,
 * cumulative softmax probabilities; remove the tokens whose cumulative probability is <= 1 - top_p; always keep the
 * `min_tokens_to_keep` largest. The kept set is the smallest set of most probable tokens whose mass exceeds
 * 1 - (1 - top_p) (so top_p = 1 keeps everything; generate() skips the warper then anyway).
 */
export class TopPLogitsWarper implements LogitsProcessor {
  readonly name = 'TopPLogitsWarper';
  readonly topP: number;
  readonly minTokensToKeep: number;

  constructor(topP: number, minTokensToKeep = 1) {
    // HF checks `top_p < 0 or top_p > 1.0` (its message says "> 0 and < 1", but 0 and 1 are accepted).
    if (typeof topP !== 'number' || !(topP >= 0 && topP <= 1)) {
      throw invalid('top_p', topP, 'has to be a float in [0, 1]');
    }
    checkMinTokensToKeep(minTokensToKeep);
    this.topP = topP;
    this.minTokensToKeep = minTokensToKeep;
  }

  process(_inputIds: ArrayLike<number>, scores: Float32Array): void {
    const v = scores.length;
    if (v === 0) return;
    const probs = softmax32(scores);
    if (Number.isNaN(probs[0])) return; // no finite score: torch's NaN comparisons remove nothing
    // Python computes 1 - top_p in double; the comparison with a float32 tensor uses it rounded to float32.
    const threshold = Math.fround(1 - this.topP);

    // Speed-up (same result as sorting everything): group probabilities by float32 exponent (power-of-two buckets,
    // monotone in value). The low buckets whose total mass `below` stays <= threshold hold tokens whose ascending
    // cumulative probability is <= below <= threshold: HF removes them all. Only the remaining (usually few)
    // candidates need sorting; their cumulative sums start at `below`.
    const probBits = new Uint32Array(probs.buffer, probs.byteOffset, v); // probs >= 0: exponent bits are monotone
    const bucketMass = new Float64Array(256);
    const bucketOf = new Uint8Array(v);
    for (let i = 0; i < v; i++) {
      const e = (probBits[i] >>> 23) & 0xff;
      bucketOf[i] = e;
      bucketMass[e] += probs[i];
    }
    let below = 0;
    let firstCandidateBucket = 0;
    while (firstCandidateBucket < 256 && below + bucketMass[firstCandidateBucket] < threshold - 1e-9) {
      below += bucketMass[firstCandidateBucket];
      firstCandidateBucket++;
    }
    let count = 0;
    for (let i = 0; i < v; i++) if (bucketOf[i] >= firstCandidateBucket) count++;
    let order: Uint32Array;
    if (count >= this.minTokensToKeep && count < v) {
      const subset = new Uint32Array(count);
      let j = 0;
      for (let i = 0; i < v; i++) {
        if (bucketOf[i] >= firstCandidateBucket) subset[j++] = i;
        else scores[i] = -Infinity;
      }
      order = argsortAscending(scores, subset);
    } else {
      order = argsortAscending(scores);
      below = 0;
    }
    const n = order.length;
    const keepFrom = n - this.minTokensToKeep; // the min_tokens_to_keep largest are always kept
    let cumulative = below;
    for (let j = 0; j < n; j++) {
      cumulative += probs[order[j]];
      if (j >= keepFrom) break;
      // Rounded partial sum (torch.cumsum on a float32 tensor yields float32 partial sums).
      if (Math.fround(cumulative) <= threshold) scores[order[j]] = -Infinity;
      else break; // cumulative sums never decrease: nothing further is removed
    }
  }
}

/**
 * HF `MinPLogitsWarper(min_p, min_tokens_to_keep=1)`: removes tokens whose probability is below
 * min_p * (probability of the most likely token); the most likely token is always kept.
 */
export class MinPLogitsWarper implements LogitsProcessor {
  readonly name = 'MinPLogitsWarper';
  readonly minP: number;
  readonly minTokensToKeep: number;

  constructor(minP: number, minTokensToKeep = 1) {
    if (typeof minP !== 'number' || !(minP >= 0 && minP <= 1)) {
      throw invalid('min_p', minP, 'has to be a float in the [0, 1] interval');
    }
    checkMinTokensToKeep(minTokensToKeep);
    this.minP = minP;
    this.minTokensToKeep = minTokensToKeep;
  }

  process(_inputIds: ArrayLike<number>, scores: Float32Array): void {
    const v = scores.length;
    const probs = softmax32(scores);
    const top = maxOf(probs);
    const scaled = Math.fround(Math.fround(this.minP) * top);
    const remove = new Uint8Array(v);
    for (let i = 0; i < v; i++) if (probs[i] < scaled) remove[i] = 1;
    // Keep the min_tokens_to_keep most probable tokens (topk of probs; ties -> lower index first).
    const k = Math.min(this.minTokensToKeep, v);
    if (k === 1) {
      let best = 0;
      for (let i = 1; i < v; i++) if (probs[i] > probs[best]) best = i;
      remove[best] = 0;
    } else if (k > 1) {
      const order = argsortAscending(probs);
      for (let j = 0; j < k; j++) remove[order[v - 1 - j]] = 0;
    }
    for (let i = 0; i < v; i++) if (remove[i]) scores[i] = -Infinity;
  }
}

/**
 * HF `TypicalLogitsWarper(mass=typical_p, min_tokens_to_keep=1)` (locally typical sampling): tokens are ranked by
 * |-log p - H| (H = entropy), and the smallest prefix of that ranking whose probability mass reaches `mass` is kept
 * (ties with the last kept token's rank value are kept too).
 */
export class TypicalLogitsWarper implements LogitsProcessor {
  readonly name = 'TypicalLogitsWarper';
  readonly mass: number;
  readonly minTokensToKeep: number;

  constructor(mass = 0.9, minTokensToKeep = 1) {
    if (typeof mass !== 'number' || !(mass > 0 && mass < 1)) {
      throw invalid('typical_p', mass, 'has to be a float > 0 and < 1');
    }
    checkMinTokensToKeep(minTokensToKeep);
    this.mass = mass;
    this.minTokensToKeep = minTokensToKeep;
  }

  process(_inputIds: ArrayLike<number>, scores: Float32Array): void {
    const v = scores.length;
    const normalized = logSoftmax32(scores);
    // ent = -(normalized * p).nansum()  (-inf * 0 = NaN terms are skipped)
    let ent = 0;
    for (let i = 0; i < v; i++) {
      const term = normalized[i] * Math.fround(Math.exp(normalized[i]));
      if (!Number.isNaN(term)) ent += term;
    }
    const ent32 = Math.fround(-ent);
    const shifted = new Float32Array(v);
    for (let i = 0; i < v; i++) shifted[i] = Math.abs(Math.fround(-normalized[i] - ent32));
    const order = argsortAscending(shifted);
    // cumulative softmax of the scores in that order (softmax is permutation-equivariant)
    const probs = softmax32(scores);
    const mass32 = Math.fround(this.mass);
    let lastInd = 0;
    let cumulative = 0;
    for (let j = 0; j < v; j++) {
      cumulative += probs[order[j]];
      if (Math.fround(cumulative) < mass32) lastInd++;
      else break; // non-decreasing: (cumulative_probs < mass).sum() counts a prefix
    }
    lastInd = Math.min(lastInd, v - 1);
    const cutoff = shifted[order[lastInd]];
    for (let j = this.minTokensToKeep; j < v; j++) {
      const i = order[j];
      if (shifted[i] > cutoff) scores[i] = -Infinity;
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The list generate() builds
// ---------------------------------------------------------------------------------------------------------------

/**
 * Builds the list HF's `generate` builds for this config (`GenerationMixin._get_logits_processor`), in HF's order:
 *
 *  1. RepetitionPenaltyLogitsProcessor   if repetition_penalty != 1.0
 *  2. NoRepeatNGramLogitsProcessor       if no_repeat_ngram_size > 0
 *  3. NoBadWordsLogitsProcessor          if bad_words_ids is set
 *  4. MinLengthLogitsProcessor           if min_length > 0 and an EOS id is set (HF first rewrites min_length to
 *                                        min_new_tokens + prompt length when min_new_tokens is set)
 *  5. MinNewTokensLengthLogitsProcessor  if min_new_tokens > 0 and an EOS id is set
 *  6. SuppressTokensLogitsProcessor      if suppress_tokens is set
 *  then, only when do_sample (the former "logits warpers"), with min_tokens_to_keep = 1 (no beam search):
 *  7. TemperatureLogitsWarper            if temperature != 1.0
 *  8. TopKLogitsWarper                   if top_k != 0
 *  9. TopPLogitsWarper                   if top_p < 1.0
 * 10. MinPLogitsWarper                   if min_p is set (even 0)
 * 11. TypicalLogitsWarper                if typical_p < 1.0
 *
 * (HF processors for options this runtime does not support — sequence_bias, encoder_*, forced_bos/eos,
 * exponential_decay_length_penalty, begin_suppress_tokens, epsilon/eta cutoff, watermarking, renormalize — are
 * rejected earlier by the config parser when set.)
 */
export function buildLogitsProcessors(cfg: GenerationConfig, promptLength: number): LogitsProcessor[] {
  const list: LogitsProcessor[] = [];
  const eos = cfg.eosTokenId;
  if (cfg.repetitionPenalty !== 1.0) list.push(new RepetitionPenaltyLogitsProcessor(cfg.repetitionPenalty));
  if (cfg.noRepeatNgramSize > 0) list.push(new NoRepeatNGramLogitsProcessor(cfg.noRepeatNgramSize));
  if (cfg.badWordsIds !== null) list.push(new NoBadWordsLogitsProcessor(cfg.badWordsIds, eos));
  // _prepare_generated_length: min_new_tokens takes precedence and becomes min_length = min_new_tokens + prompt.
  const minLength = cfg.minNewTokens > 0 ? cfg.minNewTokens + promptLength : cfg.minLength;
  if (minLength > 0 && eos.length > 0) list.push(new MinLengthLogitsProcessor(minLength, eos));
  if (cfg.minNewTokens > 0 && eos.length > 0) {
    list.push(new MinNewTokensLengthLogitsProcessor(promptLength, cfg.minNewTokens, eos));
  }
  if (cfg.suppressTokens !== null) list.push(new SuppressTokensLogitsProcessor(cfg.suppressTokens));
  if (cfg.doSample) {
    const minTokensToKeep = 1;
    if (cfg.temperature !== 1.0) list.push(new TemperatureLogitsWarper(cfg.temperature));
    if (cfg.topK !== 0) list.push(new TopKLogitsWarper(cfg.topK, minTokensToKeep));
    if (cfg.topP < 1.0) list.push(new TopPLogitsWarper(cfg.topP, minTokensToKeep));
    if (cfg.minP !== null) list.push(new MinPLogitsWarper(cfg.minP, minTokensToKeep));
    if (cfg.typicalP < 1.0) list.push(new TypicalLogitsWarper(cfg.typicalP, minTokensToKeep));
  }
  return list;
}

/** Runs `processors` in order on `scores` (in place) and returns `scores`, like calling HF's `LogitsProcessorList`. */
export function applyLogitsProcessors(
  processors: readonly LogitsProcessor[],
  inputIds: ArrayLike<number>,
  scores: Float32Array,
): Float32Array {
  for (const p of processors) p.process(inputIds, scores);
  return scores;
}
