/**
 * `fugaku convert --dtype q4_k_m|q5_k_m|q6_k|q3_k_m|iq4_xs [--imatrix]` against llama-quantize:
 * every tensor's type, dimensions and bytes (SHA-256) must equal what llama.cpp (commit 80fb11a)
 * wrote from the f16 GGUF of the same checkpoint (test/fixtures/llamacpp/, see its README).
 * The checkpoints are rebuilt bit for bit by kquant-models.ts; llama.cpp is not needed here.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { convertToGGUF, FILE_TYPE } from '../src/convert/to-gguf.js';
import { KQUANT_FTYPES, llamaTensorTypes, type KQuantFType } from '../src/convert/tensor-types.js';
import { imatrixFor, readImatrixFile } from '../src/convert/imatrix-file.js';
import { FugakuError } from '../src/errors.js';
import { loadNativeAddon } from '../src/backend/native-addon.js';
import { metaInt, openGGUF } from '../src/io/gguf.js';
import { tensorNames } from '../src/io/gguf-names.js';
import { makeTempDir } from './build-safetensors.js';
import { rejectsWith, runFugaku } from './helpers.js';
import { FIXTURE_DIR, KQUANT_MODELS, writeKQuantModel, type KQuantModel } from './kquant-models.js';
import { tensorManifest, type TensorManifest } from './make-kquant-fixtures.js';

/** What the default ('auto') quantizer is here: the native addon when it loads (the normal case). */
const AUTO_QUANTIZER = loadNativeAddon().ok ? 'native' : 'typescript';

async function expected(model: string, ftype: KQuantFType, imatrix: boolean): Promise<TensorManifest> {
  return JSON.parse(await readFile(path.join(FIXTURE_DIR, `${model}-${ftype}${imatrix ? '-imatrix' : ''}.json`), 'utf8')) as TensorManifest;
}

function assertSameTensors(got: TensorManifest, want: TensorManifest, what: string): void {
  assert.deepEqual(Object.keys(got).sort(), Object.keys(want).sort(), `${what}: tensor names`);
  const bad: string[] = [];
  for (const [name, w] of Object.entries(want)) {
    const g = got[name];
    assert.equal(g.type, w.type, `${what}: type of ${name}`);
    assert.deepEqual(g.ne, w.ne, `${what}: ne of ${name}`);
    if (g.sha256 !== w.sha256) bad.push(`${name} (${w.type})`);
  }
  assert.deepEqual(bad, [], `${what}: tensors whose bytes differ from llama-quantize's`);
}

for (const m of KQUANT_MODELS) {
  test(`convert ${m.name} (n_embd ${m.nEmbd}, n_inner ${m.nInner}, ${m.nLayer} layers): every k-quant type, without and with an imatrix, bit-identical to llama-quantize`, async () => {
    const t = await makeTempDir();
    try {
      const dir = path.join(t.dir, m.name);
      await writeKQuantModel(m, dir);
      const imatrix = path.join(FIXTURE_DIR, `${m.name}-imatrix.gguf`);
      for (const ftype of KQUANT_FTYPES) {
        for (const im of [false, true]) {
          const out = path.join(t.dir, `${ftype}${im ? '-im' : ''}.gguf`);
          const s = await convertToGGUF({ model: dir, out, dtype: ftype, imatrix: im ? imatrix : undefined });
          assert.equal(s.fileType, FILE_TYPE[ftype]);
          assert.equal(s.quantizer, AUTO_QUANTIZER);
          if (im) assert.ok(s.imatrix !== null && s.imatrix.used > 0 && s.imatrix.format === 'gguf');
          const g = await openGGUF(out);
          assert.equal(metaInt(g, 'general.file_type'), FILE_TYPE[ftype]);
          await g.close();
          assertSameTensors(await tensorManifest(out), await expected(m.name, ftype, im), `${m.name} ${ftype}${im ? ' --imatrix' : ''}`);
        }
      }
    } finally {
      await t.cleanup();
    }
  });
}

