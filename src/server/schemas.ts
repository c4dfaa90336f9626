/**
 * Request bodies (zod): the OpenAI fields this server implements, plus Hugging Face extras (top_k,
 * min_p, repetition_penalty) and vLLM-style ones (add_special_tokens, min_tokens, ignore_eos). Unknown
 * fields are rejected with a 400 naming the field (as OpenAI does: "Unrecognized request argument"), so
 * a typo never silently changes nothing. Fields OpenAI defines but this server does not implement are accepted only at their
 * neutral value (e.g. `logit_bias: {}`), and rejected otherwise.
 */
import { z } from 'zod';
import { badRequest, type ApiError } from './errors.js';

const tokenId = z.number().int().min(0);
const stop = z.union([z.string(), z.array(z.string()).max(4)], { error: 'stop must be a string or an array of up to 4 strings' }).nullish();
const nullableNumber = (min: number, max: number) => z.number().min(min).max(max).nullish();
const streamOptions = z.strictObject({ include_usage: z.boolean().nullish(), continuous_usage_stats: z.boolean().nullish() }).nullish();
/** Only the neutral value is accepted. */
const neutral = (ok: (v: unknown) => boolean, what: string) =>
  z.unknown().optional().refine((v) => v === undefined || v === null || ok(v), { message: `${what} is not supported by this server` });

const common = {
  model: z.string({ error: 'model is required (see GET /v1/models)' }),
  temperature: nullableNumber(0, 2),
  top_p: nullableNumber(0, 1),
  n: z.number().int().min(1).max(128).nullish(),
  stop,
  seed: z.number().int().min(-Number.MAX_SAFE_INTEGER).max(Number.MAX_SAFE_INTEGER).nullish(),
  stream: z.boolean().nullish(),
  stream_options: streamOptions,
  presence_penalty: nullableNumber(-2, 2),
  frequency_penalty: nullableNumber(-2, 2),
  user: z.string().nullish(),
  // Hugging Face / vLLM extras.
  top_k: z.number().int().min(0).nullish(),
  min_p: nullableNumber(0, 1),
  repetition_penalty: z.number().gt(0).max(10).nullish(),
  min_tokens: z.number().int().min(0).nullish(),
  ignore_eos: z.boolean().nullish(),
  logit_bias: neutral((v) => typeof v === 'object' && v !== null && Object.keys(v).length === 0, 'logit_bias'),
};

export const completionRequest = z.strictObject({
  ...common,
  prompt: z.union([z.string(), z.array(z.string()).min(1), z.array(tokenId).min(1), z.array(z.array(tokenId).min(1)).min(1)], {
    error: 'prompt must be a string, an array of strings, an array of token ids, or an array of arrays of token ids',
  }),
  max_tokens: z.number().int().min(1).nullish(),
  logprobs: z.number().int().min(0).max(20).nullish(),
  echo: z.boolean().nullish(),
  add_special_tokens: z.boolean().nullish(),
  best_of: neutral((v) => v === 1, 'best_of other than 1'),
  suffix: neutral((v) => v === '', 'suffix'),
});
export type CompletionRequest = z.infer<typeof completionRequest>;

const contentPart = z.strictObject({ type: z.literal('text', { error: 'only text content parts are supported' }), text: z.string() });
const message = z.object({
  role: z.enum(['system', 'developer', 'user', 'assistant'], { error: 'role must be "system", "developer", "user" or "assistant"' }),
  content: z.union([z.string(), z.array(contentPart)], { error: 'content must be a string or an array of text parts' }).nullish(),
  name: z.string().nullish(),
});

export const chatRequest = z.strictObject({
  ...common,
  messages: z.array(message).min(1, { error: 'messages must hold at least one message' }),
  max_tokens: z.number().int().min(1).nullish(),
  max_completion_tokens: z.number().int().min(1).nullish(),
  logprobs: z.boolean().nullish(),
  top_logprobs: z.number().int().min(0).max(20).nullish(),
  tools: neutral((v) => Array.isArray(v) && v.length === 0, 'tools'),
  tool_choice: neutral((v) => v === 'none', 'tool_choice'),
  response_format: neutral((v) => typeof v === 'object' && v !== null && (v as { type?: unknown }).type === 'text', 'response_format other than {"type":"text"}'),
  parallel_tool_calls: z.boolean().nullish(),
  store: z.boolean().nullish(),
  metadata: z.record(z.string(), z.string()).nullish(),
});
export type ChatRequest = z.infer<typeof chatRequest>;
export type ChatRequestMessage = z.infer<typeof message>;

export const tokenizeRequest = z.union([
  z.strictObject({ model: z.string().nullish(), prompt: z.string(), add_special_tokens: z.boolean().nullish() }),
  z.strictObject({ model: z.string().nullish(), messages: z.array(message).min(1), add_generation_prompt: z.boolean().nullish() }),
], { error: 'send {"prompt": "text"} or {"messages": [...]}' });
export type TokenizeRequest = z.infer<typeof tokenizeRequest>;

export const detokenizeRequest = z.strictObject({ model: z.string().nullish(), tokens: z.array(tokenId), skip_special_tokens: z.boolean().nullish() });
export type DetokenizeRequest = z.infer<typeof detokenizeRequest>;

/** Parses `body` with `schema`, or throws a 400 ApiError naming the first offending field. */
export function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw badRequest('the request body must be a JSON object', null, 'invalid_body');
  }
  const r = schema.safeParse(body);
  if (r.success) return r.data;
  throw issueToError(r.error.issues[0]);
}

function issueToError(issue: z.core.$ZodIssue): ApiError {
  if (issue.code === 'unrecognized_keys') {
    const where = issue.path.length > 0 ? `${issue.path.join('.')}.` : '';
    const keys = issue.keys.map((k) => where + k);
    return badRequest(`unrecognized request argument${keys.length > 1 ? 's' : ''}: ${keys.join(', ')}`, keys[0], 'unknown_parameter');
  }
  const param = issue.path.length > 0 ? issue.path.map(String).join('.') : null;
  return badRequest(param ? `${param}: ${issue.message}` : issue.message, param, issue.code === 'invalid_type' ? 'invalid_type' : 'invalid_value');
}
