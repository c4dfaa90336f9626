/**
 * Streaming detokenization: token ids in, text chunks out, as soon as each piece of text is final.
 *
 * Contract: the concatenation of every chunk returned by `put` plus the one returned by `end` equals
 * `tokenizer.decode(allIds, { skipSpecialTokens })` exactly, and no chunk holds text that a later
 * token could still change (so no half characters: a kanji split into `<0xE9><0xBE><0x8D>` byte pieces
 * comes out whole, never as U+FFFD followed by a correction).
 *
 * How the llm-jp decoder makes text change after the fact (see src/tokenizer/decoders.ts):
 *  1. ByteFallback decodes a *run* of consecutive `<0xNN>` pieces together: if the run is valid UTF-8 it
 *     becomes its text, otherwise EVERY byte of the run becomes one U+FFFD — including bytes that were a
 *     complete character on their own. So the text of a run that is still open (the last kept token is a
 *     byte piece) is not final even when it decodes cleanly now: `<E3><81><82>` is "あ", but one more
 *     stray `<0x81>` turns the run into four U+FFFD. Tokens dropped by decode (special tokens when
 *     skipping them, ids outside the vocabulary) do not end a run.
 *     Exception: a run that can no longer become valid (an invalid byte that is not merely an unfinished
 *     character at the end) is U+FFFD per byte whatever follows, so its text is final at once.
 *  2. The last Replace strips one space at position 0 of the whole text (`(?<!\n)^ `: the look-behind
 *     excludes the other line starts). Decoding a window `ids[p:]` therefore also strips the window's
 *     leading space, which the full decode would keep when p > 0.
 *  3. Everything else (▁ → space per token, Fuse) is per token and concatenative.
 *
 * Algorithm (text-generation-inference's `decode_token` with prefix_offset/read_offset, made exact for
 * the two rules above): keep `p` ≤ `r`, both run boundaries, where the text of `ids[p:r]` has been
 * emitted. The newly final text is `decode(ids[p:f]).slice(decode(ids[p:r]).length)`, where `f` is where
 * the final tokens end (the start of an open valid run, else the end). Why this is exact:
 *  - with `r` a run boundary, C(p:f) = C(p:r) + C(r:f) (C = decoder output before the space strip);
 *  - the strip acts on position 0 of the window. If C(p:r) is not empty, both decodes start with the
 *    same character, so either both or neither lose it, and the difference is exactly C(r:f); if p = 0
 *    the window is the whole text and the strip is the real one. C(p:r) is never empty for p > 0:
 *    p moves to the old r only after text was emitted, and that text is C(old r: new r);
 *  - a run boundary is decided by the token before it (a kept non-byte token), so it never moves.
 * Each `put` decodes about the last two chunks' tokens, so a long generation costs O(n) overall; `end`
 * does one full decode and emits the remainder (a final safety net: it is the full decode by definition).
 * A new token that decode drops returns '' without decoding.
 *
 * Unlike transformers' TextStreamer there is no wait for a space or a CJK character: kana come out one
 * token at a time.
 */
import { FugakuError } from '../errors.js';
import { byteOfPiece } from '../tokenizer/decoders.js';
import type { PreTrainedTokenizer } from '../tokenizer/index.js';

export interface TextStreamerOptions {
  /** Drop special tokens such as `<EOD|LLM-jp>` from the text (default false, like `decode`). */
  skipSpecialTokens?: boolean;
  /** Called with every non-empty chunk, in order (also the one from `end`). */
  onText?: (chunk: string) => void;
}

/** What a token does to the byte-run structure of the decoder. */
const enum Kind {
  /** Dropped by decode (skipped special token, id outside the vocabulary): no text, does not end a run. */
  Dropped,
  /** A `<0xNN>` byte piece. */
  Byte,
  /** Any other token: its text is final, and it ends a byte run. */
  Text,
}

