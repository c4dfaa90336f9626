/**
 * Greedy generation against transformers' `generate(do_sample=False)` token for token, with and
 * without repetition_penalty=1.3 (stopping after EOS, which is kept), and a left-padded batch of
 * two prompts with an attention mask.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AutoModelForCausalLM } from '../src/generation/causal-lm.js';
import { backendRegistry } from './backend-registry.js';
import { loadModelGolden, modelDirs, type TinyModelName } from './helpers.js';

// Every backend of the registry (the reference, the specification, and each faster backend and kernel
// set on this machine) on f32 weights; the backends that compute on bf16/f16 storage also run the
// checkpoints' own storage directly (dtype 'auto').
const registry = backendRegistry();
// (On the WebGPU backend, whose CI adapter is a slow software rasterizer, the storage run only: its f32
// matrices are checked by the op tests and the logits goldens.)
const RUNS = registry.present.flatMap((e) => [
  ...(e.name === 'webgpu' ? [] : [{ name: e.name, create: e.create, dtype: 'f32' as const }]),
  ...(e.computesStorage ? [{ name: e.name, create: e.create, dtype: 'auto' as const }] : []),
]);

test('greedy generation runs on every backend of the registry', (t) => {
  t.diagnostic(registry.describe());
  assert.ok(RUNS.length >= 3);
});

for (const run of RUNS)
for (const name of Object.keys(modelDirs) as TinyModelName[]) {
  test(`${name} (${run.name}, ${run.dtype}): greedy generation matches transformers token for token`, async (t) => {
    // f32 holds the upcast checkpoint values exactly (what HF computed with) and runs faster on
    // the reference backend; the bf16/f16 storage path is checked against the logits goldens.
    const model = await AutoModelForCausalLM.fromPretrained(modelDirs[name], { dtype: run.dtype, backend: await run.create() });
    const { golden } = loadModelGolden(name);
    // The goldens were made with one max_new_tokens per model: the longest greedy output.
    const maxNewTokens = Math.max(...golden.cases.map((c) => c.greedy.length), ...golden.batched_left_padded.greedy.map((g) => g.length));
    for (const c of golden.cases) {
      await t.test(`${c.name} greedy`, async () => {
        const [s] = await model.generateSequences(c.input_ids, { maxNewTokens, doSample: false });
        assert.deepEqual(s.outputIds, c.greedy);
        assert.equal(s.finishReason, c.greedy.at(-1) === 7 && c.greedy.length < maxNewTokens ? 'eos' : c.greedy.at(-1) === 7 ? 'eos' : 'length');
      });
      await t.test(`${c.name} greedy repetition_penalty=1.3`, async () => {
        const [s] = await model.generateSequences(c.input_ids, { maxNewTokens, doSample: false, repetitionPenalty: 1.3 });
        assert.deepEqual(s.outputIds, c['greedy_rep1.3']);
      });
    }
    await t.test('batched_left_padded', async () => {
      const b = golden.batched_left_padded;
      const out = await model.generate(b.input_ids, { maxNewTokens, doSample: false, attentionMask: b.attention_mask });
      assert.equal(out.length, 2);
      for (let r = 0; r < 2; r++) {
        assert.deepEqual(out[r].slice(0, b.input_ids[r].length), b.input_ids[r], 'the prompt row is returned first, as HF does');
        assert.deepEqual(out[r].slice(b.input_ids[r].length), b.greedy[r]);
      }
    });
  });
}

test('generate returns HF-style rows: prompt + new tokens, padded after EOS in a batch', async () => {
  const model = await AutoModelForCausalLM.fromPretrained(modelDirs['tiny-ja-demo'], { dtype: 'f32' });
  const { golden } = loadModelGolden('tiny-ja-demo');
  const p1 = golden.cases.find((c) => c.name === 'prompt1')!; // ends with EOS after 30 tokens
  const p0 = golden.cases.find((c) => c.name === 'prompt0')!;
  // Left-pad p0 to p1's length so both rows run together.
  const pad = p1.input_ids.length - p0.input_ids.length;
  const rows = [p1.input_ids, Array(pad).fill(4).concat(p0.input_ids)];
  const mask = [p1.input_ids.map(() => 1), Array(pad).fill(0).concat(p0.input_ids.map(() => 1))];
  const out = await model.generate(rows, { maxNewTokens: 40, attentionMask: mask });
  const gen0 = out[0].slice(rows[0].length);
  assert.deepEqual(gen0.slice(0, 30), p1.greedy);
  assert.deepEqual(gen0.slice(30), Array(10).fill(4), 'a finished row is filled with pad_token_id');
  assert.deepEqual(out[1].slice(rows[1].length), p0.greedy.slice(0, 40));
});

test('a prompt plus max new tokens beyond n_positions is a clear error', async () => {
  const model = await AutoModelForCausalLM.fromPretrained(modelDirs['tiny-gpt2-f16']); // n_positions 64
  await assert.rejects(model.generate(Array(60).fill(31), { maxNewTokens: 5 }), (e: Error & { code?: string }) => {
    assert.equal(e.code, 'CONTEXT_OVERFLOW');
    assert.match(e.message, /64/);
    return true;
  });
  await assert.rejects(model.generate([49000], { maxNewTokens: 1 }), { code: 'TOKEN_ID_OUT_OF_RANGE' });
});
