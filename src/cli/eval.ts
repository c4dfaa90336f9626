/**
 * `fugaku eval`: Japanese MT-Bench (answer / judge / score), perplexity over files, GSM8K.
 * The procedures are documented in docs/EVALUATION.md; the work is done by src/eval/*.
 */
import { writeFile, mkdir } from 'node:fs/promises';
import * as path from 'node:path';
import { Option, type Command } from 'commander';
import { FugakuError, isFugakuError } from '../errors.js';
import { AutoTokenizer, type PreTrainedTokenizer } from '../tokenizer/index.js';
import type { GPT2LMHeadModel } from '../generation/causal-lm.js';
import { combinePerplexity, perplexity, type PerplexityResult } from '../eval/perplexity.js';
import { readJsonl, readText } from '../eval/jsonl.js';
import { ChatClient } from '../eval/openai-client.js';
import { createCountProgress } from '../eval/progress.js';
import {
  CATEGORIES,
  DEFAULT_REVISION,
  loadAnswers,
  loadJudgePrompts,
  loadQuestions,
  MODEL_CARD_SCORES,
  MT_BENCH_DIR,
  parseCategories,
  questionFile,
  REVISIONS,
  selectQuestions,
  type AnswerRecord,
  type Question,
  type Revision,
} from '../eval/mt-bench/data.js';
import { answeredQuestions, apiAnswerer, checkMaxNewTokens, DEFAULT_MAX_NEW_TOKENS, generateAnswers, localAnswerer, MAX_NEW_TOKENS_CAP, type TurnAnswerer } from '../eval/mt-bench/answer.js';
import { buildJudgeTasks, JUDGMENT_WHAT, judgmentSchema, runJudge } from '../eval/mt-bench/judge.js';
import { formatScoreTable, scoreJudgments, scoreToJSON, type ModelScore } from '../eval/mt-bench/score.js';
import { renderBarChart, type ChartSeries } from '../eval/mt-bench/chart.js';
import { answersMatch, buildGsm8kPrompt, extractAnswer, extractGold, GSM8K_DIR, loadGsm8k, summarize, type Gsm8kPrediction } from '../eval/gsm8k.js';
import { ANSWER_STOP, cleanAnswer } from '../eval/mt-bench/answer.js';
import { addModelLoadOptions, floatArg, intArg, modelOption } from './options.js';
import { loadModel, type CliModelOptions } from './load-model.js';

function checkTokenizerFitsModel(tok: PreTrainedTokenizer, model: GPT2LMHeadModel): void {
  if (tok.vocabSize > model.config.vocabSize) {
    throw new FugakuError('CONFIG_INVALID', `the tokenizer has ${tok.vocabSize} tokens but the model only ${model.config.vocabSize} embedding rows`, 'the tokenizer and the weights do not belong together');
  }
}

/** The --dtype/--backend/--threads flags every model-loading command shares (addModelLoadOptions). */
interface LoadFlags {
  dtype: string;
  backend?: string;
  threads?: number;
  simd?: string;
}

async function loadTokenizerAndModel(dir: string, o: LoadFlags): Promise<{ tok: PreTrainedTokenizer; model: GPT2LMHeadModel }> {
  const tok = await AutoTokenizer.fromPretrained(dir);
  const opts: CliModelOptions = { dtype: o.dtype, backend: o.backend, threads: o.threads, simd: o.simd };
  const model = await loadModel(dir, opts);
  checkTokenizerFitsModel(tok, model);
  return { tok, model };
}

const listArg = (v: string, prev: string[] = []): string[] => prev.concat(v.split(',').map((s) => s.trim()).filter((s) => s !== ''));
const idListArg = (v: string, prev: number[] = []): number[] =>
  prev.concat(
    v.split(',').map((s) => {
      const n = Number(s.trim());
      if (!Number.isInteger(n)) throw new FugakuError('INVALID_ARGUMENT', `--question-ids: ${JSON.stringify(s)} is not an integer`, 'e.g. --question-ids 31,71');
      return n;
    }),
  );

const revisionOption = (): Option =>
  new Option('--revision <rev>', 'question text revision: neo-5d4f13a = the text the Nejumi Neo leaderboard (model card) used; latest = jp-stable e37eb28').choices(REVISIONS as unknown as string[]).default(DEFAULT_REVISION);

