/** Tokenizer errors: unsupported components, missing files, malformed JSON, bad ids. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FugakuError, type ErrorCode } from '../src/errors.js';
import { PreTrainedTokenizer } from '../src/tokenizer/index.js';
import { translateOnigRegex } from '../src/tokenizer/regex.js';
import { tokenizerDir } from './helpers.js';

const base = JSON.parse(readFileSync(path.join(tokenizerDir, 'tokenizer.json'), 'utf8')) as Record<string, unknown>;

function withPart(key: string, value: unknown): Record<string, unknown> {
  return { ...structuredClone(base), [key]: value };
}

function isError(code: ErrorCode, messagePart?: RegExp) {
  return (e: unknown): boolean => {
    assert.ok(e instanceof FugakuError, `expected a FugakuError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.ok(e.hint !== undefined && e.hint.length > 0, 'errors carry a hint');
    if (messagePart) assert.match(e.message, messagePart);
    return true;
  };
}

test('unsupported model type → TOKENIZER_UNSUPPORTED', () => {
  const bpe = { type: 'BPE', vocab: { a: 0 }, merges: [] };
  assert.throws(() => PreTrainedTokenizer.fromJSON(withPart('model', bpe)), isError('TOKENIZER_UNSUPPORTED', /BPE/));
});

test('unsupported normalizer → TOKENIZER_UNSUPPORTED (also inside a Sequence)', () => {
  assert.throws(
    () => PreTrainedTokenizer.fromJSON(withPart('normalizer', { type: 'BertNormalizer' })),
    isError('TOKENIZER_UNSUPPORTED', /BertNormalizer/),
  );
  const seq = { type: 'Sequence', normalizers: [{ type: 'NFKC' }, { type: 'Precompiled', precompiled_charsmap: '' }] };
  assert.throws(() => PreTrainedTokenizer.fromJSON(withPart('normalizer', seq)), isError('TOKENIZER_UNSUPPORTED', /Precompiled/));
});

test('unsupported decoder, pre-tokenizer, post-processor → TOKENIZER_UNSUPPORTED', () => {
  assert.throws(
    () => PreTrainedTokenizer.fromJSON(withPart('decoder', { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true })),
    isError('TOKENIZER_UNSUPPORTED', /ByteLevel/),
  );
  assert.throws(
    () => PreTrainedTokenizer.fromJSON(withPart('pre_tokenizer', { type: 'Metaspace', replacement: '▁' })),
    isError('TOKENIZER_UNSUPPORTED', /Metaspace/),
  );
  assert.throws(
    () => PreTrainedTokenizer.fromJSON(withPart('post_processor', { type: 'RobertaProcessing', sep: ['</s>', 2], cls: ['<s>', 0] })),
    isError('TOKENIZER_UNSUPPORTED', /RobertaProcessing/),
  );
  assert.throws(
    () => PreTrainedTokenizer.fromJSON(withPart('post_processor', { type: 'BertProcessing', sep: ['[SEP]', 2], cls: ['[CLS]', 1] })),
    isError('TOKENIZER_UNSUPPORTED'),
  );
});

test('regex syntax with no exact JS equivalent → TOKENIZER_UNSUPPORTED', () => {
  for (const re of ['a*+', '(?>ab)', '(?i)abc', '\\Gx', '\\Kx', '\\R', '[[:alpha:]]', '[a-z&&[^aeiou]]', '\\X']) {
    assert.throws(() => translateOnigRegex(re), isError('TOKENIZER_UNSUPPORTED'), re);
    const norm = { type: 'Replace', pattern: { Regex: re }, content: 'x' };
    assert.throws(() => PreTrainedTokenizer.fromJSON(withPart('normalizer', norm)), isError('TOKENIZER_UNSUPPORTED'), re);
  }
});

test('malformed tokenizer.json → TOKENIZER_INVALID', () => {
  assert.throws(() => PreTrainedTokenizer.fromJSON('nope'), isError('TOKENIZER_INVALID'));
  assert.throws(() => PreTrainedTokenizer.fromJSON(withPart('model', { type: 'Unigram', unk_id: 0, vocab: [['a']] })), isError('TOKENIZER_INVALID'));
  assert.throws(
    () => PreTrainedTokenizer.fromJSON(withPart('model', { type: 'Unigram', unk_id: 5, vocab: [['a', -1]] })),
    isError('TOKENIZER_INVALID', /unk_id/),
  );
  const badTemplate = { type: 'TemplateProcessing', single: [{ SpecialToken: { id: '[X]', type_id: 0 } }], pair: [], special_tokens: {} };
  assert.throws(() => PreTrainedTokenizer.fromJSON(withPart('post_processor', badTemplate)), isError('TOKENIZER_INVALID', /\[X\]/));
});

test('missing tokenizer.json → FILE_NOT_FOUND with a hint', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fugaku-tok-'));
  try {
    await assert.rejects(PreTrainedTokenizer.fromPretrained(dir), isError('FILE_NOT_FOUND', /tokenizer\.json/));
    writeFileSync(path.join(dir, 'tokenizer.json'), '{ "model": ');
    await assert.rejects(PreTrainedTokenizer.fromPretrained(dir), isError('TOKENIZER_INVALID', /not valid JSON/));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('negative / non-integer ids → TOKEN_ID_OUT_OF_RANGE', async () => {
  const tok = await PreTrainedTokenizer.fromPretrained(tokenizerDir);
  for (const bad of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
    assert.throws(() => tok.decode([5, bad]), isError('TOKEN_ID_OUT_OF_RANGE'), String(bad));
    assert.throws(() => tok.convertIdsToTokens([bad]), isError('TOKEN_ID_OUT_OF_RANGE'), String(bad));
    assert.throws(() => tok.idToToken(bad), isError('TOKEN_ID_OUT_OF_RANGE'), String(bad));
  }
});

test('a Unigram without unk_id fails on unknown characters like HF (MissingUnkId)', () => {
  const j = withPart('model', { type: 'Unigram', unk_id: null, vocab: [['a', -1], ['▁', -2]], byte_fallback: false });
  const tok = PreTrainedTokenizer.fromJSON({ ...j, added_tokens: [], post_processor: null });
  assert.deepEqual(tok.encode('a a'), [1, 0, 1, 0]);
  assert.throws(() => tok.encode('b'), isError('TOKENIZER_INVALID', /unk_id/));
});
