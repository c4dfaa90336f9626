/** End-to-end: the real `fugaku` binary in child processes, against the HF goldens. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { goldenDir, loadModelGolden, modelDirs, repoRoot } from './helpers.js';
import { runFugaku, type CliRun } from './helpers.js';
import { withTempDir } from './build-safetensors.js';
import { AutoModelForCausalLM } from '../src/generation/causal-lm.js';
import { AutoTokenizer } from '../src/tokenizer/index.js';
import { causalLMLoss, lossFromLogits } from '../src/eval/perplexity.js';
import { convertToGGUF } from '../src/convert/to-gguf.js';
import { rejectsWith } from './helpers.js';


function fugaku(args: string[], stdin = ''): Promise<CliRun> {
  return runFugaku(args, { stdin });
}

/** The README's error format: exactly one line on stderr, `error[CODE]: message (hint: ...)`. */
const ERROR_LINE = /^error\[[A-Z_]+\]: [^\n]+ \(hint: [^\n]+\)\n$/;

/** Runs `args`, expects exit 1 with one documented error line of `code`; returns that line. */
async function failsWith(args: string[], code: string, stdin = ''): Promise<string> {
  const r = await fugaku(args, stdin);
  assert.equal(r.code, 1, `${args.join(' ')} should exit 1; stderr: ${r.stderr}`);
  assert.match(r.stderr, ERROR_LINE, `${args.join(' ')}: ${r.stderr}`);
  assert.ok(r.stderr.startsWith(`error[${code}]: `), `${args.join(' ')}: expected ${code}, got ${r.stderr}`);
  return r.stderr;
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
    assert.ok(Math.abs(r1.loss - await causalLMLoss(model.model, ids.slice(0, 50))) < 1e-9);
    assert.ok(Math.abs(r1.perplexity - Math.exp(r1.loss)) < 1e-9);
    // 150 tokens: windows [0,64) [64,128) [128,150), each scoring its positions 1..n-1.
    const many = await fugaku(['perplexity', '--model', modelDirs['tiny-gpt2-f16'], '--file', file, '--max-tokens', '150', '--json']);
    const r2 = JSON.parse(many.stdout) as { tokens: number; loss: number };
    let nll = 0;
    let n = 0;
    for (const [a, b] of [[0, 64], [64, 128], [128, 150]]) {
      const w = ids.slice(a, b);
      const l = lossFromLogits(await model.model.forward(w, model.model.newCache(), { logits: 'all' }), model.config.vocabSize, w);
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
    [['generate', '--bogus'], '', /UNKNOWN_OPTION.*unknown option --bogus/],
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
    assert.match(r.stderr, ERROR_LINE, `the documented format for ${args.join(' ')}`);
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

test('--model that is not a model: a typed one-line error from the CLI and from the library, never INTERNAL', async () => {
  await withTempDir(async (t) => {
    const readme = path.join(repoRoot, 'README.md');
    // A plain file is neither a folder nor a GGUF file, for every command that resolves --model.
    for (const args of [['generate', '--prompt', 'a'], ['tokenize'], ['detokenize'], ['bench'], ['perplexity', '--file', readme]]) {
      const line = await failsWith([...args, '--model', readme], 'MODEL_INVALID', '"a"\n');
      assert.match(line, /README\.md is a file but neither a model folder nor a GGUF file \(hint: pass a Hugging Face model folder/);
    }
    await rejectsWith(AutoModelForCausalLM.fromPretrained(readme), 'MODEL_INVALID', 'neither a model folder nor a GGUF file');
    await rejectsWith(AutoTokenizer.fromPretrained(readme), 'MODEL_INVALID', 'neither a model folder nor a GGUF file');
    // Nothing there.
    assert.match(await failsWith(['generate', '--model', path.join(t.dir, 'nowhere'), '--prompt', 'a'], 'FILE_NOT_FOUND'), /nowhere does not exist/);
    await rejectsWith(AutoModelForCausalLM.fromPretrained(path.join(t.dir, 'nowhere')), 'FILE_NOT_FOUND', 'does not exist');
    // A folder without the model files: no tokenizer.json; tokenizer files but no config.json.
    const empty = path.join(t.dir, 'empty');
    await mkdir(empty);
    assert.match(await failsWith(['generate', '--model', empty, '--prompt', 'a'], 'FILE_NOT_FOUND'), /tokenizer\.json not found/);
    const tokOnly = path.join(t.dir, 'tokenizer-only');
    await mkdir(tokOnly);
    await copyFile(path.join(modelDirs['tiny-gpt2-f16'], 'tokenizer.json'), path.join(tokOnly, 'tokenizer.json'));
    assert.match(await failsWith(['generate', '--model', tokOnly, '--prompt', 'a'], 'FILE_NOT_FOUND'), /has no config\.json/);
    // GGUF files: empty, cut inside the metadata, cut inside the tensor data.
    const zero = path.join(t.dir, 'x.gguf');
    await writeFile(zero, '');
    assert.match(await failsWith(['generate', '--model', zero, '--prompt', 'a'], 'GGUF_INVALID'), /0 bytes, too short/);
    const full = path.join(t.dir, 'full.gguf');
    await convertToGGUF({ model: modelDirs['tiny-gpt2-f16'], out: full, dtype: 'f16', licenseFile: null });
    const bytes = await readFile(full);
    for (const [name, length] of [['head', 4096], ['tail', bytes.length - 1000]] as const) {
      const cut = path.join(t.dir, `cut-${name}.gguf`);
      await writeFile(cut, bytes.subarray(0, length));
      assert.match(await failsWith(['generate', '--model', cut, '--prompt', 'a'], 'GGUF_INVALID'), /truncated/);
    }
    // A GGUF file without the .gguf name is still a GGUF file (recognised by its magic).
    const args = ['generate', '--prompt', 'あ', '--max-new-tokens', '3', '--json'];
    const bin = path.join(t.dir, 'model.bin');
    await copyFile(full, bin);
    const [a, b] = [await fugaku([...args, '--model', full]), await fugaku([...args, '--model', bin])];
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 0, b.stderr);
    assert.deepEqual(JSON.parse(b.stdout), JSON.parse(a.stdout));
  });
});

test('option errors in every command: error[CODE]: message (hint: what is allowed), exit 1; --help and --version exit 0', async () => {
  const cases: [string[], string, RegExp][] = [
    [['generate', '--max-new-tokens', '-1'], 'INVALID_ARGUMENT', /fugaku generate: --max-new-tokens "-1" is invalid \(hint: --max-new-tokens takes an integer >= 1; see fugaku generate --help\)/],
    [['generate', '--max-new-tokens', '1.5'], 'INVALID_ARGUMENT', /--max-new-tokens takes an integer >= 1/],
    [['generate', '--temperature', 'abc'], 'INVALID_ARGUMENT', /--temperature "abc" is invalid \(hint: --temperature takes a number/],
    [['generate', '--threads', '0'], 'INVALID_ARGUMENT', /--threads "0" is invalid \(hint: --threads takes an integer in 1\.\.256/],
    [['generate', '--dtype', 'q2_k'], 'INVALID_ARGUMENT', /--dtype "q2_k" is invalid \(hint: --dtype takes one of auto, bf16, f16, f32, q8_0, q4_0; see fugaku generate --help\)/],
    [['generate', '--frobnicate'], 'UNKNOWN_OPTION', /fugaku generate: unknown option --frobnicate \(hint: see fugaku generate --help/],
    [['generate', '--promt', 'a'], 'UNKNOWN_OPTION', /did you mean --prompt\?/],
    [['generate', '--prompt'], 'INVALID_ARGUMENT', /--prompt needs a value \(hint: write --prompt <text>/],
    [['generate', '--prompt', 'a', '--input-ids', '[1]'], 'INVALID_ARGUMENT', /--prompt and --input-ids cannot be used together/],
    [['generate', '--input-ids', 'x'], 'INVALID_ARGUMENT', /--input-ids takes a non-empty JSON array/],
    [['generate', 'extra'], 'INVALID_ARGUMENT', /too many arguments/],
    [['frobnicate'], 'UNKNOWN_COMMAND', /fugaku: unknown command frobnicate \(hint: commands: tokenize, detokenize, generate, perplexity, chat, serve, eval, convert, imatrix, bench; see fugaku --help\)/],
    [['--frobnicate'], 'UNKNOWN_OPTION', /fugaku: unknown option --frobnicate/],
    [['serve', '--port', '99999'], 'INVALID_ARGUMENT', /fugaku serve: --port "99999" is invalid \(hint: --port takes an integer in 0\.\.65535; see fugaku serve --help\)/],
    [['serve', '--port', '80x'], 'INVALID_ARGUMENT', /--port takes an integer in 0\.\.65535/],
    [['tokenize', '--frobnicate'], 'UNKNOWN_OPTION', /fugaku tokenize: unknown option/],
    [['detokenize', '--frobnicate'], 'UNKNOWN_OPTION', /fugaku detokenize: unknown option/],
    [['perplexity'], 'INVALID_ARGUMENT', /fugaku perplexity: --file is required \(hint: add --file <path>/],
    [['perplexity', '--file', 'x', '--stride', '0'], 'INVALID_ARGUMENT', /--stride takes an integer >= 1/],
    [['chat', '--max-new-tokens', '0'], 'INVALID_ARGUMENT', /fugaku chat: --max-new-tokens "0" is invalid/],
    [['chat', '--kv-cache-dtype', 'q8'], 'INVALID_ARGUMENT', /--kv-cache-dtype takes one of f32, f16/],
    [['eval', 'frob'], 'UNKNOWN_COMMAND', /fugaku eval: unknown command frob \(hint: commands: mt-bench, perplexity, gsm8k/],
    [['eval', 'perplexity'], 'INVALID_ARGUMENT', /fugaku eval perplexity: the argument <files> is missing/],
    [['eval', 'gsm8k', '--shots', '-1'], 'INVALID_ARGUMENT', /fugaku eval gsm8k: --shots "-1" is invalid/],
    [['eval', 'mt-bench', 'answer', '--frobnicate'], 'UNKNOWN_OPTION', /fugaku eval mt-bench answer: unknown option --frobnicate/],
    [['eval', 'mt-bench', 'judge', '--parallel', 'x'], 'INVALID_ARGUMENT', /--parallel takes an integer >= 1/],
    [['eval', 'mt-bench', 'score', '--judgments', 'x', '--frobnicate'], 'UNKNOWN_OPTION', /fugaku eval mt-bench score: unknown option/],
    [['convert', '--model', 'x'], 'INVALID_ARGUMENT', /fugaku convert: --dtype is required/],
    [['bench', '--runs', '0'], 'INVALID_ARGUMENT', /fugaku bench: --runs "0" is invalid \(hint: --runs takes an integer in 1\.\.100/],
    [['bench', '--simd', 'sse2'], 'INVALID_ARGUMENT', /--simd takes one of auto, /],
  ];
  for (const [args, code, pattern] of cases) assert.match(await failsWith(args, code), pattern, args.join(' '));
  // Help and version: commander's own output on stdout, exit 0.
  for (const args of [['--help'], ['generate', '--help'], ['eval', 'mt-bench', 'answer', '--help'], ['help', 'serve']]) {
    const r = await fugaku(args);
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stdout, /^Usage: fugaku/);
    assert.equal(r.stderr, '');
  }
  const v = await fugaku(['--version']);
  assert.equal(v.code, 0, v.stderr);
  assert.equal(v.stdout, `${(JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version}\n`);
});

test('fugaku detokenize accepts the ids the server\'s /detokenize accepts: integers below the model\'s vocab_size', async () => {
  const vocab = (JSON.parse(readFileSync(path.join(modelDirs['tiny-ja-demo'], 'config.json'), 'utf8')) as { vocab_size: number }).vocab_size;
  for (const bad of [99999999, vocab, -1, 1.5]) {
    const line = await failsWith(['detokenize'], 'TOKEN_ID_OUT_OF_RANGE', `[31]\n[31, ${bad}]\n`);
    assert.match(line, new RegExp(`stdin line 2: ${bad} is not a token id of this model \\(integers 0\\.\\.${vocab - 1}\\)`));
  }
  // The last embedding row (padding past the tokenizer's vocabulary) is a valid id, as on the server.
  const ok = await fugaku(['detokenize'], `[${vocab - 1}]\n`);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(typeof JSON.parse(ok.stdout), 'string');
  // Malformed lines are typed errors too.
  assert.match(await failsWith(['detokenize'], 'INVALID_ARGUMENT', '[1, 2\n'), /stdin line 1 is not valid JSON/);
  assert.match(await failsWith(['detokenize'], 'INVALID_ARGUMENT', '{"ids": [1]}\n'), /stdin line 1 is not a JSON array of numbers/);
  assert.match(await failsWith(['tokenize'], 'INVALID_ARGUMENT', '"a"\n{not json\n'), /stdin line 2 is not valid JSON/);
  assert.match(await failsWith(['tokenize'], 'INVALID_ARGUMENT', 'null\n'), /stdin line 1 is not a JSON string/);
});
