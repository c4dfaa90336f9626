/**
 * Regenerates test/fixtures/llamacpp/ from llama.cpp itself (not a test; needs a llama.cpp build):
 *
 *   npx tsc -p tsconfig.json && LLAMA_CPP_BIN=/work/llama.cpp/build/bin node dist/test/make-kquant-fixtures.js
 *
 * For each model of kquant-models.ts: writes the checkpoint, `fugaku convert --dtype f16`, runs
 * llama-imatrix on imatrix-text.txt (GGUF and legacy .dat output), then llama-quantize for every
 * k-quant file type without and with the imatrix, and records each output tensor's type, ne and the
 * SHA-256 of its bytes in <model>-<ftype>[-imatrix].json. See the folder's README.md.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, open, rm, writeFile, copyFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { readFile } from 'node:fs/promises';
import { convertToGGUF, FUGAKU_LLM_LICENSE, gpt2GGUFHeader } from '../src/convert/to-gguf.js';
import { buildSpmVocab } from '../src/convert/vocab.js';
import { encodeGGUFHeader } from '../src/io/gguf.js';
import { parseGPT2Config } from '../src/model/config.js';
import { KQUANT_FTYPES } from '../src/convert/tensor-types.js';
import { openGGUF } from '../src/io/gguf.js';
import { FIXTURE_DIR, KQUANT_MODELS, writeKQuantModel } from './kquant-models.js';

export interface TensorManifest {
  [name: string]: { type: string; ne: number[]; sha256: string };
}

/** type, ne and SHA-256 of every tensor's bytes in a GGUF file. */
export async function tensorManifest(file: string): Promise<TensorManifest> {
  const g = await openGGUF(file);
  const fh = await open(file, 'r');
  try {
    const out: TensorManifest = {};
    for (const t of [...g.tensors.values()].sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const b = Buffer.alloc(t.byteLength);
      await fh.read(b, 0, t.byteLength, t.offset);
      out[t.name] = { type: t.type, ne: t.ne, sha256: createHash('sha256').update(b).digest('hex') };
    }
    return out;
  } finally {
    await fh.close();
    await g.close();
  }
}

/**
 * llama-quantize --dry-run on a header-only (sparse) f16 GGUF of the Fugaku-LLM-13B shape: the type
 * it chooses for every tensor per k-quant file type ('keep' where it does not quantize).
 */
