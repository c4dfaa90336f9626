/**
 * The tokenizer built from a GGUF file's tokenizer.ggml.* keys alone (src/tokenizer/from-gguf-vocab.ts)
 * against the Hugging Face goldens and against the tokenizer.json path:
 *  - the llm-jp tokenizer written by our converter's vocabulary writer (src/convert/vocab.ts: pieces,
 *    scores, token types, [PADn] rows up to the 48640 embedding rows), as a real GGUF file without any
 *    fugaku.* key, read back with PreTrainedTokenizer.fromGGUF;
 *  - every golden string: ids without special tokens, tokens, offsets, decodes (with and without
 *    skipping special tokens), decode([id]) for every id; ids with special tokens with
 *    add_eos_token = true (llama.cpp's rule gives HF's `<EOD|LLM-jp>` suffix) and = false (nothing added);
 *  - random Japanese/ASCII/full-width/emoji/special-token strings and random id sequences (fast-check);
 *  - the fixture made by llama.cpp's own gguf_new_metadata.py (test/fixtures/gguf-vocab);
 *  - typed errors for vocabularies that cannot be rebuilt exactly.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import fc from 'fast-check';
import { PreTrainedTokenizer } from '../src/tokenizer/index.js';
import { buildSpmVocab } from '../src/convert/vocab.js';
import { vocabMetadata } from '../src/convert/to-gguf.js';
import { gguf, writeGGUF, type GGUFTypedValue } from '../src/io/gguf.js';
import { FugakuError } from '../src/errors.js';
import { fixturesDir, goldenDir, tokenizerDir } from './helpers.js';

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
const singles: { len_tokenizer: number; single_id_decode: Record<string, string> } = JSON.parse(readFileSync(path.join(goldenDir, 'tokenizer-single-ids.json'), 'utf8'));

const VOCAB_ROWS = 48640; // tiny-fugaku's / Fugaku-LLM-13B's padded embedding rows
const read = (f: string): string => readFileSync(path.join(tokenizerDir, f), 'utf8');
const spm = buildSpmVocab(read('tokenizer.json'), read('tokenizer_config.json'), read('special_tokens_map.json'), VOCAB_ROWS);

/** The tokenizer.ggml.* metadata our converter writes, with some keys replaced (value null: removed). */
function vocabMeta(model: 'llama' | 't5', over: Record<string, GGUFTypedValue | null> = {}): Map<string, GGUFTypedValue> {
  const m = new Map<string, GGUFTypedValue>([['general.architecture', gguf.str('gpt2')], ...vocabMetadata(spm, model)]);
  for (const [k, v] of Object.entries(over)) {
    if (v === null) m.delete(k);
    else m.set(k, v);
  }
  return m;
}
const fromMeta = (m: Map<string, GGUFTypedValue>): PreTrainedTokenizer => PreTrainedTokenizer.fromGGUFMetadata({ file: 'test.gguf', metadata: m });

async function writeVocabGGUF(name: string, m: Map<string, GGUFTypedValue>): Promise<string> {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'fugaku-vocab-')), name);
  await writeGGUF(file, { metadata: [...m.entries()], tensors: [] }, () => new Uint8Array(0));
  return file;
}

const hfPromise = PreTrainedTokenizer.fromPretrained(tokenizerDir);
const ggufPromise = writeVocabGGUF('llama.gguf', vocabMeta('llama')).then((f) => PreTrainedTokenizer.fromGGUF(f));

function checkAll<T>(name: string, actual: (e: GoldenEntry) => T, expected: (e: GoldenEntry) => T): void {
  const bad: string[] = [];
  for (const e of golden) {
    const a = JSON.stringify(actual(e));
    const x = JSON.stringify(expected(e));
    if (a !== x) bad.push(`${JSON.stringify(e.text).slice(0, 80)}\n    got      ${a.slice(0, 300)}\n    expected ${x.slice(0, 300)}`);
  }
  assert.equal(bad.length, 0, `${name}: ${bad.length}/${golden.length} mismatches, e.g.\n  ${bad.slice(0, 5).join('\n  ')}`);
}

