/**
 * The server's scheduler (continuous batching) against the library's `generate`: same seed → same
 * tokens, batching does not change results, prefix reuse gives identical output, cancellation frees
 * the slot, the queue is bounded. In-process, on the tiny-ja-demo model (f32).
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AutoTokenizer, type PreTrainedTokenizer } from '../src/tokenizer/index.js';
import { AutoModelForCausalLM, type GPT2LMHeadModel } from '../src/generation/causal-lm.js';
import { applyChatTemplate, TURN_STOP_STRING } from '../src/chat/index.js';
import { Engine, type GenerationJob } from '../src/server/engine.js';
import { PrefixCache } from '../src/server/prefix-cache.js';
import { KVCache } from '../src/model/kv-cache.js';
import type { BatchStep, GPT2Model } from '../src/model/gpt2.js';
import { ApiError } from '../src/server/errors.js';
import { Metrics } from '../src/server/metrics.js';
import { StopTextFilter, finalText } from '../src/server/text.js';
import { modelDirs } from './helpers.js';

let tok: PreTrainedTokenizer;
let lm: GPT2LMHeadModel;
const dir = modelDirs['tiny-ja-demo'];

before(async () => {
  tok = await AutoTokenizer.fromPretrained(dir);
  lm = await AutoModelForCausalLM.fromPretrained(dir, { dtype: 'f32' });
});

const enc = (s: string) => tok.encode(s, { addSpecialTokens: false });
const decode = (ids: number[]) => tok.decode(ids, { skipSpecialTokens: true });

function job(promptIds: number[], opts: Record<string, unknown>, extra: Partial<GenerationJob> = {}): GenerationJob {
  return { promptIds, config: lm.generationConfig(opts), maxNewTokens: 12, n: 1, stop: [], logprobs: null, ...extra };
}

test('one request alone: same tokens as generate (greedy, and sampling with a seed, n = 1 and n = 3)', async () => {
  const engine = new Engine(lm.model, tok, { maxBatch: 4 });
  const ids = enc('スーパーコンピュータ「富岳」という名称は');
  const greedy = await engine.submit(job(ids, { doSample: false, topK: 0 }));
  const [g] = await lm.generateSequences(ids, { maxNewTokens: 12, doSample: false });
  assert.deepEqual(greedy.sequences[0].outputIds, g.outputIds);
  assert.equal(greedy.sequences[0].outputIds.length, 12);

  const sampling = { doSample: true, temperature: 0.9, topK: 0, topP: 0.95, seed: 1234 };
  const one = await engine.submit(job(ids, sampling));
  const [s1] = await lm.generateSequences(ids, { ...sampling, maxNewTokens: 12 });
  assert.deepEqual(one.sequences[0].outputIds, s1.outputIds);

  const three = await engine.submit(job(ids, sampling, { n: 3 }));
  const lib3 = await lm.generateSequences(ids, { ...sampling, maxNewTokens: 12, numReturnSequences: 3 });
  assert.deepEqual(three.sequences.map((q) => q.outputIds), lib3.map((q) => q.outputIds));
  assert.ok(new Set(three.sequences.map((q) => q.outputIds.join())).size > 1, 'three samples are not all the same');
});

test('continuous batching: concurrent requests get exactly what they get alone (greedy and seeded)', async () => {
  const metrics = new Metrics();
  const engine = new Engine(lm.model, tok, { maxBatch: 3, metrics, prefixCacheEntries: 0 });
  const prompts = ['日本の首都は', '富士山の高さは', 'こんにちは。今日は', '昔々あるところに', 'AIとは何ですか？'].map(enc);
  const configs = prompts.map((_, i) => (i % 2 === 0 ? { doSample: false, topK: 0 } : { doSample: true, temperature: 0.8, topK: 40, seed: 77 + i }));
  const maxNew = [6, 12, 9, 12, 4];
  const alone: number[][] = [];
  for (let i = 0; i < prompts.length; i++) {
    const [s] = await lm.generateSequences(prompts[i], { ...configs[i], maxNewTokens: maxNew[i] });
    alone.push(s.outputIds);
  }
  const together = await Promise.all(prompts.map((p, i) => engine.submit(job(p, configs[i], { maxNewTokens: maxNew[i] }))));
  assert.deepEqual(together.map((r) => r.sequences[0].outputIds), alone);
  // 5 requests on 3 slots: some steps ran several sequences, and requests joined while others ran.
  const steps = engine.stats.steps;
  assert.ok(steps < maxNew.reduce((a, b) => a + b, 0), `batched: ${steps} steps for ${maxNew.reduce((a, b) => a + b, 0)} tokens`);
  assert.match(metrics.render({}), /fugaku_batch_size_bucket\{le="1"\} \d+/);
  assert.equal(engine.stats.runningSequences, 0);
});

test('prefix reuse: turn 2 of a chat reuses turn 1\'s KV cache and gives the same answer as without it', async () => {
  const metrics = new Metrics();
  const engine = new Engine(lm.model, tok, { metrics, prefixCacheEntries: 4 });
  const cold = new Engine(lm.model, tok, { prefixCacheEntries: 0 });
  const chatJob = (text: string): GenerationJob => job(enc(text), { doSample: false, topK: 0 }, { stop: [TURN_STOP_STRING], trimTrailingWhitespace: true, maxNewTokens: 16 });
  const history = [{ role: 'user' as const, content: '日本の首都はどこですか？' }];
  const t1 = await engine.submit(chatJob(applyChatTemplate(history)));
  assert.equal(t1.cachedTokens, 0);
  const turn2 = applyChatTemplate([...history, { role: 'assistant', content: t1.sequences[0].text }, { role: 'user', content: 'その人口は？' }]);
  const warm = await engine.submit(chatJob(turn2));
  const fresh = await cold.submit(chatJob(turn2));
  assert.ok(warm.cachedTokens >= enc(applyChatTemplate(history)).length, `reused ${warm.cachedTokens} tokens`);
  assert.equal(metrics.prefixReusedTokens.get(), warm.cachedTokens);
  assert.deepEqual(warm.sequences[0].outputIds, fresh.sequences[0].outputIds);
  assert.equal(warm.sequences[0].text, fresh.sequences[0].text);
});

test('cancellation: an aborted request leaves the batch at the next step; the others are unaffected', async () => {
  const engine = new Engine(lm.model, tok, { maxBatch: 2, prefixCacheEntries: 0 });
  const ac = new AbortController();
  const seen: number[] = [];
  const long = engine.submit(
    job(enc('長い物語を書いてください。'), { doSample: false, topK: 0 }, {
      maxNewTokens: 200,
      signal: ac.signal,
      onEvent: (e) => {
        if (e.type === 'token' && e.tokenId >= 0) {
          seen.push(e.tokenId);
          if (seen.length === 3) ac.abort();
        }
      },
    }),
  );
  const other = engine.submit(job(enc('日本の首都は'), { doSample: false, topK: 0 }, { maxNewTokens: 10 }));
  const r = await long;
  assert.equal(r.sequences[0].finishReason, 'aborted');
  assert.equal(r.sequences[0].outputIds.length, 3, 'stopped at the token boundary after the abort');
  const [alone] = await lm.generateSequences(enc('日本の首都は'), { maxNewTokens: 10 });
  assert.deepEqual((await other).sequences[0].outputIds, alone.outputIds);
  assert.equal(engine.stats.runningSequences, 0);
  // A request aborted while queued never runs.
  const ac2 = new AbortController();
  ac2.abort();
  const never = await engine.submit(job(enc('こんにちは'), {}, { signal: ac2.signal }));
  assert.deepEqual(never.sequences.map((q) => [q.finishReason, q.outputIds.length]), [['aborted', 0]]);
});

test('bounded queue: 503 with Retry-After when full; requests that can never run are refused up front', async () => {
  const engine = new Engine(lm.model, tok, { maxBatch: 1, maxQueue: 1 });
  const ids = enc('日本の首都は');
  const a = engine.submit(job(ids, { doSample: false, topK: 0 }, { maxNewTokens: 4 }));
  const b = engine.submit(job(ids, { doSample: false, topK: 0 }, { maxNewTokens: 4 }));
  assert.throws(
    () => engine.submit(job(ids, {}, { maxNewTokens: 4 })),
    (e: unknown) => e instanceof ApiError && e.status === 503 && e.retryAfter === 1 && /max-queue 1/.test(e.message),
  );
  assert.throws(() => engine.submit(job(ids, {}, { n: 2 })), /n must be an integer in 1\.\.1/);
  assert.throws(() => engine.submit(job(ids, {}, { maxNewTokens: 600 })), /maximum context length is 512/);
  assert.throws(() => engine.submit(job([1, 999999], {})), /outside 0\.\.48639/);
  const [ra, rb] = await Promise.all([a, b]);
  assert.deepEqual(ra.sequences[0].outputIds, rb.sequences[0].outputIds);
});

test('the prompts of one request are one queue entry: served on an idle server whatever their number, batched together, all or none', async () => {
  // Before, each prompt took a queue place: 5 prompts with --max-queue 0 got 503 on an idle server, forever.
  let peak = 0;
  const engine: Engine = new Engine(lm.model, tok, {
    maxBatch: 3,
    maxQueue: 0,
    prefixCacheEntries: 0,
    yieldToEventLoop: () => new Promise<void>((r) => {
      peak = Math.max(peak, engine.stats.runningSequences);
      setImmediate(r);
    }),
  });
  const prompts = ['日本の首都は', '富士山は', 'こんにちは', '東京は', '春は'].map(enc);
  const greedy = { doSample: false, topK: 0 };
  const results = await Promise.all(engine.submitMany(prompts.map((ids) => job(ids, greedy, { maxNewTokens: 10, ignoreEos: true }))));
  assert.equal(results.length, 5);
  for (const [i, r] of results.entries()) {
    const [g] = await lm.generateSequences(prompts[i], { maxNewTokens: 10, doSample: false });
    assert.deepEqual(r.sequences[0].outputIds.slice(0, g.outputIds.length), g.outputIds, `prompt ${i}`);
  }
  assert.equal(peak, 3, 'the prompts ran side by side, up to --max-batch');

  // Busy: a request waits (max queue 1), so a second one is refused whole — none of its prompts queued.
  const busy = new Engine(lm.model, tok, { maxBatch: 1, maxQueue: 1, prefixCacheEntries: 0 });
  const running = busy.submit(job(prompts[0], greedy, { maxNewTokens: 8 }));
  const waiting = busy.submitMany([job(prompts[1], greedy, { maxNewTokens: 4 }), job(prompts[2], greedy, { maxNewTokens: 4 })]);
  assert.equal(busy.stats.queued, 2);
  assert.throws(
    () => busy.submitMany([job(prompts[3], greedy), job(prompts[4], greedy)]),
    (e: unknown) => e instanceof ApiError && e.status === 503 && e.retryAfter === 1 && /1 requests are already waiting/.test(e.message),
  );
  assert.equal(busy.stats.queued, 2, 'nothing of the refused request was queued');
  // One bad prompt refuses the whole request before anything is queued.
  assert.throws(() => busy.submitMany([job(prompts[3], greedy), job([1, 999999], greedy)]), /outside 0\.\.48639/);
  assert.equal(busy.stats.queued, 2);
  await Promise.all([running, ...waiting]);
  // Once the load is gone the same request gets in (a client that obeys Retry-After is served).
  const later = await Promise.all(busy.submitMany([job(prompts[3], greedy, { maxNewTokens: 3 }), job(prompts[4], greedy, { maxNewTokens: 3 })]));
  assert.deepEqual(later.map((r) => r.sequences[0].outputIds.length), [3, 3]);
});

/**
 * The model behind an engine with a forward that, once armed, waits for `release()` before it runs (as
 * a GPU backend's forward is awaited): what happens meanwhile must not break the step. Records whether
 * a cache of the step was freed before the forward used it, and every cache the engine made.
 */
