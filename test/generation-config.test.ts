/**
 * Generation config resolution with HF GenerationConfig semantics: defaults, precedence (library <
 * generation_config.json < call options), snake_case parsing, EOS normalization, validation errors, length limits.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { modelDirs } from './helpers.js';
import {
  DEFAULT_GENERATION_CONFIG,
  GENERATION_OPTION_NAMES,
  generationConfigFromJSON,
  resolveGenerationConfig,
  resolveLengthLimits,
  type GenerationConfig,
} from '../src/generation/config.js';
import { buildLogitsProcessors } from '../src/generation/processors.js';
import { FugakuError } from '../src/errors.js';

const readJSON = (file: string): Record<string, unknown> => JSON.parse(fs.readFileSync(file, 'utf8'));

/** Asserts `fn` throws GENERATION_CONFIG_INVALID whose message mentions every string in `mentions`. */
function assertInvalid(fn: () => unknown, ...mentions: string[]): FugakuError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof FugakuError, `expected a FugakuError, got ${String(caught)}`);
  assert.equal(caught.code, 'GENERATION_CONFIG_INVALID', caught.message);
  for (const m of mentions) assert.ok(caught.message.includes(m), `message ${JSON.stringify(caught.message)} should mention ${m}`);
  assert.ok(caught.hint && caught.hint.length > 0, 'a hint is given');
  return caught;
}

const resolve = (options?: Record<string, unknown>, file: Record<string, unknown> | null = null): GenerationConfig =>
  resolveGenerationConfig(file, { eosTokenId: 7, bosTokenId: 1, padTokenId: 4 }, options);

describe('defaults', () => {
  test('HF library defaults (GenerationConfig())', () => {
    const cfg = resolveGenerationConfig(null, {});
    assert.deepEqual(cfg, {
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
      eosTokenId: [],
      padTokenId: null,
      bosTokenId: null,
      numReturnSequences: 1,
      seed: null,
      stopStrings: null,
      maxTime: null,
      outputLogprobs: null,
      hasDefaultMaxLength: true,
    });
    assert.deepEqual({ ...cfg }, { ...DEFAULT_GENERATION_CONFIG });
  });

  test('the returned config is a fresh object (defaults are not shared or mutated)', () => {
    const a = resolveGenerationConfig(null, { eosTokenId: [7, 8] });
    a.eosTokenId.push(9);
    const b = resolveGenerationConfig(null, {});
    assert.deepEqual(b.eosTokenId, []);
    assert.deepEqual(DEFAULT_GENERATION_CONFIG.eosTokenId, []);
  });

  test('option names are the camelCase config fields (without the derived hasDefaultMaxLength)', () => {
    assert.deepEqual(
      [...GENERATION_OPTION_NAMES].sort(),
      Object.keys(DEFAULT_GENERATION_CONFIG).filter((k) => k !== 'hasDefaultMaxLength').sort(),
    );
    assertInvalid(() => resolve({ hasDefaultMaxLength: false }), 'hasDefaultMaxLength');
  });
});

describe('overlay order: library < generation_config.json < options', () => {
  test('each layer overrides the previous one, key by key', () => {
    const file = { do_sample: true, top_k: 20, temperature: 0.7, top_p: 0.9, max_new_tokens: 64 };
    const cfg = resolve({ temperature: 0.5, maxNewTokens: 10 }, file);
    assert.equal(cfg.doSample, true); // file
    assert.equal(cfg.topK, 20); // file over library 50
    assert.equal(cfg.topP, 0.9); // file
    assert.equal(cfg.temperature, 0.5); // options over file 0.7
    assert.equal(cfg.maxNewTokens, 10); // options over file 64
    assert.equal(cfg.typicalP, 1.0); // library
    assert.equal(cfg.maxLength, 20); // library
  });

  test('an option equal to the library default still overrides the file (top_k=50 wins over the file 20)', () => {
    assert.equal(resolve({ topK: 50 }, { top_k: 20 }).topK, 50);
  });

  test('undefined options are "not given"; null means HF None (the neutral value)', () => {
    assert.equal(resolve({ topK: undefined }, { top_k: 20 }).topK, 20);
    assert.equal(resolve({ topK: null }, { top_k: 20 }).topK, 0);
    const fromFile = resolve({ doSample: true }, { top_k: null, temperature: null, top_p: null });
    assert.equal(fromFile.topK, 0);
    assert.equal(fromFile.temperature, 1.0);
    assert.deepEqual(buildLogitsProcessors(fromFile, 3), []);
    assert.equal(resolve({ maxNewTokens: null }, { max_new_tokens: 30 }).maxNewTokens, null);
  });
});

