/**
 * Text helpers for the server: OpenAI stop strings on a token stream, and token strings for logprobs.
 */
import type { PreTrainedTokenizer } from '../tokenizer/index.js';
import { byteOfPiece } from '../tokenizer/decoders.js';

/**
 * Holds back streamed text that may be the beginning of a stop string (and, for chat answers, trailing
 * whitespace), so a stop string never reaches the client and the streamed chunks concatenate to the
 * final text. `push` returns the text that is safe to send now; `finish(finalText)` the rest.
 */
export class StopTextFilter {
  private text = '';
  private shown = 0;
  /** Stop strings count only where they end after this many characters (vLLM min_tokens); see countStopsFromHere. */
  private countFrom: number;

  /** `minTokens` > 0: no stop string counts until countStopsFromHere() is called. */
  constructor(
    private readonly stops: readonly string[],
    private readonly trimTrailingWhitespace: boolean,
    minTokens = 0,
  ) {
    this.countFrom = minTokens > 0 ? Infinity : 0;
  }

  /**
   * Called when the min_tokens-th token was pushed: from now on a stop string counts if it ends after the
   * text received so far. (The streamer may still hold part of that token's text, so this boundary is at
   * or before finalText's: nothing sent here is ever cut from the final text.)
   */
  countStopsFromHere(): void {
    this.countFrom = this.text.length;
  }

  push(chunk: string): string {
    if (chunk === '') return '';
    this.text += chunk;
    let hold = this.text.length;
    for (const s of this.stops) {
      const at = stopIndex(this.text, s, this.countFrom);
      if (at >= 0) hold = Math.min(hold, at);
      for (let k = Math.max(0, this.text.length - s.length + 1); k < this.text.length; k++) {
        if (s.startsWith(this.text.slice(k))) {
          hold = Math.min(hold, k);
          break;
        }
      }
    }
    if (this.trimTrailingWhitespace) while (hold > this.shown && /\s/u.test(this.text[hold - 1])) hold--;
    if (hold <= this.shown) return '';
    const out = this.text.slice(this.shown, hold);
    this.shown = hold;
    return out;
  }

  /** The text sent so far. */
  get sent(): string {
    return this.text.slice(0, this.shown);
  }

  /** The rest of `finalText` after what was sent (`finalText` always starts with the sent text). */
  finish(finalText: string): string {
    const sent = this.sent;
    if (!finalText.startsWith(sent)) return ''; // unreachable: the hold-back keeps every sent chunk final
    this.shown = this.text.length;
    return finalText.slice(sent.length);
  }
}

/** Where the first occurrence of `stop` that ends after `countFrom` characters starts (-1: none; Infinity: none counts). */
function stopIndex(text: string, stop: string, countFrom: number): number {
  return text.indexOf(stop, Math.max(0, countFrom - stop.length + 1));
}

/**
 * The final text of a sequence: `decode(ids)` (special tokens skipped), cut before the earliest stop
 * string that ends after `countFrom` characters (0, or with vLLM's min_tokens the length of the first
 * min_tokens tokens' text), trailing whitespace removed for chat answers.
 */
export function finalText(full: string, stops: readonly string[], trimTrailingWhitespace: boolean, countFrom = 0): { text: string; stop: string | null } {
  let cut = full.length;
  let stop: string | null = null;
  for (const s of stops) {
    const at = stopIndex(full, s, countFrom);
    if (at >= 0 && at < cut) {
      cut = at;
      stop = s;
    }
  }
  let text = full.slice(0, cut);
  if (trimTrailingWhitespace) text = text.trimEnd();
  return { text, stop };
}

/**
 * How a token appears in logprobs: its text (SentencePiece `▁` as a space) and UTF-8 bytes; a byte
 * fallback piece `<0xE3>` is `bytes:\xe3` (OpenAI's notation for tokens that are not whole characters).
 */
export function tokenString(tok: PreTrainedTokenizer, id: number): { token: string; bytes: number[] } {
  const piece = tok.idToToken(id);
  if (piece === null) return { token: '', bytes: [] };
  const b = byteOfPiece(piece);
  if (b >= 0) return { token: `bytes:\\x${b.toString(16).padStart(2, '0')}`, bytes: [b] };
  const token = piece.replace(/\u2581/g, ' ');
  return { token, bytes: [...Buffer.from(token, 'utf8')] };
}
