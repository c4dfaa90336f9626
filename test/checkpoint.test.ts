import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { unlink } from 'node:fs/promises';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { FugakuError, type ErrorCode } from '../src/errors.js';
import { isLegacyAttentionBuffer, openCheckpoint } from '../src/io/checkpoint.js';
import { createNoopProgress, createTtyProgress, type ProgressReporter } from '../src/io/progress.js';
import { readSafetensorsHeader, readTensor } from '../src/io/safetensors.js';
import { modelDirs, rejectsWith } from './helpers.js';
import { buildSafetensors, layout, encodeSafetensors, patternBytes, withTempDir, writeCheckpoint, type TensorSpec } from './build-safetensors.js';


/** A reporter that records calls. */
function recordingProgress(): ProgressReporter & { advanced: number } {
  const r = { advanced: 0, start() {}, stop() {}, advance(b: number) { r.advanced += b; } };
  return r;
}

/** GPT-2 layer tensor names with the `transformer.` prefix, as in every fixture. */
function layerNames(layers: number): string[] {
  const per = ['ln_1.weight', 'ln_1.bias', 'attn.c_attn.weight', 'attn.c_attn.bias', 'attn.c_proj.weight', 'attn.c_proj.bias',
    'ln_2.weight', 'ln_2.bias', 'mlp.c_fc.weight', 'mlp.c_fc.bias', 'mlp.c_proj.weight', 'mlp.c_proj.bias'];
  const names = ['transformer.wte.weight', 'transformer.wpe.weight', 'transformer.ln_f.weight', 'transformer.ln_f.bias'];
  for (let l = 0; l < layers; l++) for (const p of per) names.push(`transformer.h.${l}.${p}`);
  return names.sort();
}

// ---------------------------------------------------------------------------------------------
// fixtures

const fixtures = [
  { name: 'tiny-fugaku', layout: 'sharded', files: 2, layers: 3, dtype: 'BF16', lmHead: false, gen: true },
  { name: 'tiny-gpt2-f16', layout: 'single', files: 1, layers: 2, dtype: 'F16', lmHead: true, gen: false },
  { name: 'tiny-ja-demo', layout: 'sharded', files: 2, layers: 4, dtype: 'BF16', lmHead: false, gen: true },
] as const;

for (const f of fixtures) {
  test(`fixture ${f.name}: config, tensor names, dtypes, totals`, async () => {
    const dir = modelDirs[f.name];
    const ck = await openCheckpoint(dir);
    try {
      assert.equal(ck.dir, dir);
      assert.equal(ck.layout, f.layout);
      assert.equal(ck.files.length, f.files);
      assert.equal(ck.config.model_type, 'gpt2');
      assert.equal(ck.config.n_layer, f.layers);
      assert.equal(ck.generationConfig === null, !f.gen);
      assert.deepEqual(ck.ignored, []);
      const expected = layerNames(f.layers);
      if (f.lmHead) expected.push('lm_head.weight');
      assert.deepEqual([...ck.tensors.keys()].sort(), expected.sort());
      let sum = 0;
      for (const t of ck.tensors.values()) {
        assert.equal(t.dtype, f.dtype);
        sum += t.byteLength;
      }
      assert.equal(ck.totalBytes, sum);
      if (f.layout === 'sharded') {
        const index = JSON.parse(readFileSync(path.join(dir, 'model.safetensors.index.json'), 'utf8'));
        assert.equal(ck.totalBytes, index.metadata.total_size);
        for (const [name, shard] of Object.entries(index.weight_map)) {
          assert.equal(ck.tensors.get(name)!.file, path.join(dir, shard as string));
        }
      }
      // tensors are ordered by (file, offset): reading in map order walks each file forwards
      const infos = [...ck.tensors.values()];
      for (let i = 1; i < infos.length; i++) {
        const a = infos[i - 1];
        const b = infos[i];
        assert.ok(ck.files.indexOf(a.file) < ck.files.indexOf(b.file) || (a.file === b.file && a.offset < b.offset));
      }
    } finally {
      await ck.close();
    }
  });
}