describe('generation_config.json parsing', () => {
  test('the shipped tiny-ja-demo generation_config.json', () => {
    const json = readJSON(path.join(modelDirs['tiny-ja-demo'], 'generation_config.json'));
    // {_from_model_config, bos 1, eos 7, output_attentions, output_hidden_states, pad 4, transformers_version, use_cache}
    assert.deepEqual(generationConfigFromJSON(json), { bosTokenId: 1, eosTokenId: [7], padTokenId: 4 });
    const modelConfig = readJSON(path.join(modelDirs['tiny-ja-demo'], 'config.json'));
    const cfg = resolveGenerationConfig(json, { eosTokenId: modelConfig.eos_token_id as number }, { maxNewTokens: 16 });
    assert.deepEqual(cfg.eosTokenId, [7]);
    assert.equal(cfg.bosTokenId, 1);
    assert.equal(cfg.padTokenId, 4);
    assert.equal(cfg.maxNewTokens, 16);
    assert.equal(cfg.topK, 50);
  });

  test('every supported snake_case key maps to its camelCase field', () => {
    const json = {
      max_new_tokens: 5,
      max_length: 30,
      min_new_tokens: 2,
      min_length: 3,
      do_sample: true,
      temperature: 0.8,
      top_k: 10,
      top_p: 0.95,
      min_p: 0.1,
      typical_p: 0.9,
      repetition_penalty: 1.1,
      no_repeat_ngram_size: 3,
      bad_words_ids: [[1, 2], [3]],
      suppress_tokens: [4],
      eos_token_id: [7, 8],
      pad_token_id: 0,
      bos_token_id: 1,
      num_return_sequences: 2,
      stop_strings: 'END',
      max_time: 1.5,
    };
    assert.deepEqual(generationConfigFromJSON(json), {
      maxNewTokens: 5,
      maxLength: 30,
      minNewTokens: 2,
      minLength: 3,
      doSample: true,
      temperature: 0.8,
      topK: 10,
      topP: 0.95,
      minP: 0.1,
      typicalP: 0.9,
      repetitionPenalty: 1.1,
      noRepeatNgramSize: 3,
      badWordsIds: [[1, 2], [3]],
      suppressTokens: [4],
      eosTokenId: [7, 8],
      padTokenId: 0,
      bosTokenId: 1,
      numReturnSequences: 2,
      stopStrings: ['END'],
      maxTime: 1.5,
    });
  });

  test('HF keys without effect here, and unknown keys, are ignored; neutral unsupported keys are accepted', () => {
    const json = {
      transformers_version: '4.38.2',
      _from_model_config: true,
      use_cache: true,
      output_scores: false,
      early_stopping: true,
      length_penalty: 2.0,
      renormalize_logits: true,
      num_beams: 1,
      epsilon_cutoff: 0.0,
      encoder_repetition_penalty: 1.0,
      some_custom_key: 'x',
    };
    assert.deepEqual(generationConfigFromJSON(json), {});
  });

  test('decoding options this runtime does not implement are an error when active', () => {
    assertInvalid(() => generationConfigFromJSON({ num_beams: 4 }), 'num_beams', '4');
    assertInvalid(() => generationConfigFromJSON({ epsilon_cutoff: 0.001 }), 'epsilon_cutoff');
    assertInvalid(() => generationConfigFromJSON({ sequence_bias: [[[1], -1.0]] }), 'sequence_bias');
    assertInvalid(() => generationConfigFromJSON({ forced_eos_token_id: 7 }), 'forced_eos_token_id');
    assertInvalid(() => resolve({}, { penalty_alpha: 0.6 }), 'penalty_alpha');
  });

  test('wrong types in the file are an error naming the key', () => {
    assertInvalid(() => generationConfigFromJSON({ top_k: '50' }), 'top_k', '"50"');
    assertInvalid(() => generationConfigFromJSON({ do_sample: 1 }), 'do_sample');
    assertInvalid(() => generationConfigFromJSON({ eos_token_id: '7' }), 'eos_token_id');
    assertInvalid(() => generationConfigFromJSON({ bad_words_ids: [1, 2] }), 'bad_words_ids');
    assertInvalid(() => generationConfigFromJSON({ stop_strings: [1] }), 'stop_strings');
    assertInvalid(() => generationConfigFromJSON([] as unknown as Record<string, unknown>), 'object');
  });

  test('range errors from the file surface at resolve time', () => {
    assertInvalid(() => resolve({}, { top_p: 1.5 }), 'topP', 'top_p', '1.5');
  });
});