interface SelectionFlags {
  revision: Revision;
  questions?: string;
  questionBegin?: number;
  questionEnd?: number;
  limit?: number;
  categories?: string[];
  questionIds?: number[];
}

function addSelectionOptions(cmd: Command): Command {
  return cmd
    .addOption(revisionOption())
    .option('--questions <file>', 'question file (default: the shipped question_full.jsonl of --revision)')
    .option('--question-begin <i>', 'first question (0-based index into the file, as FastChat)', intArg('--question-begin', 0))
    .option('--question-end <i>', 'end of the question slice (exclusive)', intArg('--question-end', 0))
    .option('--categories <list>', `only these categories (comma-separated: ${CATEGORIES.join(',')})`, listArg)
    .option('--question-ids <list>', 'only these question ids (comma-separated)', idListArg)
    .option('--limit <n>', 'at most n questions (after the other filters)', intArg('--limit', 1));
}

async function selectedQuestions(o: SelectionFlags): Promise<{ all: Question[]; selected: Question[] }> {
  const all = await loadQuestions(o.questions ?? questionFile(o.revision));
  let selected = selectQuestions(all, { begin: o.questionBegin, end: o.questionEnd, categories: o.categories ? parseCategories(o.categories) : undefined });
  if (o.questionIds) {
    const known = new Set(all.map((q) => q.question_id));
    const missing = o.questionIds.filter((id) => !known.has(id));
    if (missing.length > 0) throw new FugakuError('INVALID_ARGUMENT', `no question with id ${missing.join(', ')}`, `question ids run from ${all[0]?.question_id} to ${all[all.length - 1]?.question_id}`);
    const ids = new Set(o.questionIds);
    selected = selected.filter((q) => ids.has(q.question_id));
  }
  if (o.limit !== undefined) selected = selected.slice(0, o.limit);
  if (selected.length === 0) throw new FugakuError('INVALID_ARGUMENT', 'the selection contains no questions', 'check --categories, --question-ids, --question-begin/--question-end');
  return { all, selected };
}

