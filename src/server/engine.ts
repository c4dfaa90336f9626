/**
 * The generation engine behind the server: a scheduler with continuous batching.
 *
 * - Requests ("jobs") wait in a bounded FIFO queue. At every step the scheduler admits queued jobs while
 *   their sequences fit in `maxBatch` running slots (a job with n choices takes n slots, admitted whole).
 * - One step = ONE `model.forwardBatch` call over every running sequence: the next token of each decoding
 *   sequence, plus a chunk of the prompt of each newly admitted job (chunked prefill, at most
 *   `prefillChunk` prompt tokens per step, so a long prompt cannot stall the others for long).
 * - After the step, each sequence's logits go through the request's own logits processors (the ones
 *   `generate` builds, plus OpenAI presence/frequency penalties) and the request's own seeded `Rng`,
 *   in the order `generate` uses (choices of one request in index order) — so a request gets the same
 *   tokens it would get from the library's `generate` alone, whatever else runs in the batch.
 * - A sequence leaves the batch at the token boundary where it finishes (EOS, stop string, max tokens)
 *   or where its request was cancelled (AbortSignal: the client went away); its slot is free for the
 *   next step. Between steps the loop yields to the event loop so HTTP stays responsive.
 * - Prefix reuse: finished sequences leave their KV cache in a bounded LRU (PrefixCache); a new prompt
 *   sharing a prefix with one of them (turn 2 of a chat) starts from a copy of it and prefills the rest.
 */
import { FugakuError } from '../errors.js';
import type { GPT2Model, BatchStep } from '../model/gpt2.js';
import type { KVCache } from '../model/kv-cache.js';
import type { GenerationConfig } from '../generation/config.js';
import { buildLogitsProcessors, PresenceFrequencyPenaltyLogitsProcessor, type LogitsProcessor } from '../generation/processors.js';
import { Rng } from '../generation/rng.js';
import { logSoftmax, topLogprobs } from '../generation/sampling.js';
import { nextToken, type TokenLogprob } from '../generation/next-token.js';
import { TextStreamer } from '../generation/streamer.js';
import type { PreTrainedTokenizer } from '../tokenizer/index.js';
import { byteOfPiece } from '../tokenizer/decoders.js';
import { ApiError, contextOverflow } from './errors.js';
import type { Metrics } from './metrics.js';
import { PrefixCache } from './prefix-cache.js';
import { finalText, StopTextFilter } from './text.js';

export type EngineFinishReason = 'stop' | 'length' | 'aborted';

export interface GenerationJob {
  promptIds: number[];
  /** Sampling settings (resolveGenerationConfig); numReturnSequences/maxNewTokens/stopStrings are not read from it. */
  config: GenerationConfig;
  maxNewTokens: number;
  /** Number of choices (sequences) for this prompt; they share one prefill and one Rng, as in generate. */
  n: number;
  /** Stop strings: generation ends when the text contains one; it is cut from the text. */
  stop: readonly string[];
  /**
   * Completions: the text continues the prompt (decoded in the context of the prompt's last tokens, so
   * a first token "▁日本" gives " 日本", as decode(prompt + output) would). Without it the output is
   * decoded on its own (chat answers, like `generate`'s sequenceText).
   */
  continuation?: boolean;
  /** Chat answers: drop trailing whitespace (before a stop string and at the end). */
  trimTrailingWhitespace?: boolean;
  /** Per generated token: its logprob and this many alternatives (null: no logprobs). */
  logprobs: number | null;
  /** Also logprobs of the prompt tokens (OpenAI echo + logprobs), with this many alternatives. */
  promptLogprobs?: number | null;
  /** OpenAI penalties on the generated tokens' logits: presence (once per token seen), frequency (per occurrence). */
  presencePenalty?: number;
  frequencyPenalty?: number;
  /** vLLM ignore_eos: EOS does not end the sequence (it is generated like any token; decode skips it). */
  ignoreEos?: boolean;
  /** Cancels the job (the slot is freed at the next step). */
  signal?: AbortSignal;
  /** Streaming events, in order. */
  onEvent?: (e: JobEvent) => void;
}

