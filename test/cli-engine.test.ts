/**
 * The fast engine through the real CLI: a GGUF written by `fugaku convert` generates exactly what the
 * HF folder quantized while loading generates (same bytes, same kernels), its tokenizer comes from the
 * file, `fugaku bench --json` prints the fields, and bad engine options are clear errors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { modelDirs, runFugaku } from './helpers.js';
import { withTempDir } from './build-safetensors.js';
import { loadNativeAddon } from '../src/backend/native-addon.js';
import { availableKernels } from '../src/backend/native.js';

const dir = modelDirs['tiny-ja-demo'];
const PROMPT = '以下は、タスクを説明する指示です。要求を適切に満たす応答を書きなさい。\n\n### 指示:\n富士山について教えて\n\n### 応答:\n';

test('generate from a converted q8_0 GGUF equals generate from the folder with --dtype q8_0', async () => {
  await withTempDir(async (tmp) => {
    const file = path.join(tmp.dir, 'demo-q8_0.gguf');
    const conv = await runFugaku(['convert', '--model', dir, '--dtype', 'q8_0', '--out', file, '--json']);
    assert.equal(conv.code, 0, conv.stderr);
    const args = ['generate', '--prompt', PROMPT, '--max-new-tokens', '24', '--json'];
    const a = await runFugaku([...args, '--model', file]);
    const b = await runFugaku([...args, '--model', dir, '--dtype', 'q8_0']);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 0, b.stderr);
    const ja = JSON.parse(a.stdout);
    const jb = JSON.parse(b.stdout);
    assert.deepEqual(ja.input_ids, jb.input_ids, 'the tokenizer stored in the GGUF encodes like tokenizer.json');
    assert.equal(ja.output_ids.length, 24);
    assert.deepEqual(ja.output_ids, jb.output_ids);
    assert.equal(ja.text, jb.text);
    const bad = await runFugaku([...args, '--model', file, '--dtype', 'f16']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /error\[DTYPE_UNSUPPORTED\].*already quantized/);
  });
});

test('fugaku bench --json reports prefill/decode tok/s, load time, peak RSS, dtype and threads', async () => {
  const r = await runFugaku(['bench', '--model', dir, '--dtype', 'q4_0', '--threads', '1', '--prompt-tokens', '16', '--new-tokens', '4', '--runs', '2', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  for (const k of ['prefill_tok_s', 'decode_tok_s', 'load_s', 'peak_rss_mb']) assert.ok(typeof j[k] === 'number' && j[k] > 0, `${k} = ${j[k]}`);
  assert.equal(j.dtype, 'Q4_0');
  assert.equal(j.threads, 1);
  assert.equal(j.backend, 'native');
  assert.equal(j.kernels, kernelSets[0], 'auto picks the best kernel set of this CPU');
  assert.equal(j.runs.decode_tok_s.length, 2);
  const tooLong = await runFugaku(['bench', '--model', dir, '--prompt-tokens', '500', '--new-tokens', '50']);
  assert.equal(tooLong.code, 1);
  assert.match(tooLong.stderr, /error\[CONTEXT_OVERFLOW\]/);
  const badThreads = await runFugaku(['generate', '--model', dir, '--prompt', 'a', '--threads', '0']);
  assert.equal(badThreads.code, 1);
  assert.match(badThreads.stderr, /--threads/);
  const badKv = await runFugaku(['generate', '--model', dir, '--prompt', 'a', '--kv-cache-dtype', 'q8']);
  assert.equal(badKv.code, 1);
  assert.match(badKv.stderr, /kv-cache-dtype/);
});

test('--kv-cache-dtype f16 and --backend reference run end to end', async () => {
  const a = await runFugaku(['generate', '--model', dir, '--prompt', '富士山は', '--max-new-tokens', '8', '--json', '--kv-cache-dtype', 'f16']);
  const b = await runFugaku(['generate', '--model', dir, '--prompt', '富士山は', '--max-new-tokens', '8', '--json', '--backend', 'reference', '--dtype', 'f32']);
  assert.equal(a.code, 0, a.stderr);
  assert.equal(b.code, 0, b.stderr);
  assert.equal(JSON.parse(a.stdout).output_ids.length, 8);
  assert.equal(JSON.parse(b.stdout).output_ids.length, 8);
});

const addon = loadNativeAddon();
const kernelSets = addon.ok ? availableKernels(addon.addon.cpuFeatures()) : [];

test('--simd: every kernel set this CPU runs generates; the SIMD sets agree token for token; a set it lacks is a clear error', async () => {
  assert.ok(kernelSets.length >= 1, 'the native addon loads');
  for (const dtype of ['q8_0', 'q4_0', 'bf16']) {
    const outs = new Map<string, number[]>();
    for (const simd of kernelSets) {
      const r = await runFugaku(['generate', '--model', dir, '--prompt', PROMPT, '--max-new-tokens', '16', '--json', '--dtype', dtype, '--simd', simd, '--threads', '2']);
      assert.equal(r.code, 0, r.stderr);
      const ids: number[] = JSON.parse(r.stdout).output_ids;
      assert.equal(ids.length, 16);
      outs.set(simd, ids);
    }
    // amx, avx512, avxvnni and avx2 compute quantized products bit-identically and share attention, so their tokens
    // match exactly. The portable set sums attention in another order; with quantized weights an ulp can
    // move an activation across a rounding boundary, so its tokens may legitimately differ there (the
    // op tests bound its error; bench/kernel-agreement.ts measures the logits).
    const simdSets = kernelSets.filter((k) => k === 'amx' || k === 'avx512' || k === 'avxvnni' || k === 'avx2');
    for (const k of simdSets.slice(1)) assert.deepEqual(outs.get(k), outs.get(simdSets[0]), `${dtype}: ${k} vs ${simdSets[0]}`);
    if (dtype === 'bf16') for (const k of kernelSets) assert.deepEqual(outs.get(k), outs.get(kernelSets[0]), `bf16: ${k} vs ${kernelSets[0]}`);
  }
  for (const simd of ['amx', 'avx512', 'avxvnni', 'avx2', 'neon'].filter((k) => !kernelSets.includes(k as never))) {
    const r = await runFugaku(['generate', '--model', dir, '--prompt', 'a', '--simd', simd]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`error\\[BACKEND_UNAVAILABLE\\].*${simd} kernels need a CPU with`));
  }
  const bad = await runFugaku(['generate', '--model', dir, '--prompt', 'a', '--simd', 'sse2']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /--simd/);
});
