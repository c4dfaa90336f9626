/**
 * Generation configuration with Hugging Face `GenerationConfig` semantics
 * (transformers `generation/configuration_utils.py` and `GenerationMixin._prepare_generation_config`,
 * `_prepare_special_tokens`, `_prepare_generated_length`, `_validate_generated_length` in `generation/utils.py`).
 *
 * Precedence, lowest to highest: library defaults (HF's `GenerationConfig()` defaults: max_length 20, top_k 50,
 * temperature 1.0, top_p 1.0, ...) ← the model's `generation_config.json` (snake_case keys) ← call options
 * (camelCase keys). EOS/BOS/PAD ids missing from both are taken from the model config; a missing PAD falls back to
 * the first EOS id, as HF's `_prepare_special_tokens` does.
 *
 * HF uses `None` to switch a knob off (e.g. `top_k=None` adds no TopKLogitsWarper). Here such knobs are plain
 * numbers, and `null` (in the JSON file or in options) maps to the neutral value HF's `_get_logits_processor` skips:
 * temperature 1.0, top_k 0, top_p 1.0, typical_p 1.0, repetition_penalty 1.0, no_repeat_ngram_size 0,
 * min_length 0, min_new_tokens 0.
 */
import { FugakuError } from '../errors.js';

export interface GenerationConfig {
  /** HF max_new_tokens (null = unset). When set it overrides maxLength: max_length = prompt + max_new_tokens. */
  maxNewTokens: number | null;
  /** HF max_length (prompt included), default 20. See `resolveLengthLimits` for how generate() applies it. */
  maxLength: number;
  /** HF min_new_tokens (0 = unset): EOS is banned until this many tokens were generated. */
  minNewTokens: number;
  /** HF min_length (prompt included, 0 = unset). */
  minLength: number;
  doSample: boolean;
  temperature: number;
  /** 0 disables top-k (HF skips the warper for top_k 0 or None). Default 50, as in HF. */
  topK: number;
  topP: number;
  minP: number | null;
  typicalP: number;
  repetitionPenalty: number;
  noRepeatNgramSize: number;
  badWordsIds: number[][] | null;
  suppressTokens: number[] | null;
  /** normalized to a list (HF accepts an int or a list); [] = no EOS (generation only stops on length/time/strings). */
  eosTokenId: number[];
  padTokenId: number | null;
  bosTokenId: number | null;
  numReturnSequences: number;
  /** Seed of the sampler's `Rng` (not an HF option; HF uses torch's global RNG). null = random seed. */
  seed: number | null;
  stopStrings: string[] | null;
  /** Seconds (HF max_time). */
  maxTime: number | null;
  /** null = none; k = chosen token's logprob plus top-k alternatives per step. Not an HF option. */
  outputLogprobs: number | null;
  /**
   * HF's `has_default_max_length`: true when the call options did not set maxLength. Then, if maxLength is still
   * the library default 20 and maxNewTokens is unset, HF generates 20 *new* tokens (capped at the model's
   * max_position_embeddings). Set by `resolveGenerationConfig`; not accepted as an option.
   */
  hasDefaultMaxLength: boolean;
}

/** Call options: any subset of the config (camelCase). `hasDefaultMaxLength` is derived, not an option. */
export type GenerationOptions = Partial<Omit<GenerationConfig, 'hasDefaultMaxLength'>>;

type OptionName = keyof GenerationOptions;

/** HF's library defaults (`GenerationConfig()`), plus this runtime's extra options. */
export const DEFAULT_GENERATION_CONFIG: Readonly<GenerationConfig> = Object.freeze({
  maxNewTokens: null,
  maxLength: 20,
  minNewTokens: 0,
  minLength: 0,
  doSample: false,
  temperature: 1.0,
  topK: 50,
  topP: 1.0,
  minP: null,
  typicalP: 1.0,
  repetitionPenalty: 1.0,
  noRepeatNgramSize: 0,
  badWordsIds: null,
  suppressTokens: null,
  eosTokenId: Object.freeze([]) as unknown as number[],
  padTokenId: null,
  bosTokenId: null,
  numReturnSequences: 1,
  seed: null,
  stopStrings: null,
  maxTime: null,
  outputLogprobs: null,
  hasDefaultMaxLength: true,
});