/** Can `bytes` (invalid so far or not) still be completed into valid UTF-8 by appending bytes? */
function utf8Completable(bytes: readonly number[]): boolean {
  for (let i = 0; i < bytes.length; ) {
    const b0 = bytes[i];
    if (b0 < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (b0 >= 0xc2 && b0 <= 0xdf) need = 1;
    else if (b0 >= 0xe0 && b0 <= 0xef) {
      need = 2;
      if (b0 === 0xe0) lo = 0xa0;
      if (b0 === 0xed) hi = 0x9f;
    } else if (b0 >= 0xf0 && b0 <= 0xf4) {
      need = 3;
      if (b0 === 0xf0) lo = 0x90;
      if (b0 === 0xf4) hi = 0x8f;
    } else return false;
    for (let k = 1; k <= need; k++) {
      const b = bytes[i + k];
      if (b === undefined) return true; // an unfinished last character: more bytes may complete it
      if (k === 1 ? b < lo || b > hi : b < 0x80 || b > 0xbf) return false;
    }
    i += need + 1;
  }
  return true;
}

export class TextStreamer {
  private readonly tokenizer: PreTrainedTokenizer;
  private readonly skipSpecialTokens: boolean;
  private readonly onText: ((chunk: string) => void) | undefined;

  private ids: number[] = [];
  /** Window start: a run boundary; text before it is emitted and never decoded again. */
  private p = 0;
  /** The text of ids[p:r] has been emitted; r is a run boundary. */
  private r = 0;
  /** decode(ids[p:r]), computed once per window move (null: not computed yet). */
  private base: string | null = '';
  /** Characters emitted beyond decode(ids[p:r]): U+FFFDs of a dead (never valid) run still open at r. */
  private extra = 0;
  /** Index of the first token of the open byte run (-1 when the last kept token is not a byte piece). */
  private runStart = -1;
  /** Bytes of the open run. */
  private runBytes: number[] = [];
  private emitted = '';
  private ended = false;

  constructor(tokenizer: PreTrainedTokenizer, opts: TextStreamerOptions = {}) {
    this.tokenizer = tokenizer;
    this.skipSpecialTokens = opts.skipSpecialTokens ?? false;
    this.onText = opts.onText;
  }

  /** All text emitted so far for the current sequence. */
  get text(): string {
    return this.emitted;
  }

  /** The ids received so far for the current sequence. */
  get tokenIds(): readonly number[] {
    return this.ids;
  }

  /**
   * Adds one token id; returns the text that became final with it ('' if none). After `end()`, the
   * next `put` starts a new sequence.
   */
  put(id: number): string {
    if (this.ended) this.reset();
    const kind = this.classify(id);
    this.ids.push(id);
    if (kind === Kind.Dropped) return '';
    if (kind === Kind.Text) {
      this.runStart = -1;
      this.runBytes = [];
      return this.advance(this.ids.length, true);
    }
    if (this.runStart < 0) this.runStart = this.ids.length - 1;
    this.runBytes.push(byteOfPiece(this.tokenizer.idToToken(id) as string));
    if (utf8Completable(this.runBytes)) {
      // Valid or unfinished: the run's text is not final until a text token closes it.
      return this.advance(this.runStart, true);
    }
    // Dead run: U+FFFD per byte now and forever, but r cannot move into the middle of a run.
    return this.advance(this.ids.length, false);
  }

  /** Ends the sequence: returns (and reports) the rest of the text, whatever state the bytes are in. */
  end(): string {
    if (this.ended) return '';
    this.ended = true;
    const full = this.tokenizer.decode(this.ids, { skipSpecialTokens: this.skipSpecialTokens });
    if (!full.startsWith(this.emitted)) {
      // Unreachable if the reasoning above holds (the property tests check it).
      throw new FugakuError('INTERNAL', 'TextStreamer emitted text that is not a prefix of the full decode', 'this is a bug; please report the token ids');
    }
    return this.emit(full.slice(this.emitted.length));
  }

  private reset(): void {
    this.ids = [];
    this.p = 0;
    this.r = 0;
    this.base = '';
    this.extra = 0;
    this.runStart = -1;
    this.runBytes = [];
    this.emitted = '';
    this.ended = false;
  }

  private classify(id: number): Kind {
    const token = this.tokenizer.idToToken(id); // throws TOKEN_ID_OUT_OF_RANGE for bad ids, like decode
    if (token === null) return Kind.Dropped;
    if (this.skipSpecialTokens && this.tokenizer.allSpecialIds.has(id)) return Kind.Dropped;
    return byteOfPiece(token) >= 0 ? Kind.Byte : Kind.Text;
  }

  /**
   * Emits the text of ids[r:f] (f final). `boundary`: f is a run boundary, so the window may move.
   */
  private advance(f: number, boundary: boolean): string {
    if (f <= this.r) return '';
    const decode = (a: number, b: number): string => this.tokenizer.decode(this.ids.slice(a, b), { skipSpecialTokens: this.skipSpecialTokens });
    const base = (this.base ??= decode(this.p, this.r));
    const cur = decode(this.p, f);
    if (!cur.startsWith(base)) {
      throw new FugakuError('INTERNAL', 'TextStreamer window is not prefix-stable', 'this is a bug; please report the token ids');
    }
    const fresh = cur.slice(base.length); // the text of ids[r:f]
    const chunk = fresh.slice(this.extra);
    if (boundary) {
      if (fresh.length > 0) {
        this.p = this.r;
        this.r = f;
        this.base = null;
        this.extra = 0;
      }
    } else {
      this.extra = Math.max(this.extra, fresh.length);
    }
    return this.emit(chunk);
  }

  private emit(chunk: string): string {
    if (chunk.length > 0) {
      this.emitted += chunk;
      this.onText?.(chunk);
    }
    return chunk;
  }
}
