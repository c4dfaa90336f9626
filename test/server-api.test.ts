/**
 * The HTTP API through the official `openai` client (and raw fetch where the client cannot go):
 * an in-process server on loopback (createServer + listen), tiny-ja-demo in f32. Outputs are checked
 * against the library (`generateSequences`), never against hard-coded strings.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import OpenAI from 'openai';
import { AutoTokenizer, type PreTrainedTokenizer } from '../src/tokenizer/index.js';
import { AutoModelForCausalLM, type GPT2LMHeadModel } from '../src/generation/causal-lm.js';
import { applyChatTemplate, TURN_STOP_STRING } from '../src/chat/index.js';
import { argmax } from '../src/generation/sampling.js';
import { createServer, listen, type ListeningServer } from '../src/server/index.js';
import { hostPolicy } from '../src/server/security.js';
import { modelDirs } from './helpers.js';

const KEY = 'sk-test-key';
const MODEL = 'tiny-ja-demo';
let tok: PreTrainedTokenizer;
let lm: GPT2LMHeadModel;
let server: ListeningServer;
let client: OpenAI;
const logLines: string[] = [];

before(async () => {
  const dir = modelDirs['tiny-ja-demo'];
  tok = await AutoTokenizer.fromPretrained(dir);
  lm = await AutoModelForCausalLM.fromPretrained(dir, { dtype: 'f32' });
  const { app, engine } = createServer({ model: lm, tokenizer: tok, apiKey: KEY, aliases: ['fugaku'], maxBatch: 4, maxQueue: 2, maxBodyBytes: 4096, log: (l) => logLines.push(l) });
  server = await listen(app, engine, { host: '127.0.0.1', port: 0 });
  client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: KEY, maxRetries: 0 });
});

after(async () => {
  await server.shutdown(1000);
});

const enc = (s: string) => tok.encode(s, { addSpecialTokens: false });
const decode = (ids: number[]) => tok.decode(ids, { skipSpecialTokens: true });
/** The text `ids` add after `prompt` (what a completion returns). */
const continuation = (prompt: number[], ids: number[]) => decode([...prompt.slice(-8), ...ids]).slice(decode(prompt.slice(-8)).length);

async function libChat(messages: { role: 'user' | 'assistant'; content: string }[], maxNewTokens: number): Promise<{ text: string; ids: number[] }> {
  const ids = enc(applyChatTemplate(messages));
  const [seq] = await lm.generateSequences(ids, { maxNewTokens, stopStrings: [TURN_STOP_STRING] }, { decode });
  let text = decode(seq.outputIds);
  const cut = text.indexOf(TURN_STOP_STRING);
  if (cut >= 0) text = text.slice(0, cut);
  return { text: text.trimEnd(), ids: seq.outputIds };
}

