/**
 * `fugaku serve`: the OpenAI-compatible HTTP server (see docs/SERVER.md).
 *
 * Prints `fugaku serve: listening on http://HOST:PORT` on stdout once it accepts connections (with
 * --port 0 the real port), logs one line per request on stderr, and on SIGINT/SIGTERM stops accepting,
 * lets running requests finish (up to --shutdown-timeout seconds, then cancels them) and exits 0.
 */
import type { Command } from 'commander';
import { FugakuError } from '../errors.js';
import { AutoTokenizer } from '../tokenizer/index.js';
import { createServer, listen, LISTEN_DEFAULTS } from '../server/index.js';
import { addModelLoadOptions, intArg, modelOption } from './options.js';
import { loadModel } from './load-model.js';
import { readModelTerms } from '../io/terms.js';
import { readModelChatTemplate } from '../io/model-chat-template.js';
import { chatTemplateNote } from '../chat/index.js';

export interface ServeOptions {
  model: string;
  host: string;
  port: number;
  maxBatch: number;
  maxQueue: number;
  apiKey?: string;
  dtype: string;
  backend?: string;
  threads?: number;
  simd?: string;
  kvCacheDtype?: string;
  alias?: string[];
  maxBodyBytes: number;
  allowedHosts?: string[];
  allowedOrigins?: string[];
  prefixCache: number;
  shutdownTimeout: number;
  timeoutHeaders: number;
  timeoutRequest: number;
  maxConnections: number;
}

/** Where the server writes (the process streams in the CLI). */
export interface ServeIO {
  out: (line: string) => void;
  log: (line: string) => void;
  env: NodeJS.ProcessEnv;
  /** Registers the shutdown handler (SIGINT/SIGTERM in the CLI). */
  onSignal: (handler: (signal: string) => void) => void;
}

/** A comma-separated list flag (repeating it adds to the list). */
function listArg(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), ...value.split(',').map((v) => v.trim()).filter((v) => v !== '')];
}

/** Registers `fugaku serve` on `program` (commander). */
export function registerServeCommand(program: Command): void {
  const cmd = program
    .command('serve')
    .description('OpenAI-compatible HTTP server (completions, chat, streaming, continuous batching) with a chat page at /')
    .addOption(modelOption())
    .option('--host <host>', 'address to listen on (loopback by default; 0.0.0.0 exposes it to the network)', '127.0.0.1')
    .option('--port <port>', 'TCP port (0 = a free port, printed on startup)', intArg('--port', 0, 65535), 8000)
    .option('--max-batch <n>', 'sequences decoded together in one batched step', intArg('--max-batch', 1, 1024), 8)
    .option('--max-queue <n>', 'requests waiting for a slot before new ones get 503', intArg('--max-queue', 0), 64)
    .option('--api-key <key>', 'require "Authorization: Bearer <key>" on /v1/* (default: $FUGAKU_API_KEY)')
    .option('--alias <name...>', 'extra model names clients may ask for (the folder name always works)')
    .option('--allowed-hosts <names>', 'Host header names accepted besides localhost, 127.0.0.1, [::1] and --host, comma-separated (* = any)', listArg)
    .option('--allowed-origins <origins>', 'cross origins (e.g. http://app.example:3000) browsers may call the API from, comma-separated (* = any)', listArg)
    .option('--max-body-bytes <n>', 'largest accepted request body', intArg('--max-body-bytes', 1), 1024 * 1024)
    .option('--prefix-cache <n>', 'finished KV caches kept for prefix reuse (0 = off)', intArg('--prefix-cache', 0), 16)
    .option('--shutdown-timeout <seconds>', 'on SIGINT/SIGTERM, how long running requests may finish before they are cancelled', intArg('--shutdown-timeout', 0), 10)
    .option('--timeout-headers <seconds>', 'most time a client may take to send its request headers', intArg('--timeout-headers', 1), LISTEN_DEFAULTS.headersTimeoutMs / 1000)
    .option('--timeout-request <seconds>', 'most time a client may take to send its whole request, body included (llama-server\'s read timeout: 600)', intArg('--timeout-request', 1), LISTEN_DEFAULTS.requestTimeoutMs / 1000)
    .option('--max-connections <n>', 'open connections at most; more are closed at once', intArg('--max-connections', 1), LISTEN_DEFAULTS.maxConnections);
  addModelLoadOptions(cmd)
    .action(async (o: ServeOptions) => {
      await runServe(o, {
        out: (l) => void process.stdout.write(l + '\n'),
        log: (l) => void process.stderr.write(l + '\n'),
        env: process.env,
        onSignal: (h) => {
          process.once('SIGINT', () => h('SIGINT'));
          process.once('SIGTERM', () => h('SIGTERM'));
        },
      });
    });
}

/** Loads the model, serves until a signal, then shuts down gracefully (resolves once everything is closed). */
export async function runServe(o: ServeOptions, io: ServeIO): Promise<void> {
  const apiKey = o.apiKey ?? io.env.FUGAKU_API_KEY ?? null;
  if (apiKey !== null && apiKey.trim() === '') {
    throw new FugakuError('INVALID_ARGUMENT', 'the API key is empty', 'pass a non-empty --api-key (or unset FUGAKU_API_KEY)');
  }
  const tokenizer = await AutoTokenizer.fromPretrained(o.model);
  const model = await loadModel(o.model, { dtype: o.dtype, backend: o.backend, threads: o.threads, simd: o.simd, kvCacheDtype: o.kvCacheDtype });
  const terms = await readModelTerms(o.model);
  const templateNote = chatTemplateNote(await readModelChatTemplate(o.model));
  if (templateNote !== null) io.log(`warning: ${templateNote}`);
  const { app, engine, modelNames } = createServer({
    terms,
    model,
    tokenizer,
    aliases: o.alias,
    apiKey,
    maxBatch: o.maxBatch,
    maxQueue: o.maxQueue,
    maxBodyBytes: o.maxBodyBytes,
    allowedHosts: [o.host, ...(o.allowedHosts ?? [])],
    allowedOrigins: o.allowedOrigins ?? [],
    prefixCacheEntries: o.prefixCache,
    log: (line) => io.log(`${new Date().toISOString()} ${line}`),
  });
  const server = await listen(app, engine, {
    host: o.host,
    port: o.port,
    headersTimeoutMs: o.timeoutHeaders * 1000,
    requestTimeoutMs: o.timeoutRequest * 1000,
    maxConnections: o.maxConnections,
  });
  const done = new Promise<void>((resolve, reject) => {
    io.onSignal((signal) => {
      io.log(`${signal}: shutting down (running requests get ${o.shutdownTimeout}s to finish)`);
      server.shutdown(o.shutdownTimeout * 1000).then(resolve, reject);
    });
  });
  io.log(`model ${modelNames.join(', ')} (context ${model.config.nPositions} tokens), max batch ${o.maxBatch}, max queue ${o.maxQueue}${apiKey ? ', API key required' : ''}`);
  if (terms !== null) io.log(`the model's terms of use (${terms.length} characters) are served at ${server.url}/terms: a service built on this model must include them in its own terms`);
  io.out(`fugaku serve: listening on ${server.url}`);
  await done;
  io.log('server stopped');
}