function gatedModel() {
  const made: KVCache[] = [];
  const g = {
    armed: false,
    freedEarly: false,
    made,
    entered: null as Promise<void> | null,
    release: () => {},
    model: Object.create(lm.model) as GPT2Model,
  };
  let enter = () => {};
  g.model.newCache = (capacity?: number) => {
    const c = lm.model.newCache(capacity);
    made.push(c);
    return c;
  };
  g.model.forwardBatch = async (steps: readonly BatchStep[]) => {
    if (g.armed) {
      g.armed = false;
      enter();
      await new Promise<void>((r) => (g.release = r));
      for (const st of steps) {
        try { st.cache.checkLive(); } catch { g.freedEarly = true; }
      }
    }
    return lm.model.forwardBatch(steps);
  };
  g.entered = null;
  const arm = () => {
    g.armed = true;
    g.entered = new Promise<void>((r) => (enter = r));
  };
  return { g, arm };
}

const live = (c: KVCache) => { try { c.checkLive(); return true; } catch { return false; } };

test('shutdown while a step awaits its forward: the jobs fail with 503, their late results are dropped, their caches are freed only after the forward; the prefix cache keeps its own', async () => {
  const { g, arm } = gatedModel();
  const engine = new Engine(g.model, tok, { maxBatch: 4, prefixCacheEntries: 4 });
  const greedy = { doSample: false, topK: 0 };
  // A finished job leaves its cache to the prefix cache, which must stay usable.
  const first = await engine.submit(job(enc('日本の首都は'), greedy, { maxNewTokens: 4, ignoreEos: true }));
  assert.equal(first.sequences[0].outputIds.length, 4);
  assert.equal(engine.stats.prefixCacheEntries, 1);
  const kept = g.made.filter(live);
  assert.equal(kept.length, 1, 'the prefix cache holds the finished cache, live');

  // A decoding job (n = 2: two cache clones) and one still in prefill, both in the step that is held.
  const events: string[] = [];
  let tokens = 0;
  const decoding = engine.submit(job(enc('富士山は'), greedy, {
    n: 2, maxNewTokens: 50, ignoreEos: true,
    onEvent: (e) => {
      events.push(e.type);
      if (e.type === 'token' && ++tokens === 4) arm();  // two tokens per sequence: hold the next forward
    },
  }));
  const decodingErr = assert.rejects(decoding, (e: unknown) => e instanceof ApiError && e.status === 503 && e.code === 'shutting_down');
  while (g.entered === null) await new Promise((r) => setImmediate(r));
  const prefilling = engine.submit(job(enc('こんにちは。今日は'), greedy, { maxNewTokens: 5, onEvent: (e) => events.push(`p:${e.type}`) }));
  const prefillErr = assert.rejects(prefilling, (e: unknown) => e instanceof ApiError && e.status === 503);
  await g.entered;
  assert.ok(events.includes('p:start'), 'the second job was admitted into the held step');
  const eventsBefore = events.length;
  await engine.shutdown(0);
  await decodingErr;
  await prefillErr;
  assert.equal(engine.stats.runningJobs, 0);
  // Freed only once the forward that uses them is done.
  assert.ok(g.made.filter(live).length >= 2, 'the held step\'s caches are still live while its forward runs');
  g.release();
  await engine.whenIdle();
  await new Promise((r) => setImmediate(r));
  assert.equal(g.freedEarly, false, 'a cache was freed while the forward still used it');
  assert.deepEqual(events.slice(eventsBefore), [], 'no token or finish event after the jobs failed');
  assert.deepEqual(g.made.filter(live), kept, 'every other cache was freed; the prefix cache\'s one was not');
});