test('the legacy .dat importance matrix gives the same weights and the same file as the GGUF one', async () => {
  const m = KQUANT_MODELS[0];
  const a = await readImatrixFile(path.join(FIXTURE_DIR, `${m.name}-imatrix.gguf`));
  const b = await readImatrixFile(path.join(FIXTURE_DIR, `${m.name}-imatrix.dat`));
  assert.equal(a.format, 'gguf');
  assert.equal(b.format, 'legacy');
  assert.deepEqual([...b.entries.keys()].sort(), [...a.entries.keys()].sort());
  assert.ok(a.entries.has('blk.0.attn_qkv.weight'));
  assert.equal(a.entries.get('blk.0.attn_qkv.weight')!.length, m.nEmbd);
  assert.equal(a.entries.get('blk.0.ffn_down.weight')!.length, m.nInner);
  for (const [k, v] of a.entries) assert.deepEqual(b.entries.get(k), v, k);
  const t = await makeTempDir();
  try {
    const dir = path.join(t.dir, m.name);
    await writeKQuantModel(m, dir);
    const out = path.join(t.dir, 'q3.gguf');
    // on the TypeScript spec's quantizer (the other cases take the native one where the addon loads)
    const s = await convertToGGUF({ model: dir, out, dtype: 'q3_k_m', imatrix: path.join(FIXTURE_DIR, `${m.name}-imatrix.dat`), quantizer: 'typescript' });
    assert.equal(s.quantizer, 'typescript');
    assertSameTensors(await tensorManifest(out), await expected(m.name, 'q3_k_m', true), 'q3_k_m with the .dat imatrix (TypeScript quantizer)');
  } finally {
    await t.cleanup();
  }
});

