import { FugakuError } from '../errors.js';
import type { Backend, Tensor } from '../backend/backend.js';

/** Element type of cached keys/values: float32, or IEEE half (half the memory; rounded on store). */
export type KVCacheDType = 'f32' | 'f16';
export const KV_CACHE_DTYPES: readonly KVCacheDType[] = ['f32', 'f16'];

/**
 * Key/value cache for one sequence: per layer, rows [capacity, nEmbd] of keys and values (f32 or f16
 * tensors owned by the backend: GPU memory on the WebGPU backend), plus a per-position mask on the host
 * (HF attention_mask: 1 = real token, 0 = padding never attended to).
 */
export class KVCache {
  readonly keys: Tensor[];
  readonly values: Tensor[];
  readonly keyMask: Uint8Array;
  /** Number of positions filled. */
  length = 0;
  /** True once any position was masked out (lets backends skip the mask when unused). */
  hasPadding = false;

  private freed = false;

  constructor(
    readonly backend: Backend,
    readonly nLayer: number,
    readonly width: number,
    readonly capacity: number,
    readonly dtype: KVCacheDType = 'f32',
  ) {
    const make = (): Tensor => backend.alloc(capacity * width, dtype);
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
    this.checkLive();
    const c = new KVCache(this.backend, this.nLayer, this.width, capacity, this.dtype);
    const n = length * this.width;
    if (n > 0) {
      for (let l = 0; l < this.nLayer; l++) {
        this.backend.copyRows(this.keys[l], 0, c.keys[l], 0, n);
        this.backend.copyRows(this.values[l], 0, c.values[l], 0, n);
      }
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

  /** Gives the keys and values back to the backend now (GPU memory); the cache cannot be used after. */
  free(): void {
    if (this.freed) return;
    this.freed = true;
    for (const t of [...this.keys, ...this.values]) this.backend.free(t);
  }

  /** Throws if the cache was freed. */
  checkLive(): void {
    if (this.freed) throw new FugakuError('INTERNAL', 'this KV cache was freed', 'make a new cache with model.newCache()');
  }
}
