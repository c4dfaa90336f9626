/**
 * HF `AddedVocabulary`: the added tokens (here the 8 `<...|LLM-jp>` special tokens), their ids, and
 * how they are cut out of the input before the model sees it.
 *
 * Encoding first finds the tokens with `normalized: false` in the raw text, then normalizes each piece
 * of text between them separately, then finds the `normalized: true` tokens (whose patterns are the
 * token contents passed through the normalizer) inside each normalized piece. Matching is
 * Aho-Corasick leftmost-longest over the whole string, non-overlapping; the matches are then filtered
 * and widened in order:
 *  - `single_word`: dropped unless neither neighbour character is a word character (Rust regex `\w`),
 *  - `lstrip`: the match grows left over the whitespace before it (not past the previous match),
 *  - `rstrip`: the match grows right over the whitespace after it.
 * The text between matches becomes separate pieces. The token keeps its id and, as its string, the
 * matched text (including stripped whitespace).
 *
 * Ids follow HF's `add_tokens`: a token whose content is already a vocabulary piece gets that piece's
 * id; a new one gets the next id after the model vocabulary / the largest added id.
 */
import { getBool, getIndex, getString, invalid, isObject } from './json.js';
import { RUST_WORD_CLASS_BODY, WHITE_SPACE_CLASS_BODY, cpLenAt } from './regex.js';

export interface AddedToken {
  id: number;
  content: string;
  singleWord: boolean;
  lstrip: boolean;
  rstrip: boolean;
  normalized: boolean;
  special: boolean;
}

/** One piece of a split: either text (id null) or an added token, [start, end) in the split string. */
export interface Split {
  start: number;
  end: number;
  id: number | null;
}

const WORD_CHAR = new RegExp(`^[${RUST_WORD_CLASS_BODY}]$`, 'u');
const SPACE_CHAR = new RegExp(`^[${WHITE_SPACE_CLASS_BODY}]$`, 'u');

/** The character ending just before UTF-16 index `i` ('' at the start). */
function charBefore(s: string, i: number): string {
  if (i <= 0) return '';
  const c = s.charCodeAt(i - 1);
  const pair = c >= 0xdc00 && c <= 0xdfff && i >= 2 && (s.charCodeAt(i - 2) & 0xfc00) === 0xd800;
  return s.slice(pair ? i - 2 : i - 1, i);
}
/** The character starting at UTF-16 index `i` ('' at the end). */
function charAt(s: string, i: number): string {
  return i >= s.length ? '' : s.slice(i, i + cpLenAt(s, i));
}

/** Leftmost-longest, non-overlapping matcher over a fixed set of strings (a small trie). */
class LongestMatcher {
  private readonly children: Map<number, number>[] = [new Map()];
  /** Pattern index ending at each node, or -1. */
  private readonly ends: number[] = [-1];
  /** 1 for each code unit that starts some pattern. */
  private readonly firstUnits = new Uint8Array(65536);
  private readonly count: number;

  constructor(patterns: readonly string[]) {
    let count = 0;
    patterns.forEach((p, idx) => {
      if (p.length === 0) return;
      count++;
      this.firstUnits[p.charCodeAt(0)] = 1;
      let node = 0;
      for (let i = 0; i < p.length; i++) {
        const u = p.charCodeAt(i);
        let next = this.children[node].get(u);
        if (next === undefined) {
          next = this.children.length;
          this.children.push(new Map());
          this.ends.push(-1);
          this.children[node].set(u, next);
        }
        node = next;
      }
      if (this.ends[node] < 0) this.ends[node] = idx; // a repeated pattern keeps the first index
    });
    this.count = count;
  }

  get isEmpty(): boolean {
    return this.count === 0;
  }

  /** Matches as [start, end, patternIndex] triples, flat. */
  findAll(s: string): number[] {
    const out: number[] = [];
    if (this.isEmpty) return out;
    for (let i = 0; i < s.length; ) {
      if (this.firstUnits[s.charCodeAt(i)] === 0) {
        i++;
        continue;
      }
      let node = 0;
      let bestEnd = -1;
      let bestIdx = -1;
      for (let j = i; j < s.length; j++) {
        const next = this.children[node].get(s.charCodeAt(j));
        if (next === undefined) break;
        node = next;
        if (this.ends[node] >= 0) {
          bestEnd = j + 1;
          bestIdx = this.ends[node];
        }
      }
      if (bestEnd < 0) {
        i++;
        continue;
      }
      out.push(i, bestEnd, bestIdx);
      i = bestEnd;
    }
    return out;
  }
}

/** A set of added tokens searched together (HF `MatchingSet`). */
export class AddedTokenMatcher {
  private readonly matcher: LongestMatcher;

  constructor(
    private readonly tokens: readonly AddedToken[],
    patterns: readonly string[],
  ) {
    this.matcher = new LongestMatcher(patterns);
  }

  get isEmpty(): boolean {
    return this.matcher.isEmpty;
  }

