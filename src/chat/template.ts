/**
 * The Fugaku-LLM-13B-instruct prompt format, as a function and as an HF-style Jinja `chat_template`.
 *
 * Single turn (model card; encode WITHOUT special tokens):
 *
 *   {system}\n\n### 指示:\n{instruction}\n\n### 応答:\n
 *
 * With an input section (dolly style, as in the instruct tuning data), the system prompt defaults to
 * INPUT_SYSTEM_PROMPT:
 *
 *   {system}\n\n### 指示:\n{instruction}\n\n### 入力:\n{input}\n\n### 応答:\n
 *
 * Multi-turn: each earlier answer is closed with the EOS `<EOD|LLM-jp>` (what the model emits to end an
 * answer, and what follows each response in the llm-jp instruction-tuning data), then the separator
 * `\n\n` and the next `### 指示:`:
 *
 *   {system}\n\n### 指示:\n{u1}\n\n### 応答:\n{a1}<EOD|LLM-jp>\n\n### 指示:\n{u2}\n\n### 応答:\n
 *
 * Source for the turn-2 layout: the Nejumi LLM leaderboard's template for llm-jp instruct models
 * (wandb/llm-leaderboard, chat_templates/llm-jp/llm-jp-13b-instruct-full-dolly-ichikara_004_001_single-
 * oasst-oasst2-v2.0.jinja: user → '\n\n### 指示:\n' + content, assistant → '\n\n### 応答:\n' + content +
 * eos_token, generation prompt '\n\n### 応答:\n'), which mlc-llm's "llm-jp" conversation template
 * also uses (roles "\n\n### 指示:" / "\n\n### 応答:", separators ["", eos]). Fugaku-LLM uses the same
 * llm-jp tokenizer and the same instruction format. Stability-AI's FastChat jp-stable branch (the
 * Japanese MT-Bench harness) has no Fugaku/llm-jp template; its nearest ones ("weblab", "jslm_alpha")
 * write "### 指示: \n" with a space and no EOS, which does not match this model card, so they were not
 * followed.
 *
 * Rendered with `encode(prompt, { addSpecialTokens: false })`, the literal `<EOD|LLM-jp>` after each
 * earlier answer becomes id 7 (added tokens are matched in the text), as in training; a prompt without
 * history contains no id 7. As in HF, the text after an added token is normalized on its own, so it
 * starts with a "▁" token (id 31) exactly like the start of the prompt does (decode shows it as a space
 * after the EOS). A message that itself contains the text `<EOD|LLM-jp>` also encodes to id 7.
 *
 * Conversation rules: an optional system message first (its content replaces the default system
 * prompt; an empty one drops the system block), then user and assistant messages alternating, starting
 * with a user message. The input section (`opts.input`) belongs to the first user message, so every
 * turn's prompt extends the previous one.
 */
import { FugakuError } from '../errors.js';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface ApplyChatTemplateOptions {
  /** End with `\n\n### 応答:\n` so the model writes the answer (default true; needs a user message last). */
  addGenerationPrompt?: boolean;
  /** Dolly-style input/context for the first instruction (`### 入力:` section). */
  input?: string;
}

export const DEFAULT_SYSTEM_PROMPT = '以下は、タスクを説明する指示です。要求を適切に満たす応答を書きなさい。';
export const INPUT_SYSTEM_PROMPT = '以下は、タスクを説明する指示と、文脈のある入力の組み合わせです。要求を適切に満たす応答を書きなさい。';
/** The EOS that closes each answer (id 7 in the llm-jp tokenizer). */
export const EOS_TOKEN = '<EOD|LLM-jp>';
/** Where the model would start a new turn: a stop string for generation. */
export const TURN_STOP_STRING = '### 指示:';

const USER_HEADER = '### 指示:\n';
const INPUT_HEADER = '\n\n### 入力:\n';
const ANSWER_HEADER = '\n\n### 応答:\n';
const SEP = '\n\n';

