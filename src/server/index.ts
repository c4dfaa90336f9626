/** `fugaku serve`: an OpenAI-compatible HTTP server with continuous batching and a chat page. */
import * as path from 'node:path';
import type { GPT2LMHeadModel } from '../generation/causal-lm.js';
import type { PreTrainedTokenizer } from '../tokenizer/index.js';
import { FugakuError } from '../errors.js';
import { createApp, type AppOptions } from './app.js';
import { Engine, type EngineOptions } from './engine.js';
import { Metrics } from './metrics.js';

export { createApp, type AppOptions } from './app.js';
export { Engine, type EngineOptions, type GenerationJob, type JobEvent, type JobResult, type SequenceResult } from './engine.js';
export { Metrics } from './metrics.js';
export { PrefixCache } from './prefix-cache.js';
export { ApiError, toApiError } from './errors.js';
export { listen, LISTEN_DEFAULTS, type ListeningServer, type ListenOptions } from './node.js';
export { renderMarkdown } from './chat-page.js';

export interface ServerSetup extends EngineOptions, Omit<AppOptions, 'engine' | 'metrics' | 'modelNames' | 'model' | 'tokenizer'> {
  model: GPT2LMHeadModel;
  tokenizer: PreTrainedTokenizer;
  /** Extra names the model answers to (the folder's basename always works). */
  aliases?: readonly string[];
}

/** Wires a model and tokenizer into an engine and an app. */
export function createServer(s: ServerSetup): { app: ReturnType<typeof createApp>; engine: Engine; metrics: Metrics; modelNames: string[] } {
  if (s.tokenizer.vocabSize > s.model.config.vocabSize) {
    throw new FugakuError('CONFIG_INVALID', `the tokenizer has ${s.tokenizer.vocabSize} tokens but the model only ${s.model.config.vocabSize} embedding rows`, 'the tokenizer and the weights do not belong together');
  }
  const metrics = new Metrics();
  const engine = new Engine(s.model.model, s.tokenizer, { ...s, metrics });
  const modelNames = [...new Set([path.basename(path.resolve(s.model.dir)), ...(s.aliases ?? [])])];
  const app = createApp({ ...s, engine, metrics, modelNames });
  return { app, engine, metrics, modelNames };
}
