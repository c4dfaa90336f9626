/**
 * Writes a Hugging Face GPT-2 folder with random bf16 weights of a given shape, sharded with a
 * model.safetensors.index.json like the real Fugaku-LLM-13B repository, plus the llm-jp tokenizer
 * files, so every `fugaku` command (and the benchmarks) can load it. Shards are written tensor by
 * tensor in chunks from a pool of random values: memory stays small even for the 26 GB 13B shape.
 *
 * With `--gguf q4_0|q8_0` it writes a GGUF file instead (--out FILE.gguf), the header exactly as
 * `fugaku convert` writes it, with random quantized blocks: the 13B shape's 7 GB file in seconds
 * where making the folder and converting it takes minutes (speed benchmarks on a lent machine).
 *
 *   npx tsc -p tsconfig.json && node dist/bench/make-checkpoint.js --preset 13b --out /tmp/fugaku-13b
 *   node dist/bench/make-checkpoint.js --preset 13b --gguf q4_0 --out /tmp/13b-q4_0.gguf
 *   presets: 13b (Fugaku-LLM-13B), 1b, gpt2-small, tiny; or --n-embd/--n-layer/--n-head/--n-inner/--vocab/--n-positions
 */
import { open, mkdir, writeFile, copyFile, readdir, readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { f32ToBf16, f32ToF16 } from '../src/tensor/dtype.js';
import { Rng } from '../src/generation/rng.js';
import { packageRoot } from '../src/paths.js';
import { gpt2GGUFHeader, FUGAKU_LLM_LICENSE } from '../src/convert/to-gguf.js';
import { buildSpmVocab } from '../src/convert/vocab.js';
import { writeGGUF } from '../src/io/gguf.js';
import { parseGPT2Config } from '../src/model/config.js';
import { QK } from '../src/tensor/quant.js';
import { benchArgs } from './args.js';
import { PRESETS, type Shape } from './presets.js';

function tensorsOf(s: Shape): [string, number[]][] {
  const E = s.nEmbd;
  const t: [string, number[]][] = [['transformer.wte.weight', [s.vocab, E]], ['transformer.wpe.weight', [s.nPositions, E]]];
  for (let l = 0; l < s.nLayer; l++) {
    const p = `transformer.h.${l}.`;
    t.push([p + 'ln_1.weight', [E]], [p + 'ln_1.bias', [E]], [p + 'attn.c_attn.weight', [E, 3 * E]], [p + 'attn.c_attn.bias', [3 * E]],
      [p + 'attn.c_proj.weight', [E, E]], [p + 'attn.c_proj.bias', [E]], [p + 'ln_2.weight', [E]], [p + 'ln_2.bias', [E]],
      [p + 'mlp.c_fc.weight', [E, s.nInner]], [p + 'mlp.c_fc.bias', [s.nInner]], [p + 'mlp.c_proj.weight', [s.nInner, E]], [p + 'mlp.c_proj.bias', [E]]);
  }
  t.push(['transformer.ln_f.weight', [E]], ['transformer.ln_f.bias', [E]]);
  return t;
}

function configOf(shape: Shape): Record<string, unknown> {
  return {
    architectures: ['GPT2LMHeadModel'], model_type: 'gpt2', activation_function: shape.activation,
    n_embd: shape.nEmbd, n_head: shape.nHead, n_layer: shape.nLayer, n_inner: shape.nInner, n_positions: shape.nPositions, n_ctx: shape.nPositions,
    vocab_size: shape.vocab, layer_norm_epsilon: 1e-5, bos_token_id: 7, eos_token_id: 7, tie_word_embeddings: true, torch_dtype: 'bfloat16',
    scale_attn_weights: true, reorder_and_upcast_attn: false, scale_attn_by_inverse_layer_idx: false,
  };
}

const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json'];
const tokenizerFile = (f: string) => path.join(packageRoot, 'models', 'tiny-ja-demo', f);

/**
 * A GGUF file of random q4_0/q8_0 blocks: block scales fixed so weights have a standard deviation of
 * about 0.02 (as the bf16 folders), the quantized values random bytes; vectors as in the folders
 * (LayerNorm weights 1, biases 0), the position table random f32. Blocks are cut from a pool at
 * random offsets, so writing is as fast as the disk.
 */
async function writeRandomGGUF(shape: Shape, dtype: 'q4_0' | 'q8_0', out: string, rng: Rng): Promise<void> {
  const t0 = performance.now();
  const cfgJson = configOf(shape);
  const cfg = parseGPT2Config(cfgJson);
  const text = async (f: string) => (existsSync(tokenizerFile(f)) ? readFile(tokenizerFile(f), 'utf8') : null);
  const [tokenizer, tokenizerConfig, specialTokensMap] = await Promise.all(TOKENIZER_FILES.map(text));
  if (tokenizer === null) throw new Error(`${tokenizerFile('tokenizer.json')} is missing`);
  const shapes = new Map(tensorsOf(shape).map(([n, s]) => [n.replace(/^transformer\./, ''), s]));
  const { names, spec } = gpt2GGUFHeader({
    cfg, dtype, name: `random-${shape.nLayer}x${shape.nEmbd}`, vocab: buildSpmVocab(tokenizer, tokenizerConfig, specialTokensMap, cfg.vocabSize),
    tokenizerModel: 'llama', license: { name: FUGAKU_LLM_LICENSE.name, link: FUGAKU_LLM_LICENSE.link, text: null },
    files: { config: JSON.stringify(cfgJson), generationConfig: null, tokenizer, tokenizerConfig, specialTokensMap },
    shapeOf: (hf) => shapes.get(hf)!,
  });
  // A pool of valid blocks, stored twice so any slice of up to POOL blocks is contiguous.
  const q4 = dtype === 'q4_0';
  const BS = q4 ? 2 + QK / 2 : 2 + QK;
  const POOL = 1 << 16;
  const pool = new Uint8Array(2 * POOL * BS);
  const d = f32ToF16(q4 ? 0.02 / 4.6 : 0.02 / 73);  // std of uniform q − 8 in [−8, 7] ≈ 4.6; of uniform int8 ≈ 73
  for (let o = 0; o < POOL * BS; o += BS) {
    pool[o] = d & 0xff;
    pool[o + 1] = d >> 8;
    for (let i = 2; i < BS; i++) pool[o + i] = Math.floor(rng.nextFloat() * 256);
  }
  pool.copyWithin(POOL * BS, 0, POOL * BS);
  const normal = () => 0.02 * Math.sqrt(-2 * Math.log(Math.max(rng.nextFloat(), 1e-12))) * Math.cos(2 * Math.PI * rng.nextFloat());
  const written = await writeGGUF(out, spec, (t, i) => {
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (t.type === 'F32') {
      const hf = names[i].hf;
      if (/ln_\d\.weight|ln_f\.weight/.test(hf)) return new Float32Array(n).fill(1);
      if (hf.endsWith('.bias')) return new Float32Array(n);
      return Float32Array.from({ length: n }, normal);
    }
    const blocks = n / QK;
    const data = new Uint8Array(blocks * BS);
    for (let b = 0; b < blocks; b += POOL) {
      const c = Math.min(POOL, blocks - b);
      const o = Math.floor(rng.nextFloat() * POOL);
      data.set(pool.subarray(o * BS, (o + c) * BS), b * BS);
    }
    return data;
  });
  console.log(JSON.stringify({ out: written.file, bytes: written.bytes, seconds: Number(((performance.now() - t0) / 1000).toFixed(1)), dtype, shape }));
}

async function main(): Promise<void> {
  const values = benchArgs(
    'make-checkpoint',
    `node dist/bench/make-checkpoint.js --out DIR|FILE.gguf [--gguf q4_0|q8_0] [--preset ${Object.keys(PRESETS).join('|')}] [--n-embd E] [--n-layer L] [--n-head H] [--n-inner I] [--vocab V] [--n-positions N] [--shard-size-gb G] [--seed S] [--force]` +
      ' (missing parent folders of --out are created)',
    {
      preset: { type: 'string' }, out: { type: 'string' }, 'shard-size-gb': { type: 'string' }, seed: { type: 'string' },
      'n-embd': { type: 'string' }, 'n-layer': { type: 'string' }, 'n-head': { type: 'string' }, 'n-inner': { type: 'string' },
      vocab: { type: 'string' }, 'n-positions': { type: 'string' }, force: { type: 'boolean' }, gguf: { type: 'string' },
    },
  );
  if (!values.out) throw new Error('--out DIR (or FILE.gguf with --gguf) is required');
  const base = PRESETS[values.preset ?? 'tiny'];
  if (!base) throw new Error(`unknown preset ${values.preset}; use one of ${Object.keys(PRESETS).join(', ')}`);
  const num = (k: string, d: number) => (values[k as keyof typeof values] !== undefined ? Number(values[k as keyof typeof values]) : d);
  const shape: Shape = {
    nEmbd: num('n-embd', base.nEmbd), nLayer: num('n-layer', base.nLayer), nHead: num('n-head', base.nHead),
    nInner: num('n-inner', base.nInner), vocab: num('vocab', base.vocab), nPositions: num('n-positions', base.nPositions), activation: base.activation,
  };
  const out = values.out;
  if (values.gguf !== undefined) {
    if (values.gguf !== 'q4_0' && values.gguf !== 'q8_0') throw new Error(`--gguf ${values.gguf}: use q4_0 or q8_0`);
    if (existsSync(out) && !values.force) throw new Error(`${out} exists (use --force)`);
    if (shape.nEmbd % QK !== 0 || shape.nInner % QK !== 0) throw new Error(`--gguf needs n_embd and n_inner that are multiples of ${QK}`);
    await mkdir(path.dirname(path.resolve(out)), { recursive: true });
    await writeRandomGGUF(shape, values.gguf, out, new Rng(Number(values.seed ?? 1)));
    return;
  }
  if (existsSync(out) && (await readdir(out)).length > 0 && !values.force) throw new Error(`${out} is not empty (use --force)`);
  await mkdir(out, { recursive: true });
  const shardBytes = Number(values['shard-size-gb'] ?? 5) * 1e9;

  // A pool of random bf16 values (std 0.02) that chunks are cut from at random offsets.
  const rng = new Rng(Number(values.seed ?? 1));
  const POOL = 1 << 22;
  const pool = new Uint16Array(POOL * 2);
  for (let i = 0; i < POOL; i++) {
    const u = Math.max(rng.nextFloat(), 1e-12);
    pool[i] = pool[i + POOL] = f32ToBf16(0.02 * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng.nextFloat()));
  }
  const ONE = f32ToBf16(1);

  // Assign tensors to shards in order.
  const tensors = tensorsOf(shape);
  const shards: [string, number[]][][] = [[]];
  let size = 0;
  for (const t of tensors) {
    const bytes = t[1].reduce((a, b) => a * b, 1) * 2;
    if (size > 0 && size + bytes > shardBytes) { shards.push([]); size = 0; }
    shards.at(-1)!.push(t);
    size += bytes;
  }
  const weightMap: Record<string, string> = {};
  let total = 0;
  const t0 = performance.now();
  for (let s = 0; s < shards.length; s++) {
    const file = `model-${String(s + 1).padStart(5, '0')}-of-${String(shards.length).padStart(5, '0')}.safetensors`;
    const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
    let off = 0;
    for (const [name, shp] of shards[s]) {
      const bytes = shp.reduce((a, b) => a * b, 1) * 2;
      header[name] = { dtype: 'BF16', shape: shp, data_offsets: [off, off + bytes] };
      off += bytes;
      weightMap[name] = file;
    }
    let json = JSON.stringify(header);
    while ((json.length + 8) % 8 !== 0) json += ' ';
    const fh = await open(path.join(out, file), 'w');
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(json.length));
    let pos = 0;
    await fh.write(len, 0, 8, pos); pos += 8;
    await fh.write(Buffer.from(json), 0, json.length, pos); pos += json.length;
    const CHUNK = 1 << 22; // values per write (8 MiB)
    for (const [name, shp] of shards[s]) {
      const n = shp.reduce((a, b) => a * b, 1);
      const isNorm = /ln_\d\.weight|ln_f\.weight/.test(name);
      const isBias = name.endsWith('.bias');
      for (let i = 0; i < n; i += CHUNK) {
        const c = Math.min(CHUNK, n - i);
        let chunk: Uint16Array;
        if (isNorm) chunk = new Uint16Array(c).fill(ONE);
        else if (isBias) chunk = new Uint16Array(c);
        else {
          const o = Math.floor(rng.nextFloat() * POOL); // c ≤ CHUNK = POOL, and the pool is stored twice
          chunk = pool.subarray(o, o + c);
        }
        await fh.write(new Uint8Array(chunk.buffer, chunk.byteOffset, c * 2), 0, c * 2, pos);
        pos += c * 2;
      }
      total += n * 2;
    }
    await fh.close();
    process.stderr.write(`wrote ${file} (${(off / 1e9).toFixed(2)} GB)\n`);
  }
  await writeFile(path.join(out, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }, null, 2));
  await writeFile(path.join(out, 'config.json'), JSON.stringify(configOf(shape), null, 2));
  for (const f of TOKENIZER_FILES) {
    const src = tokenizerFile(f);
    if (existsSync(src)) await copyFile(src, path.join(out, f));
  }
  const sec = (performance.now() - t0) / 1000;
  console.log(JSON.stringify({ out, shards: shards.length, bytes: total, seconds: Number(sec.toFixed(1)), shape }));
}

main().catch((e: Error) => {
  console.error(`make-checkpoint: ${e.message}`);
  process.exit(1);
});