function registerMtBench(evalCmd: Command): void {
  const mt = evalCmd.command('mt-bench').description('Japanese MT-Bench (FastChat jp-stable as run by the Nejumi leaderboard): answer → judge → score');

  const answerCmd = addSelectionOptions(
    mt
      .command('answer')
      .description('generate two-turn answers (FastChat model_answer JSONL; resumable)')
      .addOption(modelOption())
      .option('--base-url <url>', 'answer through an OpenAI-compatible API instead of a local model (e.g. http://127.0.0.1:8000/v1)')
      .option('--api-key <key>', 'API key for --base-url (default: $OPENAI_API_KEY)')
      .option('--model-name <name>', 'model name sent to --base-url')
      .option('--model-id <id>', 'model_id written in the answers (default: the model folder name or --model-name)')
      .option('--out <file>', 'answer file (default: mt_bench/model_answer/<model-id>.jsonl)')
      .option('--max-new-tokens <n>', `tokens per turn at most (FastChat default ${DEFAULT_MAX_NEW_TOKENS}; cap ${MAX_NEW_TOKENS_CAP})`, intArg('--max-new-tokens', 1), DEFAULT_MAX_NEW_TOKENS)
      .option('--seed <s>', 'seed of each question\'s sampling stream (FastChat: torch.manual_seed(0))', intArg('--seed'), 0)
      .option('--force-temperature <t>', 'use this temperature for every category (greedy below 1e-4)', floatArg('--force-temperature')),
  );
  addModelLoadOptions(answerCmd).action(async (o: SelectionFlags & { model: string; baseUrl?: string; apiKey?: string; modelName?: string; modelId?: string; out?: string; maxNewTokens: number; seed: number; forceTemperature?: number; dtype: string; backend?: string; threads?: number }) => {
    checkMaxNewTokens(o.maxNewTokens);
    if (o.forceTemperature !== undefined && o.forceTemperature < 0) throw new FugakuError('INVALID_ARGUMENT', `--force-temperature ${o.forceTemperature} is negative`, 'use 0 for greedy decoding');
    const { selected } = await selectedQuestions(o);
    if (o.baseUrl !== undefined && !o.modelName) throw new FugakuError('INVALID_ARGUMENT', '--base-url needs --model-name (the model to ask)', 'e.g. --model-name fugaku');
    const modelId = o.modelId ?? (o.baseUrl !== undefined ? o.modelName! : path.basename(path.resolve(o.model)));
    const out = o.out ?? path.join('mt_bench', 'model_answer', `${modelId}.jsonl`);
    const done = await answeredQuestions(out, modelId); // fail fast on a bad or foreign file, before loading the model
    if (selected.every((q) => done.has(q.question_id))) {
      process.stderr.write(`0 answered, ${selected.length} already in ${out}\n`);
      return;
    }
    let answerer: TurnAnswerer;
    if (o.baseUrl !== undefined) {
      const client = new ChatClient({ baseUrl: o.baseUrl, apiKey: o.apiKey ?? process.env.OPENAI_API_KEY, onRetry: (r) => process.stderr.write(`retry ${r.attempt} in ${Math.round(r.delayMs)} ms (${r.reason})\n`) });
      answerer = apiAnswerer(client, o.modelName!, o.seed);
    } else {
      const { tok, model } = await loadTokenizerAndModel(o.model, o);
      answerer = localAnswerer(model, tok);
    }
    const progress = createCountProgress(process.stderr);
    let started = false;
    const r = await generateAnswers({
      questions: selected,
      answerer,
      modelId,
      outFile: out,
      maxNewTokens: o.maxNewTokens,
      seed: o.seed,
      forceTemperature: o.forceTemperature,
      onQuestion: (done, total, q) => {
        if (!started) {
          progress.start(total, 'answers');
          started = true;
        }
        progress.update(done, `q${q.question_id} ${q.category}`);
      },
    }).finally(() => progress.stop());
    process.stderr.write(`${r.answered} answered, ${r.skipped} already in ${out}\n`);
  });

  addSelectionOptions(
    mt
      .command('judge')
      .description('single-answer grading by an OpenAI-compatible judge (FastChat model_judgment JSONL; resumable)')
      .requiredOption('--answers <files...>', 'answer files (FastChat model_answer JSONL)')
      .requiredOption('--judge-base-url <url>', 'OpenAI-compatible API of the judge (e.g. https://api.openai.com/v1)')
      .requiredOption('--judge-model <name>', 'judge model (the leaderboard used gpt-4)')
      .option('--judge-api-key <key>', 'API key of the judge (default: $OPENAI_API_KEY)')
      .addOption(new Option('--judge-prompts <set>', 'ja: jp-stable\'s Japanese single-v1/single-math-v1 for turn 1 (the English -multi-turn prompts for turn 2, as no Japanese ones exist); en: FastChat\'s English prompts').choices(['ja', 'en']).default('ja'))
      .option('--judge-file <file>', 'a FastChat judge prompt file to use instead (missing prompts fall back to the English ones)')
      .option('--reference <file>', 'reference answers (default: the shipped GPT-4 reference answers)')
      .option('--turns <list>', 'turns to judge (default 1,2)', listArg)
      .option('--out <file>', 'judgment file (default: mt_bench/model_judgment/<judge-model>_single.jsonl)')
      .option('--parallel <n>', 'requests in flight', intArg('--parallel', 1), 1)
      .option('--max-retries <n>', 'retries per request on 429/5xx/network errors (exponential backoff, Retry-After honoured)', intArg('--max-retries', 0), 6)
      .option('--retry-base-ms <ms>', 'first backoff delay', intArg('--retry-base-ms', 0), 1000),
  ).action(async (o: SelectionFlags & { answers: string[]; judgeBaseUrl: string; judgeModel: string; judgeApiKey?: string; judgePrompts: 'ja' | 'en'; judgeFile?: string; reference?: string; turns?: string[]; out?: string; parallel: number; maxRetries: number; retryBaseMs: number }) => {
    const { selected } = await selectedQuestions(o);
    const turns = (o.turns ?? ['1', '2']).map((t) => {
      if (t !== '1' && t !== '2') throw new FugakuError('INVALID_ARGUMENT', `--turns: ${JSON.stringify(t)} is not 1 or 2`, 'e.g. --turns 1 or --turns 1,2');
      return Number(t) as 1 | 2;
    });
    const english = await loadJudgePrompts(path.join(MT_BENCH_DIR, 'judge_prompts.jsonl'));
    const prompts = o.judgeFile !== undefined ? [await loadJudgePrompts(o.judgeFile), english] : o.judgePrompts === 'ja' ? [await loadJudgePrompts(path.join(MT_BENCH_DIR, 'judge_ja_prompts.jsonl')), english] : [english];
    const refs = new Map((await loadAnswers(o.reference ?? path.join(MT_BENCH_DIR, 'reference_answer', 'gpt-4.jsonl'), 'pass FastChat reference answers with --reference')).map((r) => [r.question_id, r]));
    const answers: AnswerRecord[] = [];
    for (const f of o.answers) answers.push(...(await loadAnswers(f, 'generate answers first: fugaku eval mt-bench answer --out FILE')));
    const tasks = buildJudgeTasks(selected, answers, refs, prompts, turns);
    const out = o.out ?? path.join('mt_bench', 'model_judgment', `${o.judgeModel.replace(/[\\/]/g, '_')}_single.jsonl`);
    const client = new ChatClient({
      baseUrl: o.judgeBaseUrl,
      apiKey: o.judgeApiKey ?? process.env.OPENAI_API_KEY,
      maxRetries: o.maxRetries,
      baseDelayMs: o.retryBaseMs,
      onRetry: (r) => process.stderr.write(`judge: retry ${r.attempt} in ${Math.round(r.delayMs)} ms (${r.reason})\n`),
    });
    const progress = createCountProgress(process.stderr);
    let started = false;
    const r = await runJudge({
      tasks,
      client,
      judgeModel: o.judgeModel,
      outFile: out,
      concurrency: o.parallel,
      onJudgment: (done, total, j) => {
        if (!started) {
          progress.start(total, 'judgments');
          started = true;
        }
        progress.update(done, `q${j.question_id} t${j.turn} score ${j.score}`);
      },
      onError: (t, e) => process.stderr.write(`judge: question ${t.question.question_id} turn ${t.turn} (${t.model}) failed: ${isFugakuError(e) ? e.toLine() : String(e)}\n`),
    }).finally(() => progress.stop());
    process.stderr.write(`${r.judged} judged (${r.unparsed} without a [[rating]]), ${r.skipped} already in ${out}, ${r.errors} failed\n`);
    if (r.errors > 0) throw new FugakuError('INTERNAL', `${r.errors} judgment request(s) failed after retries`, 'rerun the same command: finished judgments are kept and skipped');
  });

  mt.command('score')
    .description('per-category, average and per-turn scores from judgment files (table, --json, --out JSON, --chart SVG)')
    .requiredOption('--judgments <files...>', 'FastChat single-judgment JSONL files')
    .addOption(revisionOption())
    .option('--questions <file>', 'question file giving the categories (default: the shipped one of --revision)')
    .option('--json', 'print one JSON line per model: {model, categories, average, turns, judgments, failed}', false)
    .option('--out <file>', 'write all scores as JSON')
    .option('--chart <file>', 'write a bar chart (SVG) of the runs side by side')
    .option('--title <text>', 'chart title', 'Japanese MT-Bench (1–10)')
    .option('--compare-card', 'add the model card\'s Fugaku-LLM-13B-instruct scores to the table and chart', false)
    .action(async (o: { judgments: string[]; revision: Revision; questions?: string; json: boolean; out?: string; chart?: string; title: string; compareCard: boolean }) => {
      const questions = await loadQuestions(o.questions ?? questionFile(o.revision));
      const categoryOf = new Map(questions.map((q) => [q.question_id, q.category]));
      const runs: { file: string; scores: ModelScore[] }[] = [];
      for (const f of o.judgments) {
        const rows = await readJsonl(f, judgmentSchema, JUDGMENT_WHAT, 'judge answers first: fugaku eval mt-bench judge --out FILE');
        if (rows.length === 0) throw new FugakuError('INVALID_ARGUMENT', `${f} has no judgments`, 'judge answers first: fugaku eval mt-bench judge');
        runs.push({ file: f, scores: scoreJudgments(rows, categoryOf) });
      }
      const all = runs.flatMap((r) => r.scores.map((s) => ({ ...s, file: r.file })));
      const names = all.map((s) => s.model);
      const labelled = all.map((s) => ({ ...s, label: names.filter((n) => n === s.model).length > 1 ? `${s.model} (${path.basename(s.file)})` : s.model }));
      const card: ModelScore = { model: MODEL_CARD_SCORES.model, categories: { ...MODEL_CARD_SCORES.categories }, average: MODEL_CARD_SCORES.average, turns: {}, judgments: 0, failed: 0 };
      if (o.json) {
        for (const s of labelled) process.stdout.write(JSON.stringify(scoreToJSON(s)) + '\n');
      } else {
        const tableRows = labelled.map((s) => ({ ...s, model: s.label }));
        process.stdout.write(formatScoreTable(o.compareCard ? [...tableRows, card] : tableRows) + '\n');
      }
      if (o.out !== undefined) {
        await mkdir(path.dirname(path.resolve(o.out)), { recursive: true });
        await writeFile(o.out, JSON.stringify({ runs: labelled.map((s) => ({ file: s.file, ...scoreToJSON(s) })), ...(o.compareCard ? { model_card: scoreToJSON(card) } : {}) }, null, 2) + '\n');
      }
      if (o.chart !== undefined) {
        const series: ChartSeries[] = labelled.map((s) => ({ label: s.label, average: s.average, categories: s.categories }));
        if (o.compareCard) series.push({ label: card.model, average: card.average, categories: card.categories });
        await mkdir(path.dirname(path.resolve(o.chart)), { recursive: true });
        await writeFile(o.chart, renderBarChart(series, o.title));
      }
    });
}

