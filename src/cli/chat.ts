/**
 * `fugaku chat`: an interactive terminal chat in the Fugaku-LLM-13B-instruct prompt format.
 *
 * - On a terminal: prompt `> `, answers stream token by token (TextStreamer), `/reset` clears the
 *   history, `/exit` quits, `/help` lists the commands. Ctrl-C during an answer stops that answer (the
 *   part shown is kept in the history); Ctrl-C or Ctrl-D at the prompt quits.
 * - Piped (stdin not a TTY): one message per line, each answer printed followed by a newline, no prompt;
 *   exit 0 at end of input (1 if a message failed, after the rest were answered). Command feedback
 *   goes to stderr so stdout holds only answers.
 * The history is kept within the context window: the oldest exchanges are dropped so that the prompt
 * plus --max-new-tokens fits in n_positions. Generation stops at the EOS or where the model starts a
 * new turn (`### 指示:`), which is trimmed from the answer.
 */
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import type { Command } from 'commander';
import { FugakuError, isFugakuError } from '../errors.js';
import { AutoTokenizer } from '../tokenizer/index.js';
import { TextStreamer } from '../generation/streamer.js';
import { Rng } from '../generation/rng.js';
import { loadModel } from './load-model.js';
import { readModelChatTemplate } from '../io/model-chat-template.js';
import { applyChatTemplate, chatTemplateNote, fitHistory, TURN_STOP_STRING, type ChatMessage } from '../chat/index.js';
import { addModelLoadOptions, addSamplingOptions, intArg, modelOption, pickGenerationOptions, SAMPLING_OPTION_NAMES } from './options.js';

export interface ChatOptions {
  model: string;
  system?: string;
  maxNewTokens: number;
  doSample: boolean;
  temperature?: number;
  topK?: number;
  topP?: number;
  minP?: number;
  typicalP?: number;
  repetitionPenalty?: number;
  noRepeatNgramSize?: number;
  seed?: number;
  backend?: string;
  threads?: number;
  simd?: string;
  kvCacheDtype?: string;
  dtype: string;
}

/** Where the chat reads and writes (process streams in the CLI; anything in tests). */
export interface ChatIO {
  input: Readable;
  output: Writable;
  error: Writable;
  /** Terminal mode: prompts, line editing, Ctrl-C handling. */
  interactive: boolean;
}

const HELP = ['commands:', '  /reset  forget the conversation so far', '  /exit   quit (also Ctrl-D, or Ctrl-C at the prompt)', '  /help   this list', 'Ctrl-C while an answer is being written stops it.'].join('\n');

/** Registers `fugaku chat` on `program` (commander). */
export function registerChatCommand(program: Command): Command {
  const cmd = program
    .command('chat')
    .description('chat with an instruct model in the Fugaku-LLM-13B-instruct prompt format (stdin lines when piped)')
    .addOption(modelOption())
    .option('--system <text>', 'system prompt (default: the model card\'s 以下は、タスクを説明する指示です。…)')
    .option('--max-new-tokens <n>', 'tokens per answer at most', intArg('--max-new-tokens', 1), 256)
    .option('--seed <s>', 'random seed for sampling (one stream for the whole session)', intArg('--seed'));
  return addSamplingOptions(addModelLoadOptions(cmd)).action(async (o: ChatOptions) => {
    await runChat(o, { input: process.stdin, output: process.stdout, error: process.stderr, interactive: process.stdin.isTTY === true });
  });
}

/**
 * Holds back streamed text that may be the start of a stop string (and whitespace before it), so the
 * stop string never reaches the screen; `finish` gives the answer without it and without trailing space.
 */
export class StopStringFilter {
  private text = '';
  private shown = 0;
  private cut = -1;

  constructor(
    private readonly stops: readonly string[],
    private readonly write: (s: string) => void,
  ) {}

  /** Adds streamed text; writes what is safe to show. */
  push(chunk: string): void {
    if (this.cut >= 0 || chunk === '') return;
    this.text += chunk;
    let hold = this.text.length;
    for (const s of this.stops) {
      const at = this.text.indexOf(s);
      if (at >= 0 && (this.cut < 0 || at < this.cut)) this.cut = at;
      // The earliest start of an unfinished stop string at the end of the text.
      for (let k = Math.max(0, this.text.length - s.length + 1); k < this.text.length; k++) {
        if (s.startsWith(this.text.slice(k))) {
          hold = Math.min(hold, k);
          break;
        }
      }
    }
    if (this.cut >= 0) hold = this.cut;
    while (hold > 0 && /\s/u.test(this.text[hold - 1])) hold--;
    this.flushTo(hold);
  }

  /** True once a stop string was seen (the rest of the stream is ignored). */
  get stopped(): boolean {
    return this.cut >= 0;
  }

  /** Writes the rest of the answer and returns it (stop string and trailing whitespace removed). */
  finish(): string {
    const answer = (this.cut >= 0 ? this.text.slice(0, this.cut) : this.text).trimEnd();
    this.flushTo(answer.length);
    return answer;
  }

  private flushTo(n: number): void {
    if (n > this.shown) {
      this.write(this.text.slice(this.shown, n));
      this.shown = n;
    }
  }
}

