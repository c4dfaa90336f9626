/**
 * Property tests: our tokenizer against the Rust Hugging Face `tokenizers` package (0.23.2, the same
 * version that made the goldens; a dev-only oracle) on random inputs.
 *  - encode: random mixed-script strings (hiragana, katakana incl. half-width, kanji incl. rare and
 *    astral ones absent from the vocabulary, ASCII, full-width forms, spaces, tabs, newlines, CR,
 *    emoji, combining marks, zero-width joiners, special-token strings and fragments of them,
 *    vocabulary pieces) → same ids, tokens and offsets, with and without special tokens;
 *  - decode: random id sequences (byte-fallback pieces that often form invalid UTF-8, special ids,
 *    ordinary pieces, ids of the padded embedding rows >= 48586) → same text, skipping special tokens
 *    or not.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import fc from 'fast-check';
import { Tokenizer } from 'tokenizers';
import { PreTrainedTokenizer } from '../src/tokenizer/index.js';
import { tokenizerDir } from './helpers.js';

const NUM_RUNS_ENCODE = 1000;
const NUM_RUNS_DECODE = 1000;

const rust = Tokenizer.fromFile(path.join(tokenizerDir, 'tokenizer.json'));
const oursPromise = PreTrainedTokenizer.fromPretrained(tokenizerDir);

const range = (lo: number, hi: number): fc.Arbitrary<string> => fc.integer({ min: lo, max: hi }).map((c) => String.fromCodePoint(c));

/** Pieces of text; the vocabulary-piece arbitrary is added once the tokenizer is loaded. */
function textArbitrary(vocabPiece: fc.Arbitrary<string>): fc.Arbitrary<string> {
  const piece = fc.oneof(
    { weight: 6, arbitrary: range(0x3041, 0x3096) }, // hiragana
    { weight: 5, arbitrary: range(0x30a1, 0x30fa) }, // katakana
    { weight: 2, arbitrary: range(0xff61, 0xff9f) }, // half-width katakana (incl. ﾞ ﾟ)
    { weight: 2, arbitrary: range(0xff01, 0xff5e) }, // full-width ASCII forms
    { weight: 6, arbitrary: range(0x4e00, 0x9fff) }, // CJK (many not in the vocabulary)
    { weight: 1, arbitrary: range(0x20000, 0x2a6df) }, // CJK extension B (astral, unknown)
    { weight: 1, arbitrary: range(0xac00, 0xd7a3) }, // Hangul
    { weight: 6, arbitrary: range(0x21, 0x7e) }, // printable ASCII
    { weight: 2, arbitrary: fc.stringMatching(/^[A-Za-z]{2,8}$/) }, // ASCII words
    { weight: 4, arbitrary: fc.constantFrom(' ', ' ', '  ', '\u3000', '\t', '\n', '\n\n', '\r\n', '\r', ' \n', '\n ') },
    { weight: 1, arbitrary: range(0x1f300, 0x1faff) }, // emoji
    { weight: 1, arbitrary: fc.constantFrom('\u200d', '\u200b', '\ufeff', '\u0085', '\u2028', '\u00a0', '\u{1f3fd}') },
    { weight: 1, arbitrary: range(0x0300, 0x036f) }, // combining marks
    { weight: 1, arbitrary: fc.constantFrom('\u3099', '\u309a', 'か\u3099', 'e\u0301') },
    { weight: 1, arbitrary: fc.constantFrom('▁', '▁▁', '<0x41>', '<0xE3>', '\u0000', '\u0007', '\ue000', '\u{10fffd}') },
    {
      weight: 2,
      arbitrary: fc.constantFrom(
        '<EOD|LLM-jp>',
        '<s|LLM-jp>',
        '</s|LLM-jp>',
        '<unk|LLM-jp>',
        '<pad|LLM-jp>',
        '<mask|LLM-jp>',
        '<CLS|LLM-jp>',
        '<SEP|LLM-jp>',
        '<EOD|',
        'LLM-jp>',
        '<EOD|LLM-jp',
        '<<EOD|LLM-jp>>',
      ),
    },
    { weight: 5, arbitrary: vocabPiece },
  );
  return fc.array(piece, { maxLength: 40 }).map((a) => a.join(''));
}

