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
 * Alignments are approximated per combining sequence (HF gets them from the normalization algorithm):
 * when a sequence shrinks, its first output char stands for the first input chars, and the rest map one
 * to one onto the last input chars; when it grows, the extra chars map to the last input char. When the
 * per-sequence split does not reproduce the whole-string normalization, the whole string is one sequence.
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
    // Split into sequences: a char starts a new one unless normalizing it together with the current
    // sequence differs from normalizing the two apart (composition, reordering).
    const seqs: string[] = [];
    for (let i = 0; i < s.length; ) {
      const l = cpLenAt(s, i);
      const ch = s.slice(i, i + l);
      const last = seqs.length > 0 ? seqs[seqs.length - 1] : null;
      if (last !== null && (last + ch).normalize(this.form) !== last.normalize(this.form) + ch.normalize(this.form)) {
        seqs[seqs.length - 1] = last + ch;
      } else {
        seqs.push(ch);
      }
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
      // Fewer chars out (composition): the first one replaces the first input char and removes the
      // extra ones; more chars out (decomposition): the extra ones are inserted.
      const removed = Math.max(0, inChars - outChars.length);
      outChars.forEach((c, j) => changes.push([c, j === 0 ? -removed : j < inChars - removed ? 0 : 1]));
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
