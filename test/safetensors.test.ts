import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openSync, readSync, closeSync, statSync } from 'node:fs';
import { open, truncate } from 'node:fs/promises';
import * as path from 'node:path';
import { FugakuError, type ErrorCode } from '../src/errors.js';
import { bf16ToF32, f16ToF32 } from '../src/tensor/dtype.js';
import {
  MAX_HEADER_BYTES,
  readSafetensorsHeader,
  readTensor,
  readTensorRows,
} from '../src/io/safetensors.js';
import { modelDirs, rejectsWith } from './helpers.js';
import {
  buildSafetensors,
  encodeSafetensors,
  layout,
  patternBytes,
  withTempDir,
  type TensorSpec,
} from './build-safetensors.js';

// ---------------------------------------------------------------------------------------------
// helpers

/** Independent header parse with plain fs calls (the reference the reader is compared against). */
function rawHeader(file: string): { dataStart: number; header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }> } {
  const fd = openSync(file, 'r');
  try {
    const len = Buffer.alloc(8);
    readSync(fd, len, 0, 8, 0);
    const n = Number(len.readBigUInt64LE(0));
    const buf = Buffer.alloc(n);
    readSync(fd, buf, 0, n, 8);
    return { dataStart: 8 + n, header: JSON.parse(buf.toString('utf8')) };
  } finally {
    closeSync(fd);
  }
}

/** Reads `count` u16 values at an absolute byte offset with plain fs calls. */
function rawU16(file: string, offset: number, count: number): number[] {
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.alloc(count * 2);
    readSync(fd, buf, 0, buf.length, offset);
    return Array.from({ length: count }, (_, i) => buf.readUInt16LE(i * 2));
  } finally {
    closeSync(fd);
  }
}


const fugakuShard1 = path.join(modelDirs['tiny-fugaku'], 'model-00001-of-00002.safetensors');
const fugakuShard2 = path.join(modelDirs['tiny-fugaku'], 'model-00002-of-00002.safetensors');
const f16File = path.join(modelDirs['tiny-gpt2-f16'], 'model.safetensors');

// ---------------------------------------------------------------------------------------------
// fixtures

test('headers of every fixture file match an independent parse', async () => {
  const files = [
    fugakuShard1,
    fugakuShard2,
    f16File,
    path.join(modelDirs['tiny-ja-demo'], 'model-00001-of-00002.safetensors'),
    path.join(modelDirs['tiny-ja-demo'], 'model-00002-of-00002.safetensors'),
  ];
  for (const file of files) {
    const h = await readSafetensorsHeader(file);
    const raw = rawHeader(file);
    assert.equal(h.file, file);
    assert.equal(h.fileSize, statSync(file).size);
    assert.equal(h.dataStart, raw.dataStart);
    assert.deepEqual(h.metadata, { format: 'pt' });
    const names = Object.keys(raw.header).filter((k) => k !== '__metadata__');
    assert.deepEqual([...h.tensors.keys()], names);
    for (const name of names) {
      const t = h.tensors.get(name)!;
      const r = raw.header[name];
      assert.equal(t.name, name);
      assert.equal(t.dtype, r.dtype);
      assert.deepEqual(t.shape, r.shape);
      assert.equal(t.file, file);
      assert.equal(t.offset, raw.dataStart + r.data_offsets[0]);
      assert.equal(t.byteLength, r.data_offsets[1] - r.data_offsets[0]);
    }
  }
});

test('tiny-fugaku shards: tensor counts, names, dtypes, shapes', async () => {
  const s1 = await readSafetensorsHeader(fugakuShard1);
  const s2 = await readSafetensorsHeader(fugakuShard2);
  assert.deepEqual([...s1.tensors.keys()], ['transformer.wte.weight']);
  assert.equal(s2.tensors.size, 39); // wpe + 3 layers × 12 + ln_f.{weight,bias}
  const wte = s1.tensors.get('transformer.wte.weight')!;
  assert.equal(wte.dtype, 'BF16');
  assert.deepEqual(wte.shape, [48640, 288]);
  assert.deepEqual(s2.tensors.get('transformer.h.2.attn.c_attn.weight')!.shape, [288, 864]);
  assert.deepEqual(s2.tensors.get('transformer.h.0.mlp.c_proj.weight')!.shape, [1152, 288]);
  for (const t of [...s1.tensors.values(), ...s2.tensors.values()]) {
    assert.equal(t.dtype, 'BF16');
    assert.ok(t.name.startsWith('transformer.'), t.name);
  }
});