export type JobEvent =
  | { type: 'start'; cachedTokens: number }
  | { type: 'token'; index: number; tokenId: number; text: string; logprob?: TokenLogprob }
  | { type: 'finish'; index: number; reason: EngineFinishReason; text: string };

export interface SequenceResult {
  index: number;
  outputIds: number[];
  text: string;
  finishReason: EngineFinishReason;
  logprobs?: TokenLogprob[];
}

export interface JobResult {
  sequences: SequenceResult[];
  promptTokens: number;
  /** Prompt tokens taken from the prefix cache (not recomputed). */
  cachedTokens: number;
  /** With promptLogprobs: per prompt token (null for the first). */
  promptLogprobs?: (TokenLogprob | null)[];
}

export interface EngineOptions {
  /** Most sequences in one step (default 8). */
  maxBatch?: number;
  /** Most jobs waiting for a slot (default 64); more are refused with 503. */
  maxQueue?: number;
  /** Most prompt tokens prefilled per step, over all jobs (default 256). */
  prefillChunk?: number;
  /** Finished caches kept for prefix reuse (default 16; 0 disables it). */
  prefixCacheEntries?: number;
  /** Milliseconds clock (default performance.now). */
  now?: () => number;
  /** How the loop yields between steps (default setImmediate). */
  yieldToEventLoop?: () => Promise<void>;
  metrics?: Metrics;
}

interface Seq {
  index: number;
  ids: number[];
  out: number[];
  cache: KVCache;
  logits: Float32Array | null;
  streamer: TextStreamer;
  /** Prompt tail the streamer was primed with (continuation), and how much of its text is still to skip. */
  prime: number[];
  skip: number;
  filter: StopTextFilter;
  /**
   * vLLM min_tokens: stop strings count only where they end after this many characters of the text (the
   * first min_tokens tokens' text); Infinity until min_tokens tokens were generated, 0 without min_tokens.
   */
  stopsFrom: number;
  logprobs?: TokenLogprob[];
  done: boolean;
  reason: EngineFinishReason;
  text: string;
}

/** One request in the queue (its prompts are separate jobs). */
interface QueueEntry {
  /** True once one of its jobs was admitted: the request is being served, no longer waiting. */
  started: boolean;
}

interface JobState {
  job: GenerationJob;
  entry: QueueEntry;
  id: number;
  rng: Rng;
  processors: LogitsProcessor[];
  capacity: number;
  prefillCache: KVCache | null;
  prefillPos: number;
  cachedTokens: number;
  promptLogprobs?: (TokenLogprob | null)[];
  seqs: Seq[];
  phase: 'queued' | 'prefill' | 'decode' | 'done';
  enqueuedAt: number;
  firstToken: boolean;
  resolve: (r: JobResult) => void;
  reject: (e: unknown) => void;
}

export interface EngineStats {
  queued: number;
  runningJobs: number;
  runningSequences: number;
  steps: number;
  prefixCacheEntries: number;
}

export class Engine {
  readonly maxBatch: number;
  readonly maxQueue: number;
  readonly prefillChunk: number;
  private readonly now: () => number;
  private readonly yieldToEventLoop: () => Promise<void>;
  private readonly metrics: Metrics | undefined;
  private readonly prefixCache: PrefixCache;
  private readonly queue: JobState[] = [];
  private running: JobState[] = [];
  /** Jobs whose caches the forward being awaited uses, with the caches to free once it is done. */
  private readonly inFlight = new Map<JobState, KVCache[]>();
  private looping = false;
  private closed = false;
  private nextId = 1;
  private stepCount = 0;
  private idleWaiters: (() => void)[] = [];

