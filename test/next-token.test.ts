/**
 * The shared next-token step (src/generation/next-token.ts) against plain reference computations,
 * with fast-check: the chosen token is the argmax (or the seeded draw) of the processed scores, the
 * logits are never modified, logprobs are those of the raw distribution, EOS and stop strings end the
 * sequence exactly when a brute-force search over the whole decoded output says so; and the KV cache's
 * one copy routine (KVCache.copy) against an element-by-element copy.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { nextToken, stopStringTail, type NextTokenOptions } from '../src/generation/next-token.js';
import { PresenceFrequencyPenaltyLogitsProcessor, RepetitionPenaltyLogitsProcessor, TemperatureLogitsWarper } from '../src/generation/processors.js';
import { Rng } from '../src/generation/rng.js';
import { argmax, logSoftmax, sampleFromLogits } from '../src/generation/sampling.js';
import { KVCache } from '../src/model/kv-cache.js';
import { ReferenceBackend } from '../src/backend/reference.js';
import { NativeBackend } from '../src/backend/native.js';

const V = 12;
// Token i decodes to one letter; 10 and 11 decode to two (so the tail must allow several characters per token).
const PIECES = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'xy', 'zz'];
const decode = (ids: number[]) => ids.map((i) => PIECES[i]).join('');

const logitsArb = fc.array(fc.float({ min: -8, max: 8, noNaN: true }), { minLength: V, maxLength: V }).map((a) => Float32Array.from(a));
const idsArb = fc.array(fc.integer({ min: 0, max: V - 1 }), { minLength: 1, maxLength: 30 });

test('greedy: the argmax of the processed scores; logits untouched; logprob of the raw distribution; appended to ids and out', () => {
  fc.assert(
    fc.property(logitsArb, idsArb, fc.double({ min: 1, max: 2, noNaN: true }), fc.double({ min: -1, max: 1, noNaN: true }), (logits, prompt, rep, pen) => {
      const before = logits.slice();
      const processors = [new PresenceFrequencyPenaltyLogitsProcessor(pen, pen / 2, 1), new RepetitionPenaltyLogitsProcessor(rep)];
      const seq = { ids: prompt.slice(), out: prompt.slice(1) };
      const expectScores = logits.slice();
      for (const p of processors) p.process(prompt, expectScores);
      const t = nextToken(logits, seq, { processors, doSample: false, rng: new Rng(1), logprobs: 2, eosTokenIds: [], stopStrings: [] });
      assert.deepEqual(logits, before);
      assert.equal(t.id, argmax(expectScores));
      assert.equal(t.logprob!.logprob, logSoftmax(logits)[t.id]);
      assert.equal(t.logprob!.top.length, 2);
      assert.deepEqual(seq.ids, [...prompt, t.id]);
      assert.equal(seq.out[seq.out.length - 1], t.id);
      assert.equal(t.finish, null);
    }),
    { numRuns: 300 },
  );
});

test('sampling: the same draw as sampleFromLogits on the processed scores with the same seed', () => {
  fc.assert(
    fc.property(logitsArb, idsArb, fc.integer({ min: 0, max: 2 ** 31 }), (logits, prompt, seed) => {
      const processors = [new TemperatureLogitsWarper(0.7)];
      const scores = logits.slice();
      processors[0].process(prompt, scores);
      const expected = sampleFromLogits(scores, new Rng(seed));
      const t = nextToken(logits, { ids: prompt.slice(), out: [] }, { processors, doSample: true, rng: new Rng(seed), logprobs: null, eosTokenIds: [], stopStrings: [] }, new Float32Array(V));
      assert.equal(t.id, expected);
      assert.equal(t.logprob, undefined);
    }),
    { numRuns: 300 },
  );
});

test('EOS and stop strings end the sequence exactly when the whole output says so (tail search = full search)', () => {
  const stopArb = fc.array(fc.stringMatching(/^[a-jxyz]{1,4}$/), { minLength: 1, maxLength: 3 });
  fc.assert(
    fc.property(idsArb, stopArb, fc.integer({ min: 0, max: V - 1 }), fc.option(fc.integer({ min: 0, max: V - 1 }), { nil: undefined }), (out, stops, forced, eos) => {
      // Generate token by token (the forced token is always chosen) as a loop would, until a finish.
      const logits = new Float32Array(V).fill(-1);
      const seq = { ids: [0], out: [] as number[] };
      const o: NextTokenOptions = { processors: [], doSample: false, rng: new Rng(0), logprobs: null, eosTokenIds: eos === undefined ? [] : [eos], stopStrings: stops, decode };
      for (const id of [...out, forced]) {
        logits.fill(-1);
        logits[id] = 1;
        const t = nextToken(logits, seq, o);
        const text = decode(seq.out);
        const isEos = eos !== undefined && id === eos;
        const expectStop = !isEos && stops.some((s) => text.includes(s));
        assert.equal(t.finish, isEos ? 'eos' : expectStop ? 'stop_string' : null, `${JSON.stringify(text)} stops ${JSON.stringify(stops)}`);
        if (expectStop) assert.ok(text.includes(t.stopString!));
        if (t.finish !== null) break;
      }
    }),
    { numRuns: 500 },
  );
});

test('stopsAfterTokens: no stop string before that many tokens; the caller decides while the tail reaches into them', () => {
  const logits = new Float32Array(V);
  const run = (ids: number[], after: number, full: (() => string | null) | undefined) => {
    const seq = { ids: [0], out: [] as number[] };
    const o: NextTokenOptions = { processors: [], doSample: false, rng: new Rng(0), logprobs: null, eosTokenIds: [], stopStrings: ['ab'], decode, stopsAfterTokens: after, stopInFullText: full };
    const finishes: (string | null)[] = [];
    for (const id of ids) {
      logits.fill(-1);
      logits[id] = 1;
      finishes.push(nextToken(logits, seq, o).finish);
    }
    return finishes;
  };
  assert.deepEqual(run([0, 1, 2], 0, undefined), [null, 'stop_string', 'stop_string']);
  assert.deepEqual(run([0, 1, 2], 2, undefined), [null, null, 'stop_string']);
  let calls = 0;
  assert.deepEqual(run([0, 1, 2], 2, () => { calls++; return null; }), [null, null, null]);
  assert.equal(calls, 1);
  // Past the window (tail tokens after the first ones) the tail is searched again.
  const long = [2, 2, ...new Array(stopStringTail(['ab'])).fill(2), 0, 1];
  assert.equal(run(long, 2, () => null).at(-1), 'stop_string');
});

test('KVCache.copy: the first `length` positions, mask and padding flag, into a cache of any capacity; clone is a full copy', async () => {
  // The cache rows are the backend's: written and read back through it (integers < 251: exact in f16).
  const backends = [new ReferenceBackend(), NativeBackend.create({ threads: 1 })];
  await fc.assert(
    fc.asyncProperty(fc.constantFrom(...backends), fc.constantFrom('f32' as const, 'f16' as const), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 10 }), fc.nat(), fc.nat(), fc.nat(), async (be, dtype, nLayer, width, cap, a, b, c) => {
      const src = new KVCache(be, nLayer, width, cap, dtype);
      src.length = a % (cap + 1);
      const pattern = (l: number, mul: number, add: number) => Float32Array.from({ length: cap * width }, (_, i) => (i * mul + l + add) % 251);
      for (let l = 0; l < nLayer; l++) { be.write(src.keys[l], pattern(l, 7, 0)); be.write(src.values[l], pattern(l, 3, 1)); }
      const pad = b % (cap + 1);
      if (pad < src.length) { src.keyMask[pad] = 0; src.hasPadding = true; }
      const length = src.length === 0 ? 0 : c % (src.length + 1);
      const capacity = length + (c % 4);
      const d = src.copy(length, capacity);
      assert.equal(d.capacity, capacity);
      assert.equal(d.length, length);
      assert.equal(d.dtype, dtype);
      for (let l = 0; l < nLayer; l++) {
        assert.equal(d.keys[l].dtype, dtype);
        const [dk, dv, sk, sv] = await Promise.all([d.keys[l], d.values[l], src.keys[l], src.values[l]].map((t) => be.read(t)));
        assert.equal(dk.length, capacity * width);
        for (let i = 0; i < length * width; i++) { assert.equal(dk[i], sk[i]); assert.equal(dv[i], sv[i]); }
        for (let i = length * width; i < capacity * width; i++) { assert.equal(dk[i], 0); assert.equal(dv[i], 0); }
      }
      for (let j = 0; j < capacity; j++) assert.equal(d.keyMask[j], j < length ? src.keyMask[j] : 1);
      assert.equal(d.hasPadding, Array.from(src.keyMask.subarray(0, length)).includes(0));
      const cl = src.clone();
      assert.equal(cl.capacity, cap);
      assert.equal(cl.length, src.length);
      assert.equal(cl.hasPadding, src.hasPadding);
      assert.deepEqual(await be.read(cl.keys[0], 0, src.length * width), await be.read(src.keys[0], 0, src.length * width));
      // A freed cache cannot be copied (its rows are given back to the backend).
      d.free();
      assert.throws(() => d.copy(0), (e: { code?: string }) => e.code === 'INTERNAL');
    }),
    { numRuns: 200 },
  );
  const s = new KVCache(new ReferenceBackend(), 1, 2, 4);
  s.length = 2;
  assert.throws(() => s.copy(3), (e: { code?: string }) => e.code === 'INVALID_ARGUMENT');
  assert.throws(() => s.copy(2, 1), (e: { code?: string }) => e.code === 'INVALID_ARGUMENT');
});
