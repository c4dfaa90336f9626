/**
 * The HF `Unigram` model (the "optimized" encoder, a port of SentencePiece's Viterbi), with
 * `fuse_unk` (always on in HF) and `byte_fallback`.
 *
 * For each character position, in order, every vocabulary piece starting there (common-prefix search,
 * shortest first) offers `best[start] + score` to `best[end]`; a candidate replaces the current best only
 * if strictly greater, so on ties the earliest offer wins (earlier start, then shorter piece). A
 * character with no single-character piece also offers the unknown piece, scored `min_score - 10`
 * (kUnkPenalty). Backtracking from the end gives the pieces; runs of adjacent unknown pieces are fused
 * into one string. A piece string is then looked up in the vocabulary; when absent (unknown text) and
 * `byte_fallback` is set, it becomes one `<0xNN>` piece per UTF-8 byte (all with the offsets of the
 * whole unknown text), provided every such byte piece exists; otherwise it is the unk id.
 * Cost: O(n · longest match) time, O(n) memory.
 */
import { FugakuError } from '../errors.js';
import { PrefixTrie } from './trie.js';
import { getArray, getBool, invalid, isObject, type JsonObject } from './json.js';
import { cpLenAt } from './regex.js';

const K_UNK_PENALTY = 10;
const LONE_SURROGATE = /\p{Cs}/u;

/** Where `tokenize` writes its output; `tokens` / `offsets` are filled only when non-null. */
export interface TokenSink {
  ids: number[];
  tokens: string[] | null;
  /** Flat [start, end, ...] in UTF-16 units of the string given to `tokenize`. */
  offsets: number[] | null;
}

/** UTF-8 bytes of a (well-formed) string. */
export function utf8Bytes(s: string): number[] {
  const out: number[] = [];
  for (let i = 0; i < s.length; ) {
    const cp = s.codePointAt(i)!;
    i += cp > 0xffff ? 2 : 1;
    if (cp < 0x80) out.push(cp);
    else if (cp < 0x800) out.push(0xc0 | (cp >> 6), 0x80 | (cp & 63));
    else if (cp < 0x10000) out.push(0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63));
    else out.push(0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 63), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63));
  }
  return out;
}

/** `<0xNN>` with upper-case hex, as HF's `byte_to_piece`. */
export function bytePiece(b: number): string {
  return `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`;
}

export class Unigram {
  /** The pieces, by id. */
  readonly pieces: readonly string[];
  readonly scores: Float64Array;
  readonly unkId: number | null;
  readonly byteFallback: boolean;
  readonly minScore: number;
  /** piece → id (a repeated piece maps to its last id, like HF). */
  private readonly tokenToIds: Map<string, number>;
  private readonly trie: PrefixTrie;
  /** id of `<0xNN>` for each byte, or -1. */
  private readonly byteIds: Int32Array;

  constructor(vocab: [string, number][], unkId: number | null, byteFallback: boolean) {
    if (unkId !== null) {
      if (vocab.length === 0) throw invalid('model', 'the vocabulary is empty but at least <unk> is needed');
      if (unkId >= vocab.length) throw invalid('model', 'unk_id is larger than the vocabulary size');
    }
    this.pieces = vocab.map((v) => v[0]);
    this.scores = Float64Array.from(vocab, (v) => v[1]);
    this.unkId = unkId;
    this.byteFallback = byteFallback;
    this.tokenToIds = new Map();
    let min = Infinity;
    vocab.forEach(([piece, score], id) => {
      this.tokenToIds.set(piece, id);
      if (score < min) min = score;
    });
    this.minScore = min;
    this.trie = new PrefixTrie(vocab.map(([piece], id) => [piece, id] as [string, number]));
    // The trie keeps the last id of a repeated piece, which is what token_to_ids gives too.
    this.byteIds = new Int32Array(256);
    for (let b = 0; b < 256; b++) this.byteIds[b] = this.tokenToIds.get(bytePiece(b)) ?? -1;
  }

