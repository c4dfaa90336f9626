/**
 * Oniguruma → JavaScript regular expressions, and the match iteration Hugging Face tokenizers uses.
 *
 * HF compiles `{"Regex": ...}` patterns (Replace normalizer/decoder, Split) with Oniguruma through the
 * `onig` crate, using Oniguruma's default syntax (Ruby) and no options. Its meaning differs from a JS
 * RegExp on several points, which `translateOnigRegex` rewrites:
 *  - `^` / `$` are always line anchors, and the only line terminator is `\n` (JS `m` mode also breaks
 *    lines at `\r`, U+2028, U+2029). `^` matches at the start of the string, or after a `\n` that is
 *    not the last character of the string; `$` matches before any `\n` and at the end.
 *  - `.` matches anything but `\n` (JS: also not `\r`, U+2028, U+2029).
 *  - `\d`, `\w`, `\s`, `\b` are Unicode-aware (`\d` = Nd, `\s` = White_Space, `\w` = Alphabetic,
 *    Mark, Nd, Pc — and, from Oniguruma's Latin-1 table, ¹ ² ³ ¼ ½ ¾); `\h` is a hex digit; `\A`, `\z`,
 *    `\Z` exist.
 *  - `X{n}?` is "X{n}, optionally" and `X{n,m}+` is "(X{n,m})+" (Ruby syntax: not lazy / possessive).
 * Syntax with no JS equivalent (possessive quantifiers, atomic groups, inline options, `\G`, `\K`,
 * `\R`, `\X`, POSIX brackets, class intersections, ...) raises TOKENIZER_UNSUPPORTED rather than
 * silently matching something else.
 *
 * `OnigPattern.findAll` reproduces `onig::Regex::find_iter` (and HF's `Pattern::find_matches` on top):
 * an empty match that ends where the previous match ended is skipped (the search moves on by one
 * character), so `x*` over "axb" matches at (0,0), (1,2), (3,3) — JS `replace(/x*\/g)` would also
 * match at (2,2). And on an empty input HF reports no match at all.
 */
import { unsupported } from './json.js';

/** Unicode White_Space (Rust `char::is_whitespace`, Oniguruma/regex-crate `\s`); JS `\s` differs on U+0085, U+FEFF. */
export const WHITE_SPACE_CLASS_BODY = '\\t-\\r \\x85\\xA0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000';
/**
 * Oniguruma's `\w` (checked against the Rust package): Alphabetic, Mark, Nd, Pc (no Join_Control), plus
 * the Latin-1 digits ¹ ² ³ and fractions ¼ ½ ¾ that its ISO-8859-1 table counts as word characters.
 */
export const ONIG_WORD_CLASS_BODY = '\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\xB2\\xB3\\xB9\\xBC-\\xBE';
/** The Rust `regex` crate's `\w` (used by HF for `single_word`): Alphabetic, Mark, Nd, Pc, Join_Control. */
export const RUST_WORD_CLASS_BODY = '\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\p{Join_Control}';

// JS `^` / `$` without the `m` flag are the string's start / end. (Not `(?<![\s\S])`: V8 u-mode
// look-behinds wrongly succeed between the two halves of a surrogate pair.)
const BOL = '(?:^|(?<=\\n)(?=[\\s\\S]))';
const EOL = '(?=\\n|$)';
const WORD = `[${ONIG_WORD_CLASS_BODY}]`;
const WORD_BOUNDARY = `(?:(?<=${WORD})(?!${WORD})|(?<!${WORD})(?=${WORD}))`;
const NOT_WORD_BOUNDARY = `(?:(?<=${WORD})(?=${WORD})|(?<!${WORD})(?!${WORD}))`;

/** Characters that must be escaped to stand for themselves outside a JS (u-mode) character class. */
const SYNTAX_CHARS = new Set('^$\\.*+?()[]{}|/'.split(''));
/** Characters that must be escaped inside a JS (u-mode) character class. */
const CLASS_SYNTAX_CHARS = new Set('\\]-[^'.split(''));
const REGEX_META = /[\\^$.*+?()[\]{}|]/;