test('tiny-fugaku: every tensor reads through the checkpoint, values equal direct reads, progress adds up', async () => {
  const progress = recordingProgress();
  const ck = await openCheckpoint(modelDirs['tiny-fugaku'], { progress });
  try {
    for (const [name, info] of ck.tensors) {
      const t = await ck.readTensor(name);
      assert.equal(t.dtype, 'BF16');
      assert.deepEqual(t.shape, info.shape);
      assert.equal(t.data.byteLength, info.byteLength);
    }
    assert.equal(progress.advanced, ck.totalBytes);
    const wte = await ck.readTensor('transformer.wte.weight');
    const direct = await readTensor((await readSafetensorsHeader(ck.tensors.get('transformer.wte.weight')!.file)).tensors.get('transformer.wte.weight')!);
    assert.deepEqual(wte.data.subarray(0, 1000), direct.data.subarray(0, 1000));
    assert.deepEqual(wte.data.subarray(-1000), direct.data.subarray(-1000));
    const rows = await ck.readTensorRows('transformer.wte.weight', 10, 3);
    assert.deepEqual(rows.shape, [3, 288]);
    assert.deepEqual(rows.data, direct.data.subarray(10 * 288, 13 * 288));
  } finally {
    await ck.close();
  }
});

test('concurrent reads share one handle per shard; close is idempotent; reads after close fail', async () => {
  const ck = await openCheckpoint(modelDirs['tiny-ja-demo']);
  const names = [...ck.tensors.keys()].filter((n) => !n.endsWith('wte.weight'));
  const all = await Promise.all(names.map((n) => ck.readTensor(n)));
  assert.equal(all.length, names.length);
  await ck.close();
  await ck.close();
  await rejectsWith(ck.readTensor(names[0]), 'INVALID_ARGUMENT', 'closed');
});

test('unknown tensor name → TENSOR_MISSING', async () => {
  const ck = await openCheckpoint(modelDirs['tiny-gpt2-f16']);
  try {
    await rejectsWith(ck.readTensor('wte.weight'), 'TENSOR_MISSING', '"wte.weight"');
  } finally {
    await ck.close();
  }
});

// ---------------------------------------------------------------------------------------------
// built checkpoints

const specs: TensorSpec[] = [
  { name: 'transformer.wte.weight', dtype: 'BF16', shape: [10, 4] },
  { name: 'transformer.wpe.weight', dtype: 'BF16', shape: [6, 4] },
  { name: 'transformer.ln_f.weight', dtype: 'F32', shape: [4] },
  { name: 'transformer.ln_f.bias', dtype: 'F32', shape: [4] },
];

test('built 2-shard index: tensors come from the right shard with the right bytes', async () => {
  await withTempDir(async (t) => {
    await writeCheckpoint(t, specs, [1, 0, 1, 0]);
    const ck = await openCheckpoint(t.dir);
    try {
      assert.equal(ck.layout, 'sharded');
      assert.deepEqual(ck.files, [
        path.join(t.dir, 'model-00001-of-00002.safetensors'),
        path.join(t.dir, 'model-00002-of-00002.safetensors'),
      ]);
      assert.deepEqual([...ck.tensors.keys()], [
        'transformer.wpe.weight', 'transformer.ln_f.bias', 'transformer.wte.weight', 'transformer.ln_f.weight',
      ]);
      assert.equal(ck.totalBytes, 80 + 48 + 16 + 16);
      assert.equal(ck.generationConfig, null);
      // shard 2 holds wte (first, pattern seed 1) and ln_f.weight (second, seed 2)
      const wte = await ck.readTensor('transformer.wte.weight');
      assert.deepEqual(new Uint8Array(wte.data.buffer), patternBytes(80, 1));
      const lnf = await ck.readTensor('transformer.ln_f.weight');
      assert.ok(lnf.data instanceof Float32Array);
      assert.deepEqual(new Uint8Array(lnf.data.buffer), patternBytes(16, 2));
    } finally {
      await ck.close();
    }
  });
});

