/**
 * The `fugaku` command line. Each command is a thin wrapper over the library; errors become one
 * line on stderr (`error[CODE]: message (hint: ...)`) and exit code 1.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { FugakuError, isFugakuError } from '../errors.js';
import { AutoTokenizer, type PreTrainedTokenizer } from '../tokenizer/index.js';
import { findInvalidTokenId } from '../tokenizer/token-ids.js';
import { readModelConfig } from '../model/load.js';
import type { GPT2LMHeadModel } from '../generation/causal-lm.js';
import { sequenceText } from '../generation/generate.js';
import { TextStreamer } from '../generation/streamer.js';
import { perplexity } from '../eval/perplexity.js';
import { addModelLoadOptions, addSamplingOptions, floatArg, idsArg, intArg, modelOption, pickGenerationOptions, SAMPLING_OPTION_NAMES } from './options.js';
import { mapLines, parseJSONLine } from './io.js';
import { registerChatCommand } from './chat.js';
import { loadModel } from './load-model.js';
import { registerServeCommand } from './serve.js';
import { registerEvalCommand } from './eval.js';
import { registerConvertCommand } from './convert.js';
import { registerBenchCommand } from './bench.js';
import { registerImatrixCommand } from './imatrix.js';
import { installUsageErrors } from './usage-errors.js';
import { packageRoot } from '../paths.js';

function packageVersion(): string {
  return (JSON.parse(readFileSync(path.join(packageRoot, 'package.json'), 'utf8')) as { version: string }).version;
}

function checkTokenizerFitsModel(tok: PreTrainedTokenizer, model: GPT2LMHeadModel): void {
  if (tok.vocabSize > model.config.vocabSize) {
    throw new FugakuError('CONFIG_INVALID', `the tokenizer has ${tok.vocabSize} tokens but the model only ${model.config.vocabSize} embedding rows`, 'the tokenizer and the weights do not belong together');
  }
}

export function buildProgram(): Command {
  const program = new Command('fugaku')
    .description('Fugaku-LLM in TypeScript: tokenize, generate and evaluate Hugging Face GPT-2 checkpoints')
    .version(packageVersion(), '-V, --version', 'print the version');

  program
    .command('tokenize')
    .description('stdin: one JSON string per line → stdout: one JSON array of token ids per line')
    .addOption(modelOption())
    .option('--add-special-tokens', 'apply the post-processor (appends <EOD|LLM-jp>, id 7)', false)
    .action(async (o: { model: string; addSpecialTokens: boolean }) => {
      const tok = await AutoTokenizer.fromPretrained(o.model);
      await mapLines(process.stdin, process.stdout, (line, n) => {
        const s = parseJSONLine(line, n, 'a JSON string, e.g. "こんにちは"');
        if (typeof s !== 'string') throw new FugakuError('INVALID_ARGUMENT', `stdin line ${n} is not a JSON string`, 'quote the text: "こんにちは"');
        return JSON.stringify(tok.encode(s, { addSpecialTokens: o.addSpecialTokens }));
      });
    });

  program
    .command('detokenize')
    .description('stdin: one JSON array of token ids per line → stdout: one JSON string per line')
    .addOption(modelOption())
    .option('--skip-special-tokens', 'drop special tokens such as <EOD|LLM-jp>', false)
    .action(async (o: { model: string; skipSpecialTokens: boolean }) => {
      const tok = await AutoTokenizer.fromPretrained(o.model);
      // The ids the server's /detokenize accepts: below the model's vocab_size (tokenizer files only: the tokenizer's).
      const vocabSize = (await readModelConfig(o.model))?.vocabSize ?? tok.vocabSize;
      await mapLines(process.stdin, process.stdout, (line, n) => {
        const ids = parseJSONLine(line, n, 'a JSON array of token ids, e.g. [31, 26467]');
        if (!Array.isArray(ids) || !ids.every((x) => typeof x === 'number')) {
          throw new FugakuError('INVALID_ARGUMENT', `stdin line ${n} is not a JSON array of numbers`, 'e.g. [31, 26467]');
        }
        const bad = findInvalidTokenId(ids, vocabSize);
        if (bad !== undefined) {
          throw new FugakuError('TOKEN_ID_OUT_OF_RANGE', `stdin line ${n}: ${bad} is not a token id of this model (integers 0..${vocabSize - 1})`, 'pass ids from `fugaku tokenize` or from generate --json with the same --model');
        }
        return JSON.stringify(tok.decode(ids, { skipSpecialTokens: o.skipSpecialTokens }));
      });
    });

  const generateCmd = program
    .command('generate')
    .description('continue a prompt (encoded without special tokens, as the model card does)')
    .addOption(modelOption())
    .addOption(new Option('--prompt <text>', 'prompt text').conflicts('inputIds'))
    .addOption(new Option('--input-ids <json>', 'prompt as a JSON array of token ids').argParser(idsArg))
    .option('--max-new-tokens <n>', 'tokens to generate at most', intArg('--max-new-tokens', 1), 128)
    .option('--min-new-tokens <n>', 'suppress EOS before this many new tokens', intArg('--min-new-tokens', 0));
  addSamplingOptions(generateCmd)
    .option('--num-return-sequences <n>', 'sequences to sample from one prompt (one shared prefill)', intArg('--num-return-sequences', 1), 1)
    .option('--stop <text...>', 'stop when the generated text contains this string (repeatable; trimmed from the text)')
    .option('--keep-stop', 'keep the stop string in the printed text', false)
    .option('--max-time <seconds>', 'stop after this many seconds', floatArg('--max-time'))
    .option('--seed <s>', 'random seed for sampling', intArg('--seed'))
    .option('--stream', 'print text as it is generated', false)
    .option('--json', 'print {"input_ids", "output_ids", "text"} ({"input_ids", "sequences": [...]} when n > 1)', false)
    .option('--no-echo', 'print only the generated text, not the prompt');
  addModelLoadOptions(generateCmd)
    .action(async (o: Record<string, unknown> & { model: string; dtype: string; json: boolean; echo: boolean; stream: boolean; keepStop: boolean; numReturnSequences: number }) => {
      if (o.prompt === undefined && o.inputIds === undefined) {
        throw new FugakuError('INVALID_ARGUMENT', 'generate needs --prompt TEXT or --input-ids JSON_ARRAY', 'e.g. fugaku generate --prompt "スーパーコンピュータ「富岳」という名称は"');
      }
      if (o.stream && (o.json || o.numReturnSequences > 1)) {
        throw new FugakuError('INVALID_ARGUMENT', '--stream prints one sequence as plain text', 'drop --json / --num-return-sequences, or drop --stream');
      }
      const tok = await AutoTokenizer.fromPretrained(o.model);
      const model = await loadModel(o.model, o);
      checkTokenizerFitsModel(tok, model);
      const inputIds = (o.inputIds as number[] | undefined) ?? tok.encode(o.prompt as string, { addSpecialTokens: false });
      const options: Record<string, unknown> = { maxNewTokens: o.maxNewTokens, doSample: o.doSample, numReturnSequences: o.numReturnSequences };
      Object.assign(options, pickGenerationOptions(o, [...SAMPLING_OPTION_NAMES, 'minNewTokens', 'maxTime', 'seed']));
      if (o.stop !== undefined) options.stopStrings = o.stop;
      const decode = (ids: number[]) => tok.decode(ids, { skipSpecialTokens: true });
      const controller = new AbortController();
      const onSigint = () => controller.abort();
      process.once('SIGINT', onSigint);
      let streamer: TextStreamer | null = null;
      if (o.stream) {
        streamer = new TextStreamer(tok, { skipSpecialTokens: true, onText: (t) => process.stdout.write(t) });
        if (o.echo) process.stdout.write(decode(inputIds));
      }
      const seqs = await model
        .generateSequences(inputIds, options, { decode, signal: controller.signal, onToken: streamer ? (_i, id) => streamer!.put(id) : undefined })
        .finally(() => process.off('SIGINT', onSigint));
      if (streamer) {
        streamer.end();
        process.stdout.write('\n');
        return;
      }
      const texts = seqs.map((q) => sequenceText(q, decode, !o.keepStop));
      if (o.json) {
        const out = seqs.length === 1
          ? { input_ids: inputIds, output_ids: seqs[0].outputIds, text: texts[0] }
          : { input_ids: inputIds, sequences: seqs.map((q, i) => ({ output_ids: q.outputIds, text: texts[i] })) };
        process.stdout.write(JSON.stringify(out) + '\n');
        return;
      }
      seqs.forEach((q, i) => {
        if (seqs.length > 1) process.stdout.write(`--- sequence ${i + 1} ---\n`);
        const shown = o.echo ? decode(inputIds) + texts[i] : texts[i];
        process.stdout.write(shown + '\n');
      });
    });

  const perplexityCmd = program
    .command('perplexity')
    .description('HF causal-LM loss and perplexity of a text file (no special tokens; windows of n_positions)')
    .addOption(modelOption())
    .requiredOption('--file <path>', 'UTF-8 text file')
    .option('--max-tokens <n>', 'evaluate only the first N tokens', intArg('--max-tokens', 2))
    .option('--stride <n>', 'step between windows (default: the window length, no overlap)', intArg('--stride', 1))
    .option('--json', 'print {"tokens", "loss", "perplexity"}', false);
  addModelLoadOptions(perplexityCmd)
    .action(async (o: { model: string; file: string; maxTokens?: number; stride?: number; json: boolean; dtype: string; backend: string; threads?: number; kvCacheDtype: string }) => {
      let text: string;
      try {
        text = await readFile(o.file, 'utf8');
      } catch (e) {
        throw new FugakuError('FILE_NOT_FOUND', `cannot read ${o.file}: ${(e as Error).message}`, 'pass an existing UTF-8 text file with --file');
      }
      const tok = await AutoTokenizer.fromPretrained(o.model);
      const model = await loadModel(o.model, o);
      checkTokenizerFitsModel(tok, model);
      let ids = tok.encode(text, { addSpecialTokens: false });
      if (o.maxTokens !== undefined) ids = ids.slice(0, o.maxTokens);
      const r = await perplexity(model.model, ids, { stride: o.stride });
      if (o.json) process.stdout.write(JSON.stringify({ tokens: r.tokens, loss: r.loss, perplexity: r.perplexity }) + '\n');
      else process.stdout.write(`tokens ${r.tokens}  loss ${r.loss.toFixed(6)}  perplexity ${r.perplexity.toFixed(4)}\n`);
    });

  registerChatCommand(program);
  registerServeCommand(program);
  registerEvalCommand(program);
  registerConvertCommand(program);
  registerImatrixCommand(program);
  registerBenchCommand(program);

  installUsageErrors(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return 0;
  } catch (e) {
    // Help and --version: commander printed them. Usage errors arrive as FugakuErrors (usage-errors.ts).
    if (e instanceof CommanderError) return 0;
    if (isFugakuError(e)) process.stderr.write(e.toLine() + '\n');
    else process.stderr.write(`error[INTERNAL]: ${(e as Error)?.message ?? String(e)} (hint: this is a bug; please report it with the command you ran)\n`);
    return 1;
  }
}
