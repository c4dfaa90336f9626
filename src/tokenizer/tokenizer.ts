/**
 * `PreTrainedTokenizer`: the public tokenizer, an exact port of what Hugging Face `tokenizers` (0.23)
 * does with a Unigram `tokenizer.json` such as llm-jp v2.2's (Fugaku-LLM).
 *
 * Encoding pipeline (HF `encode_single_sequence`):
 *  1. added tokens with `normalized: false` are cut out of the raw text (`AddedVocabulary`);
 *  2. each remaining piece is normalized on its own — so with llm-jp's normalizer every piece that
 *     follows a special token gets its own leading "▁" ("text<EOD|LLM-jp>more" → ▁text, <EOD>, ▁more);
 *  3. added tokens with `normalized: true` are cut out of the normalized pieces;
 *  4. the model (Unigram) tokenizes each piece (there is no pre-tokenizer);
 *  5. the post-processor adds special tokens (`addSpecialTokens`, default true like HF: appends
 *     `<EOD|LLM-jp>` id 7 here).
 * Decoding: ids → token strings (ids outside the vocabulary, e.g. the model's padded embedding rows
 * 48586..49151, are dropped, as HF does), minus special tokens if asked, then the decoder chain.
 *
 * JS strings may hold lone surrogates, which Rust strings cannot: they are encoded as U+FFFD (what the
 * Rust Node binding receives). Offsets are in Unicode code points of the input, like Python's
 * `encoding.offsets`. `truncation` / `padding` in tokenizer.json are ignored, as transformers' default
 * `encode` call does.
 */
import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { metaString, openGGUF, type GGUFFile } from '../io/gguf.js';
import { resolveModelPath } from '../io/model-path.js';
import { FugakuError } from '../errors.js';
import { AddedVocabulary, type AddedTokenMatcher } from './added-tokens.js';
import { decoderFromJson, type Decoder } from './decoders.js';
import { tokenizerFromGGUFVocab } from './from-gguf-vocab.js';
import { getObject, getType, invalid, isObject, unsupported } from './json.js';
import { NormalizedString } from './normalized-string.js';
import { normalizerFromJson, type Normalizer } from './normalizers.js';
import { CharOffsetConverter } from './offsets.js';
import { postProcessorFromJson, type Encoding, type PostProcessor } from './post-processor.js';
import { Unigram, type TokenSink } from './unigram.js';

export interface EncodeOptions {
  /** Add the post-processor's special tokens (default true, like HF). */
  addSpecialTokens?: boolean;
  /** A second sequence, encoded with the pair template. */
  pair?: string;
}

export interface DecodeOptions {
  /** Drop special tokens before decoding (default false, like HF). */
  skipSpecialTokens?: boolean;
}

export interface EncodingWithOffsets {
  ids: number[];
  tokens: string[];
  /** [start, end) in code points of the input (special tokens added by the template: [0, 0]). */
  offsets: [number, number][];
}

const LONE_SURROGATE = /\p{Cs}/u;

function wellFormed(s: string): string {
  return LONE_SURROGATE.test(s) ? s.replace(/\p{Cs}/gu, '\uFFFD') : s;
}

/** A special-token entry of tokenizer_config.json / special_tokens_map.json: a string or `{content}`. */
function specialContent(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (isObject(v) && typeof v['content'] === 'string') return v['content'];
  return null;
}

function parseJsonFile(text: string, file: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new FugakuError('TOKENIZER_INVALID', `${file} is not valid JSON: ${(e as Error).message}`, 'check the file is complete', {
      cause: e,
    });
  }
}

async function readOptional(file: string): Promise<string | null> {
  try {
    return await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new FugakuError('FILE_NOT_FOUND', `cannot read ${file}: ${(e as Error).message}`, 'the tokenizer files must be readable UTF-8 JSON files', { cause: e });
  }
}

export class PreTrainedTokenizer {
  /** `len(tokenizer)`: distinct tokens of the model vocabulary and the added tokens (48586 here). */
  readonly vocabSize: number;
  readonly eosTokenId: number | null;
  readonly bosTokenId: number | null;
  readonly padTokenId: number | null;
  readonly unkTokenId: number | null;
  /** Ids of the special added tokens and of the tokens named in the special tokens map. */
  readonly allSpecialIds: ReadonlySet<number>;