test('bf16 wte values equal the raw bytes and decode to finite numbers', async () => {
  const h = await readSafetensorsHeader(fugakuShard1);
  const info = h.tensors.get('transformer.wte.weight')!;
  const t = await readTensor(info);
  assert.equal(t.dtype, 'BF16');
  assert.deepEqual(t.shape, [48640, 288]);
  assert.ok(t.data instanceof Uint16Array);
  assert.equal(t.data.length, 48640 * 288);
  // first row, a middle row, the last row — compared with bytes read by plain fs at computed offsets
  for (const row of [0, 12345, 48639]) {
    const expected = rawU16(fugakuShard1, info.offset + row * 288 * 2, 288);
    assert.deepEqual(Array.from(t.data.subarray(row * 288, (row + 1) * 288)), expected, `row ${row}`);
  }
  // bf16 decode: the bits are the top half of a float32
  const probe = new DataView(new ArrayBuffer(4));
  for (let i = 0; i < 50; i++) {
    probe.setUint32(0, t.data[i] << 16);
    const v = bf16ToF32(t.data[i]);
    assert.equal(v, probe.getFloat32(0));
    assert.ok(Number.isFinite(v) && Math.abs(v) < 10, `wte value ${v}`);
  }
});

test('f16 fixture: untied lm_head.weight is read as raw f16 bits', async () => {
  const h = await readSafetensorsHeader(f16File);
  assert.equal(h.tensors.size, 29);
  const lm = h.tensors.get('lm_head.weight')!;
  assert.equal(lm.dtype, 'F16');
  assert.deepEqual(lm.shape, [48640, 64]);
  const t = await readTensor(lm);
  assert.equal(t.dtype, 'F16');
  assert.ok(t.data instanceof Uint16Array);
  assert.deepEqual(Array.from(t.data.subarray(0, 64)), rawU16(f16File, lm.offset, 64));
  const lastRow = rawU16(f16File, lm.offset + 48639 * 128, 64);
  assert.deepEqual(Array.from(t.data.subarray(48639 * 64)), lastRow);
  for (let i = 0; i < 64; i++) assert.ok(Number.isFinite(f16ToF32(t.data[i])));
  // lm_head is untied: it differs from wte
  const wte = await readTensor(h.tensors.get('transformer.wte.weight')!);
  assert.notDeepEqual(Array.from(wte.data.subarray(0, 64)), Array.from(t.data.subarray(0, 64)));
});

test('readTensor with a caller-owned handle, and readTensorRows on a fixture', async () => {
  const h = await readSafetensorsHeader(fugakuShard2);
  const info = h.tensors.get('transformer.h.1.mlp.c_fc.weight')!; // [288, 1152]
  const handle = await open(fugakuShard2, 'r');
  try {
    const full = await readTensor(info, handle);
    const rows = await readTensorRows(info, 100, 7, handle);
    assert.deepEqual(rows.shape, [7, 1152]);
    assert.deepEqual(Array.from(rows.data), Array.from(full.data.subarray(100 * 1152, 107 * 1152)));
    const last = await readTensorRows(info, 287, 1); // opens its own handle
    assert.deepEqual(Array.from(last.data), Array.from(full.data.subarray(287 * 1152)));
    const bias = h.tensors.get('transformer.h.1.mlp.c_fc.bias')!; // 1-D: a row is one element
    const b = await readTensorRows(bias, 3, 2, handle);
    assert.deepEqual(b.shape, [2]);
    assert.deepEqual(Array.from(b.data), Array.from((await readTensor(bias, handle)).data.subarray(3, 5)));
  } finally {
    await handle.close();
  }
});

// ---------------------------------------------------------------------------------------------
// built files: valid

