/**
 * The HTTP API as a plain Hono app (Request → Response); `node.ts` is the thin Node adapter.
 *
 *   GET  /                      chat page (HTML; JS and CSS from /chat.js and /chat.css, no CDN)
 *   GET  /health                200 {"status":"ok"} (503 while shutting down)
 *   GET  /metrics               Prometheus text format
 *   GET  /v1/models[/:id]       the served model (folder basename and aliases)
 *   POST /v1/completions        OpenAI legacy completions (prompt text, ids, or a list of either)
 *   POST /v1/chat/completions   OpenAI chat completions (Fugaku-LLM instruct template)
 *   POST /tokenize, /detokenize vLLM-style helpers
 *
 * Errors are OpenAI-shaped (`{"error": {message, type, param, code}}`); streaming is OpenAI's SSE
 * (`data: {json}\n\n` ... `data: [DONE]\n\n`).
 */
import { randomUUID, timingSafeEqual } from 'node:crypto';
import { Hono, type Context } from 'hono';
import type { PreTrainedTokenizer } from '../tokenizer/index.js';
import { findInvalidTokenId } from '../tokenizer/token-ids.js';
import type { GPT2LMHeadModel } from '../generation/causal-lm.js';
import type { TokenLogprob } from '../generation/generate.js';
import { applyChatTemplate, TURN_STOP_STRING, type ChatMessage } from '../chat/index.js';
import { ApiError, badRequest, toApiError } from './errors.js';
import type { Engine, GenerationJob, JobEvent, JobResult } from './engine.js';
import type { Metrics } from './metrics.js';
import {
  chatRequest,
  completionRequest,
  detokenizeRequest,
  parseBody,
  tokenizeRequest,
  type ChatRequest,
  type ChatRequestMessage,
  type CompletionRequest,
} from './schemas.js';
import { tokenString } from './text.js';
import { CHAT_PAGE_CSS, CHAT_PAGE_HTML, chatPageScript } from './chat-page.js';
import { CORS_ALLOW_HEADERS, CORS_ALLOW_METHODS, CORS_EXPOSE_HEADERS, SECURITY_HEADERS, escapeLogField, hostPolicy, requestId, withFrameAncestors } from './security.js';

export interface AppOptions {
  engine: Engine;
  tokenizer: PreTrainedTokenizer;
  model: GPT2LMHeadModel;
  /** Names the model answers to; the first is its id in /v1/models. */
  modelNames: readonly string[];
  /** Bearer token required on /v1/*, /tokenize and /detokenize (null/undefined: no auth). */
  apiKey?: string | null;
  /** Largest accepted request body in bytes (default 1 MiB). */
  maxBodyBytes?: number;
  metrics: Metrics;
  /**
   * Host names accepted in the Host header besides localhost, 127.0.0.1 and [::1] (any port); `*`
   * accepts any. Anything else is a 403 (`host_not_allowed`): a DNS-rebinding guard.
   */
  allowedHosts?: readonly string[];
  /**
   * Cross origins (`http://app.example:3000`) allowed to call the server from a browser (CORS); `*`
   * allows any. Requests with any other non-same-origin `Origin` header get 403 (`origin_not_allowed`).
   */
  allowedOrigins?: readonly string[];
  /** One line per request (default: nothing). */
  log?: (line: string) => void;
  /** Milliseconds clock for latencies (default performance.now). */
  now?: () => number;
  /** Wall clock in ms for `created` (default Date.now). */
  wallClock?: () => number;
  /** Ids for responses (default random UUIDs). */
  newId?: () => string;
  /**
   * The model's terms of use (readModelTerms: the folder's LICENSE/LICENSE_ja, a GGUF's
   * general.license.text). Fugaku-LLM's terms require a service on the model to include them: they
   * are served at /terms and linked from the chat page. null/undefined: /terms is 404.
   */
  terms?: string | null;
}