async function raw(path: string, body: string | object, headers: Record<string, string> = {}): Promise<{ status: number; json: any; headers: Headers }> {
  const r = await fetch(server.url + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}`, ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await r.text();
  return { status: r.status, json: JSON.parse(text), headers: r.headers };
}

function assertOpenAIError(res: { status: number; json: any }, status: number, code: string | null, param?: string | null): void {
  assert.equal(res.status, status, JSON.stringify(res.json));
  const e = res.json.error;
  assert.equal(typeof e.message, 'string');
  assert.ok(e.message.length > 10);
  assert.equal(typeof e.type, 'string');
  assert.equal(e.code, code);
  if (param !== undefined) assert.equal(e.param, param);
  assert.deepEqual(Object.keys(e).sort(), ['code', 'message', 'param', 'type']);
}

test('GET /v1/models lists the folder name and aliases; retrieve works; unknown model → 404', async () => {
  const list = await client.models.list();
  assert.deepEqual(list.data.map((m) => m.id), [MODEL, 'fugaku']);
  assert.equal((await client.models.retrieve('fugaku')).id, 'fugaku');
  await assert.rejects(client.completions.create({ model: 'gpt-4', prompt: 'x' }), (e: unknown) => e instanceof OpenAI.NotFoundError && (e.error as any).code === 'model_not_found');
});

test('completions: greedy text = the library\'s continuation; token-id prompts and prompt lists; usage', async () => {
  const prompts = ['日本の首都は', '富士山は'];
  const lib = await Promise.all(prompts.map(async (p) => (await lm.generateSequences(enc(p), { maxNewTokens: 10 }))[0]));
  const r = await client.completions.create({ model: MODEL, prompt: prompts, max_tokens: 10, temperature: 0 });
  assert.equal(r.object, 'text_completion');
  assert.deepEqual(r.choices.map((c) => c.index), [0, 1]);
  assert.deepEqual(r.choices.map((c) => c.text), prompts.map((p, i) => continuation(enc(p), lib[i].outputIds)));
  assert.deepEqual(r.choices.map((c) => c.finish_reason), lib.map((s) => (s.finishReason === 'eos' ? 'stop' : 'length')));
  const completion = lib.reduce((a, s) => a + s.outputIds.length, 0);
  const prompt = prompts.reduce((a, p) => a + enc(p).length, 0);
  assert.deepEqual([r.usage?.prompt_tokens, r.usage?.completion_tokens, r.usage?.total_tokens], [prompt, completion, prompt + completion]);
  const byIds = await client.completions.create({ model: 'fugaku', prompt: enc(prompts[0]), max_tokens: 10, temperature: 0, echo: true });
  assert.equal(byIds.choices[0].text, decode(enc(prompts[0])) + r.choices[0].text);
});

test('chat: greedy answer = the library with the instruct template; streaming deltas add up to it; include_usage', async () => {
  const messages = [{ role: 'user' as const, content: 'こんにちは。自己紹介してください。' }];
  const lib = await libChat(messages, 24);
  const r = await client.chat.completions.create({ model: MODEL, messages, max_tokens: 24, temperature: 0 });
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.choices[0].message.role, 'assistant');
  assert.equal(r.choices[0].message.content, lib.text);
  assert.match(lib.text, /[\u3040-\u30ff\u4e00-\u9fff]/u, 'the answer is Japanese text');
  assert.equal(r.usage?.prompt_tokens, enc(applyChatTemplate(messages)).length);

  const stream = await client.chat.completions.create({ model: MODEL, messages, max_tokens: 24, temperature: 0, stream: true, stream_options: { include_usage: true } });
  const chunks = [];
  for await (const c of stream) chunks.push(c);
  assert.equal(chunks[0].choices[0].delta.role, 'assistant');
  const text = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
  assert.equal(text, lib.text);
  const finishes = chunks.flatMap((c) => c.choices.filter((x) => x.finish_reason !== null).map((x) => x.finish_reason));
  assert.deepEqual(finishes, [r.choices[0].finish_reason]);
  const last = chunks[chunks.length - 1];
  assert.deepEqual(last.choices, []);
  assert.deepEqual(
    [last.usage?.prompt_tokens, last.usage?.completion_tokens, last.usage?.total_tokens],
    [r.usage?.prompt_tokens, r.usage?.completion_tokens, r.usage?.total_tokens],
  );
  assert.equal(last.usage?.prompt_tokens_details?.cached_tokens, r.usage!.prompt_tokens - 1, 'the second identical request reused the cached prompt');
  assert.ok(chunks.filter((c) => (c.choices[0]?.delta.content ?? '') !== '').length >= 3, 'the answer arrived in several chunks');
});

test('sampling: seed reproducibility, n > 1 (streamed and not), stop strings', async () => {
  const req = { model: MODEL, prompt: '昔々あるところに', max_tokens: 12, temperature: 0.9, top_k: 40, seed: 42, n: 3 } as const;
  const a = await client.completions.create(req);
  const b = await client.completions.create(req);
  assert.deepEqual(a.choices.map((c) => c.text), b.choices.map((c) => c.text));
  assert.ok(new Set(a.choices.map((c) => c.text)).size > 1, 'n=3 samples differ');
  const lib = await lm.generateSequences(enc(req.prompt), { maxNewTokens: 12, doSample: true, temperature: 0.9, topK: 40, seed: 42, numReturnSequences: 3 });
  assert.deepEqual(a.choices.map((c) => c.text), lib.map((s) => continuation(enc(req.prompt), s.outputIds)), 'same tokens as generate with the same seed');
  const stream = await client.completions.create({ ...req, stream: true });
  const texts = ['', '', ''];
  const finish: (string | null)[] = [null, null, null];
  for await (const c of stream) for (const ch of c.choices) {
    texts[ch.index] += ch.text;
    if (ch.finish_reason) finish[ch.index] = ch.finish_reason;
  }
  assert.deepEqual(texts, a.choices.map((c) => c.text));
  assert.deepEqual(finish, a.choices.map((c) => c.finish_reason));

  const free = await client.completions.create({ model: MODEL, prompt: '日本の首都は', max_tokens: 16, temperature: 0 });
  const stop = [...free.choices[0].text].slice(3, 5).join('');
  const cut = await client.completions.create({ model: MODEL, prompt: '日本の首都は', max_tokens: 16, temperature: 0, stop: [stop, 'never-appears'] });
  assert.equal(cut.choices[0].finish_reason, 'stop');
  assert.equal(cut.choices[0].text, free.choices[0].text.slice(0, free.choices[0].text.indexOf(stop)));
});

test('min_tokens (vLLM): EOS is banned and stop strings do not count until that many tokens; validation', async () => {
  // '富士山は' ends with EOS after 11 greedy tokens; with min_tokens 20 it goes on as generate(minNewTokens) does.
  const fuji = enc('富士山は');
  const [free] = await lm.generateSequences(fuji, { maxNewTokens: 30 });
  assert.equal(free.finishReason, 'eos');
  assert.ok(free.outputIds.length < 20);
  const [lib] = await lm.generateSequences(fuji, { maxNewTokens: 30, minNewTokens: 20 });
  assert.ok(lib.outputIds.length >= 20);
  const r = await raw('/v1/completions', { model: MODEL, prompt: '富士山は', max_tokens: 30, min_tokens: 20, temperature: 0 });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.equal(r.json.choices[0].text, continuation(fuji, lib.outputIds));
  assert.equal(r.json.usage.completion_tokens, lib.outputIds.length);

  // A stop string counts only where it ends after the first min_tokens tokens' text (vLLM's rule): the
  // text keeps earlier occurrences. Streamed deltas add up to the same text.
  const cases = [
    { prompt: '日本の首都は', stop: '年', min: 8, kept: 1 }, // the next 年 is 3 tokens after the boundary
    { prompt: '日本の首都は', stop: '1975', min: 9, kept: 0 }, // straddles the boundary: it counts
    { prompt: '昔々あるところに', stop: 'の', min: 11, kept: 3 }, // この, この, 自分の kept; the next is その
    { prompt: '日本の首都は', stop: 'ま', min: 13, kept: 1 }, // the next まで is 13 tokens on: found by the tail check
  ];
  for (const c of cases) {
    const ids = enc(c.prompt);
    const [g] = await lm.generateSequences(ids, { maxNewTokens: 40 });
    const full = continuation(ids, g.outputIds);
    const boundary = continuation(ids, g.outputIds.slice(0, c.min)).length;
    assert.ok(full.indexOf(c.stop) < boundary, `${c.stop} starts inside the first ${c.min} tokens`);
    const at = full.indexOf(c.stop, boundary - c.stop.length + 1);
    assert.ok(at >= 0);
    const req = { model: MODEL, prompt: c.prompt, max_tokens: 40, min_tokens: c.min, temperature: 0, stop: c.stop };
    const got = await raw('/v1/completions', req);
    assert.equal(got.status, 200, JSON.stringify(got.json));
    assert.equal(got.json.choices[0].finish_reason, 'stop');
    assert.equal(got.json.choices[0].text, full.slice(0, at), JSON.stringify(c));
    assert.equal(got.json.choices[0].text.split(c.stop).length - 1, c.kept, `occurrences of ${c.stop} kept`);
    const withoutMin = await raw('/v1/completions', { ...req, min_tokens: 0 });
    assert.equal(withoutMin.json.choices[0].text, full.slice(0, full.indexOf(c.stop)));
    const stream = await client.completions.create({ ...req, stream: true } as OpenAI.CompletionCreateParamsStreaming);
    let text = '';
    for await (const ch of stream) text += ch.choices[0]?.text ?? '';
    assert.equal(text, full.slice(0, at), `streamed ${JSON.stringify(c)}`);
  }

  // Chat: the turn boundary is a stop string too; min_tokens = max_tokens always gives that many tokens.
  const chat = await raw('/v1/chat/completions', { model: MODEL, messages: [{ role: 'user', content: 'こんにちは。' }], max_tokens: 60, min_tokens: 60, temperature: 0 });
  assert.equal(chat.status, 200, JSON.stringify(chat.json));
  assert.equal(chat.json.usage.completion_tokens, 60);
  assert.equal(chat.json.choices[0].finish_reason, 'length');

  assertOpenAIError(await raw('/v1/completions', { model: MODEL, prompt: 'a', max_tokens: 3, min_tokens: 5 }), 400, 'invalid_value', 'min_tokens');
  assertOpenAIError(await raw('/v1/completions', { model: MODEL, prompt: 'a', min_tokens: -1 }), 400, 'invalid_value', 'min_tokens');
  assertOpenAIError(await raw('/v1/chat/completions', { model: MODEL, messages: [{ role: 'user', content: 'a' }], min_tokens: 5000 }), 400, 'invalid_value', 'min_tokens');
});

test('ignore_eos (vLLM): EOS does not end the answer (checked against a direct greedy loop)', async () => {
  const prompt = enc('富士山は'); // greedy ends with EOS after 11 tokens
  const r = await raw('/v1/completions', { model: MODEL, prompt: '富士山は', max_tokens: 20, temperature: 0, ignore_eos: true });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  const cache = lm.model.newCache(prompt.length + 20);
  let logits = await lm.model.forward(prompt, cache, { logits: 'last' });
  const out: number[] = [];
  for (let i = 0; i < 20; i++) {
    out.push(argmax(logits));
    logits = await lm.model.forward([out[i]], cache, { logits: 'last' });
  }
  assert.ok(out.indexOf(7) >= 0 && out.indexOf(7) < 19, 'the loop passed an EOS');
  assert.equal(r.json.choices[0].text, continuation(prompt, out));
  assert.equal(r.json.choices[0].finish_reason, 'length');
  assert.equal(r.json.usage.completion_tokens, 20);
  const plain = await raw('/v1/completions', { model: MODEL, prompt: '富士山は', max_tokens: 20, temperature: 0 });
  assert.equal(plain.json.choices[0].finish_reason, 'stop');
  assert.equal(plain.json.usage.completion_tokens, out.indexOf(7) + 1);
  assertOpenAIError(await raw('/v1/completions', { model: MODEL, prompt: 'a', ignore_eos: 'yes' }), 400, 'invalid_type', 'ignore_eos');
});

test('logprobs: completions (with echo) and chat top_logprobs', async () => {
  const r = await client.completions.create({ model: MODEL, prompt: '日本の首都は', max_tokens: 5, temperature: 0, logprobs: 3, echo: true });
  const lp = r.choices[0].logprobs!;
  const promptLen = enc('日本の首都は').length;
  assert.equal(lp.tokens!.length, promptLen + 5);
  assert.equal(lp.token_logprobs![0], null);
  for (let i = 1; i < lp.tokens!.length; i++) {
    const top = lp.top_logprobs![i]!;
    assert.ok(Object.keys(top).length <= 3 && Object.keys(top).length >= 1);
    assert.ok(lp.token_logprobs![i]! <= 0);
    if (i >= promptLen) assert.equal(lp.token_logprobs![i], Math.max(...Object.values(top)), 'greedy picks the most probable token');
  }
  const chat = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: '日本の首都は？' }], max_tokens: 4, temperature: 0, logprobs: true, top_logprobs: 2 });
  const content = chat.choices[0].logprobs!.content!;
  assert.equal(content.length, chat.usage!.completion_tokens);
  for (const t of content) {
    assert.equal(t.top_logprobs.length, 2);
    assert.equal(t.logprob, t.top_logprobs[0].logprob);
    assert.ok(Array.isArray(t.bytes));
  }
});

test('presence/frequency penalties follow OpenAI\'s definition (checked against a direct greedy loop)', async () => {
  const prompt = enc('ありがとう、ありがとう、ありがとう、');
  const r = await client.completions.create({ model: MODEL, prompt, max_tokens: 8, temperature: 0, frequency_penalty: 1.5, presence_penalty: 0.5 });
  // Reference: logits[j] -= count[j] * 1.5 + (count[j] > 0) * 0.5 over generated tokens, then argmax.
  const cache = lm.model.newCache(prompt.length + 8);
  let logits = await lm.model.forward(prompt, cache, { logits: 'last' });
  const counts = new Map<number, number>();
  const out: number[] = [];
  for (let i = 0; i < 8; i++) {
    const s = Float32Array.from(logits);
    for (const [id, c] of counts) s[id] = s[id] - c * 1.5 - 0.5;
    const next = argmax(s);
    out.push(next);
    counts.set(next, (counts.get(next) ?? 0) + 1);
    if (next === 7) break;
    logits = await lm.model.forward([next], cache, { logits: 'last' });
  }
  assert.equal(r.choices[0].text, continuation(prompt, out));
  const plain = await client.completions.create({ model: MODEL, prompt, max_tokens: 8, temperature: 0 });
  assert.notEqual(plain.choices[0].text, r.choices[0].text, 'the penalties changed the greedy output');
});

test('errors: 401, 400 (JSON, types, ranges, unknown fields, context), 413 — OpenAI error shape', async () => {
  const noKey = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'wrong', maxRetries: 0 });
  await assert.rejects(noKey.models.list(), (e: unknown) => e instanceof OpenAI.AuthenticationError && e.status === 401);
  const r401 = await fetch(`${server.url}/v1/models`);
  assert.equal(r401.status, 401);
  assert.equal(((await r401.json()) as { error: { code: string } }).error.code, 'invalid_api_key');
  assert.equal((await fetch(`${server.url}/health`)).status, 200, '/health needs no key');

  assertOpenAIError(await raw('/v1/completions', '{"model": "tiny-ja-demo", "prompt": '), 400, 'invalid_json', null);
  assertOpenAIError(await raw('/v1/completions', '[1, 2]'), 400, 'invalid_body');
  assertOpenAIError(await raw('/v1/completions', { model: MODEL, prompt: 'a', temperature: 'hot' }), 400, 'invalid_type', 'temperature');
  assertOpenAIError(await raw('/v1/completions', { model: MODEL, prompt: 'a', top_p: 2 }), 400, 'invalid_value', 'top_p');
  assertOpenAIError(await raw('/v1/completions', { model: MODEL, prompt: 'a', max_token: 5 }), 400, 'unknown_parameter', 'max_token');
  assertOpenAIError(await raw('/v1/completions', { model: MODEL, prompt: [1, -3] }), 400, 'invalid_value');
  assertOpenAIError(await raw('/v1/completions', { model: MODEL, prompt: 'a', n: 9 }), 400, 'invalid_argument', 'prompt');
  assertOpenAIError(await raw('/v1/completions', { model: MODEL, prompt: 'a', logit_bias: { '5': 3 } }), 400, 'invalid_value', 'logit_bias');
  assertOpenAIError(await raw('/v1/completions', { model: MODEL, prompt: 'a', max_tokens: 600 }), 400, 'context_length_exceeded', 'max_tokens');
  assertOpenAIError(await raw('/v1/chat/completions', { model: MODEL, messages: [{ role: 'assistant', content: 'x' }] }), 400, 'invalid_argument', 'messages');
  assertOpenAIError(await raw('/v1/chat/completions', { model: MODEL, messages: [{ role: 'user', content: '日本の首都は東京です。'.repeat(80) }] }), 400, 'context_length_exceeded', 'messages');
  await assert.rejects(client.chat.completions.create({ model: MODEL, messages: [{ role: 'tool' as any, content: 'x', tool_call_id: '1' }] }), (e: unknown) => e instanceof OpenAI.BadRequestError);
  assertOpenAIError(await raw('/v1/completions', { model: MODEL, prompt: 'x'.repeat(5000) }), 413, 'request_too_large');
  assertOpenAIError(await raw('/v1/nope', {}), 404, 'unknown_url');
  // The server is still fine.
  const ok = await client.completions.create({ model: MODEL, prompt: '日本', max_tokens: 2, temperature: 0 });
  assert.equal(ok.usage?.completion_tokens, 2);
});

test('queue full → 503 with Retry-After; a client disconnect cancels its request and frees the slot', async () => {
  const acs: AbortController[] = [];
  const long = (n: number) => {
    const ac = new AbortController();
    acs.push(ac);
    return fetch(`${server.url}/v1/completions`, {
      method: 'POST',
      signal: ac.signal,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
      // min_tokens: no sequence can end early (EOS), so the running request holds its 4 slots.
      body: JSON.stringify({ model: MODEL, prompt: '長い物語：', max_tokens: 400, min_tokens: 400, temperature: 1, n, stream: true }),
    });
  };
  // 4 slots: one request with n=4 runs, two wait (max queue 2), the fourth is refused.
  const running = await long(4);
  assert.equal(running.status, 200);
  const reader = running.body!.getReader();
  const first = new TextDecoder().decode((await reader.read()).value);
  assert.match(first, /^data: \{/);
  const queued = [long(4), long(4)];
  await new Promise((r) => setTimeout(r, 100));
  const refused = await raw('/v1/completions', { model: MODEL, prompt: 'x', max_tokens: 2 });
  assertOpenAIError(refused, 503, 'queue_full');
  assert.equal(refused.headers.get('retry-after'), '1');
  const metricsText = async () => (await fetch(`${server.url}/metrics`)).text();
  assert.match(await metricsText(), /^fugaku_queue_length 2$/m);
  // Every client goes away: the engine drops their sequences at the next steps.
  for (const ac of acs) ac.abort();
  await Promise.allSettled(queued);
  const deadline = Date.now() + 5000;
  let m = '';
  while (Date.now() < deadline) {
    m = await metricsText();
    if (/^fugaku_running_sequences 0$/m.test(m) && /^fugaku_queue_length 0$/m.test(m)) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.match(m, /^fugaku_running_sequences 0$/m);
  assert.match(m, /^fugaku_queue_length 0$/m);
  assert.match(m, /^fugaku_sequences_finished_total\{reason="aborted"\} (\d+)$/m);
  assert.ok(Number(/^fugaku_sequences_finished_total\{reason="aborted"\} (\d+)$/m.exec(m)![1]) >= 4);
  const gen = Number(/^fugaku_generation_tokens_total (\d+)$/m.exec(m)![1]);
  assert.ok(gen < 1000, `cancelled requests stopped early (${gen} tokens generated in all)`);
  assert.match(m, /^fugaku_requests_rejected_total 1$/m);
  assert.ok(logLines.some((l) => /POST \/v1\/completions 200 \d+ms stream \d+ tokens \(client disconnected\)/.test(l)), logLines.join('\n'));
});

test('/tokenize, /detokenize, /health, /metrics', async () => {
  const t = await raw('/tokenize', { prompt: 'こんにちは世界' });
  assert.deepEqual(t.json.tokens, enc('こんにちは世界'));
  assert.equal(t.json.max_model_len, 512);
  const withEos = await raw('/tokenize', { prompt: 'a', add_special_tokens: true });
  assert.deepEqual(withEos.json.tokens, tok.encode('a', { addSpecialTokens: true }));
  const chat = await raw('/tokenize', { messages: [{ role: 'user', content: 'やあ' }] });
  assert.deepEqual(chat.json.tokens, enc(applyChatTemplate([{ role: 'user', content: 'やあ' }])));
  const d = await raw('/detokenize', { tokens: t.json.tokens });
  assert.equal(d.json.prompt, 'こんにちは世界');
  assertOpenAIError(await raw('/detokenize', { tokens: [99999999] }), 400, 'token_id_out_of_range');
  const h = await fetch(`${server.url}/health`);
  assert.deepEqual(await h.json(), { status: 'ok' });
  const m = await fetch(`${server.url}/metrics`);
  assert.match(m.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  const body = await m.text();
  for (const name of ['fugaku_http_requests_total', 'fugaku_generation_tokens_total', 'fugaku_time_to_first_token_seconds', 'fugaku_request_duration_seconds', 'fugaku_queue_length']) {
    assert.match(body, new RegExp(`^# TYPE ${name} (counter|gauge|histogram)$`, 'm'));
  }
  assert.match(body, /^fugaku_http_requests_total\{method="POST",route="\/v1\/completions",status="200"\} \d+$/m);
  assert.match(body, /^fugaku_time_to_first_token_seconds_bucket\{le="\+Inf"\} [1-9]\d*$/m);
});

