/** The GGUF v3 reader/writer (src/io/gguf.ts): round trips of every value type, alignment, tensor bytes; bad files. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile, readdir, truncate } from 'node:fs/promises';
import * as path from 'node:path';
import {
  encodeGGUFHeader,
  GGML_TYPES,
  ggmlTensorBytes,
  isLoadableGGMLType,
  gguf,
  GGUFWriter,
  metaFloat,
  metaInt,
  metaString,
  openGGUF,
  writeGGUF,
  type GGUFHeaderSpec,
  type GGUFTypedValue,
} from '../src/io/gguf.js';
import { FugakuError } from '../src/errors.js';
import { withTempDir } from './build-safetensors.js';
import { rejectsWith } from './helpers.js';
import { BLOCK_TYPES, GGML_BLOCK_TYPE_NAMES } from '../src/tensor/ggml/formats.js';

/** One of every metadata type, including edge values and nested/empty arrays. */
const METADATA: Array<[string, GGUFTypedValue]> = [
  ['t.u8', gguf.u8(255)],
  ['t.i8', gguf.i8(-128)],
  ['t.u16', gguf.u16(65535)],
  ['t.i16', gguf.i16(-32768)],
  ['t.u32', gguf.u32(4294967295)],
  ['t.i32', gguf.i32(-2147483648)],
  ['t.f32', gguf.f32(Math.fround(-1.5e-7))],
  ['t.f64', gguf.f64(Math.PI)],
  ['t.u64', gguf.u64(18446744073709551615n)],
  ['t.i64', gguf.i64(-9223372036854775808n)],
  ['t.bool.true', gguf.bool(true)],
  ['t.bool.false', gguf.bool(false)],
  ['t.str', gguf.str('富岳 Fugaku ▁<0x0A> 🍣')],
  ['t.str.empty', gguf.str('')],
  ['t.arr.str', gguf.strings(['<unk|LLM-jp>', '▁', '', '𠮷'])],
  ['t.arr.f32', gguf.f32s([0, -80, 1.25, Math.fround(1e-30)])],
  ['t.arr.i32', gguf.i32s([1, 2, 3, 6, -7])],
  ['t.arr.u8', gguf.array('uint8', Uint8Array.of(0, 1, 255))],
  ['t.arr.i8', gguf.array('int8', Int8Array.of(-128, 0, 127))],
  ['t.arr.u16', gguf.array('uint16', Uint16Array.of(0, 65535))],
  ['t.arr.i16', gguf.array('int16', Int16Array.of(-32768, 32767))],
  ['t.arr.u32', gguf.array('uint32', Uint32Array.of(0, 4294967295))],
  ['t.arr.f64', gguf.array('float64', Float64Array.of(Math.E, -0))],
  ['t.arr.u64', gguf.array('uint64', BigUint64Array.of(0n, 2n ** 64n - 1n))],
  ['t.arr.i64', gguf.array('int64', BigInt64Array.of(-(2n ** 63n), 5n))],
  ['t.arr.bool', gguf.array('bool', [true, false, true])],
  ['t.arr.empty', gguf.strings([])],
  ['t.arr.nested', gguf.array('array', [gguf.i32s([1, 2]), gguf.strings(['a', 'b', 'c']), gguf.f32s([])])],
];

