/**
 * MT-Bench answer generation, FastChat's gen_model_answer.py procedure with the model card's changes:
 * per question, turn 1 is asked alone; turn 2 is asked with turn 1 and the model's own turn-1 answer in
 * the history. Temperature per category (TEMPERATURE_CONFIG), greedy below 1e-4. One sampling stream per
 * question, seeded with --seed (FastChat: torch.manual_seed(choice index) before each question), so a
 * resumed run writes what an uninterrupted one would have.
 *
 * Answers are appended to a JSONL file in FastChat's model_answer format, one line per question, as soon
 * as both turns are done; questions already in the file are skipped.
 */
import { randomBytes } from 'node:crypto';
import { FugakuError } from '../../errors.js';
import { applyChatTemplate, type ChatMessage } from '../../chat/index.js';
import type { GPT2LMHeadModel } from '../../generation/causal-lm.js';
import { Rng } from '../../generation/rng.js';
import type { PreTrainedTokenizer } from '../../tokenizer/index.js';
import { appendJsonl, readJsonlIfExists } from '../jsonl.js';
import type { ChatClient } from '../openai-client.js';
import { ANSWER_WHAT, answerSchema, TEMPERATURE_CONFIG, type AnswerRecord, type Question } from './data.js';

/** The model card caps generation at 2048 tokens (FastChat's default --max-new-token is 1024). */
export const MAX_NEW_TOKENS_CAP = 2048;
export const DEFAULT_MAX_NEW_TOKENS = 1024;
/** FastChat: do_sample = temperature >= 1e-4. */
export const GREEDY_BELOW = 1e-4;
/** The stop string of the model card's setup (the start of a new `### 指示:`/`### 応答:` section). */
export const ANSWER_STOP = '###';

export interface TurnParams {
  temperature: number;
  maxNewTokens: number;
}

/** What answers one turn: the local model, or an OpenAI-compatible endpoint. */
export interface TurnAnswerer {
  /** `messages` ends with the user turn to answer; `rng` is the question's sampling stream (local only). */
  answer(messages: ChatMessage[], params: TurnParams, rng: Rng): Promise<string>;
  /** Settings recorded in each answer's generate_params. */
  readonly info: Record<string, unknown>;
}

export function checkMaxNewTokens(n: number): void {
  if (!Number.isInteger(n) || n < 1 || n > MAX_NEW_TOKENS_CAP) {
    throw new FugakuError('INVALID_ARGUMENT', `--max-new-tokens ${n} is outside 1..${MAX_NEW_TOKENS_CAP}`, `the model card's procedure caps generation at ${MAX_NEW_TOKENS_CAP} tokens (FastChat's default is ${DEFAULT_MAX_NEW_TOKENS})`);
  }
}

/** FastChat's post-processing: cut at the stop string, drop special tokens (done by decode), strip. */
export function cleanAnswer(text: string, stop = ANSWER_STOP): string {
  const at = text.indexOf(stop);
  return (at >= 0 ? text.slice(0, at) : text).trim();
}

/** The local model in the Fugaku-LLM-instruct format, prompts encoded without special tokens. */
export function localAnswerer(model: GPT2LMHeadModel, tok: PreTrainedTokenizer): TurnAnswerer {
  const decode = (ids: number[]): string => tok.decode(ids, { skipSpecialTokens: true });
  const nPos = model.config.nPositions;
  return {
    info: { template: 'fugaku-instruct', add_special_tokens: false, stop: ANSWER_STOP },
    async answer(messages, params, rng) {
      const ids = tok.encode(applyChatTemplate(messages), { addSpecialTokens: false });
      // GPT-2 has learned positions only up to n_positions: generation stops at the end of the context
      // (HF would fail there); a prompt that does not fit at all is an error.
      const room = nPos - ids.length;
      if (room < 1) {
        throw new FugakuError('CONTEXT_OVERFLOW', `the prompt has ${ids.length} tokens, the model context is ${nPos}`, 'lower --max-new-tokens so that turn-1 answers leave room for turn 2');
      }
      const doSample = params.temperature >= GREEDY_BELOW;
      const options: Record<string, unknown> = { maxNewTokens: Math.min(params.maxNewTokens, room), doSample, stopStrings: [ANSWER_STOP] };
      if (doSample) options.temperature = params.temperature;
      const [seq] = await model.generateSequences(ids, options, { decode, rng });
      return cleanAnswer(decode(seq.outputIds));
    },
  };
}

