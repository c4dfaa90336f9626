/**
 * MT-Bench single-answer grading (FastChat gen_judgment.py --mode single):
 *  - turn 1: `single-v1`, or `single-math-v1` with the reference answer for math/reasoning/coding;
 *  - turn 2: `single-v1-multi-turn` / `single-math-v1-multi-turn` (both turns and answers in the prompt);
 *  - judge called with temperature 0, max_tokens 2048, system prompt from the judge prompt;
 *  - score from `[[N]]`, else `[N]`, else -1 (kept in the file, excluded from scores).
 * Judgments are appended to one JSONL file in FastChat's model_judgment format; those already there are
 * skipped (key: model, question_id, turn, judge model, prompt name), so a run can be resumed.
 */
import { z } from 'zod';
import { FugakuError } from '../../errors.js';
import { createJsonlAppender, readJsonlIfExists } from '../jsonl.js';
import type { ChatClient } from '../openai-client.js';
import { NEED_REF_CATS, questionIdSchema, type AnswerRecord, type JudgePrompt, type Question } from './data.js';

export const JUDGE_MAX_TOKENS = 2048;

const oneScore = /\[\[(\d+\.?\d*)\]\]/;
const oneScoreBackup = /\[(\d+\.?\d*)\]/;

/** FastChat's rating parser: `[[N]]`, else `[N]`, else -1. */
export function parseScore(judgment: string): number {
  const m = oneScore.exec(judgment) ?? oneScoreBackup.exec(judgment);
  return m ? Number(m[1]) : -1;
}

/** Python str.format for the judge templates: {name} → vars[name]; {{ and }} are literal braces. */
export function formatTemplate(template: string, vars: Record<string, string>): string {
  return template.replace(/\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (m, name: string | undefined) => {
    if (m === '{{') return '{';
    if (m === '}}') return '}';
    const v = vars[name!];
    if (v === undefined) throw new FugakuError('INVALID_ARGUMENT', `judge template uses {${name}} which is not available`, 'use FastChat judge prompts (variables question, answer, ref_answer_1, question_1/2, answer_1/2, ref_answer_1/2)');
    return v;
  });
}

export const judgmentSchema = z.object({
  question_id: questionIdSchema,
  model: z.string(),
  judge: z.tuple([z.string(), z.string()]),
  user_prompt: z.string().optional(),
  judgment: z.string().optional(),
  score: z.number(),
  turn: z.number().int().min(1),
  tstamp: z.number().optional(),
});
export type JudgmentRecord = z.infer<typeof judgmentSchema>;
export const JUDGMENT_WHAT = 'a FastChat single judgment {question_id, model, judge: [model, prompt], user_prompt, judgment, score, turn, tstamp}';

export function judgmentKey(model: string, questionId: number, turn: number, judgeModel: string, promptName: string): string {
  return JSON.stringify([model, questionId, turn, judgeModel, promptName]);
}

export interface JudgeTask {
  question: Question;
  model: string;
  turn: 1 | 2;
  prompt: JudgePrompt;
  userPrompt: string;
}

/**
 * The judge tasks for `answers` (any number of models) on `questions`. `prompts` are consulted in order
 * (e.g. Japanese single-v1 first, then the English file for the multi-turn prompts).
 */
