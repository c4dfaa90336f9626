/**
 * Key/value cache for one sequence: per layer, float32 rows [capacity, nEmbd] of keys and values,
 * plus a per-position mask (HF attention_mask: 1 = real token, 0 = padding never attended to).
 */
export class KVCache {
  readonly keys: Float32Array[];
  readonly values: Float32Array[];
  readonly keyMask: Uint8Array;
  /** Number of positions filled. */
  length = 0;
  /** True once any position was masked out (lets backends skip the mask when unused). */
  hasPadding = false;

  constructor(
    readonly nLayer: number,
    readonly width: number,
    readonly capacity: number,
  ) {
    this.keys = Array.from({ length: nLayer }, () => new Float32Array(capacity * width));
    this.values = Array.from({ length: nLayer }, () => new Float32Array(capacity * width));
    this.keyMask = new Uint8Array(capacity).fill(1);
  }

  /** A deep copy (e.g. one prompt prefill shared by several sampled sequences). */
  clone(): KVCache {
    const c = new KVCache(this.nLayer, this.width, this.capacity);
    const n = this.length * this.width;
    for (let l = 0; l < this.nLayer; l++) {
      c.keys[l].set(this.keys[l].subarray(0, n));
      c.values[l].set(this.values[l].subarray(0, n));
    }
    c.keyMask.set(this.keyMask);
    c.length = this.length;
    c.hasPadding = this.hasPadding;
    return c;
  }

  /** Forgets positions from `length` on (e.g. to reuse a cached prefix). */
  truncate(length: number): void {
    this.length = Math.min(this.length, length);
    this.keyMask.fill(1, this.length);
  }
}