test('PrefixCache owns its caches: frees the ones it does not keep, evicts and clears; lookups copy', () => {
  const be = lm.model.backend;
  const mk = (n: number) => {
    const c = new KVCache(be, 1, 4, 32);
    c.length = n;
    return c;
  };
  const pc = new PrefixCache(2, 4);
  const short = mk(3);
  pc.put([1, 2, 3], short);
  assert.equal(live(short), false, 'too short to keep: freed');
  const a = mk(5);
  const b = mk(6);
  pc.put([1, 2, 3, 4, 5], a);
  pc.put([9, 9, 9, 9, 9, 9], b);
  assert.equal(pc.size, 2);
  const longer = mk(7);
  pc.put([1, 2, 3, 4, 5, 6, 7], longer);  // a is a prefix of it: redundant, freed
  assert.equal(live(a), false);
  assert.equal(pc.size, 2);
  const m = pc.lookup([9, 9, 9, 9, 9, 1], 16)!;
  assert.equal(m.length, 5);
  assert.notEqual(m.cache, b, 'a copy, not the entry');
  assert.ok(live(b) && live(m.cache));
  const c = mk(8);
  pc.put([5, 5, 5, 5, 5, 5, 5, 5], c);  // over maxEntries: the least recently used (longer) goes
  assert.equal(live(longer), false);
  assert.ok(live(b) && live(c));
  pc.clear();
  assert.equal(pc.size, 0);
  assert.ok(!live(b) && !live(c));
  assert.ok(live(m.cache), 'what a lookup handed out belongs to the caller');
  const off = new PrefixCache(0);
  const d = mk(10);
  off.put([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], d);
  assert.equal(live(d), false, 'reuse disabled: freed');
});