const ROLES = new Set(['system', 'user', 'assistant']);

function invalid(message: string, hint: string): FugakuError {
  return new FugakuError('INVALID_ARGUMENT', message, hint);
}

/** Checks the shape of a conversation; returns [system content or null, the other messages]. */
function splitConversation(messages: readonly ChatMessage[]): [string | null, readonly ChatMessage[]] {
  if (!Array.isArray(messages) || messages.length === 0) {
    throw invalid('a chat needs at least one message', 'pass e.g. [{ role: "user", content: "こんにちは" }]');
  }
  messages.forEach((m, i) => {
    if (m === null || typeof m !== 'object' || !ROLES.has((m as { role?: unknown }).role as string)) {
      throw invalid(`message ${i} has an unknown role ${JSON.stringify((m as { role?: unknown } | null)?.role)}`, 'roles are "system", "user" and "assistant"');
    }
    if (typeof m.content !== 'string') {
      throw invalid(`message ${i} (${m.role}) has no string content`, 'content must be a string');
    }
  });
  const system = messages[0].role === 'system' ? messages[0].content : null;
  const rest = system === null ? messages : messages.slice(1);
  if (rest.length === 0) throw invalid('the chat has a system message but no user message', 'add a { role: "user" } message after the system message');
  rest.forEach((m, k) => {
    const i = k + (system === null ? 0 : 1);
    if (m.role === 'system') throw invalid(`message ${i} is a system message; only the first message may be one`, 'put the system message first, once');
    const expected = k % 2 === 0 ? 'user' : 'assistant';
    if (m.role !== expected) {
      throw invalid(
        k === 0 ? `message ${i} is an assistant message, but the conversation must start with a user message` : `messages ${i - 1} and ${i} are both ${m.role} messages`,
        'user and assistant messages must alternate, starting with a user message (merge consecutive messages into one)',
      );
    }
  });
  return [system, rest];
}

/** The prompt text for `messages` (see the format above). */
export function applyChatTemplate(messages: readonly ChatMessage[], opts: ApplyChatTemplateOptions = {}): string {
  const [system, turns] = splitConversation(messages);
  const addGenerationPrompt = opts.addGenerationPrompt ?? true;
  const last = turns[turns.length - 1];
  if (addGenerationPrompt && last.role !== 'user') {
    throw invalid('the last message is an assistant answer, so there is nothing to answer', 'end with a user message, or pass addGenerationPrompt: false to render a finished conversation');
  }
  if (opts.input !== undefined && typeof opts.input !== 'string') throw invalid('input must be a string', 'pass the context text as input');
  const sys = system ?? (opts.input !== undefined ? INPUT_SYSTEM_PROMPT : DEFAULT_SYSTEM_PROMPT);
  let out = sys;
  turns.forEach((m, k) => {
    if (m.role === 'user') {
      if (k > 0 || sys !== '') out += SEP;
      out += USER_HEADER + m.content;
      if (k === 0 && opts.input !== undefined) out += INPUT_HEADER + opts.input;
    } else {
      out += ANSWER_HEADER + m.content + EOS_TOKEN;
    }
  });
  if (addGenerationPrompt) out += ANSWER_HEADER;
  return out;
}

/**
 * The same format as a Hugging Face `chat_template` (variables: `messages`, `add_generation_prompt`,
 * `eos_token`, and the optional `input`), for tokenizer_config.json or any Jinja renderer. It raises
 * on the conversations `applyChatTemplate` rejects. Checked against @huggingface/jinja (tests) and
 * against Python jinja2 3.1 with transformers' settings (trim_blocks, lstrip_blocks).
 */