test('the converter writes the vocabulary this test relies on ([PADn] rows, no fugaku key needed)', () => {
  assert.ok(golden.length > 300);
  assert.equal(spm.tokens.length, VOCAB_ROWS);
  assert.equal(spm.padded, VOCAB_ROWS - 48586);
  assert.equal(spm.tokens[48586], '[PAD48586]');
  const m = vocabMeta('llama');
  assert.ok(![...m.keys()].some((k) => k.startsWith('fugaku.')));
});

test('GGUF vocabulary: ids, tokens, offsets without special tokens equal the Hugging Face goldens', async () => {
  const tok = await ggufPromise;
  checkAll('ids', (e) => tok.encode(e.text, { addSpecialTokens: false }), (e) => e.ids);
  checkAll('tokens', (e) => tok.encodeWithOffsets(e.text, { addSpecialTokens: false }).tokens, (e) => e.tokens);
  checkAll('offsets', (e) => tok.encodeWithOffsets(e.text, { addSpecialTokens: false }).offsets, (e) => e.offsets);
});

test('GGUF vocabulary: decodes equal the Hugging Face goldens (with/without skipping special tokens)', async () => {
  const tok = await ggufPromise;
  checkAll('decode', (e) => tok.decode(e.ids), (e) => e.decode);
  checkAll('decode_with_special', (e) => tok.decode(e.ids_with_special), (e) => e.decode_with_special);
  checkAll('decode_with_special_skip', (e) => tok.decode(e.ids_with_special, { skipSpecialTokens: true }), (e) => e.decode_with_special_skip);
});

test('GGUF vocabulary: decode([id]) for every id, [PADn] rows decode to nothing, len(tokenizer) and special ids', async () => {
  const tok = await ggufPromise;
  const hf = await hfPromise;
  assert.equal(tok.vocabSize, singles.len_tokenizer);
  const bad: string[] = [];
  for (const [id, s] of Object.entries(singles.single_id_decode)) {
    const got = tok.decode([Number(id)]);
    if (got !== s) bad.push(`${id}: got ${JSON.stringify(got)} expected ${JSON.stringify(s)}`);
  }
  assert.equal(bad.length, 0, `${bad.length} mismatches, e.g. ${bad.slice(0, 5).join('; ')}`);
  for (let id = 48586; id < VOCAB_ROWS; id++) assert.equal(tok.decode([id]), '', `id ${id}`);
  assert.deepEqual(tok.convertIdsToTokens([7, 48585, 48586, 48639]), hf.convertIdsToTokens([7, 48585, 48586, 48639]));
  assert.deepEqual(
    [tok.bosTokenId, tok.eosTokenId, tok.unkTokenId, tok.padTokenId],
    [hf.bosTokenId, hf.eosTokenId, hf.unkTokenId, hf.padTokenId],
  );
  assert.deepEqual([...tok.allSpecialIds].sort((a, b) => a - b), [...hf.allSpecialIds].sort((a, b) => a - b));
  // The [PADn] strings are not tokens: they are ordinary text.
  assert.deepEqual(tok.encode('[PAD48600]', { addSpecialTokens: false }), hf.encode('[PAD48600]', { addSpecialTokens: false }));
  assert.equal(tok.tokenToId('[PAD48600]'), null);
});

test('GGUF vocabulary: special tokens follow add_bos_token/add_eos_token (llama.cpp rule)', async () => {
  const asWritten = await ggufPromise; // fugaku convert writes add_bos_token = add_eos_token = false
  checkAll('ids_with_special, add_eos_token=false', (e) => asWritten.encode(e.text), (e) => e.ids);
  const withEos = fromMeta(vocabMeta('llama', { 'tokenizer.ggml.add_eos_token': gguf.bool(true) }));
  checkAll('ids_with_special, add_eos_token=true', (e) => withEos.encode(e.text), (e) => e.ids_with_special);
  checkAll('encodeWithOffsets ids, add_eos_token=true', (e) => withEos.encodeWithOffsets(e.text).ids, (e) => e.ids_with_special);
  // Keys absent: llama.cpp's SPM defaults (bos on, eos off).
  const dflt = fromMeta(vocabMeta('llama', { 'tokenizer.ggml.add_bos_token': null, 'tokenizer.ggml.add_eos_token': null }));
  assert.deepEqual(dflt.encode('こんにちは'), [1, ...asWritten.encode('こんにちは')]);
  assert.deepEqual(dflt.encode('こんにちは', { addSpecialTokens: false }), asWritten.encode('こんにちは'));
});

