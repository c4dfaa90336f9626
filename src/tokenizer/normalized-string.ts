/**
 * Port of HF `NormalizedString`: a normalized string plus, optionally, its alignment with the original.
 *
 * HF keeps, for every byte of the normalized string, the (start, end) byte range of the original it came
 * from. We keep the same information per UTF-16 code unit (every unit of a character shares the
 * character's alignment, as every byte does in HF), in UTF-16 units of the original, and convert to
 * code point offsets at the very end. Tracking is optional: plain `encode` does not need offsets and
 * skips the bookkeeping (`align === null`).
 *
 * The alignment rules are HF's `transform_range`: a character that replaces another keeps that one's
 * alignment; an inserted character (change +1) copies the alignment of the unit just before it, or
 * gets (0, 0) at the very start; removed characters vanish. E.g. Replace(`^` → "▁") on "ab" gives "▁ab"
 * with "▁" aligned to (0, 0), while Prepend("▁") aligns it with "a", (0, 1).
 */
import { OnigPattern, cpLenAt } from './regex.js';

/** A growable pair list of alignments. */
class AlignBuilder {
  buf: Int32Array;
  len = 0; // in pairs
  constructor(capacityPairs: number) {
    this.buf = new Int32Array(Math.max(8, capacityPairs * 2));
  }
  push(start: number, end: number, times: number): void {
    const need = (this.len + times) * 2;
    if (need > this.buf.length) {
      const nb = new Int32Array(Math.max(need, this.buf.length * 2));
      nb.set(this.buf.subarray(0, this.len * 2));
      this.buf = nb;
    }
    for (let k = 0; k < times; k++) {
      this.buf[this.len * 2] = start;
      this.buf[this.len * 2 + 1] = end;
      this.len++;
    }
  }
  copyFrom(src: Int32Array, fromUnit: number, toUnit: number): void {
    const n = toUnit - fromUnit;
    if (n <= 0) return;
    const need = (this.len + n) * 2;
    if (need > this.buf.length) {
      const nb = new Int32Array(Math.max(need, this.buf.length * 2));
      nb.set(this.buf.subarray(0, this.len * 2));
      this.buf = nb;
    }
    this.buf.set(src.subarray(fromUnit * 2, toUnit * 2), this.len * 2);
    this.len += n;
  }
  finish(): Int32Array {
    return this.buf.slice(0, this.len * 2);
  }
}

/** One output character of a transformation and its HF `change`: 0 replaces, +1 inserts, -N also removes N. */
export type Change = [ch: string, change: number];

export class NormalizedString {
  /** The normalized text. */
  normalized: string;
  /** [start, end) in the original (relative to `originalShift`) for each UTF-16 unit, or null if not tracked. */
  align: Int32Array | null;
  /** Where this string's original starts in the whole input (UTF-16 units). */
  readonly originalShift: number;

  constructor(normalized: string, align: Int32Array | null, originalShift: number) {
    this.normalized = normalized;
    this.align = align;
    this.originalShift = originalShift;
  }

  /** A fresh, identity-aligned string (HF `NormalizedString::from`). */
  static from(original: string, trackAlignments: boolean, originalShift = 0): NormalizedString {
    let align: Int32Array | null = null;
    if (trackAlignments) {
      align = new Int32Array(original.length * 2);
      for (let i = 0; i < original.length; ) {
        const l = cpLenAt(original, i);
        for (let k = 0; k < l; k++) {
          align[(i + k) * 2] = i;
          align[(i + k) * 2 + 1] = i + l;
        }
        i += l;
      }
    }
    return new NormalizedString(original, align, originalShift);
  }

  get length(): number {
    return this.normalized.length;
  }

  /**
   * HF `NormalizedString::replace`: every match of `pattern` is replaced by `content`; each inserted
   * character is aligned like the last unit of the text it replaces (for an empty match: the unit just
   * before it, or (0, 0) at the start).
   */
  replace(pattern: OnigPattern, content: string): void {
    const s = this.normalized;
    const m = pattern.findAll(s);
    if (m.length === 0) return;
    if (this.align === null) {
      let res = '';
      let prev = 0;
      for (let k = 0; k < m.length; k += 2) {
        res += s.slice(prev, m[k]) + content;
        prev = m[k + 1];
      }
      this.normalized = res + s.slice(prev);
      return;
    }
    const old = this.align;
    const ab = new AlignBuilder(s.length + (m.length / 2) * content.length);
    let res = '';
    let prev = 0;
    for (let k = 0; k < m.length; k += 2) {
      const start = m[k];
      const end = m[k + 1];
      res += s.slice(prev, start) + content;
      ab.copyFrom(old, prev, start);
      let a0 = 0;
      let a1 = 0;
      if (end > start) {
        a0 = old[(end - 1) * 2];
        a1 = old[(end - 1) * 2 + 1];
      } else if (ab.len > 0) {
        a0 = ab.buf[(ab.len - 1) * 2];
        a1 = ab.buf[(ab.len - 1) * 2 + 1];
      }
      ab.push(a0, a1, content.length);
      prev = end;
    }
    res += s.slice(prev);
    ab.copyFrom(old, prev, s.length);
    this.normalized = res;
    this.align = ab.finish();
  }