/** How each option is typed, and what `null` means for it. */
type Kind =
  | 'int' // integer-valued number (range checked later)
  | 'number'
  | 'bool'
  | 'tokenId'
  | 'eos' // int or list of ints -> list
  | 'idList'
  | 'idListList'
  | 'stringList'; // string or list of strings -> list

interface FieldSpec {
  /** HF's snake_case name in generation_config.json; null for options HF does not have. */
  readonly snake: string | null;
  readonly kind: Kind;
  /** Value that `null` maps to; `undefined` = the field is nullable and keeps null. */
  readonly nullAs?: number | boolean | number[];
}

const FIELDS: Readonly<Record<OptionName, FieldSpec>> = {
  maxNewTokens: { snake: 'max_new_tokens', kind: 'int' },
  maxLength: { snake: 'max_length', kind: 'int', nullAs: 20 },
  minNewTokens: { snake: 'min_new_tokens', kind: 'int', nullAs: 0 },
  minLength: { snake: 'min_length', kind: 'int', nullAs: 0 },
  doSample: { snake: 'do_sample', kind: 'bool', nullAs: false },
  temperature: { snake: 'temperature', kind: 'number', nullAs: 1.0 },
  topK: { snake: 'top_k', kind: 'int', nullAs: 0 },
  topP: { snake: 'top_p', kind: 'number', nullAs: 1.0 },
  minP: { snake: 'min_p', kind: 'number' },
  typicalP: { snake: 'typical_p', kind: 'number', nullAs: 1.0 },
  repetitionPenalty: { snake: 'repetition_penalty', kind: 'number', nullAs: 1.0 },
  noRepeatNgramSize: { snake: 'no_repeat_ngram_size', kind: 'int', nullAs: 0 },
  badWordsIds: { snake: 'bad_words_ids', kind: 'idListList' },
  suppressTokens: { snake: 'suppress_tokens', kind: 'idList' },
  eosTokenId: { snake: 'eos_token_id', kind: 'eos', nullAs: [] },
  padTokenId: { snake: 'pad_token_id', kind: 'tokenId' },
  bosTokenId: { snake: 'bos_token_id', kind: 'tokenId' },
  numReturnSequences: { snake: 'num_return_sequences', kind: 'int', nullAs: 1 },
  seed: { snake: null, kind: 'int' },
  stopStrings: { snake: 'stop_strings', kind: 'stringList' },
  maxTime: { snake: 'max_time', kind: 'number' },
  outputLogprobs: { snake: null, kind: 'int' },
};

/** The valid option names, in documentation order. */
export const GENERATION_OPTION_NAMES: readonly string[] = Object.freeze(Object.keys(FIELDS));

const SNAKE_TO_CAMEL: ReadonlyMap<string, OptionName> = new Map(
  (Object.entries(FIELDS) as [OptionName, FieldSpec][])
    .filter(([, spec]) => spec.snake !== null)
    .map(([camel, spec]) => [spec.snake as string, camel]),
);

/**
 * HF generation_config.json keys that do not influence decoding here, ignored whatever their value: metadata,
 * output/caching switches, beam-only knobs (we never beam-search) and assisted-generation settings (only used with
 * an assistant model). `renormalize_logits` only re-normalizes the processed scores (log_softmax): sampling and
 * argmax see the same distribution.
 */
const IGNORED_HF_KEYS: ReadonlySet<string> = new Set([
  '_from_model_config',
  '_commit_hash',
  '_original_object_hash',
  'transformers_version',
  'use_cache',
  'cache_implementation',
  'cache_config',
  'return_legacy_cache',
  'prefill_chunk_size',
  'compile_config',
  'disable_compile',
  'low_memory',
  'output_attentions',
  'output_hidden_states',
  'output_scores',
  'output_logits',
  'return_dict_in_generate',
  'early_stopping',
  'length_penalty',
  'diversity_penalty',
  'decoder_start_token_id',
  'num_assistant_tokens',
  'num_assistant_tokens_schedule',
  'assistant_confidence_threshold',
  'max_matching_ngram_size',
  'assistant_lookbehind',
  'target_lookbehind',
  'is_assistant',
  'generation_kwargs',
  'renormalize_logits',
  'trust_remote_code',
  'use_model_defaults',
]);