function literalOutside(ch: string): string {
  return SYNTAX_CHARS.has(ch) ? `\\${ch}` : ch;
}
function literalInClass(ch: string): string {
  return CLASS_SYNTAX_CHARS.has(ch) ? `\\${ch}` : ch;
}
function cpLiteral(cp: number, inClass: boolean): string {
  if (cp > 0x10ffff) throw new RangeError('code point out of range');
  // Controls and the like are emitted as \u{...} so the JS source stays readable and unambiguous.
  if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0)) return `\\u{${cp.toString(16)}}`;
  const ch = String.fromCodePoint(cp);
  return inClass ? literalInClass(ch) : literalOutside(ch);
}

/** A Unicode property name as Oniguruma accepts it (`\p{Han}`, `\p{L}`, `\p{Alpha}`) → JS `\p{...}` body. */
function translateProperty(name: string, pattern: string): string {
  const aliases: Record<string, string> = {
    Alpha: 'Alphabetic',
    Upper: 'Uppercase',
    Lower: 'Lowercase',
    Space: 'White_Space',
    Digit: 'Nd',
    Punct: 'P',
    Cntrl: 'Cc',
  };
  const candidates = [name, aliases[name], `Script=${name}`].filter((c): c is string => c !== undefined);
  for (const c of candidates) {
    try {
      new RegExp(`\\p{${c}}`, 'u');
      return c;
    } catch {
      // try the next spelling
    }
  }
  throw unsupported('Regex', `unknown Unicode property \\p{${name}} in pattern ${JSON.stringify(pattern)}`);
}

/**
 * Translate an Oniguruma (Ruby syntax) pattern into the source of an equivalent JS RegExp meant to be
 * compiled with the `u` flag. Throws TOKENIZER_UNSUPPORTED for syntax it cannot express exactly.
 */
