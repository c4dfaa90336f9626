/**
 * Generation features beyond the goldens: several sampled sequences from one prefill, stop strings,
 * max time, AbortSignal, EOS lists, per-step logprobs, and the CLI's first-token distribution.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { AutoModelForCausalLM } from '../src/generation/causal-lm.js';
import { sequenceText } from '../src/generation/generate.js';
import { buildLogitsProcessors } from '../src/generation/processors.js';
import { logSoftmax } from '../src/generation/sampling.js';
import { AutoTokenizer } from '../src/tokenizer/index.js';
import { loadModelGolden, modelDirs, repoRoot } from './helpers.js';
import { CHI2_999, softmax64 } from './stats.js';

const dir = modelDirs['tiny-ja-demo'];
const modelP = AutoModelForCausalLM.fromPretrained(dir, { dtype: 'f32' });
const tokP = AutoTokenizer.fromPretrained(dir);
const prompt0 = loadModelGolden('tiny-ja-demo').golden.cases.find((c) => c.name === 'prompt0')!;

test('numReturnSequences: N sampled sequences, reproducible with a seed, different from each other', async () => {
  const model = await modelP;
  const opts = { doSample: true, numReturnSequences: 4, maxNewTokens: 6, temperature: 1.2, seed: 42 };
  const a = await model.generateSequences(prompt0.input_ids, opts);
  const b = await model.generateSequences(prompt0.input_ids, opts);
  assert.equal(a.length, 4);
  assert.deepEqual(a, b);
  assert.ok(new Set(a.map((s) => s.outputIds.join(','))).size > 1, 'sampled sequences differ');
  const rows = await model.generate(prompt0.input_ids, opts);
  assert.equal(rows.length, 4);
  rows.forEach((r) => assert.deepEqual(r.slice(0, prompt0.input_ids.length), prompt0.input_ids));
  await assert.rejects(model.generate(prompt0.input_ids, { numReturnSequences: 2 }), { code: 'GENERATION_CONFIG_INVALID' });
});

test('stop strings end a sequence; the text is trimmed or kept', async () => {
  const model = await modelP;
  const tok = await tokP;
  const decode = (ids: number[]) => tok.decode(ids, { skipSpecialTokens: true });
  const full = decode(prompt0.greedy);
  const stop = full.slice(3, 5); // appears in the greedy continuation
  const [s] = await model.generateSequences(prompt0.input_ids, { maxNewTokens: 48, stopStrings: [stop] }, { decode });
  assert.equal(s.finishReason, 'stop_string');
  assert.equal(s.stopString, stop);
  assert.ok(s.outputIds.length < prompt0.greedy.length);
  assert.deepEqual(s.outputIds, prompt0.greedy.slice(0, s.outputIds.length), 'same tokens as greedy up to the stop');
  assert.equal(sequenceText(s, decode), full.slice(0, full.indexOf(stop)));
  assert.ok(sequenceText(s, decode, false).endsWith(stop) || sequenceText(s, decode, false).includes(stop));
  await assert.rejects(model.generateSequences(prompt0.input_ids, { stopStrings: ['x'] }), { code: 'INVALID_ARGUMENT' });
});

test('maxTime stops generation (with an injected clock)', async () => {
  const model = await modelP;
  let t = 0;
  const now = () => (t += 1000); // each call advances one second
  const [s] = await model.generateSequences(prompt0.input_ids, { maxNewTokens: 40, maxTime: 3.5 }, { now });
  assert.equal(s.finishReason, 'max_time');
  assert.ok(s.outputIds.length >= 1 && s.outputIds.length < 10, `${s.outputIds.length} tokens`);
});

test('an AbortSignal stops every sequence at the next step', async () => {
  const model = await modelP;
  const controller = new AbortController();
  let seen = 0;
  const seqs = await model.generateSequences(prompt0.input_ids, { maxNewTokens: 40 }, {
    signal: controller.signal,
    onToken: () => {
      if (++seen === 3) controller.abort();
    },
  });
  assert.equal(seqs[0].finishReason, 'aborted');
  assert.equal(seqs[0].outputIds.length, 3);
});

test('eosTokenId may be a list; generation stops at any of them and keeps it', async () => {
  const model = await modelP;
  const stopAt = prompt0.greedy[5];
  const [s] = await model.generateSequences(prompt0.input_ids, { maxNewTokens: 48, eosTokenId: [7, stopAt] });
  assert.equal(s.finishReason, 'eos');
  assert.deepEqual(s.outputIds, prompt0.greedy.slice(0, prompt0.greedy.indexOf(stopAt) + 1));
});

test('outputLogprobs: the chosen token and top-k alternatives under the model distribution', async () => {
  const model = await modelP;
  const [s] = await model.generateSequences(prompt0.input_ids, { maxNewTokens: 3, outputLogprobs: 5 });
  assert.equal(s.logprobs!.length, 3);
  const logits = await model.model.forward(prompt0.input_ids, model.model.newCache());
  const lp = logSoftmax(logits);
  const first = s.logprobs![0];
  assert.equal(first.id, prompt0.greedy[0]);
  assert.ok(Math.abs(first.logprob - lp[first.id]) < 1e-6);
  assert.equal(first.top.length, 5);
  assert.equal(first.top[0].id, first.id, 'greedy picks the most likely token');
  for (let i = 1; i < 5; i++) assert.ok(first.top[i].logprob <= first.top[i - 1].logprob);
});

function cli(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [path.join(repoRoot, 'bin', 'fugaku.js'), ...args]);
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(err))));
  });
}

test('CLI --num-return-sequences 100 --max-new-tokens 1: first tokens follow the processed distribution', async () => {
  const model = await modelP;
  const tok = await tokP;
  const prompt = '富士山は';
  const out = JSON.parse(await cli(['generate', '--model', dir, '--prompt', prompt, '--do-sample', '--seed', '1', '--num-return-sequences', '100', '--max-new-tokens', '1', '--json'])) as {
    input_ids: number[];
    sequences: { output_ids: number[]; text: string }[];
  };
  assert.equal(out.sequences.length, 100);
  // The processed distribution: HF defaults (top_k 50, temperature 1) over the model's logits.
  const ids = tok.encode(prompt, { addSpecialTokens: false });
  assert.deepEqual(out.input_ids, ids);
  const scores = await model.model.forward(ids, model.model.newCache());
  for (const p of buildLogitsProcessors(model.generationConfig({ doSample: true }), ids.length)) p.process(ids, scores);
  const probs = softmax64(scores);
  const counts = new Map<number, number>();
  for (const s of out.sequences) {
    assert.equal(s.output_ids.length, 1);
    assert.ok(probs[s.output_ids[0]] > 0, 'never a token top-k removed');
    counts.set(s.output_ids[0], (counts.get(s.output_ids[0]) ?? 0) + 1);
  }
  // Chi-square over the most likely tokens with expected count >= 5, the rest pooled.
  const order = probs.map((p, i) => [p, i] as const).filter(([p]) => p > 0).sort((a, b) => b[0] - a[0]);
  const bins: { p: number; n: number }[] = [];
  let restP = 0;
  let restN = 0;
  for (const [p, i] of order) {
    if (p * 100 >= 5) bins.push({ p, n: counts.get(i) ?? 0 });
    else {
      restP += p;
      restN += counts.get(i) ?? 0;
    }
  }
  bins.push({ p: restP, n: restN });
  const stat = bins.reduce((a, b) => a + (b.n - 100 * b.p) ** 2 / (100 * b.p), 0);
  const df = bins.length - 1;
  assert.ok(df >= 1 && CHI2_999[df] !== undefined, `df ${df}`);
  assert.ok(stat < CHI2_999[df], `chi-square ${stat.toFixed(2)} >= ${CHI2_999[df]} (df ${df})`);
});
