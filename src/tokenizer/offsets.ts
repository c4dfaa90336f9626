/**
 * Offsets in the units Hugging Face reports: characters (Unicode code points) of the original input,
 * as Python's `encoding.offsets` (HF `OffsetType::Char`, `BytesToCharOffsetConverter`).
 *
 * We track offsets in UTF-16 units and convert at the end with HF's rules: a start inside the text maps
 * to its character index; an end at the very end of the text maps to the character count; a start at
 * (or past) the end is left unconverted — in UTF-8 bytes, as HF leaves it.
 */
export class CharOffsetConverter {
  private readonly len: number;
  /** Code point index of each UTF-16 unit, or null when the text has no surrogate pair (identity). */
  private readonly cpIndex: Int32Array | null;
  private readonly text: string;

  constructor(text: string) {
    this.text = text;
    this.len = text.length;
    let hasPair = false;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c >= 0xd800 && c <= 0xdfff) {
        hasPair = true;
        break;
      }
    }
    if (!hasPair) {
      this.cpIndex = null;
      return;
    }
    const idx = new Int32Array(text.length);
    let cp = 0;
    for (let i = 0; i < text.length; ) {
      const c = text.charCodeAt(i);
      const pair = c >= 0xd800 && c <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00;
      idx[i] = cp;
      if (pair) idx[i + 1] = cp;
      i += pair ? 2 : 1;
      cp++;
    }
    this.cpIndex = idx;
  }

  private cp(u: number): number {
    return this.cpIndex === null ? u : this.cpIndex[u];
  }

  convert(start: number, end: number): [number, number] {
    if (start < 0 || start >= this.len) {
      const bytes = Buffer.byteLength(this.text, 'utf8');
      return [bytes + (start - this.len), bytes + (end - this.len)];
    }
    if (end < this.len) return [this.cp(start), this.cp(end)];
    const last = end - 1 >= 0 && end - 1 < this.len ? this.cp(end - 1) : this.cp(start) + 1;
    return [this.cp(start), last + 1];
  }
}