  constructor(
    readonly model: GPT2Model,
    readonly tokenizer: PreTrainedTokenizer,
    opts: EngineOptions = {},
  ) {
    this.maxBatch = opts.maxBatch ?? 8;
    this.maxQueue = opts.maxQueue ?? 64;
    this.prefillChunk = opts.prefillChunk ?? 256;
    if (!Number.isInteger(this.maxBatch) || this.maxBatch < 1) throw new FugakuError('INVALID_ARGUMENT', `maxBatch must be an integer >= 1, got ${this.maxBatch}`, 'e.g. --max-batch 8');
    if (!Number.isInteger(this.maxQueue) || this.maxQueue < 0) throw new FugakuError('INVALID_ARGUMENT', `maxQueue must be an integer >= 0, got ${this.maxQueue}`, 'e.g. --max-queue 64');
    if (!Number.isInteger(this.prefillChunk) || this.prefillChunk < 1) throw new FugakuError('INVALID_ARGUMENT', `prefillChunk must be an integer >= 1, got ${this.prefillChunk}`, 'e.g. 256');
    this.now = opts.now ?? (() => performance.now());
    this.yieldToEventLoop = opts.yieldToEventLoop ?? (() => new Promise<void>((r) => setImmediate(r)));
    this.metrics = opts.metrics;
    this.prefixCache = new PrefixCache(opts.prefixCacheEntries ?? 16);
  }

  get stats(): EngineStats {
    return {
      queued: this.queue.length,
      runningJobs: this.running.length,
      runningSequences: this.slotsInUse(),
      steps: this.stepCount,
      prefixCacheEntries: this.prefixCache.size,
    };
  }

  /** True once `shutdown` was called. */
  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * Queues a job. Throws (synchronously) an ApiError/FugakuError for a job that can never run (bad ids,
   * too long, n > maxBatch) and a 503 ApiError with Retry-After when the queue is full or the engine is
   * shutting down; otherwise returns the promise of its result (rejected if generation fails).
   */
  submit(job: GenerationJob): Promise<JobResult> {
    return this.submitMany([job])[0];
  }

  /**
   * Queues the jobs of one request (the prompts of a completions request) as ONE queue entry, all or
   * none: each job is checked first, then the request is refused (503, Retry-After) only when
   * `maxQueue` other requests are already waiting — never for its own size, so a client that retries
   * on 503 gets in once the load drops. Its jobs are admitted one by one as slots free up, batched
   * with everything else like separate requests; the entry stops counting as waiting once its first
   * job runs.
   */
  submitMany(jobs: readonly GenerationJob[]): Promise<JobResult>[] {
    if (jobs.length === 0) throw new FugakuError('INVALID_ARGUMENT', 'a request needs at least one prompt', 'send a prompt');
    for (const job of jobs) this.check(job);
    if (this.closed) throw new ApiError(503, 'server_error', 'the server is shutting down', null, 'shutting_down', 5);
    const waiting = this.waitingEntries();
    const startsNow = this.queue.length === 0 && this.slotsInUse() + jobs[0].n <= this.maxBatch;
    if (waiting >= this.maxQueue && !startsNow) {
      this.metrics?.rejected.inc();
      throw new ApiError(503, 'overloaded_error', `the server is busy: ${waiting} requests are already waiting (--max-queue ${this.maxQueue})`, null, 'queue_full', 1);
    }
    const entry: QueueEntry = { started: false };
    const promises = jobs.map((job) => new Promise<JobResult>((resolve, reject) => {
      this.queue.push({
        job,
        entry,
        id: this.nextId++,
        rng: job.config.seed !== null ? new Rng(job.config.seed) : Rng.fromEntropy(),
        processors: this.processorsOf(job),
        capacity: job.promptIds.length + job.maxNewTokens,
        prefillCache: null,
        prefillPos: 0,
        cachedTokens: 0,
        seqs: [],
        phase: 'queued',
        enqueuedAt: this.now(),
        firstToken: false,
        resolve,
        reject,
      });
    }));
    this.kick();
    return promises;
  }