test('legacy attn.bias / attn.masked_bias buffers and unindexed tensors are ignored with a reason', async () => {
  await withTempDir(async (t) => {
    const withBuffers: TensorSpec[] = [
      ...specs,
      { name: 'h.0.attn.bias', dtype: 'U8', shape: [1, 1, 4, 4] },
      { name: 'h.0.attn.masked_bias', dtype: 'F32', shape: [] },
      { name: 'h.0.attn.c_attn.bias', dtype: 'F32', shape: [12] },
    ];
    await writeCheckpoint(t, withBuffers);
    let ck = await openCheckpoint(t.dir);
    assert.ok(ck.tensors.has('h.0.attn.c_attn.bias'));
    assert.deepEqual(ck.ignored.map((i) => i.name).sort(), ['h.0.attn.bias', 'h.0.attn.masked_bias']);
    assert.ok(ck.ignored.every((i) => i.reason.includes('legacy')));
    await rejectsWith(ck.readTensor('h.0.attn.bias'), 'TENSOR_MISSING', 'legacy');
    await ck.close();

    // sharded: the index lists a buffer and omits an extra tensor that a shard carries
    await writeCheckpoint(t, withBuffers, [0, 0, 1, 1, 1, 0, 0]);
    const index = JSON.parse(readFileSync(path.join(t.dir, 'model.safetensors.index.json'), 'utf8'));
    delete index.weight_map['transformer.ln_f.bias'];
    await t.write('model.safetensors.index.json', index);
    ck = await openCheckpoint(t.dir);
    assert.equal(ck.layout, 'sharded');
    assert.ok(!ck.tensors.has('transformer.ln_f.bias'));
    const reasons = Object.fromEntries(ck.ignored.map((i) => [i.name, i.reason]));
    assert.match(reasons['transformer.ln_f.bias'], /not listed/);
    assert.match(reasons['h.0.attn.bias'], /legacy/);
    assert.match(reasons['h.0.attn.masked_bias'], /legacy/);
    await ck.close();
  });
  assert.equal(isLegacyAttentionBuffer('transformer.h.11.attn.bias'), true);
  assert.equal(isLegacyAttentionBuffer('attn.masked_bias'), true);
  assert.equal(isLegacyAttentionBuffer('transformer.h.11.attn.c_attn.bias'), false);
  assert.equal(isLegacyAttentionBuffer('transformer.h.11.attn.c_proj.bias'), false);
});

test('index is preferred over model.safetensors when both exist', async () => {
  await withTempDir(async (t) => {
    await writeCheckpoint(t, specs, [0, 0, 1, 1]);
    await t.write('model.safetensors', buildSafetensors([{ name: 'other', dtype: 'F32', shape: [1] }]));
    const ck = await openCheckpoint(t.dir);
    assert.equal(ck.layout, 'sharded');
    assert.equal(ck.tensors.size, 4);
    await ck.close();
  });
});

// ---------------------------------------------------------------------------------------------
// broken folders

test('folder missing / not a folder / no config.json → FILE_NOT_FOUND', async () => {
  await withTempDir(async (t) => {
    const missing = path.join(t.dir, 'nope');
    await rejectsWith(openCheckpoint(missing), 'FILE_NOT_FOUND', missing);
    const file = await t.write('file.txt', 'x');
    await rejectsWith(openCheckpoint(file), 'FILE_NOT_FOUND', file, 'not a folder');
    const e = await rejectsWith(openCheckpoint(t.dir), 'FILE_NOT_FOUND', t.dir, 'config.json');
    assert.match(e.hint!, /Fugaku-LLM\/Fugaku-LLM-13B/);
  });
});

