/** End-to-end: the real `fugaku` binary in child processes, against the HF goldens. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { goldenDir, loadModelGolden, modelDirs, repoRoot } from './helpers.js';
import { runFugaku, type CliRun } from './helpers.js';
import { withTempDir } from './build-safetensors.js';
import { AutoModelForCausalLM } from '../src/generation/causal-lm.js';
import { AutoTokenizer } from '../src/tokenizer/index.js';
import { causalLMLoss, lossFromLogits } from '../src/eval/perplexity.js';


function fugaku(args: string[], stdin = ''): Promise<CliRun> {
  return runFugaku(args, { stdin });
}

interface TokGolden { text: string; ids: number[]; ids_with_special: number[]; decode: string; decode_with_special: string; decode_with_special_skip: string }
const tokGolden = JSON.parse(readFileSync(path.join(goldenDir, 'tokenizer-golden.json'), 'utf8')) as TokGolden[];

test('fugaku tokenize: one JSON string per line in, one id array per line out (HF goldens)', async () => {
  const cases = tokGolden.slice(0, 120);
  const input = cases.map((g) => JSON.stringify(g.text)).join('\n') + '\n';
  const plain = await fugaku(['tokenize'], input);
  assert.equal(plain.code, 0, plain.stderr);
  assert.deepEqual(plain.stdout.trimEnd().split('\n').map((l) => JSON.parse(l)), cases.map((g) => g.ids));
  const special = await fugaku(['tokenize', '--add-special-tokens', '--model', modelDirs['tiny-fugaku']], input);
  assert.equal(special.code, 0, special.stderr);
  assert.deepEqual(special.stdout.trimEnd().split('\n').map((l) => JSON.parse(l)), cases.map((g) => g.ids_with_special));
});

test('fugaku detokenize: with and without --skip-special-tokens (HF goldens)', async () => {
  const cases = tokGolden.slice(0, 120);
  const input = cases.map((g) => JSON.stringify(g.ids_with_special)).join('\n') + '\n';
  const keep = await fugaku(['detokenize'], input);
  assert.equal(keep.code, 0, keep.stderr);
  assert.deepEqual(keep.stdout.trimEnd().split('\n').map((l) => JSON.parse(l)), cases.map((g) => g.decode_with_special));
  const skip = await fugaku(['detokenize', '--skip-special-tokens'], input);
  assert.deepEqual(skip.stdout.trimEnd().split('\n').map((l) => JSON.parse(l)), cases.map((g) => g.decode_with_special_skip));
});

test('fugaku generate --json reproduces the HF greedy continuation of the model-card prompt', async () => {
  const { golden } = loadModelGolden('tiny-ja-demo');
  const c = golden.cases.find((x) => x.name === 'prompt0')!;
  const r = await fugaku(['generate', '--prompt', 'スーパーコンピュータ「富岳」という名称は', '--max-new-tokens', '48', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { input_ids: number[]; output_ids: number[]; text: string };
  assert.deepEqual(out.input_ids, c.input_ids, 'the prompt is encoded without special tokens');
  assert.deepEqual(out.output_ids, c.greedy);
  const tok = await AutoTokenizer.fromPretrained(modelDirs['tiny-ja-demo']);
  assert.equal(out.text, tok.decode(c.greedy, { skipSpecialTokens: true }));
  // Text mode prints prompt + continuation, like decode(tokens[0]) in the model card.
  const text = await fugaku(['generate', '--input-ids', JSON.stringify(c.input_ids), '--max-new-tokens', '5']);
  assert.equal(text.code, 0, text.stderr);
  assert.equal(text.stdout, tok.decode(c.input_ids.concat(c.greedy.slice(0, 5)), { skipSpecialTokens: true }) + '\n');
});

test('fugaku generate --do-sample is reproducible with --seed', async () => {
  const args = ['generate', '--prompt', '富士山は', '--max-new-tokens', '8', '--do-sample', '--temperature', '1.5', '--top-k', '0', '--seed', '7', '--json'];
  const a = await fugaku(args);
  const b = await fugaku(args);
  assert.equal(a.code, 0, a.stderr);
  assert.equal(JSON.parse(a.stdout).output_ids.length, 8);
  assert.deepEqual(JSON.parse(a.stdout), JSON.parse(b.stdout));
});

test('fugaku perplexity: HF loss for one window, and windows of n_positions when longer', async () => {
  const text = readFileSync(path.join(repoRoot, 'data', 'aozora-bunko', 'plain', 'akutagawa_ryunosuke-rashomon.txt'), 'utf8');
  const tok = await AutoTokenizer.fromPretrained(modelDirs['tiny-gpt2-f16']);
  const model = await AutoModelForCausalLM.fromPretrained(modelDirs['tiny-gpt2-f16']);
  const ids = tok.encode(text, { addSpecialTokens: false });
  await withTempDir(async (t) => {
    const file = path.join(t.dir, 'in.txt');
    await writeFile(file, text);
    // One window (n_positions = 64): equals the model's causal-LM loss.
    const one = await fugaku(['perplexity', '--model', modelDirs['tiny-gpt2-f16'], '--file', file, '--max-tokens', '50', '--json']);
    assert.equal(one.code, 0, one.stderr);
    const r1 = JSON.parse(one.stdout) as { tokens: number; loss: number; perplexity: number };
    assert.equal(r1.tokens, 50);
    assert.ok(Math.abs(r1.loss - causalLMLoss(model.model, ids.slice(0, 50))) < 1e-9);
    assert.ok(Math.abs(r1.perplexity - Math.exp(r1.loss)) < 1e-9);
    // 150 tokens: windows [0,64) [64,128) [128,150), each scoring its positions 1..n-1.
    const many = await fugaku(['perplexity', '--model', modelDirs['tiny-gpt2-f16'], '--file', file, '--max-tokens', '150', '--json']);
    const r2 = JSON.parse(many.stdout) as { tokens: number; loss: number };
    let nll = 0;
    let n = 0;
    for (const [a, b] of [[0, 64], [64, 128], [128, 150]]) {
      const w = ids.slice(a, b);
      const l = lossFromLogits(model.model.forward(w, model.model.newCache(), { logits: 'all' }), model.config.vocabSize, w);
      nll += l.nllSum;
      n += l.predicted;
    }
    assert.equal(r2.tokens, 150);
    assert.ok(Math.abs(r2.loss - nll / n) < 1e-9, `${r2.loss} vs ${nll / n}`);
  });
});

test('every command has --help; bad input gives exit 1 and a one-line error', async () => {
  for (const cmd of ['tokenize', 'detokenize', 'generate', 'perplexity']) {
    const h = await fugaku([cmd, '--help']);
    assert.equal(h.code, 0);
    assert.match(h.stdout, new RegExp(`Usage: fugaku ${cmd}`));
  }
  const bad: [string[], string, RegExp][] = [
    [['generate', '--bogus'], '', /unknown option '--bogus'/],
    [['generate'], '', /--prompt/],
    [['generate', '--prompt', 'a', '--top-k', '-1'], '', /--top-k/],
    [['generate', '--prompt', 'a', '--temperature', '0', '--do-sample'], '', /GENERATION_CONFIG_INVALID.*temperature/],
    [['generate', '--input-ids', '[1, "x"]'], '', /--input-ids/],
    [['generate', '--input-ids', '[49000]'], '', /TOKEN_ID_OUT_OF_RANGE/],
    [['generate', '--model', modelDirs['tiny-gpt2-f16'], '--prompt', 'あ'.repeat(10), '--max-new-tokens', '100'], '', /CONTEXT_OVERFLOW.*64/],
    [['generate', '--model', '/definitely/not/here', '--prompt', 'a'], '', /FILE_NOT_FOUND/],
    [['tokenize'], 'not json\n', /line 1 is not valid JSON/],
    [['tokenize'], '"ok"\n42\n', /line 2 is not a JSON string/],
    [['detokenize'], '[1, 2\n', /line 1 is not valid JSON/],
    [['detokenize'], '[-1]\n', /TOKEN_ID_OUT_OF_RANGE/],
    [['perplexity', '--file', '/no/such/file.txt'], '', /FILE_NOT_FOUND/],
    [['perplexity'], '', /--file/],
    [['frobnicate'], '', /unknown command/],
  ];
  for (const [args, stdin, pattern] of bad) {
    const r = await fugaku(args, stdin);
    assert.equal(r.code, 1, `${args.join(' ')} should fail`);
    assert.match(r.stderr, pattern, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stderr.trimEnd().split('\n').length, 1, `one line for ${args.join(' ')}: ${r.stderr}`);
  }
});

test('fugaku generate --stream prints the same text as the non-streaming run; --stop trims', async () => {
  const args = ['generate', '--prompt', 'スーパーコンピュータ「富岳」という名称は', '--max-new-tokens', '20'];
  const plain = await fugaku(args);
  const streamed = await fugaku([...args, '--stream']);
  assert.equal(streamed.code, 0, streamed.stderr);
  assert.equal(streamed.stdout, plain.stdout);
  const stopped = await fugaku([...args, '--stop', '年', '--json', '--no-echo']);
  const j = JSON.parse(stopped.stdout) as { text: string; output_ids: number[] };
  assert.ok(!j.text.includes('年'));
  assert.ok(j.output_ids.length < 20);
  const bad = await fugaku([...args, '--stream', '--json']);
  assert.equal(bad.code, 1);
});