async function fugaku13bTypes(bin: string, tmp: string): Promise<Record<string, Record<string, string>>> {
  const E = 5184;
  const F = 20736;
  const L = 40;
  const cfgJson = { model_type: 'gpt2', n_embd: E, n_inner: F, n_layer: L, n_head: 36, n_positions: 2048, vocab_size: 48640, tie_word_embeddings: true, activation_function: 'gelu' };
  const cfg = parseGPT2Config(cfgJson);
  const tok = (f: string) => readFile(path.join(FIXTURE_DIR, '..', '..', '..', 'models', 'tiny-ja-demo', f), 'utf8');
  const [tokenizer, tokenizerConfig, specialTokensMap] = await Promise.all([tok('tokenizer.json'), tok('tokenizer_config.json'), tok('special_tokens_map.json')]);
  const shapeOf = (hf: string): number[] => {
    if (hf === 'wte.weight') return [48640, E];
    if (hf === 'wpe.weight') return [2048, E];
    if (hf.endsWith('c_attn.weight')) return [E, 3 * E];
    if (hf.endsWith('c_attn.bias')) return [3 * E];
    if (hf.endsWith('attn.c_proj.weight')) return [E, E];
    if (hf.endsWith('c_fc.weight')) return [E, F];
    if (hf.endsWith('c_fc.bias')) return [F];
    if (hf.endsWith('mlp.c_proj.weight')) return [F, E];
    return [E];
  };
  const { spec } = gpt2GGUFHeader({
    cfg, dtype: 'f16', name: 'fugaku-13b-shape', vocab: buildSpmVocab(tokenizer, tokenizerConfig, specialTokensMap, 48640), tokenizerModel: 'llama',
    license: { name: FUGAKU_LLM_LICENSE.name, link: FUGAKU_LLM_LICENSE.link, text: null },
    files: { config: JSON.stringify(cfgJson), generationConfig: null, tokenizer, tokenizerConfig, specialTokensMap }, shapeOf,
  });
  const h = encodeGGUFHeader(spec);
  const file = path.join(tmp, 'fugaku-13b-f16-sparse.gguf');
  const fh = await open(file, 'w');
  await fh.write(h.header, 0, h.header.length, 0);
  await fh.truncate(h.header.length + h.dataBytes);
  await fh.close();
  const out: Record<string, Record<string, string>> = {};
  for (const ft of KQUANT_FTYPES) {
    const r = spawnSync(path.join(bin, 'llama-quantize'), ['--dry-run', file, ft.toUpperCase(), '2'], { encoding: 'utf8', maxBuffer: 1 << 26 });
    if (r.status !== 0) throw new Error(`llama-quantize --dry-run failed: ${r.stderr.slice(-2000)}`);
    const log = r.stdout + r.stderr;
    const table: Record<string, string> = {};
    for (const line of log.split('\n')) {
      const m = /^\[\s*\d+\/\s*\d+\]\s+(\S+)\s+- \[.*\], type =\s+(\S+), size = .*?(?:\((\w+)\))?\s*$/.exec(line);
      if (m) table[m[1]] = m[3] ? m[3].toUpperCase() : 'keep';
    }
    out[ft] = table;
  }
  return out;
}

async function main(): Promise<void> {
  const bin = process.env.LLAMA_CPP_BIN;
  if (!bin) throw new Error('set LLAMA_CPP_BIN to llama.cpp build/bin');
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'kq-fixtures-'));
  try {
    const t13 = await fugaku13bTypes(bin, tmp);
    await writeFile(path.join(FIXTURE_DIR, 'fugaku-13b-types.json'), JSON.stringify(t13, null, 1) + '\n');
    console.log(`13B: ${Object.keys(t13.q4_k_m).length} tensors`);
    for (const m of KQUANT_MODELS) {
      const dir = path.join(tmp, m.name);
      await writeKQuantModel(m, dir);
      const f16 = path.join(tmp, `${m.name}-f16.gguf`);
      await convertToGGUF({ model: dir, out: f16, dtype: 'f16' });
      const text = path.join(FIXTURE_DIR, 'imatrix-text.txt');
      for (const fmt of ['gguf', 'dat'] as const) {
        const out = path.join(tmp, `${m.name}-imatrix.${fmt}`);
        execFileSync(path.join(bin, 'llama-imatrix'), ['-m', f16, '-f', text, '-o', out, '--output-format', fmt, '-c', '64', '-b', '64', '-t', '2', '--no-ppl'], { stdio: 'ignore' });
        await copyFile(out, path.join(FIXTURE_DIR, `${m.name}-imatrix.${fmt}`));
      }
      for (const ft of KQUANT_FTYPES) {
        for (const im of [false, true]) {
          const out = path.join(tmp, `${m.name}-${ft}${im ? '-imatrix' : ''}.gguf`);
          const args = [...(im ? ['--imatrix', path.join(tmp, `${m.name}-imatrix.gguf`)] : []), f16, out, ft.toUpperCase(), '2'];
          execFileSync(path.join(bin, 'llama-quantize'), args, { stdio: 'ignore' });
          const manifest = await tensorManifest(out);
          await writeFile(path.join(FIXTURE_DIR, `${m.name}-${ft}${im ? '-imatrix' : ''}.json`), JSON.stringify(manifest, null, 1) + '\n');
          console.log(`${m.name} ${ft}${im ? ' imatrix' : ''}: ${Object.keys(manifest).length} tensors`);
        }
      }
    }
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === new URL(import.meta.url).pathname) {
  await main();
}
