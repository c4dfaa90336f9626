/**
 * The next-token step shared by the library's `generate` loop and the server's scheduler
 * (src/server/engine.ts), so that both pick, score and end sequences by one piece of code:
 *
 *   logits → logits processors (HF order; the caller's list) → argmax (greedy) or a draw from the
 *   softmax with the caller's Rng → logprobs of the model's own distribution (optional) → the token
 *   appended to the sequence → does it end the sequence: an EOS id, or a stop string completed in the
 *   tail of the decoded output.
 *
 * Everything stateful (the Rng, the processors, the sequence's ids) belongs to the caller; this
 * module keeps none.
 */
import { FugakuError } from '../errors.js';
import type { LogitsProcessor } from './processors.js';
import type { Rng } from './rng.js';
import { argmax, logSoftmax, sampleFromLogits, topLogprobs } from './sampling.js';

export interface TokenLogprob {
  id: number;
  logprob: number;
  top: { id: number; logprob: number }[];
}

/**
 * How many of the last generated tokens can hold a newly completed stop string: every kept token
 * yields at least one character, or one UTF-8 byte (≤ 4 per character) for byte-fallback pieces.
 */
export function stopStringTail(stops: readonly string[]): number {
  return 4 * Math.max(0, ...stops.map((x) => x.length)) + 8;
}

/** A sequence being generated: `ids` is what the processors see (prompt + output), `out` the output alone. */
export interface SequenceTokens {
  readonly ids: number[];
  readonly out: number[];
}

export interface NextTokenOptions {
  /** Applied in order to a copy of the logits (HF's `generate` order; see buildLogitsProcessors). */
  processors: readonly LogitsProcessor[];
  doSample: boolean;
  /** The draw's random source (sampling only). */
  rng: Rng;
  /** null: no logprobs; k ≥ 0: the chosen token's logprob and the k most likely alternatives. */
  logprobs: number | null;
  /** Ids that end the sequence (kept in the output). Empty: none does (vLLM's ignore_eos). */
  eosTokenIds: readonly number[];
  /** Strings that end the sequence once the output's text contains one. */
  stopStrings: readonly string[];
  /** ids → text; needed when there are stop strings. */
  decode?: (ids: number[]) => string;
  /**
   * vLLM's min_tokens: stop strings count only in the text after the first this many output tokens
   * (none is looked for before). Default 0: everywhere.
   */
  stopsAfterTokens?: number;
  /**
   * With stopsAfterTokens > 0, while the searched tail would still reach into those first tokens: the
   * caller's exact search (the stop string that ends the sequence, or null). Without it, the tail is
   * searched.
   */
  stopInFullText?: () => string | null;
}

export interface NextToken {
  id: number;
  /** When `logprobs` was asked for. */
  logprob?: TokenLogprob;
  /** Why the sequence ends with this token, or null if it goes on. */
  finish: 'eos' | 'stop_string' | null;
  /** The stop string found, when finish is 'stop_string'. */
  stopString?: string;
}

/**
 * One step: chooses the next token from `logits` (which are not modified), appends it to `seq.ids` and
 * `seq.out`, and says whether it ends the sequence. `scratch` (length V) avoids an allocation per step.
 */
export function nextToken(logits: Float32Array, seq: SequenceTokens, o: NextTokenOptions, scratch?: Float32Array): NextToken {
  const scores = scratch && scratch.length === logits.length ? scratch : new Float32Array(logits.length);
  scores.set(logits);
  for (const p of o.processors) p.process(seq.ids, scores);
  const id = o.doSample ? sampleFromLogits(scores, o.rng) : argmax(scores);
  const r: NextToken = { id, finish: null };
  if (o.logprobs !== null) r.logprob = { id, logprob: logSoftmax(logits)[id], top: topLogprobs(logits, o.logprobs) };
  seq.ids.push(id);
  seq.out.push(id);
  if (o.eosTokenIds.includes(id)) {
    r.finish = 'eos';
    return r;
  }
  const stops = o.stopStrings;
  const after = o.stopsAfterTokens ?? 0;
  if (stops.length === 0 || seq.out.length <= after) return r;
  if (!o.decode) throw new FugakuError('INVALID_ARGUMENT', 'stop strings need a tokenizer to decode with', 'pass decode (the library facade and the server do this)');
  // Only the tail can hold a newly completed stop string (see stopStringTail). While that tail still
  // reaches into the first stopsAfterTokens tokens, the caller's exact search decides instead.
  const tail = stopStringTail(stops);
  let hit: string | null | undefined;
  if (after > 0 && seq.out.length - after < tail && o.stopInFullText) hit = o.stopInFullText();
  else {
    const text = o.decode(seq.out.slice(-tail));
    hit = stops.find((s) => text.includes(s));
  }
  if (hit != null) {
    r.finish = 'stop_string';
    r.stopString = hit;
  }
  return r;
}