test("GGUF vocabulary: tokenizer.ggml.model 't5' (Unigram) builds the same tokenizer", () => {
  const t5 = fromMeta(vocabMeta('t5', { 'tokenizer.ggml.precompiled_charsmap': gguf.array('uint8', new Uint8Array(0)) }));
  checkAll('t5 ids', (e) => t5.encode(e.text, { addSpecialTokens: false }), (e) => e.ids);
  checkAll('t5 decode', (e) => t5.decode(e.ids_with_special), (e) => e.decode_with_special);
});

// Random text: Japanese scripts, ASCII, full-width forms, spaces/newlines, emoji, special-token strings.
const cp = (lo: number, hi: number): fc.Arbitrary<string> => fc.integer({ min: lo, max: hi }).map((c) => String.fromCodePoint(c));
const textArb = fc
  .array(
    fc.oneof(
      { weight: 6, arbitrary: cp(0x3041, 0x3096) },
      { weight: 5, arbitrary: cp(0x30a1, 0x30fa) },
      { weight: 2, arbitrary: cp(0xff61, 0xff9f) },
      { weight: 3, arbitrary: cp(0xff01, 0xff5e) },
      { weight: 6, arbitrary: cp(0x4e00, 0x9fff) },
      { weight: 1, arbitrary: cp(0x20000, 0x2a6df) },
      { weight: 6, arbitrary: cp(0x20, 0x7e) },
      { weight: 2, arbitrary: fc.stringMatching(/^[A-Za-z]{2,8}$/) },
      { weight: 3, arbitrary: fc.constantFrom(' ', '  ', '\u3000', '\t', '\n', '\n\n', '\r\n', ' \n', '\n ') },
      { weight: 2, arbitrary: cp(0x1f300, 0x1faff) },
      { weight: 1, arbitrary: fc.constantFrom('\u200d', '\ufe0f', '\u{1f3fd}', '▁', '<0x41>', '[PAD48600]', '\uD800') },
      { weight: 1, arbitrary: fc.constantFrom('<EOD|LLM-jp>', '<s|LLM-jp>', '<unk|LLM-jp>', '<pad|LLM-jp>', '<EOD|LLM', '|LLM-jp>') },
    ),
    { maxLength: 40 },
  )
  .map((a) => a.join(''));

test('property: random strings encode to the same ids/offsets as the tokenizer.json path', async () => {
  const tok = await ggufPromise;
  const hf = await hfPromise;
  fc.assert(
    fc.property(textArb, (s) => {
      assert.deepEqual(tok.encodeWithOffsets(s, { addSpecialTokens: false }), hf.encodeWithOffsets(s, { addSpecialTokens: false }));
      assert.deepEqual(tok.encode(s), hf.encode(s, { addSpecialTokens: false }));
    }),
    { numRuns: 1000, seed: 18 },
  );
});

test('property: random id sequences decode to the same text as the tokenizer.json path', async () => {
  const tok = await ggufPromise;
  const hf = await hfPromise;
  const id = fc.oneof(fc.integer({ min: 0, max: 7 }), fc.integer({ min: 8, max: 300 }), fc.integer({ min: 0, max: VOCAB_ROWS - 1 }));
  fc.assert(
    fc.property(fc.array(id, { maxLength: 30 }), fc.boolean(), (ids, skip) => {
      assert.equal(tok.decode(ids, { skipSpecialTokens: skip }), hf.decode(ids, { skipSpecialTokens: skip }));
    }),
    { numRuns: 1000, seed: 18 },
  );
});