/** An OpenAI-compatible chat endpoint (FastChat gen_api_answer.py): messages in, content out. */
export function apiAnswerer(client: ChatClient, modelName: string, seed: number | undefined): TurnAnswerer {
  return {
    info: { api_model: modelName, ...(seed !== undefined ? { api_seed: seed } : {}) },
    async answer(messages, params) {
      const r = await client.complete({ model: modelName, messages, temperature: params.temperature, max_tokens: params.maxNewTokens, n: 1, ...(seed !== undefined ? { seed } : {}) });
      return r.content.trim();
    },
  };
}

export interface GenerateAnswersOptions {
  questions: readonly Question[];
  answerer: TurnAnswerer;
  modelId: string;
  outFile: string;
  maxNewTokens: number;
  /** Seed of each question's sampling stream (default 0, as FastChat's torch.manual_seed(0)). */
  seed: number;
  /** Overrides the per-category temperature (FastChat gen_api_answer --force-temperature). */
  forceTemperature?: number;
  /** Seconds clock for tstamp (default Date.now()/1000). */
  now?: () => number;
  /** FastChat's answer_id is a shortuuid; ours is 22 random base62 characters (default from crypto). */
  newId?: () => string;
  /** Called after each question is written. */
  onQuestion?: (done: number, total: number, q: Question) => void;
}

export interface GenerateAnswersResult {
  answered: number;
  skipped: number;
}

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
export function randomAnswerId(): string {
  return [...randomBytes(22)].map((b) => BASE62[b % 62]).join('');
}

/** The temperature FastChat uses for a question. */
export function questionTemperature(q: Question, force?: number): number {
  return force ?? TEMPERATURE_CONFIG[q.category];
}

/** The question ids already answered in `outFile` (none if it does not exist); refuses another model's file. */
export async function answeredQuestions(outFile: string, modelId: string): Promise<Set<number>> {
  const existing = await readJsonlIfExists(outFile, answerSchema, ANSWER_WHAT);
  const done = new Set<number>();
  for (const r of existing) {
    if (r.model_id !== modelId) {
      throw new FugakuError('INVALID_ARGUMENT', `${outFile} already holds answers of model ${JSON.stringify(r.model_id)}, not ${JSON.stringify(modelId)}`, 'use one answer file per model (--out), or pass the same --model-id to resume');
    }
    done.add(r.question_id);
  }
  return done;
}

export async function generateAnswers(o: GenerateAnswersOptions): Promise<GenerateAnswersResult> {
  checkMaxNewTokens(o.maxNewTokens);
  const done = await answeredQuestions(o.outFile, o.modelId);
  const todo = o.questions.filter((q) => !done.has(q.question_id));
  const now = o.now ?? (() => Date.now() / 1000);
  const newId = o.newId ?? randomAnswerId;
  let n = 0;
  for (const q of todo) {
    const temperature = questionTemperature(q, o.forceTemperature);
    const rng = new Rng(o.seed);
    const messages: ChatMessage[] = [];
    const turns: string[] = [];
    for (const turn of q.turns) {
      messages.push({ role: 'user', content: turn });
      const answer = await o.answerer.answer([...messages], { temperature, maxNewTokens: o.maxNewTokens }, rng);
      messages.push({ role: 'assistant', content: answer });
      turns.push(answer);
    }
    const record: AnswerRecord & { generate_params: Record<string, unknown> } = {
      question_id: q.question_id,
      answer_id: newId(),
      model_id: o.modelId,
      choices: [{ index: 0, turns }],
      tstamp: now(),
      generate_params: { temperature, do_sample: temperature >= GREEDY_BELOW, max_new_tokens: o.maxNewTokens, seed: o.seed, ...o.answerer.info },
    };
    await appendJsonl(o.outFile, [record]);
    n++;
    o.onQuestion?.(n, todo.length, q);
  }
  return { answered: n, skipped: o.questions.length - todo.length };
}