test('config.json / generation_config.json not JSON objects → CONFIG_INVALID', async () => {
  await withTempDir(async (t) => {
    await writeCheckpoint(t, specs);
    const cfg = path.join(t.dir, 'config.json');
    await t.write('config.json', '{"model_type": ');
    await rejectsWith(openCheckpoint(t.dir), 'CONFIG_INVALID', cfg, 'not valid JSON');
    await t.write('config.json', '[1]');
    await rejectsWith(openCheckpoint(t.dir), 'CONFIG_INVALID', cfg, 'not a JSON object');
    await t.write('config.json', { model_type: 'gpt2' });
    const gen = await t.write('generation_config.json', 'null');
    await rejectsWith(openCheckpoint(t.dir), 'CONFIG_INVALID', gen);
    await t.write('generation_config.json', { max_new_tokens: 5 });
    const ck = await openCheckpoint(t.dir);
    assert.deepEqual(ck.generationConfig, { max_new_tokens: 5 });
    await ck.close();
  });
});

test('no weights: PyTorch .bin, other formats, orphan shards, nothing → FILE_NOT_FOUND with hints', async () => {
  await withTempDir(async (t) => {
    await t.write('config.json', { model_type: 'gpt2' });
    let e = await rejectsWith(openCheckpoint(t.dir), 'FILE_NOT_FOUND', t.dir, 'no weights');
    await t.write('model-00001-of-00002.safetensors', buildSafetensors(specs));
    e = await rejectsWith(openCheckpoint(t.dir), 'FILE_NOT_FOUND', 'model-00001-of-00002.safetensors', 'model.safetensors.index.json');
    await t.write('flax_model.msgpack', 'x');
    e = await rejectsWith(openCheckpoint(t.dir), 'FILE_NOT_FOUND', 'flax_model.msgpack');
    await t.write('pytorch_model.bin', 'x');
    e = await rejectsWith(openCheckpoint(t.dir), 'FILE_NOT_FOUND', 'pytorch_model.bin');
    assert.match(e.hint!, /safe_serialization=True/);
  });
});

test('index problems: bad JSON, bad weight_map, escaping shard path → SAFETENSORS_INVALID', async () => {
  await withTempDir(async (t) => {
    await writeCheckpoint(t, specs, [0, 0, 1, 1]);
    const idx = path.join(t.dir, 'model.safetensors.index.json');
    const good = JSON.parse(readFileSync(idx, 'utf8'));
    await t.write('model.safetensors.index.json', '{"weight_map": {');
    await rejectsWith(openCheckpoint(t.dir), 'SAFETENSORS_INVALID', idx, 'not valid JSON');
    await t.write('model.safetensors.index.json', '[]');
    await rejectsWith(openCheckpoint(t.dir), 'SAFETENSORS_INVALID', idx, 'not a JSON object');
    await t.write('model.safetensors.index.json', { metadata: {} });
    await rejectsWith(openCheckpoint(t.dir), 'SAFETENSORS_INVALID', idx, 'weight_map');
    await t.write('model.safetensors.index.json', { weight_map: ['a'] });
    await rejectsWith(openCheckpoint(t.dir), 'SAFETENSORS_INVALID', idx, 'weight_map');
    await t.write('model.safetensors.index.json', { weight_map: {} });
    await rejectsWith(openCheckpoint(t.dir), 'SAFETENSORS_INVALID', idx, 'empty');
    await t.write('model.safetensors.index.json', { weight_map: { ...good.weight_map, x: 3 } });
    await rejectsWith(openCheckpoint(t.dir), 'SAFETENSORS_INVALID', idx, '"x"');
    await t.write('model.safetensors.index.json', { weight_map: { ...good.weight_map, x: '../../etc/passwd' } });
    await rejectsWith(openCheckpoint(t.dir), 'SAFETENSORS_INVALID', idx, 'outside the folder');
  });
});

test('index names a missing shard → FILE_NOT_FOUND naming the shard', async () => {
  await withTempDir(async (t) => {
    await writeCheckpoint(t, specs, [0, 0, 1, 1]);
    const shard = path.join(t.dir, 'model-00002-of-00002.safetensors');
    await unlink(shard);
    const e = await rejectsWith(openCheckpoint(t.dir), 'FILE_NOT_FOUND', shard, '2 tensors');
    assert.match(e.hint!, /re-download/);
  });
});