function registerPerplexity(evalCmd: Command): void {
  const cmd = evalCmd
    .command('perplexity')
    .description('token-weighted loss and perplexity over text files (HF strided windows), per file and total')
    .argument('<files...>', 'UTF-8 text files')
    .addOption(modelOption())
    .option('--max-length <n>', 'window length (default: the model context n_positions)', intArg('--max-length', 2))
    .option('--stride <n>', 'step between window starts (default: the window length, no overlap)', intArg('--stride', 1))
    .option('--max-tokens <n>', 'evaluate only the first n tokens of each file', intArg('--max-tokens', 2))
    .option('--json', 'print one JSON line per file and a final {"file": null, ...} total line', false);
  addModelLoadOptions(cmd);
  cmd.action(async (files: string[], o: { model: string; maxLength?: number; stride?: number; maxTokens?: number; json: boolean; dtype: string; backend?: string; threads?: number }) => {
      const texts: string[] = [];
      for (const f of files) texts.push(await readText(f, 'pass existing UTF-8 text files'));
      const { tok, model } = await loadTokenizerAndModel(o.model, o);
      const progress = createCountProgress(process.stderr);
      const results: PerplexityResult[] = [];
      const line = (file: string | null, r: PerplexityResult): string =>
        o.json
          ? JSON.stringify({ file, tokens: r.tokens, predicted: r.predicted, nll_sum: r.nllSum, loss: r.loss, perplexity: r.perplexity })
          : `${(file ?? 'TOTAL').padEnd(40)} tokens ${String(r.tokens).padStart(8)}  predicted ${String(r.predicted).padStart(8)}  loss ${r.loss.toFixed(6)}  ppl ${r.perplexity.toFixed(4)}`;
      try {
        for (let i = 0; i < files.length; i++) {
          let ids = tok.encode(texts[i], { addSpecialTokens: false });
          if (o.maxTokens !== undefined) ids = ids.slice(0, o.maxTokens);
          if (ids.length < 2) throw new FugakuError('INVALID_ARGUMENT', `${files[i]} has ${ids.length} token(s); perplexity needs at least 2`, 'pass a longer text');
          progress.start(ids.length, path.basename(files[i]));
          const r = await perplexity(model.model, ids, { maxLength: o.maxLength, stride: o.stride, onProgress: (done) => progress.update(done) });
          progress.stop();
          results.push(r);
          process.stdout.write(line(files[i], r) + '\n');
        }
      } finally {
        progress.stop();
      }
      process.stdout.write(line(null, combinePerplexity(results)) + '\n');
    });
}

