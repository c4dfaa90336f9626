/**
 * TextStreamer: chunks are final text, their concatenation is exactly decode(all ids), kana are not
 * delayed, split characters never come out broken.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import fc from 'fast-check';
import { AutoTokenizer, type PreTrainedTokenizer } from '../src/tokenizer/index.js';
import { TextStreamer } from '../src/generation/streamer.js';
import { goldenDir, modelDirs } from './helpers.js';

const tokPromise = AutoTokenizer.fromPretrained(modelDirs['tiny-ja-demo']);

/** `<0xNN>` → its id (the llm-jp vocabulary has <0x00> at id 33). */
function byteId(tok: PreTrainedTokenizer, b: number): number {
  const id = tok.tokenToId(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
  assert.ok(id !== null);
  return id;
}

function idOf(tok: PreTrainedTokenizer, piece: string): number {
  const id = tok.tokenToId(piece);
  assert.ok(id !== null, `piece ${JSON.stringify(piece)} not in the vocabulary`);
  return id;
}

interface Run {
  chunks: string[]; // one per put, then the end() chunk
  texts: string[]; // streamer.text after each put
}

function stream(tok: PreTrainedTokenizer, ids: number[], skipSpecialTokens: boolean): Run {
  const seen: string[] = [];
  const s = new TextStreamer(tok, { skipSpecialTokens, onText: (c) => seen.push(c) });
  const chunks: string[] = [];
  const texts: string[] = [];
  for (const id of ids) {
    chunks.push(s.put(id));
    texts.push(s.text);
  }
  chunks.push(s.end());
  assert.deepEqual(seen, chunks.filter((c) => c !== ''), 'onText gets exactly the non-empty chunks');
  assert.equal(s.text, chunks.join(''));
  return { chunks, texts };
}

/** The invariants every stream must satisfy. */
function checkStream(tok: PreTrainedTokenizer, ids: number[], skipSpecialTokens: boolean): Run {
  const run = stream(tok, ids, skipSpecialTokens);
  const full = tok.decode(ids, { skipSpecialTokens });
  assert.equal(run.chunks.join(''), full, `concat != decode for ${JSON.stringify(ids)}`);
  // Every chunk is final text: a U+FFFD is only emitted where the full decode has one.
  let at = 0;
  for (const c of run.chunks) {
    for (let k = 0; k < c.length; k++) if (c[k] === '\uFFFD') assert.equal(full[at + k], '\uFFFD');
    at += c.length;
  }
  // Nothing is held back once the last kept token is plain text: the text so far is the whole decode.
  for (let n = 1; n <= ids.length; n++) {
    const last = lastKept(tok, ids.slice(0, n), skipSpecialTokens);
    if (last !== null && !isBytePiece(tok, last)) {
      assert.equal(run.texts[n - 1], tok.decode(ids.slice(0, n), { skipSpecialTokens }), `held back text after ${JSON.stringify(ids.slice(0, n))}`);
    }
  }
  return run;
}

function isBytePiece(tok: PreTrainedTokenizer, id: number): boolean {
  return /^<0x[0-9A-F]{2}>$/.test(tok.idToToken(id) ?? '');
}

function lastKept(tok: PreTrainedTokenizer, ids: number[], skip: boolean): number | null {
  for (let k = ids.length - 1; k >= 0; k--) {
    const id = ids[k];
    if (tok.idToToken(id) === null) continue;
    if (skip && tok.allSpecialIds.has(id)) continue;
    return id;
  }
  return null;
}

test('a kanji split into byte pieces comes out whole, once the run is closed', async () => {
  const tok = await tokPromise;
  // 龍 = E9 BE 8D (not in the vocabulary as a piece), then "の".
  const ids = [byteId(tok, 0xe9), byteId(tok, 0xbe), byteId(tok, 0x8d), idOf(tok, 'の')];
  const { chunks } = checkStream(tok, ids, true);
  assert.deepEqual(chunks, ['', '', '', '龍の', '']);
});

test('an open valid byte run is held until the end: a later stray byte would turn it into U+FFFD', async () => {
  const tok = await tokPromise;
  const a = [0xe3, 0x81, 0x82].map((b) => byteId(tok, b)); // あ as bytes
  assert.deepEqual(stream(tok, a, true).chunks, ['', '', '', 'あ']);
  // The whole run becomes U+FFFD per byte when a stray continuation byte follows (HF ByteFallback).
  const poisoned = [...a, byteId(tok, 0x81)];
  const run = checkStream(tok, poisoned, true);
  assert.equal(run.chunks.join(''), '\uFFFD'.repeat(4));
  // A dead run is final at once: its U+FFFDs come out without waiting.
  assert.deepEqual(run.chunks, ['', '', '', '\uFFFD'.repeat(4), '']);
});

test('an unfinished character at the end is flushed by end() as decode gives it', async () => {
  const tok = await tokPromise;
  const ids = [idOf(tok, 'の'), byteId(tok, 0xf0), byteId(tok, 0x9f)];
  const { chunks } = checkStream(tok, ids, false);
  assert.deepEqual(chunks, ['の', '', '', '\uFFFD\uFFFD']);
});

test('emoji as 4 byte pieces, then an invalid byte mid-run', async () => {
  const tok = await tokPromise;
  const smile = [0xf0, 0x9f, 0x98, 0x80].map((b) => byteId(tok, b));
  assert.equal(checkStream(tok, [...smile, idOf(tok, 'い')], true).chunks.join(''), '😀い');
  // E3 followed by 41 ('A' as a byte): the run can never become valid → U+FFFD × 2 right away.
  const bad = [byteId(tok, 0xe3), byteId(tok, 0x41)];
  assert.deepEqual(checkStream(tok, bad, true).chunks, ['', '\uFFFD\uFFFD', '']);
});

test('skipped special tokens do not end a byte run (decode merges across them)', async () => {
  const tok = await tokPromise;
  const ids = [byteId(tok, 0xe3), 7, byteId(tok, 0x81), byteId(tok, 0x82), idOf(tok, 'い')];
  assert.equal(checkStream(tok, ids, true).chunks.join(''), 'あい');
  assert.equal(checkStream(tok, ids, false).chunks.join(''), tok.decode(ids));
  assert.match(tok.decode(ids), /^\uFFFD<EOD\|LLM-jp>\uFFFD\uFFFDい$/);
});

test('leading-space rule: stripped at the very start only, kept after text and after newlines', async () => {
  const tok = await tokPromise;
  const sp = idOf(tok, '▁');
  const nl = idOf(tok, '\n');
  const a = idOf(tok, '▁a');
  assert.deepEqual(checkStream(tok, [sp, a], true).chunks, ['', ' a', '']);
  assert.deepEqual(checkStream(tok, [a, sp, a], true).chunks, ['a', ' ', ' a', '']);
  assert.deepEqual(checkStream(tok, [a, nl, a, nl, sp, a], true).chunks, ['a', '\n', ' a', '\n', ' ', ' a', '']);
  // A skipped special token between text and a ▁-piece: the space must survive.
  assert.deepEqual(checkStream(tok, [idOf(tok, 'の'), 7, a], true).chunks, ['の', '', ' a', '']);
  assert.deepEqual(checkStream(tok, [7, a], true).chunks, ['', 'a', '']);
});

test('kana-only sequences: every token emits its text at once', async () => {
  const tok = await tokPromise;
  const kana: number[] = [];
  for (let id = 0; id < 48586 && kana.length < 400; id++) {
    const t = tok.idToToken(id);
    if (t !== null && /^[\u3041-\u3096\u30a1-\u30fa\u30fc]+$/u.test(t)) kana.push(id);
  }
  assert.ok(kana.length >= 100);
  fc.assert(
    fc.property(fc.array(fc.constantFrom(...kana), { minLength: 1, maxLength: 40 }), (ids) => {
      const { chunks } = checkStream(tok, ids, true);
      for (let k = 0; k < ids.length; k++) assert.equal(chunks[k], tok.decode([ids[k]]), `token ${k} of ${JSON.stringify(ids)}`);
      assert.equal(chunks[ids.length], '');
    }),
    { numRuns: 300 },
  );
  // Encoded kana text: after a possible bare leading "▁", each token gives a non-empty chunk.
  const ids = tok.encode('ひらがなとカタカナだけのぶんしょうです', { addSpecialTokens: false });
  const { chunks } = checkStream(tok, ids, true);
  const from = tok.idToToken(ids[0]) === '▁' ? 1 : 0;
  for (let k = from; k < ids.length; k++) assert.ok(chunks[k].length > 0, `token ${k} gave no text`);
});

test('property: random token sequences (bytes valid/invalid, ▁, newlines, specials, dropped ids)', async () => {
  const tok = await tokPromise;
  const b = (x: number) => byteId(tok, x);
  const bytePool = [0xe3, 0x81, 0x82, 0x83, 0xe9, 0xbe, 0x8d, 0xf0, 0x9f, 0x98, 0x80, 0xc3, 0xa9, 0xed, 0xa0, 0xe0, 0x41, 0x0a, 0x20, 0xff, 0xc0, 0xf4, 0x90, 0xe2, 0x96].map(b);
  // Whole characters as byte runs (a common case in real output).
  const charRuns = ['龍', '😀', 'é', '▁', '𠮷', 'あ'].map((c) => Array.from(Buffer.from(c, 'utf8'), b));
  const text = ['の', 'に', '。', '、', 'あ', 'い', '###', '▁###', '指示', ':', 'a', '▁a', '▁', '▁▁', '\n'].map((p) => idOf(tok, p));
  const special = [0, 1, 2, 3, 4, 5, 6, 7];
  const dropped = [48586, 48600, 48639]; // embedding rows with no token
  const anyId = fc.integer({ min: 0, max: 48639 });
  const tokenRun = fc.oneof(
    { weight: 5, arbitrary: fc.constantFrom(...bytePool).map((x) => [x]) },
    { weight: 3, arbitrary: fc.constantFrom(...charRuns) },
    { weight: 6, arbitrary: fc.constantFrom(...text).map((x) => [x]) },
    { weight: 2, arbitrary: fc.constantFrom(...special).map((x) => [x]) },
    { weight: 1, arbitrary: fc.constantFrom(...dropped).map((x) => [x]) },
    { weight: 2, arbitrary: anyId.map((x) => [x]) },
  );
  fc.assert(
    fc.property(fc.array(tokenRun, { maxLength: 30 }), fc.boolean(), (runs, skip) => {
      checkStream(tok, runs.flat(), skip);
    }),
    { numRuns: 1500 },
  );
});

test('golden strings: encode, then stream token by token', async () => {
  const tok = await tokPromise;
  const golden = JSON.parse(readFileSync(path.join(goldenDir, 'tokenizer-golden.json'), 'utf8')) as {
    text: string;
    ids: number[];
    ids_with_special: number[];
    decode: string;
    decode_with_special: string;
    decode_with_special_skip: string;
  }[];
  assert.ok(golden.length > 10);
  for (const g of golden) {
    const where = `golden ${JSON.stringify(g.text)}`;
    assert.equal(checkStream(tok, g.ids, false).chunks.join(''), g.decode, where);
    checkStream(tok, g.ids, true);
    assert.equal(checkStream(tok, g.ids_with_special, false).chunks.join(''), g.decode_with_special, where);
    assert.equal(checkStream(tok, g.ids_with_special, true).chunks.join(''), g.decode_with_special_skip, where);
  }
});

test('end() then put() starts a new sequence; end() twice gives nothing more', async () => {
  const tok = await tokPromise;
  const s = new TextStreamer(tok, { skipSpecialTokens: true });
  s.put(idOf(tok, 'の'));
  assert.equal(s.end(), '');
  assert.equal(s.end(), '');
  assert.equal(s.text, 'の');
  assert.equal(s.put(idOf(tok, '▁a')), 'a'); // a new text: its leading space is stripped again
  assert.equal(s.text, 'a');
  assert.deepEqual(s.tokenIds, [idOf(tok, '▁a')]);
});

test('bad ids are rejected like decode rejects them', async () => {
  const tok = await tokPromise;
  const s = new TextStreamer(tok);
  assert.throws(() => s.put(-1), { code: 'TOKEN_ID_OUT_OF_RANGE' });
  assert.throws(() => s.put(1.5), { code: 'TOKEN_ID_OUT_OF_RANGE' });
});

test('a long generation stays linear: each put decodes only a short window', async () => {
  const tok = await tokPromise;
  const ids = tok.encode('スーパーコンピュータ「富岳」という名称は、富士山の異名である。'.repeat(200), { addSpecialTokens: false });
  let decoded = 0;
  const counting = new Proxy(tok, {
    get(target, prop, receiver) {
      if (prop === 'decode') {
        return (x: ArrayLike<number>, o?: { skipSpecialTokens?: boolean }) => {
          decoded += x.length;
          return target.decode(x, o);
        };
      }
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  const s = new TextStreamer(counting, { skipSpecialTokens: true });
  for (const id of ids) s.put(id);
  s.end();
  assert.equal(s.text, tok.decode(ids, { skipSpecialTokens: true }));
  // Windows of a few tokens per put, plus one full decode at the end.
  assert.ok(decoded < 8 * ids.length, `decoded ${decoded} ids for ${ids.length} tokens`);
});