/**
 * HF keys that change decoding but are not implemented here: accepted only at their neutral value (the predicate),
 * otherwise loading fails loudly rather than generating differently from HF.
 */
const UNSUPPORTED_HF_KEYS: ReadonlyMap<string, (v: unknown) => boolean> = new Map<string, (v: unknown) => boolean>([
  ['num_beams', (v) => v === null || v === 1],
  ['num_beam_groups', (v) => v === null || v === 1],
  ['penalty_alpha', (v) => v === null || v === 0],
  ['dola_layers', (v) => v === null],
  ['epsilon_cutoff', (v) => v === null || v === 0],
  ['eta_cutoff', (v) => v === null || v === 0],
  ['encoder_repetition_penalty', (v) => v === null || v === 1],
  ['encoder_no_repeat_ngram_size', (v) => v === null || v === 0],
  ['force_words_ids', (v) => v === null],
  ['constraints', (v) => v === null],
  ['forced_bos_token_id', (v) => v === null],
  ['forced_eos_token_id', (v) => v === null],
  ['remove_invalid_values', (v) => v === null || v === false],
  ['exponential_decay_length_penalty', (v) => v === null],
  ['begin_suppress_tokens', (v) => v === null],
  ['forced_decoder_ids', (v) => v === null],
  ['sequence_bias', (v) => v === null],
  ['guidance_scale', (v) => v === null || v === 1],
  ['watermarking_config', (v) => v === null],
  ['token_healing', (v) => v === null || v === false],
  ['prompt_lookup_num_tokens', (v) => v === null],
  ['assistant_early_exit', (v) => v === null],
  ['top_h', (v) => v === null],
]);

function configError(message: string, hint: string): FugakuError {
  return new FugakuError('GENERATION_CONFIG_INVALID', message, hint);
}

function show(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

function isInt(x: unknown): x is number {
  return typeof x === 'number' && Number.isInteger(x);
}

/** `name (snake_name)` for messages. */
function label(camel: OptionName): string {
  const snake = FIELDS[camel].snake;
  return snake !== null && snake !== camel ? `${camel} (${snake})` : camel;
}

/**
 * Type-checks and normalizes one value. `where` names the source for messages ("option topK",
 * "generation_config.json key top_k"). Range checks happen later, on the merged config.
 */
function coerceField(camel: OptionName, value: unknown, where: string): unknown {
  const spec = FIELDS[camel];
  const fail = (expected: string): FugakuError =>
    configError(
      `${where} must be ${expected}, got ${show(value)} (${typeName(value)})`,
      `set ${label(camel)} to ${expected}, or to null for ${spec.nullAs === undefined ? 'none' : `its neutral value ${show(spec.nullAs)}`}`,
    );
  if (value === null) return spec.nullAs === undefined ? null : Array.isArray(spec.nullAs) ? [] : spec.nullAs;
  switch (spec.kind) {
    case 'int':
    case 'number':
      if (typeof value !== 'number' || Number.isNaN(value)) throw fail('a number');
      return value;
    case 'bool':
      if (typeof value !== 'boolean') throw fail('a boolean');
      return value;
    case 'tokenId':
      if (!isInt(value)) throw fail('an integer token id');
      return value;
    case 'eos':
      if (isInt(value)) return [value];
      if (Array.isArray(value) && value.every(isInt)) return [...value];
      throw fail('an integer token id or a list of them');
    case 'idList':
      if (Array.isArray(value) && value.every(isInt)) return [...value];
      throw fail('a list of integer token ids');
    case 'idListList':
      if (Array.isArray(value) && value.every((s) => Array.isArray(s) && s.every(isInt))) {
        return value.map((s: number[]) => [...s]);
      }
      throw fail('a list of lists of integer token ids');
    case 'stringList':
      if (typeof value === 'string') return [value];
      if (Array.isArray(value) && value.every((s) => typeof s === 'string')) return [...value];
      throw fail('a string or a list of strings');
  }
}

/**
 * Reads a model's `generation_config.json` (snake_case) into options (camelCase), keeping only the keys present.
 * HF keys that do not matter here are ignored (metadata, caching, output flags, beam-only knobs), as are keys HF
 * does not know (HF stores them as free attributes). Keys we use are type-checked; decoding options we do not
 * implement (num_beams > 1, epsilon_cutoff, sequence_bias, ...) are an error unless at their neutral value.
 */
export function generationConfigFromJSON(json: Record<string, unknown>): GenerationOptions {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw configError(
      `generation_config.json must hold a JSON object, got ${typeName(json)}`,
      'fix or delete the generation_config.json file',
    );
  }
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(json)) {
    const camel = SNAKE_TO_CAMEL.get(key);
    if (camel !== undefined) {
      out[camel] = coerceField(camel, value, `generation_config.json key ${key}`);
      continue;
    }
    const neutral = UNSUPPORTED_HF_KEYS.get(key);
    if (neutral !== undefined && !neutral(value)) {
      throw configError(
        `generation_config.json sets ${key}=${show(value)}, which this runtime does not implement`,
        `remove ${key} from generation_config.json (supported: ${[...SNAKE_TO_CAMEL.keys()].join(', ')})`,
      );
    }
    // IGNORED_HF_KEYS and unknown keys: nothing to do.
  }
  return out as GenerationOptions;
}

