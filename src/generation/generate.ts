/**
 * The generation loop, with transformers' `generate` semantics:
 *  - each row is prompt (+ left padding with its attention mask) → repeated: logits of the last
 *    position → logits processors (HF order) → argmax (greedy) or a draw from softmax (sampling);
 *  - a row that produced an EOS id keeps it and is finished; in a batch, finished rows are padded
 *    with pad_token_id until every row is done or max length is reached (HF behaviour);
 *  - position ids follow HF's `attention_mask.cumsum(-1) - 1`, so left padding does not shift positions;
 *  - `numReturnSequences` rows per prompt share one prefill (the KV cache is cloned).
 * Extra stopping: stop strings (needs a `decode`), max time (needs a clock), an AbortSignal.
 */
import { FugakuError } from '../errors.js';
import type { GPT2Model } from '../model/gpt2.js';
import type { KVCache } from '../model/kv-cache.js';
import { resolveLengthLimits, type GenerationConfig } from './config.js';
import { buildLogitsProcessors } from './processors.js';
import { nextToken, type NextTokenOptions, type TokenLogprob } from './next-token.js';
import { Rng } from './rng.js';

export { stopStringTail, type TokenLogprob } from './next-token.js';

export type FinishReason = 'eos' | 'length' | 'stop_string' | 'max_time' | 'aborted';

export interface GeneratedSequence {
  /** Index of the prompt in the batch this sequence continues. */
  promptIndex: number;
  /** New tokens only (EOS included when it ended the sequence; HF-style pad fill excluded). */
  outputIds: number[];
  finishReason: FinishReason;
  /** The stop string that ended it, when finishReason is 'stop_string'. */
  stopString?: string;
  /** Per generated token, when `outputLogprobs` was set: log-probabilities of the model's distribution. */
  logprobs?: TokenLogprob[];
}

export interface GenerateDeps {
  /** Random source for sampling (default: seeded from `config.seed`, else from OS entropy). */
  rng?: Rng;
  /** Milliseconds clock for maxTime (default performance.now). */
  now?: () => number;
  /** Stops every row promptly (checked between decoding steps). */
  signal?: AbortSignal;
  /** Decodes ids to text; needed for stopStrings. */
  decode?: (ids: number[]) => string;
  /** Called after each step with the token each still-running sequence received. */
  onToken?: (sequenceIndex: number, tokenId: number) => void;
  /** Lets other work run between steps (default: yields to the event loop). */
  yieldEvery?: number;
}

/**
 * The text of a generated sequence, cut just before the stop string that ended it when `trimStop`
 * (OpenAI's `stop` semantics); otherwise the stop string stays in (HF's `stop_strings` semantics).
 */
export function sequenceText(seq: GeneratedSequence, decode: (ids: number[]) => string, trimStop = true): string {
  const text = decode(seq.outputIds);
  if (!trimStop || seq.stopString === undefined) return text;
  const at = text.indexOf(seq.stopString);
  return at >= 0 ? text.slice(0, at) : text;
}

export interface GenerateInputs {
  /** One row of ids per prompt. Rows may be left-padded (see attentionMask). */
  inputIds: number[][];
  /** HF attention_mask per row (1 = token, 0 = padding). Default: all ones. */
  attentionMask?: number[][];
}

interface Row {
  promptIndex: number;
  ids: number[]; // the whole row as HF sees it: prompt (with pads) + generated
  realCount: number; // number of non-pad tokens so far (next position id)
  cache: KVCache;
  nextLogits: Float32Array;
  out: number[];
  done: boolean;
  reason: FinishReason;
  stopString?: string;
  logprobs?: TokenLogprob[];
}

function checkIds(model: GPT2Model, ids: number[], where: string): void {
  for (const id of ids) {
    if (!Number.isInteger(id) || id < 0 || id >= model.config.vocabSize) {
      throw new FugakuError('TOKEN_ID_OUT_OF_RANGE', `${where}: token id ${id} is outside 0..${model.config.vocabSize - 1}`, 'input ids must come from this model\'s tokenizer');
    }
  }
}