  /** Refuses a job that can never run: empty or out-of-vocabulary prompt, too long, bad n or max tokens. */
  private check(job: GenerationJob): void {
    const cfg = this.model.config;
    const P = job.promptIds.length;
    if (P === 0) throw new FugakuError('INVALID_ARGUMENT', 'the prompt is empty', 'send at least one token (or a non-empty string)');
    for (const id of job.promptIds) {
      if (!Number.isInteger(id) || id < 0 || id >= cfg.vocabSize) {
        throw new FugakuError('TOKEN_ID_OUT_OF_RANGE', `prompt token id ${id} is outside 0..${cfg.vocabSize - 1}`, 'token ids must come from this model\'s tokenizer (see /tokenize)');
      }
    }
    if (!Number.isInteger(job.maxNewTokens) || job.maxNewTokens < 1) throw new FugakuError('INVALID_ARGUMENT', `max tokens must be an integer >= 1, got ${job.maxNewTokens}`, 'set max_tokens to 1 or more');
    if (P + job.maxNewTokens > cfg.nPositions) throw contextOverflow(P, job.maxNewTokens, cfg.nPositions);
    if (!Number.isInteger(job.n) || job.n < 1 || job.n > this.maxBatch) {
      throw new FugakuError('INVALID_ARGUMENT', `n must be an integer in 1..${this.maxBatch} (the server's --max-batch), got ${job.n}`, 'ask for fewer choices, or start the server with a larger --max-batch');
    }
  }

  /** Requests in the queue none of whose jobs runs yet. */
  private waitingEntries(): number {
    const seen = new Set<QueueEntry>();
    for (const s of this.queue) if (!s.entry.started) seen.add(s.entry);
    return seen.size;
  }