test('a flood of bad requests next to a good one: the good one is unaffected', async () => {
  const messages = [{ role: 'user' as const, content: '日本の首都はどこですか？' }];
  const lib = await libChat(messages, 16);
  const good = client.chat.completions.create({ model: MODEL, messages, max_tokens: 16, temperature: 0, stream: true });
  const bad = Array.from({ length: 20 }, (_, i) =>
    raw('/v1/chat/completions', i % 2 ? '{"model":' : { model: MODEL, messages: [{ role: 'user', content: 5 }] }),
  );
  let text = '';
  for await (const c of await good) text += c.choices[0]?.delta.content ?? '';
  const statuses = (await Promise.all(bad)).map((r) => r.status);
  assert.deepEqual([...new Set(statuses)], [400]);
  assert.equal(text, lib.text);
});

test('security headers on every response: pages, JSON, errors, 404, SSE, metrics', async () => {
  const auth = { authorization: `Bearer ${KEY}` };
  const post = (path: string, body: string) => fetch(server.url + path, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body });
  const responses: [string, Response][] = [
    ['/', await fetch(`${server.url}/`)],
    ['/chat.js', await fetch(`${server.url}/chat.js`)],
    ['/chat.css', await fetch(`${server.url}/chat.css`)],
    ['/health', await fetch(`${server.url}/health`)],
    ['/metrics', await fetch(`${server.url}/metrics`)],
    ['/v1/models', await fetch(`${server.url}/v1/models`, { headers: auth })],
    ['401', await fetch(`${server.url}/v1/models`)],
    ['404', await fetch(`${server.url}/no/such/route`, { headers: auth })],
    ['400', await post('/v1/completions', '{"model":')],
    ['SSE', await post('/v1/completions', JSON.stringify({ model: MODEL, prompt: 'a', max_tokens: 2, stream: true }))],
  ];
  assert.deepEqual(responses.map(([, r]) => r.status), [200, 200, 200, 200, 200, 200, 401, 404, 400, 200]);
  for (const [name, r] of responses) {
    await r.arrayBuffer();
    assert.equal(r.headers.get('x-content-type-options'), 'nosniff', name);
    assert.equal(r.headers.get('x-frame-options'), 'DENY', name);
    const csp = r.headers.get('content-security-policy') ?? '';
    assert.match(csp, /(^|; )frame-ancestors 'none'($|;)/, name);
  }
  const pageCsp = responses[0][1].headers.get('content-security-policy')!;
  assert.match(pageCsp, /default-src 'none'; script-src 'self'/, 'the page keeps its own policy');
  assert.equal(pageCsp.match(/frame-ancestors/g)?.length, 1);
  assert.match(responses[9][1].headers.get('content-type') ?? '', /^text\/event-stream/);
});