const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8' };
const SSE_HEADERS = { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'x-accel-buffering': 'no' };
const PAGE_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'";

function errorResponse(e: ApiError): Response {
  const headers: Record<string, string> = { ...JSON_HEADERS };
  if (e.retryAfter !== null) headers['retry-after'] = String(e.retryAfter);
  if (e.status === 401) headers['www-authenticate'] = 'Bearer';
  return new Response(JSON.stringify(e.body()), { status: e.status, headers });
}

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: JSON_HEADERS });
}

/** The routes a metric label may name (anything else is "other", so label cardinality stays bounded). */
const KNOWN_ROUTES = new Set(['/', '/chat.js', '/chat.css', '/health', '/metrics', '/v1/models', '/v1/completions', '/v1/chat/completions', '/tokenize', '/detokenize']);

export function createApp(o: AppOptions): Hono {
  const app = new Hono();
  const now = o.now ?? (() => performance.now());
  const wallClock = o.wallClock ?? (() => Date.now());
  const newId = o.newId ?? (() => randomUUID().replace(/-/g, ''));
  const maxBody = o.maxBodyBytes ?? 1024 * 1024;
  const log = o.log ?? (() => {});
  const tok = o.tokenizer;
  const nPositions = o.model.config.nPositions;
  const modelId = o.modelNames[0];
  const terms = o.terms ?? null;
  const termsLink = '<a id="terms" href="/terms" target="_blank" rel="noopener">利用規約 (terms of use)</a>';
  const page = { js: chatPageScript(), css: CHAT_PAGE_CSS, html: terms === null ? CHAT_PAGE_HTML : CHAT_PAGE_HTML.replace('</header>', `  ${termsLink}\n</header>`) };
  /** Requests whose response is a stream: logged and timed when the stream ends. */
  const streamed = new WeakSet<Request>();

  /** The request's id (X-Request-Id), set by the first middleware. */
  const ridOf = (c: Context): string => (c.get('rid' as never) as string | undefined) ?? '-';

  /** Metrics and the log line; every field a client controls is escaped (no forged lines, no ANSI escapes). */
  const finishRequest = (c: Context, status: number, t0: number, extra = ''): void => {
    const { method, path } = c.req;
    const seconds = (now() - t0) / 1000;
    o.metrics.requests.inc({ route: KNOWN_ROUTES.has(path) ? path : 'other', method, status: String(status) });
    o.metrics.requestLatency.observe(seconds);
    log(`[${ridOf(c)}] ${escapeLogField(method)} ${escapeLogField(path)} ${status} ${(seconds * 1000).toFixed(0)}ms${extra}`);
  };

  // Request id and security headers on every response (routes, errors, 404, streams).
  app.use('*', async (c, next) => {
    const rid = requestId(c.req.header('x-request-id'), () => randomUUID());
    c.set('rid' as never, rid as never);
    await next();
    const h = c.res.headers;
    h.set('x-request-id', rid);
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) h.set(k, v);
    h.set('content-security-policy', withFrameAncestors(h.get('content-security-policy')));
  });

  app.use('*', async (c, next) => {
    const t0 = now();
    c.set('t0' as never, t0 as never);
    await next();
    if (!streamed.has(c.req.raw)) finishRequest(c, c.res.status, t0);
  });

  // Host / Origin policy (DNS rebinding, cross-site requests) and CORS, before authentication.
  const policy = hostPolicy(o.allowedHosts, o.allowedOrigins);
  app.use('*', async (c, next) => {
    const host = c.req.header('host');
    if (!policy.hostAllowed(host)) {
      throw new ApiError(403, 'invalid_request_error', `the Host header ${JSON.stringify(host)} is not one this server answers to (start it with --allowed-hosts NAME for the name clients use)`, null, 'host_not_allowed');
    }
    const origin = c.req.header('origin');
    if (origin === undefined) return next();
    if (!policy.originAllowed(origin, host)) {
      throw new ApiError(403, 'invalid_request_error', `cross-origin requests from ${JSON.stringify(origin)} are not allowed (start the server with --allowed-origins ORIGIN to let that site call it)`, null, 'origin_not_allowed');
    }
    const cross = policy.isListedCrossOrigin(origin, host);
    if (c.req.method === 'OPTIONS') {
      const headers: Record<string, string> = {
        'access-control-allow-origin': origin,
        'access-control-allow-methods': CORS_ALLOW_METHODS,
        'access-control-allow-headers': CORS_ALLOW_HEADERS,
        'access-control-max-age': '600',
        vary: 'Origin',
      };
      return new Response(null, { status: 204, headers });
    }
    await next();
    if (cross) {
      c.res.headers.set('access-control-allow-origin', origin);
      c.res.headers.set('access-control-expose-headers', CORS_EXPOSE_HEADERS);
      c.res.headers.append('vary', 'Origin');
    }
  });

  const needsKey = (path: string): boolean => path.startsWith('/v1/') || path === '/tokenize' || path === '/detokenize';
  app.use('*', async (c, next) => {
    if (o.apiKey && needsKey(c.req.path)) {
      const auth = c.req.header('authorization') ?? '';
      const m = /^Bearer\s+(.+)$/i.exec(auth.trim());
      const given = Buffer.from(m ? m[1] : '');
      const want = Buffer.from(o.apiKey);
      if (!(given.length === want.length && timingSafeEqual(given, want))) {
        return errorResponse(
          new ApiError(401, 'invalid_request_error', m ? 'incorrect API key provided' : 'missing API key: send the header "Authorization: Bearer <key>"', null, 'invalid_api_key'),
        );
      }
    }
    await next();
  });

  app.onError((e, c) => {
    const err = toApiError(e);
    if (err.status >= 500) {
      log(`[${ridOf(c)}] error on ${escapeLogField(c.req.method)} ${escapeLogField(c.req.path)}: ${escapeLogField(e instanceof Error ? e.stack ?? e.message : String(e))}`);
    }
    return errorResponse(err);
  });
  app.notFound((c) => errorResponse(new ApiError(404, 'invalid_request_error', `no route for ${c.req.method} ${c.req.path}`, null, 'unknown_url')));

  // ---- static: chat page, health, metrics, models ------------------------------------------------
  app.get('/', () => new Response(page.html, { headers: { 'content-type': 'text/html; charset=utf-8', 'content-security-policy': PAGE_CSP } }));
  app.get('/chat.js', () => new Response(page.js, { headers: { 'content-type': 'text/javascript; charset=utf-8' } }));
  app.get('/chat.css', () => new Response(page.css, { headers: { 'content-type': 'text/css; charset=utf-8' } }));
  app.get('/terms', () =>
    terms === null
      ? errorResponse(new ApiError(404, 'invalid_request_error', 'this model carries no terms of use (no LICENSE/LICENSE_ja in its folder, no general.license.text in its GGUF file)', null, 'no_terms'))
      : new Response(terms, { headers: { 'content-type': 'text/plain; charset=utf-8' } }));
  app.get('/health', () => (o.engine.isClosed ? json({ status: 'shutting_down' }, 503) : json({ status: 'ok' })));
  app.get('/metrics', () => {
    const s = o.engine.stats;
    const body = o.metrics.render({
      fugaku_queue_length: { help: 'requests waiting for a batch slot', value: s.queued },
      fugaku_running_requests: { help: 'requests in the running batch', value: s.runningJobs },
      fugaku_running_sequences: { help: 'sequences in the running batch', value: s.runningSequences },
      fugaku_max_batch: { help: 'batch slots (--max-batch)', value: o.engine.maxBatch },
      fugaku_scheduler_steps: { help: 'batched forward passes so far', value: s.steps },
      fugaku_prefix_cache_entries: { help: 'KV caches kept for prefix reuse', value: s.prefixCacheEntries },
    });
    return new Response(body, { headers: { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' } });
  });
  const modelCard = (id: string) => ({ id, object: 'model', created: 0, owned_by: 'fugaku-llm', root: modelId, max_model_len: nPositions });
  app.get('/v1/models', () => json({ object: 'list', data: o.modelNames.map(modelCard) }));
  app.get('/v1/models/:id{.+}', (c) => {
    const id = c.req.param('id');
    if (!o.modelNames.includes(id)) throw modelNotFound(id);
    return json(modelCard(id));
  });

  const modelNotFound = (name: string): ApiError =>
    new ApiError(404, 'invalid_request_error', `the model ${JSON.stringify(name)} does not exist; this server serves ${o.modelNames.map((n) => JSON.stringify(n)).join(', ')}`, 'model', 'model_not_found');
  const checkModel = (name: string | null | undefined): void => {
    if (name != null && !o.modelNames.includes(name)) throw modelNotFound(name);
  };

  /** The JSON body, within the size limit; 400 for malformed JSON, 413 when too large. */
  const readJson = async (c: Context): Promise<unknown> => {
    const tooLarge = () => new ApiError(413, 'invalid_request_error', `the request body is larger than the limit of ${maxBody} bytes`, null, 'request_too_large');
    const type = (c.req.header('content-type') ?? '').split(';')[0].trim().toLowerCase();
    if (type !== 'application/json') {
      throw new ApiError(
        415,
        'invalid_request_error',
        `the request body must be JSON sent with "content-type: application/json" (got ${type === '' ? 'no content-type' : JSON.stringify(type)})`,
        null,
        'unsupported_media_type',
      );
    }
    const declared = Number(c.req.header('content-length') ?? NaN);
    if (Number.isFinite(declared) && declared > maxBody) throw tooLarge();
    const body = c.req.raw.body;
    if (body === null) throw badRequest('the request has no body; send a JSON object', null, 'invalid_json');
    const chunks: Uint8Array[] = [];
    let size = 0;
    const reader = body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > maxBody) {
        void reader.cancel().catch(() => {});
        throw tooLarge();
      }
      chunks.push(value);
    }
    const text = Buffer.concat(chunks).toString('utf8');
    try {
      return JSON.parse(text);
    } catch (e) {
      throw badRequest(`the request body is not valid JSON: ${(e as Error).message}`, null, 'invalid_json');
    }
  };

  // ---- tokenize / detokenize -------------------------------------------------------------------
  app.post('/tokenize', async (c) => {
    const req = parseBody(tokenizeRequest, await readJson(c));
    checkModel(req.model);
    let tokens: number[];
    if ('prompt' in req) tokens = tok.encode(req.prompt, { addSpecialTokens: req.add_special_tokens ?? false });
    else tokens = tok.encode(renderChat(req.messages, req.add_generation_prompt ?? true), { addSpecialTokens: false });
    return json({ tokens, count: tokens.length, max_model_len: nPositions });
  });
  app.post('/detokenize', async (c) => {
    const req = parseBody(detokenizeRequest, await readJson(c));
    checkModel(req.model);
    const bad = findInvalidTokenId(req.tokens, o.model.config.vocabSize);
    if (bad !== undefined) throw badRequest(`token id ${bad} is outside 0..${o.model.config.vocabSize - 1}`, 'tokens', 'token_id_out_of_range');
    return json({ prompt: tok.decode(req.tokens, { skipSpecialTokens: req.skip_special_tokens ?? false }) });
  });

  // ---- generation --------------------------------------------------------------------------------
  /** Generation config for a request (OpenAI semantics: temperature 0 = greedy; top_k off unless given). */
  const samplingConfig = (r: CompletionRequest | ChatRequest) => {
    const temperature = r.temperature ?? 1;
    const doSample = temperature > 0;
    const options: Record<string, unknown> = { doSample, topK: r.top_k ?? 0 };
    if (doSample) options.temperature = temperature;
    if (r.top_p != null) options.topP = r.top_p;
    if (r.min_p != null) options.minP = r.min_p;
    if (r.repetition_penalty != null) options.repetitionPenalty = r.repetition_penalty;
    if (r.seed != null) options.seed = r.seed;
    // vLLM's min_tokens: EOS is banned (HF min_new_tokens) and stop strings are not looked for (engine)
    // until this many tokens were generated.
    if (r.min_tokens != null) options.minNewTokens = r.min_tokens;
    try {
      return o.model.generationConfig(options);
    } catch (e) {
      throw toApiError(e);
    }
  };

  /** vLLM: min_tokens may not exceed max_tokens. */
  const checkMinTokens = (minTokens: number | null | undefined, maxTokens: number, maxParam: string) => {
    if (minTokens != null && minTokens > maxTokens) {
      throw badRequest(`min_tokens (${minTokens}) must be less than or equal to ${maxParam} (${maxTokens})`, 'min_tokens', 'invalid_value');
    }
  };

  const stopList = (s: string | string[] | null | undefined): string[] => (s == null ? [] : typeof s === 'string' ? [s] : s).filter((x) => x !== '');

  /**
   * Submits one job per prompt as one queue entry (Engine.submitMany: all or none, and the request's
   * size never makes it wait). `signal` cancels them all.
   */
  const submitAll = (jobs: GenerationJob[], signal: AbortSignal): Promise<JobResult>[] => {
    const ac = new AbortController();
    const onAbort = () => ac.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    if (signal.aborted) ac.abort();
    let promises: Promise<JobResult>[];
    try {
      promises = o.engine.submitMany(jobs.map((j) => ({ ...j, signal: ac.signal })));
    } catch (e) {
      ac.abort();
      throw toApiError(e, 'prompt');
    }
    void Promise.allSettled(promises).finally(() => signal.removeEventListener('abort', onAbort));
    return promises;
  };

  const usageOf = (results: JobResult[]) => {
    const prompt = results.reduce((a, r) => a + r.promptTokens, 0);
    const completion = results.reduce((a, r) => a + r.sequences.reduce((b, q) => b + q.outputIds.length, 0), 0);
    const cached = results.reduce((a, r) => a + r.cachedTokens, 0);
    return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion, prompt_tokens_details: { cached_tokens: cached } };
  };

  const topMap = (top: { id: number; logprob: number }[]): Record<string, number> => {
    const m: Record<string, number> = {};
    for (const t of top) {
      const s = tokenString(tok, t.id).token;
      if (!(s in m)) m[s] = t.logprob;
    }
    return m;
  };

  app.post('/v1/completions', async (c) => {
    const req = parseBody(completionRequest, await readJson(c));
    checkModel(req.model);
    const cfg = samplingConfig(req);
    const addSpecial = req.add_special_tokens ?? false;
    const p = req.prompt;
    const prompts: number[][] =
      typeof p === 'string' ? [tok.encode(p, { addSpecialTokens: addSpecial })]
      : typeof p[0] === 'string' ? (p as string[]).map((s) => tok.encode(s, { addSpecialTokens: addSpecial }))
      : typeof p[0] === 'number' ? [p as number[]]
      : (p as number[][]);
    const n = req.n ?? 1;
    const maxTokens = req.max_tokens ?? 16;
    checkMinTokens(req.min_tokens, maxTokens, 'max_tokens');
    const logprobs = req.logprobs ?? null;
    const echo = req.echo ?? false;
    const stop = stopList(req.stop);
    prompts.forEach((ids, i) => {
      if (ids.length === 0) throw badRequest(`prompt ${i} is empty (it encodes to no tokens)`, 'prompt', 'empty_prompt');
      if (ids.length + maxTokens > nPositions) {
        throw badRequest(
          `this model's maximum context length is ${nPositions} tokens, but prompt ${i} has ${ids.length} tokens and max_tokens is ${maxTokens} (${ids.length + maxTokens} in all); shorten the prompt or lower max_tokens`,
          ids.length >= nPositions ? 'prompt' : 'max_tokens',
          'context_length_exceeded',
        );
      }
      const bad = ids.find((t) => t >= o.model.config.vocabSize);
      if (bad !== undefined) throw badRequest(`prompt ${i} holds token id ${bad}, outside 0..${o.model.config.vocabSize - 1}`, 'prompt', 'token_id_out_of_range');
    });
    const id = `cmpl-${newId()}`;
    const created = Math.floor(wallClock() / 1000);
    const baseJob = (ids: number[]): Omit<GenerationJob, 'signal'> => ({
      promptIds: ids,
      config: cfg,
      maxNewTokens: maxTokens,
      n,
      stop,
      continuation: true,
      logprobs,
      promptLogprobs: echo && logprobs !== null ? logprobs : null,
      ignoreEos: req.ignore_eos ?? false,
      presencePenalty: req.presence_penalty ?? 0,
      frequencyPenalty: req.frequency_penalty ?? 0,
    });
    const echoText = (ids: number[]) => (echo ? tok.decode(ids, { skipSpecialTokens: true }) : '');

    if (!req.stream) {
      const results = await Promise.all(submitAll(prompts.map(baseJob), c.req.raw.signal));
      const choices = results.flatMap((r, pi) =>
        r.sequences.map((q) => {
          const prefix = echoText(prompts[pi]);
          let lp: unknown = null;
          if (logprobs !== null) {
            const entries: (TokenLogprob | null)[] = [...(echo ? (r.promptLogprobs ?? []) : []), ...(q.logprobs ?? [])];
            const ids = echo ? [...prompts[pi], ...q.outputIds] : q.outputIds;
            const base = echo ? 0 : prefix.length;
            lp = {
              tokens: ids.map((t) => tokenString(tok, t).token),
              token_logprobs: entries.map((e) => (e ? e.logprob : null)),
              top_logprobs: entries.map((e) => (e ? topMap(e.top) : null)),
              text_offset: ids.map((_, i) => base + Math.min(tok.decode(ids.slice(0, i), { skipSpecialTokens: true }).length, prefix.length + q.text.length)),
            };
          }
          return { index: pi * n + q.index, text: prefix + q.text, logprobs: lp, finish_reason: q.finishReason === 'aborted' ? 'abort' : q.finishReason };
        }),
      );
      return json({ id, object: 'text_completion', created, model: req.model, choices, usage: usageOf(results), system_fingerprint: null });
    }

    const includeUsage = req.stream_options?.include_usage ?? false;
    return sse(c, (send, signal) => {
      const offsets = new Map<number, number>();
      const jobs = prompts.map((ids, pi) => ({
        ...baseJob(ids),
        onEvent: (e: JobEvent) => {
          if (e.type === 'start') {
            if (!echo) return;
            for (let k = 0; k < n; k++) {
              const text = echoText(ids);
              offsets.set(pi * n + k, text.length);
              send({ id, object: 'text_completion', created, model: req.model, choices: [{ index: pi * n + k, text, logprobs: null, finish_reason: null }], usage: null });
            }
            return;
          }
          const index = pi * n + e.index;
          if (e.type === 'token') {
            if (e.text === '' && !(logprobs !== null && e.logprob)) return;
            const off = offsets.get(index) ?? 0;
            offsets.set(index, off + e.text.length);
            const lp = logprobs !== null && e.logprob
              ? { tokens: [tokenString(tok, e.tokenId).token], token_logprobs: [e.logprob.logprob], top_logprobs: [topMap(e.logprob.top)], text_offset: [off] }
              : null;
            send({ id, object: 'text_completion', created, model: req.model, choices: [{ index, text: e.text, logprobs: lp, finish_reason: null }], usage: null });
          } else if (e.type === 'finish' && e.reason !== 'aborted') {
            send({ id, object: 'text_completion', created, model: req.model, choices: [{ index, text: '', logprobs: null, finish_reason: e.reason }], usage: null });
          }
        },
      }));
      return {
        promises: submitAll(jobs, signal),
        end: (results) => (includeUsage ? [{ id, object: 'text_completion', created, model: req.model, choices: [], usage: usageOf(results) }] : []),
      };
    });
  });

  const renderChat = (messages: ChatRequestMessage[], addGenerationPrompt = true): string => {
    const msgs: ChatMessage[] = messages.map((m, i) => {
      const content = m.content == null ? '' : typeof m.content === 'string' ? m.content : m.content.map((p) => p.text).join('');
      if (m.content == null && m.role !== 'assistant') throw badRequest(`messages.${i}.content is required for a ${m.role} message`, `messages.${i}.content`, 'invalid_value');
      return { role: m.role === 'developer' ? 'system' : m.role, content };
    });
    try {
      return applyChatTemplate(msgs, { addGenerationPrompt });
    } catch (e) {
      throw toApiError(e, 'messages');
    }
  };

  const chatLogprobs = (entries: TokenLogprob[] | undefined) =>
    entries === undefined
      ? null
      : {
          content: entries.map((e) => ({
            ...tokenString(tok, e.id),
            logprob: e.logprob,
            top_logprobs: e.top.map((t) => ({ ...tokenString(tok, t.id), logprob: t.logprob })),
          })),
          refusal: null,
        };

  app.post('/v1/chat/completions', async (c) => {
    const req = parseBody(chatRequest, await readJson(c));
    checkModel(req.model);
    if (req.top_logprobs != null && !req.logprobs) throw badRequest('top_logprobs needs logprobs: true', 'top_logprobs', 'invalid_value');
    const cfg = samplingConfig(req);
    const ids = tok.encode(renderChat(req.messages), { addSpecialTokens: false });
    const requested = req.max_completion_tokens ?? req.max_tokens ?? null;
    const maxParam = req.max_completion_tokens != null ? 'max_completion_tokens' : 'max_tokens';
    if (ids.length >= nPositions || (requested !== null && ids.length + requested > nPositions)) {
      throw badRequest(
        `this model's maximum context length is ${nPositions} tokens, but the messages take ${ids.length} tokens${requested !== null ? ` and max_tokens is ${requested}` : ''}; shorten the conversation${requested !== null ? ' or lower max_tokens' : ''}`,
        ids.length >= nPositions ? 'messages' : maxParam,
        'context_length_exceeded',
      );
    }
    const maxTokens = requested ?? nPositions - ids.length;
    checkMinTokens(req.min_tokens, maxTokens, requested === null ? 'the rest of the context' : maxParam);
    const n = req.n ?? 1;
    const logprobs = req.logprobs ? (req.top_logprobs ?? 0) : null;
    const id = `chatcmpl-${newId()}`;
    const created = Math.floor(wallClock() / 1000);
    const job: Omit<GenerationJob, 'signal'> = {
      promptIds: ids,
      config: cfg,
      maxNewTokens: maxTokens,
      n,
      stop: [TURN_STOP_STRING, ...stopList(req.stop)],
      trimTrailingWhitespace: true,
      logprobs,
      ignoreEos: req.ignore_eos ?? false,
      presencePenalty: req.presence_penalty ?? 0,
      frequencyPenalty: req.frequency_penalty ?? 0,
    };

    if (!req.stream) {
      const [result] = await Promise.all(submitAll([job], c.req.raw.signal));
      const choices = result.sequences.map((q) => ({
        index: q.index,
        message: { role: 'assistant', content: q.text, refusal: null },
        logprobs: logprobs !== null ? chatLogprobs(q.logprobs) : null,
        finish_reason: q.finishReason === 'aborted' ? 'abort' : q.finishReason,
      }));
      return json({ id, object: 'chat.completion', created, model: req.model, choices, usage: usageOf([result]), system_fingerprint: null });
    }

    const includeUsage = req.stream_options?.include_usage ?? false;
    const chunk = (choices: unknown[], usage: unknown = null) => ({ id, object: 'chat.completion.chunk', created, model: req.model, system_fingerprint: null, choices, ...(includeUsage ? { usage } : {}) });
    return sse(c, (send, signal) => ({
      promises: submitAll(
        [
          {
            ...job,
            onEvent: (e: JobEvent) => {
              if (e.type === 'start') {
                for (let k = 0; k < n; k++) send(chunk([{ index: k, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }]));
              } else if (e.type === 'token') {
                if (e.text === '' && !(logprobs !== null && e.logprob)) return;
                send(chunk([{ index: e.index, delta: { content: e.text }, logprobs: logprobs !== null && e.logprob ? chatLogprobs([e.logprob]) : null, finish_reason: null }]));
              } else if (e.reason !== 'aborted') {
                send(chunk([{ index: e.index, delta: {}, logprobs: null, finish_reason: e.reason }]));
              }
            },
          },
        ],
        signal,
      ),
      end: (results) => (includeUsage ? [chunk([], usageOf(results))] : []),
    }));
  });

  /**
   * An SSE response. `start(send)` submits the jobs (throwing before any byte is sent: a normal JSON
   * error response) and says what to send after they all finish. The stream ends with `data: [DONE]`;
   * a job failure mid-stream becomes one `data: {"error": ...}` event before it. A client that goes away
   * cancels the stream, which aborts the request's jobs (through the request's AbortSignal, and here).
   */
  function sse(
    c: Context,
    start: (send: (obj: unknown) => void, signal: AbortSignal) => { promises: Promise<JobResult>[]; end: (r: JobResult[]) => unknown[] },
  ): Response {
    const t0 = (c.get('t0' as never) as number | undefined) ?? now();
    const enc = new TextEncoder();
    let controller!: ReadableStreamDefaultController<Uint8Array>;
    let open = true;
    const buffered: Uint8Array[] = [];
    const write = (s: string) => {
      if (!open) return;
      const bytes = enc.encode(s);
      if (controller) controller.enqueue(bytes);
      else buffered.push(bytes);
    };
    const send = (obj: unknown) => write(`data: ${JSON.stringify(obj)}\n\n`);
    const cancel = new AbortController();
    const reqSignal = c.req.raw.signal;
    const signal = AbortSignal.any([reqSignal, cancel.signal]);
    // Submitting may throw (queue full, ...): that becomes a plain JSON error response.
    const { promises, end } = start(send, signal);
    let tokens = 0;
    const stream = new ReadableStream<Uint8Array>({
      start(ctrl) {
        controller = ctrl;
        for (const b of buffered.splice(0)) ctrl.enqueue(b);
        Promise.all(promises)
          .then((results) => {
            tokens = results.reduce((a, r) => a + r.sequences.reduce((b, q) => b + q.outputIds.length, 0), 0);
            for (const obj of end(results)) send(obj);
          })
          .catch((e) => send(toApiError(e).body()))
          .finally(() => {
            write('data: [DONE]\n\n');
            if (open) {
              open = false;
              try {
                ctrl.close();
              } catch {
                // already closed by the client
              }
            }
            finishRequest(c, 200, t0, ` stream ${tokens} tokens${reqSignal.aborted || cancel.signal.aborted ? ' (client disconnected)' : ''}`);
          });
      },
      cancel() {
        open = false;
        cancel.abort();
      },
    });
    streamed.add(c.req.raw);
    return new Response(stream, { headers: SSE_HEADERS });
  }

  return app;
}