export function translateOnigRegex(pattern: string): string {
  const cps = Array.from(pattern);
  let i = 0;
  let out = '';
  const fail = (what: string): never => {
    throw unsupported('Regex', `${what} in pattern ${JSON.stringify(pattern)} is not supported`);
  };
  // Count capture groups to tell backreferences (\1) from octal escapes. (With named groups present,
  // Oniguruma does not number plain groups and rejects numbered backreferences.)
  let groupCount = 0;
  let hasNamed = false;
  for (let k = 0; k < cps.length; k++) {
    if (cps[k] === '\\') k++;
    else if (cps[k] === '(' && cps[k + 1] !== '?') groupCount++;
    else if (cps[k] === '(' && cps[k + 1] === '?' && ((cps[k + 2] === '<' && cps[k + 3] !== '=' && cps[k + 3] !== '!') || cps[k + 2] === "'")) {
      groupCount++;
      hasNamed = true;
    }
  }

  const readHex = (min: number, max: number): number => {
    let s = '';
    while (s.length < max && i < cps.length && /^[0-9a-fA-F]$/.test(cps[i])) s += cps[i++];
    if (s.length < min) fail('malformed hex escape');
    return parseInt(s, 16);
  };

  /** Parse an escape after the backslash (i points past it). Returns JS source. */
  const escape = (inClass: boolean): string => {
    if (i >= cps.length) fail('trailing backslash');
    const c = cps[i++];
    switch (c) {
      case 't': return '\\t';
      case 'n': return '\\n';
      case 'r': return '\\r';
      case 'f': return '\\f';
      case 'v': return '\\v';
      case 'a': return '\\x07';
      case 'e': return '\\x1B';
      case 'x': {
        if (cps[i] === '{') {
          i++;
          const cp = readHex(1, 8);
          if (cps[i++] !== '}') fail('malformed \\x{...}');
          return cpLiteral(cp, inClass);
        }
        return cpLiteral(readHex(1, 2), inClass);
      }
      case 'u': return cpLiteral(readHex(4, 4), inClass);
      case '0': {
        let s = '';
        while (s.length < 2 && i < cps.length && /^[0-7]$/.test(cps[i])) s += cps[i++];
        return cpLiteral(s === '' ? 0 : parseInt(s, 8), inClass);
      }
      case 'd': return '\\p{Nd}';
      case 'D': return '\\P{Nd}';
      case 's': return inClass ? WHITE_SPACE_CLASS_BODY : `[${WHITE_SPACE_CLASS_BODY}]`;
      case 'S': return inClass ? fail('\\S inside a character class') : `[^${WHITE_SPACE_CLASS_BODY}]`;
      case 'w': return inClass ? ONIG_WORD_CLASS_BODY : WORD;
      case 'W': return inClass ? fail('\\W inside a character class') : `[^${ONIG_WORD_CLASS_BODY}]`;
      case 'h': return inClass ? '0-9a-fA-F' : '[0-9a-fA-F]';
      case 'H': return inClass ? fail('\\H inside a character class') : '[^0-9a-fA-F]';
      case 'p':
      case 'P': {
        if (cps[i] !== '{') fail(`\\${c} without {...}`);
        i++;
        let negate = c === 'P';
        if (cps[i] === '^') {
          negate = !negate;
          i++;
        }
        let name = '';
        while (i < cps.length && cps[i] !== '}') name += cps[i++];
        if (cps[i++] !== '}') fail('unterminated \\p{...}');
        return `\\${negate ? 'P' : 'p'}{${translateProperty(name, pattern)}}`;
      }
      case 'b': return inClass ? '\\x08' : WORD_BOUNDARY;
      case 'B': return inClass ? fail('\\B inside a character class') : NOT_WORD_BOUNDARY;
      case 'A': return inClass ? fail('\\A inside a character class') : '^';
      case 'z': return inClass ? fail('\\z inside a character class') : '$';
      case 'Z': return inClass ? fail('\\Z inside a character class') : '(?=\\n?$)';
      case 'k': {
        if (inClass || cps[i] !== '<') fail('\\k backreference');
        let name = '';
        i++;
        while (i < cps.length && cps[i] !== '>') name += cps[i++];
        i++;
        if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) fail(`\\k<${name}>`);
        return `\\k<${name}>`;
      }
      default: {
        if (/^[1-9]$/.test(c)) {
          let s = c;
          while (i < cps.length && /^[0-9]$/.test(cps[i])) s += cps[i++];
          const n = parseInt(s, 10);
          if (inClass || n > groupCount || hasNamed) fail(`\\${s} (octal escape, or backreference to a missing or unnumbered group)`);
          return `\\${n}`;
        }
        // Any other letter/digit escape is a feature we do not model (\G \K \R \X \N \O \g \Q ...).
        if (/^[\p{L}\p{N}]$/u.test(c)) fail(`escape \\${c}`);
        return inClass ? literalInClass(c) : literalOutside(c);
      }
    }
  };

  /** Parse a bracket expression; i points past '['. */
  const charClass = (): string => {
    let body = '';
    let negated = false;
    if (cps[i] === '^') {
      negated = true;
      i++;
    }
    let first = true;
    // One class atom: returns its JS source and, when it is a single character, its code point.
    const atom = (): { src: string; cp: number | null } => {
      const c = cps[i];
      if (c === '\\') {
        i++;
        const start = i;
        const src = escape(true);
        // Single-character escapes can be range endpoints.
        const ch = cps[start];
        const single = /^[tnrfvae0xu]$/.test(ch) || !/^[\p{L}\p{N}]$/u.test(ch);
        return { src, cp: single ? -1 : null };
      }
      if (c === '[') {
        if (cps[i + 1] === ':') fail('POSIX bracket expression');
        fail('nested character class');
      }
      if (c === '&' && cps[i + 1] === '&') fail('character class intersection (&&)');
      i++;
      return { src: literalInClass(c), cp: c.codePointAt(0) ?? 0 };
    };
    for (;;) {
      if (i >= cps.length) fail('unterminated character class');
      if (cps[i] === ']' && !first) {
        i++;
        break;
      }
      first = false;
      const lo = atom();
      if (cps[i] === '-' && cps[i + 1] !== ']' && i + 1 < cps.length) {
        i++;
        const hi = atom();
        if (lo.cp === null || hi.cp === null) fail('range with a class escape as an endpoint');
        body += `${lo.src}-${hi.src}`;
      } else {
        body += lo.src;
      }
    }
    return `[${negated ? '^' : ''}${body}]`;
  };

  /**
   * After an atom that starts at `out[atomStart]`: copy a quantifier if there is one. In Ruby syntax an
   * interval is never possessive (`X{n,m}+` repeats `X{n,m}`) and `X{n}?` means `(X{n})?`.
   */
  const quantifier = (atomStart: number): void => {
    const c = cps[i];
    let q: string;
    let exact = false;
    let interval = false;
    if (c === '*' || c === '+' || c === '?') {
      q = c;
      i++;
    } else if (c === '{') {
      const m = /^\{(\d*)(,?)(\d*)\}/.exec(cps.slice(i, i + 24).join(''));
      if (!m || (m[1] === '' && m[3] === '') || (m[1] === '' && m[2] === '')) return; // a literal '{'
      i += m[0].length;
      q = `{${m[1] === '' ? '0' : m[1]}${m[2]}${m[3]}}`;
      interval = true;
      exact = m[2] === '';
    } else {
      return;
    }
    out += q;
    const wrapWith = (suffix: string): void => {
      out = `${out.slice(0, atomStart)}(?:${out.slice(atomStart)})${suffix}`;
    };
    if (cps[i] === '?') {
      i++;
      if (exact) wrapWith('?');
      else out += '?';
    } else if (cps[i] === '+') {
      if (!interval) fail('possessive quantifier');
      i++;
      wrapWith('+');
    }
    if (cps[i] === '*' || cps[i] === '+' || cps[i] === '?' || (cps[i] === '{' && /^\{\d*,?\d*\}/.test(cps.slice(i, i + 24).join('')))) {
      fail('stacked quantifiers');
    }
  };

  /** Start offsets (in `out`) of the open groups. */
  const groupStarts: number[] = [];
  while (i < cps.length) {
    const c = cps[i++];
    const atomStart = out.length;
    switch (c) {
      case '\\': out += escape(false); break;
      case '.': out += '[^\\n]'; break;
      case '^': out += BOL; break;
      case '$': out += EOL; break;
      case '[': out += charClass(); break;
      case '|': out += '|'; continue;
      case ')': {
        const start = groupStarts.pop();
        if (start === undefined) fail('unbalanced )');
        out += ')';
        quantifier(start!);
        continue;
      }
      case '(': {
        groupStarts.push(out.length);
        if (cps[i] !== '?') {
          out += '(';
          continue;
        }
        const rest = cps.slice(i, i + 3).join('');
        if (rest.startsWith('?:') || rest.startsWith('?=') || rest.startsWith('?!')) {
          out += '(' + rest.slice(0, 2);
          i += 2;
        } else if (rest.startsWith('?<=') || rest.startsWith('?<!')) {
          out += '(' + rest;
          i += 3;
        } else if (rest.startsWith('?<') || rest.startsWith("?'")) {
          const close = rest[1] === '<' ? '>' : "'";
          i += 2;
          let name = '';
          while (i < cps.length && cps[i] !== close) name += cps[i++];
          i++;
          if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) fail(`group name ${JSON.stringify(name)}`);
          out += `(?<${name}>`;
        } else if (rest.startsWith('?#')) {
          groupStarts.pop();
          while (i < cps.length && cps[i] !== ')') i++;
          i++;
        } else if (rest.startsWith('?>')) {
          fail('atomic group (?>...)');
        } else {
          fail(`group syntax (${rest}`);
        }
        continue;
      }
      case '*':
      case '+':
      case '?':
        fail(`quantifier ${c} with nothing to repeat`);
        break;
      case '{':
        out += '\\{'; // a '{' that does not start a valid interval is a literal in Oniguruma
        break;
      default:
        out += literalOutside(c);
    }
    quantifier(atomStart);
  }
  if (groupStarts.length > 0) fail('unbalanced (');
  return out;
}