/** A raw HTTP request (node:http, so Host and Origin are exactly what the test says). */
function httpRequest(url: string, method: string, headers: Record<string, string>, body?: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (b: Buffer) => chunks.push(b));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('cross-site requests without an API key: text/plain → 415, foreign Host → 403, foreign Origin → 403; same origin, listed origins and CORS preflight work', async () => {
  const { app, engine } = createServer({ model: lm, tokenizer: tok, maxBatch: 2, allowedOrigins: ['http://app.example:3000'], allowedHosts: ['fugaku.lan'] });
  const open = await listen(app, engine, { host: '127.0.0.1', port: 0 });
  try {
    const port = open.port;
    const url = (p: string) => `${open.url}${p}`;
    const body = JSON.stringify({ model: MODEL, prompt: '日本', max_tokens: 2, temperature: 0 });
    const errCode = (r: { text: string }) => JSON.parse(r.text).error.code;
    // The CSRF shape: a "simple" text/plain POST from another page.
    const csrf = await httpRequest(url('/v1/completions'), 'POST', { 'content-type': 'text/plain', origin: 'http://evil.example' }, body);
    assert.equal(csrf.status, 403, csrf.text);
    assert.equal(errCode(csrf), 'origin_not_allowed');
    assert.equal(csrf.headers['access-control-allow-origin'], undefined);
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', '']) {
      const r = await httpRequest(url('/v1/completions'), 'POST', type ? { 'content-type': type } : {}, body);
      assert.equal(r.status, 415, `${type}: ${r.text}`);
      assert.deepEqual(Object.keys(JSON.parse(r.text).error).sort(), ['code', 'message', 'param', 'type']);
      assert.equal(errCode(r), 'unsupported_media_type');
    }
    for (const path of ['/v1/chat/completions', '/tokenize', '/detokenize']) {
      assert.equal((await httpRequest(url(path), 'POST', { 'content-type': 'text/plain' }, '{}')).status, 415, path);
    }
    const okJson = await httpRequest(url('/v1/completions'), 'POST', { 'content-type': 'Application/JSON; charset=utf-8' }, body);
    assert.equal(okJson.status, 200, okJson.text);
    // DNS rebinding: the attacker's name resolves to 127.0.0.1, so the Host header carries it.
    for (const host of [`evil.example:${port}`, 'evil.example', `127.0.0.1.evil.example:${port}`]) {
      const r = await httpRequest(url('/health'), 'GET', { host });
      assert.equal(r.status, 403, `Host ${host}: ${r.text}`);
      assert.equal(errCode(r), 'host_not_allowed');
      assert.equal(r.headers['x-content-type-options'], 'nosniff');
    }
    for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`, 'LOCALHOST', 'fugaku.lan:8000']) {
      assert.equal((await httpRequest(url('/health'), 'GET', { host })).status, 200, `Host ${host}`);
    }
    // Same origin (the chat page) is fine; so is a listed cross origin, which gets CORS headers.
    const same = await httpRequest(url('/v1/completions'), 'POST', { 'content-type': 'application/json', origin: `http://localhost:${port}`, host: `localhost:${port}` }, body);
    assert.equal(same.status, 200, same.text);
    assert.equal(same.headers['access-control-allow-origin'], undefined);
    const listed = await httpRequest(url('/v1/completions'), 'POST', { 'content-type': 'application/json', origin: 'http://app.example:3000' }, body);
    assert.equal(listed.status, 200, listed.text);
    assert.equal(listed.headers['access-control-allow-origin'], 'http://app.example:3000');
    const sameHostOtherPort = await httpRequest(url('/v1/models'), 'GET', { origin: `http://127.0.0.1:${port + 1}` });
    assert.equal(sameHostOtherPort.status, 403, 'another port is another origin');
    assert.equal((await httpRequest(url('/v1/models'), 'GET', { origin: 'null' })).status, 403);
    const preflight = await httpRequest(url('/v1/chat/completions'), 'OPTIONS', {
      origin: 'http://app.example:3000',
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'content-type, authorization',
    });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers['access-control-allow-origin'], 'http://app.example:3000');
    assert.match(String(preflight.headers['access-control-allow-methods']), /POST/);
    assert.deepEqual(String(preflight.headers['access-control-allow-headers']).split(/,\s*/).sort(), ['authorization', 'content-type', 'x-request-id']);
    const badPreflight = await httpRequest(url('/v1/chat/completions'), 'OPTIONS', { origin: 'http://evil.example', 'access-control-request-method': 'POST' });
    assert.equal(badPreflight.status, 403);
    assert.equal(badPreflight.headers['access-control-allow-origin'], undefined);
  } finally {
    await open.shutdown(1000);
  }
});

