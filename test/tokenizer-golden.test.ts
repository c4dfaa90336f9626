/**
 * The tokenizer against the Hugging Face goldens (test/fixtures/golden, made with transformers 5.17 /
 * tokenizers 0.23.2, see shared/README.md):
 *  - tokenizer-golden.json: per string, `ids` = encode(s, add_special_tokens=False), `ids_with_special`
 *    = encode(s), `tokens` / `offsets` of the former (offsets in code points), `decode` = decode(ids),
 *    `decode_with_special` = decode(ids_with_special), `decode_with_special_skip` = the same with
 *    skip_special_tokens=True;
 *  - tokenizer-single-ids.json: decode([id]) for every id.
 * Every entry must match; on failure the count and a few examples are reported.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { PreTrainedTokenizer, AutoTokenizer } from '../src/tokenizer/index.js';
import { goldenDir, tokenizerDir, modelDirs } from './helpers.js';

interface GoldenEntry {
  text: string;
  ids: number[];
  ids_with_special: number[];
  tokens: string[];
  decode: string;
  decode_with_special: string;
  decode_with_special_skip: string;
  offsets: [number, number][];
}

const golden: GoldenEntry[] = JSON.parse(readFileSync(path.join(goldenDir, 'tokenizer-golden.json'), 'utf8'));
const singles: { len_tokenizer: number; single_id_decode: Record<string, string> } = JSON.parse(
  readFileSync(path.join(goldenDir, 'tokenizer-single-ids.json'), 'utf8'),
);
const tokPromise = PreTrainedTokenizer.fromPretrained(tokenizerDir);

/** Compare `actual(entry)` with `expected(entry)` over all entries; fail with the count and examples. */
function checkAll<T>(name: string, actual: (e: GoldenEntry) => T, expected: (e: GoldenEntry) => T): void {
  const bad: string[] = [];
  for (const e of golden) {
    const a = actual(e);
    const x = expected(e);
    if (JSON.stringify(a) !== JSON.stringify(x)) {
      bad.push(`${JSON.stringify(e.text).slice(0, 80)}\n    got      ${JSON.stringify(a).slice(0, 300)}\n    expected ${JSON.stringify(x).slice(0, 300)}`);
    }
  }
  assert.equal(bad.length, 0, `${name}: ${bad.length}/${golden.length} mismatches, e.g.\n  ${bad.slice(0, 5).join('\n  ')}`);
}

test('golden file is present and non-trivial', () => {
  assert.ok(golden.length > 300, `only ${golden.length} golden entries`);
});

test('golden: ids (add_special_tokens=False)', async () => {
  const tok = await tokPromise;
  checkAll('ids', (e) => tok.encode(e.text, { addSpecialTokens: false }), (e) => e.ids);
});

test('golden: ids_with_special (default encode appends <EOD|LLM-jp>)', async () => {
  const tok = await tokPromise;
  checkAll('ids_with_special', (e) => tok.encode(e.text), (e) => e.ids_with_special);
});

test('golden: tokens', async () => {
  const tok = await tokPromise;
  checkAll('tokens', (e) => tok.encodeWithOffsets(e.text, { addSpecialTokens: false }).tokens, (e) => e.tokens);
});

test('golden: offsets (code points of the input)', async () => {
  const tok = await tokPromise;
  checkAll('offsets', (e) => tok.encodeWithOffsets(e.text, { addSpecialTokens: false }).offsets, (e) => e.offsets);
});

test('golden: encodeWithOffsets ids agree with encode', async () => {
  const tok = await tokPromise;
  checkAll('encodeWithOffsets ids', (e) => tok.encodeWithOffsets(e.text).ids, (e) => e.ids_with_special);
});

test('golden: decode(ids)', async () => {
  const tok = await tokPromise;
  checkAll('decode', (e) => tok.decode(e.ids), (e) => e.decode);
});

test('golden: decode(ids_with_special)', async () => {
  const tok = await tokPromise;
  checkAll('decode_with_special', (e) => tok.decode(e.ids_with_special), (e) => e.decode_with_special);
});

test('golden: decode(ids_with_special, skipSpecialTokens)', async () => {
  const tok = await tokPromise;
  checkAll(
    'decode_with_special_skip',
    (e) => tok.decode(e.ids_with_special, { skipSpecialTokens: true }),
    (e) => e.decode_with_special_skip,
  );
});