  /**
   * HF `transform` over the whole string: `dest` lists the new characters with their change, and
   * `initialOffset` counts the characters removed at the very start.
   */
  transform(dest: Iterable<Change>, initialOffset: number): void {
    const s = this.normalized;
    if (this.align === null) {
      let res = '';
      for (const [ch] of dest) res += ch;
      this.normalized = res;
      return;
    }
    const old = this.align;
    const ab = new AlignBuilder(s.length);
    let res = '';
    // `offset` walks the old string (in units) as characters are replaced/removed.
    let offset = 0;
    for (let k = 0; k < initialOffset && offset < s.length; k++) offset += cpLenAt(s, offset);
    for (const [ch, change] of dest) {
      let a0 = 0;
      let a1 = 0;
      if (change > 0) {
        if (offset >= 1) {
          a0 = old[(offset - 1) * 2];
          a1 = old[(offset - 1) * 2 + 1];
        }
      } else if (offset < s.length) {
        a0 = old[offset * 2];
        a1 = old[offset * 2 + 1];
      }
      if (change <= 0 && offset < s.length) offset += cpLenAt(s, offset);
      for (let r = 0; r < -change && offset < s.length; r++) offset += cpLenAt(s, offset);
      res += ch;
      ab.push(a0, a1, ch.length);
    }
    this.normalized = res;
    this.align = ab.finish();
  }

  /** HF `prepend`: the first prepended char replaces the first char, the rest (and that char) are inserted. */
  prepend(p: string): void {
    if (this.normalized.length === 0 || p.length === 0) return;
    const s = this.normalized;
    const firstLen = cpLenAt(s, 0);
    const first = s.slice(0, firstLen);
    if (this.align === null) {
      this.normalized = p + s;
      return;
    }
    const old = this.align;
    const a0 = old[0];
    const a1 = old[1];
    const ab = new AlignBuilder(s.length + p.length);
    ab.push(a0, a1, p.length + first.length);
    ab.copyFrom(old, firstLen, s.length);
    this.normalized = p + s;
    this.align = ab.finish();
  }

  /** Keep only the characters for which `keep` holds (HF `filter`): kept characters keep their alignment. */
  filter(keep: (ch: string) => boolean): void {
    const s = this.normalized;
    let res = '';
    const ab = this.align === null ? null : new AlignBuilder(s.length);
    for (let i = 0; i < s.length; ) {
      const l = cpLenAt(s, i);
      const ch = s.slice(i, i + l);
      if (keep(ch)) {
        res += ch;
        if (ab !== null) ab.copyFrom(this.align!, i, i + l);
      }
      i += l;
    }
    this.normalized = res;
    if (ab !== null) this.align = ab.finish();
  }

  /** HF `lrstrip`: remove leading and/or trailing White_Space characters. */
  strip(left: boolean, right: boolean, isSpace: (ch: string) => boolean): void {
    const s = this.normalized;
    let a = 0;
    let b = s.length;
    if (left) {
      while (a < b) {
        const l = cpLenAt(s, a);
        if (!isSpace(s.slice(a, a + l))) break;
        a += l;
      }
    }
    if (right) {
      while (b > a) {
        const c = s.charCodeAt(b - 1);
        const l = c >= 0xdc00 && c <= 0xdfff && b - 2 >= a && cpLenAt(s, b - 2) === 2 ? 2 : 1;
        if (!isSpace(s.slice(b - l, b))) break;
        b -= l;
      }
    }
    if (a === 0 && b === s.length) return;
    this.normalized = s.slice(a, b);
    if (this.align !== null) this.align = this.align.slice(a * 2, b * 2);
  }

  /**
   * Map each character through `f` (Lowercase, Unicode normalization forms): the first output char of
   * an input char replaces it, further ones are inserted (HF `lowercase`). Used per character only.
   */
  mapChars(f: (ch: string) => string): void {
    const s = this.normalized;
    const changes: Change[] = [];
    for (let i = 0; i < s.length; ) {
      const l = cpLenAt(s, i);
      Array.from(f(s.slice(i, i + l))).forEach((c, k) => changes.push([c, k > 0 ? 1 : 0]));
      i += l;
    }
    this.transform(changes, 0);
  }

  /** The slice [start, end) of the normalized string, with its alignments (HF `slice(Range::Normalized)`). */
  slice(start: number, end: number): NormalizedString {
    const text = this.normalized.slice(start, end);
    if (this.align === null) return new NormalizedString(text, null, this.originalShift);
    if (start >= end) return new NormalizedString(text, new Int32Array(0), this.originalShift + start);
    const shift = this.align[start * 2];
    const al = this.align.slice(start * 2, end * 2);
    for (let k = 0; k < al.length; k++) al[k] -= shift;
    return new NormalizedString(text, al, this.originalShift + shift);
  }

  /**
   * HF `convert_offsets(Range::Normalized(start..end))` then shifted into the whole input: the original
   * range [first unit's start, last unit's end). An empty range is returned unchanged (as HF does).
   */
  originalRange(start: number, end: number): [number, number] {
    if (start === end || this.align === null) return [this.originalShift + start, this.originalShift + end];
    return [this.originalShift + this.align[start * 2], this.originalShift + this.align[(end - 1) * 2 + 1]];
  }
}
