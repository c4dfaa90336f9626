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
  constructor(entries: Iterable<[string, number]>) {
    const edges = new Map<number, number>(); // parent * 65536 + unit → child
    const values: number[] = [-1];
    for (const [key, v] of entries) {
      let node = 0;
      for (let i = 0; i < key.length; i++) {
        const k = node * 65536 + key.charCodeAt(i);
        let next = edges.get(k);
        if (next === undefined) {
          next = values.length;
          values.push(-1);
          edges.set(k, next);
        }
        node = next;
      }
      if (node !== 0) values[node] = v;
    }
    this.value = Int32Array.from(values);
    this.rootChild = new Int32Array(65536).fill(-1);
    let deep = 0;
    for (const k of edges.keys()) if (k >= 65536) deep++;
    let bits = 4;
    while (1 << bits < deep * 2) bits++;
    const cap = 1 << bits;
    this.mask = cap - 1;
    this.shift = 32 - bits;
    this.keyNode = new Int32Array(cap).fill(-1);
    this.keyUnit = new Uint16Array(cap);
    this.child = new Int32Array(cap);
    for (const [k, c] of edges) {
      const parent = Math.floor(k / 65536);
      const unit = k % 65536;
      if (parent === 0) {
        this.rootChild[unit] = c;
        continue;
      }
      let h = this.hash(parent, unit);
      while (this.keyNode[h] !== -1) h = (h + 1) & this.mask;
      this.keyNode[h] = parent;
      this.keyUnit[h] = unit;
      this.child[h] = c;
    }
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