  private readonly model: Unigram;
  private readonly normalizer: Normalizer | null;
  private readonly added: AddedVocabulary;
  private readonly normalizedMatcher: AddedTokenMatcher | null;
  private readonly postProcessor: PostProcessor;
  private readonly decoder: Decoder | null;
  /** Token string of each id below the model vocabulary size (added tokens override). */
  private readonly tokenTable: readonly string[];
  /**
   * 1 where `tokenTable[id]` is a special token's content (skipped by skipSpecialTokens); 2 for ids that
   * hold a place but are no token (a GGUF vocabulary's unused entries: never matched, decoded to nothing).
   */
  private readonly specialInTable: Uint8Array;

  private constructor(tokenizerJson: unknown, tokenizerConfig: unknown, specialTokensMap: unknown, hiddenIds: readonly number[] = []) {
    if (!isObject(tokenizerJson)) throw invalid('(root)', 'must be a JSON object');
    const tj = tokenizerJson;
    const modelJson = getObject(tj, 'model', '(root)');
    const modelType = modelJson['type'] === undefined && Unigram.isUnigramJson(modelJson) ? 'Unigram' : getType(modelJson, 'model');
    if (modelType !== 'Unigram') throw unsupported('model', `model type ${JSON.stringify(modelType)} is not supported (only Unigram)`);
    this.model = Unigram.fromJson(modelJson);
    if (tj['pre_tokenizer'] !== null && tj['pre_tokenizer'] !== undefined) {
      throw unsupported('pre_tokenizer', `pre-tokenizer ${JSON.stringify(getType(tj['pre_tokenizer'], 'pre_tokenizer'))} is not supported (only null)`);
    }
    this.normalizer = normalizerFromJson(tj['normalizer']);
    this.postProcessor = postProcessorFromJson(tj['post_processor']);
    this.decoder = decoderFromJson(tj['decoder']);

    const model = this.model;
    const normalizer = this.normalizer;
    const normalize = (content: string): string => {
      const ns = NormalizedString.from(content, false);
      normalizer?.normalize(ns);
      return ns.normalized;
    };
    this.added = new AddedVocabulary(
      AddedVocabulary.parseJson(tj['added_tokens']),
      (t) => model.tokenToId(t),
      model.vocabSize,
      normalize,
    );
    this.normalizedMatcher = this.added.normalizedTokens.length === 0 ? null : this.added.normalizedMatcher(normalize);

    const table = model.pieces.slice();
    for (const [id, content] of this.added.idToContent) if (id < table.length) table[id] = content;
    this.tokenTable = table;
    this.specialInTable = Uint8Array.from(table, (t) => (this.added.specialContents.has(t) ? 1 : 0));
    const hidden = new Set<string>();
    for (const id of hiddenIds) {
      if (id < table.length) {
        this.specialInTable[id] = 2;
        hidden.add(table[id]);
      }
    }

    const distinct = new Set(model.pieces);
    for (const c of this.added.byContent.keys()) distinct.add(c);
    for (const c of hidden) distinct.delete(c);
    this.vocabSize = distinct.size;

    // Special tokens named by tokenizer_config.json (first) or special_tokens_map.json.
    const cfg = isObject(tokenizerConfig) ? tokenizerConfig : {};
    const stm = isObject(specialTokensMap) ? specialTokensMap : {};
    const named = (key: string): number | null => {
      const c = specialContent(cfg[key]) ?? specialContent(stm[key]);
      return c === null ? null : this.tokenToId(c);
    };
    this.eosTokenId = named('eos_token');
    this.bosTokenId = named('bos_token');
    this.padTokenId = named('pad_token');
    this.unkTokenId = named('unk_token');
    const special = new Set<number>();
    for (const [id, tok] of this.added.byId) if (tok.special) special.add(id);
    for (const src of [stm, cfg]) {
      for (const [key, v] of Object.entries(src)) {
        const list = key === 'additional_special_tokens' && Array.isArray(v) ? v : key.endsWith('_token') ? [v] : [];
        for (const item of list) {
          const c = specialContent(item);
          const id = c === null ? null : this.tokenToId(c);
          if (id !== null) special.add(id);
        }
      }
    }
    this.allSpecialIds = special;
  }

