/**
 * A prefix trie over UTF-16 code units, laid out in typed arrays for fast common-prefix search.
 *
 * HF's Unigram walks a byte trie; since every vocabulary piece is a whole string, the prefixes that end
 * on a piece are the same whether counted in UTF-8 bytes or UTF-16 units, and they come out in the same
 * order (shortest first). Children of the root are a direct 65536-entry table (the first step is the
 * hottest); deeper edges live in one open-addressing hash table keyed by (node, code unit).
 */
export class PrefixTrie {
  /** Child of the root for each code unit, or -1. */
  private readonly rootChild: Int32Array;
  /** Edge table: parent node, code unit, child node; keyNode = -1 marks an empty slot. */
  private readonly keyNode: Int32Array;
  private readonly keyUnit: Uint16Array;
  private readonly child: Int32Array;
  private readonly mask: number;
  /** 32 - log2(table size): the hash keeps the high bits of the multiplicative mix. */
  private readonly shift: number;
  /** For each node, the value stored at it (a token id), or -1. Node 0 is the root. */
  readonly value: Int32Array;

  /** Build from (key, value) pairs; a repeated key keeps the last value (like HF's `token_to_ids`). */
  constructor(entries: readonly (readonly [string, number])[]) {
    let units = 0;
    for (const [key] of entries) units += key.length;
    // Every code unit after the first of a key may add one edge; keep the table at most half full.
    let bits = 4;
    while (1 << bits < units * 2) bits++;
    this.mask = (1 << bits) - 1;
    this.shift = 32 - bits;
    this.keyNode = new Int32Array(1 << bits).fill(-1);
    this.keyUnit = new Uint16Array(1 << bits);
    this.child = new Int32Array(1 << bits);
    this.rootChild = new Int32Array(65536).fill(-1);
    const values = new Int32Array(units + 1).fill(-1);
    let nodes = 1; // node 0 is the root
    for (const [key, v] of entries) {
      if (key.length === 0) continue;
      let node = this.rootChild[key.charCodeAt(0)];
      if (node < 0) {
        node = nodes++;
        this.rootChild[key.charCodeAt(0)] = node;
      }
      for (let i = 1; i < key.length; i++) {
        const unit = key.charCodeAt(i);
        let h = this.hash(node, unit);
        for (;;) {
          const k = this.keyNode[h];
          if (k === -1) {
            this.keyNode[h] = node;
            this.keyUnit[h] = unit;
            this.child[h] = nodes;
            node = nodes++;
            break;
          }
          if (k === node && this.keyUnit[h] === unit) {
            node = this.child[h];
            break;
          }
          h = (h + 1) & this.mask;
        }
      }
      values[node] = v;
    }
    this.value = values.slice(0, nodes);
  }

  private hash(node: number, unit: number): number {
    return Math.imul(Math.imul(node, 0x9e3779b1) ^ unit, 0x85ebca6b) >>> this.shift;
  }

  /** The child of the root for `unit`, or -1. */
  first(unit: number): number {
    return this.rootChild[unit];
  }

  /** The child of `node` (not the root) for `unit`, or -1. */
  next(node: number, unit: number): number {
    const keyNode = this.keyNode;
    let h = Math.imul(Math.imul(node, 0x9e3779b1) ^ unit, 0x85ebca6b) >>> this.shift;
    for (;;) {
      const k = keyNode[h];
      if (k === node && this.keyUnit[h] === unit) return this.child[h];
      if (k === -1) return -1;
      h = (h + 1) & this.mask;
    }
  }
}