  /**
   * Stops admitting work: queued jobs fail with 503 at once; running ones may finish for `graceMs`,
   * then they are cancelled (their promises reject with a 503 ApiError). Resolves when nothing runs.
   */
  async shutdown(graceMs = 5000): Promise<void> {
    this.closed = true;
    for (const s of this.queue.splice(0)) this.fail(s, new ApiError(503, 'server_error', 'the server is shutting down', null, 'shutting_down', 5));
    if (this.running.length === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.whenIdle(),
      new Promise<void>((r) => {
        timer = setTimeout(r, graceMs);
      }),
    ]);
    clearTimeout(timer);
    for (const s of [...this.running]) this.fail(s, new ApiError(503, 'server_error', 'the server shut down before the request finished', null, 'shutting_down', 5));
    this.running = [];
  }

  /** Resolves when no job is queued or running. */
  whenIdle(): Promise<void> {
    if (this.queue.length === 0 && this.running.length === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  private slotsInUse(): number {
    let n = 0;
    for (const s of this.running) n += s.phase === 'prefill' ? s.job.n : s.seqs.filter((q) => !q.done).length;
    return n;
  }

  private kick(): void {
    if (this.looping) return;
    this.looping = true;
    void this.loop();
  }

  private async loop(): Promise<void> {
    try {
      while (this.queue.length > 0 || this.running.length > 0) {
        await this.step();
        await this.yieldToEventLoop();
      }
    } finally {
      this.looping = false;
      for (const w of this.idleWaiters.splice(0)) w();
    }
  }

  /**
   * One scheduler step (exported behaviour is through submit; public for tests that drive it by hand).
   * The forward is awaited (a GPU backend computes asynchronously): meanwhile `shutdown` may fail the
   * jobs of this step, so what comes back for a job that is done by then is dropped.
   */
  async step(): Promise<void> {
    // 1. Cancellations (client went away): free the slots now.
    for (let i = this.queue.length - 1; i >= 0; i--) {
      const s = this.queue[i];
      if (s.job.signal?.aborted) {
        this.queue.splice(i, 1);
        this.finishAborted(s);
      }
    }
    for (const s of [...this.running]) if (s.job.signal?.aborted) this.finishAborted(s);

    // 2. Admission at the token boundary.
    while (this.queue.length > 0 && this.slotsInUse() + this.queue[0].job.n <= this.maxBatch) {
      const s = this.queue.shift()!;
      this.admit(s);
    }
    if (this.running.length === 0) return;

    // 3. One batched forward over every running sequence (decode) and prompt chunks (prefill).
    const steps: BatchStep[] = [];
    const owners: { state: JobState; seq: Seq | null; start: number; count: number }[] = [];
    let budget = this.prefillChunk;
    for (const s of this.running) {
      if (s.phase === 'prefill') {
        if (budget <= 0) continue;
        const P = s.job.promptIds.length;
        const count = Math.min(P - s.prefillPos, budget);
        budget -= count;
        const last = s.prefillPos + count === P;
        const wantAll = s.job.promptLogprobs != null;
        steps.push({ ids: s.job.promptIds.slice(s.prefillPos, s.prefillPos + count), cache: s.prefillCache!, logits: wantAll ? 'all' : last ? 'last' : 'none' });
        owners.push({ state: s, seq: null, start: s.prefillPos, count });
      } else if (s.phase === 'decode') {
        for (const q of s.seqs) {
          if (q.done) continue;
          steps.push({ ids: [q.ids[q.ids.length - 1]], cache: q.cache, logits: 'last' });
          owners.push({ state: s, seq: q, start: 0, count: 1 });
        }
      }
    }
    if (steps.length === 0) return;
    const t0 = this.now();
    let results: Float32Array[];
    const stepJobs = new Set(owners.map((o) => o.state));
    for (const s of stepJobs) this.inFlight.set(s, []);
    try {
      results = await this.model.forwardBatch(steps);
    } catch (e) {
      for (const s of stepJobs) this.fail(s, e);
      return;
    } finally {
      // Caches dropped while the forward ran (a job failed by shutdown): free them now it is done.
      for (const s of stepJobs) {
        for (const c of this.inFlight.get(s) ?? []) c.free();
        this.inFlight.delete(s);
      }
    }
    this.stepCount++;
    this.metrics?.stepTime.observe((this.now() - t0) / 1000);
    this.metrics?.batchSize.observe(owners.filter((o) => o.seq !== null).length + new Set(owners.filter((o) => o.seq === null).map((o) => o.state)).size);

    // 4. Next tokens, request by request (choices of one request in index order: generate's rng order).
    const V = this.model.config.vocabSize;
    const touched: JobState[] = [];
    owners.forEach((o, k) => {
      const s = o.state;
      if (s.phase === 'done') return;
      try {
        if (o.seq === null) {
          this.metrics?.prefillTokens.inc({}, o.count);
          let logits = results[k];
          if (s.job.promptLogprobs != null) {
            this.addPromptLogprobs(s, o.start, o.count, logits);
            logits = logits.subarray((o.count - 1) * V, o.count * V);
          }
          s.prefillPos += o.count;
          if (s.prefillPos === s.job.promptIds.length) this.startDecoding(s, logits);
        } else {
          o.seq.logits = results[k];
        }
        if (!touched.includes(s)) touched.push(s);
      } catch (e) {
        this.fail(s, e);
      }
    });
    for (const s of touched) {
      if (s.phase !== 'decode') continue;
      try {
        for (const q of s.seqs) if (!q.done && q.logits !== null) this.sampleNext(s, q);
        if (s.seqs.every((q) => q.done)) this.complete(s);
      } catch (e) {
        this.fail(s, e);
      }
    }
  }

  private admit(s: JobState): void {
    s.entry.started = true;
    const now = this.now();
    this.metrics?.queueWait.observe((now - s.enqueuedAt) / 1000);
    this.metrics?.promptTokens.inc({}, s.job.promptIds.length);
    const match = s.job.promptLogprobs == null ? this.prefixCache.lookup(s.job.promptIds, s.capacity) : null;
    if (match) {
      s.prefillCache = match.cache;
      s.prefillPos = match.length;
      s.cachedTokens = match.length;
      this.metrics?.prefixReusedTokens.inc({}, match.length);
    } else {
      s.prefillCache = this.model.newCache(s.capacity);
    }
    if (s.job.promptLogprobs != null) s.promptLogprobs = [null];
    s.phase = 'prefill';
    this.running.push(s);
    this.emit(s, { type: 'start', cachedTokens: s.cachedTokens });
  }

  private addPromptLogprobs(s: JobState, start: number, count: number, logits: Float32Array): void {
    const V = this.model.config.vocabSize;
    const ids = s.job.promptIds;
    for (let i = 0; i < count; i++) {
      const pos = start + i;
      if (pos + 1 >= ids.length) break;
      const row = logits.subarray(i * V, (i + 1) * V);
      const next = ids[pos + 1];
      s.promptLogprobs!.push({ id: next, logprob: logSoftmax(row)[next], top: topLogprobs(row, s.job.promptLogprobs ?? 0) });
    }
  }

  /** Prefill done: n sequences share its cache (clones, as generate does) and draw their first token. */
  private startDecoding(s: JobState, logits: Float32Array): void {
    const n = s.job.n;
    const cache = s.prefillCache!;
    const stops = s.job.stop;
    const prime = s.job.continuation ? this.primeTail(s.job.promptIds) : [];
    for (let i = 0; i < n; i++) {
      const streamer = new TextStreamer(this.tokenizer, { skipSpecialTokens: true });
      let primed = '';
      for (const id of prime) primed += streamer.put(id);
      s.seqs.push({
        index: i,
        ids: s.job.promptIds.slice(),
        out: [],
        cache: i === n - 1 ? cache : cache.clone(),
        logits: logits.slice(),
        streamer,
        prime,
        skip: this.decode(prime).length - primed.length,
        filter: new StopTextFilter(stops, s.job.trimTrailingWhitespace ?? false, s.job.config.minNewTokens),
        stopsFrom: s.job.config.minNewTokens > 0 ? Infinity : 0,
        logprobs: s.job.logprobs !== null ? [] : undefined,
        done: false,
        reason: 'length',
        text: '',
      });
    }
    s.prefillCache = null; // now held by the last sequence
    s.phase = 'decode';
  }

  /** The request's logits processors: OpenAI's penalties first (as vLLM applies them), then generate's. */
  private processorsOf(job: GenerationJob): LogitsProcessor[] {
    const hf = buildLogitsProcessors(job.config, job.promptIds.length);
    const pp = job.presencePenalty ?? 0;
    const fp = job.frequencyPenalty ?? 0;
    return pp !== 0 || fp !== 0 ? [new PresenceFrequencyPenaltyLogitsProcessor(pp, fp, job.promptIds.length), ...hf] : hf;
  }

  private sampleNext(s: JobState, q: Seq): void {
    const cfg = s.job.config;
    const logits = q.logits!;
    q.logits = null;
    const minTokens = cfg.minNewTokens;
    const t = nextToken(logits, q, {
      processors: s.processors,
      doSample: cfg.doSample,
      rng: s.rng,
      logprobs: s.job.logprobs,
      eosTokenIds: s.job.ignoreEos ?? false ? [] : cfg.eosTokenId,
      stopStrings: s.job.stop,
      decode: (ids) => this.decode(ids),
      stopsAfterTokens: minTokens,
      // While the searched tail still reaches into the first min_tokens tokens: the whole text past theirs.
      stopInFullText: () => finalText(this.continuationText(q.prime, q.out), s.job.stop, false, q.stopsFrom).stop,
    });
    if (q.logprobs) q.logprobs.push(t.logprob!);
    this.metrics?.generationTokens.inc();
    if (!s.firstToken) {
      s.firstToken = true;
      this.metrics?.ttft.observe((this.now() - s.enqueuedAt) / 1000);
    }
    let chunk = q.streamer.put(t.id);
    if (q.skip > 0) {
      const cut = Math.min(q.skip, chunk.length);
      chunk = chunk.slice(cut);
      q.skip -= cut;
    }
    const text = q.filter.push(chunk);
    this.emit(s, { type: 'token', index: q.index, tokenId: t.id, text, logprob: t.logprob });

    if (minTokens > 0 && q.out.length === minTokens) {
      q.stopsFrom = this.continuationText(q.prime, q.out).length;
      q.filter.countStopsFromHere();
    }
    let reason: EngineFinishReason | null = t.finish !== null ? 'stop' : null;
    if (reason === null && q.out.length >= s.job.maxNewTokens) reason = 'length';
    if (reason !== null) this.finishSeq(s, q, reason);
  }

  private finishSeq(s: JobState, q: Seq, reason: EngineFinishReason): void {
    q.done = true;
    q.reason = reason;
    // The prefix cache takes the cache over (and frees what it does not keep); an aborted one is dropped.
    if (reason !== 'aborted') this.prefixCache.put(q.ids, q.cache);
    else this.release(s, [q.cache]);
    const full = this.continuationText(q.prime, q.out);
    q.text = finalText(full, s.job.stop, s.job.trimTrailingWhitespace ?? false, q.stopsFrom).text;
    q.streamer.end();
    const rest = q.filter.finish(q.text);
    if (rest !== '') this.emit(s, { type: 'token', index: q.index, tokenId: -1, text: rest });
    this.emit(s, { type: 'finish', index: q.index, reason, text: q.text });
    this.metrics?.finished.inc({ reason });
  }

  private decode(ids: number[]): string {
    return this.tokenizer.decode(ids, { skipSpecialTokens: true });
  }

  /**
   * The last few prompt tokens to decode the output in context with; none when the prompt ends inside a
   * byte-fallback run (its text could still change) — then the output is decoded on its own.
   */
  private primeTail(prompt: readonly number[]): number[] {
    const last = this.tokenizer.idToToken(prompt[prompt.length - 1]);
    if (last === null || byteOfPiece(last) >= 0) return [];
    return prompt.slice(-8);
  }

  /** decode(prime + out) without the prime's text (decode(out) when that is not a clean split). */
  private continuationText(prime: number[], out: number[]): string {
    if (prime.length === 0) return this.decode(out);
    const a = this.decode(prime);
    const b = this.decode([...prime, ...out]);
    return b.startsWith(a) ? b.slice(a.length) : this.decode(out);
  }

  private complete(s: JobState): void {
    s.phase = 'done';
    this.running = this.running.filter((r) => r !== s);
    const result: JobResult = {
      promptTokens: s.job.promptIds.length,
      cachedTokens: s.cachedTokens,
      sequences: s.seqs.map((q) => {
        const r: SequenceResult = { index: q.index, outputIds: q.out, text: q.text, finishReason: q.reason };
        if (q.logprobs) r.logprobs = q.logprobs;
        return r;
      }),
    };
    if (s.promptLogprobs) result.promptLogprobs = s.promptLogprobs;
    s.resolve(result);
  }

  private finishAborted(s: JobState): void {
    if (s.phase === 'decode') {
      for (const q of s.seqs) if (!q.done) this.finishSeq(s, q, 'aborted');
      this.complete(s);
      return;
    }
    // Cancelled before its first token: nothing was generated.
    s.phase = 'done';
    this.running = this.running.filter((r) => r !== s);
    this.dropCaches(s);
    for (let i = 0; i < s.job.n; i++) {
      this.metrics?.finished.inc({ reason: 'aborted' });
      this.emit(s, { type: 'finish', index: i, reason: 'aborted', text: '' });
    }
    s.resolve({
      promptTokens: s.job.promptIds.length,
      cachedTokens: s.cachedTokens,
      sequences: Array.from({ length: s.job.n }, (_, i) => ({ index: i, outputIds: [], text: '', finishReason: 'aborted' as const })),
    });
  }

  private fail(s: JobState, e: unknown): void {
    if (s.phase === 'done') return; // already finished or failed (e.g. by shutdown during a step)
    s.phase = 'done';
    this.running = this.running.filter((r) => r !== s);
    this.dropCaches(s);
    s.reject(e);
  }

  /** Frees the caches a job still owns: its prefill cache and those of its unfinished sequences. */
  private dropCaches(s: JobState): void {
    const caches: KVCache[] = [];
    if (s.prefillCache !== null) caches.push(s.prefillCache);
    s.prefillCache = null;
    // A finished sequence's cache went to the prefix cache (or was freed when aborted).
    for (const q of s.seqs) if (!q.done) caches.push(q.cache);
    this.release(s, caches);
  }

  /** Frees caches of `s` now, or after the forward being awaited when it uses them. */
  private release(s: JobState, caches: KVCache[]): void {
    const later = this.inFlight.get(s);
    if (later !== undefined) later.push(...caches);
    else for (const c of caches) c.free();
  }

  private emit(s: JobState, e: JobEvent): void {
    if (!s.job.onEvent) return;
    try {
      s.job.onEvent(e);
    } catch {
      // A listener that throws (e.g. a closed stream) must not break the scheduler; the request's
      // AbortSignal is how a consumer stops its job.
    }
  }
}
