/**
 * HF normalizers: build from tokenizer.json and apply to a NormalizedString.
 *
 * Supported: Sequence, Replace (String or Regex pattern; content taken literally), Prepend, Strip,
 * StripAccents, Lowercase, NFC, NFD, NFKC, NFKD. Anything else is TOKENIZER_UNSUPPORTED.
 *
 * The llm-jp tokenizer uses Sequence[Replace(Regex "(?<!\n)^" → "▁"), Replace(" " → "▁")]: in
 * Oniguruma `^` is a line start and the look-behind rules out every line start after a "\n", so the
 * first Replace inserts "▁" at the start of the (non-empty) string only — i.e. of each piece of text
 * between special tokens, since normalization runs on those pieces separately.
 */
import { getArray, getBool, getString, getType, unsupported, type JsonObject } from './json.js';
import { NormalizedString, type Change } from './normalized-string.js';
import { OnigPattern, cpLenAt, patternFromJson, WHITE_SPACE_CLASS_BODY } from './regex.js';

export interface Normalizer {
  normalize(ns: NormalizedString): void;
}

const WHITE_SPACE = new RegExp(`^[${WHITE_SPACE_CLASS_BODY}]$`, 'u');
const NONSPACING_MARK = /^\p{Mn}$/u;
/** Code points that may combine with the preceding character under NF(K)C/D although not marks. */
const JOINS_PREVIOUS = /^[\p{M}\u1160-\u11FF\uD7B0-\uD7FF\uFF9E\uFF9F]$/u;

/** Rust `char::is_whitespace` (Unicode White_Space). */
export function isWhiteSpace(ch: string): boolean {
  return WHITE_SPACE.test(ch);
}

class SequenceNormalizer implements Normalizer {
  constructor(private readonly parts: Normalizer[]) {}
  normalize(ns: NormalizedString): void {
    for (const p of this.parts) p.normalize(ns);
  }
}

class ReplaceNormalizer implements Normalizer {
  constructor(
    private readonly pattern: OnigPattern,
    private readonly content: string,
  ) {}
  normalize(ns: NormalizedString): void {
    ns.replace(this.pattern, this.content);
  }
}

class PrependNormalizer implements Normalizer {
  constructor(private readonly prefix: string) {}
  normalize(ns: NormalizedString): void {
    ns.prepend(this.prefix);
  }
}

class StripNormalizer implements Normalizer {
  constructor(
    private readonly left: boolean,
    private readonly right: boolean,
  ) {}
  normalize(ns: NormalizedString): void {
    ns.strip(this.left, this.right, isWhiteSpace);
  }
}

class StripAccentsNormalizer implements Normalizer {
  normalize(ns: NormalizedString): void {
    ns.filter((ch) => !NONSPACING_MARK.test(ch));
  }
}

class LowercaseNormalizer implements Normalizer {
  normalize(ns: NormalizedString): void {
    // Rust `char::to_lowercase`, one character at a time: no context (a final Σ stays σ).
    ns.mapChars((ch) => ch.toLowerCase());
  }
}

/**
 * NFC/NFD/NFKC/NFKD. The text is exactly `String.prototype.normalize` (HF uses the
 * unicode-normalization tables of its Rust version; the two agree up to Unicode-version differences).
 * Alignments are approximated per combining sequence: output char k of a sequence maps to input char k
 * (extra output chars map to the last input char); when the per-sequence split does not reproduce the
 * whole-string normalization, the whole string is treated as one sequence.
 */
class UnicodeNormalizer implements Normalizer {
  constructor(private readonly form: 'NFC' | 'NFD' | 'NFKC' | 'NFKD') {}
  normalize(ns: NormalizedString): void {
    const s = ns.normalized;
    const whole = s.normalize(this.form);
    if (ns.align === null) {
      ns.normalized = whole;
      return;
    }
    if (whole === s) return;
    // Split into sequences: a new one starts at each char that cannot join the previous one.
    const seqs: string[] = [];
    for (let i = 0; i < s.length; ) {
      const l = cpLenAt(s, i);
      const ch = s.slice(i, i + l);
      if (seqs.length > 0 && JOINS_PREVIOUS.test(ch)) seqs[seqs.length - 1] += ch;
      else seqs.push(ch);
      i += l;
    }
    let outs = seqs.map((q) => q.normalize(this.form));
    let ins = seqs;
    if (outs.join('') !== whole) {
      ins = [s];
      outs = [whole];
    }
    const changes: Change[] = [];
    ins.forEach((q, k) => {
      const inChars = Array.from(q).length;
      const outChars = Array.from(outs[k]);
      outChars.forEach((c, j) => {
        let change = j < inChars ? 0 : 1;
        if (j === outChars.length - 1 && outChars.length < inChars) change = -(inChars - outChars.length);
        changes.push([c, change]);
      });
    });
    ns.transform(changes, 0);
  }
}

/** Build a normalizer from its tokenizer.json description (`null` → none). */
export function normalizerFromJson(j: unknown, where = 'normalizer'): Normalizer | null {
  if (j === null || j === undefined) return null;
  const type = getType(j, where);
  const o = j as JsonObject;
  switch (type) {
    case 'Sequence':
      return new SequenceNormalizer(
        getArray(o, 'normalizers', where).map((n, k) => {
          const built = normalizerFromJson(n, `${where}.normalizers[${k}]`);
          if (built === null) throw unsupported(`${where}.normalizers[${k}]`, 'null normalizer in a Sequence');
          return built;
        }),
      );
    case 'Replace':
      return new ReplaceNormalizer(patternFromJson(o['pattern'], `${where} (Replace)`), getString(o, 'content', where));
    case 'Prepend':
      return new PrependNormalizer(getString(o, 'prepend', where));
    case 'Strip':
      return new StripNormalizer(getBool(o, 'strip_left', where, true), getBool(o, 'strip_right', where, true));
    case 'StripAccents':
      return new StripAccentsNormalizer();
    case 'Lowercase':
      return new LowercaseNormalizer();
    case 'NFC':
    case 'NFD':
    case 'NFKC':
    case 'NFKD':
      return new UnicodeNormalizer(type);
    default:
      throw unsupported(where, `normalizer type ${JSON.stringify(type)} is not supported`);
  }
}
