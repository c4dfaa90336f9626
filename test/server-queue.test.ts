/**
 * A completions request with many prompts over HTTP: one queue entry, served on an idle server
 * whatever its prompts × n (before, each prompt took a place in --max-queue, so 65 prompts on an idle
 * server with the default 64 got 503 + Retry-After forever), and its prompts decoded side by side.
 * In-process server on loopback, the official `openai` client, tiny-ja-demo in f32.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { AutoTokenizer, type PreTrainedTokenizer } from '../src/tokenizer/index.js';
import { AutoModelForCausalLM, type GPT2LMHeadModel } from '../src/generation/causal-lm.js';
import { createServer, listen, type ListeningServer } from '../src/server/index.js';
import { modelDirs } from './helpers.js';

let tok: PreTrainedTokenizer;
let lm: GPT2LMHeadModel;
let server: ListeningServer;
let client: OpenAI;

before(async () => {
  const dir = modelDirs['tiny-ja-demo'];
  tok = await AutoTokenizer.fromPretrained(dir);
  lm = await AutoModelForCausalLM.fromPretrained(dir, { dtype: 'f32' });
  const { app, engine } = createServer({ model: lm, tokenizer: tok, maxBatch: 4, maxQueue: 2, log: () => {} });
  server = await listen(app, engine, { host: '127.0.0.1', port: 0 });
  client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0 });
});

after(async () => {
  await server.shutdown(1000);
});

async function metric(name: string): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  assert.ok(m, `${name} in /metrics`);
  return Number(m[1]);
}

test('7 prompts × n 2 (14 sequences) with --max-queue 2 on an idle server: all served, the same tokens as the library, batched together', async () => {
  const prompts = ['日本の首都は', '富士山は', 'こんにちは', '東京は', '春は', '夏は', '秋は'];
  const stepsBefore = await metric('fugaku_scheduler_steps');
  const res = await client.completions.create({ model: 'tiny-ja-demo', prompt: prompts, n: 2, max_tokens: 12, temperature: 0, ignore_eos: true } as never);
  assert.equal(res.choices.length, 14);
  for (const [i, p] of prompts.entries()) {
    const [g] = await lm.generateSequences(tok.encode(p, { addSpecialTokens: false }), { maxNewTokens: 12, doSample: false });
    const expected = tok.decode(g.outputIds.filter((id) => id !== 7), { skipSpecialTokens: true });
    for (const k of [0, 1]) {
      const c = res.choices[2 * i + k];
      assert.equal(c.index, 2 * i + k);
      assert.ok(c.text.trim().startsWith(expected.trim()), `prompt ${i} choice ${k}: ${JSON.stringify(c.text)} vs ${JSON.stringify(expected)}`);
    }
  }
  assert.equal(res.usage?.completion_tokens, 14 * 12);
  // 7 requests of n = 2 over 4 slots: served 2 at a time, about 4 rounds of 12 steps (one at a time would take 7).
  const steps = (await metric('fugaku_scheduler_steps')) - stepsBefore;
  assert.ok(steps <= 5 * 13, `${steps} scheduler steps for 14 sequences of 12 tokens over 4 slots`);
});
