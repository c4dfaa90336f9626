/** MT-Bench answer generation end to end: the real CLI on tiny-ja-demo, and through an OpenAI-compatible server. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { withTempDir } from './build-safetensors.js';
import { modelDirs } from './helpers.js';
import { fugaku, startChatServer } from './eval-helpers.js';
import { AutoModelForCausalLM } from '../src/generation/causal-lm.js';
import { AutoTokenizer } from '../src/tokenizer/index.js';
import { applyChatTemplate, type ChatMessage } from '../src/chat/index.js';
import { Rng } from '../src/generation/rng.js';
import { generateAnswers, localAnswerer } from '../src/eval/mt-bench/answer.js';
import { loadQuestions, questionFile } from '../src/eval/mt-bench/data.js';

interface AnswerLine {
  question_id: number;
  answer_id: string;
  model_id: string;
  choices: { index: number; turns: string[] }[];
  tstamp: number;
  generate_params: { temperature: number; do_sample: boolean; max_new_tokens: number; seed: number; stop?: string };
}

const readLines = async (f: string): Promise<AnswerLine[]> => (await readFile(f, 'utf8')).trimEnd().split('\n').map((l) => JSON.parse(l) as AnswerLine);
const N = '6'; // tokens per turn: keeps the runs short

test('mt-bench answer (CLI, tiny-ja-demo): FastChat format, per-category temperature, resumable = an uninterrupted run', async () => {
  await withTempDir(async (t) => {
    // The first run answers 31 only; the second adds 71 and skips 31.
    const b = path.join(t.dir, 'b.jsonl');
    const r1 = await fugaku(['eval', 'mt-bench', 'answer', '--question-ids', '31', '--max-new-tokens', N, '--out', b]);
    assert.equal(r1.code, 0, r1.stderr);
    assert.match(r1.stderr, /1 answered, 0 already in/);
    const r2 = await fugaku(['eval', 'mt-bench', 'answer', '--question-ids', '31,71', '--max-new-tokens', N, '--out', b]);
    assert.equal(r2.code, 0, r2.stderr);
    assert.match(r2.stderr, /1 answered, 1 already in/);
    const lines = await readLines(b);
    assert.deepEqual(lines.map((l) => l.question_id), [31, 71]);
    for (const l of lines) {
      assert.deepEqual(Object.keys(l), ['question_id', 'answer_id', 'model_id', 'choices', 'tstamp', 'generate_params']);
      assert.equal(l.model_id, 'tiny-ja-demo');
      assert.match(l.answer_id, /^[0-9A-Za-z]{22}$/);
      assert.ok(l.tstamp > 1.6e9 && l.tstamp < 1e11, 'tstamp in seconds');
      assert.equal(l.choices.length, 1);
      assert.equal(l.choices[0].index, 0);
      assert.equal(l.choices[0].turns.length, 2);
      for (const turn of l.choices[0].turns) {
        assert.equal(turn, turn.trim());
        assert.ok(!turn.includes('###'));
      }
      assert.equal(l.generate_params.max_new_tokens, 6);
      assert.equal(l.generate_params.seed, 0);
      assert.equal(l.generate_params.do_sample, true);
    }
    assert.notEqual(lines[0].answer_id, lines[1].answer_id);
    assert.equal(lines[0].generate_params.temperature, 0.1, 'math');
    assert.equal(lines[1].generate_params.temperature, 0.5, 'writing');

    // An uninterrupted in-process run with the same seed writes the same turns.
    const tok = await AutoTokenizer.fromPretrained(modelDirs['tiny-ja-demo']);
    const model = await AutoModelForCausalLM.fromPretrained(modelDirs['tiny-ja-demo']);
    const whole = path.join(t.dir, 'whole.jsonl');
    const questions = (await loadQuestions(questionFile('neo-5d4f13a'))).filter((q) => q.question_id === 31 || q.question_id === 71);
    const res = await generateAnswers({ questions, answerer: localAnswerer(model, tok), modelId: 'tiny-ja-demo', outFile: whole, maxNewTokens: 6, seed: 0 });
    assert.deepEqual(res, { answered: 2, skipped: 0 });
    assert.deepEqual((await readLines(whole)).map((l) => [l.question_id, l.choices[0].turns]), lines.map((l) => [l.question_id, l.choices[0].turns]));

    // Another model's answers in the same file are refused (before the model is loaded).
    const mixed = await fugaku(['eval', 'mt-bench', 'answer', '--question-ids', '31', '--max-new-tokens', N, '--out', b, '--model-id', 'other']);
    assert.equal(mixed.code, 1);
    assert.match(mixed.stderr, /^error\[INVALID_ARGUMENT\]: .*already holds answers of model "tiny-ja-demo", not "other"/);
    // Nothing left to do: no model load, no change.
    const r3 = await fugaku(['eval', 'mt-bench', 'answer', '--question-ids', '31,71', '--max-new-tokens', N, '--out', b]);
    assert.equal(r3.code, 0, r3.stderr);
    assert.match(r3.stderr, /0 answered, 2 already in/);
    assert.equal((await readLines(b)).length, 2);
  });
});

test('mt-bench answer: greedy (--force-temperature 0) equals the library\'s greedy turns; turn 2 sees turn 1 and its answer; seeds matter when sampling', async () => {
  await withTempDir(async (t) => {
    const out = path.join(t.dir, 'g.jsonl');
    const r = await fugaku(['eval', 'mt-bench', 'answer', '--question-ids', '71', '--force-temperature', '0', '--max-new-tokens', N, '--out', out, '--model-id', 'greedy']);
    assert.equal(r.code, 0, r.stderr);
    const [line] = await readLines(out);
    assert.equal(line.generate_params.do_sample, false);

    const tok = await AutoTokenizer.fromPretrained(modelDirs['tiny-ja-demo']);
    const model = await AutoModelForCausalLM.fromPretrained(modelDirs['tiny-ja-demo']);
    const q = (await loadQuestions(questionFile('neo-5d4f13a'))).find((x) => x.question_id === 71)!;
    const decode = (ids: number[]): string => tok.decode(ids, { skipSpecialTokens: true });
    const history: ChatMessage[] = [];
    const expected: string[] = [];
    for (const turn of q.turns) {
      history.push({ role: 'user', content: turn });
      const ids = tok.encode(applyChatTemplate(history), { addSpecialTokens: false });
      assert.equal(ids.includes(7), history.length > 1, 'EOS (id 7) closes the turn-1 answer in the turn-2 prompt only');
      const [seq] = await model.generateSequences(ids, { maxNewTokens: 6, doSample: false, stopStrings: ['###'] }, { decode });
      const text = decode(seq.outputIds);
      const answer = (text.includes('###') ? text.slice(0, text.indexOf('###')) : text).trim();
      expected.push(answer);
      history.push({ role: 'assistant', content: answer });
    }
    assert.deepEqual(line.choices[0].turns, expected);

    const answerer = localAnswerer(model, tok);
    const params = { temperature: 1.5, maxNewTokens: 6 };
    const msgs: ChatMessage[] = [{ role: 'user', content: q.turns[0] }];
    const s0 = await answerer.answer(msgs, params, new Rng(0));
    assert.equal(await answerer.answer(msgs, params, new Rng(0)), s0, 'same seed, same answer');
    const others = [];
    for (let seed = 1; seed <= 3; seed++) others.push(await answerer.answer(msgs, params, new Rng(seed)));
    assert.ok(others.some((x) => x !== s0), `different seeds sample different answers: ${JSON.stringify([s0, ...others])}`);
  });
});

test('mt-bench answer: --max-new-tokens above the card\'s 2048 cap and unknown categories are rejected', async () => {
  const r = await fugaku(['eval', 'mt-bench', 'answer', '--max-new-tokens', '4096', '--out', '/nonexistent/x.jsonl']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^error\[INVALID_ARGUMENT\]: --max-new-tokens 4096 is outside 1\.\.2048 \(hint: the model card's procedure caps generation at 2048 tokens/);
  const c = await fugaku(['eval', 'mt-bench', 'answer', '--categories', 'math,cooking', '--out', '/nonexistent/x.jsonl']);
  assert.equal(c.code, 1);
  assert.match(c.stderr, /unknown MT-Bench category "cooking"/);
});

test('mt-bench answer --base-url: asks an OpenAI-compatible server with the history and per-category temperatures', async () => {
  const server = await startChatServer((req) => ({ content: `  reply to ${req.body.messages.length} message(s)\n` }));
  try {
    await withTempDir(async (t) => {
      const out = path.join(t.dir, 'api.jsonl');
      const r = await fugaku(['eval', 'mt-bench', 'answer', '--base-url', server.baseUrl, '--model-name', 'remote-x', '--api-key', 'sk-1', '--categories', 'extraction,roleplay', '--question-begin', '10', '--question-end', '60', '--limit', '1', '--max-new-tokens', '300', '--out', out]);
      assert.equal(r.code, 0, r.stderr);
      const lines = await readLines(out);
      assert.equal(lines.length, 1);
      assert.equal(lines[0].question_id, 11, 'first extraction question in the slice');
      assert.equal(lines[0].model_id, 'remote-x');
      assert.deepEqual(lines[0].choices[0].turns, ['reply to 1 message(s)', 'reply to 3 message(s)']);
      const q = (await loadQuestions(questionFile('neo-5d4f13a'))).find((x) => x.question_id === 11)!;
      assert.equal(server.log.length, 2);
      assert.deepEqual(server.log[1].body.messages, [
        { role: 'user', content: q.turns[0] },
        { role: 'assistant', content: 'reply to 1 message(s)' },
        { role: 'user', content: q.turns[1] },
      ]);
      for (const req of server.log) {
        assert.equal(req.body.model, 'remote-x');
        assert.equal(req.body.temperature, 0.2, 'extraction');
        assert.equal(req.body.max_tokens, 300);
        assert.equal(req.headers.authorization, 'Bearer sk-1');
      }
      const missing = await fugaku(['eval', 'mt-bench', 'answer', '--base-url', server.baseUrl, '--out', out]);
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /--base-url needs --model-name/);
    });
  } finally {
    await server.close();
  }
});
