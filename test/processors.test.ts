/**
 * Logits processors against Hugging Face transformers' outputs (test/fixtures/golden/processors.json, made with
 * transformers 5.17.0 / torch 2.11, float32) plus property tests against naive sort-based references.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as fc from 'fast-check';
import { goldenDir } from './helpers.js';
import {
  type LogitsProcessor,
  RepetitionPenaltyLogitsProcessor,
  NoRepeatNGramLogitsProcessor,
  NoBadWordsLogitsProcessor,
  MinLengthLogitsProcessor,
  MinNewTokensLengthLogitsProcessor,
  SuppressTokensLogitsProcessor,
  TemperatureLogitsWarper,
  TopKLogitsWarper,
  TopPLogitsWarper,
  MinPLogitsWarper,
  TypicalLogitsWarper,
  buildLogitsProcessors,
  applyLogitsProcessors,
} from '../src/generation/processors.js';
import { resolveGenerationConfig, type GenerationConfig } from '../src/generation/config.js';
import { FugakuError } from '../src/errors.js';

interface ProcessorsGolden {
  input_ids: number[];
  logits: number[];
  cases: Record<string, (number | null)[]>;
  generate_order: { card: string[]; all: string[] };
}

const golden: ProcessorsGolden = JSON.parse(fs.readFileSync(path.join(goldenDir, 'processors.json'), 'utf8'));

/**
 * The two settings the golden's `generate_order` / `combined_*` were made with. "card" is the Fugaku-LLM model
 * card's call (`do_sample=True, temperature=0.1, top_p=1.0, top_k=0, repetition_penalty=1.0`); "all" switches on
 * every processor in the golden list (the single-processor cases use the same parameters).
 */
const SETTINGS: Record<'card' | 'all', Record<string, unknown>> = {
  card: { doSample: true, temperature: 0.1, topP: 1.0, topK: 0, repetitionPenalty: 1.0, maxNewTokens: 128 },
  all: { doSample: true, repetitionPenalty: 1.2, noRepeatNgramSize: 3, temperature: 0.7, topK: 50, topP: 0.9, minP: 0.05 },
};

function configFor(setting: 'card' | 'all'): GenerationConfig {
  return resolveGenerationConfig({ bos_token_id: 1, eos_token_id: 7, pad_token_id: 4 }, {}, SETTINGS[setting]);
}

/** Maps a golden case name to the processors that produce it (throws on an unrecognized name). */
function processorsForCase(name: string): LogitsProcessor[] {
  const num = (prefix: string): number | null => {
    if (!name.startsWith(prefix)) return null;
    const rest = name.slice(prefix.length);
    const v = Number(rest);
    return rest !== '' && Number.isFinite(v) ? v : null;
  };
  let v: number | null;
  // Order matters where one prefix extends another (top_k_ / top_p_ are distinct; no ambiguity otherwise).
  if ((v = num('temperature_')) !== null) return [new TemperatureLogitsWarper(v)];
  if ((v = num('top_k_')) !== null) return [new TopKLogitsWarper(v)];
  if ((v = num('top_p_')) !== null) return [new TopPLogitsWarper(v)];
  if ((v = num('repetition_')) !== null) return [new RepetitionPenaltyLogitsProcessor(v)];
  if ((v = num('min_p_')) !== null) return [new MinPLogitsWarper(v)];
  if ((v = num('typical_')) !== null) return [new TypicalLogitsWarper(v)];
  if ((v = num('no_repeat_ngram_')) !== null) return [new NoRepeatNGramLogitsProcessor(v)];
  if (name === 'combined_card') return buildLogitsProcessors(configFor('card'), golden.input_ids.length);
  if (name === 'combined_all') return buildLogitsProcessors(configFor('all'), golden.input_ids.length);
  throw new Error(`unrecognized golden case ${JSON.stringify(name)}: add it to processorsForCase`);
}