describe('special tokens and EOS normalization', () => {
  test('eos: int -> [int], list kept, from the model config when absent', () => {
    assert.deepEqual(resolveGenerationConfig({ eos_token_id: 7 }, {}).eosTokenId, [7]);
    assert.deepEqual(resolveGenerationConfig({ eos_token_id: [7, 2] }, {}).eosTokenId, [7, 2]);
    assert.deepEqual(resolveGenerationConfig(null, { eosTokenId: 3 }).eosTokenId, [3]);
    assert.deepEqual(resolveGenerationConfig(null, { eosTokenId: [3, 4] }).eosTokenId, [3, 4]);
    assert.deepEqual(resolveGenerationConfig({}, { eosTokenId: null }).eosTokenId, []);
    assert.deepEqual(resolveGenerationConfig(null, { eosTokenId: 3 }, { eosTokenId: 9 }).eosTokenId, [9]);
    assert.deepEqual(resolveGenerationConfig(null, { eosTokenId: 3 }, { eosTokenId: [9, 10] }).eosTokenId, [9, 10]);
    // explicitly none: the model config's EOS is not used
    assert.deepEqual(resolveGenerationConfig(null, { eosTokenId: 3 }, { eosTokenId: null }).eosTokenId, []);
    assert.deepEqual(resolveGenerationConfig({ eos_token_id: 5 }, { eosTokenId: 3 }).eosTokenId, [5]);
  });

  test('bos/pad come from the model config when absent; pad falls back to the first EOS (HF _prepare_special_tokens)', () => {
    const cfg = resolveGenerationConfig(null, { eosTokenId: [7, 8], bosTokenId: 1, padTokenId: null });
    assert.equal(cfg.bosTokenId, 1);
    assert.equal(cfg.padTokenId, 7);
    assert.equal(resolveGenerationConfig(null, { eosTokenId: 7, padTokenId: 4 }).padTokenId, 4);
    assert.equal(resolveGenerationConfig({ pad_token_id: 2 }, { padTokenId: 4 }).padTokenId, 2);
    assert.equal(resolveGenerationConfig(null, { padTokenId: 4 }, { padTokenId: 0 }).padTokenId, 0);
    assert.equal(resolveGenerationConfig(null, {}).padTokenId, null);
  });

  test('stop strings: a string becomes a one-element list', () => {
    assert.deepEqual(resolve({ stopStrings: '###' }).stopStrings, ['###']);
    assert.deepEqual(resolve({ stopStrings: ['a', 'b'] }).stopStrings, ['a', 'b']);
  });
});

