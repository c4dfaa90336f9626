/**
 * The native addon's interface: its errors arrive as FugakuErrors with codes and hints (the addon
 * throws with a code, native-addon.ts maps it), its handles cannot be mixed up, and the numeric codes
 * of formats, kernel sets and activations come from the addon's `constants`, which the backend uses
 * instead of numbers of its own.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadNativeAddon, nativeError, NATIVE_ACTIVATIONS, NATIVE_FORMATS, NATIVE_LEVELS, type NativeAddon } from '../src/backend/native-addon.js';
import { NativeBackend, availableKernels } from '../src/backend/native.js';
import { tensorFrom } from '../src/backend/backend.js';
import { FugakuError, type ErrorCode } from '../src/errors.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

const load = loadNativeAddon();
if (!load.ok) throw new Error(`native addon missing: ${load.reason}`);
const addon = load.addon;
const C = addon.constants;

/** Asserts that f throws a FugakuError with `code`, a message naming the addon, and a hint. */
function throwsCode(f: () => unknown, code: ErrorCode, message?: RegExp): void {
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof FugakuError, `not a FugakuError: ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.match(e.message, /^native addon: /);
    if (message) assert.match(e.message, message);
    assert.ok(e.hint && e.hint.length > 10, 'a hint');
    assert.match(e.toLine(), new RegExp(`^error\\[${code}\\]: native addon: .* \\(hint: `));
    return true;
  });
}

test('the addon exports the codes of every format, kernel set and activation, distinct and frozen', () => {
  for (const [table, names] of [['formats', NATIVE_FORMATS], ['levels', NATIVE_LEVELS], ['activations', NATIVE_ACTIVATIONS]] as const) {
    const t = C[table] as Record<string, number>;
    assert.deepEqual(Object.keys(t).sort(), [...names].sort(), table);
    assert.equal(new Set(Object.values(t)).size, names.length, `${table} codes are distinct`);
    assert.ok(Object.isFrozen(t));
  }
  assert.ok(Object.isFrozen(C));
});

test('bad arguments to the addon are FugakuErrors with NATIVE_INVALID_ARGUMENT', () => {
  const ctx = addon.createContext(1, C.levels.portable);
  const m = addon.loadMatrix(ctx, C.formats.F32, new Float32Array(64 * 8), 64, 8, false, C.formats.Q8_0);
  const x = new Float32Array(64);
  const out = new Float32Array(8);
  addon.matmul(ctx, m, x, 1, null, out);  // the good call works
  throwsCode(() => addon.matmul(ctx, m, x, 2, null, out), 'NATIVE_INVALID_ARGUMENT', /matmul: array too short/);
  throwsCode(() => addon.matmul(ctx, m, new Uint16Array(64) as never, 1, null, out), 'NATIVE_INVALID_ARGUMENT', /matmul: bad arguments/);
  // A context where a matrix belongs, and the other way round (type-tagged handles), or a plain object.
  throwsCode(() => addon.matmul(ctx, ctx as never, x, 1, null, out), 'NATIVE_INVALID_ARGUMENT', /matmul/);
  throwsCode(() => addon.matmul(m as never, m, x, 1, null, out), 'NATIVE_INVALID_ARGUMENT', /matmul/);
  throwsCode(() => addon.matrixBytes({} as never), 'NATIVE_INVALID_ARGUMENT', /matrixBytes/);
  throwsCode(() => addon.loadMatrix(ctx, C.formats.F32, new Float32Array(10), 64, 8, false, C.formats.F32), 'NATIVE_INVALID_ARGUMENT', /wrong length/);
  throwsCode(() => addon.loadMatrix(ctx, C.formats.F32, new Float32Array(40 * 8), 40, 8, false, C.formats.Q4_0), 'NATIVE_INVALID_ARGUMENT', /in % 32/);
  throwsCode(() => addon.loadMatrix(ctx, C.formats.F32, x, 64, 1, false, 99), 'NATIVE_INVALID_ARGUMENT', /unknown format/);
  throwsCode(() => addon.activation(ctx, 99, x, 64), 'NATIVE_INVALID_ARGUMENT', /unknown kind/);
  throwsCode(() => addon.createContext(1, 99), 'NATIVE_INVALID_ARGUMENT', /level/);
  throwsCode(() => addon.embedding(ctx, m, new Int32Array([8]), new Float32Array(64)), 'NATIVE_INVALID_ARGUMENT', /id out of range/);
  throwsCode(() => addon.storeRows(ctx, x, 0, 64, new Uint16Array(10), 0, 64, 1), 'NATIVE_INVALID_ARGUMENT', /storeRows: array too short/);
  throwsCode(() => addon.attention(ctx, x, 1, new Float32Array(64), new Uint16Array(64), 0, 1, 64, 1, null, out), 'NATIVE_INVALID_ARGUMENT', /caches/);
  throwsCode(() => addon.streamRead(ctx, 10, 1), 'NATIVE_INVALID_ARGUMENT', /streamRead/);
});

test('an allocation that fails is INSUFFICIENT_MEMORY, a kernel set the CPU lacks BACKEND_UNAVAILABLE', () => {
  const ctx = addon.createContext(1, C.levels.portable);
  throwsCode(() => addon.streamTriad(ctx, 2 ** 50, 1), 'INSUFFICIENT_MEMORY', /streamTriad: out of memory/);
  const have = availableKernels(addon.cpuFeatures());
  const lacking = NATIVE_LEVELS.find((l) => !have.includes(l));
  assert.ok(lacking, 'every CPU lacks some set (x86 has no neon, Arm no avx2)');
  throwsCode(() => addon.createContext(1, C.levels[lacking]), 'BACKEND_UNAVAILABLE', /lacks|need/);
});

test('the backend passes an addon error on as the FugakuError (no plain Error escapes)', () => {
  const be = NativeBackend.create({ threads: 1, simd: 'portable' });
  const w = be.loadMatrix({ dtype: 'F32', shape: [8, 64], data: new Float32Array(512) }, 'out_in', 'Q8_0');
  throwsCode(() => be.matmul(be.alloc(64), 1, w, null, be.alloc(4)), 'NATIVE_INVALID_ARGUMENT', /array too short/);
  throwsCode(() => be.layerNorm(be.alloc(4), 2, 4, be.alloc(4), be.alloc(4), 1e-5, be.alloc(8)), 'NATIVE_INVALID_ARGUMENT', /layerNorm/);
  // A non-addon error is kept as it is; an unknown code is INTERNAL.
  const fe = new FugakuError('ABORTED', 'x');
  assert.equal(nativeError(fe), fe);
  assert.equal(nativeError(Object.assign(new Error('odd'), { code: 'SOMETHING_ELSE' })).code, 'INTERNAL');
});

test('the backend takes the codes of formats, kernel sets and activations from the addon', async () => {
  // The real addon behind other numbers: the backend must send the numbers this addon's constants say.
  const shift = <T extends Record<string, number>>(t: T, by: number) => Object.fromEntries(Object.entries(t).map(([k, v]) => [k, v + by])) as T;
  const unshiftFmt = (v: number) => v - 100;
  const seen: { levels: number[]; formats: number[]; kinds: number[] } = { levels: [], formats: [], kinds: [] };
  const remapped: NativeAddon = {
    ...addon,
    constants: { formats: shift(C.formats, 100), levels: shift(C.levels, 200), activations: shift(C.activations, 300) },
    createContext: (threads, level) => { seen.levels.push(level); return addon.createContext(threads, level - 200); },
    loadMatrix: (ctx, src, data, inDim, outDim, inOut, fmt) => {
      seen.formats.push(src, fmt);
      return addon.loadMatrix(ctx, unshiftFmt(src), data, inDim, outDim, inOut, unshiftFmt(fmt));
    },
    activation: (ctx, kind, x, n) => { seen.kinds.push(kind); addon.activation(ctx, kind - 300, x, n); },
  };
  const be = NativeBackend.create({ addon: remapped, threads: 1, simd: 'portable' });
  assert.deepEqual(seen.levels, [C.levels.portable + 200]);
  const bf16 = new Uint16Array(64 * 8).fill(0x3f80);  // 1.0
  const w = be.loadMatrix({ dtype: 'BF16', shape: [8, 64], data: bf16 }, 'out_in', 'Q4_0');
  assert.deepEqual(seen.formats, [C.formats.BF16 + 100, C.formats.Q4_0 + 100]);
  assert.equal(w.format, 'Q4_0');
  const out = be.alloc(8);
  be.matmul(tensorFrom(be, new Float32Array(64).fill(1)), 1, w, null, out);
  assert.deepEqual([...await be.read(out)], new Array(8).fill(64));  // 64 × 1.0 · 1.0, exact in Q4_0 (d = −1/8, q = 0)
  const x = tensorFrom(be, new Float32Array([-1, 0, 2]));
  be.activation('gelu_pytorch_tanh', x, 3);
  be.activation('swish', x, 3);
  assert.deepEqual(seen.kinds, [C.activations.gelu_tanh + 300, C.activations.silu + 300]);
});

test('an addon file without the expected constants (built from other sources) is refused with a reason', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'fugaku-addon-'));
  try {
    // loadNativeAddon require()s the file: a module with the addon's functions but old or partial constants.
    const noConstants = path.join(dir, 'old.cjs');
    writeFileSync(noConstants, 'exports.createContext = () => ({}); exports.cpuFeatures = () => ({ x86: false });\n');
    const r1 = loadNativeAddon(noConstants);
    assert.ok(!r1.ok && /built from other sources .*exports no constants.*npm rebuild/.test(r1.reason), r1.ok ? '' : r1.reason);
    const partial = path.join(dir, 'partial.cjs');
    const levels = { ...C.levels } as Record<string, number>;
    delete levels.amx;
    writeFileSync(partial, `exports.constants = ${JSON.stringify({ ...C, levels })};\n`);
    const r2 = loadNativeAddon(partial);
    assert.ok(!r2.ok && /constants\.levels lack amx/.test(r2.reason), r2.ok ? '' : r2.reason);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
