import { FugakuError } from '../errors.js';

/** Element type of cached keys/values: float32, or IEEE half (half the memory; rounded on store). */
export type KVCacheDType = 'f32' | 'f16';
export const KV_CACHE_DTYPES: readonly KVCacheDType[] = ['f32', 'f16'];

/** Rows of one layer's keys or values: Float32Array (f32) or f16 bit patterns (Uint16Array). */
export type KVArray = Float32Array | Uint16Array;

/**
 * Key/value cache for one sequence: per layer, rows [capacity, nEmbd] of keys and values (float32
 * or f16), plus a per-position mask (HF attention_mask: 1 = real token, 0 = padding never attended to).
 */
export class KVCache {
  readonly keys: KVArray[];
  readonly values: KVArray[];
  readonly keyMask: Uint8Array;
  /** Number of positions filled. */
  length = 0;
  /** True once any position was masked out (lets backends skip the mask when unused). */
  hasPadding = false;

  constructor(
    readonly nLayer: number,
    readonly width: number,
    readonly capacity: number,
    readonly dtype: KVCacheDType = 'f32',
  ) {
    const make = (): KVArray => (dtype === 'f16' ? new Uint16Array(capacity * width) : new Float32Array(capacity * width));
    this.keys = Array.from({ length: nLayer }, make);
    this.values = Array.from({ length: nLayer }, make);
    this.keyMask = new Uint8Array(capacity).fill(1);
  }

  /**
   * The one copy routine of a cache: its first `length` positions (default: all filled ones) in a new
   * cache of `capacity` positions (default: this one's). Used for a deep clone (one prompt prefill
   * shared by several sampled sequences) and for prefix reuse (turn 2 of a chat starts from turn 1's
   * keys and values, in a cache sized for the new request).
   */
  copy(length = this.length, capacity = this.capacity): KVCache {
    if (!Number.isInteger(length) || length < 0 || length > this.length) {
      throw new FugakuError('INVALID_ARGUMENT', `KVCache.copy: length ${length} is outside 0..${this.length} (the filled positions)`, 'copy at most the positions the cache holds');
    }
    if (!Number.isInteger(capacity) || capacity < length) {
      throw new FugakuError('INVALID_ARGUMENT', `KVCache.copy: capacity ${capacity} cannot hold ${length} positions`, 'give a capacity of at least the copied length');
    }
    const c = new KVCache(this.nLayer, this.width, capacity, this.dtype);
    const n = length * this.width;
    for (let l = 0; l < this.nLayer; l++) {
      copyRows(this.keys[l], c.keys[l], n);
      copyRows(this.values[l], c.values[l], n);
    }
    c.keyMask.set(this.keyMask.subarray(0, length));
    c.length = length;
    c.hasPadding = this.hasPadding && (length === this.length || this.keyMask.subarray(0, length).includes(0));
    return c;
  }

  /** A deep copy (e.g. one prompt prefill shared by several sampled sequences). */
  clone(): KVCache {
    return this.copy();
  }

  /** Forgets positions from `length` on (e.g. to reuse a cached prefix). */
  truncate(length: number): void {
    this.length = Math.min(this.length, length);
    this.keyMask.fill(1, this.length);
  }
}

/** dst[0..n) = src[0..n) for two cache arrays of the same dtype. */
export function copyRows(src: KVArray, dst: KVArray, n: number): void {
  if (src instanceof Float32Array && dst instanceof Float32Array) dst.set(src.subarray(0, n));
  else if (src instanceof Uint16Array && dst instanceof Uint16Array) dst.set(src.subarray(0, n));
  else throw new FugakuError('INTERNAL', 'copyRows: caches of different dtypes', 'copy between caches of one dtype');
}