describe('validation errors (GENERATION_CONFIG_INVALID)', () => {
  test('temperature <= 0 is rejected when sampling only', () => {
    assertInvalid(() => resolve({ doSample: true, temperature: 0 }), 'temperature', '0');
    assertInvalid(() => resolve({ doSample: true, temperature: -1 }), 'temperature', '-1');
    assert.equal(resolve({ doSample: false, temperature: 0 }).temperature, 0); // HF only warns
    assertInvalid(() => resolve({ temperature: Infinity }), 'temperature');
  });

  test('top_p outside [0, 1]', () => {
    assertInvalid(() => resolve({ topP: 1.5 }), 'topP', '1.5');
    assertInvalid(() => resolve({ topP: -0.1 }), 'topP', '-0.1');
    assert.equal(resolve({ topP: 0 }).topP, 0);
    assert.equal(resolve({ topP: 1 }).topP, 1);
  });

  test('top_k negative or non-integer', () => {
    assertInvalid(() => resolve({ topK: -1 }), 'topK', '-1');
    assertInvalid(() => resolve({ topK: 2.5 }), 'topK', '2.5');
    assert.equal(resolve({ topK: 0 }).topK, 0);
  });

  test('min_p outside [0, 1]', () => {
    assertInvalid(() => resolve({ minP: -0.1 }), 'minP');
    assertInvalid(() => resolve({ minP: 1.1 }), 'minP', '1.1');
    assert.equal(resolve({ minP: 0 }).minP, 0);
  });

  test('typical_p outside (0, 1]', () => {
    assertInvalid(() => resolve({ typicalP: 0 }), 'typicalP');
    assertInvalid(() => resolve({ typicalP: 1.2 }), 'typicalP', '1.2');
  });

  test('repetition_penalty <= 0', () => {
    assertInvalid(() => resolve({ repetitionPenalty: 0 }), 'repetitionPenalty', '0');
    assertInvalid(() => resolve({ repetitionPenalty: -1.2 }), 'repetitionPenalty');
  });

  test('no_repeat_ngram_size negative or non-integer', () => {
    assertInvalid(() => resolve({ noRepeatNgramSize: -1 }), 'noRepeatNgramSize', '-1');
    assertInvalid(() => resolve({ noRepeatNgramSize: 1.5 }), 'noRepeatNgramSize');
  });

  test('max_new_tokens <= 0 (HF validate), lengths not integers', () => {
    assertInvalid(() => resolve({ maxNewTokens: 0 }), 'maxNewTokens', '0');
    assertInvalid(() => resolve({ maxNewTokens: -3 }), 'maxNewTokens');
    assertInvalid(() => resolve({ maxNewTokens: 2.5 }), 'maxNewTokens');
    assertInvalid(() => resolve({ maxLength: 0 }), 'maxLength');
    assertInvalid(() => resolve({ minNewTokens: -1 }), 'minNewTokens');
    assertInvalid(() => resolve({ minLength: -1 }), 'minLength');
  });

  test('num_return_sequences < 1, or > 1 without sampling (HF: greedy does not support it)', () => {
    assertInvalid(() => resolve({ numReturnSequences: 0 }), 'numReturnSequences', '0');
    assertInvalid(() => resolve({ numReturnSequences: 2 }), 'numReturnSequences', 'greedy');
    assert.equal(resolve({ numReturnSequences: 2, doSample: true }).numReturnSequences, 2);
  });

  test('token lists and other options', () => {
    assertInvalid(() => resolve({ badWordsIds: [] }), 'badWordsIds');
    assertInvalid(() => resolve({ badWordsIds: [[]] }), 'badWordsIds');
    assertInvalid(() => resolve({ badWordsIds: [[-1]] }), 'badWordsIds');
    assertInvalid(() => resolve({ suppressTokens: [-2] }), 'suppressTokens');
    assertInvalid(() => resolve({ eosTokenId: [-1] }), 'eosTokenId');
    assertInvalid(() => resolve({ padTokenId: -1 }), 'padTokenId');
    assertInvalid(() => resolve({ seed: 1.5 }), 'seed');
    assertInvalid(() => resolve({ stopStrings: [''] }), 'stopStrings');
    assertInvalid(() => resolve({ maxTime: 0 }), 'maxTime');
    assertInvalid(() => resolve({ outputLogprobs: -1 }), 'outputLogprobs');
    assert.equal(resolve({ seed: 42, outputLogprobs: 5, maxTime: 2 }).seed, 42);
  });

  test('wrong option types', () => {
    assertInvalid(() => resolve({ topK: '50' }), 'topK', '"50"');
    assertInvalid(() => resolve({ doSample: 'yes' }), 'doSample');
    assertInvalid(() => resolve({ eosTokenId: '7' }), 'eosTokenId');
    assertInvalid(() => resolve({ temperature: NaN }), 'temperature');
  });

  test('unknown option names are an error listing the valid names, with a suggestion', () => {
    const e1 = assertInvalid(() => resolve({ top_k: 5 }), 'top_k', 'did you mean topK');
    assert.ok(e1.hint?.includes('maxNewTokens') && e1.hint.includes('repetitionPenalty'));
    assertInvalid(() => resolve({ maxNewToken: 5 }), 'maxNewToken', 'did you mean maxNewTokens');
    assertInvalid(() => resolve({ temprature: 0.5 }), 'did you mean temperature');
    assertInvalid(() => resolve({ numBeams: 4 }), 'numBeams');
    const e2 = assertInvalid(() => resolve({ zzzzzzzzzzzz: 1 }), 'zzzzzzzzzzzz');
    assert.ok(!e2.message.includes('did you mean'));
  });
});

describe('resolveLengthLimits (HF _prepare_generated_length)', () => {
  test('default max_length 20 means 20 new tokens, capped at max_position_embeddings', () => {
    const cfg = resolve({});
    assert.deepEqual(resolveLengthLimits(cfg, 5), { maxLength: 25, minLength: 0, maxNewTokens: 20 });
    assert.deepEqual(resolveLengthLimits(cfg, 5, 16), { maxLength: 16, minLength: 0, maxNewTokens: 11 });
  });

  test('max_new_tokens takes precedence over max_length', () => {
    const cfg = resolve({ maxNewTokens: 7, maxLength: 100 });
    assert.equal(resolveLengthLimits(cfg, 5).maxLength, 12);
  });

  test('max_length given in the call, or != 20 in the file, counts the prompt', () => {
    assert.equal(resolveLengthLimits(resolve({ maxLength: 20 }), 5).maxNewTokens, 15);
    assert.equal(resolveLengthLimits(resolve({}, { max_length: 50 }), 5).maxNewTokens, 45);
    // a file setting max_length to exactly the default 20 is indistinguishable from the default in HF
    assert.equal(resolveLengthLimits(resolve({}, { max_length: 20 }), 5).maxNewTokens, 20);
  });

  test('the prompt reaching max_length is an error (HF raises)', () => {
    assertInvalid(() => resolveLengthLimits(resolve({ maxLength: 10 }), 10), 'maxLength', '10');
  });

  test('min_new_tokens becomes min_length = prompt + min_new_tokens', () => {
    assert.equal(resolveLengthLimits(resolve({ minNewTokens: 3, minLength: 100 }), 5).minLength, 8);
    assert.equal(resolveLengthLimits(resolve({ minLength: 9 }), 5).minLength, 9);
  });
});