  /** Load `tokenizer.json` (+ `tokenizer_config.json`, `special_tokens_map.json` when present) from a folder, or the tokenizer a GGUF file holds. */
  static async fromPretrained(dir: string): Promise<PreTrainedTokenizer> {
    if ((await resolveModelPath(dir)) === 'gguf') return PreTrainedTokenizer.fromGGUF(dir);
    const file = path.join(dir, 'tokenizer.json');
    const text = await readOptional(file);
    if (text === null) {
      throw new FugakuError(
        'FILE_NOT_FOUND',
        `tokenizer.json not found in ${dir}`,
        'pass the model folder that holds the Hugging Face fast-tokenizer files (tokenizer.json, tokenizer_config.json)',
      );
    }
    const cfgText = await readOptional(path.join(dir, 'tokenizer_config.json'));
    const stmText = await readOptional(path.join(dir, 'special_tokens_map.json'));
    return PreTrainedTokenizer.fromJSON(
      parseJsonFile(text, file),
      cfgText === null ? undefined : parseJsonFile(cfgText, 'tokenizer_config.json'),
      stmText === null ? undefined : parseJsonFile(stmText, 'special_tokens_map.json'),
    );
  }

  /**
   * The tokenizer stored in a GGUF file: the tokenizer.json text `fugaku convert` keeps in its metadata
   * (so encoding is exactly the Hugging Face tokenizer's), or, for files of other converters, the
   * equivalent built from the tokenizer.ggml.* keys (./from-gguf-vocab.ts).
   */
  static async fromGGUF(file: string): Promise<PreTrainedTokenizer> {
    const g = await openGGUF(file);
    try {
      return PreTrainedTokenizer.fromGGUFMetadata(g);
    } finally {
      await g.close();
    }
  }

  /** `fromGGUF` on an opened file's metadata. */
  static fromGGUFMetadata(g: Pick<GGUFFile, 'file' | 'metadata'>): PreTrainedTokenizer {
    const file = g.file;
    const text = metaString(g, 'fugaku.tokenizer_json');
    if (text === undefined) {
      const s = tokenizerFromGGUFVocab(g);
      return new PreTrainedTokenizer(s.tokenizerJson, s.tokenizerConfig, undefined, s.hiddenIds);
    }
    const cfg = metaString(g, 'fugaku.tokenizer_config');
    const stm = metaString(g, 'fugaku.special_tokens_map');
    return PreTrainedTokenizer.fromJSON(
      parseJsonFile(text, `${file} (fugaku.tokenizer_json)`),
      cfg === undefined ? undefined : parseJsonFile(cfg, `${file} (fugaku.tokenizer_config)`),
      stm === undefined ? undefined : parseJsonFile(stm, `${file} (fugaku.special_tokens_map)`),
    );
  }

  /** Build from parsed JSON documents. */
  static fromJSON(tokenizerJson: unknown, tokenizerConfig?: unknown, specialTokensMap?: unknown): PreTrainedTokenizer {
    return new PreTrainedTokenizer(tokenizerJson, tokenizerConfig, specialTokensMap);
  }

  /** Token ids of `text` (HF `encode(text, add_special_tokens=...).ids`). */
  encode(text: string, options: EncodeOptions = {}): number[] {
    const a = this.encodeSequence(text, false);
    const b = options.pair === undefined ? null : this.encodeSequence(options.pair, false);
    return this.postProcessor.process(a, b, options.addSpecialTokens ?? true).ids;
  }

  /** Ids, token strings and code-point offsets of `text`. */
  encodeWithOffsets(text: string, options: EncodeOptions = {}): EncodingWithOffsets {
    const a = this.encodeSequence(text, true);
    const b = options.pair === undefined ? null : this.encodeSequence(options.pair, true);
    const enc = this.postProcessor.process(a, b, options.addSpecialTokens ?? true);
    const offsets: [number, number][] = [];
    for (let k = 0; k < enc.offsets!.length; k += 2) offsets.push([enc.offsets![k], enc.offsets![k + 1]]);
    return { ids: enc.ids, tokens: enc.tokens!, offsets };
  }