/** Deterministic tensor bytes. */
function pattern(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed * 2654435761;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

const TENSORS = [
  { name: 'a.f32', type: 'F32', shape: [3, 5] },
  { name: 'b.f16', type: 'F16', shape: [7] },
  { name: 'c.bf16', type: 'BF16', shape: [2, 3] },
  { name: 'd.q8_0', type: 'Q8_0', shape: [3, 64] },
  { name: 'e.q4_0', type: 'Q4_0', shape: [5, 32] },
  { name: 'f.empty', type: 'F32', shape: [0] },
] as const;
const BYTES: Record<string, number> = { 'a.f32': 60, 'b.f16': 14, 'c.bf16': 12, 'd.q8_0': 3 * 2 * 34, 'e.q4_0': 5 * 18, 'f.empty': 0 };

function spec(alignment?: number): GGUFHeaderSpec {
  const metadata: Array<[string, GGUFTypedValue]> = [['general.architecture', gguf.str('test')], ...METADATA];
  if (alignment !== undefined) metadata.push(['general.alignment', gguf.u32(alignment)]);
  return { metadata, tensors: TENSORS.map((t) => ({ ...t, shape: [...t.shape] })) };
}

async function writeSample(file: string, alignment?: number): Promise<void> {
  await writeGGUF(file, spec(alignment), (t, i) => pattern(BYTES[t.name], i + 1));
}

test('GGUF round trip: every metadata type and value comes back with its type', async () => {
  await withTempDir(async (t) => {
    const file = path.join(t.dir, 'm.gguf');
    await writeSample(file);
    const g = await openGGUF(file);
    try {
      assert.equal(g.version, 3);
      assert.equal(g.alignment, 32);
      assert.deepEqual([...g.metadata.keys()], ['general.architecture', ...METADATA.map(([k]) => k)]);
      for (const [k, v] of METADATA) assert.deepEqual(g.metadata.get(k), v, k);
      assert.equal(metaString(g, 'general.architecture'), 'test');
      assert.equal(metaInt(g, 't.u32'), 4294967295);
      assert.equal(metaInt(g, 't.i8'), -128);
      assert.equal(metaFloat(g, 't.f64'), Math.PI);
      assert.equal(metaInt(g, 'absent'), undefined);
      assert.throws(() => metaString(g, 't.u32'), (e) => e instanceof FugakuError && e.code === 'GGUF_INVALID');
      assert.throws(() => metaInt(g, 't.u64'), (e) => e instanceof FugakuError && e.code === 'GGUF_INVALID'); // 2^64-1 is not a safe integer
    } finally {
      await g.close();
    }
  });
});

test('GGUF round trip: tensor infos (ne innermost first), offsets aligned and contiguous, bytes exact', async () => {
  for (const alignment of [undefined, 64, 1]) {
    await withTempDir(async (t) => {
      const file = path.join(t.dir, 'm.gguf');
      await writeSample(file, alignment);
      const g = await openGGUF(file);
      try {
        const al = alignment ?? 32;
        assert.equal(g.alignment, al);
        assert.equal(g.dataStart % al, 0);
        let expectOffset = g.dataStart;
        let i = 0;
        for (const spec of TENSORS) {
          const info = g.tensors.get(spec.name)!;
          assert.equal(info.type, spec.type);
          assert.deepEqual(info.shape, [...spec.shape]);
          assert.deepEqual(info.ne, [...spec.shape].reverse());
          assert.equal(info.byteLength, BYTES[spec.name]);
          assert.equal(info.offset, expectOffset, `${spec.name} offset`);
          assert.equal((info.offset - g.dataStart) % al, 0);
          expectOffset += Math.ceil(info.byteLength / al) * al;
          const data = await g.readTensor(spec.name);
          assert.equal(data.dtype, spec.type);
          assert.deepEqual(data.shape, [...spec.shape]);
          const want = pattern(BYTES[spec.name], ++i);
          assert.deepEqual(new Uint8Array(data.data.buffer, data.data.byteOffset, data.data.byteLength), want, spec.name);
          const ctor = spec.type === 'F32' ? Float32Array : spec.type === 'F16' || spec.type === 'BF16' ? Uint16Array : Uint8Array;
          assert.ok(data.data instanceof ctor, `${spec.name} is a ${ctor.name}`);
        }
        // The file ends with the last tensor's padded bytes.
        assert.equal(g.fileSize, expectOffset);
      } finally {
        await g.close();
      }
    });
  }
});

test('GGUF header bytes: magic, version 3, u64 counts, little-endian string/array encoding', () => {
  const { header } = encodeGGUFHeader({ metadata: [['k', gguf.strings(['ab'])]], tensors: [{ name: 'w', type: 'F32', shape: [2, 32] }] });
  const v = new DataView(header.buffer);
  assert.equal(new TextDecoder().decode(header.subarray(0, 4)), 'GGUF');
  assert.equal(v.getUint32(4, true), 3);
  assert.equal(v.getBigUint64(8, true), 1n); // tensors
  assert.equal(v.getBigUint64(16, true), 1n); // kv
  assert.equal(v.getBigUint64(24, true), 1n); // key length
  assert.equal(header[32], 'k'.charCodeAt(0));
  assert.equal(v.getUint32(33, true), 9); // array
  assert.equal(v.getUint32(37, true), 8); // of strings
  assert.equal(v.getBigUint64(41, true), 1n); // one item
  assert.equal(v.getBigUint64(49, true), 2n); // "ab"
  // tensor info: name "w", n_dims 2, ne [32, 2], type 0, offset 0
  let o = 59;
  assert.equal(v.getBigUint64(o, true), 1n);
  o += 9;
  assert.equal(v.getUint32(o, true), 2);
  assert.equal(v.getBigUint64(o + 4, true), 32n);
  assert.equal(v.getBigUint64(o + 12, true), 2n);
  assert.equal(v.getUint32(o + 20, true), 0);
  assert.equal(v.getBigUint64(o + 24, true), 0n);
  assert.equal(header.length % 32, 0);
});

test('GGUF writer refuses bad input with typed errors and leaves no partial file', async () => {
  await withTempDir(async (t) => {
    const file = path.join(t.dir, 'w.gguf');
    // wrong byte count for a tensor
    await rejectsWith(writeGGUF(file, spec(), () => new Uint8Array(3)), 'INVALID_ARGUMENT', 'needs 60 bytes, got 3');
    // a failing producer
    await assert.rejects(writeGGUF(file, spec(), () => { throw new Error('boom'); }), /boom/);
    assert.deepEqual(await readdir(t.dir), [], 'no output and no .partial file left behind');
    // value/type mismatches, bad alignment, quant rows not a multiple of 32, duplicates
    assert.throws(() => encodeGGUFHeader({ metadata: [['x', gguf.u8(256)]], tensors: [] }), /not a uint8/);
    assert.throws(() => encodeGGUFHeader({ metadata: [['x', gguf.u32(-1)]], tensors: [] }), /not a uint32/);
    assert.throws(() => encodeGGUFHeader({ metadata: [['general.alignment', gguf.u32(24)]], tensors: [] }), /power of two/);
    assert.throws(() => encodeGGUFHeader({ metadata: [['x', gguf.u8(1)], ['x', gguf.u8(2)]], tensors: [] }), /appears twice/);
    assert.throws(() => encodeGGUFHeader({ metadata: [], tensors: [{ name: 'q', type: 'Q8_0', shape: [2, 40] }] }), /multiple of 32/);
    assert.throws(() => encodeGGUFHeader({ metadata: [], tensors: [{ name: 'a', type: 'F32', shape: [1] }, { name: 'a', type: 'F32', shape: [1] }] }), /appears twice/);
    // out of order / missing tensors
    const w = await GGUFWriter.create(file, spec());
    await rejectsWith(w.writeTensor('b.f16', new Uint8Array(14)), 'INVALID_ARGUMENT', '"a.f32" comes next');
    await w.writeTensor('a.f32', new Float32Array(15));
    await rejectsWith(w.finish(), 'INVALID_ARGUMENT', 'after 1 of 6 tensors');
    assert.deepEqual(await readdir(t.dir), []);
    // a folder that does not exist
    await rejectsWith(writeGGUF(path.join(t.dir, 'no', 'x.gguf'), spec(), () => new Uint8Array(0)), 'FILE_NOT_FOUND', 'does not exist');
  });
});

/** Writes `bytes` to a file and expects openGGUF to fail with `code` and message parts. */
async function expectBad(dir: string, bytes: Uint8Array, code: 'GGUF_INVALID' | 'DTYPE_UNSUPPORTED', ...parts: string[]): Promise<void> {
  const file = path.join(dir, `bad-${Math.random().toString(36).slice(2)}.gguf`);
  await writeFile(file, bytes);
  await rejectsWith(openGGUF(file), code, ...parts);
}

test('GGUF reader: malformed files are typed errors, never crashes', async () => {
  await withTempDir(async (t) => {
    const good = path.join(t.dir, 'good.gguf');
    await writeSample(good);
    const bytes = new Uint8Array(await readFile(good));
    const { header } = encodeGGUFHeader(spec());
    const patch = (at: number, f: (v: DataView) => void): Uint8Array => {
      const b = bytes.slice();
      f(new DataView(b.buffer, at));
      return b;
    };

    await expectBad(t.dir, new Uint8Array(10), 'GGUF_INVALID', 'too short');
    await expectBad(t.dir, patch(0, (v) => v.setUint32(0, 0x46554746, true)), 'GGUF_INVALID', 'bad magic');
    await expectBad(t.dir, patch(4, (v) => v.setUint32(0, 99, true)), 'GGUF_INVALID', 'version 99');
    await expectBad(t.dir, patch(8, (v) => v.setBigUint64(0, 1n << 40n, true)), 'GGUF_INVALID', 'tensor count');
    await expectBad(t.dir, patch(16, (v) => v.setBigUint64(0, 2n ** 63n, true)), 'GGUF_INVALID', 'implausibly large');
    // first key's length far past the end of the file
    await expectBad(t.dir, patch(24, (v) => v.setBigUint64(0, 1n << 40n, true)), 'GGUF_INVALID', 'metadata key #0 is 1099511627776 bytes long');
    await expectBad(t.dir, patch(24, (v) => v.setBigUint64(0, BigInt(bytes.length), true)), 'GGUF_INVALID', `metadata key #0 is ${bytes.length} bytes long but only`);
    // first value's type code unknown (key "general.architecture" is 20 bytes: type at 24 + 8 + 20)
    await expectBad(t.dir, patch(52, (v) => v.setUint32(0, 77, true)), 'GGUF_INVALID', 'unknown value type 77');
    // invalid UTF-8 in the first key
    await expectBad(t.dir, patch(32, (v) => v.setUint8(0, 0xff)), 'GGUF_INVALID', 'not valid UTF-8');
    // truncated: inside the header, and inside the tensor data
    await expectBad(t.dir, bytes.slice(0, 200), 'GGUF_INVALID', 'metadata count 29 cannot fit');
    await expectBad(t.dir, bytes.slice(0, 600), 'GGUF_INVALID', 'the file has only');
    await expectBad(t.dir, bytes.slice(0, header.length + 10), 'GGUF_INVALID', 'reaches past the end');
    const trunc = path.join(t.dir, 'trunc.gguf');
    await writeFile(trunc, bytes);
    await truncate(trunc, bytes.length - 20);
    await rejectsWith(openGGUF(trunc), 'GGUF_INVALID', 'e.q4_0', 'past the end');

    // Tensor-info corruptions, located by searching the header for each tensor's name.
    const infoAt = (name: string): number => {
      const needle = new TextEncoder().encode(name);
      outer: for (let i = 0; i < header.length; i++) {
        for (let j = 0; j < needle.length; j++) if (header[i + j] !== needle[j]) continue outer;
        return i + needle.length; // n_dims follows the name
      }
      throw new Error(`no ${name}`);
    };
    const a = infoAt('a.f32'); // n_dims u32 | ne0 u64 | ne1 u64 | type u32 | offset u64
    await expectBad(t.dir, patch(a, (v) => v.setUint32(0, 5, true)), 'GGUF_INVALID', '5 dimensions');
    await expectBad(t.dir, patch(a + 20, (v) => v.setUint32(0, 4242, true)), 'DTYPE_UNSUPPORTED', 'ggml type 4242');
    await expectBad(t.dir, patch(a + 24, (v) => v.setBigUint64(0, 8n, true)), 'GGUF_INVALID', 'not a multiple of the alignment');
    await expectBad(t.dir, patch(a + 24, (v) => v.setBigUint64(0, 1n << 40n, true)), 'GGUF_INVALID', 'past the end');
    // a.f32 moved onto b.f16's bytes: overlap
    await expectBad(t.dir, patch(a + 24, (v) => v.setBigUint64(0, 64n, true)), 'GGUF_INVALID', 'overlap');
    // ne changed so the size implied by type × ne no longer fits its slot: overlap with the next tensor
    await expectBad(t.dir, patch(a + 4, (v) => v.setBigUint64(0, 10n, true)), 'GGUF_INVALID', 'overlap');
    const d = infoAt('d.q8_0');
    await expectBad(t.dir, patch(d + 4, (v) => v.setBigUint64(0, 48n, true)), 'GGUF_INVALID', 'not a multiple of the Q8_0 block size 32');
    // general.alignment of the wrong type
    const badAlign = encodeGGUFHeader({ metadata: [['general.alignmenx', gguf.u16(32)]], tensors: [] }).header;
    badAlign[24 + 8 + 16] = 't'.charCodeAt(0); // the writer refuses a non-uint32 alignment; forge one
    await expectBad(t.dir, badAlign, 'GGUF_INVALID', 'general.alignment must be a uint32');
    // duplicate metadata keys: rename the 2nd key to equal the 1st
    const dup = encodeGGUFHeader({ metadata: [['aa', gguf.u8(1)], ['ab', gguf.u8(2)]], tensors: [] }).header;
    dup[24 + 8 + 2 + 4 + 1 + 8 + 1] = 'a'.charCodeAt(0);
    await expectBad(t.dir, dup, 'GGUF_INVALID', '"aa" appears twice');
    // a bool that is neither 0 nor 1
    const b = encodeGGUFHeader({ metadata: [['b', gguf.bool(true)]], tensors: [] }).header;
    b[24 + 8 + 1 + 4] = 2;
    await expectBad(t.dir, b, 'GGUF_INVALID', 'neither 0 nor 1');
    // an array count that cannot fit
    const arr = encodeGGUFHeader({ metadata: [['s', gguf.strings(['x'])]], tensors: [] }).header;
    new DataView(arr.buffer).setBigUint64(24 + 8 + 1 + 4 + 4, 1n << 30n, true);
    await expectBad(t.dir, arr, 'GGUF_INVALID', 'cannot fit');

    await rejectsWith(openGGUF(path.join(t.dir, 'missing.gguf')), 'FILE_NOT_FOUND', 'no such file');
    await rejectsWith(openGGUF(t.dir), 'FILE_NOT_FOUND', 'not a regular file');
  });
});

test('GGUF type table: every ggml block type is loadable with the id and sizes of src/tensor/ggml/formats.ts', () => {
  for (const t of GGML_BLOCK_TYPE_NAMES) {
    assert.deepEqual({ ...GGML_TYPES[t] }, { id: BLOCK_TYPES[t].id, blockSize: BLOCK_TYPES[t].blockSize, typeSize: BLOCK_TYPES[t].typeSize }, t);
    assert.ok(isLoadableGGMLType(t), t);
  }
  for (const t of ['Q8_1', 'Q8_K', 'TQ1_0', 'TQ2_0', 'MXFP4', 'I8', 'F64'] as const) assert.ok(!isLoadableGGMLType(t), t);
  const ids = Object.values(GGML_TYPES).map((v) => v.id);
  assert.equal(new Set(ids).size, ids.length, 'ids unique');
  assert.deepEqual([GGML_TYPES.TQ1_0.id, GGML_TYPES.TQ2_0.id, GGML_TYPES.MXFP4.id, GGML_TYPES.IQ1_M.id], [34, 35, 39, 29]);
});

test('GGUF reader: reading after close, unknown tensor names and unloadable types are typed errors', async () => {
  await withTempDir(async (t) => {
    const file = path.join(t.dir, 'k.gguf');
    const tensors = [
      { name: 'k', type: 'Q4_K', shape: [1, 256] },
      { name: 'f', type: 'F32', shape: [4] },
      { name: 't1', type: 'TQ1_0', shape: [2, 256] },
      { name: 't2', type: 'TQ2_0', shape: [1, 256] },
      { name: 'mx', type: 'MXFP4', shape: [1, 64] },
      { name: 'q8k', type: 'Q8_K', shape: [1, 256] },
    ] as const;
    await writeGGUF(file, { metadata: [], tensors }, (s) => new Uint8Array(ggmlTensorBytes(s.type, [...s.shape].reverse())).fill(7));
    const g = await openGGUF(file);
    assert.equal(g.tensors.get('k')!.byteLength, 144);
    const k = await g.readTensor('k');
    assert.equal(k.dtype, 'Q4_K');
    assert.deepEqual(k.shape, [1, 256]);
    assert.ok(k.data instanceof Uint8Array && k.data.length === 144 && k.data.every((v) => v === 7), 'block bytes as stored');
    assert.equal(g.tensors.get('t1')!.byteLength, 2 * 54);
    assert.equal(g.tensors.get('t2')!.byteLength, 66);
    assert.equal(g.tensors.get('mx')!.byteLength, 2 * 17);
    for (const [name, type] of [['t1', 'TQ1_0'], ['t2', 'TQ2_0'], ['mx', 'MXFP4'], ['q8k', 'Q8_K']]) await rejectsWith(g.readTensor(name), 'DTYPE_UNSUPPORTED', `"${name}"`, type);
    await rejectsWith(g.readTensor('nope'), 'TENSOR_MISSING', '"nope"');
    await g.close();
    await g.close(); // idempotent
    await rejectsWith(g.readTensor('f'), 'INVALID_ARGUMENT', 'closed');
  });
});