function editDistance(a: string, b: string): number {
  const dp = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = dp[0];
    dp[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = dp[j];
      dp[j] = Math.min(dp[j] + 1, dp[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return dp[b.length];
}

/** Best guess for a mistyped option name (snake_case spelling, case, or a near miss), or null. */
function suggestOption(key: string): string | null {
  const viaSnake = SNAKE_TO_CAMEL.get(key);
  if (viaSnake !== undefined) return viaSnake;
  const camelized = key.replace(/[_-]([a-z0-9])/g, (_, c: string) => c.toUpperCase());
  let best: string | null = null;
  let bestDistance = Infinity;
  for (const name of GENERATION_OPTION_NAMES) {
    if (name.toLowerCase() === camelized.toLowerCase()) return name;
    const d = editDistance(camelized.toLowerCase(), name.toLowerCase());
    if (d < bestDistance) {
      bestDistance = d;
      best = name;
    }
  }
  return bestDistance <= 3 ? best : null;
}

/** Type-checks call options (camelCase); unknown keys are an error listing the valid names. */
function parseOptions(options: Record<string, unknown>): GenerationOptions {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw configError(`generation options must be an object, got ${typeName(options)}`, 'pass an object such as { maxNewTokens: 64 }');
  }
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(options)) {
    if (!Object.prototype.hasOwnProperty.call(FIELDS, key)) {
      const guess = suggestOption(key);
      throw configError(
        `unknown generation option ${JSON.stringify(key)}${guess ? ` (did you mean ${guess}?)` : ''}`,
        `valid options: ${GENERATION_OPTION_NAMES.join(', ')}`,
      );
    }
    if (value === undefined) continue; // an absent value, e.g. from `{ topK: flags.topK }`
    out[key] = coerceField(key as OptionName, value, `option ${key}`);
  }
  return out as GenerationOptions;
}

function normalizeEos(eos: number | number[] | null | undefined): number[] {
  if (eos === null || eos === undefined) return [];
  return Array.isArray(eos) ? [...eos] : [eos];
}

/**
 * Range checks on the merged config. HF raises for some of these in `GenerationConfig.validate()` and others only
 * when the logits processor is constructed (`TopKLogitsWarper(-1)` raises); here they are all checked up front.
 * Deliberate differences from HF, which ignores these silently: top_p > 1, typical_p > 1 or <= 0, and a negative
 * no_repeat_ngram_size are rejected. Sampling-only knobs are range-checked even without doSample (HF warns that
 * they are unused), except temperature, where HF accepts e.g. temperature=0 with do_sample=False.
 */
export function validateGenerationConfig(cfg: GenerationConfig): void {
  const bad = (camel: OptionName, requirement: string, hint?: string): FugakuError =>
    configError(`${label(camel)} ${requirement}, got ${show(cfg[camel])}`, hint ?? `fix ${camel} in the call options or generation_config.json`);
  const isNonNegInt = (x: unknown): boolean => isInt(x) && x >= 0;

  if (cfg.maxNewTokens !== null && !(isInt(cfg.maxNewTokens) && cfg.maxNewTokens > 0)) {
    throw bad('maxNewTokens', 'must be an integer greater than 0');
  }
  if (!(isInt(cfg.maxLength) && cfg.maxLength > 0)) throw bad('maxLength', 'must be a positive integer');
  if (!isNonNegInt(cfg.minNewTokens)) throw bad('minNewTokens', 'must be a non-negative integer');
  if (!isNonNegInt(cfg.minLength)) throw bad('minLength', 'must be a non-negative integer');
  if (!Number.isFinite(cfg.temperature)) throw bad('temperature', 'must be a finite number');
  if (cfg.doSample && !(cfg.temperature > 0)) {
    throw bad(
      'temperature',
      'has to be a strictly positive float when sampling, otherwise the next token scores are invalid',
      'for greedy decoding set doSample: false; otherwise use a temperature > 0',
    );
  }
  if (!isNonNegInt(cfg.topK)) throw bad('topK', 'must be a non-negative integer (0 disables top-k)');
  // HF's TopPLogitsWarper rejects top_p < 0; top_p = 0 keeps only the most probable token.
  if (!(cfg.topP >= 0 && cfg.topP <= 1)) throw bad('topP', 'must be in [0, 1] (1 disables top-p)');
  if (cfg.minP !== null && !(cfg.minP >= 0 && cfg.minP <= 1)) throw bad('minP', 'must be in [0, 1] or null');
  if (!(cfg.typicalP > 0 && cfg.typicalP <= 1)) throw bad('typicalP', 'must be in (0, 1] (1 disables typical sampling)');
  if (!(cfg.repetitionPenalty > 0 && Number.isFinite(cfg.repetitionPenalty))) {
    throw bad('repetitionPenalty', 'has to be a strictly positive float (1.0 = no penalty)');
  }
  if (!isNonNegInt(cfg.noRepeatNgramSize)) throw bad('noRepeatNgramSize', 'must be a non-negative integer (0 disables it)');
  if (cfg.badWordsIds !== null) {
    if (cfg.badWordsIds.length === 0 || !cfg.badWordsIds.every((s) => s.length > 0 && s.every(isNonNegInt))) {
      throw bad('badWordsIds', 'has to be a non-empty list of non-empty lists of non-negative token ids', 'use null for none');
    }
  }
  if (cfg.suppressTokens !== null && !cfg.suppressTokens.every(isNonNegInt)) {
    throw bad('suppressTokens', 'has to be a list of non-negative token ids');
  }
  if (!cfg.eosTokenId.every(isNonNegInt)) throw bad('eosTokenId', 'has to hold non-negative token ids');
  if (cfg.padTokenId !== null && !isNonNegInt(cfg.padTokenId)) throw bad('padTokenId', 'has to be a non-negative token id');
  if (cfg.bosTokenId !== null && !isNonNegInt(cfg.bosTokenId)) throw bad('bosTokenId', 'has to be a non-negative token id');
  if (!(isInt(cfg.numReturnSequences) && cfg.numReturnSequences >= 1)) {
    throw bad('numReturnSequences', 'must be an integer >= 1');
  }
  if (cfg.numReturnSequences !== 1 && !cfg.doSample) {
    // GenerationConfig.validate(): "Greedy methods without beam search do not support `num_return_sequences`
    // different than 1".
    throw bad(
      'numReturnSequences',
      'must be 1 for greedy decoding (greedy methods without beam search do not support num_return_sequences != 1)',
      'set doSample: true to draw several sequences, or numReturnSequences: 1',
    );
  }
  if (cfg.seed !== null && !Number.isSafeInteger(cfg.seed)) throw bad('seed', 'must be a safe integer or null');
  if (cfg.stopStrings !== null && !cfg.stopStrings.every((s) => typeof s === 'string' && s.length > 0)) {
    throw bad('stopStrings', 'must hold non-empty strings');
  }
  if (cfg.maxTime !== null && !(cfg.maxTime > 0 && Number.isFinite(cfg.maxTime))) {
    throw bad('maxTime', 'must be a positive number of seconds or null');
  }
  if (cfg.outputLogprobs !== null && !isNonNegInt(cfg.outputLogprobs)) {
    throw bad('outputLogprobs', 'must be a non-negative integer (number of alternatives) or null');
  }
}

/**
 * Resolves the generation config HF's `generate` would use: library defaults ← `modelGenerationConfig`
 * (the parsed generation_config.json object, snake_case; null when the model has none) ← `options` (camelCase).
 * EOS/BOS/PAD absent from both the file and the options come from `modelConfig`; PAD then falls back to the first
 * EOS id. Validates the result; every problem is a `GENERATION_CONFIG_INVALID` FugakuError naming the field,
 * its value and a hint.
 */
export function resolveGenerationConfig(
  modelGenerationConfig: Record<string, unknown> | null,
  modelConfig: { eosTokenId?: number | number[] | null; bosTokenId?: number | null; padTokenId?: number | null },
  options?: Record<string, unknown>,
): GenerationConfig {
  const fromFile = modelGenerationConfig ? generationConfigFromJSON(modelGenerationConfig) : {};
  const fromCall = parseOptions(options ?? {});
  const cfg: GenerationConfig = {
    ...DEFAULT_GENERATION_CONFIG,
    eosTokenId: [],
    ...fromFile,
    ...fromCall,
    hasDefaultMaxLength: fromCall.maxLength === undefined,
  };
  const given = (k: OptionName): boolean => fromFile[k] !== undefined || fromCall[k] !== undefined;
  if (!given('eosTokenId')) cfg.eosTokenId = normalizeEos(modelConfig.eosTokenId);
  if (!given('bosTokenId')) cfg.bosTokenId = modelConfig.bosTokenId ?? null;
  if (!given('padTokenId')) cfg.padTokenId = modelConfig.padTokenId ?? null;
  // _prepare_special_tokens: "Setting `pad_token_id` to `eos_token_id`:{eos} for open-end generation."
  if (cfg.padTokenId === null && cfg.eosTokenId.length > 0) cfg.padTokenId = cfg.eosTokenId[0];
  validateGenerationConfig(cfg);
  return cfg;
}

/**
 * The length limits HF's `generate` derives for a prompt of `promptLength` tokens (`_prepare_generated_length` and
 * `_validate_generated_length`):
 *  - maxNewTokens set: maxLength = promptLength + maxNewTokens (it takes precedence over maxLength);
 *  - else, maxLength not given in the call and equal to the default 20: "by default let's always generate 20 new
 *    tokens" — maxLength = promptLength + 20, capped at `maxPositionEmbeddings` (GPT-2's n_positions) when given;
 *  - else maxLength as configured (it counts the prompt).
 * minLength = promptLength + minNewTokens when minNewTokens is set, else minLength.
 * Throws GENERATION_CONFIG_INVALID when the prompt already reaches maxLength (HF raises a ValueError).
 */
export function resolveLengthLimits(
  cfg: GenerationConfig,
  promptLength: number,
  maxPositionEmbeddings: number | null = null,
): { maxLength: number; minLength: number; maxNewTokens: number } {
  let maxLength = cfg.maxLength;
  if (cfg.maxNewTokens !== null) {
    maxLength = promptLength + cfg.maxNewTokens;
  } else if (cfg.hasDefaultMaxLength && cfg.maxLength === DEFAULT_GENERATION_CONFIG.maxLength) {
    maxLength = promptLength + cfg.maxLength;
    if (maxPositionEmbeddings !== null) maxLength = Math.min(maxLength, maxPositionEmbeddings);
  }
  if (promptLength >= maxLength) {
    throw configError(
      `input length is ${promptLength} tokens, but maxLength (max_length) is ${maxLength}`,
      'increase maxLength or, better, set maxNewTokens',
    );
  }
  const minLength = cfg.minNewTokens > 0 ? promptLength + cfg.minNewTokens : cfg.minLength;
  return { maxLength, minLength, maxNewTokens: maxLength - promptLength };
}
