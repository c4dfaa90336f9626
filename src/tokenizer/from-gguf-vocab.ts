/**
 * The tokenizer of a GGUF file that carries no `fugaku.tokenizer_json` (llama.cpp's own conversions,
 * community files): a tokenizer.json document synthesized from the `tokenizer.ggml.*` keys alone, so
 * that `PreTrainedTokenizer.fromJSON` builds it exactly as it builds the Hugging Face file.
 *
 * Accepted: `tokenizer.ggml.model` 'llama' (SentencePiece) or 't5' (SentencePiece Unigram) whose
 * pieces/scores are a Unigram model (the llm-jp tokenizer of Fugaku-LLM is one; the runtime only runs
 * gpt2-architecture Fugaku-LLM files anyway), with an empty or absent `precompiled_charsmap`.
 *
 * What is built (docs/GGUF.md "Vocabulary from tokenizer.ggml.*"):
 *  - model: Unigram over `tokens`/`scores` in id order, `unk_id` = `unknown_token_id` (else the first
 *    type-2 token), `byte_fallback` when any token has type 6 (byte);
 *  - type 5 (unused) tokens never match text and decode to nothing. Trailing ones (the `[PADn]` rows
 *    `fugaku convert` adds up to the embedding size) are left out of the vocabulary, exactly as the
 *    Hugging Face tokenizer has no such ids; unused tokens between others keep their ids;
 *  - added tokens: type 2 (unknown) and 3 (control) special, type 4 (user-defined) non-special, all
 *    matched in the raw text (`normalized: false`, llama.cpp's partition rule);
 *  - normalizer: spaces → "▁", plus a leading "▁" when `add_space_prefix` (llama.cpp's default: true
 *    for 'llama', false for 't5'); runs of spaces collapsed/trimmed when `remove_extra_whitespaces`;
 *  - post-processor: `<bos>` before / `<eos>` after the text per `add_bos_token` / `add_eos_token`
 *    (llama.cpp's rule and defaults: 'llama' bos only, 't5' eos only). The Hugging Face llm-jp file
 *    instead appends `<EOD|LLM-jp>`; with `addSpecialTokens: false` (what the CLI and server use for
 *    prompts) both agree;
 *  - decoder: byte fallback, "▁" → " ", and the leading space removed when `add_space_prefix`;
 *  - bos/eos/unk/pad tokens from `bos_token_id` / `eos_token_id` / `unknown_token_id` / `padding_token_id`.
 */
import { FugakuError } from '../errors.js';
import type { GGUFFile, GGUFTypedValue } from '../io/gguf.js';
import type { JsonObject } from './json.js';

export const GGUF_TOKEN_TYPE = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const;

/** The tokenizer_config.json-like object naming the special tokens, next to the tokenizer.json. */
export interface SynthesizedTokenizer {
  tokenizerJson: JsonObject;
  tokenizerConfig: JsonObject;
  /** Ids of type-5 tokens that keep their ids inside the vocabulary (they decode to nothing). */
  hiddenIds: number[];
}

type Meta = Pick<GGUFFile, 'file' | 'metadata'>;

const SUPPORTED = "tokenizer.ggml.model 'llama' or 't5' with a SentencePiece Unigram vocabulary (the llm-jp tokenizer of Fugaku-LLM)";

function unsupportedTok(file: string, what: string): FugakuError {
  return new FugakuError(
    'TOKENIZER_UNSUPPORTED',
    `${file}: ${what}`,
    `this runtime builds the tokenizer of a GGUF file from its fugaku.tokenizer_json key (\`fugaku convert\`) or from ${SUPPORTED}; ` +
      'convert the Hugging Face checkpoint with `fugaku convert`, or pass the original model folder',
  );
}

function invalidTok(file: string, what: string): FugakuError {
  return new FugakuError('TOKENIZER_INVALID', `${file}: ${what}`, 'the file\'s tokenizer.ggml.* keys are incomplete or inconsistent; re-download it or convert the model again with `fugaku convert`');
}

function arrayKey(g: Meta, key: string): GGUFTypedValue & { type: 'array' } {
  const v = g.metadata.get(key);
  if (v === undefined) throw invalidTok(g.file, `metadata "${key}" is missing`);
  if (v.type !== 'array') throw invalidTok(g.file, `metadata "${key}" should be an array but is ${v.type}`);
  return v;
}

function optInt(g: Meta, key: string, n: number): number | null {
  const v = g.metadata.get(key);
  if (v === undefined) return null;
  let x: number;
  if (v.type === 'uint64' || v.type === 'int64') x = Number(v.value);
  else if (v.type === 'uint8' || v.type === 'int8' || v.type === 'uint16' || v.type === 'int16' || v.type === 'uint32' || v.type === 'int32') x = v.value;
  else throw invalidTok(g.file, `metadata "${key}" should be an integer but is ${v.type}`);
  // llama.cpp ignores ids outside the vocabulary (a warning, "bad special token"); -1 / 0xFFFFFFFF mean none.
  return Number.isInteger(x) && x >= 0 && x < n ? x : null;
}

