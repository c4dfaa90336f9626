/** MT-Bench scoring: the real GPT-4 judgments of FastChat jp-stable, checked against a direct computation. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { withTempDir } from './build-safetensors.js';
import { rejectsWith } from './helpers.js';
import { fugaku, MT_DATA } from './eval-helpers.js';
import { scoreJudgments, formatScoreTable } from '../src/eval/mt-bench/score.js';
import { judgmentSchema, JUDGMENT_WHAT } from '../src/eval/mt-bench/judge.js';
import { loadQuestions, questionFile, CATEGORIES, MODEL_CARD_SCORES, type Category } from '../src/eval/mt-bench/data.js';
import { parseJsonl, readJsonl } from '../src/eval/jsonl.js';
import { renderBarChart } from '../src/eval/mt-bench/chart.js';

const FIXTURE = path.join(MT_DATA, 'fixtures', 'gpt-4_single.jsonl');

interface Raw { question_id: string | number; model: string; score: number; turn: number }

/** Written independently of src/: plain JSON.parse and sums. */
function directScores(): Map<string, { cats: Record<string, number>; avg: number; turn1: number; n: number; failed: number }> {
  const cat = new Map<number, string>();
  for (const l of readFileSync(path.join(MT_DATA, 'neo-5d4f13a', 'question_full.jsonl'), 'utf8').split('\n')) {
    if (l.trim()) {
      const q = JSON.parse(l) as { question_id: number; category: string };
      cat.set(q.question_id, q.category);
    }
  }
  const sums = new Map<string, { s: Record<string, number>; c: Record<string, number>; t1: number[]; n: number; failed: number }>();
  for (const l of readFileSync(FIXTURE, 'utf8').split('\n')) {
    if (!l.trim()) continue;
    const j = JSON.parse(l) as Raw;
    const m = sums.get(j.model) ?? { s: {}, c: {}, t1: [0, 0], n: 0, failed: 0 };
    sums.set(j.model, m);
    m.n++;
    if (j.score === -1) {
      m.failed++;
      continue;
    }
    const c = cat.get(Number(j.question_id))!;
    m.s[c] = (m.s[c] ?? 0) + j.score;
    m.c[c] = (m.c[c] ?? 0) + 1;
    if (j.turn === 1) {
      m.t1[0] += j.score;
      m.t1[1]++;
    }
  }
  const out = new Map<string, { cats: Record<string, number>; avg: number; turn1: number; n: number; failed: number }>();
  for (const [model, m] of sums) {
    const cats: Record<string, number> = {};
    for (const c of Object.keys(m.s)) cats[c] = m.s[c] / m.c[c];
    const vals = Object.values(cats);
    out.set(model, { cats, avg: vals.reduce((a, b) => a + b, 0) / vals.length, turn1: m.t1[0] / m.t1[1], n: m.n, failed: m.failed });
  }
  return out;
}

const close = (a: number, b: number, what: string): void => assert.ok(Math.abs(a - b) < 1e-12, `${what}: ${a} vs ${b}`);

test('scoreJudgments on the GPT-4 fixture equals a direct computation (7 models, 8 categories)', async () => {
  const rows = await readJsonl(FIXTURE, judgmentSchema, JUDGMENT_WHAT, '');
  assert.equal(rows.length, 564);
  const questions = await loadQuestions(questionFile('neo-5d4f13a'));
  const scores = scoreJudgments(rows, new Map(questions.map((q) => [q.question_id, q.category])));
  const direct = directScores();
  assert.equal(scores.length, 7);
  assert.deepEqual(scores.map((s) => s.model).sort(), [...direct.keys()].sort());
  for (const s of scores) {
    const d = direct.get(s.model)!;
    assert.deepEqual(Object.keys(s.categories).sort(), [...CATEGORIES].sort(), `${s.model} has all categories`);
    for (const c of CATEGORIES) close(s.categories[c]!, d.cats[c], `${s.model} ${c}`);
    close(s.average, d.avg, `${s.model} average`);
    close(s.turns['1'], d.turn1, `${s.model} turn 1`);
    assert.equal(s.turns['2'], undefined, 'the fixture has turn 1 only');
    assert.equal(s.judgments, d.n);
    assert.equal(s.failed, d.failed);
  }
  // One value checked by hand: japanese-stablelm-instruct-alpha-7b, 10 judgments per category.
  const alpha = scores.find((s) => s.model === 'japanese-stablelm-instruct-alpha-7b')!;
  const coding = rows.filter((r) => r.model === alpha.model && r.question_id >= 1 && r.question_id <= 10).map((r) => r.score);
  assert.equal(coding.length, 10);
  close(alpha.categories.coding!, coding.reduce((a, b) => a + b, 0) / 10, 'coding by hand');
});

