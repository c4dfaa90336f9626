/**
 * Prefix reuse: the KV caches of finished sequences, keyed by the token ids whose keys/values they hold,
 * in a bounded LRU. A new request looks up the entry sharing the longest common prefix with its prompt
 * and starts from a copy of that many positions (e.g. turn 2 of a chat repeats all of turn 1). Entries
 * are never handed out, only copied, so one entry can seed many requests. The prefix cache owns the
 * caches put into it: it frees (`KVCache.free`, GPU memory) the ones it does not keep and the ones it evicts.
 */
import type { KVCache } from '../model/kv-cache.js';

interface Entry {
  ids: number[];
  cache: KVCache;
}

export interface PrefixMatch {
  /** A fresh cache of `capacity` holding the first `length` positions. */
  cache: KVCache;
  length: number;
}

export class PrefixCache {
  /** Most recently used last. */
  private entries: Entry[] = [];

  /**
   * @param maxEntries how many caches to keep (0 disables reuse)
   * @param minTokens shortest prefix worth reusing
   */
  constructor(
    readonly maxEntries: number,
    readonly minTokens = 4,
  ) {}

  get size(): number {
    return this.entries.length;
  }

  /**
   * Keeps `cache` (whose first cache.length positions belong to `ids`); the caller gives up the cache
   * (it is freed here when not worth keeping).
   */
  put(ids: readonly number[], cache: KVCache): void {
    if (this.maxEntries <= 0 || cache.length < this.minTokens) {
      cache.free();
      return;
    }
    const key = ids.slice(0, cache.length);
    // An entry that is a prefix of the new one is redundant.
    const redundant = (e: Entry) => e.ids.length <= key.length && commonPrefix(e.ids, key) === e.ids.length;
    for (const e of this.entries) if (redundant(e) && e.cache !== cache) e.cache.free();
    this.entries = this.entries.filter((e) => !redundant(e));
    this.entries.push({ ids: key, cache });
    while (this.entries.length > this.maxEntries) this.entries.shift()!.cache.free();
  }

  /**
   * The longest cached prefix of `prompt`, at most `prompt.length - 1` positions (the last prompt token
   * must still be run to get its logits), copied into a cache of `capacity`; null when none is long enough.
   */
  lookup(prompt: readonly number[], capacity: number): PrefixMatch | null {
    let best: Entry | null = null;
    let bestLen = 0;
    for (const e of this.entries) {
      const n = Math.min(commonPrefix(e.ids, prompt), prompt.length - 1, capacity);
      if (n > bestLen) {
        best = e;
        bestLen = n;
      }
    }
    if (best === null || bestLen < this.minTokens) return null;
    this.entries = this.entries.filter((e) => e !== best);
    this.entries.push(best);
    return { cache: best.cache.copy(bestLen, capacity), length: bestLen };
  }

  clear(): void {
    for (const e of this.entries) e.cache.free();
    this.entries = [];
  }
}

function commonPrefix(a: readonly number[], b: readonly number[]): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}