function optBool(g: Meta, key: string, dflt: boolean): boolean {
  const v = g.metadata.get(key);
  if (v === undefined) return dflt;
  if (v.type !== 'bool') throw invalidTok(g.file, `metadata "${key}" should be a bool but is ${v.type}`);
  return v.value;
}

const replace = (regex: string, content: string): JsonObject => ({ type: 'Replace', pattern: { Regex: regex }, content });

/** Builds the tokenizer.json equivalent of a GGUF file's `tokenizer.ggml.*` keys. */
export function tokenizerFromGGUFVocab(g: Meta): SynthesizedTokenizer {
  // Another architecture's 'llama' vocabulary may be SentencePiece BPE, which a Unigram would not reproduce.
  const arch = g.metadata.get('general.architecture');
  if (arch?.type !== 'string' || arch.value !== 'gpt2') {
    throw new FugakuError(
      'ARCH_UNSUPPORTED',
      `${g.file}: general.architecture is ${arch === undefined ? 'missing' : JSON.stringify(arch.value)}; only "gpt2" (Fugaku-LLM) files are supported, and their tokenizer is rebuilt from tokenizer.ggml.*`,
      'use a Fugaku-LLM GGUF file (general.architecture gpt2), or convert the checkpoint with `fugaku convert`',
    );
  }
  const modelKey = g.metadata.get('tokenizer.ggml.model');
  if (modelKey === undefined) throw unsupportedTok(g.file, 'has neither fugaku.tokenizer_json nor tokenizer.ggml.model metadata (no tokenizer)');
  if (modelKey.type !== 'string') throw invalidTok(g.file, `metadata "tokenizer.ggml.model" should be a string but is ${modelKey.type}`);
  const model = modelKey.value;
  if (model !== 'llama' && model !== 't5') {
    throw unsupportedTok(g.file, `tokenizer.ggml.model is ${JSON.stringify(model)}, which cannot be rebuilt exactly here (only 'llama' and 't5' SentencePiece Unigram vocabularies)`);
  }
  const charsmap = g.metadata.get('tokenizer.ggml.precompiled_charsmap');
  if (charsmap !== undefined && (charsmap.type !== 'array' || charsmap.value.length > 0)) {
    throw unsupportedTok(g.file, 'tokenizer.ggml.precompiled_charsmap is not empty (a SentencePiece normalization table, which this runtime does not implement)');
  }
  if (optBool(g, 'tokenizer.ggml.treat_whitespace_as_suffix', false)) {
    throw unsupportedTok(g.file, 'tokenizer.ggml.treat_whitespace_as_suffix is true (not supported)');
  }

  const tokensKey = arrayKey(g, 'tokenizer.ggml.tokens');
  if (tokensKey.itemType !== 'string') throw invalidTok(g.file, 'tokenizer.ggml.tokens is not an array of strings');
  const tokens = tokensKey.value as string[];
  const n = tokens.length;
  if (n === 0) throw invalidTok(g.file, 'tokenizer.ggml.tokens is empty');
  const scoresKey = g.metadata.get('tokenizer.ggml.scores');
  if (scoresKey === undefined) throw unsupportedTok(g.file, 'has no tokenizer.ggml.scores (a Unigram vocabulary needs the piece scores)');
  if (scoresKey.type !== 'array' || (scoresKey.itemType !== 'float32' && scoresKey.itemType !== 'float64') || scoresKey.value.length !== n) {
    throw invalidTok(g.file, `tokenizer.ggml.scores must be ${n} floats (one per token)`);
  }
  const scores = scoresKey.value as Float32Array | Float64Array;
  const typesKey = g.metadata.get('tokenizer.ggml.token_type');
  let types: ArrayLike<number>;
  if (typesKey === undefined) {
    types = new Int32Array(n).fill(GGUF_TOKEN_TYPE.NORMAL);
  } else {
    const intTypes = ['int32', 'uint32', 'int8', 'uint8', 'int16', 'uint16'];
    if (typesKey.type !== 'array' || !intTypes.includes(typesKey.itemType) || typesKey.value.length !== n) {
      throw invalidTok(g.file, `tokenizer.ggml.token_type must be ${n} integers (one per token)`);
    }
    types = typesKey.value as Int32Array;
  }

  // Trailing unused tokens are not part of the tokenizer (the embedding's padding rows).
  let end = n;
  while (end > 0 && types[end - 1] === GGUF_TOKEN_TYPE.UNUSED) end--;
  if (end === 0) throw invalidTok(g.file, 'every token in tokenizer.ggml.token_type is unused (type 5)');

  const vocab: [string, number][] = new Array(end);
  const added: JsonObject[] = [];
  const hiddenIds: number[] = [];
  const seen = new Map<string, number>();
  let hasByte = false;
  let firstUnk: number | null = null;
  for (let id = 0; id < end; id++) {
    const piece = tokens[id];
    const type = types[id];
    const score = scores[id];
    if (!Number.isFinite(score)) throw invalidTok(g.file, `tokenizer.ggml.scores[${id}] is ${score}`);
    if (type === GGUF_TOKEN_TYPE.UNUSED) {
      // Kept so the ids stay in place, but unreachable: the normalizer turns every U+0020 into "▁", so no
      // normalized text holds a piece with a space in it.
      vocab[id] = [` <unused ${id}>`, score];
      hiddenIds.push(id);
      continue;
    }
    if (type < 1 || type > 6) throw invalidTok(g.file, `tokenizer.ggml.token_type[${id}] is ${type} (llama.cpp types are 1..6)`);
    if (seen.has(piece)) throw unsupportedTok(g.file, `tokens ${seen.get(piece)} and ${id} are the same string ${JSON.stringify(piece)}`);
    seen.set(piece, id);
    vocab[id] = [piece, score];
    if (type === GGUF_TOKEN_TYPE.BYTE) hasByte = true;
    if (type === GGUF_TOKEN_TYPE.UNKNOWN && firstUnk === null) firstUnk = id;
    if (type === GGUF_TOKEN_TYPE.UNKNOWN || type === GGUF_TOKEN_TYPE.CONTROL || type === GGUF_TOKEN_TYPE.USER_DEFINED) {
      if (piece === '') throw invalidTok(g.file, `token ${id} (type ${type}) is the empty string`);
      const special = type !== GGUF_TOKEN_TYPE.USER_DEFINED;
      added.push({ id, content: piece, single_word: false, lstrip: false, rstrip: false, normalized: false, special });
    }
  }

  const unkId = optInt(g, 'tokenizer.ggml.unknown_token_id', end) ?? firstUnk;
  const bosId = optInt(g, 'tokenizer.ggml.bos_token_id', end);
  const eosId = optInt(g, 'tokenizer.ggml.eos_token_id', end);
  const padId = optInt(g, 'tokenizer.ggml.padding_token_id', end);
  // llama.cpp's defaults (src/llama-vocab.cpp, llama_vocab::impl::load): SPM bos on, UGM eos on.
  const addBos = optBool(g, 'tokenizer.ggml.add_bos_token', model === 'llama');
  const addEos = optBool(g, 'tokenizer.ggml.add_eos_token', model === 't5');
  const addSpacePrefix = optBool(g, 'tokenizer.ggml.add_space_prefix', model === 'llama');
  const removeExtraWs = model === 't5' && optBool(g, 'tokenizer.ggml.remove_extra_whitespaces', false);

  const normalizers: JsonObject[] = [];
  if (removeExtraWs) normalizers.push(replace('^ +| +$', ''), replace(' {2,}', ' '));
  if (addSpacePrefix) normalizers.push(replace('(?<!\\n)^', '▁'));
  normalizers.push(replace(' ', '▁'));

  const decoders: JsonObject[] = [];
  if (hasByte) decoders.push({ type: 'ByteFallback' });
  decoders.push(replace('▁', ' '), { type: 'Fuse' });
  if (addSpacePrefix) decoders.push(replace('(?<!\\n)^ ', ''));

  const specialTokens: JsonObject = {};
  const piecesA: JsonObject[] = [];
  const piecesB: JsonObject[] = [];
  const addSpecial = (id: number | null, on: boolean, typeId: number, into: JsonObject[]): void => {
    if (!on || id === null) return;
    const content = tokens[id];
    specialTokens[content] = { id: content, ids: [id], tokens: [content] };
    into.push({ SpecialToken: { id: content, type_id: typeId } });
  };
  addSpecial(bosId, addBos, 0, piecesA);
  piecesA.push({ Sequence: { id: 'A', type_id: 0 } });
  addSpecial(eosId, addEos, 0, piecesA);
  addSpecial(bosId, addBos, 1, piecesB);
  piecesB.push({ Sequence: { id: 'B', type_id: 1 } });
  addSpecial(eosId, addEos, 1, piecesB);

  const tokenizerJson: JsonObject = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: { type: 'Sequence', normalizers },
    pre_tokenizer: null,
    post_processor: { type: 'TemplateProcessing', single: piecesA, pair: [...piecesA, ...piecesB], special_tokens: specialTokens },
    decoder: { type: 'Sequence', decoders },
    model: { type: 'Unigram', unk_id: unkId, vocab, byte_fallback: hasByte },
  };
  const tokenizerConfig: JsonObject = {};
  const name = (key: string, id: number | null): void => {
    if (id !== null) tokenizerConfig[key] = tokens[id];
  };
  name('bos_token', bosId);
  name('eos_token', eosId);
  name('unk_token', unkId);
  name('pad_token', padId);
  return { tokenizerJson, tokenizerConfig, hiddenIds };
}