test(`encode matches Rust tokenizers on ${NUM_RUNS_ENCODE} random strings`, async () => {
  const ours = await oursPromise;
  const vocabSize = ours.vocabSize;
  const vocabPiece = fc
    .integer({ min: 8, max: vocabSize - 1 })
    .chain((id) => fc.constantFrom(ours.idToToken(id)!, ours.idToToken(id)!.replace(/▁/g, ' ')));
  let runs = 0;
  await fc.assert(
    fc.asyncProperty(textArbitrary(vocabPiece), fc.boolean(), async (text, addSpecialTokens) => {
      runs++;
      const r = await rust.encode(text, null, { addSpecialTokens });
      const o = ours.encodeWithOffsets(text, { addSpecialTokens });
      assert.deepEqual(o.ids, r.getIds(), `ids of ${JSON.stringify(text)}`);
      assert.deepEqual(o.tokens, r.getTokens(), `tokens of ${JSON.stringify(text)}`);
      assert.deepEqual(o.offsets, r.getOffsets(), `offsets of ${JSON.stringify(text)}`);
      assert.deepEqual(ours.encode(text, { addSpecialTokens }), o.ids);
    }),
    { numRuns: NUM_RUNS_ENCODE },
  );
  assert.equal(runs, NUM_RUNS_ENCODE);
});

test(`decode matches Rust tokenizers on ${NUM_RUNS_DECODE} random id sequences`, async () => {
  const ours = await oursPromise;
  const byteIds = Array.from({ length: 256 }, (_, b) => ours.tokenToId(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`)!);
  const utf8Lead = byteIds.slice(0xc0); // lead bytes (and invalid ones) to provoke partial sequences
  const id = fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...byteIds) },
    { weight: 2, arbitrary: fc.constantFrom(...utf8Lead) },
    { weight: 2, arbitrary: fc.integer({ min: 0, max: 7 }) }, // special tokens
    { weight: 6, arbitrary: fc.integer({ min: 0, max: 48585 }) },
    { weight: 1, arbitrary: fc.integer({ min: 48586, max: 49151 }) }, // padded embedding rows
    { weight: 1, arbitrary: fc.constantFrom(ours.tokenToId('▁')!, ours.tokenToId('\n')!, ours.tokenToId('▁▁')!) },
  );
  let runs = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(id, { maxLength: 30 }), fc.boolean(), async (ids, skip) => {
      runs++;
      const expected = await rust.decode(ids, skip);
      assert.equal(ours.decode(ids, { skipSpecialTokens: skip }), expected, `decode(${JSON.stringify(ids)}, ${skip})`);
    }),
    { numRuns: NUM_RUNS_DECODE },
  );
  assert.equal(runs, NUM_RUNS_DECODE);
});

test('decode of a valid multi-byte sequence split by another token gives U+FFFD per byte, as Rust', async () => {
  const ours = await oursPromise;
  const b = (x: number): number => ours.tokenToId(`<0x${x.toString(16).toUpperCase()}>`)!;
  const cases = [
    [b(0xe5), b(0x8f), b(0xab)], // 叫
    [b(0xe5), b(0x8f)],
    [b(0xe5), b(0x8f), ours.tokenToId('あ')!, b(0xab)],
    [b(0x41), b(0xff), b(0x42)], // one invalid byte spoils the run: 3 × U+FFFD
    [b(0xef), b(0xbb), b(0xbf), b(0x41)], // a BOM is kept
    [b(0xed), b(0xa0), b(0x80)], // an encoded surrogate is invalid
    [b(0xf4), b(0x90), b(0x80), b(0x80)], // > U+10FFFF is invalid
    [b(0xc0), b(0x80)], // overlong
  ];
  for (const ids of cases) assert.equal(ours.decode(ids), await rust.decode(ids, false), JSON.stringify(ids));
});