test('scoring: failed judgments (-1) are counted and excluded; both turns count per category; average = mean of category means', () => {
  const q = (id: number): number => id;
  const rows = parseJsonl(
    [
      { question_id: q(1), model: 'm', judge: ['j', 'single-math-v1'], score: 2, turn: 1 },
      { question_id: q(1), model: 'm', judge: ['j', 'single-math-v1-multi-turn'], score: 4, turn: 2 },
      { question_id: q(2), model: 'm', judge: ['j', 'single-math-v1'], score: -1, turn: 1 },
      { question_id: '71', model: 'm', judge: ['j', 'single-v1'], score: 9, turn: 1 },
      { question_id: q(71), model: 'm', judge: ['j', 'single-v1-multi-turn'], score: -1, turn: 2 },
    ]
      .map((r) => JSON.stringify(r))
      .join('\n'),
    judgmentSchema,
    'mem.jsonl',
    JUDGMENT_WHAT,
  );
  const categoryOf = new Map<number, Category>([
    [1, 'coding'],
    [2, 'coding'],
    [71, 'writing'],
  ]);
  const [s] = scoreJudgments(rows, categoryOf);
  assert.deepEqual(s.categories, { coding: 3, writing: 9 });
  assert.equal(s.average, 6);
  assert.deepEqual(s.turns, { '1': 5.5, '2': 4 });
  assert.equal(s.judgments, 5);
  assert.equal(s.failed, 2);
  const table = formatScoreTable([s]).split('\n');
  assert.match(table[0], /^model\s+avg\s+coding\s+extraction\s+humanities\s+math\s+reasoning\s+roleplay\s+stem\s+writing\s+turn1\s+turn2\s+n\s+failed$/);
  assert.match(table[2], /^m\s+6\.00\s+3\.00\s+-\s+-\s+-\s+-\s+-\s+-\s+9\.00\s+5\.50\s+4\.00\s+5\s+2$/);
});

test('fugaku eval mt-bench score: --json line per model, table with --compare-card, --out JSON and --chart SVG', async () => {
  await withTempDir(async (t) => {
    const chart = path.join(t.dir, 'img', 'chart.svg');
    const outJson = path.join(t.dir, 'scores.json');
    const r = await fugaku(['eval', 'mt-bench', 'score', '--judgments', FIXTURE, '--json', '--out', outJson, '--chart', chart, '--compare-card']);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as { model: string; categories: Record<string, number>; average: number; turns: Record<string, number>; judgments: number; failed: number });
    const direct = directScores();
    assert.equal(lines.length, direct.size);
    for (const l of lines) {
      const d = direct.get(l.model)!;
      assert.deepEqual(Object.keys(l).sort(), ['average', 'categories', 'failed', 'judgments', 'model', 'turns']);
      close(l.average, d.avg, l.model);
      for (const c of CATEGORIES) close(l.categories[c], d.cats[c], `${l.model} ${c}`);
      assert.equal(l.judgments, d.n);
    }
    const saved = JSON.parse(await readFile(outJson, 'utf8')) as { runs: { model: string; average: number }[]; model_card: { average: number; categories: Record<string, number> } };
    assert.equal(saved.runs.length, direct.size);
    assert.equal(saved.model_card.average, 5.47);
    assert.equal(saved.model_card.categories.humanities, 9.18);
    const svg = await readFile(chart, 'utf8');
    assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    // 9 columns (avg + 8 categories) × (7 runs + the card) bars, each with a tooltip.
    assert.equal((svg.match(/<rect x="[\d.]+" y="[\d.]+" width="\d+" height="[\d.]+" fill="#[0-9a-f]{6}"><title>/g) ?? []).length, 9 * 8);
    assert.ok(svg.includes('Fugaku-LLM-13B-instruct (model card) (avg 5.47)'));
    const table = await fugaku(['eval', 'mt-bench', 'score', '--judgments', FIXTURE, '--compare-card']);
    assert.equal(table.code, 0, table.stderr);
    const cardRow = table.stdout.split('\n').find((l) => l.startsWith('Fugaku-LLM-13B-instruct'))!;
    assert.deepEqual(cardRow.split(/\s{2,}/).slice(1, 10).map(Number), [MODEL_CARD_SCORES.average, ...CATEGORIES.map((c) => MODEL_CARD_SCORES.categories[c])]);
  });
});

