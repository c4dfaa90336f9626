/**
 * `fugaku imatrix` (src/eval/imatrix.ts, src/io/imatrix-writer.ts, src/cli/imatrix.ts): against llama.cpp's
 * own llama-imatrix output (committed fixture, test/fixtures/llamacpp-imatrix/README.md), the chunking and
 * accumulation rules checked independently on the reference backend, the real CLI process, and refusals.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, readFile, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { convertToGGUF } from '../src/convert/to-gguf.js';
import { openGGUF, type GGUFFile } from '../src/io/gguf.js';
import { loadGPT2 } from '../src/model/load.js';
import { ReferenceBackend } from '../src/backend/reference.js';
import { computeImatrix } from '../src/eval/imatrix.js';
import { ObservingBackend } from '../src/eval/imatrix-observer.js';
import type { Backend } from '../src/backend/backend.js';
import { FugakuError } from '../src/errors.js';
import { AutoTokenizer } from '../src/tokenizer/index.js';
import { makeTempDir } from './build-safetensors.js';
import { fixturesDir, modelDirs, rejectsWith, runFugaku } from './helpers.js';

const fixture = path.join(fixturesDir, 'llamacpp-imatrix');
const textFile = path.join(fixture, 'kumo_no_ito.txt');
const shared = makeTempDir();
after(async () => (await shared).cleanup());

async function tensors(g: GGUFFile): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  for (const name of g.tensors.keys()) out.set(name, (await g.readTensor(name)).data as Float32Array);
  return out;
}

test('fugaku imatrix writes what llama-imatrix wrote for the same model and text', async () => {
  const t = await shared;
  // The model llama-imatrix was run on (fixture README): tiny-ja-demo with llama.cpp's tanh GELU, as f16 GGUF.
  const dir = path.join(t.dir, 'demo-gelu-new');
  await cp(modelDirs['tiny-ja-demo'], dir, { recursive: true });
  const cfgFile = path.join(dir, 'config.json');
  const cfg = JSON.parse(await readFile(cfgFile, 'utf8')) as Record<string, unknown>;
  await writeFile(cfgFile, JSON.stringify({ ...cfg, activation_function: 'gelu_new' }));
  const model = path.join(t.dir, 'demo-f16.gguf');
  await convertToGGUF({ model: dir, out: model, dtype: 'f16', tokenizerModel: 't5' });
  // Run from the fixture folder with the same relative --file llama-imatrix was given: imatrix.datasets match too.
  const out = path.join(t.dir, 'ours.gguf');
  const r = await runFugaku(['imatrix', '--model', model, '--file', 'kumo_no_ito.txt', '--out', out, '--chunk-size', '128', '--chunks', '4', '--backend', 'reference'], { cwd: fixture });
  assert.equal(r.code, 0, r.stderr);
  const ours = await openGGUF(out);
  const ref = await openGGUF(path.join(fixture, 'imatrix-tiny-ja-demo-f16-c128x4.gguf'));
  try {
    // Same metadata (keys, order, types, values) and the same tensor names, order, types, shapes and offsets.
    assert.deepEqual([...ours.metadata], [...ref.metadata]);
    assert.deepEqual([...ours.tensors.values()].map(({ name, type, ne, offset }) => ({ name, type, ne, offset })), [...ref.tensors.values()].map(({ name, type, ne, offset }) => ({ name, type, ne, offset })));
    assert.equal(ours.tensors.size, 4 * 4 * 2);
    const a = await tensors(ours);
    const b = await tensors(ref);
    for (const [name, want] of b) {
      const got = a.get(name)!;
      if (name.endsWith('.counts')) {
        assert.deepEqual(Array.from(got), [512], name);
        assert.deepEqual(got, want, name);
        continue;
      }
      // llama.cpp rounds GELU outputs through an f16 table and f16-multiplies activations: per tensor the
      // relative L2 difference measured 2.4e-4 (largest single column 1.24e-3, in ffn_down).
      let num = 0;
      let den = 0;
      let worst = 0;
      for (let i = 0; i < want.length; i++) {
        num += (got[i] - want[i]) ** 2;
        den += want[i] ** 2;
        worst = Math.max(worst, Math.abs(got[i] - want[i]) / Math.abs(want[i]));
      }
      assert.ok(Math.sqrt(num / den) < 1e-3, `${name}: relative L2 difference ${Math.sqrt(num / den)}`);
      assert.ok(worst < 3e-3, `${name}: largest column difference ${worst}`);
    }
  } finally {
    await ours.close();
    await ref.close();
  }
});

test('computeImatrix: every token of each chunk counts; chunks are independent sequences; Σx² of the LayerNorm input', async () => {
  const be = new ReferenceBackend();
  const { model } = await loadGPT2(modelDirs['tiny-ja-demo'], { backend: be });
  const tok = await AutoTokenizer.fromPretrained(modelDirs['tiny-ja-demo']);
  const ids = tok.encode(await readFile(textFile, 'utf8'), { addSpecialTokens: false }).slice(0, 100);
  const both = await computeImatrix(model, ids, { chunkSize: 32 }); // 3 whole chunks; the last 4 tokens are dropped
  assert.equal(both.chunkCount, 3);
  assert.equal(both.chunkSize, 32);
  const names = [...both.entries.keys()];
  assert.deepEqual(names, [...names].sort());
  assert.equal(names.length, 16);
  assert.ok(!names.includes('token_embd.weight') && !names.includes('output.weight'), 'the tied head is token_embd.weight, never recorded');
  for (const e of both.entries.values()) assert.equal(e.count, 96);
  assert.equal(both.entries.get('blk.0.ffn_down.weight')!.inSum2.length, 1024);
  // The sum over the chunks of each chunk computed alone, from an empty cache.
  const parts = await Promise.all([0, 1, 2].map((c) => computeImatrix(model, ids.slice(c * 32, c * 32 + 32), { chunkSize: 32 })));
  for (const [name, e] of both.entries) {
    const sum = new Float64Array(e.inSum2.length);
    for (const p of parts) p.entries.get(name)!.inSum2.forEach((v, j) => (sum[j] += v));
    for (let j = 0; j < sum.length; j++) assert.ok(Math.abs(sum[j] - e.inSum2[j]) <= 1e-9 * Math.abs(sum[j]), `${name}[${j}]`);
  }
  // --chunks: the first N only.
  const one = await computeImatrix(model, ids, { chunkSize: 32, maxChunks: 1 });
  assert.equal(one.chunkCount, 1);
  assert.deepEqual(one.entries.get('blk.2.ffn_up.weight')!.inSum2, parts[0].entries.get('blk.2.ffn_up.weight')!.inSum2);
  // blk.0.attn_qkv's input is ln_1(wte[id] + wpe[pos]): computed here with the backend's ops directly.
  const E = model.config.nEmbd;
  const h = be.alloc(32 * E);
  const pos = be.alloc(32 * E);
  const x = be.alloc(32 * E);
  const w = model.weights;
  be.embedding(w.wte, Int32Array.from(ids.slice(0, 32)), h);
  be.embedding(w.wpe, Int32Array.from({ length: 32 }, (_, i) => i), pos);
  be.addInPlace(h, pos, 32 * E);
  be.layerNorm(h, 32, E, w.blocks[0].ln1Weight, w.blocks[0].ln1Bias, model.config.layerNormEpsilon, x);
  const xs = await be.read(x);
  const want = new Float64Array(E);
  for (let r = 0; r < 32; r++) for (let j = 0; j < E; j++) want[j] += xs[r * E + j] ** 2;
  assert.deepEqual(parts[0].entries.get('blk.0.attn_qkv.weight')!.inSum2, want);
  assert.ok(want.every((v) => v > 0));
});

test('computeImatrix: output.weight only with processOutput and an untied head; refusals', async () => {
  const be = new ReferenceBackend();
  const { model } = await loadGPT2(modelDirs['tiny-gpt2-f16'], { backend: be }); // untied lm_head, n_positions 64
  const ids = Array.from({ length: 40 }, (_, i) => 100 + i * 7);
  const plain = await computeImatrix(model, ids, { chunkSize: 20 });
  assert.ok(!plain.entries.has('output.weight'));
  const withHead = await computeImatrix(model, ids, { chunkSize: 20, processOutput: true });
  assert.equal(withHead.entries.get('output.weight')!.count, 40);
  // The head's input is the final LayerNorm's output: as wide as the model.
  assert.equal(withHead.entries.get('output.weight')!.inSum2.length, model.config.nEmbd);
  assert.deepEqual(withHead.entries.get('blk.1.ffn_down.weight'), plain.entries.get('blk.1.ffn_down.weight'));
  await rejectsWith(computeImatrix(model, ids.slice(0, 19), { chunkSize: 20 }), 'INVALID_ARGUMENT', '19 tokens', 'fewer than one chunk of 20');
  await rejectsWith(computeImatrix(model, ids, { chunkSize: 65 }), 'INVALID_ARGUMENT', "n_positions");
  await rejectsWith(computeImatrix(model, ids, { chunkSize: 20, maxChunks: 0 }), 'INVALID_ARGUMENT', 'chunks 0');
});

test('fugaku imatrix CLI on the embedded default model: summary, file, datasets; typed errors', async () => {
  const t = await shared;
  const out = path.join(t.dir, 'cli.gguf');
  const r = await runFugaku(['imatrix', '--file', textFile, '--out', out, '--chunk-size', '64', '--chunks', '2', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout) as { out: string; chunks: number; chunk_size: number; tokens: number; tensors: string[] };
  assert.equal(s.out, out);
  assert.equal(s.chunks, 2);
  assert.equal(s.chunk_size, 64);
  assert.ok(s.tokens > 2000);
  assert.equal(s.tensors.length, 16);
  const g = await openGGUF(out);
  try {
    assert.equal(g.metadata.get('general.type')?.value, 'imatrix');
    assert.deepEqual(g.metadata.get('imatrix.datasets')?.value, [textFile]);
    assert.equal(g.metadata.get('imatrix.chunk_count')?.value, 2);
    assert.equal(g.metadata.get('imatrix.chunk_size')?.value, 64);
    assert.deepEqual(Array.from((await g.readTensor('blk.3.ffn_down.weight.counts')).data), [128]);
    assert.equal(g.tensors.get('blk.3.ffn_down.weight.in_sum2')?.ne[0], 1024);
  } finally {
    await g.close();
  }

  const short = await (await shared).write('short.txt', 'こんにちは\n');
  const cases: [string[], string, string][] = [
    [['imatrix', '--out', out], 'INVALID_ARGUMENT', '--file is required'],
    [['imatrix', '--file', short, '--out', out], 'INVALID_ARGUMENT', 'fewer than one chunk of 512'],
    [['imatrix', '--file', textFile, '--out', out, '--bogus'], 'UNKNOWN_OPTION', '--bogus'],
    [['imatrix', '--file', textFile, '--out', out, '--backend', 'webgpu'], 'INVALID_ARGUMENT', '--backend'],
    [['imatrix', '--file', path.join(t.dir, 'missing.txt'), '--out', out], 'FILE_NOT_FOUND', 'missing.txt'],
    [['imatrix', '--file', textFile, '--out', out, '--chunk-size', '0'], 'INVALID_ARGUMENT', '--chunk-size'],
  ];
  for (const [args, code, part] of cases) {
    const e = await runFugaku(args);
    assert.equal(e.code, 1, args.join(' '));
    assert.match(e.stderr, new RegExp(`^error\\[${code}\\]: `), e.stderr);
    assert.ok(e.stderr.includes(part), `${args.join(' ')}: ${e.stderr}`);
    assert.equal(e.stderr.trim().split('\n').length, 1, e.stderr);
  }
});

test('ObservingBackend refuses a backend whose activations live in device memory', () => {
  const gpu = { name: 'webgpu', weightMemory: 'device' } as unknown as Backend;
  assert.throws(() => new ObservingBackend(gpu, () => {}), (e: unknown) => e instanceof FugakuError && e.code === 'INVALID_ARGUMENT' && e.message.includes('webgpu') && (e.hint ?? '').includes('--backend native'));
  // A host backend is wrapped; its matmul inputs reach the callback before the product.
  const be = new ReferenceBackend();
  const seen: number[][] = [];
  const obs = new ObservingBackend(be, (_w, x, rows) => seen.push([rows, ...x]));
  const w = obs.loadMatrix({ dtype: 'F32', shape: [2, 3], data: Float32Array.of(1, 0, 0, 0, 1, 0) }, 'in_out');
  const x = obs.alloc(4);
  obs.write(x, Float32Array.of(1, 2, 3, 4));
  const out = obs.alloc(6);
  obs.matmul(x, 2, w, null, out);
  assert.deepEqual(seen, [[2, 1, 2, 3, 4]]);
  assert.equal(obs.name, 'reference');
});