test('stop strings are cut from the text and never streamed; streamed chunks add up to the final text', async () => {
  const engine = new Engine(lm.model, tok, { prefixCacheEntries: 0 });
  const ids = enc('日本の首都は');
  const [free] = await lm.generateSequences(ids, { maxNewTokens: 16 });
  const freeText = decode(free.outputIds);
  // A stop string taken from the middle of the greedy continuation.
  const stop = [...freeText].slice(4, 6).join('');
  let streamed = '';
  const r = await engine.submit(job(ids, { doSample: false, topK: 0 }, { maxNewTokens: 16, stop: [stop], continuation: true, onEvent: (e) => { if (e.type === 'token') streamed += e.text; } }));
  const q = r.sequences[0];
  assert.equal(q.finishReason, 'stop');
  assert.ok(!q.text.includes(stop));
  assert.equal(streamed, q.text);
  assert.ok(q.outputIds.length < 16);
  const [lib] = await lm.generateSequences(ids, { maxNewTokens: 16, stopStrings: [stop] }, { decode });
  assert.deepEqual(q.outputIds, lib.outputIds, 'stops at the same token as generate');
});

test('StopTextFilter holds back a possible stop string and trailing space; finalText cuts at the earliest stop', () => {
  const f = new StopTextFilter(['### 指示:'], true);
  const parts = ['答えは', '東京です。', '\n\n', '##', '# 指示', ':\n次'];
  const sent = parts.map((p) => f.push(p)).join('');
  assert.equal(sent, '答えは東京です。');
  const fin = finalText(parts.join(''), ['### 指示:'], true);
  assert.deepEqual(fin, { text: '答えは東京です。', stop: '### 指示:' });
  assert.equal(f.finish(fin.text), '');
  const g = new StopTextFilter(['END'], false);
  assert.equal(g.push('abc E'), 'abc ');
  assert.equal(g.push('x'), 'Ex', 'a false alarm is released');
});