test('score: typed errors for a bad JSONL line, a missing file, a question not in the question file, an unknown category', async () => {
  await withTempDir(async (t) => {
    const bad = await t.write('bad.jsonl', '{"question_id": 1, "model": "m", "judge": ["j", "single-v1"], "score": 5, "turn": 1}\n{not json\n');
    const r = await fugaku(['eval', 'mt-bench', 'score', '--judgments', bad]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^error\[INVALID_ARGUMENT\]: .*bad\.jsonl:2 is not valid JSON.*\(hint: /);
    const missingField = await t.write('nofield.jsonl', '{"question_id": 1, "model": "m", "judge": ["j", "single-v1"], "turn": 1}\n');
    const r2 = await fugaku(['eval', 'mt-bench', 'score', '--judgments', missingField]);
    assert.equal(r2.code, 1);
    assert.match(r2.stderr, /nofield\.jsonl:1 is not a FastChat single judgment.*score/);
    const r3 = await fugaku(['eval', 'mt-bench', 'score', '--judgments', path.join(t.dir, 'nope.jsonl')]);
    assert.equal(r3.code, 1);
    assert.match(r3.stderr, /^error\[FILE_NOT_FOUND\]: cannot read .*nope\.jsonl: ENOENT \(hint: /);
    const unknownQ = await t.write('q99.jsonl', '{"question_id": 99, "model": "m", "judge": ["j", "single-v1"], "score": 5, "turn": 1}\n');
    const r4 = await fugaku(['eval', 'mt-bench', 'score', '--judgments', unknownQ]);
    assert.equal(r4.code, 1);
    assert.match(r4.stderr, /judgment for question 99 \(model m\), which is not in the question file/);
    const badQuestions = await t.write('questions.jsonl', '{"question_id": 1, "category": "poetry", "turns": ["a", "b"]}\n');
    await rejectsWith(loadQuestions(badQuestions), 'INVALID_ARGUMENT', 'unknown category "poetry"');
  });
});

test('bar chart: one bar per run and column, values clamped to the 0–10 axis, labels escaped', () => {
  const svg = renderBarChart([
    { label: 'a<b>&"c"', average: 5, categories: { coding: 12, writing: 1 } },
    { label: 'second', average: Number.NaN, categories: {} },
  ]);
  assert.ok(svg.includes('a&lt;b&gt;&amp;&quot;c&quot; (avg 5)'));
  assert.ok(svg.includes('second (avg -)'));
  const bars = [...svg.matchAll(/<rect x="[\d.]+" y="([\d.]+)" width="\d+" height="([\d.]+)" fill="#[0-9a-f]{6}"><title>([^<]*)<\/title>/g)];
  assert.equal(bars.length, 3, 'avg, coding and writing of the first run; none for NaN/missing');
  const coding = bars.find((b) => b[3].includes('coding'))!;
  const avg = bars.find((b) => b[3].includes('avg'))!;
  assert.equal(Number(coding[2]), 2 * Number(avg[2]), 'coding 12 is drawn at the top of the axis (10), twice avg 5');
});
