/**
 * The generic components (normalizers, Oniguruma regex semantics, added-token flags, decoders) on
 * variants of the llm-jp tokenizer.json, each compared with the Rust `tokenizers` package (dev-only
 * oracle) on random strings: same ids, tokens and offsets (and decoded text).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import fc from 'fast-check';
import { Tokenizer } from 'tokenizers';
import { PreTrainedTokenizer } from '../src/tokenizer/index.js';
import { tokenizerDir } from './helpers.js';

const RUNS = 300;
const base = JSON.parse(readFileSync(path.join(tokenizerDir, 'tokenizer.json'), 'utf8')) as Record<string, unknown>;

type Json = Record<string, unknown>;
const replace = (pattern: Json, content: string): Json => ({ type: 'Replace', pattern, content });

/**
 * A smaller vocabulary (the 8 special tokens, the 256 byte pieces and every 16th other piece) that
 * loads fast: the regex tests build many tokenizers, and byte pieces show the normalized text exactly.
 */
const smallBase: Json = (() => {
  const j = structuredClone(base) as Json & { model: { vocab: [string, number][] } };
  j.model.vocab = j.model.vocab.filter(([piece], id) => id < 8 || /^<0x[0-9A-F]{2}>$/.test(piece) || id % 16 === 0);
  return j;
})();

function variant(changes: Json, from: Json = base): { ours: PreTrainedTokenizer; rust: Tokenizer } {
  const j = { ...structuredClone(from), ...changes };
  return { ours: PreTrainedTokenizer.fromJSON(j), rust: Tokenizer.fromString(JSON.stringify(j)) };
}

const chars = fc.oneof(
  fc.constantFrom(' ', '  ', '\t', '\n', '\r\n', '\n\n', '\u3000', '\u00a0', '\u0085', '\ufeff', '\u2028'),
  fc.constantFrom('a', 'b', 'c', 'x', 'xx', 'A', 'É', 'ß', 'İ', 'Σ', 'ǅ', 'ﬁ', '_', '-', '1', '23', '１', '٣', '½', '²', '①', 'Ⓐ', 'Ⅻ', '‿'),
  fc.constantFrom('e\u0301', 'か\u3099', 'が', 'ｶﾞ', 'ﾊﾟ', '①', '㍻', '™', 'ᄀ', 'ᅡ', 'ᆨ', '가', '\u200d', '😀', '👍🏽', '𠮷'),
  fc.constantFrom('富岳', 'スーパー', 'コンピュータ', 'です。', '吾輩', '猫'),
  fc.constantFrom('<EOD|LLM-jp>', '<s|LLM-jp>', '<pad|LLM-jp>', ' <EOD|LLM-jp> ', 'word<s|LLM-jp>', '<s|LLM-jp>word'),
  fc.integer({ min: 0x3041, max: 0x30fa }).map((c) => String.fromCodePoint(c)),
  fc.integer({ min: 0x4e00, max: 0x9fff }).map((c) => String.fromCodePoint(c)),
);
const text = fc.array(chars, { maxLength: 24 }).map((a) => a.join(''));

async function sameEncodings(v: { ours: PreTrainedTokenizer; rust: Tokenizer }, s: string): Promise<void> {
  const r = await v.rust.encode(s, null, { addSpecialTokens: true });
  const o = v.ours.encodeWithOffsets(s);
  assert.deepEqual(o.tokens, r.getTokens(), `tokens of ${JSON.stringify(s)}`);
  assert.deepEqual(o.ids, r.getIds(), `ids of ${JSON.stringify(s)}`);
  assert.deepEqual(o.offsets, r.getOffsets(), `offsets of ${JSON.stringify(s)}`);
  for (const skip of [false, true]) {
    assert.equal(v.ours.decode(o.ids, { skipSpecialTokens: skip }), await v.rust.decode(r.getIds(), skip), `decode of ${JSON.stringify(s)}`);
  }
}

async function checkVariant(changes: Json, from: Json = base): Promise<void> {
  const v = variant(changes, from);
  await fc.assert(
    fc.asyncProperty(text, (s) => sameEncodings(v, s)),
    { numRuns: RUNS },
  );
}