test('built file: F32, BF16, F16 tensors round-trip; metadata and empty tensors', async () => {
  await withTempDir(async (t) => {
    const f32 = new Float32Array([1.5, -2, 3.25, 0, 1e-3, 42]);
    const specs: TensorSpec[] = [
      { name: 'a.f32', dtype: 'F32', shape: [2, 3], data: new Uint8Array(f32.buffer) },
      { name: 'b.bf16', dtype: 'BF16', shape: [4] },
      { name: 'c.f16', dtype: 'F16', shape: [1, 2] },
      { name: 'empty', dtype: 'F32', shape: [0, 5] },
      { name: 'scalar', dtype: 'F32', shape: [], data: new Uint8Array(new Float32Array([7]).buffer) },
    ];
    const file = await t.write('x.safetensors', buildSafetensors(specs, { format: 'pt', note: 'hi' }));
    const h = await readSafetensorsHeader(file);
    assert.deepEqual(h.metadata, { format: 'pt', note: 'hi' });
    const a = await readTensor(h.tensors.get('a.f32')!);
    assert.ok(a.data instanceof Float32Array);
    assert.deepEqual(Array.from(a.data), Array.from(f32));
    const rows = await readTensorRows(h.tensors.get('a.f32')!, 1, 1);
    assert.deepEqual(Array.from(rows.data), Array.from(f32.subarray(3)));
    const b = await readTensor(h.tensors.get('b.bf16')!);
    const bBytes = patternBytes(8, 2);
    assert.deepEqual(Array.from(b.data), [0, 1, 2, 3].map((i) => bBytes[2 * i] | (bBytes[2 * i + 1] << 8)));
    const e = await readTensor(h.tensors.get('empty')!);
    assert.equal(e.data.length, 0);
    assert.deepEqual(e.shape, [0, 5]);
    const noRows = await readTensorRows(h.tensors.get('empty')!, 0, 0);
    assert.equal(noRows.data.length, 0);
    const s = await readTensor(h.tensors.get('scalar')!);
    assert.deepEqual(Array.from(s.data), [7]);
    assert.deepEqual(s.shape, []);
    await rejectsWith(readTensorRows(h.tensors.get('scalar')!, 0, 1), 'INVALID_ARGUMENT', file);
  });
});

test('readTensorRows rejects out-of-range rows', async () => {
  await withTempDir(async (t) => {
    const file = await t.write('x.safetensors', buildSafetensors([{ name: 'w', dtype: 'BF16', shape: [4, 3] }]));
    const info = (await readSafetensorsHeader(file)).tensors.get('w')!;
    await rejectsWith(readTensorRows(info, 3, 2), 'INVALID_ARGUMENT', '"w"', file);
    await rejectsWith(readTensorRows(info, -1, 1), 'INVALID_ARGUMENT', '"w"');
    await rejectsWith(readTensorRows(info, 0.5, 1), 'INVALID_ARGUMENT', '"w"');
    assert.equal((await readTensorRows(info, 4, 0)).data.length, 0);
  });
});