/** The chat loop (exported for tests and embedding; the CLI calls it with the process streams). */
export async function runChat(o: ChatOptions, io: ChatIO): Promise<void> {
  const tok = await AutoTokenizer.fromPretrained(o.model);
  const templateNote = chatTemplateNote(await readModelChatTemplate(o.model));
  if (templateNote !== null) process.stderr.write(`warning: ${templateNote}\n`);
  const model = await loadModel(o.model, { dtype: o.dtype, backend: o.backend, threads: o.threads, simd: o.simd, kvCacheDtype: o.kvCacheDtype, progress: io.interactive });
  if (tok.vocabSize > model.config.vocabSize) {
    throw new FugakuError('CONFIG_INVALID', `the tokenizer has ${tok.vocabSize} tokens but the model only ${model.config.vocabSize} embedding rows`, 'the tokenizer and the weights do not belong together');
  }
  const nPos = model.config.nPositions;
  const budget = nPos - o.maxNewTokens;
  if (budget < 1) {
    throw new FugakuError('INVALID_ARGUMENT', `--max-new-tokens ${o.maxNewTokens} leaves no room for a prompt in the model's context of ${nPos} positions`, `use --max-new-tokens below ${nPos}`);
  }
  const genOptions: Record<string, unknown> = { maxNewTokens: o.maxNewTokens, doSample: o.doSample, stopStrings: [TURN_STOP_STRING] };
  Object.assign(genOptions, pickGenerationOptions(o as unknown as Record<string, unknown>, [...SAMPLING_OPTION_NAMES, 'seed']));
  model.generationConfig(genOptions); // reject bad option values before the first message
  const rng = o.seed !== undefined ? new Rng(o.seed) : undefined;
  const decode = (ids: number[]): string => tok.decode(ids, { skipSpecialTokens: true });
  const countTokens = (text: string): number => tok.encode(text, { addSpecialTokens: false }).length;
  const system: ChatMessage[] = o.system !== undefined ? [{ role: 'system', content: o.system }] : [];

  const out = (s: string): void => void io.output.write(s);
  const info = (s: string): void => void (io.interactive ? io.output : io.error).write(s + '\n');
  let history: ChatMessage[] = [];
  let current: AbortController | null = null;
  let failures = 0;

  const rl = createInterface({ input: io.input, output: io.interactive ? io.output : undefined, terminal: io.interactive, crlfDelay: Infinity, prompt: '> ' });
  rl.on('SIGINT', () => {
    if (current !== null) current.abort();
    else rl.close();
  });
  if (io.interactive) {
    info(`fugaku chat — ${o.model} (context ${nPos} tokens). /help for commands.`);
    rl.prompt();
  }

  const answer = async (message: string): Promise<void> => {
    const fitted = fitHistory([...system, ...history, { role: 'user', content: message }], countTokens, budget);
    const dropped = system.length + history.length + 1 - fitted.length;
    history = fitted.slice(system.length);
    if (dropped > 0 && io.interactive) info(`(dropped the ${dropped / 2} oldest exchange${dropped > 2 ? 's' : ''} to fit the context)`);
    const ids = tok.encode(applyChatTemplate(fitted), { addSpecialTokens: false });
    const filter = new StopStringFilter([TURN_STOP_STRING], out);
    const streamer = new TextStreamer(tok, { skipSpecialTokens: true, onText: (c) => filter.push(c) });
    const ac = new AbortController();
    current = ac;
    let reason: string;
    try {
      const [seq] = await model.generateSequences(ids, genOptions, {
        signal: ac.signal,
        decode,
        rng,
        onToken: (_, id) => {
          if (!filter.stopped) streamer.put(id);
        },
      });
      reason = seq.finishReason;
      if (!filter.stopped) streamer.end();
    } finally {
      current = null;
    }
    const text = filter.finish();
    out('\n');
    if (reason === 'aborted' && io.interactive) info('(stopped)');
    if (text === '' && reason === 'aborted') history.pop(); // nothing was said: forget the question too
    else history.push({ role: 'assistant', content: text });
  };

  try {
    for await (const raw of rl) {
      const line = raw.trim();
      if (line === '') {
        // nothing to do
      } else if (line === '/exit' || line === '/quit') {
        break;
      } else if (line === '/reset') {
        history = [];
        info('(history cleared)');
      } else if (line === '/help') {
        info(HELP);
      } else if (/^\/[A-Za-z]+$/.test(line)) {
        io.error.write(`unknown command ${line} (try /help)\n`);
      } else {
        try {
          await answer(raw);
        } catch (e) {
          failures++;
          io.error.write((isFugakuError(e) ? e.toLine() : `error[INTERNAL]: ${(e as Error)?.message ?? String(e)}`) + '\n');
          if (history.length % 2 === 1) history.pop(); // the unanswered question
        }
      }
      if (io.interactive) rl.prompt();
    }
  } finally {
    rl.close();
  }
  if (io.interactive) out('\n');
  if (failures > 0 && !io.interactive) {
    throw new FugakuError('INVALID_ARGUMENT', `${failures} message${failures > 1 ? 's' : ''} could not be answered (see above)`, 'shorten long messages or lower --max-new-tokens');
  }
}
