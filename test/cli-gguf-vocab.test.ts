/**
 * CLI end to end (real `fugaku` processes) on GGUF files without the fugaku.* tokenizer keys, as
 * llama.cpp's tools and other converters leave them: tokenize, detokenize, generate --prompt,
 * generate --input-ids and chat give the same output as on the file `fugaku convert` wrote.
 *  - `notok.gguf`: fugaku.tokenizer_json / tokenizer_config / special_tokens_map removed (weights and
 *    fugaku.hf_config kept, so generation is comparable token for token);
 *  - `bare.gguf`: every fugaku.* key removed (config rebuilt from gpt2.* keys, llama.cpp's gelu):
 *    tokenization equal, generation runs;
 *  - chat on `notok.gguf`, and with a foreign tokenizer.chat_template (same answers plus a warning).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { modelDirs, runFugaku } from './helpers.js';
import { convertToGGUF } from '../src/convert/to-gguf.js';
import { openGGUF, writeGGUF } from '../src/io/gguf.js';

const dir = mkdtempSync(path.join(tmpdir(), 'fugaku-cli-vocab-'));
const orig = path.join(dir, 'orig.gguf');

async function copyWithout(src: string, out: string, drop: (key: string) => boolean): Promise<void> {
  const g = await openGGUF(src);
  try {
    const metadata = [...g.metadata.entries()].filter(([k]) => !drop(k));
    const tensors = [...g.tensors.values()].map((t) => ({ name: t.name, type: t.type, shape: t.shape }));
    await writeGGUF(out, { metadata, tensors }, async (t) => (await g.readTensor(t.name)).data);
  } finally {
    await g.close();
  }
}

const ready = (async () => {
  await convertToGGUF({ model: modelDirs['tiny-fugaku'], out: orig, dtype: 'q8_0', licenseFile: null });
  const notok = path.join(dir, 'notok.gguf');
  const bare = path.join(dir, 'bare.gguf');
  await copyWithout(orig, notok, (k) => k === 'fugaku.tokenizer_json' || k === 'fugaku.tokenizer_config' || k === 'fugaku.special_tokens_map');
  await copyWithout(orig, bare, (k) => k.startsWith('fugaku.'));
  return { notok, bare };
})();

async function ok(args: string[], stdin?: string): Promise<string> {
  const r = await runFugaku(args, { stdin });
  assert.equal(r.code, 0, `fugaku ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

const TEXTS = ['スーパーコンピュータ「富岳」という名称は', 'Hello, world!  二つの空白', '全角ＡＢＣ１２３ と 絵文字🍣👍🏽', '<EOD|LLM-jp>の後 text', '改行\n\nタブ\t'];

test('tokenize / detokenize: a GGUF without fugaku.* keys gives the same output', async () => {
  const { notok, bare } = await ready;
  const input = TEXTS.map((s) => JSON.stringify(s)).join('\n') + '\n';
  const want = await ok(['tokenize', '--model', orig], input);
  assert.equal(want.trim().split('\n').length, TEXTS.length);
  for (const f of [notok, bare]) assert.equal(await ok(['tokenize', '--model', f], input), want, f);
  const ids = want;
  const text = await ok(['detokenize', '--model', orig], ids);
  // (HF decoding is not an exact inverse: the piece after <EOD|LLM-jp> gets its own "▁" → " ".)
  assert.equal(text.split('\n')[0], JSON.stringify(TEXTS[0]));
  for (const f of [notok, bare]) assert.equal(await ok(['detokenize', '--model', f], ids), text, f);
});

test('generate --prompt / --input-ids: same output without the fugaku tokenizer keys', async () => {
  const { notok, bare } = await ready;
  const prompt = ['generate', '--prompt', TEXTS[0], '--max-new-tokens', '12', '--json'];
  const want = await ok([...prompt, '--model', orig]);
  assert.equal(await ok([...prompt, '--model', notok]), want);
  const inputIds = ['generate', '--input-ids', '[1,2550,3333,7]', '--max-new-tokens', '6'];
  const wantIds = await ok([...inputIds, '--model', orig]);
  assert.equal(await ok([...inputIds, '--model', notok]), wantIds);
  // Without fugaku.hf_config the model is llama.cpp's gpt2 graph (gelu tanh): it runs, output may differ.
  const w = JSON.parse(want) as { input_ids: number[]; output_ids: number[] };
  const r = JSON.parse(await ok([...prompt, '--model', bare])) as { input_ids: number[]; output_ids: number[]; text: string };
  assert.deepEqual(r.input_ids, w.input_ids);
  assert.ok(r.output_ids.length > 0);
  assert.equal(typeof r.text, 'string');
});

test('chat (piped): same answers without the fugaku tokenizer keys; a foreign chat template gets a warning', async () => {
  const { notok } = await ready;
  const run = async (model: string): Promise<{ stdout: string; stderr: string }> => {
    const r = await runFugaku(['chat', '--model', model, '--max-new-tokens', '8'], { stdin: '富士山について教えて\n次は？\n' });
    assert.equal(r.code, 0, r.stderr);
    return r;
  };
  const want = await run(orig);
  assert.ok(want.stdout.length > 0);
  const got = await run(notok);
  assert.equal(got.stdout, want.stdout);
  assert.doesNotMatch(got.stderr, /chat template/);
  const g = await openGGUF(notok);
  const metadata = [...g.metadata.entries(), ['tokenizer.chat_template', { type: 'string', value: '{{ messages }}' }] as const];
  const tensors = [...g.tensors.values()].map((t) => ({ name: t.name, type: t.type, shape: t.shape }));
  const withTpl = path.join(dir, 'with-template.gguf');
  await writeGGUF(withTpl, { metadata, tensors }, async (t) => (await g.readTensor(t.name)).data);
  await g.close();
  const w = await run(withTpl);
  assert.equal(w.stdout, want.stdout);
  assert.match(w.stderr, /warning: the model declares its own chat template .*built-in Fugaku-LLM instruct format/);
});