/** Length in UTF-16 code units of the code point at `i`. */
export function cpLenAt(s: string, i: number): number {
  const c = s.charCodeAt(i);
  if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
    const d = s.charCodeAt(i + 1);
    if (d >= 0xdc00 && d <= 0xdfff) return 2;
  }
  return 1;
}

/** Whether UTF-16 index `i` falls between the two halves of a surrogate pair. */
function isInsidePair(s: string, i: number): boolean {
  if (i <= 0 || i >= s.length) return false;
  const a = s.charCodeAt(i - 1);
  const b = s.charCodeAt(i);
  return a >= 0xd800 && a <= 0xdbff && b >= 0xdc00 && b <= 0xdfff;
}

/**
 * A compiled HF `Pattern`: either a literal string (HF `{"String": ...}`, or a `{"Regex": ...}` with no
 * metacharacter, which matches identically) or a translated Oniguruma regex.
 */
export class OnigPattern {
  readonly source: string;
  private readonly literal: string | null;
  private readonly re: RegExp | null;

  private constructor(source: string, literal: string | null, re: RegExp | null) {
    this.source = source;
    this.literal = literal;
    this.re = re;
  }

  static literal(s: string): OnigPattern {
    return new OnigPattern(s, s, null);
  }

  static regex(pattern: string): OnigPattern {
    if (pattern !== '' && !REGEX_META.test(pattern)) return new OnigPattern(pattern, pattern, null);
    const src = translateOnigRegex(pattern);
    let re: RegExp;
    try {
      re = new RegExp(src, 'gu');
    } catch (e) {
      throw unsupported('Regex', `pattern ${JSON.stringify(pattern)} could not be translated (${String(e)})`);
    }
    return new OnigPattern(pattern, null, re);
  }

