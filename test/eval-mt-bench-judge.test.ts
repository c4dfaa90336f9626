/** MT-Bench judging against a real local HTTP server speaking the OpenAI chat API (429, 500, bad judgments). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { withTempDir } from './build-safetensors.js';
import { rejectsWith } from './helpers.js';
import { fugaku, MT_DATA, startChatServer, type ChatRequestLog } from './eval-helpers.js';
import { ChatClient, parseRetryAfter } from '../src/eval/openai-client.js';
import { buildJudgeTasks, formatTemplate, parseScore, runJudge, type JudgmentRecord } from '../src/eval/mt-bench/judge.js';
import { loadAnswers, loadJudgePrompts, loadQuestions, questionFile } from '../src/eval/mt-bench/data.js';

test('parseScore: [[N]] first, then [N], else -1 (FastChat one_score_pattern and backup)', () => {
  assert.equal(parseScore('説明… 評価：[[7]]'), 7);
  assert.equal(parseScore('Rating: [[8.5]] but [3] earlier? no: [3] after'), 8.5);
  assert.equal(parseScore('Rating: [3] and later [[9]]'), 9, '[[N]] wins over an earlier [N]');
  assert.equal(parseScore('Rating: [6]'), 6);
  assert.equal(parseScore('Rating: 6/10'), -1);
  assert.equal(parseScore('[[seven]]'), -1);
});

test('formatTemplate: Python str.format semantics for the judge prompts', () => {
  assert.equal(formatTemplate('{{x}} {a}-{b}', { a: '1', b: '{c}' }), '{x} 1-{c}');
  assert.throws(() => formatTemplate('{missing}', {}), /uses \{missing\}/);
});

test('Retry-After: seconds or an HTTP date', () => {
  assert.equal(parseRetryAfter('2', 0), 2000);
  assert.equal(parseRetryAfter('Thu, 01 Jan 1970 00:00:05 GMT', 1000), 4000);
  assert.equal(parseRetryAfter(null, 0), null);
  assert.equal(parseRetryAfter('soon', 0), null);
});

const answerLine = (qid: number, turns: string[]): string => JSON.stringify({ question_id: qid, answer_id: `a${qid}`, model_id: 'tiny', choices: [{ index: 0, turns }], tstamp: 1 });

test('judge: prompts per category and turn, temperature 0, 429 with Retry-After, 500, unparseable judgment, cached on resume', async () => {
  await withTempDir(async (t) => {
    const answersFile = await t.write('tiny.jsonl', [answerLine(31, ['数学の答え1', '数学の答え2']), answerLine(71, ['作文1', '作文2'])].join('\n') + '\n');
    const questions = (await loadQuestions(questionFile('neo-5d4f13a'))).filter((q) => q.question_id === 31 || q.question_id === 71);
    const refs = new Map((await loadAnswers(path.join(MT_DATA, 'reference_answer', 'gpt-4.jsonl'), '')).map((r) => [r.question_id, r]));
    const ja = await loadJudgePrompts(path.join(MT_DATA, 'judge_ja_prompts.jsonl'));
    const en = await loadJudgePrompts(path.join(MT_DATA, 'judge_prompts.jsonl'));
    const tasks = buildJudgeTasks(questions, await loadAnswers(answersFile, ''), refs, [ja, en]);
    assert.deepEqual(
      tasks.map((x) => [x.question.question_id, x.turn, x.prompt.name]),
      [
        [31, 1, 'single-math-v1'],
        [31, 2, 'single-math-v1-multi-turn'],
        [71, 1, 'single-v1'],
        [71, 2, 'single-v1-multi-turn'],
      ],
    );
    const ref31 = refs.get(31)!.choices[0].turns;
    assert.ok(tasks[0].userPrompt.includes(`[参考回答の開始]\n${ref31[0]}\n[参考回答の終了]`), 'turn 1 math prompt carries the reference answer');
    assert.ok(tasks[0].userPrompt.includes('[アシスタントの回答の開始]\n数学の答え1\n'), 'and the answer');
    assert.ok(tasks[1].userPrompt.includes(`### Reference answer:\n${ref31[1]}`) && tasks[1].userPrompt.includes('### Assistant A:\n数学の答え2'), 'turn 2 has both references and answers');
    assert.ok(!tasks[2].userPrompt.includes('参考回答'), 'writing is judged without a reference');

    // Request 0: 429 (Retry-After 3 s); request 1: 500; then judgments; the turn-2 writing one has no rating.
    const server = await startChatServer((req: ChatRequestLog, n: number) => {
      if (n === 0) return { status: 429, headers: { 'retry-after': '3' } };
      if (n === 1) return { status: 500 };
      const user = req.body.messages[1].content;
      if (user.includes('作文2')) return { content: 'とても良い回答ですが、評価を書き忘れました。' };
      if (user.includes('数学の答え2')) return { content: 'Wrong. Rating: [2]' };
      return { content: user.includes('数学の答え1') ? '誤りがあります。評価：[[3]]' : '良い。評価：[[8]]' };
    });
    try {
      const sleeps: number[] = [];
      const client = new ChatClient({ baseUrl: server.baseUrl, apiKey: 'sk-test', sleep: async (ms) => void sleeps.push(ms), baseDelayMs: 50 });
      const out = path.join(t.dir, 'judgments', 'gpt-4_single.jsonl');
      let clock = 1000;
      const r = await runJudge({ tasks, client, judgeModel: 'gpt-4', outFile: out, concurrency: 1, now: () => clock++ });
      assert.deepEqual(r, { judged: 4, skipped: 0, unparsed: 1, errors: 0 });
      assert.deepEqual(sleeps, [3000, 100], 'Retry-After honoured for the 429, then exponential backoff (50 · 2^1) after the 500');
      assert.equal(server.log.length, 6);
      for (const req of server.log) {
        assert.equal(req.headers.authorization, 'Bearer sk-test');
        assert.equal(req.body.model, 'gpt-4');
        assert.equal(req.body.temperature, 0);
        assert.equal(req.body.max_tokens, 2048);
        assert.equal(req.body.messages[0].role, 'system');
      }
      assert.equal(server.log[2].body.messages[0].content, ja.get('single-math-v1')!.system_prompt);
      assert.equal(server.log[3].body.messages[0].content, en.get('single-math-v1-multi-turn')!.system_prompt);
      const lines = (await readFile(out, 'utf8')).trimEnd().split('\n').map((l) => JSON.parse(l) as JudgmentRecord);
      assert.deepEqual(
        lines.map((l) => [l.question_id, l.model, l.judge, l.score, l.turn, l.tstamp]),
        [
          [31, 'tiny', ['gpt-4', 'single-math-v1'], 3, 1, 1000],
          [31, 'tiny', ['gpt-4', 'single-math-v1-multi-turn'], 2, 2, 1001],
          [71, 'tiny', ['gpt-4', 'single-v1'], 8, 1, 1002],
          [71, 'tiny', ['gpt-4', 'single-v1-multi-turn'], -1, 2, 1003],
        ],
      );
      assert.deepEqual(Object.keys(lines[0]), ['question_id', 'model', 'judge', 'user_prompt', 'judgment', 'score', 'turn', 'tstamp']);
      assert.equal(lines[0].user_prompt, tasks[0].userPrompt);
      assert.equal(lines[0].judgment, '誤りがあります。評価：[[3]]');

      // Resume: everything is cached, including the unparseable judgment; no request is made.
      const again = await runJudge({ tasks, client, judgeModel: 'gpt-4', outFile: out });
      assert.deepEqual(again, { judged: 0, skipped: 4, unparsed: 0, errors: 0 });
      assert.equal(server.log.length, 6);
    } finally {
      await server.close();
    }
  });
});

test('judge client: retries run out on persistent 503; 4xx fail at once with a hint; failures are not cached', async () => {
  const server = await startChatServer((req) => (req.body.model === 'bad-model' ? { status: 404 } : { status: 503 }));
  try {
    const sleeps: number[] = [];
    const client = new ChatClient({ baseUrl: server.baseUrl + '/', sleep: async (ms) => void sleeps.push(ms), maxRetries: 3, baseDelayMs: 10, maxDelayMs: 25 });
    await rejectsWith(client.complete({ model: 'm', messages: [{ role: 'user', content: 'x' }] }), 'INTERNAL', 'failed after 4 attempts', 'HTTP 503');
    assert.deepEqual(sleeps, [10, 20, 25], 'exponential backoff capped at maxDelayMs');
    const e = await rejectsWith(client.complete({ model: 'bad-model', messages: [{ role: 'user', content: 'x' }] }), 'INVALID_ARGUMENT', 'HTTP 404');
    assert.match(e.hint!, /base URL/);
    assert.equal(server.log.length, 5, 'no retry after a 404');
    await withTempDir(async (t) => {
      const questions = (await loadQuestions(questionFile('neo-5d4f13a'))).filter((q) => q.question_id === 71);
      const en = await loadJudgePrompts(path.join(MT_DATA, 'judge_prompts.jsonl'));
      const answers = await loadAnswers(await t.write('a.jsonl', answerLine(71, ['x', 'y']) + '\n'), '');
      const tasks = buildJudgeTasks(questions, answers, new Map(), [en], [1]);
      const failed: number[] = [];
      const r = await runJudge({ tasks, client, judgeModel: 'm', outFile: path.join(t.dir, 'j.jsonl'), onError: (task) => failed.push(task.question.question_id) });
      assert.deepEqual(r, { judged: 0, skipped: 0, unparsed: 0, errors: 1 });
      assert.deepEqual(failed, [71]);
      await assert.rejects(readFile(path.join(t.dir, 'j.jsonl')), /ENOENT/, 'nothing written for a failed request');
    });
  } finally {
    await server.close();
  }
});

test('fugaku eval mt-bench judge (CLI) with --parallel, then score: failed judgment counted', async () => {
  await withTempDir(async (t) => {
    const answersFile = await t.write('tiny.jsonl', [31, 41, 71, 11].map((q) => answerLine(q, [`answer ${q} one`, `answer ${q} two`])).join('\n') + '\n');
    let first429 = true;
    const server = await startChatServer((req) => {
      if (first429) {
        first429 = false;
        return { status: 429, headers: { 'retry-after': '0' } };
      }
      const user = req.body.messages[1].content;
      // Turn-2 prompts hold both answers; score 6 for turn 1, 4 for turn 2, no rating for 11/turn 2.
      if (user.includes('answer 11 two')) return { content: 'no rating here' };
      return { content: `Rating: [[${/answer \d+ two/.test(user) ? 4 : 6}]]` };
    });
    try {
      const out = path.join(t.dir, 'j.jsonl');
      const args = ['eval', 'mt-bench', 'judge', '--answers', answersFile, '--judge-base-url', server.baseUrl, '--judge-model', 'judge-x', '--judge-api-key', 'k', '--question-ids', '31,41,71,11', '--parallel', '3', '--retry-base-ms', '1', '--out', out];
      const r = await fugaku(args);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /retry 1 in 0 ms \(HTTP 429/);
      assert.match(r.stderr, /8 judged \(1 without a \[\[rating\]\]\), 0 already in/);
      const lines = (await readFile(out, 'utf8')).trimEnd().split('\n').map((l) => JSON.parse(l) as JudgmentRecord);
      assert.equal(lines.length, 8);
      assert.deepEqual(new Set(lines.map((l) => `${l.question_id}/${l.turn}`)), new Set(['31/1', '31/2', '41/1', '41/2', '71/1', '71/2', '11/1', '11/2']));
      assert.equal(server.log.length, 9);
      const again = await fugaku(args);
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stderr, /0 judged .* 8 already in/);
      assert.equal(server.log.length, 9, 'resumed run sends nothing');
      const score = await fugaku(['eval', 'mt-bench', 'score', '--judgments', out, '--json']);
      assert.equal(score.code, 0, score.stderr);
      const s = JSON.parse(score.stdout) as { categories: Record<string, number>; average: number; turns: Record<string, number>; judgments: number; failed: number };
      assert.deepEqual(s.categories, { extraction: 6, math: 5, reasoning: 5, writing: 5 });
      assert.equal(s.average, 21 / 4);
      assert.deepEqual(s.turns, { '1': 6, '2': 4 });
      assert.equal(s.judgments, 8);
      assert.equal(s.failed, 1);
      // An unknown category is a typed error.
      const bad = await fugaku(['eval', 'mt-bench', 'judge', '--answers', answersFile, '--judge-base-url', server.baseUrl, '--judge-model', 'x', '--categories', 'poetry', '--out', out]);
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /^error\[INVALID_ARGUMENT\]: unknown MT-Bench category "poetry" \(hint: categories are coding, extraction/);
    } finally {
      await server.close();
    }
  });
});