test('StopTextFilter and finalText with a min_tokens boundary (property): stops count only where they end past it; streamed = final', () => {
  // Reference: the earliest occurrence (by start) of any stop that ends after `from` characters.
  const reference = (full: string, stops: string[], from: number) => {
    for (let i = 0; i < full.length; i++) for (const s of stops) if (full.startsWith(s, i) && i + s.length > from) return full.slice(0, i);
    return full;
  };
  const chunks = fc.array(fc.stringMatching(/^[abc ]{0,4}$/), { maxLength: 12 });
  const stops = fc.array(fc.stringMatching(/^[abc]{1,3}$/), { minLength: 1, maxLength: 3 });
  fc.assert(
    fc.property(chunks, stops, fc.nat(14), (parts, stopList, minTokens) => {
      const f = new StopTextFilter(stopList, false, minTokens);
      let sent = '';
      let from = Infinity;
      parts.forEach((p, i) => {
        sent += f.push(p);
        if (minTokens > 0 && i + 1 === minTokens) {
          f.countStopsFromHere();
          from = parts.slice(0, i + 1).join('').length;
        }
        const soFar = parts.slice(0, i + 1).join('');
        assert.ok(reference(soFar, stopList, minTokens === 0 ? 0 : from).startsWith(sent), 'nothing sent is ever cut');
      });
      const full = parts.join('');
      const countFrom = minTokens === 0 ? 0 : Math.min(from, full.length);
      const fin = finalText(full, stopList, false, countFrom);
      assert.equal(fin.text, reference(full, stopList, countFrom));
      assert.equal(sent + f.finish(fin.text), fin.text);
    }),
    { numRuns: 500 },
  );
});
