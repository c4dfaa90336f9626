/**
 * HTTP errors in OpenAI's wire shape: `{"error": {"message", "type", "param", "code"}}` with a status.
 * Library errors (FugakuError) map to 400 when they are about the request (bad options, token ids out of
 * range, a prompt that does not fit the context) and to 500 otherwise; the hint is kept in the message.
 */
import { FugakuError, isFugakuError } from '../errors.js';

export type ApiErrorType = 'invalid_request_error' | 'authentication_error' | 'not_found_error' | 'server_error' | 'overloaded_error';

export interface OpenAIErrorBody {
  error: { message: string; type: ApiErrorType; param: string | null; code: string | null };
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly type: ApiErrorType,
    message: string,
    readonly param: string | null = null,
    readonly code: string | null = null,
    /** Seconds, sent as Retry-After (429/503). */
    readonly retryAfter: number | null = null,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  body(): OpenAIErrorBody {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

export const badRequest = (message: string, param: string | null = null, code: string | null = null): ApiError =>
  new ApiError(400, 'invalid_request_error', message, param, code);

/** Library codes that describe a bad request (400); everything else is the server's fault (500). */
const REQUEST_CODES = new Set(['INVALID_ARGUMENT', 'CONTEXT_OVERFLOW', 'GENERATION_CONFIG_INVALID', 'TOKEN_ID_OUT_OF_RANGE']);

/** Any thrown value → ApiError (never throws). */
export function toApiError(e: unknown, param: string | null = null): ApiError {
  if (e instanceof ApiError) return e;
  if (isFugakuError(e)) {
    const message = e.hint ? `${e.message} (hint: ${e.hint})` : e.message;
    if (REQUEST_CODES.has(e.code)) {
      const code = e.code === 'CONTEXT_OVERFLOW' ? 'context_length_exceeded' : e.code.toLowerCase();
      return badRequest(message, param, code);
    }
    if (e.code === 'ABORTED') return new ApiError(503, 'server_error', message, null, 'aborted');
    return new ApiError(500, 'server_error', message, null, e.code.toLowerCase());
  }
  const message = e instanceof Error ? e.message : String(e);
  return new ApiError(500, 'server_error', `internal error: ${message}`, null, 'internal');
}

/** A FugakuError for the engine (the HTTP layer turns it into a 4xx/5xx). */
export function contextOverflow(promptTokens: number, maxTokens: number, nPositions: number): FugakuError {
  return new FugakuError(
    'CONTEXT_OVERFLOW',
    `this model's maximum context length is ${nPositions} tokens, but the request needs ${promptTokens + maxTokens} (${promptTokens} in the prompt, ${maxTokens} for the completion)`,
    `shorten the prompt or set max_tokens to at most ${Math.max(0, nPositions - promptTokens)}`,
  );
}