test('hostPolicy: "*" allows any host or origin; IPv6 and case are normalized', () => {
  const any = hostPolicy(['*'], ['*']);
  assert.ok(any.hostAllowed('whatever.example:1'));
  assert.ok(any.originAllowed('https://x.example', 'localhost:8000'));
  assert.ok(!any.originAllowed('null', 'localhost:8000'), 'an opaque origin is never a listed origin');
  const p = hostPolicy(['::1', 'Box.Local'], ['HTTP://App.Example:3000/']);
  assert.ok(p.hostAllowed('[::1]:80') && p.hostAllowed('box.local') && p.hostAllowed(undefined));
  assert.ok(!p.hostAllowed('box.local.evil') && !p.hostAllowed('[::2]:80'));
  assert.ok(p.originAllowed('http://app.example:3000', 'localhost:1') && p.isListedCrossOrigin('http://app.example:3000', 'localhost:1'));
  assert.ok(!p.originAllowed('http://app.example:3001', 'localhost:1'));
});

test('log lines: control characters in the path are escaped (no forged lines, no ANSI, no NUL); X-Request-Id accepted or generated, returned and logged', async () => {
  const auth = { authorization: `Bearer ${KEY}` };
  const from = logLines.length;
  const forged = await httpRequest(`${server.url}/x%0A2026-01-01T00:00:00.000Z%20POST%20/v1/completions%20200%201ms%0D%1B%5B31mred%00%C2%9B%E2%80%A8%5C`, 'GET', { ...auth, 'x-request-id': 'client-id_1.2:3' });
  assert.equal(forged.status, 404);
  assert.equal(forged.headers['x-request-id'], 'client-id_1.2:3');
  const mine = logLines.slice(from);
  assert.equal(mine.length, 1, mine.join('\n'));
  const line = mine[0];
  assert.ok(!/[\x00-\x1f\x7f-\x9f\u2028\u2029]/.test(line), JSON.stringify(line));
  assert.ok(line.startsWith('[client-id_1.2:3] GET /x\\n2026-01-01T00:00:00.000Z POST /v1/completions 200 1ms\\r\\x1b[31mred\\x00\\x9b\\u2028\\\\ 404 '), JSON.stringify(line));

  for (const bad of ['has space', 'a'.repeat(129), 'x\u00e9', '']) {
    const r = await httpRequest(`${server.url}/health`, 'GET', { 'x-request-id': bad });
    const rid = String(r.headers['x-request-id']);
    assert.match(rid, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, `a fresh id instead of ${JSON.stringify(bad)}`);
    assert.ok(logLines.some((l) => l.startsWith(`[${rid}] GET /health 200 `)));
  }
  const ids = new Set<string>();
  for (let i = 0; i < 3; i++) ids.add((await fetch(`${server.url}/health`)).headers.get('x-request-id')!);
  assert.equal(ids.size, 3, 'each request gets its own id');
  const stream = await fetch(`${server.url}/v1/completions`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json', 'x-request-id': 'stream-1' },
    body: JSON.stringify({ model: MODEL, prompt: 'a', max_tokens: 2, stream: true }),
  });
  assert.equal(stream.headers.get('x-request-id'), 'stream-1');
  await stream.text();
  await new Promise((r) => setTimeout(r, 20));
  assert.ok(logLines.some((l) => /^\[stream-1\] POST \/v1\/completions 200 \d+ms stream \d+ tokens$/.test(l)), logLines.slice(-3).join('\n'));
});
