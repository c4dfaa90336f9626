/**
 * HF decoders: token strings → text. Each decoder maps the list of token strings to a new list
 * (`decode_chain`); the final text is the concatenation of what the last one returns.
 *
 * The llm-jp tokenizer decodes with Sequence[ByteFallback, Replace("▁" → " "), Fuse,
 * Replace(Regex "(?<!\n)^ " → "")]: byte pieces become text, "▁" becomes a space in every token, the
 * tokens are joined, and one leading space is dropped from the start of the whole text (the look-behind
 * rules out the other line starts). Special tokens go through the same chain as any other token.
 *
 * Supported: ByteFallback, Replace, Fuse, Strip, Sequence; others are TOKENIZER_UNSUPPORTED.
 */
import { getArray, getIndex, getString, getType, invalid, unsupported, type JsonObject } from './json.js';
import { patternFromJson, type OnigPattern } from './regex.js';

export interface Decoder {
  decodeChain(tokens: string[]): string[];
}

/** A `<0xNN>` piece's byte, or -1. Like Rust `u8::from_str_radix(&t[3..5], 16)`: a '+' sign is accepted. */
export function byteOfPiece(t: string): number {
  // HF tests `token.len() == 6` in UTF-8 bytes: "<0x" + two ASCII chars + ">" (a 2-byte char in the
  // middle also makes 6 bytes but never parses as hex).
  if (t.length !== 6 || !t.startsWith('<0x') || !t.endsWith('>')) return -1;
  const h = t.slice(3, 5);
  if (/^[0-9a-fA-F]{2}$/.test(h) || /^\+[0-9a-fA-F]$/.test(h)) return parseInt(h, 16);
  return -1;
}

/**
 * Strict UTF-8 decoding (Rust `String::from_utf8`): the text, or null if the bytes are not valid UTF-8
 * (overlong forms, surrogates, > U+10FFFF, truncated sequences all fail).
 */
export function decodeUtf8Strict(bytes: readonly number[]): string | null {
  let out = '';
  for (let i = 0; i < bytes.length; ) {
    const b0 = bytes[i];
    if (b0 < 0x80) {
      out += String.fromCharCode(b0);
      i++;
      continue;
    }
    let need: number;
    let cp: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (b0 >= 0xc2 && b0 <= 0xdf) {
      need = 1;
      cp = b0 & 0x1f;
    } else if (b0 >= 0xe0 && b0 <= 0xef) {
      need = 2;
      cp = b0 & 0x0f;
      if (b0 === 0xe0) lo = 0xa0;
      if (b0 === 0xed) hi = 0x9f;
    } else if (b0 >= 0xf0 && b0 <= 0xf4) {
      need = 3;
      cp = b0 & 0x07;
      if (b0 === 0xf0) lo = 0x90;
      if (b0 === 0xf4) hi = 0x8f;
    } else {
      return null;
    }
    for (let k = 1; k <= need; k++) {
      const b = bytes[i + k];
      if (b === undefined) return null;
      if (k === 1 ? b < lo || b > hi : b < 0x80 || b > 0xbf) return null;
      cp = (cp << 6) | (b & 0x3f);
    }
    out += String.fromCodePoint(cp);
    i += need + 1;
  }
  return out;
}

class ByteFallback implements Decoder {
  decodeChain(tokens: string[]): string[] {
    const out: string[] = [];
    let pending: number[] = [];
    const flush = (): void => {
      if (pending.length === 0) return;
      const s = decodeUtf8Strict(pending);
      // Invalid bytes: one U+FFFD per byte of the run (even the bytes that were valid on their own).
      if (s !== null) out.push(s);
      else for (let k = 0; k < pending.length; k++) out.push('\uFFFD');
      pending = [];
    };
    for (const t of tokens) {
      const b = byteOfPiece(t);
      if (b >= 0) pending.push(b);
      else {
        flush();
        out.push(t);
      }
    }
    flush();
    return out;
  }
}

class ReplaceDecoder implements Decoder {
  constructor(
    private readonly pattern: OnigPattern,
    private readonly content: string,
  ) {}
  decodeChain(tokens: string[]): string[] {
    return tokens.map((t) => this.pattern.replaceAll(t, this.content));
  }
}

class Fuse implements Decoder {
  decodeChain(tokens: string[]): string[] {
    return [tokens.join('')];
  }
}

/** Strip up to `start` leading and `stop` trailing occurrences of the character `content` from each token. */
class StripDecoder implements Decoder {
  constructor(
    private readonly content: string,
    private readonly start: number,
    private readonly stop: number,
  ) {}
  decodeChain(tokens: string[]): string[] {
    return tokens.map((t) => {
      const chars = Array.from(t);
      let startCut = 0;
      for (let i = 0; i < Math.min(this.start, chars.length); i++) {
        if (chars[i] === this.content) startCut = i + 1;
        else break;
      }
      let stopCut = chars.length;
      for (let i = 0; i < Math.min(this.stop, chars.length - startCut); i++) {
        const index = chars.length - i - 1;
        if (chars[index] === this.content) stopCut = index;
        else break;
      }
      return chars.slice(startCut, stopCut).join('');
    });
  }
}

class SequenceDecoder implements Decoder {
  constructor(private readonly parts: Decoder[]) {}
  decodeChain(tokens: string[]): string[] {
    let t = tokens;
    for (const d of this.parts) t = d.decodeChain(t);
    return t;
  }
}

/** Build a decoder from its tokenizer.json description (`null` → none: tokens are joined with spaces). */
export function decoderFromJson(j: unknown, where = 'decoder'): Decoder | null {
  if (j === null || j === undefined) return null;
  const type = getType(j, where);
  const o = j as JsonObject;
  switch (type) {
    case 'Sequence':
      return new SequenceDecoder(
        getArray(o, 'decoders', where).map((d, k) => {
          const built = decoderFromJson(d, `${where}.decoders[${k}]`);
          if (built === null) throw unsupported(`${where}.decoders[${k}]`, 'null decoder in a Sequence');
          return built;
        }),
      );
    case 'ByteFallback':
      return new ByteFallback();
    case 'Replace':
      return new ReplaceDecoder(patternFromJson(o['pattern'], `${where} (Replace)`), getString(o, 'content', where));
    case 'Fuse':
      return new Fuse();
    case 'Strip': {
      const content = getString(o, 'content', where);
      if (Array.from(content).length !== 1) throw invalid(where, '"content" of Strip must be one character');
      return new StripDecoder(content, getIndex(o, 'start', where), getIndex(o, 'stop', where));
    }
    default:
      throw unsupported(where, `decoder type ${JSON.stringify(type)} is not supported`);
  }
}