test('non-float dtypes parse but are DTYPE_UNSUPPORTED to load', async () => {
  await withTempDir(async (t) => {
    const specs: TensorSpec[] = ['BOOL', 'U8', 'I8', 'I16', 'U16', 'I32', 'U32', 'F64', 'I64', 'U64', 'F8_E4M3', 'F8_E5M2'].map(
      (dtype, i) => ({ name: `t${i}.${dtype}`, dtype, shape: [2, 3] }),
    );
    const file = await t.write('x.safetensors', buildSafetensors(specs));
    const h = await readSafetensorsHeader(file);
    assert.equal(h.tensors.size, specs.length);
    assert.equal(h.tensors.get('t8.I64')!.byteLength, 48);
    for (const info of h.tensors.values()) {
      await rejectsWith(readTensor(info), 'DTYPE_UNSUPPORTED', file, info.name, info.dtype);
      await rejectsWith(readTensorRows(info, 0, 1), 'DTYPE_UNSUPPORTED', info.name);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// built files: broken

/** One valid 2×2 BF16 tensor named "w", for mutation. */
function goodEntry(): Record<string, unknown> {
  return { dtype: 'BF16', shape: [2, 2], data_offsets: [0, 8] };
}

const brokenHeaders: Array<{ name: string; header: Record<string, unknown> | string | Uint8Array; data?: number; expect: string[] }> = [
  { name: 'invalid UTF-8', header: new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]), expect: ['UTF-8'] },
  { name: 'invalid JSON', header: '{"w": {"dtype": "BF16",', expect: ['not valid JSON'] },
  { name: 'JSON array', header: '[1, 2, 3]', expect: ['not a JSON object'] },
  { name: 'JSON null', header: 'null', expect: ['not a JSON object'] },
  { name: 'JSON string', header: '"hello"', expect: ['not a JSON object'] },
  { name: 'entry not an object', header: { w: [1, 2] }, expect: ['"w"', 'not an object'] },
  { name: 'metadata not an object', header: { __metadata__: 'x' }, expect: ['__metadata__'] },
  { name: 'metadata value not a string', header: { __metadata__: { format: 1 } }, expect: ['__metadata__', 'format'] },
  { name: 'missing dtype', header: { w: { shape: [2, 2], data_offsets: [0, 8] } }, data: 8, expect: ['"w"', 'missing "dtype"'] },
  { name: 'missing shape', header: { w: { dtype: 'BF16', data_offsets: [0, 8] } }, data: 8, expect: ['"w"', 'missing "shape"'] },
  { name: 'missing data_offsets', header: { w: { dtype: 'BF16', shape: [2, 2] } }, data: 8, expect: ['"w"', 'missing "data_offsets"'] },
  { name: 'dtype not a string', header: { w: { ...goodEntry(), dtype: 2 } }, data: 8, expect: ['"w"', '"dtype" is not a string'] },
  { name: 'unknown dtype', header: { w: { ...goodEntry(), dtype: 'BF17' } }, data: 8, expect: ['"w"', 'unknown dtype "BF17"'] },
  { name: 'lowercase dtype', header: { w: { ...goodEntry(), dtype: 'bf16' } }, data: 8, expect: ['unknown dtype "bf16"'] },
  { name: 'dtype inherited key', header: { w: { ...goodEntry(), dtype: 'toString' } }, data: 8, expect: ['unknown dtype'] },
  { name: 'shape not an array', header: { w: { ...goodEntry(), shape: '2,2' } }, data: 8, expect: ['"w"', '"shape" is not an array'] },
  { name: 'negative dim', header: { w: { ...goodEntry(), shape: [-2, -2] } }, data: 8, expect: ['"w"', 'non-negative integer'] },
  { name: 'fractional dim', header: { w: { ...goodEntry(), shape: [1.5, 2] } }, data: 8, expect: ['"w"', 'non-negative integer'] },
  { name: 'string dim', header: { w: { ...goodEntry(), shape: ['2', 2] } }, data: 8, expect: ['"w"', 'non-negative integer'] },
  { name: 'shape overflow', header: { w: { ...goodEntry(), shape: [2 ** 40, 2 ** 40] } }, data: 8, expect: ['"w"', 'too many elements'] },
  { name: 'data_offsets not an array', header: { w: { ...goodEntry(), data_offsets: '0-8' } }, data: 8, expect: ['"w"', '[begin, end]'] },
  { name: 'data_offsets length 3', header: { w: { ...goodEntry(), data_offsets: [0, 4, 8] } }, data: 8, expect: ['"w"', '[begin, end]'] },
  { name: 'data_offsets negative', header: { w: { ...goodEntry(), data_offsets: [-8, 0] } }, data: 8, expect: ['"w"', '[begin, end]'] },
  { name: 'data_offsets unsafe integer', header: { w: { ...goodEntry(), data_offsets: [0, 2 ** 60] } }, data: 8, expect: ['"w"', '[begin, end]'] },
  { name: 'begin > end', header: { w: { ...goodEntry(), data_offsets: [8, 0] } }, data: 8, expect: ['"w"', 'begin > end'] },
  { name: 'size mismatch', header: { w: { ...goodEntry(), data_offsets: [0, 6] } }, data: 8, expect: ['"w"', 'needs 8 bytes', 'span 6'] },
  { name: 'offsets past end of file (truncated)', header: { w: goodEntry() }, data: 5, expect: ['"w"', 'only'] },
  {
    name: 'overlapping tensors',
    header: { a: { dtype: 'BF16', shape: [4], data_offsets: [0, 8] }, b: { dtype: 'BF16', shape: [2], data_offsets: [6, 10] } },
    data: 10,
    expect: ['"a"', '"b"', 'overlap'],
  },
  {
    name: 'overlapping tensors listed out of order',
    header: {
      c: { dtype: 'U8', shape: [4], data_offsets: [20, 24] },
      a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
      b: { dtype: 'F32', shape: [4], data_offsets: [8, 24] },
    },
    data: 24,
    expect: ['"b"', '"c"', 'overlap'],
  },
];

for (const c of brokenHeaders) {
  test(`broken header → SAFETENSORS_INVALID: ${c.name}`, async () => {
    await withTempDir(async (t) => {
      const file = await t.write('bad.safetensors', encodeSafetensors(c.header, new Uint8Array(c.data ?? 0)));
      await rejectsWith(readSafetensorsHeader(file), 'SAFETENSORS_INVALID', file, ...c.expect);
    });
  });
}

test('missing file and directory → FILE_NOT_FOUND naming the path', async () => {
  await withTempDir(async (t) => {
    const missing = path.join(t.dir, 'nope.safetensors');
    await rejectsWith(readSafetensorsHeader(missing), 'FILE_NOT_FOUND', missing);
    await rejectsWith(readSafetensorsHeader(t.dir), 'FILE_NOT_FOUND', t.dir);
  });
});

test('files shorter than 8 bytes → SAFETENSORS_INVALID', async () => {
  await withTempDir(async (t) => {
    for (const len of [0, 1, 7]) {
      const file = await t.write(`short${len}.safetensors`, new Uint8Array(len));
      await rejectsWith(readSafetensorsHeader(file), 'SAFETENSORS_INVALID', file, `${len} bytes`);
    }
  });
});

test('header length larger than the file, or over 100 MB → SAFETENSORS_INVALID', async () => {
  await withTempDir(async (t) => {
    const body = '{"__metadata__":{}}';
    const longer = await t.write('a.safetensors', encodeSafetensors(body, undefined, BigInt(body.length + 1)));
    await rejectsWith(readSafetensorsHeader(longer), 'SAFETENSORS_INVALID', longer, 'larger than the file');
    const huge = await t.write('b.safetensors', encodeSafetensors(body, undefined, BigInt(MAX_HEADER_BYTES + 1)));
    await rejectsWith(readSafetensorsHeader(huge), 'SAFETENSORS_INVALID', huge, 'too long');
    const u64max = await t.write('c.safetensors', encodeSafetensors(body, undefined, 2n ** 64n - 1n));
    await rejectsWith(readSafetensorsHeader(u64max), 'SAFETENSORS_INVALID', u64max, 'too long');
  });
});

test('valid edge cases: empty header object, header padded with spaces, trailing bytes', async () => {
  await withTempDir(async (t) => {
    const empty = await t.write('e.safetensors', encodeSafetensors('{}'));
    assert.equal((await readSafetensorsHeader(empty)).tensors.size, 0);
    const { header, data } = layout([{ name: 'w', dtype: 'F16', shape: [3] }]);
    const padded = JSON.stringify(header) + '       '; // writers pad the header to 8-byte alignment
    const p = await t.write('p.safetensors', encodeSafetensors(padded, data));
    const h = await readSafetensorsHeader(p);
    assert.equal(h.dataStart, 8 + padded.length);
    assert.equal((await readTensor(h.tensors.get('w')!)).data.length, 3);
  });
});

test('file truncated after its header was read → SAFETENSORS_INVALID short read', async () => {
  await withTempDir(async (t) => {
    const file = await t.write(
      'x.safetensors',
      buildSafetensors([
        { name: 'a', dtype: 'F32', shape: [8] },
        { name: 'b', dtype: 'BF16', shape: [16, 4] },
      ]),
    );
    const h = await readSafetensorsHeader(file);
    const b = h.tensors.get('b')!;
    await truncate(file, b.offset + 10);
    await rejectsWith(readTensor(b), 'SAFETENSORS_INVALID', file, '"b"', 'file ends');
    await rejectsWith(readTensorRows(b, 4, 2), 'SAFETENSORS_INVALID', file, '"b"');
    assert.equal((await readTensor(h.tensors.get('a')!)).data.length, 8); // still readable
    // the header itself now fails the bounds check
    await rejectsWith(readSafetensorsHeader(file), 'SAFETENSORS_INVALID', file, '"b"');
  });
});

test('adversarial input: random mutations never crash, only FugakuError', async () => {
  await withTempDir(async (t) => {
    const good = buildSafetensors([
      { name: 'x', dtype: 'BF16', shape: [3, 4] },
      { name: 'y', dtype: 'F32', shape: [5] },
    ]);
    let seed = 12345;
    const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    let failures = 0;
    for (let i = 0; i < 150; i++) {
      const bytes = good.slice(0, Math.max(0, good.length - (i % 5 === 0 ? Math.floor(rand() * good.length) : 0)));
      const flips = 1 + Math.floor(rand() * 4);
      for (let k = 0; k < flips && bytes.length > 0; k++) {
        bytes[Math.floor(rand() * Math.min(bytes.length, 120))] = Math.floor(rand() * 256);
      }
      const file = await t.write(`m${i}.safetensors`, bytes);
      try {
        const h = await readSafetensorsHeader(file);
        for (const info of h.tensors.values()) {
          try {
            await readTensor(info);
          } catch (e) {
            assert.ok(e instanceof FugakuError, String(e));
          }
        }
      } catch (e) {
        assert.ok(e instanceof FugakuError, `mutation ${i}: ${String(e)}`);
        assert.ok(e.message.includes(file));
        failures++;
      }
    }
    assert.ok(failures > 50, `most mutations should be rejected (${failures})`);
  });
});
