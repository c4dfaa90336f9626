/**
 * A minimal OpenAI-compatible chat-completions client for judging and for answering through an API:
 * POST {baseUrl}/chat/completions with `fetch` (injected), retry with exponential backoff on network
 * errors, 429 and 5xx (honouring Retry-After), via an injected `sleep` so tests run instantly.
 */
import { FugakuError } from '../errors.js';

export interface ChatCompletionMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface ChatCompletionRequest {
  model: string;
  messages: ChatCompletionMessage[];
  temperature?: number;
  max_tokens?: number;
  stop?: string[];
  seed?: number;
  n?: number;
}

export interface ChatClientOptions {
  /** e.g. https://api.openai.com/v1 or http://127.0.0.1:8000/v1 (trailing slash optional). */
  baseUrl: string;
  apiKey?: string;
  fetch?: typeof fetch;
  sleep?: (ms: number) => Promise<void>;
  /** Retries after the first attempt (default 6). */
  maxRetries?: number;
  /** First backoff in ms, doubled each retry (default 1000), capped at maxDelayMs (default 60000). */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Per-attempt timeout in ms (default 300000). */
  timeoutMs?: number;
  /** Called before each retry (for logging). */
  onRetry?: (info: { attempt: number; delayMs: number; reason: string }) => void;
}

export interface ChatCompletionResult {
  content: string;
  finishReason: string | null;
  /** How many attempts it took. */
  attempts: number;
}

const defaultSleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Delay from a Retry-After header (seconds or an HTTP date), or null. */
export function parseRetryAfter(value: string | null, nowMs: number): number | null {
  if (value === null || value.trim() === '') return null;
  const secs = Number(value);
  if (Number.isFinite(secs) && secs >= 0) return secs * 1000;
  const date = Date.parse(value);
  if (Number.isFinite(date)) return Math.max(0, date - nowMs);
  return null;
}

function remoteError(message: string, hint: string): FugakuError {
  // The error codes are shared with the rest of the package; a failed remote call is an invalid
  // argument from the user's point of view (wrong URL, key or model name) unless retries ran out.
  return new FugakuError('INVALID_ARGUMENT', message, hint);
}

export class ChatClient {
  private readonly url: string;
  private readonly fetchFn: typeof fetch;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(private readonly opts: ChatClientOptions) {
    let u: URL;
    try {
      u = new URL(opts.baseUrl);
    } catch {
      throw new FugakuError('INVALID_ARGUMENT', `base URL ${JSON.stringify(opts.baseUrl)} is not a URL`, 'e.g. http://127.0.0.1:8000/v1');
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') {
      throw new FugakuError('INVALID_ARGUMENT', `base URL ${opts.baseUrl} must be http(s)`, 'e.g. http://127.0.0.1:8000/v1');
    }
    this.url = opts.baseUrl.replace(/\/+$/, '') + '/chat/completions';
    this.fetchFn = opts.fetch ?? fetch;
    this.sleep = opts.sleep ?? defaultSleep;
  }

  async complete(req: ChatCompletionRequest): Promise<ChatCompletionResult> {
    const maxRetries = this.opts.maxRetries ?? 6;
    const base = this.opts.baseDelayMs ?? 1000;
    const cap = this.opts.maxDelayMs ?? 60000;
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (this.opts.apiKey) headers.authorization = `Bearer ${this.opts.apiKey}`;
    let lastReason = '';
    for (let attempt = 0; ; attempt++) {
      let retryAfter: number | null = null;
      let res: Response | null = null;
      try {
        res = await this.fetchFn(this.url, {
          method: 'POST',
          headers,
          body: JSON.stringify(req),
          signal: AbortSignal.timeout(this.opts.timeoutMs ?? 300000),
        });
      } catch (e) {
        lastReason = `request failed: ${(e as Error).message}`;
      }
      if (res !== null) {
        const text = await res.text().catch(() => '');
        if (res.ok) {
          let body: unknown;
          try {
            body = JSON.parse(text);
          } catch {
            throw remoteError(`${this.url} answered 200 with a body that is not JSON`, 'is --base-url an OpenAI-compatible API (ending in /v1)?');
          }
          const choice = (body as { choices?: { message?: { content?: unknown }; finish_reason?: unknown }[] })?.choices?.[0];
          const content = choice?.message?.content;
          if (typeof content !== 'string') {
            throw remoteError(`${this.url} answered without choices[0].message.content`, 'the server must speak the OpenAI chat-completions API');
          }
          return { content, finishReason: typeof choice?.finish_reason === 'string' ? choice.finish_reason : null, attempts: attempt + 1 };
        }
        const detail = text.slice(0, 200).replace(/\s+/g, ' ');
        lastReason = `HTTP ${res.status}${detail ? `: ${detail}` : ''}`;
        if (res.status !== 429 && res.status < 500) {
          throw remoteError(`${this.url} refused the request (${lastReason})`, res.status === 401 || res.status === 403 ? 'check --api-key / --judge-api-key' : res.status === 404 ? 'check the base URL (it usually ends in /v1) and the model name' : 'check the model name and the request options');
        }
        retryAfter = parseRetryAfter(res.headers.get('retry-after'), Date.now());
      }
      if (attempt >= maxRetries) {
        throw new FugakuError('INTERNAL', `${this.url} failed after ${attempt + 1} attempts (${lastReason})`, 'the API is unavailable or rate-limited; rerun later (finished work is kept and skipped)');
      }
      const backoff = Math.min(cap, base * 2 ** attempt);
      const delayMs = retryAfter !== null ? Math.min(Math.max(retryAfter, 0), cap * 10) : backoff;
      this.opts.onRetry?.({ attempt: attempt + 1, delayMs, reason: lastReason });
      await this.sleep(delayMs);
    }
  }
}
