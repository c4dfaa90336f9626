/**
 * Every backend's forward pass (the registry: the reference and every backend and kernel set on this
 * machine) against Hugging Face transformers' outputs for the three tiny checkpoints (bf16 sharded with head_dim 144; f16 single-file with gelu_new, untied head,
 * scale_attn_by_inverse_layer_idx; the trained tiny-ja-demo): logits within 1e-4 and the HF
 * causal-LM loss within 1e-4.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadGPT2 } from '../src/model/load.js';
import { ReferenceBackend } from '../src/backend/reference.js';
import { causalLMLoss, lossFromLogits } from '../src/eval/perplexity.js';
import { backendRegistry } from './backend-registry.js';
import { loadModelGolden, maxAbsDiff, modelDirs, type TinyModelName } from './helpers.js';

const TOL = 1e-4;

const registry = backendRegistry();

test('the backends checked here: the reference and every other backend and kernel set on this machine', (t) => {
  t.diagnostic(registry.describe());
  assert.ok(registry.present.some((e) => e.name === 'native portable'), 'the native addon loads');
});

for (const { name: beName, create } of registry.present)
for (const name of Object.keys(modelDirs) as TinyModelName[]) {
  test(`${name} (${beName}): logits and loss match transformers`, async (t) => {
    const { model } = await loadGPT2(modelDirs[name], { backend: await create() });
    const { golden, array } = loadModelGolden(name);
    assert.ok(golden.cases.length >= 5);
    const V = model.config.vocabSize;
    for (const c of golden.cases) {
      await t.test(c.name, async () => {
        const needAll = c.all_logits !== undefined || c.loss !== undefined;
        const logits = await model.forward(c.input_ids, model.newCache(), { logits: needAll ? 'all' : 'last' });
        const last = logits.subarray(logits.length - V);
        assert.ok(maxAbsDiff(last, array(c.last_logits)) < TOL, `last_logits differ by ${maxAbsDiff(last, array(c.last_logits))}`);
        if (c.all_logits) {
          const d = maxAbsDiff(logits, array(c.all_logits));
          assert.ok(d < TOL, `all_logits differ by ${d}`);
        }
        if (c.loss !== undefined) {
          const r = lossFromLogits(logits, V, c.input_ids);
          const loss = r.nllSum / r.predicted;
          assert.ok(Math.abs(loss - c.loss) < TOL, `loss ${loss} vs HF ${c.loss}`);
        }
      });
    }
  });
}

test('causalLMLoss equals the mean NLL of a full forward pass', async () => {
  const { model } = await loadGPT2(modelDirs['tiny-gpt2-f16'], { backend: new ReferenceBackend() });
  const { golden } = loadModelGolden('tiny-gpt2-f16');
  const c = golden.cases.find((x) => x.loss !== undefined)!;
  assert.ok(Math.abs(await causalLMLoss(model, c.input_ids) - c.loss!) < TOL);
});

test('incremental decoding with the KV cache equals a full forward pass', async () => {
  const { model } = await loadGPT2(modelDirs['tiny-gpt2-f16'], { backend: new ReferenceBackend() });
  const ids = [31, 26467, 28259, 22327, 28160, 31020, 22304];
  const V = model.config.vocabSize;
  const full = await model.forward(ids, model.newCache(), { logits: 'all' });
  const cache = model.newCache();
  await model.forward(ids.slice(0, 3), cache, { logits: 'none' });
  for (let i = 3; i < ids.length; i++) {
    const step = await model.forward([ids[i]], cache, { logits: 'last' });
    assert.ok(maxAbsDiff(step, full.subarray(i * V, (i + 1) * V)) < 1e-5, `step ${i}`);
  }
  assert.equal(cache.length, ids.length);
});

test('f32 weights give the same logits as the bf16 storage they were converted from', async () => {
  const be = new ReferenceBackend();
  const a = await loadGPT2(modelDirs['tiny-fugaku'], { backend: be });
  const b = await loadGPT2(modelDirs['tiny-fugaku'], { backend: be, dtype: 'f32' });
  assert.equal(b.model.weights.wte.format, 'F32');
  const ids = [10044, 13433, 5139];
  const la = await a.model.forward(ids, a.model.newCache());
  const lb = await b.model.forward(ids, b.model.newCache());
  assert.ok(maxAbsDiff(la, lb) < 1e-6);
});

test('dtype bf16/f16 converts weights on load (rounded) and still tracks the original logits', async () => {
  const be = new ReferenceBackend();
  const ids = [10044, 13433, 5139];
  const base = await loadGPT2(modelDirs['tiny-gpt2-f16'], { backend: be });
  const ref = await base.model.forward(ids, base.model.newCache());
  for (const dtype of ['bf16', 'f16'] as const) {
    const m = await loadGPT2(modelDirs['tiny-gpt2-f16'], { backend: be, dtype });
    assert.equal(m.model.weights.wte.format, dtype.toUpperCase());
    const d = maxAbsDiff(await m.model.forward(ids, m.model.newCache()), ref);
    assert.ok(dtype === 'f16' ? d === 0 : d < 0.05, `${dtype}: ${d}`);
  }
});

test('forwardBatch (sequences with their own caches and different lengths) equals separate forwards', async () => {
  const { model } = await loadGPT2(modelDirs['tiny-fugaku'], { backend: new ReferenceBackend() });
  const { golden } = loadModelGolden('tiny-fugaku');
  const prompts = golden.cases.slice(0, 3).map((c) => c.input_ids);
  // Separate: prefill all but the last token, then one step.
  const sep: Float32Array[] = [];
  for (const ids of prompts) {
    const c = model.newCache(64);
    await model.forward(ids.slice(0, -1), c, { logits: 'none' });
    sep.push(await model.forward(ids.slice(-1), c));
  }
  // Batched: one batched prefill (mixed lengths), then one batched decode step.
  const caches = prompts.map(() => model.newCache(64));
  const pre = await model.forwardBatch(prompts.map((ids, i) => ({ ids: ids.slice(0, -1), cache: caches[i], logits: i === 0 ? 'all' as const : 'none' as const })));
  assert.equal(pre[0].length, (prompts[0].length - 1) * model.config.vocabSize);
  assert.equal(pre[1].length, 0);
  const step = await model.forwardBatch(prompts.map((ids, i) => ({ ids: ids.slice(-1), cache: caches[i] })));
  for (let i = 0; i < prompts.length; i++) {
    assert.equal(caches[i].length, prompts[i].length);
    assert.ok(maxAbsDiff(step[i], sep[i]) < 1e-5, `row ${i} differs by ${maxAbsDiff(step[i], sep[i])}`);
  }
  await assert.rejects(async () => model.forwardBatch([{ ids: [1], cache: caches[0] }, { ids: [2], cache: caches[0] }]), /share a KV cache/);
});

test('an f16 KV cache tracks the f32 one (logits within 1e-2, same greedy tokens) on every backend', async () => {
  for (const entry of registry.present) {
    const backend = await entry.create({ threads: 2 });
    const a = (await loadGPT2(modelDirs['tiny-ja-demo'], { backend })).model;
    const b = (await loadGPT2(modelDirs['tiny-ja-demo'], { backend, kvCacheDtype: 'f16' })).model;
    const ids = loadModelGolden('tiny-ja-demo').golden.cases[0].input_ids;
    const ca = a.newCache(64);
    const cb = b.newCache(64);
    assert.equal(cb.keys[0].dtype, 'f16', 'the f16 cache stores 16-bit rows');
    let la = await a.forward(ids, ca);
    let lb = await b.forward(ids, cb);
    for (let step = 0; step < 8; step++) {
      assert.ok(maxAbsDiff(la, lb) < 1e-2, `${backend.name} step ${step}: ${maxAbsDiff(la, lb)}`);
      let next = 0;
      for (let v = 1; v < la.length; v++) if (la[v] > la[next]) next = v;
      let nextB = 0;
      for (let v = 1; v < lb.length; v++) if (lb[v] > lb[nextB]) nextB = v;
      assert.equal(nextB, next);
      la = await a.forward([next], ca);
      lb = await b.forward([next], cb);
    }
    const clone = cb.clone();
    assert.equal(clone.dtype, 'f16');
    assert.deepEqual(await backend.read(clone.keys[1], 0, cb.length * cb.width), await backend.read(cb.keys[1], 0, cb.length * cb.width));
  }
});