export function buildJudgeTasks(
  questions: readonly Question[],
  answers: readonly AnswerRecord[],
  refs: ReadonlyMap<number, AnswerRecord>,
  prompts: readonly ReadonlyMap<string, JudgePrompt>[],
  turns: readonly (1 | 2)[] = [1, 2],
): JudgeTask[] {
  const byId = new Map(questions.map((q) => [q.question_id, q]));
  const prompt = (name: string): JudgePrompt => {
    for (const m of prompts) {
      const p = m.get(name);
      if (p) return p;
    }
    throw new FugakuError('INVALID_ARGUMENT', `no judge prompt named ${name}`, 'the judge prompt file must contain single-v1, single-math-v1 and their -multi-turn variants');
  };
  const tasks: JudgeTask[] = [];
  for (const a of answers) {
    const q = byId.get(a.question_id);
    if (!q) continue; // not selected
    const ans = a.choices[0].turns;
    const needRef = NEED_REF_CATS.has(q.category);
    const ref = needRef ? refs.get(q.question_id) : undefined;
    if (needRef && !ref) {
      throw new FugakuError('INVALID_ARGUMENT', `no reference answer for question ${q.question_id} (${q.category})`, 'math, reasoning and coding are judged against the reference answers (--reference)');
    }
    const refTurns = ref?.choices[0].turns ?? [];
    for (const turn of turns) {
      if (turn > q.turns.length) continue;
      if (ans.length < turn) {
        throw new FugakuError('INVALID_ARGUMENT', `the answer of ${a.model_id} to question ${q.question_id} has ${ans.length} turn(s), turn ${turn} is to be judged`, 'regenerate that answer, or judge only turn 1 (--turns 1)');
      }
      const name = (needRef ? 'single-math-v1' : 'single-v1') + (turn === 2 ? '-multi-turn' : '');
      const p = prompt(name);
      const vars: Record<string, string> =
        turn === 1
          ? { question: q.turns[0], answer: ans[0] }
          : { question_1: q.turns[0], question_2: q.turns[1], answer_1: ans[0], answer_2: ans[1] };
      if (ref) {
        vars.ref_answer_1 = refTurns[0] ?? '';
        vars.ref_answer_2 = refTurns[1] ?? '';
      }
      tasks.push({ question: q, model: a.model_id, turn, prompt: p, userPrompt: formatTemplate(p.prompt_template, vars) });
    }
  }
  return tasks;
}

export interface RunJudgeOptions {
  tasks: readonly JudgeTask[];
  client: ChatClient;
  judgeModel: string;
  outFile: string;
  /** Requests in flight at once (default 1). */
  concurrency?: number;
  /** Seconds clock for tstamp. */
  now?: () => number;
  onJudgment?: (done: number, total: number, r: JudgmentRecord) => void;
  /** Called when a task fails after the client's retries (the run goes on; the task is not cached). */
  onError?: (task: JudgeTask, error: unknown) => void;
}

export interface RunJudgeResult {
  judged: number;
  skipped: number;
  /** Judgments without a parsable score (score -1, cached). */
  unparsed: number;
  /** Tasks whose request failed after all retries (not cached; rerun to retry). */
  errors: number;
}

export async function runJudge(o: RunJudgeOptions): Promise<RunJudgeResult> {
  const existing = await readJsonlIfExists(o.outFile, judgmentSchema, JUDGMENT_WHAT);
  const cached = new Set(existing.map((r) => judgmentKey(r.model, r.question_id, r.turn, r.judge[0], r.judge[1])));
  const todo = o.tasks.filter((t) => !cached.has(judgmentKey(t.model, t.question.question_id, t.turn, o.judgeModel, t.prompt.name)));
  const out = createJsonlAppender(o.outFile);
  const now = o.now ?? (() => Date.now() / 1000);
  const concurrency = o.concurrency ?? 1;
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new FugakuError('INVALID_ARGUMENT', `concurrency ${concurrency} must be a positive integer`, 'e.g. --parallel 4');
  let next = 0;
  let done = 0;
  let unparsed = 0;
  let errors = 0;
  const worker = async (): Promise<void> => {
    while (next < todo.length) {
      const t = todo[next++];
      let judgment: string;
      try {
        const r = await o.client.complete({
          model: o.judgeModel,
          messages: [
            { role: 'system', content: t.prompt.system_prompt },
            { role: 'user', content: t.userPrompt },
          ],
          temperature: 0,
          max_tokens: JUDGE_MAX_TOKENS,
          n: 1,
        });
        judgment = r.content;
      } catch (e) {
        errors++;
        o.onError?.(t, e);
        continue;
      }
      const score = parseScore(judgment);
      if (score === -1) unparsed++;
      const record: JudgmentRecord = {
        question_id: t.question.question_id,
        model: t.model,
        judge: [o.judgeModel, t.prompt.name],
        user_prompt: t.userPrompt,
        judgment,
        score,
        turn: t.turn,
        tstamp: now(),
      };
      await out.append(record);
      done++;
      o.onJudgment?.(done, todo.length, record);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, Math.max(1, todo.length)) }, worker));
  await out.flushed();
  return { judged: done, skipped: o.tasks.length - todo.length, unparsed, errors };
}
