/** `fugaku eval perplexity` on Aozora Bunko texts: per-file and token-weighted totals, strided windows. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { modelDirs, repoRoot } from './helpers.js';
import { fugaku } from './eval-helpers.js';
import { AutoModelForCausalLM } from '../src/generation/causal-lm.js';
import { AutoTokenizer } from '../src/tokenizer/index.js';
import { causalLMLoss, combinePerplexity, perplexity, windowLoss } from '../src/eval/perplexity.js';

const AOZORA = path.join(repoRoot, 'data', 'aozora-bunko', 'plain');
const FILES = ['akutagawa_ryunosuke-kumo_no_ito.txt', 'natsume_soseki-yume_juya.txt'].map((f) => path.join(AOZORA, f));
const rel = (a: number, b: number): number => Math.abs(a - b) / Math.max(1e-12, Math.abs(b));

interface Line { file: string | null; tokens: number; predicted: number; nll_sum: number; loss: number; perplexity: number }

test('fugaku eval perplexity --json: per-file results as the library computes them; the total is their token-weighted combination', async () => {
  const r = await fugaku(['eval', 'perplexity', ...FILES, '--max-tokens', '90', '--max-length', '40', '--stride', '25', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as Line);
  assert.equal(lines.length, 3);
  assert.deepEqual(lines.map((l) => l.file), [...FILES, null]);
  const tok = await AutoTokenizer.fromPretrained(modelDirs['tiny-ja-demo']);
  const model = await AutoModelForCausalLM.fromPretrained(modelDirs['tiny-ja-demo']);
  for (let i = 0; i < FILES.length; i++) {
    const ids = tok.encode(await readFile(FILES[i], 'utf8'), { addSpecialTokens: false }).slice(0, 90);
    const lib = await perplexity(model.model, ids, { maxLength: 40, stride: 25 });
    assert.equal(lines[i].tokens, 90);
    assert.equal(lines[i].predicted, 89, 'overlapping windows score every token after the first exactly once');
    assert.ok(rel(lines[i].nll_sum, lib.nllSum) < 1e-12);
    assert.ok(rel(lines[i].loss, lines[i].nll_sum / lines[i].predicted) < 1e-12);
    assert.ok(rel(lines[i].perplexity, Math.exp(lines[i].loss)) < 1e-12);
  }
  const total = lines[2];
  const nll = lines[0].nll_sum + lines[1].nll_sum;
  const predicted = lines[0].predicted + lines[1].predicted;
  assert.equal(total.tokens, 180);
  assert.equal(total.predicted, predicted);
  assert.ok(rel(total.loss, nll / predicted) < 1e-12, 'token-weighted, not the mean of the two losses');
  assert.ok(rel(total.perplexity, Math.exp(nll / predicted)) < 1e-12);

  const text = await fugaku(['eval', 'perplexity', FILES[0], '--max-tokens', '30']);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /kumo_no_ito\.txt\s+tokens\s+30\s+predicted\s+29\s+loss \d+\.\d{6}\s+ppl \d+\.\d{4}\nTOTAL\s+tokens\s+30/);
});

test('perplexity: stride = window equals independent non-overlapping windows; one window equals exp(HF loss); combination is token-weighted', async () => {
  const tok = await AutoTokenizer.fromPretrained(modelDirs['tiny-ja-demo']);
  const model = await AutoModelForCausalLM.fromPretrained(modelDirs['tiny-ja-demo']);
  const ids = tok.encode(await readFile(FILES[0], 'utf8'), { addSpecialTokens: false }).slice(0, 100);
  const W = 32;
  const strided = await perplexity(model.model, ids, { maxLength: W, stride: W });
  let nll = 0;
  let predicted = 0;
  for (let b = 0; b < ids.length; b += W) {
    const w = await windowLoss(model.model, ids.slice(b, b + W)); // every window scores its own n-1 targets
    nll += w.nllSum;
    predicted += w.predicted;
  }
  assert.equal(strided.predicted, predicted);
  assert.equal(predicted, 100 - 4, '4 windows (32, 32, 32, 4 tokens), the first token of each is not scored');
  assert.ok(rel(strided.nllSum, nll) < 1e-12);
  const overlapping = await perplexity(model.model, ids, { maxLength: W, stride: 16 });
  assert.equal(overlapping.predicted, 99);
  // HF's loop written out: windows start every 16 tokens; each scores only the tokens after the previous window's end.
  let ovNll = 0;
  let prevEnd = 0;
  const scoredPerWindow: number[] = [];
  for (let b = 0; prevEnd < ids.length; b += 16) {
    const end = Math.min(b + W, ids.length);
    const w = await windowLoss(model.model, ids.slice(b, end), end - prevEnd - (b === 0 ? 1 : 0));
    ovNll += w.nllSum;
    scoredPerWindow.push(w.predicted);
    prevEnd = end;
  }
  assert.deepEqual(scoredPerWindow, [31, 16, 16, 16, 16, 4]);
  assert.ok(rel(overlapping.nllSum, ovNll) < 1e-12);
  assert.notEqual(overlapping.nllSum, strided.nllSum);

  const short = ids.slice(0, 24);
  const one = await perplexity(model.model, short, { maxLength: 64 });
  assert.ok(rel(one.loss, await causalLMLoss(model.model, short)) < 1e-12);

  const c = combinePerplexity([strided, one]);
  assert.equal(c.predicted, strided.predicted + one.predicted);
  assert.ok(rel(c.loss, (strided.nllSum + one.nllSum) / (strided.predicted + one.predicted)) < 1e-12);
});

test('fugaku eval perplexity: a missing file is FILE_NOT_FOUND; a bad stride is rejected', async () => {
  const r = await fugaku(['eval', 'perplexity', FILES[0], path.join(AOZORA, 'nope.txt')]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^error\[FILE_NOT_FOUND\]: cannot read .*nope\.txt: ENOENT \(hint: pass existing UTF-8 text files\)/);
  const s = await fugaku(['eval', 'perplexity', FILES[0], '--max-tokens', '20', '--max-length', '16', '--stride', '17']);
  assert.equal(s.code, 1);
  assert.match(s.stderr, /stride 17 must be an integer in 1\.\.16/);
});