function assertMatchesGolden(got: Float32Array, want: (number | null)[], label: string): void {
  assert.equal(got.length, want.length, `${label}: length`);
  let worst = 0;
  for (let i = 0; i < want.length; i++) {
    const w = want[i];
    if (w === null) {
      assert.equal(got[i], -Infinity, `${label}: token ${i} should be -inf (HF filtered it), got ${got[i]}`);
    } else {
      assert.ok(Number.isFinite(got[i]), `${label}: token ${i} should be finite ${w}, got ${got[i]}`);
      worst = Math.max(worst, Math.abs(got[i] - w));
    }
  }
  assert.ok(worst <= 1e-5, `${label}: max abs difference ${worst} > 1e-5`);
}

describe('golden: HF logits processors (processors.json)', () => {
  test('every golden case name is recognized', () => {
    const unknown = Object.keys(golden.cases).filter((name) => {
      try {
        processorsForCase(name);
        return false;
      } catch {
        return true;
      }
    });
    assert.deepEqual(unknown, [], `unrecognized cases: ${unknown.join(', ')}`);
    assert.ok(Object.keys(golden.cases).length >= 12);
  });

  for (const [name, want] of Object.entries(golden.cases)) {
    test(`case ${name}`, () => {
      const scores = Float32Array.from(golden.logits);
      applyLogitsProcessors(processorsForCase(name), golden.input_ids, scores);
      assertMatchesGolden(scores, want, name);
    });
  }

  for (const setting of ['card', 'all'] as const) {
    test(`generate_order.${setting}: buildLogitsProcessors builds HF's list in HF's order`, () => {
      const names = buildLogitsProcessors(configFor(setting), golden.input_ids.length).map((p) => p.name);
      assert.deepEqual(names, golden.generate_order[setting]);
    });
  }

  test('single-processor cases are exact float32 for the elementwise ops', () => {
    // temperature and repetition penalty are elementwise: we reproduce torch's float32 result bit for bit.
    for (const name of ['temperature_0.7', 'temperature_0.1', 'repetition_1.2', 'repetition_0.8']) {
      const scores = Float32Array.from(golden.logits);
      applyLogitsProcessors(processorsForCase(name), golden.input_ids, scores);
      const want = Float32Array.from(golden.cases[name] as number[]);
      assert.deepEqual(scores, want, name);
    }
  });
});

describe('buildLogitsProcessors', () => {
  const base = (opts: Record<string, unknown>): GenerationConfig => resolveGenerationConfig(null, { eosTokenId: 7 }, opts);

  test('greedy builds no warpers even with sampling knobs set', () => {
    const cfg = base({ doSample: false, temperature: 0.5, topK: 10, topP: 0.5, minP: 0.1, typicalP: 0.5 });
    assert.deepEqual(buildLogitsProcessors(cfg, 3), []);
  });

  test('HF defaults with doSample: only TopK(50) (temperature 1.0 and top_p 1.0 are skipped)', () => {
    const list = buildLogitsProcessors(base({ doSample: true }), 3);
    assert.deepEqual(list.map((p) => p.name), ['TopKLogitsWarper']);
    assert.equal((list[0] as TopKLogitsWarper).topK, 50);
  });

  test('every supported processor, in HF _get_logits_processor order', () => {
    const cfg = base({
      doSample: true,
      repetitionPenalty: 1.1,
      noRepeatNgramSize: 2,
      badWordsIds: [[5], [6, 8]],
      minNewTokens: 2,
      suppressTokens: [3],
      temperature: 0.8,
      topK: 20,
      topP: 0.95,
      minP: 0,
      typicalP: 0.9,
    });
    assert.deepEqual(
      buildLogitsProcessors(cfg, 10).map((p) => p.name),
      [
        'RepetitionPenaltyLogitsProcessor',
        'NoRepeatNGramLogitsProcessor',
        'NoBadWordsLogitsProcessor',
        'MinLengthLogitsProcessor',
        'MinNewTokensLengthLogitsProcessor',
        'SuppressTokensLogitsProcessor',
        'TemperatureLogitsWarper',
        'TopKLogitsWarper',
        'TopPLogitsWarper',
        'MinPLogitsWarper',
        'TypicalLogitsWarper',
      ],
    );
    // min_new_tokens is rewritten into min_length = prompt + min_new_tokens (HF _prepare_generated_length)
    const minLen = buildLogitsProcessors(cfg, 10).find((p) => p.name === 'MinLengthLogitsProcessor') as MinLengthLogitsProcessor;
    assert.equal(minLen.minLength, 12);
  });

  test('min-length processors need an EOS id', () => {
    const cfg = resolveGenerationConfig(null, {}, { minLength: 5, minNewTokens: 2 });
    assert.deepEqual(buildLogitsProcessors(cfg, 3), []);
  });
});