export async function generate(model: GPT2Model, inputs: GenerateInputs, cfg: GenerationConfig, deps: GenerateDeps = {}): Promise<GeneratedSequence[]> {
  const { inputIds } = inputs;
  if (inputIds.length === 0) throw new FugakuError('INVALID_ARGUMENT', 'generate needs at least one prompt');
  const promptLen = inputIds[0].length;
  for (let b = 0; b < inputIds.length; b++) {
    if (inputIds[b].length !== promptLen) {
      throw new FugakuError('INVALID_ARGUMENT', `prompt ${b} has ${inputIds[b].length} ids but prompt 0 has ${promptLen}`, 'left-pad the batch to one length and pass attentionMask');
    }
    if (inputIds[b].length === 0) {
      throw new FugakuError('INVALID_ARGUMENT', 'a prompt is empty', 'GPT-2 has no BOS prepended by the tokenizer; pass at least one token');
    }
    checkIds(model, inputIds[b], `prompt ${b}`);
  }
  const masks = inputs.attentionMask ?? inputIds.map((r) => r.map(() => 1));
  const nPos = model.config.nPositions;
  const maxLen = resolveLengthLimits(cfg, promptLen, nPos).maxLength;
  if (maxLen > nPos) {
    throw new FugakuError(
      'CONTEXT_OVERFLOW',
      `prompt (${promptLen} tokens) + max new tokens (${maxLen - promptLen}) = ${maxLen} exceeds the model context of ${nPos} positions`,
      `shorten the prompt or set max new tokens to at most ${Math.max(0, nPos - promptLen)}`,
    );
  }
  if (cfg.stopStrings && cfg.stopStrings.length > 0 && !deps.decode) {
    throw new FugakuError('INVALID_ARGUMENT', 'stopStrings needs a tokenizer to decode with', 'pass deps.decode (the library facade does this)');
  }
  const pad = cfg.padTokenId ?? cfg.eosTokenId[0] ?? 0;
  const rng = deps.rng ?? (cfg.seed !== null ? new Rng(cfg.seed) : Rng.fromEntropy());
  const now = deps.now ?? (() => performance.now());
  const start = now();
  const processors = buildLogitsProcessors(cfg, promptLen);
  const V = model.config.vocabSize;

  // Every cache made here is dropped when generate returns or throws: give its memory back (GPU).
  const caches: KVCache[] = [];
  try {
    return await run();
  } finally {
    for (const c of caches) c.free();
  }

  async function run(): Promise<GeneratedSequence[]> {
    // Prefill each prompt once, then fan out numReturnSequences rows sharing that prefill.
    const rows: Row[] = [];
    for (let b = 0; b < inputIds.length; b++) {
      const ids = inputIds[b];
      const mask = masks[b];
      const positions: number[] = [];
      let real = 0;
      for (let i = 0; i < ids.length; i++) {
        positions.push(mask[i] ? real : 1); // HF: cumsum(mask) - 1, padding positions filled with 1
        if (mask[i]) real++;
      }
      const cache = model.newCache(maxLen);
      caches.push(cache);
      const logits = await model.forward(ids, cache, { positions, attentionMask: mask, logits: 'last' });
      for (let n = 0; n < cfg.numReturnSequences; n++) {
        let rowCache = cache;
        if (n < cfg.numReturnSequences - 1) caches.push(rowCache = cache.clone());
        rows.push({
          promptIndex: b,
          ids: ids.slice(),
          realCount: real,
          cache: rowCache,
          nextLogits: logits,
          out: [],
          done: false,
          reason: 'length',
          logprobs: cfg.outputLogprobs !== null ? [] : undefined,
        });
      }
    }

    const scores = new Float32Array(V);
    const tokenOptions: NextTokenOptions = {
      processors,
      doSample: cfg.doSample,
      rng,
      logprobs: cfg.outputLogprobs,
      eosTokenIds: cfg.eosTokenId,
      stopStrings: cfg.stopStrings ?? [],
      decode: deps.decode,
    };
    for (let step = 0; promptLen + step < maxLen; step++) {
      if (deps.signal?.aborted) {
        for (const r of rows) if (!r.done) { r.done = true; r.reason = 'aborted'; }
        break;
      }
      if (cfg.maxTime !== null && (now() - start) / 1000 >= cfg.maxTime) {
        for (const r of rows) if (!r.done) { r.done = true; r.reason = 'max_time'; }
        break;
      }
      // Choose the next token of every row (finished rows get pad, as in HF).
      for (let i = 0; i < rows.length; i++) {
        const r = rows[i];
        if (r.done) {
          r.ids.push(pad);
          continue;
        }
        const t = nextToken(r.nextLogits, r, tokenOptions, scores);
        if (r.logprobs) r.logprobs.push(t.logprob!);
        deps.onToken?.(i, t.id);
        if (t.finish !== null) {
          r.done = true;
          r.reason = t.finish;
          if (t.stopString !== undefined) r.stopString = t.stopString;
        }
      }
      if (rows.every((r) => r.done)) break;
      if (promptLen + step + 1 >= maxLen) break;
      // Feed the chosen tokens back: one batched decode step (one pass over the weights) for all running rows.
      const running = rows.filter((r) => !r.done);
      const next = await model.forwardBatch(running.map((r) => ({ ids: [r.ids[r.ids.length - 1]], cache: r.cache, positions: [r.realCount], logits: 'last' as const })));
      running.forEach((r, i) => {
        r.nextLogits = next[i];
        r.realCount++;
      });
      if ((deps.yieldEvery ?? 1) > 0 && step % (deps.yieldEvery ?? 1) === 0) await new Promise((res) => setImmediate(res));
    }

    return rows.map((r) => {
      const s: GeneratedSequence = { promptIndex: r.promptIndex, outputIds: r.out, finishReason: r.reason };
      if (r.stopString !== undefined) s.stopString = r.stopString;
      if (r.logprobs) s.logprobs = r.logprobs;
      return s;
    });
  }
}