function registerGsm8k(evalCmd: Command): void {
  const cmd = evalCmd
    .command('gsm8k')
    .description('GSM8K few-shot chain-of-thought exact-match accuracy in the instruct format')
    .addOption(modelOption())
    .option('--data-dir <dir>', 'folder with train.jsonl (shots) and test.jsonl (default: the shipped data/gsm8k)')
    .option('--shots <k>', 'solved train examples before each question', intArg('--shots', 0), 4)
    .option('--limit <n>', 'evaluate the first n test questions (default: all 1319)', intArg('--limit', 1))
    .option('--max-new-tokens <n>', 'tokens per answer at most', intArg('--max-new-tokens', 1), 256)
    .option('--out <file>', 'write one JSON line per question: {index, question, gold, prediction, correct, output, prompt_tokens}')
    .option('--json', 'print the summary as JSON', false);
  addModelLoadOptions(cmd);
  cmd.action(async (o: { model: string; dataDir?: string; shots: number; limit?: number; maxNewTokens: number; out?: string; json: boolean; dtype: string; backend?: string; threads?: number }) => {
      const dir = o.dataDir ?? GSM8K_DIR;
      const train = await loadGsm8k(path.join(dir, 'train.jsonl'));
      let test = await loadGsm8k(path.join(dir, 'test.jsonl'));
      if (o.shots > train.length) throw new FugakuError('INVALID_ARGUMENT', `--shots ${o.shots} but ${path.join(dir, 'train.jsonl')} has ${train.length} examples`, `use --shots ${train.length} or fewer, or --data-dir with the full train split`);
      if (o.limit !== undefined) test = test.slice(0, o.limit);
      const shots = train.slice(0, o.shots);
      const { tok, model } = await loadTokenizerAndModel(o.model, o);
      const nPos = model.config.nPositions;
      const decode = (ids: number[]): string => tok.decode(ids, { skipSpecialTokens: true });
      const preds: Gsm8kPrediction[] = [];
      const progress = createCountProgress(process.stderr);
      progress.start(test.length, 'gsm8k');
      try {
        for (let i = 0; i < test.length; i++) {
          const ex = test[i];
          const ids = tok.encode(buildGsm8kPrompt(shots, ex.question), { addSpecialTokens: false });
          if (ids.length + o.maxNewTokens > nPos) {
            throw new FugakuError('CONTEXT_OVERFLOW', `test question ${i}: prompt (${ids.length} tokens) + --max-new-tokens ${o.maxNewTokens} exceeds the model context of ${nPos}`, 'lower --shots or --max-new-tokens');
          }
          const [seq] = await model.generateSequences(ids, { maxNewTokens: o.maxNewTokens, doSample: false, stopStrings: [ANSWER_STOP] }, { decode });
          const output = cleanAnswer(decode(seq.outputIds));
          const gold = extractGold(ex.answer);
          const prediction = extractAnswer(output);
          preds.push({ index: i, question: ex.question, gold, prediction, correct: answersMatch(prediction, gold), output, prompt_tokens: ids.length });
          const s = summarize(preds, o.shots);
          progress.update(i + 1, `acc ${(100 * s.accuracy).toFixed(1)}%`);
        }
      } finally {
        progress.stop();
      }
      if (o.out !== undefined) {
        await mkdir(path.dirname(path.resolve(o.out)), { recursive: true });
        await writeFile(o.out, preds.map((p) => JSON.stringify(p) + '\n').join(''));
      }
      const s = summarize(preds, o.shots);
      if (o.json) process.stdout.write(JSON.stringify(s) + '\n');
      else process.stdout.write(`gsm8k ${o.shots}-shot: ${s.correct}/${s.total} correct, accuracy ${(100 * s.accuracy).toFixed(2)}%\n`);
    });
}

/** Registers `fugaku eval` and its subcommands. */
export function registerEvalCommand(program: Command): void {
  const evalCmd = program.command('eval').description('evaluate a model: Japanese MT-Bench, perplexity over files, GSM8K (see docs/EVALUATION.md)');
  registerMtBench(evalCmd);
  registerPerplexity(evalCmd);
  registerGsm8k(evalCmd);
}