  /**
   * The matches in `inside`, as flat [start0, end0, start1, end1, ...] UTF-16 offsets, in order and
   * non-overlapping (HF `find_matches` keeping only the matched parts).
   */
  findAll(inside: string): number[] {
    const out: number[] = [];
    const n = inside.length;
    if (n === 0) return out; // HF: an empty input never matches
    if (this.literal !== null) {
      const lit = this.literal;
      if (lit === '') return out; // HF: an empty String pattern matches nothing
      let from = 0;
      for (;;) {
        const k = inside.indexOf(lit, from);
        if (k < 0) break;
        out.push(k, k + lit.length);
        from = k + lit.length;
      }
      return out;
    }
    const re = this.re!;
    let lastEnd = 0;
    let lastMatchEnd = -1;
    while (lastEnd <= n) {
      re.lastIndex = lastEnd;
      const m = re.exec(inside);
      if (m === null) break;
      const s = m.index;
      const e = s + m[0].length;
      if (isInsidePair(inside, s) || isInsidePair(inside, e)) {
        // V8 can report an (empty) match between the halves of a surrogate pair; Oniguruma works on
        // whole characters, so look again from the next character.
        lastEnd = s + 1;
        continue;
      }
      if (s === e && e === lastMatchEnd) {
        // onig FindMatches: an empty match right after the previous match is skipped.
        lastEnd += lastEnd < n ? cpLenAt(inside, lastEnd) : 1;
        continue;
      }
      lastEnd = e;
      lastMatchEnd = e;
      out.push(s, e);
    }
    return out;
  }

  /** Replace every match by `content` (taken literally, as HF 0.23 does: no `$1` expansion). */
  replaceAll(inside: string, content: string): string {
    if (this.literal !== null) {
      if (this.literal === '' || inside.indexOf(this.literal) < 0) return inside;
      return inside.split(this.literal).join(content);
    }
    const m = this.findAll(inside);
    if (m.length === 0) return inside;
    let res = '';
    let prev = 0;
    for (let k = 0; k < m.length; k += 2) {
      res += inside.slice(prev, m[k]) + content;
      prev = m[k + 1];
    }
    return res + inside.slice(prev);
  }
}

/** Build the pattern of a `{"String": ...}` / `{"Regex": ...}` JSON value. */
export function patternFromJson(p: unknown, where: string): OnigPattern {
  if (typeof p === 'object' && p !== null) {
    const o = p as Record<string, unknown>;
    if (typeof o['String'] === 'string') return OnigPattern.literal(o['String']);
    if (typeof o['Regex'] === 'string') return OnigPattern.regex(o['Regex']);
  }
  throw unsupported(where, `pattern must be {"String": ...} or {"Regex": ...}, got ${JSON.stringify(p)}`);
}