export const FUGAKU_CHAT_TEMPLATE: string =
  "{%- if messages | length == 0 -%}{{ raise_exception('a chat needs at least one message') }}{%- endif -%}" +
  "{%- if messages[0]['role'] == 'system' -%}" +
  "{%- set system_message = messages[0]['content'] -%}{%- set loop_messages = messages[1:] -%}" +
  '{%- else -%}' +
  "{%- if input is defined and input is not none -%}{%- set system_message = '" + INPUT_SYSTEM_PROMPT + "' -%}" +
  "{%- else -%}{%- set system_message = '" + DEFAULT_SYSTEM_PROMPT + "' -%}{%- endif -%}" +
  '{%- set loop_messages = messages -%}' +
  '{%- endif -%}' +
  "{%- if loop_messages | length == 0 -%}{{ raise_exception('the chat has a system message but no user message') }}{%- endif -%}" +
  '{{- system_message -}}' +
  '{%- for message in loop_messages -%}' +
  "{%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) or message['role'] not in ['user', 'assistant'] -%}" +
  "{{ raise_exception('user and assistant messages must alternate, starting with a user message') }}" +
  '{%- endif -%}' +
  "{%- if message['role'] == 'user' -%}" +
  "{%- if not loop.first or system_message != '' -%}{{ '\\n\\n' }}{%- endif -%}" +
  "{{- '### 指示:\\n' + message['content'] -}}" +
  "{%- if loop.first and input is defined and input is not none -%}{{ '\\n\\n### 入力:\\n' + input }}{%- endif -%}" +
  '{%- else -%}' +
  "{{- '\\n\\n### 応答:\\n' + message['content'] + eos_token -}}" +
  '{%- endif -%}' +
  '{%- if loop.last and add_generation_prompt -%}' +
  "{%- if message['role'] != 'user' -%}{{ raise_exception('the last message is an assistant answer, so there is nothing to answer') }}{%- endif -%}" +
  "{{- '\\n\\n### 応答:\\n' -}}" +
  '{%- endif -%}' +
  '{%- endfor -%}';

/**
 * Drops the oldest user/assistant exchanges (keeping the system message and the newest user message,
 * with its answer if it has one) until the rendered prompt takes at most `maxTokens` tokens.
 * `countTokens` counts the tokens of a rendered prompt (encode without special tokens).
 * Throws CONTEXT_OVERFLOW if even the newest message alone does not fit.
 */
export function fitHistory(
  messages: readonly ChatMessage[],
  countTokens: (text: string) => number,
  maxTokens: number,
  opts: ApplyChatTemplateOptions = {},
): ChatMessage[] {
  const [system, turns] = splitConversation(messages);
  const head: ChatMessage[] = system === null ? [] : [messages[0]];
  const lastUser = turns.length - 1 - ((turns.length - 1) % 2); // user messages are at even positions
  const render = (kept: readonly ChatMessage[]): number =>
    countTokens(applyChatTemplate([...head, ...kept], { ...opts, addGenerationPrompt: opts.addGenerationPrompt ?? kept[kept.length - 1].role === 'user' }));
  let n = 0;
  for (let start = 0; start <= lastUser; start += 2) {
    const kept = turns.slice(start);
    n = render(kept);
    if (n <= maxTokens) return [...head, ...kept];
  }
  throw new FugakuError(
    'CONTEXT_OVERFLOW',
    `the newest message alone makes a prompt of ${n} tokens, more than the ${maxTokens} available`,
    'shorten the message (or the system prompt), or allow fewer new tokens',
  );
}

/**
 * What to tell the user about a model's own chat template (`tokenizer.chat_template` of a GGUF file,
 * `chat_template` of tokenizer_config.json): null when it has none or it is FUGAKU_CHAT_TEMPLATE,
 * else a note that the built-in Fugaku-LLM instruct format is used instead (Jinja is not run here).
 */
export function chatTemplateNote(template: string | null): string | null {
  if (template === null || template.trim() === '' || template === FUGAKU_CHAT_TEMPLATE) return null;
  return `the model declares its own chat template (${template.length} characters); this runtime formats chats with the built-in Fugaku-LLM instruct format (src/chat/template.ts), not with that template`;
}