describe('individual processors (hand-checked)', () => {
  test('MinLength / MinNewTokens ban every EOS id until the length is reached', () => {
    const s = new Float32Array([1, 2, 3, 4]);
    new MinLengthLogitsProcessor(4, [1, 3]).process([0, 0, 0], s);
    assert.deepEqual([...s], [1, -Infinity, 3, -Infinity]);
    const t = new Float32Array([1, 2, 3, 4]);
    new MinLengthLogitsProcessor(3, [1]).process([0, 0, 0], t);
    assert.deepEqual([...t], [1, 2, 3, 4]);
    const u = new Float32Array([1, 2, 3, 4]);
    new MinNewTokensLengthLogitsProcessor(2, 2, [2]).process([0, 0, 9], u); // 1 new token < 2
    assert.deepEqual([...u], [1, 2, -Infinity, 4]);
    const w = new Float32Array([1, 2, 3, 4]);
    new MinNewTokensLengthLogitsProcessor(2, 2, [2]).process([0, 0, 9, 9], w); // 2 new tokens
    assert.deepEqual([...w], [1, 2, 3, 4]);
  });

  test('NoBadWords: single ids always, sequences when their prefix ends the input; [eos] entries dropped', () => {
    const p = new NoBadWordsLogitsProcessor([[1], [2, 3], [4, 5, 0], [7]], [7]);
    const s = new Float32Array(8).fill(1);
    p.process([1, 2], s); // ends with 2 -> ban 3; [4,5] is not a suffix
    assert.deepEqual([...s], [1, -Infinity, 1, -Infinity, 1, 1, 1, 1]);
    const t = new Float32Array(8).fill(1);
    p.process([3, 4, 5], t); // ends with 4,5 -> ban 0
    assert.deepEqual([...t], [-Infinity, -Infinity, 1, 1, 1, 1, 1, 1]);
    const u = new Float32Array(8).fill(1);
    p.process([4, 5], u); // HF skips an entry longer than the whole sequence (3 > 2), even if its prefix matches
    assert.deepEqual([...u], [1, -Infinity, 1, 1, 1, 1, 1, 1]);
    assert.throws(() => p.process([1], new Float32Array(4)), (e: unknown) => e instanceof FugakuError && e.code === 'TOKEN_ID_OUT_OF_RANGE');
  });

  test('SuppressTokens sets -inf and ignores ids outside the vocabulary', () => {
    const s = new Float32Array([1, 2, 3]);
    new SuppressTokensLogitsProcessor([0, 2, 99]).process([], s);
    assert.deepEqual([...s], [-Infinity, 2, -Infinity]);
  });

  test('constructors reject what HF rejects', () => {
    const isInvalid = (e: unknown): boolean => e instanceof FugakuError && e.code === 'GENERATION_CONFIG_INVALID';
    assert.throws(() => new TemperatureLogitsWarper(0), isInvalid);
    assert.throws(() => new TopKLogitsWarper(0), isInvalid);
    assert.throws(() => new TopKLogitsWarper(2.5), isInvalid);
    assert.throws(() => new TopPLogitsWarper(-0.1), isInvalid);
    assert.throws(() => new TopPLogitsWarper(1.1), isInvalid);
    assert.throws(() => new MinPLogitsWarper(1.5), isInvalid);
    assert.throws(() => new TypicalLogitsWarper(1), isInvalid);
    assert.throws(() => new RepetitionPenaltyLogitsProcessor(0), isInvalid);
    assert.throws(() => new NoRepeatNGramLogitsProcessor(0), isInvalid);
    assert.throws(() => new NoBadWordsLogitsProcessor([]), isInvalid);
    assert.throws(() => new NoBadWordsLogitsProcessor([[]]), isInvalid);
  });

  test('top_p = 0 keeps exactly the most probable token (HF accepts 0)', () => {
    const s = new Float32Array([0.5, 3, 1, 2.9]);
    new TopPLogitsWarper(0).process([], s);
    assert.deepEqual([...s], [-Infinity, 3, -Infinity, -Infinity]);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Property tests against naive references
// ---------------------------------------------------------------------------------------------------------------

/** Logit vectors with many ties (values on a coarse grid) and occasional -inf. */
const logitsArb = (minLength = 1, maxLength = 40): fc.Arbitrary<Float32Array> =>
  fc
    .array(fc.oneof({ weight: 9, arbitrary: fc.integer({ min: -40, max: 40 }).map((x) => x / 4) }, { weight: 1, arbitrary: fc.constant(-Infinity) }), {
      minLength,
      maxLength,
    })
    .filter((xs) => xs.some((x) => x > -Infinity))
    .map((xs) => Float32Array.from(xs));

/** Logit vectors of distinct-ish random finite values. */
const smoothLogitsArb = (minLength = 1, maxLength = 40): fc.Arbitrary<Float32Array> =>
  fc.array(fc.integer({ min: -800000, max: 800000 }).map((x) => x / 100000), { minLength, maxLength }).map((xs) => Float32Array.from(xs));

function softmax64(xs: ArrayLike<number>): number[] {
  let m = -Infinity;
  for (let i = 0; i < xs.length; i++) m = Math.max(m, xs[i]);
  const e = Array.from(xs, (x) => Math.exp(x - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
}

/** Indices sorted by descending value (ties: lower index first). */
function descendingOrder(xs: ArrayLike<number>): number[] {
  return Array.from(xs, (_, i) => i).sort((a, b) => xs[b] - xs[a] || a - b);
}

describe('property tests', () => {
  test('top-k keeps exactly the entries >= the k-th largest (ties kept), at least k finite ones', () => {
    fc.assert(
      fc.property(logitsArb(), fc.integer({ min: 1, max: 50 }), (scores, k) => {
        const out = Float32Array.from(scores);
        new TopKLogitsWarper(k).process([], out);
        // naive reference: sort descending, threshold = k-th value
        const sorted = [...scores].sort((a, b) => b - a);
        const threshold = sorted[Math.min(k, scores.length) - 1];
        for (let i = 0; i < scores.length; i++) {
          assert.equal(out[i], scores[i] >= threshold ? scores[i] : -Infinity);
        }
        const finiteIn = scores.filter((x) => x > -Infinity).length;
        const finiteOut = out.filter((x) => x > -Infinity).length;
        assert.ok(finiteOut >= Math.min(k, finiteIn));
      }),
      { numRuns: 300 },
    );
  });

  test('top-p keeps the smallest most-probable set with mass >= p (at least one token)', () => {
    fc.assert(
      fc.property(smoothLogitsArb(), fc.integer({ min: 0, max: 1000 }).map((x) => x / 1000), (scores, p) => {
        const probs = softmax64(scores);
        const order = descendingOrder(scores);
        // Reference: walk down the descending order until the mass reaches p.
        const expected = new Set<number>();
        let mass = 0;
        let nearBoundary = false;
        for (const i of order) {
          expected.add(i);
          mass += probs[i];
          if (Math.abs(mass - p) < 1e-5) nearBoundary = true;
          if (mass >= p) break;
        }
        fc.pre(!nearBoundary); // float32 rounding may legitimately decide a token sitting on the boundary
        const distinct = new Set(scores).size === scores.length;
        fc.pre(distinct);
        const out = Float32Array.from(scores);
        new TopPLogitsWarper(p).process([], out);
        const kept = new Set<number>();
        out.forEach((x, i) => {
          if (x > -Infinity) kept.add(i);
        });
        assert.ok(kept.size >= 1);
        assert.deepEqual([...kept].sort((a, b) => a - b), [...expected].sort((a, b) => a - b));
        for (const i of kept) assert.equal(out[i], scores[i]); // kept scores untouched
      }),
      { numRuns: 300 },
    );
  });

  test("top-p equals HF's literal formulation (full ascending sort, float32 cumsum <= 1 - top_p) on large vocabularies", () => {
    // Reference: a line-by-line transcription of TopPLogitsWarper.__call__ with a plain comparator sort.
    const reference = (scores: Float32Array, topP: number): Float32Array => {
      const v = scores.length;
      const order = Array.from(scores, (_, i) => i).sort((a, b) => scores[a] - scores[b] || a - b);
      let m = -Infinity;
      for (const x of scores) m = Math.max(m, x);
      let sum = 0;
      for (const x of scores) sum += Math.exp(x - m);
      const probs = Array.from(scores, (x) => Math.fround(Math.exp(x - m) / sum));
      const out = Float32Array.from(scores);
      let cumulative = 0;
      for (let j = 0; j < v; j++) {
        cumulative += probs[order[j]];
        const remove = Math.fround(cumulative) <= Math.fround(1 - topP) && j < v - 1;
        if (remove) out[order[j]] = -Infinity;
      }
      return out;
    };
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 3000 }),
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        fc.integer({ min: 1, max: 400 }).map((x) => x / 100),
        fc.integer({ min: 0, max: 1000 }).map((x) => x / 1000),
        (v, seed, spread, topP) => {
          // pseudo-random logits, some -inf, peaked or flat depending on `spread`
          let state = seed >>> 0;
          const next = (): number => {
            state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
            return state / 2 ** 32;
          };
          const scores = Float32Array.from({ length: v }, () => (next() < 0.05 ? -Infinity : (next() - 0.5) * 10 * spread));
          if (scores.every((x) => x === -Infinity)) scores[0] = 0;
          const out = Float32Array.from(scores);
          new TopPLogitsWarper(topP).process([], out);
          assert.deepEqual(out, reference(scores, topP));
        },
      ),
      { numRuns: 150 },
    );
  });

  test('top-k (heap selection) equals the sort-based threshold on large vocabularies', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -50, max: 50 }), { minLength: 1, maxLength: 3000 }), fc.integer({ min: 1, max: 200 }), (xs, k) => {
        const scores = Float32Array.from(xs, (x) => x / 8);
        const out = Float32Array.from(scores);
        new TopKLogitsWarper(k).process([], out);
        const sorted = Array.from(scores).sort((a, b) => b - a);
        const threshold = sorted[Math.min(k, sorted.length) - 1];
        assert.deepEqual(out, Float32Array.from(scores, (x) => (x >= threshold ? x : -Infinity)));
      }),
      { numRuns: 100 },
    );
  });

  test('temperature divides every score in float32 and preserves the ranking', () => {
    fc.assert(
      fc.property(logitsArb(), fc.integer({ min: 1, max: 400 }).map((x) => x / 100), (scores, t) => {
        const out = Float32Array.from(scores);
        new TemperatureLogitsWarper(t).process([], out);
        for (let i = 0; i < scores.length; i++) {
          assert.equal(out[i], Math.fround(scores[i] / Math.fround(t)));
          for (let j = 0; j < scores.length; j++) {
            if (scores[i] < scores[j]) assert.ok(out[i] <= out[j]);
          }
        }
      }),
      { numRuns: 200 },
    );
  });

  test('repetition penalty: seen tokens only, once each, negative scores * p and non-negative / p', () => {
    fc.assert(
      fc.property(
        logitsArb(2, 30),
        fc.integer({ min: 1, max: 400 }).map((x) => x / 100),
        fc.array(fc.nat(), { maxLength: 60 }),
        (scores, penalty, rawIds) => {
          const ids = rawIds.map((x) => x % scores.length);
          const out = Float32Array.from(scores);
          new RepetitionPenaltyLogitsProcessor(penalty).process(ids, out);
          const seen = new Set(ids);
          for (let i = 0; i < scores.length; i++) {
            const s = scores[i];
            if (!seen.has(i)) {
              assert.equal(out[i], s);
              continue;
            }
            const want = s < 0 ? Math.fround(s * Math.fround(penalty)) : Math.fround(s / Math.fround(penalty));
            assert.equal(out[i], want);
            // sign is preserved; a penalty > 1 never makes a seen token more likely
            if (s !== 0) assert.equal(Math.sign(out[i]), Math.sign(s));
            if (penalty >= 1) assert.ok(out[i] <= s);
            else assert.ok(out[i] >= s);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  test('min-p keeps tokens with p >= min_p * p_max (and always the top token)', () => {
    fc.assert(
      fc.property(smoothLogitsArb(), fc.integer({ min: 0, max: 1000 }).map((x) => x / 1000), (scores, minP) => {
        const probs = softmax64(scores);
        const top = Math.max(...probs);
        fc.pre(probs.every((q) => Math.abs(q - minP * top) > 1e-6 * top));
        const out = Float32Array.from(scores);
        new MinPLogitsWarper(minP).process([], out);
        const best = descendingOrder(scores)[0];
        for (let i = 0; i < scores.length; i++) {
          const keep = probs[i] >= minP * top || i === best;
          assert.equal(out[i], keep ? scores[i] : -Infinity);
        }
      }),
      { numRuns: 300 },
    );
  });

  test('no-repeat-ngram bans exactly the tokens that would repeat an existing n-gram', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 30 }), fc.integer({ min: 1, max: 4 }), (ids, n) => {
        const vocab = 5;
        const out = new Float32Array(vocab).fill(1);
        new NoRepeatNGramLogitsProcessor(n).process(ids, out);
        // naive: every candidate t is banned iff (ids + [t]) ends with an n-gram occurring earlier in ids
        const seen = new Set<string>();
        for (let s = 0; s + n <= ids.length; s++) seen.add(ids.slice(s, s + n).join(','));
        for (let t = 0; t < vocab; t++) {
          const candidate = [...ids, t].slice(-n);
          const banned = ids.length >= n && candidate.length === n && seen.has(candidate.join(','));
          assert.equal(out[t], banned ? -Infinity : 1, `token ${t} ids ${ids} n ${n}`);
        }
      }),
      { numRuns: 300 },
    );
  });

  test('typical-p keeps a non-empty set whose mass reaches typical_p', () => {
    fc.assert(
      fc.property(smoothLogitsArb(2), fc.integer({ min: 1, max: 999 }).map((x) => x / 1000), (scores, mass) => {
        const out = Float32Array.from(scores);
        new TypicalLogitsWarper(mass).process([], out);
        const probs = softmax64(scores);
        let keptMass = 0;
        let kept = 0;
        out.forEach((x, i) => {
          if (x > -Infinity) {
            kept++;
            keptMass += probs[i];
            assert.equal(x, scores[i]);
          }
        });
        assert.ok(kept >= 1);
        assert.ok(keptMass >= mass - 1e-5 || kept === scores.length, `kept mass ${keptMass} < ${mass}`);
      }),
      { numRuns: 200 },
    );
  });
});