test('normalizers: Lowercase, Strip, Prepend, Replace(regex \\s+), Replace(string)', async () => {
  await checkVariant({
    normalizer: {
      type: 'Sequence',
      normalizers: [
        { type: 'Lowercase' },
        replace({ Regex: '\\s+' }, ' '),
        { type: 'Strip', strip_left: true, strip_right: true },
        { type: 'Prepend', prepend: '▁' },
        replace({ String: ' ' }, '▁'),
      ],
    },
  });
});

test('normalizers: Strip one side, StripAccents after NFD', async () => {
  await checkVariant({
    normalizer: {
      type: 'Sequence',
      normalizers: [{ type: 'Strip', strip_left: false, strip_right: true }, { type: 'NFD' }, { type: 'StripAccents' }],
    },
  });
});

for (const form of ['NFC', 'NFD', 'NFKC', 'NFKD']) {
  // The text is String.prototype.normalize; the offsets of (de)composed characters are our approximation of
  // HF's alignments, which agrees with the Rust package on these inputs.
  test(`normalizers: ${form}`, async () => {
    await checkVariant({ normalizer: { type: 'Sequence', normalizers: [{ type: form }, replace({ String: ' ' }, '▁')] } });
  });
}

const REGEXES = [
  'x*', '^', '$', '\\b', '\\B', 'a|(?=c)', '.', '\\s', '\\S+', '\\w+', '\\W', '\\d', '\\h+', '(?<=\\n)', '[^\\p{L}]',
  '\\p{Han}+', '\\p{Hiragana}', '\\p{^Katakana}', '[ぁ-ゖ]{2,}', 'a{,2}', '(b|c)\\1', '\\A.', '.\\z', '.\\Z', '\\n$',
  '[\\s\\d]', '[^\\n]{3}', '(?:x|xx)+?', '(?<name>c)\\k<name>', '\\x41|\\u3042|\\x{1F600}', '[\\-_]', 'a{2}+', 'a{2}?', '(bc){1,2}+', '\\p{N}', '(?!a).',
];
for (const re of REGEXES) {
  test(`Oniguruma semantics: Replace(Regex ${JSON.stringify(re)} → "#")`, async () => {
    await checkVariant({ normalizer: replace({ Regex: re }, '#') }, smallBase);
  });
}

test('added tokens: lstrip / rstrip / single_word / normalized, and new added tokens', async () => {
  const added = structuredClone(base['added_tokens']) as Json[];
  Object.assign(added[7], { lstrip: true, rstrip: true }); // <EOD|LLM-jp>
  Object.assign(added[1], { single_word: true }); // <s|LLM-jp>
  Object.assign(added[4], { normalized: true }); // <pad|LLM-jp>
  added.push(
    { id: 48586, content: '富岳', single_word: false, lstrip: false, rstrip: false, normalized: true, special: false },
    { id: 48587, content: 'スーパー', single_word: true, lstrip: false, rstrip: true, normalized: false, special: false },
    { id: 48588, content: ' 猫', single_word: false, lstrip: false, rstrip: false, normalized: true, special: true },
  );
  await checkVariant({ added_tokens: added });
});

// Strip settings are kept to those the Rust package survives: 0.23.2 panics (aborting the process) when
// stripping both ends would cross over, e.g. Strip('▁', 1, 1) on the token "▁" (later HF versions, and we,
// return "").
test('decoders: Strip, Replace(regex), Fuse in other orders; no decoder', async () => {
  await checkVariant({
    decoder: {
      type: 'Sequence',
      decoders: [
        { type: 'ByteFallback' },
        { type: 'Strip', content: '▁', start: 1, stop: 0 },
        replace({ Regex: '▁+' }, '_'),
        { type: 'Fuse' },
        replace({ Regex: '\\s$' }, '!'),
      ],
    },
  });
  await checkVariant({ decoder: null });
  await checkVariant({ decoder: { type: 'Sequence', decoders: [{ type: 'Strip', content: 'あ', start: 0, stop: 1 }, { type: 'Fuse' }] } });
});

test('no normalizer, no post-processor', async () => {
  await checkVariant({ normalizer: null, post_processor: null });
});
