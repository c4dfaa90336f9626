/**
 * The llm-jp Unigram tokenizer.json as a llama.cpp SentencePiece ("llama") vocabulary:
 * tokenizer.ggml.tokens / scores / token_type, in id order, padded with unused placeholder tokens
 * up to the model's embedding rows (llama.cpp requires token_embd rows == number of tokens).
 *
 * Token types (llama.cpp's llama_token_type): 1 normal, 2 unknown, 3 control, 4 user-defined,
 * 5 unused, 6 byte. Special added tokens are control (the unk token is unknown), non-special added
 * tokens user-defined, byte-fallback pieces `<0xNN>` byte, the padding rows unused. Scores are the
 * Unigram log-probabilities; control/unknown tokens and the padding get 0.
 */
import { FugakuError } from '../errors.js';
import { PreTrainedTokenizer } from '../tokenizer/index.js';

export const TOKEN_TYPE = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const;

export interface SpmVocab {
  tokens: string[];
  scores: Float32Array;
  types: Int32Array;
  /** Pieces in tokenizer.json (before padding). */
  pieces: number;
  /** Placeholder tokens added to reach the model's vocab_size. */
  padded: number;
  bosId: number | null;
  eosId: number | null;
  unkId: number | null;
  padId: number | null;
  /** True when the normalizer prepends "▁" to the text (llama.cpp's add_space_prefix). */
  addSpacePrefix: boolean;
}

const BYTE_PIECE = /^<0x[0-9A-F]{2}>$/;

function tokInvalid(what: string): FugakuError {
  return new FugakuError('TOKENIZER_INVALID', `tokenizer.json: ${what}`, 'use the tokenizer.json that came with the model (llm-jp Unigram with byte_fallback)');
}

/**
 * Builds the SPM vocabulary. `tokenizerJson` / `tokenizerConfig` / `specialTokensMap` are the file
 * texts (the latter two may be null); `vocabSize` is the model's embedding rows.
 */
export function buildSpmVocab(tokenizerJson: string, tokenizerConfig: string | null, specialTokensMap: string | null, vocabSize: number): SpmVocab {
  let tj: unknown;
  try {
    tj = JSON.parse(tokenizerJson);
  } catch (e) {
    throw tokInvalid(`not valid JSON (${(e as Error).message})`);
  }
  const parse = (text: string | null, name: string): unknown => {
    if (text === null) return undefined;
    try {
      return JSON.parse(text);
    } catch (e) {
      throw new FugakuError('TOKENIZER_INVALID', `${name} is not valid JSON (${(e as Error).message})`, `fix or delete ${name}`);
    }
  };
  // Validates the whole tokenizer (Unigram, normalizer, decoder...) and resolves the special tokens.
  const tok = PreTrainedTokenizer.fromJSON(tj, parse(tokenizerConfig, 'tokenizer_config.json'), parse(specialTokensMap, 'special_tokens_map.json'));
  const root = tj as Record<string, unknown>;
  const model = root.model as Record<string, unknown>;
  const vocab = model.vocab as [string, number][];
  const unkId = typeof model.unk_id === 'number' ? model.unk_id : null;
  const added = Array.isArray(root.added_tokens) ? (root.added_tokens as Array<Record<string, unknown>>) : [];

  const n = Math.max(vocab.length, ...added.map((a) => (typeof a.id === 'number' ? a.id + 1 : 0)));
  if (n > vocabSize) {
    throw new FugakuError(
      'CONFIG_INVALID',
      `the tokenizer has ${n} tokens but config.json says vocab_size = ${vocabSize}`,
      'the tokenizer and the weights do not belong together; use the tokenizer.json of this model',
    );
  }
  const tokens: string[] = new Array(vocabSize);
  const scores = new Float32Array(vocabSize);
  const types = new Int32Array(vocabSize);
  for (let id = 0; id < vocab.length; id++) {
    const [piece, score] = vocab[id];
    tokens[id] = piece;
    scores[id] = score;
    types[id] = BYTE_PIECE.test(piece) ? TOKEN_TYPE.BYTE : TOKEN_TYPE.NORMAL;
  }
  for (const a of added) {
    const id = a.id;
    const content = a.content;
    if (typeof id !== 'number' || typeof content !== 'string') throw tokInvalid('an added_tokens entry has no numeric "id" or string "content"');
    tokens[id] = content;
    if (a.special === true) {
      types[id] = id === unkId ? TOKEN_TYPE.UNKNOWN : TOKEN_TYPE.CONTROL;
      scores[id] = 0;
    } else if (!BYTE_PIECE.test(content) || id >= vocab.length) {
      types[id] = TOKEN_TYPE.USER_DEFINED;
    }
  }
  if (unkId !== null && types[unkId] !== TOKEN_TYPE.UNKNOWN) {
    types[unkId] = TOKEN_TYPE.UNKNOWN;
    scores[unkId] = 0;
  }
  const used = new Set<string>();
  for (let id = 0; id < n; id++) {
    if (tokens[id] === undefined) throw tokInvalid(`no token has id ${id} (ids must be contiguous)`);
    if (tokens[id] === '') throw tokInvalid(`token ${id} is the empty string, which llama.cpp cannot load`);
    used.add(tokens[id]);
  }
  let padded = 0;
  for (let id = n; id < vocabSize; id++) {
    let name = `[PAD${id}]`;
    while (used.has(name)) name = `[PAD${id}_]`;
    used.add(name);
    tokens[id] = name;
    scores[id] = 0;
    types[id] = TOKEN_TYPE.UNUSED;
    padded++;
  }

  return {
    tokens,
    scores,
    types,
    pieces: n,
    padded,
    bosId: tok.bosTokenId,
    eosId: tok.eosTokenId,
    unkId: tok.unkTokenId ?? unkId,
    padId: tok.padTokenId,
    addSpacePrefix: normalizerPrependsSpace(root.normalizer),
  };
}

/** True for llm-jp's normalizer, which puts "▁" at the start of the text (Replace `(?<!\n)^` or Prepend "▁"). */
function normalizerPrependsSpace(n: unknown): boolean {
  if (typeof n !== 'object' || n === null) return false;
  const o = n as Record<string, unknown>;
  if (o.type === 'Sequence' && Array.isArray(o.normalizers)) return o.normalizers.some(normalizerPrependsSpace);
  if (o.type === 'Prepend') return o.prepend === '▁';
  if (o.type === 'Metaspace') return o.prepend_scheme !== 'never' && o.add_prefix_space !== false;
  if (o.type === 'Replace' && o.content === '▁') {
    const p = o.pattern as Record<string, unknown> | undefined;
    return typeof p?.Regex === 'string' && /^(\(\?<!\\n\))?\^$/.test(p.Regex);
  }
  return false;
}
