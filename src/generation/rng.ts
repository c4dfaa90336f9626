/**
 * A small, documented, seeded pseudo-random number generator for sampling.
 *
 * Generator: xoshiro128** 1.1 (Blackman & Vigna, https://prng.di.unimi.it/xoshiro128starstar.c), a 128-bit-state
 * generator producing 32-bit outputs. Every step uses only 32-bit integer operations (`Math.imul`, shifts, xor,
 * `>>> 0`), so the stream is bit-identical on every platform and JavaScript engine.
 *
 * Seeding: the 128-bit state is filled from two outputs of SplitMix64 (https://prng.di.unimi.it/splitmix64.c)
 * started at `seed` (taken modulo 2^64; negative seeds wrap as two's complement). SplitMix64 needs 64-bit
 * arithmetic, which is done exactly with BigInt (only at construction). Output k of SplitMix64 supplies state words
 * s[2k] = low 32 bits and s[2k+1] = high 32 bits.
 *
 * There is no global state: one `Rng` is owned by one generation (HF uses torch's global generator seeded by
 * `set_seed`; we cannot reproduce torch's stream, so only determinism for a given seed is promised, not equality
 * with PyTorch's draws).
 */
import { getRandomValues } from 'node:crypto';
import { FugakuError } from '../errors.js';

const MASK64 = (1n << 64n) - 1n;
const GOLDEN_GAMMA = 0x9e3779b97f4a7c15n;

/** One SplitMix64 step: returns [newState, output]. Exact 64-bit arithmetic via BigInt. */
function splitMix64(state: bigint): [bigint, bigint] {
  const s = (state + GOLDEN_GAMMA) & MASK64;
  let z = s;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
  return [s, z ^ (z >> 31n)];
}

function rotl32(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

export class Rng {
  /** The seed this generator was built from (reuse it to reproduce a run). */
  readonly seed: number;
  // xoshiro128** state, four unsigned 32-bit words.
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  /** @param seed a safe integer (|seed| < 2^53); it is reduced modulo 2^64 for SplitMix64. */
  constructor(seed: number) {
    if (!Number.isSafeInteger(seed)) {
      throw new FugakuError(
        'INVALID_ARGUMENT',
        `seed must be a safe integer, got ${String(seed)}`,
        'pass an integer between -(2^53-1) and 2^53-1',
      );
    }
    this.seed = seed;
    let state = BigInt.asUintN(64, BigInt(seed));
    let a: bigint;
    let b: bigint;
    [state, a] = splitMix64(state);
    [state, b] = splitMix64(state);
    this.s0 = Number(a & 0xffffffffn);
    this.s1 = Number(a >> 32n);
    this.s2 = Number(b & 0xffffffffn);
    this.s3 = Number(b >> 32n);
    // xoshiro must not start from the all-zero state (SplitMix64 makes this practically impossible; guard anyway).
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  /** A generator seeded from the OS entropy source; its `seed` (53 random bits) can be logged to reproduce it. */
  static fromEntropy(): Rng {
    const w = getRandomValues(new Uint32Array(2));
    // 21 high bits from w[0] and 32 bits from w[1]: a uniformly random non-negative safe integer.
    const seed = (w[0] >>> 11) * 2 ** 32 + w[1];
    return new Rng(seed);
  }

  /** Next unsigned 32-bit integer (xoshiro128** output function and state transition). */
  nextU32(): number {
    const result = Math.imul(rotl32(Math.imul(this.s1, 5) >>> 0, 7), 9) >>> 0;
    const t = (this.s1 << 9) >>> 0;
    this.s2 = (this.s2 ^ this.s0) >>> 0;
    this.s3 = (this.s3 ^ this.s1) >>> 0;
    this.s1 = (this.s1 ^ this.s2) >>> 0;
    this.s0 = (this.s0 ^ this.s3) >>> 0;
    this.s2 = (this.s2 ^ t) >>> 0;
    this.s3 = rotl32(this.s3, 11);
    return result;
  }

  /**
   * Uniform double in [0, 1) with 53 random bits: the top 27 bits of one output and the top 26 bits of the next,
   * (a >>> 5) * 2^26 + (b >>> 6), divided by 2^53 (the usual construction, exact in float64).
   */
  nextFloat(): number {
    const a = this.nextU32() >>> 5;
    const b = this.nextU32() >>> 6;
    return (a * 67108864 + b) / 9007199254740992;
  }
}