test('fugaku convert CLI (a real process): --dtype iq4_xs --imatrix writes llama-quantize\'s tensors; --imatrix with f16 is an error', async () => {
  const m = KQUANT_MODELS[0];
  const t = await makeTempDir();
  try {
    const dir = path.join(t.dir, m.name);
    await writeKQuantModel(m, dir);
    const out = path.join(t.dir, 'cli.gguf');
    const imatrix = path.join(FIXTURE_DIR, `${m.name}-imatrix.gguf`);
    const r = await runFugaku(['convert', '--model', dir, '--dtype', 'iq4_xs', '--imatrix', imatrix, '--out', out, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const s = JSON.parse(r.stdout) as { dtype: string; fileType: number; types: Record<string, number>; imatrix: { used: number }; warnings: string[]; quantizer: string };
    assert.equal(s.quantizer, AUTO_QUANTIZER);
    // kq-narrow: every 32-wide matrix falls back from IQ4_XS (qkv, attn_output, ffn_up: 3 per layer); the tied
    // token_embd is not a fallback (llama.cpp's output rule picks Q8_0 directly when 256 does not divide its rows)
    assert.ok(s.warnings.some((w) => w.startsWith(`${3 * m.nLayer} tensors`) && w.includes(`(${3 * m.nLayer} IQ4_XS→IQ4_NL)`)), JSON.stringify(s.warnings));
    assert.equal(s.types.Q8_0, 1);
    assert.equal(s.dtype, 'iq4_xs');
    assert.equal(s.fileType, 30);
    assert.ok(s.types.IQ4_NL > 0 && s.types.IQ4_XS > 0, JSON.stringify(s.types));
    assert.ok(s.imatrix.used > 0);
    assertSameTensors(await tensorManifest(out), await expected(m.name, 'iq4_xs', true), 'CLI iq4_xs --imatrix');
    const bad = await runFugaku(['convert', '--model', dir, '--dtype', 'f16', '--imatrix', imatrix, '--out', path.join(t.dir, 'x.gguf')]);
    assert.equal(bad.code, 1, 'f16 with --imatrix must fail');
    assert.match(bad.stderr, /error\[INVALID_ARGUMENT\].*--imatrix only applies to the k-quant types/);
  } finally {
    await t.cleanup();
  }
});

/** The GGUF tensor list of a gpt2 model (ne innermost first). */
function gpt2Tensors(nEmbd: number, nInner: number, nLayer: number, vocab: number, nPos: number): { name: string; ne: number[] }[] {
  return tensorNames(nLayer, true).map((n) => {
    const ne = n.layout === 'vector'
      ? [n.gguf.includes('attn_qkv') ? 3 * nEmbd : n.gguf.includes('ffn_up') ? nInner : nEmbd]
      : n.gguf === 'token_embd.weight' ? [nEmbd, vocab]
      : n.gguf === 'position_embd.weight' ? [nEmbd, nPos]
      : n.gguf.includes('attn_qkv') ? [nEmbd, 3 * nEmbd]
      : n.gguf.includes('attn_output') ? [nEmbd, nEmbd]
      : n.gguf.includes('ffn_up') ? [nEmbd, nInner]
      : [nInner, nEmbd];
    return { name: n.gguf, ne };
  });
}

test('llamaTensorTypes: the per-tensor table for the fixture models equals the types llama-quantize wrote', async () => {
  for (const m of KQUANT_MODELS as readonly KQuantModel[]) {
    for (const ftype of KQUANT_FTYPES) {
      for (const im of [false, true]) {
        const want = await expected(m.name, ftype, im);
        const got = llamaTensorTypes(ftype, gpt2Tensors(m.nEmbd, m.nInner, m.nLayer, m.vocab, m.nPositions), { nLayer: m.nLayer, hasImatrix: im });
        for (const [name, w] of Object.entries(want)) {
          const c = got.get(name)!;
          const input = name.endsWith('.bias') || name.endsWith('norm.weight') ? 'F32' : 'F16';
          assert.equal(c.type ?? input, w.type, `${m.name} ${ftype}${im ? ' imatrix' : ''}: ${name}`);
        }
      }
    }
  }
});

test('llamaTensorTypes: Fugaku-LLM-13B (5184 wide, FFN 20736, 40 layers) as llama-quantize --dry-run chose', async () => {
  const want = JSON.parse(await readFile(path.join(FIXTURE_DIR, 'fugaku-13b-types.json'), 'utf8')) as Record<string, Record<string, string>>;
  const tensors = gpt2Tensors(5184, 20736, 40, 48640, 2048);
  for (const ftype of KQUANT_FTYPES) {
    const got = llamaTensorTypes(ftype, tensors, { nLayer: 40, hasImatrix: false });
    const table = want[ftype];
    assert.equal(Object.keys(table).length, tensors.length, ftype);
    for (const t of tensors) assert.equal(got.get(t.name)!.type ?? 'keep', table[t.name], `13B ${ftype}: ${t.name}`);
  }
  // spot checks of the rules (readable without the fixture)
  const q4 = llamaTensorTypes('q4_k_m', tensors, { nLayer: 40, hasImatrix: false });
  assert.equal(q4.get('token_embd.weight')!.type, 'Q8_0'); // 5184 % 256 ≠ 0
  assert.deepEqual(q4.get('blk.0.attn_qkv.weight'), { type: 'Q8_0', fallbackFrom: 'Q6_K' });
  assert.deepEqual(q4.get('blk.1.attn_qkv.weight'), { type: 'Q8_0', fallbackFrom: 'Q6_K' }); // use_more_bits(1, 40): 1 < 40/8
  assert.deepEqual(q4.get('blk.5.attn_qkv.weight'), { type: 'Q5_0', fallbackFrom: 'Q4_K' });
  assert.deepEqual(q4.get('blk.7.attn_qkv.weight'), { type: 'Q8_0', fallbackFrom: 'Q6_K' }); // (7 − 40/8) % 3 = 2
  assert.equal(q4.get('blk.0.ffn_down.weight')!.type, 'Q6_K'); // 20736 = 81·256
  assert.equal(q4.get('blk.5.ffn_down.weight')!.type, 'Q4_K');
  assert.equal(q4.get('blk.7.ffn_down.weight')!.type, 'Q6_K'); // (7 − 5) % 3 = 2
  assert.equal(q4.get('position_embd.weight')!.type, null);
  const xs = llamaTensorTypes('iq4_xs', tensors, { nLayer: 40, hasImatrix: false });
  assert.equal(xs.get('blk.4.ffn_down.weight')!.type, 'Q5_K'); // i < n/8 without an imatrix
  assert.equal(xs.get('blk.5.ffn_down.weight')!.type, 'IQ4_XS');
  assert.equal(llamaTensorTypes('iq4_xs', tensors, { nLayer: 40, hasImatrix: true }).get('blk.4.ffn_down.weight')!.type, 'IQ4_XS');
});

test('importance matrix files: typed errors for a size mismatch, non-finite values, missing GGUF metadata, truncated .dat', async () => {
  const m = KQUANT_MODELS[0];
  const data = await readImatrixFile(path.join(FIXTURE_DIR, `${m.name}-imatrix.gguf`));
  assert.equal(imatrixFor(data, 'blk.0.attn_qkv.weight', [m.nEmbd, 3 * m.nEmbd])!.length, m.nEmbd);
  assert.equal(imatrixFor(data, 'no.such.weight', [m.nEmbd, 4]), null);
  assert.equal(imatrixFor(null, 'blk.0.attn_qkv.weight', [m.nEmbd, 3 * m.nEmbd]), null);
  assert.throws(() => imatrixFor(data, 'blk.0.attn_qkv.weight', [64, 96]), (e: unknown) => e instanceof FugakuError && e.code === 'INVALID_ARGUMENT' && e.message.includes('blk.0.attn_qkv.weight'));
  data.entries.set('token_embd.weight', new Float32Array(7));
  assert.equal(imatrixFor(data, 'token_embd.weight', [m.nEmbd, m.vocab]), null); // llama.cpp ignores it for token_embd
  const t = await makeTempDir();
  try {
    // legacy .dat: one entry "a" with a NaN; then the same file cut short
    const name = Buffer.from('blk.0.ffn_up.weight');
    const b = Buffer.alloc(4 + 4 + name.length + 8 + 8);
    let o = b.writeInt32LE(1, 0);
    o = b.writeInt32LE(name.length, o);
    o += name.copy(b, o);
    o = b.writeInt32LE(1, o);
    o = b.writeInt32LE(2, o);
    o = b.writeFloatLE(1, o);
    b.writeFloatLE(NaN, o);
    await rejectsWith(readImatrixFile(await t.write('nan.dat', b)), 'INVALID_ARGUMENT', 'non-finite');
    await rejectsWith(readImatrixFile(await t.write('cut.dat', b.subarray(0, b.length - 3))), 'INVALID_ARGUMENT', 'truncated');
    // a GGUF file without the imatrix.* keys (a model file)
    const dir = path.join(t.dir, m.name);
    await writeKQuantModel(m, dir);
    const f16 = path.join(t.dir, 'f16.gguf');
    await convertToGGUF({ model: dir, out: f16, dtype: 'f16' });
    await rejectsWith(readImatrixFile(f16), 'INVALID_ARGUMENT', 'missing imatrix metadata');
    await rejectsWith(readImatrixFile(path.join(t.dir, 'none.gguf')), 'FILE_NOT_FOUND', 'none.gguf');
    await rejectsWith(convertToGGUF({ model: dir, out: path.join(t.dir, 'x.gguf'), dtype: 'q8_0', imatrix: path.join(FIXTURE_DIR, `${m.name}-imatrix.gguf`) }), 'INVALID_ARGUMENT', '--imatrix');
  } finally {
    await t.cleanup();
  }
});