test('index lists a tensor its shard lacks → TENSOR_MISSING', async () => {
  await withTempDir(async (t) => {
    await writeCheckpoint(t, specs, [0, 0, 1, 1]);
    const idx = JSON.parse(readFileSync(path.join(t.dir, 'model.safetensors.index.json'), 'utf8'));
    idx.weight_map['transformer.h.0.ln_1.weight'] = 'model-00001-of-00002.safetensors';
    await t.write('model.safetensors.index.json', idx);
    await rejectsWith(openCheckpoint(t.dir), 'TENSOR_MISSING', '"transformer.h.0.ln_1.weight"', 'model-00001-of-00002.safetensors');
  });
});

test('same tensor in two shards → SAFETENSORS_INVALID', async () => {
  await withTempDir(async (t) => {
    await writeCheckpoint(t, specs, [0, 0, 1, 1]);
    // shard 2 also carries wte (which the index maps to shard 1)
    await t.write('model-00002-of-00002.safetensors', buildSafetensors([specs[2], specs[3], specs[0]]));
    await rejectsWith(openCheckpoint(t.dir), 'SAFETENSORS_INVALID', '"transformer.wte.weight"', 'two shards',
      'model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors');
  });
});

test('a corrupt shard header surfaces as SAFETENSORS_INVALID naming that shard', async () => {
  await withTempDir(async (t) => {
    await writeCheckpoint(t, specs, [0, 0, 1, 1]);
    const { header, data } = layout(specs.slice(2));
    (header['transformer.ln_f.bias'] as { shape: number[] }).shape = [5];
    const shard = await t.write('model-00002-of-00002.safetensors', encodeSafetensors(header, data));
    await rejectsWith(openCheckpoint(t.dir), 'SAFETENSORS_INVALID', shard, '"transformer.ln_f.bias"');
  });
});

test('a shard deleted after opening → FILE_NOT_FOUND on read', async () => {
  await withTempDir(async (t) => {
    await writeCheckpoint(t, specs, [0, 0, 1, 1]);
    const ck = await openCheckpoint(t.dir);
    await unlink(path.join(t.dir, 'model-00002-of-00002.safetensors'));
    await rejectsWith(ck.readTensor('transformer.ln_f.bias'), 'FILE_NOT_FOUND', 'model-00002-of-00002.safetensors');
    await ck.readTensor('transformer.wte.weight');
    await ck.close();
  });
});

// ---------------------------------------------------------------------------------------------
// progress reporters

/** A fake output stream recording what is written. */
function fakeStream(isTTY: boolean): NodeJS.WriteStream & { text: () => string } {
  const chunks: string[] = [];
  const w = new Writable({
    write(chunk, _enc, cb) {
      chunks.push(String(chunk));
      cb();
    },
  }) as unknown as NodeJS.WriteStream & { text: () => string };
  Object.assign(w, { isTTY, columns: 100, text: () => chunks.join('') });
  return w;
}

test('progress: no-op reporter and non-TTY stream are silent', () => {
  const noop = createNoopProgress();
  noop.start(10, 'x');
  noop.advance(5);
  noop.stop();
  const s = fakeStream(false);
  const p = createTtyProgress(s);
  p.start(100, 'Loading');
  p.advance(50);
  p.stop();
  assert.equal(s.text(), '');
});

test('progress: TTY stream shows the label and byte counts', () => {
  const s = fakeStream(true);
  const p = createTtyProgress(s);
  p.advance(1); // before start: ignored
  p.start(2 * 1024 ** 3, 'Loading weights');
  p.advance(1024 ** 3);
  p.stop();
  p.stop();
  const out = s.text();
  assert.match(out, /Loading weights/);
  assert.match(out, /2\.00 GiB/);
});