test('unused tokens between others keep their ids but never match text and decode to nothing', () => {
  const types = Int32Array.from(spm.types);
  const tokens = spm.tokens.slice();
  const hf = PreTrainedTokenizer.fromGGUFMetadata({ file: 'a.gguf', metadata: vocabMeta('llama') });
  const catIds = hf.encode('猫', { addSpecialTokens: false });
  const cat = [catIds[catIds.length - 1]];
  assert.equal(hf.idToToken(cat[0]), '猫');
  types[cat[0]] = 5;
  const tok = fromMeta(vocabMeta('llama', { 'tokenizer.ggml.token_type': gguf.array('int32', types), 'tokenizer.ggml.tokens': gguf.strings(tokens) }));
  assert.notDeepEqual(tok.encode('猫', { addSpecialTokens: false }), catIds);
  assert.ok(!tok.encode('吾輩は猫である', { addSpecialTokens: false }).includes(cat[0]));
  assert.equal(tok.decode([cat[0]]), '');
  assert.equal(tok.idToToken(cat[0]), null);
  assert.equal(tok.idToToken(cat[0] + 1), hf.idToToken(cat[0] + 1));
  assert.equal(tok.vocabSize, hf.vocabSize - 1);
});

function assertCode(fn: () => unknown, code: string, ...parts: string[]): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof FugakuError, String(e));
    assert.equal(e.code, code, e.message);
    for (const p of parts) assert.ok(`${e.message} ${e.hint}`.includes(p), `"${p}" not in: ${e.message} (hint: ${e.hint})`);
    return true;
  });
}

test('typed errors: tokenizer models that cannot be rebuilt exactly, missing/inconsistent keys', () => {
  assertCode(() => fromMeta(vocabMeta('llama', { 'tokenizer.ggml.model': gguf.str('gpt2') })), 'TOKENIZER_UNSUPPORTED', '"gpt2"', "'llama'", 'fugaku convert');
  assertCode(() => fromMeta(vocabMeta('llama', { 'tokenizer.ggml.model': gguf.str('bert') })), 'TOKENIZER_UNSUPPORTED', '"bert"');
  assertCode(() => fromMeta(new Map([['general.architecture', gguf.str('gpt2')]])), 'TOKENIZER_UNSUPPORTED', 'no tokenizer');
  assertCode(() => fromMeta(vocabMeta('llama', { 'general.architecture': gguf.str('llama') })), 'ARCH_UNSUPPORTED', '"llama"', 'gpt2');
  assertCode(() => fromMeta(vocabMeta('llama', { 'general.architecture': gguf.str('qwen2') })), 'ARCH_UNSUPPORTED', '"qwen2"');
  assertCode(
    () => fromMeta(vocabMeta('t5', { 'tokenizer.ggml.precompiled_charsmap': gguf.array('uint8', new Uint8Array([1, 2, 3, 4, 5])) })),
    'TOKENIZER_UNSUPPORTED',
    'precompiled_charsmap',
  );
  assertCode(() => fromMeta(vocabMeta('llama', { 'tokenizer.ggml.scores': null })), 'TOKENIZER_UNSUPPORTED', 'scores');
  assertCode(() => fromMeta(vocabMeta('llama', { 'tokenizer.ggml.tokens': null })), 'TOKENIZER_INVALID', 'tokenizer.ggml.tokens');
  assertCode(() => fromMeta(vocabMeta('llama', { 'tokenizer.ggml.scores': gguf.f32s([0, 1]) })), 'TOKENIZER_INVALID', 'tokenizer.ggml.scores');
});

test('llama.cpp-made fixture (gguf_new_metadata.py --remove-metadata fugaku.*): same tokenizer as the HF files', async () => {
  const tok = await PreTrainedTokenizer.fromGGUF(path.join(fixturesDir, 'gguf-vocab', 'llm-jp-vocab-llamacpp.gguf'));
  checkAll('llama.cpp fixture ids', (e) => tok.encode(e.text, { addSpecialTokens: false }), (e) => e.ids);
  checkAll('llama.cpp fixture decode', (e) => tok.decode(e.ids_with_special), (e) => e.decode_with_special);
  assert.equal(tok.vocabSize, singles.len_tokenizer);
});
