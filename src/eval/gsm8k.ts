/**
 * GSM8K (Cobbe et al. 2021) few-shot chain-of-thought evaluation in the Fugaku-LLM-instruct format.
 *
 * Prompt: K solved train problems as earlier turns of one conversation (user: question; assistant: the
 * train solution with its `<<calc>>` annotations removed and `#### N` written as `The answer is N.`),
 * then the test question as the last user turn; rendered with applyChatTemplate and encoded without
 * special tokens. Greedy decoding, stopped at `###` (a new section) or EOS.
 * Scoring: the final number of the output (`#### N`, else the last "answer is N" / "答えは N", else the
 * last number), commas, `$` and full-width digits normalized, compared numerically with the `#### N` of
 * the reference: exact-match accuracy.
 */
import * as path from 'node:path';
import { z } from 'zod';
import { FugakuError } from '../errors.js';
import { applyChatTemplate, type ChatMessage } from '../chat/index.js';
import { packageRoot } from '../paths.js';
import { readJsonl } from './jsonl.js';

export const GSM8K_DIR = path.join(packageRoot, 'data', 'gsm8k');

export interface Gsm8kExample {
  question: string;
  answer: string;
}

const exampleSchema = z.object({ question: z.string(), answer: z.string() });

export async function loadGsm8k(file: string): Promise<Gsm8kExample[]> {
  return readJsonl(file, exampleSchema, 'a GSM8K example {question, answer}', 'pass a GSM8K jsonl file (train.jsonl/test.jsonl of openai/grade-school-math), or leave --data-dir unset');
}

/** "1,234.50" / "$18" / "-3" / "１８" → canonical decimal text ("1234.5", "18", "-3"), or null. */
export function normalizeNumber(raw: string): string | null {
  const s = raw.normalize('NFKC').replace(/[\s,$]/g, '').replace(/[.。]+$/, '');
  const m = /^(-?)(\d+(?:\.\d+)?)$/.exec(s.replace(/^\+/, ''));
  if (!m) return null;
  const v = Number(m[1] + m[2]);
  if (!Number.isFinite(v)) return null;
  return String(v === 0 ? 0 : v);
}

/** The reference answer: the number after the last `####`. */
export function extractGold(answer: string): string {
  const at = answer.lastIndexOf('####');
  const n = at >= 0 ? normalizeNumber(answer.slice(at + 4).trim()) : null;
  if (n === null) throw new FugakuError('INVALID_ARGUMENT', `GSM8K answer has no final "#### N": ${JSON.stringify(answer.slice(-80))}`, 'use the original GSM8K jsonl files');
  return n;
}

// A number: optional sign and $ (either order), digits with optional thousands commas, optional decimals.
const NUMBER = /(?:-\s*\$?|\$\s*-?)?\s*\d+(?:,\d{3})*(?:\.\d+)?/g;

function lastNumber(text: string): string | null {
  let last: string | null = null;
  for (const m of text.matchAll(NUMBER)) {
    const n = normalizeNumber(m[0]);
    if (n !== null) last = n;
  }
  return last;
}

/** The predicted final number of a model output, or null when it has none. */
export function extractAnswer(output: string): string | null {
  const text = output.normalize('NFKC');
  const hash = text.lastIndexOf('####');
  if (hash >= 0) {
    const first = /^\s*((?:-\s*\$?|\$\s*-?)?\s*\d+(?:,\d{3})*(?:\.\d+)?)/.exec(text.slice(hash + 4));
    if (first) return normalizeNumber(first[1]);
  }
  const phrases = [...text.matchAll(/(?:answer is|答えは|答え[:：])\s*:?\s*((?:-\s*\$?|\$\s*-?)?\s*\d+(?:,\d{3})*(?:\.\d+)?)/gi)];
  if (phrases.length > 0) return normalizeNumber(phrases[phrases.length - 1][1]);
  return lastNumber(text);
}

/** Numeric equality of two normalized answers. */
export function answersMatch(pred: string | null, gold: string): boolean {
  if (pred === null) return false;
  return Math.abs(Number(pred) - Number(gold)) <= 1e-9 * Math.max(1, Math.abs(Number(gold)));
}

/** A train solution as a shot: annotations removed, `#### N` → `The answer is N.` */
export function formatShotAnswer(answer: string): string {
  const gold = extractGold(answer);
  const body = answer.slice(0, answer.lastIndexOf('####')).replace(/<<[^>]*>>/g, '').trimEnd();
  return `${body}\nThe answer is ${gold}.`;
}

/** The conversation for one test question with `shots` solved examples before it. */
export function buildGsm8kMessages(shots: readonly Gsm8kExample[], question: string): ChatMessage[] {
  const messages: ChatMessage[] = [];
  for (const s of shots) {
    messages.push({ role: 'user', content: s.question });
    messages.push({ role: 'assistant', content: formatShotAnswer(s.answer) });
  }
  messages.push({ role: 'user', content: question });
  return messages;
}

export function buildGsm8kPrompt(shots: readonly Gsm8kExample[], question: string): string {
  return applyChatTemplate(buildGsm8kMessages(shots, question));
}

export interface Gsm8kPrediction {
  index: number;
  question: string;
  gold: string;
  prediction: string | null;
  correct: boolean;
  output: string;
  prompt_tokens: number;
}

export interface Gsm8kSummary {
  total: number;
  correct: number;
  accuracy: number;
  shots: number;
}

export function summarize(preds: readonly Gsm8kPrediction[], shots: number): Gsm8kSummary {
  const correct = preds.filter((p) => p.correct).length;
  return { total: preds.length, correct, accuracy: preds.length > 0 ? correct / preds.length : NaN, shots };
}