test('golden: decode([id]) for every id of the tokenizer', async () => {
  const tok = await tokPromise;
  assert.equal(tok.vocabSize, singles.len_tokenizer);
  const entries = Object.entries(singles.single_id_decode);
  assert.equal(entries.length, singles.len_tokenizer);
  const bad: string[] = [];
  for (const [id, s] of entries) {
    const got = tok.decode([Number(id)]);
    if (got !== s) bad.push(`${id}: got ${JSON.stringify(got)} expected ${JSON.stringify(s)}`);
  }
  assert.equal(bad.length, 0, `${bad.length} mismatches, e.g. ${bad.slice(0, 5).join('; ')}`);
});

test('special token ids and vocabulary size', async () => {
  const tok = await tokPromise;
  assert.equal(tok.vocabSize, 48586);
  assert.equal(tok.eosTokenId, 7);
  assert.equal(tok.bosTokenId, 1);
  assert.equal(tok.padTokenId, 4);
  assert.equal(tok.unkTokenId, 0);
  assert.deepEqual([...tok.allSpecialIds].sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7]);
  assert.equal(tok.tokenToId('<EOD|LLM-jp>'), 7);
  assert.equal(tok.idToToken(7), '<EOD|LLM-jp>');
  assert.equal(tok.tokenToId('no such token ✗'), null);
});

test('ids of the padded embedding rows (>= vocab size) decode to nothing', async () => {
  const tok = await tokPromise;
  const hello = tok.encode('こんにちは', { addSpecialTokens: false });
  assert.equal(tok.decode([...hello, 48586, 49151, 2 ** 40]), tok.decode(hello));
  assert.deepEqual(tok.convertIdsToTokens([48585, 48586, 49151]), [tok.idToToken(48585), null, null]);
  assert.deepEqual(tok.convertTokensToIds(['<EOD|LLM-jp>', '▁', 'no such token ✗']), [7, tok.tokenToId('▁'), null]);
});

test('decode accepts typed arrays', async () => {
  const tok = await tokPromise;
  const ids = tok.encode('吾輩は猫である。');
  assert.equal(tok.decode(Int32Array.from(ids)), tok.decode(ids));
  assert.equal(tok.decode(Uint32Array.from(ids), { skipSpecialTokens: true }), '吾輩は猫である。');
});

test('pair encoding follows the pair template: $A <EOD> $B <EOD>', async () => {
  const tok = await tokPromise;
  const a = tok.encode('質問', { addSpecialTokens: false });
  const b = tok.encode('回答', { addSpecialTokens: false });
  assert.deepEqual(tok.encode('質問', { pair: '回答' }), [...a, 7, ...b, 7]);
  assert.deepEqual(tok.encode('質問', { pair: '回答', addSpecialTokens: false }), [...a, ...b]);
  const w = tok.encodeWithOffsets('質問', { pair: '回答' });
  assert.deepEqual(w.offsets[a.length], [0, 0]);
  assert.equal(w.tokens[w.tokens.length - 1], '<EOD|LLM-jp>');
});

test('every model folder ships the same tokenizer (AutoTokenizer)', async () => {
  const tok = await tokPromise;
  const text = '富岳で学習した<EOD|LLM-jp>モデル 😀';
  for (const dir of Object.values(modelDirs)) {
    const other = await AutoTokenizer.fromPretrained(dir);
    assert.deepEqual(other.encode(text), tok.encode(text), dir);
  }
});

test('lone surrogates are encoded as U+FFFD (what the Rust binding receives)', async () => {
  const tok = await tokPromise;
  assert.deepEqual(tok.encode('a\ud800b'), tok.encode('a\ufffdb'));
  assert.deepEqual(tok.encodeWithOffsets('x\udc00').offsets, tok.encodeWithOffsets('x\ufffd').offsets);
});

test('a whole novel encodes in linear time and decodes back', async () => {
  const tok = await tokPromise;
  const line = '吾輩は猫である。名前はまだ無い。どこで生れたかとんと見当がつかぬ。 Hello 𠮷野家 😀\n';
  const text = line.repeat(20000); // ~1 M UTF-16 units in one Viterbi pass
  const t0 = performance.now();
  const ids = tok.encode(text, { addSpecialTokens: false });
  const ms = performance.now() - t0;
  assert.ok(ms < 10000, `encoding ${text.length} chars took ${ms.toFixed(0)} ms`);
  assert.equal(tok.decode(ids), text);
});