  static fromJson(o: JsonObject): Unigram {
    const where = 'model (Unigram)';
    const vocab = getArray(o, 'vocab', where).map((e, k): [string, number] => {
      if (!Array.isArray(e) || e.length !== 2 || typeof e[0] !== 'string' || typeof e[1] !== 'number') {
        throw invalid(where, `vocab[${k}] must be a [piece, score] pair`);
      }
      if (LONE_SURROGATE.test(e[0])) throw invalid(where, `vocab[${k}] contains a lone surrogate`);
      return [e[0], e[1]];
    });
    const u = o['unk_id'];
    if (u !== null && u !== undefined && (typeof u !== 'number' || !Number.isInteger(u) || u < 0)) {
      throw invalid(where, '"unk_id" must be a non-negative integer or null');
    }
    return new Unigram(vocab, typeof u === 'number' ? u : null, getBool(o, 'byte_fallback', where, false));
  }

  static isUnigramJson(o: unknown): o is JsonObject {
    return isObject(o) && Array.isArray(o['vocab']) && 'unk_id' in o;
  }

  get vocabSize(): number {
    return this.pieces.length;
  }

  tokenToId(token: string): number | undefined {
    return this.tokenToIds.get(token);
  }

  /** Tokenize one normalized string (HF `Model::tokenize`), appending to `sink`. */
  tokenize(s: string, sink: TokenSink): void {
    const n = s.length;
    if (n === 0) return;
    const best = new Float64Array(n + 1);
    const from = new Int32Array(n + 1).fill(-1);
    const ids = new Int32Array(n + 1);
    const trie = this.trie;
    const value = trie.value;
    const scores = this.scores;
    const unkScore = this.minScore - K_UNK_PENALTY;
    const unkId = this.unkId;

    for (let i = 0; i < n; ) {
      const mblen = cpLenAt(s, i);
      const base = best[i];
      let hasSingle = false;
      let node = trie.first(s.charCodeAt(i));
      let j = i + 1;
      while (node >= 0) {
        const id = value[node];
        if (id >= 0) {
          const cand = scores[id] + base;
          if (from[j] < 0 || cand > best[j]) {
            best[j] = cand;
            from[j] = i;
            ids[j] = id;
          }
          if (j - i === mblen) hasSingle = true;
        }
        if (j >= n) break;
        node = trie.next(node, s.charCodeAt(j));
        j++;
      }
      if (!hasSingle) {
        if (unkId === null) {
          throw new FugakuError(
            'TOKENIZER_INVALID',
            'tokenizer.json: model (Unigram): encountered an unknown character but unk_id is null',
            'the Unigram model needs an unk_id to encode characters outside its vocabulary',
          );
        }
        const t = i + mblen;
        const cand = unkScore + base;
        if (from[t] < 0 || cand > best[t]) {
          best[t] = cand;
          from[t] = i;
          ids[t] = unkId;
        }
      }
      i += mblen;
    }

    // Backtrack: collect the path's end positions (reversed).
    const ends: number[] = [];
    for (let e = n; e > 0; e = from[e]) ends.push(e);
    ends.reverse();

    let start = 0;
    for (let k = 0; k < ends.length; k++) {
      const end = ends[k];
      const id = ids[end];
      if (id === unkId) {
        // fuse_unk: extend over the following unknown pieces.
        let e2 = end;
        while (k + 1 < ends.length && ids[ends[k + 1]] === unkId) e2 = ends[++k];
        this.pushUnknown(s.slice(start, e2), start, e2, sink);
        start = e2;
        continue;
      }
      sink.ids.push(id);
      if (sink.tokens !== null) sink.tokens.push(s.slice(start, end));
      if (sink.offsets !== null) sink.offsets.push(start, end);
      start = end;
    }
  }

  /** An unknown-piece string: its own id if it is a piece, else byte pieces, else unk. */
  private pushUnknown(text: string, start: number, end: number, sink: TokenSink): void {
    const known = this.tokenToIds.get(text);
    if (known === undefined && this.byteFallback) {
      const bytes = utf8Bytes(text);
      if (bytes.every((b) => this.byteIds[b] >= 0)) {
        for (const b of bytes) {
          sink.ids.push(this.byteIds[b]);
          if (sink.tokens !== null) sink.tokens.push(bytePiece(b));
          if (sink.offsets !== null) sink.offsets.push(start, end);
        }
        return;
      }
    }
    sink.ids.push(known ?? this.unkId!);
    if (sink.tokens !== null) sink.tokens.push(text);
    if (sink.offsets !== null) sink.offsets.push(start, end);
  }
}
