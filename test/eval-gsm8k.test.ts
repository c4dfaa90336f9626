/** GSM8K: answer extraction, few-shot prompt building, and an end-to-end run on tiny-ja-demo. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { withTempDir } from './build-safetensors.js';
import { modelDirs, repoRoot } from './helpers.js';
import { fugaku } from './eval-helpers.js';
import { AutoTokenizer } from '../src/tokenizer/index.js';
import { answersMatch, buildGsm8kMessages, buildGsm8kPrompt, extractAnswer, extractGold, formatShotAnswer, normalizeNumber } from '../src/eval/gsm8k.js';

const DATA = path.join(repoRoot, 'data', 'gsm8k');
const rows = (f: string): { question: string; answer: string }[] => readFileSync(path.join(DATA, f), 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l));

test('extractAnswer: ####, "The answer is", 答えは, else the last number; commas, $, negatives, decimals, full-width digits', () => {
  const cases: [string, string | null][] = [
    ['She makes 9 * 2 = $18 every day.\n#### 18', '18'],
    ['#### 1,234', '1234'],
    ['#### -5', '-5'],
    ['#### $3.50', '3.5'],
    ['So 12 - 3 = 9. The answer is 9.', '9'],
    ['The answer is $1,500.', '1500'],
    ['The answer is -$4.', '-4'],
    ['The answer is 0.25 and then 7 more words with 3', '0.25'],
    ['First 5, then 10. The answer is 20. Also the answer is 30.', '30'],
    ['よって、答えは１８個です。', '18'],
    ['合計は 1,000円 と 2,500円 で 3,500円', '3500'],
    ['He lost -3 points and ended with -12', '-12'],
    ['It costs 4.00 dollars.', '4'],
    ['no digits at all', null],
  ];
  for (const [text, want] of cases) assert.equal(extractAnswer(text), want, text);
  assert.equal(normalizeNumber('$1,000.50'), '1000.5');
  assert.equal(normalizeNumber('-0'), '0');
  assert.equal(normalizeNumber('abc'), null);
  assert.ok(answersMatch('18.0', '18'));
  assert.ok(!answersMatch(null, '18'));
  assert.ok(!answersMatch('17', '18'));
});

test('extractGold on the real test split: every one of the 1319 answers has a final number', () => {
  const test = rows('test.jsonl');
  assert.equal(test.length, 1319);
  const golds = test.map((r) => extractGold(r.answer));
  assert.equal(golds[0], '18');
  assert.ok(golds.every((g) => /^-?\d+(\.\d+)?$/.test(g)));
  assert.throws(() => extractGold('no final line'), /no final "#### N"/);
});

test('few-shot prompt: shots as earlier turns in the instruct format, annotations removed, test question last', () => {
  const [shot] = rows('train.jsonl');
  const formatted = formatShotAnswer(shot.answer);
  assert.ok(!formatted.includes('<<') && !formatted.includes('####'));
  assert.ok(formatted.endsWith(`\nThe answer is ${shot.answer.split('####')[1].trim()}.`));
  assert.equal(formatted.split('\n')[0], shot.answer.split('\n')[0].replace(/<<[^>]*>>/g, ''));
  const prompt = buildGsm8kPrompt([shot], 'Q?');
  const expected =
    '以下は、タスクを説明する指示です。要求を適切に満たす応答を書きなさい。\n\n' +
    `### 指示:\n${shot.question}\n\n### 応答:\n${formatted}<EOD|LLM-jp>\n\n` +
    '### 指示:\nQ?\n\n### 応答:\n';
  assert.equal(prompt, expected);
  assert.deepEqual(buildGsm8kMessages([], 'Q?'), [{ role: 'user', content: 'Q?' }]);
  assert.equal(buildGsm8kPrompt([], 'Q?'), '以下は、タスクを説明する指示です。要求を適切に満たす応答を書きなさい。\n\n### 指示:\nQ?\n\n### 応答:\n');
});

test('fugaku eval gsm8k --limit 2 --shots 1 on tiny-ja-demo: predictions JSONL and accuracy', async () => {
  await withTempDir(async (t) => {
    const out = path.join(t.dir, 'preds.jsonl');
    const r = await fugaku(['eval', 'gsm8k', '--limit', '2', '--shots', '1', '--max-new-tokens', '8', '--out', out, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const summary = JSON.parse(r.stdout) as { total: number; correct: number; accuracy: number; shots: number };
    const preds = (await readFile(out, 'utf8')).trimEnd().split('\n').map((l) => JSON.parse(l) as { index: number; question: string; gold: string; prediction: string | null; correct: boolean; output: string; prompt_tokens: number });
    const test = rows('test.jsonl');
    const [shot] = rows('train.jsonl');
    const tok = await AutoTokenizer.fromPretrained(modelDirs['tiny-ja-demo']);
    assert.equal(preds.length, 2);
    preds.forEach((p, i) => {
      assert.equal(p.index, i);
      assert.equal(p.question, test[i].question);
      assert.equal(p.gold, test[i].answer.split('####')[1].trim().replace(/,/g, ''));
      assert.equal(p.prompt_tokens, tok.encode(buildGsm8kPrompt([shot], test[i].question), { addSpecialTokens: false }).length);
      assert.ok(tok.encode(p.output, { addSpecialTokens: false }).length <= 8 + 1, 'output within --max-new-tokens');
      assert.equal(p.prediction, extractAnswer(p.output));
      assert.equal(p.correct, p.prediction !== null && Number(p.prediction) === Number(p.gold));
    });
    assert.deepEqual(summary, { total: 2, correct: preds.filter((p) => p.correct).length, accuracy: preds.filter((p) => p.correct).length / 2, shots: 1 });
    const tooMany = await fugaku(['eval', 'gsm8k', '--shots', '100', '--limit', '1']);
    assert.equal(tooMany.code, 1);
    assert.match(tooMany.stderr, /^error\[INVALID_ARGUMENT\]: --shots 100 but .*train\.jsonl has 32 examples \(hint: /);
    const overflow = await fugaku(['eval', 'gsm8k', '--shots', '8', '--limit', '1', '--max-new-tokens', '256']);
    assert.equal(overflow.code, 1);
    assert.match(overflow.stderr, /^error\[CONTEXT_OVERFLOW\]: test question 0: prompt \(\d+ tokens\) \+ --max-new-tokens 256 exceeds the model context of 512 \(hint: lower --shots or --max-new-tokens\)/);
  });
});
