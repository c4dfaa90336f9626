/**
 * Japanese MT-Bench data (Stability-AI FastChat jp-stable, Apache-2.0), shipped in data/japanese_mt_bench/:
 * questions (two revisions), judge prompts, GPT-4 reference answers. See docs/EVALUATION.md.
 */
import * as path from 'node:path';
import { z } from 'zod';
import { FugakuError } from '../../errors.js';
import { packageRoot } from '../../paths.js';
import { readJsonl } from '../jsonl.js';

export const MT_BENCH_DIR = path.join(packageRoot, 'data', 'japanese_mt_bench');

/** The eight categories, in the model card's column order (alphabetical, as Nejumi shows them). */
export const CATEGORIES = ['coding', 'extraction', 'humanities', 'math', 'reasoning', 'roleplay', 'stem', 'writing'] as const;
export type Category = (typeof CATEGORIES)[number];

/** FastChat's sampling temperature per category (fastchat/llm_judge/common.py temperature_config). */
export const TEMPERATURE_CONFIG: Readonly<Record<Category, number>> = {
  writing: 0.5,
  roleplay: 0.5,
  extraction: 0.2,
  stem: 0.2,
  humanities: 0.2,
  math: 0.1,
  coding: 0.1,
  reasoning: 0.1,
};

/** Categories whose judge prompts include the reference answer (FastChat NEED_REF_CATS). */
export const NEED_REF_CATS: ReadonlySet<string> = new Set(['math', 'reasoning', 'coding']);

/**
 * Question revisions: `neo-5d4f13a` is jp-stable commit 5d4f13a (2023-12-05), the text the Nejumi LLM
 * Leaderboard Neo cites for its artifacts (and so for the model card's numbers); `latest` is jp-stable
 * e37eb28 (2024-07-05), where 40 questions were reworded.
 */
export const REVISIONS = ['neo-5d4f13a', 'latest'] as const;
export type Revision = (typeof REVISIONS)[number];
export const DEFAULT_REVISION: Revision = 'neo-5d4f13a';

export function questionFile(revision: Revision, dataDir = MT_BENCH_DIR): string {
  return revision === 'latest' ? path.join(dataDir, 'question_full.jsonl') : path.join(dataDir, revision, 'question_full.jsonl');
}

export function isCategory(s: string): s is Category {
  return (CATEGORIES as readonly string[]).includes(s);
}

/** Validates a list of category names (e.g. from --categories). */
export function parseCategories(names: readonly string[]): Category[] {
  for (const n of names) {
    if (!isCategory(n)) {
      throw new FugakuError('INVALID_ARGUMENT', `unknown MT-Bench category ${JSON.stringify(n)}`, `categories are ${CATEGORIES.join(', ')}`);
    }
  }
  return [...new Set(names)] as Category[];
}

/** question_id is an int in the question files and a string in old FastChat outputs; both are accepted. */
export const questionIdSchema = z.union([z.number().int(), z.string().regex(/^\d+$/)]).transform((v) => Number(v));

const questionSchema = z.object({
  question_id: questionIdSchema,
  category: z.string(),
  turns: z.array(z.string()).min(1),
});

export interface Question {
  question_id: number;
  category: Category;
  turns: string[];
}

export async function loadQuestions(file: string): Promise<Question[]> {
  const rows = await readJsonl(file, questionSchema, 'an MT-Bench question {question_id, category, turns}', 'pass an MT-Bench question_full.jsonl (or leave --questions unset to use the shipped data)');
  const seen = new Set<number>();
  return rows.map((q, i) => {
    if (!isCategory(q.category)) {
      throw new FugakuError('INVALID_ARGUMENT', `${file}:${i + 1}: unknown category ${JSON.stringify(q.category)}`, `categories are ${CATEGORIES.join(', ')}`);
    }
    if (seen.has(q.question_id)) throw new FugakuError('INVALID_ARGUMENT', `${file}: question_id ${q.question_id} appears twice`, 'question ids must be unique');
    seen.add(q.question_id);
    return { question_id: q.question_id, category: q.category, turns: q.turns };
  });
}

export interface QuestionSelection {
  /** FastChat's --question-begin/--question-end: a slice of the file's order (0-based, end exclusive). */
  begin?: number;
  end?: number;
  categories?: readonly Category[];
  /** At most this many questions (after the other filters). */
  limit?: number;
}

export function selectQuestions(questions: readonly Question[], sel: QuestionSelection): Question[] {
  let qs = questions.slice(sel.begin ?? 0, sel.end ?? questions.length);
  if (sel.categories && sel.categories.length > 0) {
    const cats = new Set<string>(sel.categories);
    qs = qs.filter((q) => cats.has(q.category));
  }
  if (sel.limit !== undefined) qs = qs.slice(0, sel.limit);
  return qs;
}

const judgePromptSchema = z.object({
  name: z.string(),
  type: z.string(),
  system_prompt: z.string(),
  prompt_template: z.string(),
  output_format: z.string(),
  category: z.string().optional(),
});
export type JudgePrompt = z.infer<typeof judgePromptSchema>;

export async function loadJudgePrompts(file: string): Promise<Map<string, JudgePrompt>> {
  const rows = await readJsonl(file, judgePromptSchema, 'a FastChat judge prompt {name, type, system_prompt, prompt_template, output_format}', 'pass a FastChat judge_prompts.jsonl');
  return new Map(rows.map((r) => [r.name, r]));
}

/** An answer record in FastChat's model_answer format (also used for reference answers). */
export const answerSchema = z.object({
  question_id: questionIdSchema,
  answer_id: z.string().optional(),
  model_id: z.string(),
  choices: z.array(z.object({ index: z.number().int(), turns: z.array(z.string()) })).min(1),
  tstamp: z.number().optional(),
});
export type AnswerRecord = z.infer<typeof answerSchema>;
export const ANSWER_WHAT = 'a FastChat model answer {question_id, answer_id, model_id, choices: [{index, turns}], tstamp}';

export async function loadAnswers(file: string, missingHint: string): Promise<AnswerRecord[]> {
  return readJsonl(file, answerSchema, ANSWER_WHAT, missingHint);
}

/** The model card's Japanese MT-Bench scores for Fugaku-LLM-13B-instruct (Nejumi LLM Leaderboard Neo). */
export const MODEL_CARD_SCORES = {
  model: 'Fugaku-LLM-13B-instruct (model card)',
  average: 5.47,
  categories: { coding: 2.1, extraction: 4.1, humanities: 9.18, math: 2.3, reasoning: 3.4, roleplay: 8.2, stem: 7.25, writing: 7.25 } as Record<Category, number>,
} as const;