  /** Text of `ids` (HF `decode`). Ids outside the vocabulary decode to nothing. */
  decode(ids: ArrayLike<number>, options: DecodeOptions = {}): string {
    const skip = options.skipSpecialTokens ?? false;
    const table = this.tokenTable;
    const tokens: string[] = [];
    for (let k = 0; k < ids.length; k++) {
      const id = ids[k];
      if (!Number.isInteger(id) || id < 0) throw this.badId(id);
      if (id < table.length) {
        const flag = this.specialInTable[id];
        if (flag === 2 || (skip && flag === 1)) continue;
        tokens.push(table[id]);
      } else {
        const t = this.added.idToContent.get(id);
        if (t === undefined || (skip && this.added.specialContents.has(t))) continue;
        tokens.push(t);
      }
    }
    return this.decoder === null ? tokens.join(' ') : this.decoder.decodeChain(tokens).join('');
  }

  convertIdsToTokens(ids: ArrayLike<number>): (string | null)[] {
    const out: (string | null)[] = [];
    for (let k = 0; k < ids.length; k++) out.push(this.idToToken(ids[k]));
    return out;
  }

  convertTokensToIds(tokens: string[]): (number | null)[] {
    return tokens.map((t) => this.tokenToId(t));
  }

  /** The token string of `id`, or null if no token has it. */
  idToToken(id: number): string | null {
    if (!Number.isInteger(id) || id < 0) throw this.badId(id);
    if (id < this.tokenTable.length) return this.specialInTable[id] === 2 ? null : this.tokenTable[id];
    return this.added.idToContent.get(id) ?? null;
  }

  /** The id of a token string (added tokens first, then the model vocabulary), or null. */
  tokenToId(token: string): number | null {
    return this.added.byContent.get(token) ?? this.model.tokenToId(token) ?? null;
  }

  private badId(id: unknown): FugakuError {
    return new FugakuError(
      'TOKEN_ID_OUT_OF_RANGE',
      `invalid token id ${String(id)}: ids must be non-negative integers`,
      'token ids come from encode() or from the model; check for NaN, negative or fractional values',
    );
  }

  /** Steps 1–4 of the pipeline for one sequence; offsets (when asked) in code points. */
  private encodeSequence(input: string, withDetails: boolean): Encoding {
    const text = wellFormed(input);
    const sink: TokenSink = { ids: [], tokens: withDetails ? [] : null, offsets: withDetails ? [] : null };
    const pushToken = (id: number, token: string, start: number, end: number): void => {
      sink.ids.push(id);
      sink.tokens?.push(token);
      sink.offsets?.push(start, end);
    };
    for (const sp of this.added.rawMatcher.split(text)) {
      if (sp.start === sp.end) continue;
      if (sp.id !== null) {
        pushToken(sp.id, text.slice(sp.start, sp.end), sp.start, sp.end);
        continue;
      }
      const ns = NormalizedString.from(text.slice(sp.start, sp.end), withDetails, sp.start);
      this.normalizer?.normalize(ns);
      if (ns.length === 0) continue;
      if (this.normalizedMatcher === null) {
        this.tokenizeInto(ns, sink);
        continue;
      }
      for (const sub of this.normalizedMatcher.split(ns.normalized)) {
        if (sub.start === sub.end) continue;
        const piece = ns.slice(sub.start, sub.end);
        if (sub.id !== null) {
          const [a, b] = piece.originalRange(0, piece.length);
          pushToken(sub.id, piece.normalized, a, b);
        } else {
          this.tokenizeInto(piece, sink);
        }
      }
    }
    if (sink.offsets !== null) {
      const conv = new CharOffsetConverter(text);
      const o = sink.offsets;
      for (let k = 0; k < o.length; k += 2) [o[k], o[k + 1]] = conv.convert(o[k], o[k + 1]);
    }
    return sink;
  }

  /** Step 4 for one normalized piece, mapping the model's offsets back to the input. */
  private tokenizeInto(ns: NormalizedString, sink: TokenSink): void {
    if (sink.offsets === null) {
      this.model.tokenize(ns.normalized, sink);
      return;
    }
    const local: TokenSink = { ids: sink.ids, tokens: sink.tokens, offsets: [] };
    this.model.tokenize(ns.normalized, local);
    const o = local.offsets!;
    for (let k = 0; k < o.length; k += 2) {
      const [a, b] = ns.originalRange(o[k], o[k + 1]);
      sink.offsets.push(a, b);
    }
  }
}

/** `AutoTokenizer.fromPretrained(dir)`, for symmetry with transformers. */
export const AutoTokenizer = {
  fromPretrained: (dir: string): Promise<PreTrainedTokenizer> => PreTrainedTokenizer.fromPretrained(dir),
};