  /** HF `find_matches`: the whole of `s` cut into text pieces and added tokens. */
  split(s: string): Split[] {
    if (s.length === 0) return [{ start: 0, end: 0, id: null }];
    const out: Split[] = [];
    let startOffset = 0;
    const m = this.matcher.findAll(s);
    for (let k = 0; k < m.length; k += 3) {
      let start = m[k];
      let stop = m[k + 1];
      const tok = this.tokens[m[k + 2]];
      if (tok.singleWord) {
        // HF: regex `\w$` on the text before, `^\w` on the text after.
        const startSpace = start === 0 || !WORD_CHAR.test(charBefore(s, start));
        const stopSpace = stop === s.length || !WORD_CHAR.test(charAt(s, stop));
        if (!startSpace || !stopSpace) continue;
      }
      if (tok.lstrip) {
        // HF: start of `\s*$` in the text before, but not before the end of the previous match.
        let newStart = start;
        for (let c = charBefore(s, newStart); c !== '' && SPACE_CHAR.test(c); c = charBefore(s, newStart)) newStart -= c.length;
        start = Math.max(newStart, startOffset);
      }
      if (tok.rstrip) {
        // HF: end of `^\s*` in the text after.
        for (let c = charAt(s, stop); c !== '' && SPACE_CHAR.test(c); c = charAt(s, stop)) stop += c.length;
      }
      if (startOffset < start) out.push({ start: startOffset, end: start, id: null });
      out.push({ start, end: stop, id: tok.id });
      startOffset = stop;
    }
    if (startOffset !== s.length) out.push({ start: startOffset, end: s.length, id: null });
    return out;
  }
}

export class AddedVocabulary {
  /** All added tokens by id (HF `added_tokens_map_r`). */
  readonly byId: ReadonlyMap<number, AddedToken>;
  /**
   * The string each added id decodes to. HF 0.23 stores a `normalized: true` token with its content
   * passed through the normalizer (llm-jp's would turn "<x>" into "▁<x>"), and `id_to_token`/`decode`
   * return that; such a token is then no longer recognized as special when decoding.
   */
  readonly idToContent: ReadonlyMap<number, string>;
  /** content → id (HF `added_tokens_map`). */
  readonly byContent: ReadonlyMap<string, number>;
  /** Contents of the special tokens (skipped by `decode(..., skipSpecialTokens)`). */
  readonly specialContents: ReadonlySet<string>;
  /** The tokens matched in the raw text (`normalized: false`). */
  readonly rawMatcher: AddedTokenMatcher;
  /** The tokens matched in normalized text (`normalized: true`); build with `normalizedMatcher`. */
  readonly normalizedTokens: readonly AddedToken[];

  /**
   * HF `add_tokens` over the tokens of tokenizer.json, in file order. `modelTokenToId` / `modelVocabSize`
   * describe the model vocabulary; `normalize` is the tokenizer's normalizer.
   */
  constructor(
    tokens: readonly Omit<AddedToken, 'id'>[],
    modelTokenToId: (t: string) => number | undefined,
    modelVocabSize: number,
    normalize: (content: string) => string,
  ) {
    const byId = new Map<number, AddedToken>();
    const byContent = new Map<string, number>();
    const special: AddedToken[] = [];
    const specialContents = new Set<string>();
    const classic: AddedToken[] = [];
    for (const t of tokens) {
      if (t.special && t.content !== '' && !specialContents.has(t.content)) {
        specialContents.add(t.content);
        special.push({ ...t, id: -1 });
      }
    }
    const same = (a: Omit<AddedToken, 'id'>, b: Omit<AddedToken, 'id'>): boolean =>
      a.content === b.content &&
      a.singleWord === b.singleWord &&
      a.lstrip === b.lstrip &&
      a.rstrip === b.rstrip &&
      a.normalized === b.normalized &&
      a.special === b.special;
    for (const t of tokens) {
      if (t.content === '' || [...byId.values()].some((v) => same(v, t))) continue;
      let id = byContent.get(t.content) ?? modelTokenToId(t.content);
      if (id === undefined) {
        let max = -1;
        for (const v of byContent.values()) max = Math.max(max, v);
        id = max < 0 ? modelVocabSize : max >= modelVocabSize || modelVocabSize === 0 ? max + 1 : modelVocabSize;
      }
      byContent.set(t.content, id);
      byId.set(id, { ...t, id });
      if (!specialContents.has(t.content)) classic.push({ ...t, id });
    }
    this.byId = byId;
    this.byContent = byContent;
    this.idToContent = new Map([...byId].map(([id, t]) => [id, t.normalized ? normalize(t.content) : t.content]));
    this.specialContents = specialContents;
    // Matching sets: special tokens first, then the others, each with the id its content maps to.
    const all = [...special, ...classic].map((t) => ({ ...t, id: byContent.get(t.content) ?? modelTokenToId(t.content)! }));
    const raw = all.filter((t) => !t.normalized);
    this.rawMatcher = new AddedTokenMatcher(
      raw.map((t) => byId.get(t.id) ?? t),
      raw.map((t) => t.content),
    );
    this.normalizedTokens = all.filter((t) => t.normalized).map((t) => byId.get(t.id) ?? t);
  }

  /** The matcher for `normalized: true` tokens, given the normalizer (patterns are normalized contents). */
  normalizedMatcher(normalize: (content: string) => string): AddedTokenMatcher {
    return new AddedTokenMatcher(
      this.normalizedTokens,
      this.normalizedTokens.map((t) => normalize(t.content)),
    );
  }

  /** Parse tokenizer.json `added_tokens`. */
  static parseJson(list: unknown): Omit<AddedToken, 'id'>[] {
    if (list === null || list === undefined) return [];
    if (!Array.isArray(list)) throw invalid('added_tokens', 'must be an array');
    return list.map((t, k) => {
      const where = `added_tokens[${k}]`;
      if (!isObject(t)) throw invalid(where, 'must be an object');
      getIndex(t, 'id', where);
      return {
        content: getString(t, 'content', where),
        singleWord: getBool(t, 'single_word', where, false),
        lstrip: getBool(t, 'lstrip', where, false),
        rstrip: getBool(t, 'rstrip', where, false),
        normalized: getBool(t, 'normalized', where, true),
        special: getBool(t, 'special', where, false),
      };
    });
  }
}
