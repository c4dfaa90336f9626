/**
 * Loads a Hugging Face GPT-2 checkpoint folder into a GPT2Model on a backend: parses config.json,
 * checks every tensor the config implies is present with the implied shape (and nothing else is),
 * and hands each weight to the backend one tensor at a time (a shard is never held whole).
 */
import { totalmem } from 'node:os';
import { FugakuError } from '../errors.js';
import { openCheckpoint, readConfigFile, type CheckpointFolder } from '../io/checkpoint.js';
import type { ProgressReporter } from '../io/progress.js';
import { openGGUFModel } from '../io/gguf-model.js';
import { resolveModelPath } from '../io/model-path.js';
import { storageToF32 } from '../tensor/dtype.js';
import { BLOCK_TYPES, GGML_BLOCK_TYPE_NAMES, isGGMLBlockType, type GGMLBlockType } from '../tensor/ggml/formats.js';
import { tensorFrom, type Backend, type MatrixFormat, type MatrixLayout, type WeightTensor } from '../backend/backend.js';
import { parseGPT2Config, type GPT2Config } from './config.js';
import { GPT2Model, type GPT2Block } from './gpt2.js';
import type { KVCacheDType } from './kv-cache.js';

/**
 * Weight formats a caller may ask for. 'auto' keeps the checkpoint's dtype; q8_0/q4_0 quantize the
 * weight matrices (embeddings and LM head included; the position table stays f32) while loading.
 */
export type WeightFormat = 'auto' | 'bf16' | 'f16' | 'f32' | 'q8_0' | 'q4_0';
export const WEIGHT_FORMATS: readonly WeightFormat[] = ['auto', 'bf16', 'f16', 'f32', 'q8_0', 'q4_0'];

/** The backend matrix format for a requested weight format (undefined = as stored). */
export function matrixFormatOf(dtype: WeightFormat | undefined): MatrixFormat | undefined {
  return dtype === undefined || dtype === 'auto' ? undefined : (dtype.toUpperCase() as MatrixFormat);
}

/** Bytes per weight of a matrix format (block formats: their block size over 32 values). */
export const FORMAT_BYTES_PER_WEIGHT: Readonly<Record<MatrixFormat, number>> = {
  F32: 4,
  BF16: 2,
  F16: 2,
  ...(Object.fromEntries(GGML_BLOCK_TYPE_NAMES.map((t) => [t, BLOCK_TYPES[t].typeSize / BLOCK_TYPES[t].blockSize])) as Record<GGMLBlockType, number>),
};

export interface LoadOptions {
  backend: Backend;
  dtype?: WeightFormat;
  progress?: ProgressReporter;
  /** Element type of the KV caches (default f32). */
  kvCacheDtype?: KVCacheDType;
  /** Bytes of memory the weights may take (default: the machine's memory for a backend that holds them in host memory, no limit for a GPU backend). */
  memoryLimit?: number;
  /** The machine's memory in bytes (default os.totalmem()). */
  hostMemory?: number;
}

export interface LoadedModel {
  model: GPT2Model;
  /** Raw generation_config.json (null if the folder has none). */
  generationConfig: Record<string, unknown> | null;
  dir: string;
  /** Bytes read from the checkpoint. */
  bytesRead: number;
}

/** The tensors (without the `transformer.` prefix) a config implies, with their shapes. */
export function expectedTensors(cfg: GPT2Config): Map<string, number[]> {
  const E = cfg.nEmbd;
  const m = new Map<string, number[]>();
  m.set('wte.weight', [cfg.vocabSize, E]);
  m.set('wpe.weight', [cfg.nPositions, E]);
  for (let l = 0; l < cfg.nLayer; l++) {
    const p = `h.${l}.`;
    m.set(p + 'ln_1.weight', [E]);
    m.set(p + 'ln_1.bias', [E]);
    m.set(p + 'attn.c_attn.weight', [E, 3 * E]);
    m.set(p + 'attn.c_attn.bias', [3 * E]);
    m.set(p + 'attn.c_proj.weight', [E, E]);
    m.set(p + 'attn.c_proj.bias', [E]);
    m.set(p + 'ln_2.weight', [E]);
    m.set(p + 'ln_2.bias', [E]);
    m.set(p + 'mlp.c_fc.weight', [E, cfg.nInner]);
    m.set(p + 'mlp.c_fc.bias', [cfg.nInner]);
    m.set(p + 'mlp.c_proj.weight', [cfg.nInner, E]);
    m.set(p + 'mlp.c_proj.bias', [E]);
  }
  m.set('ln_f.weight', [E]);
  m.set('ln_f.bias', [E]);
  if (!cfg.tieWordEmbeddings) m.set('lm_head.weight', [cfg.vocabSize, E]);
  return m;
}

/** Maps a stored tensor name to our canonical name (HF GPT-2 files use both `transformer.x` and `x`). */
function canonicalName(stored: string): string {
  return stored.startsWith('transformer.') ? stored.slice('transformer.'.length) : stored;
}

/** Which shape-defining config field a tensor's dimension comes from, for error messages. */
function describeShape(name: string): string {
  if (name.startsWith('wte') || name.startsWith('lm_head')) return 'vocab_size × n_embd';
  if (name.startsWith('wpe')) return 'n_positions × n_embd';
  if (name.includes('c_fc') || name.includes('mlp.c_proj.weight')) return 'n_embd and n_inner';
  return 'n_embd';
}

/**
 * The GPT-2 config of a model folder (its config.json) or GGUF file (its metadata), without reading
 * weights; null for a folder without config.json (tokenizer files only).
 */
export async function readModelConfig(dir: string): Promise<GPT2Config | null> {
  if ((await resolveModelPath(dir)) === 'gguf') {
    const g = await openGGUFModel(dir);
    try {
      return parseGPT2Config(g.config, `${dir} (fugaku.hf_config)`);
    } finally {
      await g.close();
    }
  }
  const raw = await readConfigFile(dir);
  return raw === null ? null : parseGPT2Config(raw, `${dir}/config.json`);
}

/** Loads `dir`: a Hugging Face checkpoint folder, or a GGUF file (ours, from `fugaku convert`, or another GPT-2 GGUF). */
export async function loadGPT2(dir: string, opts: LoadOptions): Promise<LoadedModel> {
  if ((await resolveModelPath(dir)) === 'gguf') return loadGGUFModel(dir, opts);
  const ckpt = await openCheckpoint(dir, { progress: opts.progress });
  try {
    const config = parseGPT2Config(ckpt.config, `${ckpt.dir}/config.json`);
    const names = resolveNames(ckpt, config);
    checkMemory(ckpt.dir, [...ckpt.tensors].map(([n, t]) => ({ name: canonicalName(n), shape: t.shape, byteLength: t.byteLength })), opts);
    const source: WeightSource = {
      label: ckpt.dir,
      totalBytes: ckpt.totalBytes,
      matrix: async (c) => ({ tensor: await ckpt.readTensor(names.get(c)!), layout: HF_OUT_IN.has(c) ? 'out_in' : 'in_out' }),
      vector: async (c) => {
        const t = await ckpt.readTensor(names.get(c)!);
        return storageToF32(t.dtype, t.data);
      },
    };
    const model = await readWeights(source, config, opts);
    return { model, generationConfig: ckpt.generationConfig, dir: ckpt.dir, bytesRead: ckpt.totalBytes };
  } finally {
    await ckpt.close();
  }
}

async function loadGGUFModel(file: string, opts: LoadOptions): Promise<LoadedModel> {
  const g = await openGGUFModel(file, { progress: opts.progress });
  try {
    const config = parseGPT2Config(g.config, `${file} (fugaku.hf_config)`);
    const expected = expectedTensors(config);
    for (const [c, shape] of expected) {
      const info = g.tensors.get(c);
      if (!info) throw new FugakuError('TENSOR_MISSING', `${file}: tensor ${c} (shape [${shape.join(', ')}]) is missing`, 'convert the checkpoint again with `fugaku convert`');
      if (info.hfShape.length !== shape.length || info.hfShape.some((d, i) => d !== shape[i])) {
        throw new FugakuError('TENSOR_SHAPE_MISMATCH', `${file}: tensor ${info.ggufName} has shape [${info.hfShape.join(', ')}] but the config implies [${shape.join(', ')}] (${describeShape(c)})`, 'the file is inconsistent; convert it again');
      }
    }
    for (const c of g.tensors.keys()) {
      if (!expected.has(c) && !(c === 'lm_head.weight' && config.tieWordEmbeddings)) {
        throw new FugakuError('TENSOR_UNEXPECTED', `${file}: tensor ${g.tensors.get(c)!.ggufName} is not part of a GPT-2 model with this config`, 'the file is inconsistent; convert it again');
      }
    }
    const stored = matrixFormatOf(opts.dtype);
    // Each matrix is loaded as stored: a GGUF may mix block types (llama.cpp's Q4_K_M has Q4_K, Q6_K,
    // and per-tensor fallbacks such as Q5_0/Q8_0/IQ4_NL for rows that are not a multiple of 256).
    const quantStored = [...g.tensors.values()].find((t) => isGGMLBlockType(t.dtype));
    if (stored !== undefined && quantStored !== undefined) {
      throw new FugakuError('DTYPE_UNSUPPORTED', `${file} is already quantized (tensor ${quantStored.ggufName} is ${quantStored.dtype}): it cannot be loaded as ${opts.dtype}`, 'leave --dtype at auto for a quantized GGUF, or convert the original checkpoint to the format you want');
    }
    checkMemory(file, [...g.tensors].map(([c, t]) => ({ name: c, shape: t.hfShape, byteLength: t.byteLength })), opts);
    const source: WeightSource = {
      label: file,
      totalBytes: g.totalBytes,
      matrix: (c) => g.tensor(c),
      vector: async (c) => (await g.tensor(c)).tensor.data as Float32Array,
    };
    const model = await readWeights(source, config, opts);
    return { model, generationConfig: g.generationConfig, dir: file, bytesRead: g.totalBytes };
  } finally {
    await g.close();
  }
}

/** Where the loader gets each weight: a HF folder or a GGUF file. */
interface WeightSource {
  label: string;
  totalBytes: number;
  matrix(canonical: string): Promise<{ tensor: WeightTensor; layout: MatrixLayout }>;
  vector(canonical: string): Promise<Float32Array>;
}

/** HF tensors stored [out, in] (embedding tables, nn.Linear head); the Conv1D weights are [in, out]. */
const HF_OUT_IN = new Set(['wte.weight', 'wpe.weight', 'lm_head.weight']);

/**
 * Refuses up front to load weights that cannot fit in memory (e.g. the 26 GB bf16 13B model on a
 * 24 GiB machine), instead of dying half-way with an out-of-memory crash.
 */
function checkMemory(label: string, tensors: { name: string; shape: readonly number[]; byteLength: number }[], opts: LoadOptions): void {
  // A GPU backend holds the weights in device memory (host memory only streams them); running out of GPU
  // memory is reported by the backend.
  const limit = opts.memoryLimit ?? (opts.backend.weightMemory === 'device' ? Infinity : opts.hostMemory ?? totalmem());
  const format = matrixFormatOf(opts.dtype);
  let need = 0;
  for (const t of tensors) {
    const elements = t.shape.reduce((a, b) => a * b, 1);
    const f = format === undefined || t.shape.length !== 2 ? undefined : t.name === 'wpe.weight' && (format === 'Q8_0' || format === 'Q4_0') ? 'F32' : format;
    need += f === undefined ? t.byteLength : elements * FORMAT_BYTES_PER_WEIGHT[f];
  }
  if (need > limit) {
    const gib = (b: number) => `${(b / 2 ** 30).toFixed(1)} GiB`;
    throw new FugakuError(
      'INSUFFICIENT_MEMORY',
      `${label}: the weights need ${gib(need)} in this format but only ${gib(limit)} of memory is available`,
      format === 'Q4_0' ? 'use a machine with more memory' : 'quantize while loading: --dtype q8_0 (about 1.06 bytes per weight) or --dtype q4_0 (about 0.56)',
    );
  }
}

/** Checks names and shapes against the config; returns canonical name → stored name. */
function resolveNames(ckpt: CheckpointFolder, cfg: GPT2Config): Map<string, string> {
  const expected = expectedTensors(cfg);
  const stored = new Map<string, string>();
  for (const name of ckpt.tensors.keys()) {
    const c = canonicalName(name);
    if (c === 'lm_head.weight' && cfg.tieWordEmbeddings) continue; // tied: HF ignores a saved copy
    if (!expected.has(c)) {
      throw new FugakuError(
        'TENSOR_UNEXPECTED',
        `${ckpt.tensors.get(name)!.file}: tensor ${name} is not part of a GPT-2 model with this config (n_layer = ${cfg.nLayer}, tie_word_embeddings = ${cfg.tieWordEmbeddings})`,
        'config.json and the weights disagree: use the config.json that came with these weights',
      );
    }
    if (stored.has(c)) {
      throw new FugakuError('TENSOR_UNEXPECTED', `tensor ${c} is stored twice (${stored.get(c)} and ${name})`, 'the checkpoint is inconsistent; re-download it');
    }
    stored.set(c, name);
  }
  for (const [c, shape] of expected) {
    const s = stored.get(c);
    if (s === undefined) {
      throw new FugakuError(
        'TENSOR_MISSING',
        `${ckpt.dir}: tensor ${c} (shape [${shape.join(', ')}]) is missing from the checkpoint`,
        c === 'lm_head.weight' ? 'config says tie_word_embeddings = false but there is no lm_head.weight; fix the config or the weights' : 'the download looks incomplete; re-download the checkpoint folder',
      );
    }
    const info = ckpt.tensors.get(s)!;
    if (info.shape.length !== shape.length || info.shape.some((d, i) => d !== shape[i])) {
      throw new FugakuError(
        'TENSOR_SHAPE_MISMATCH',
        `${info.file}: tensor ${s} has shape [${info.shape.join(', ')}] but config.json implies [${shape.join(', ')}] (${describeShape(c)})`,
        'config.json and the weights disagree: use the config.json that came with these weights',
      );
    }
  }
  return stored;
}

async function readWeights(src: WeightSource, cfg: GPT2Config, opts: LoadOptions): Promise<GPT2Model> {
  const be = opts.backend;
  const format = matrixFormatOf(opts.dtype);
  const quantized = format === 'Q8_0' || format === 'Q4_0';
  opts.progress?.start(src.totalBytes, `loading ${src.label}`);
  const vector = async (c: string) => tensorFrom(be, await src.vector(c));
  const matrix = async (c: string, f = format) => {
    const { tensor, layout } = await src.matrix(c);
    return be.loadMatrix(tensor, layout, f);
  };
  try {
    const wte = await matrix('wte.weight');
    // The position table is added, not multiplied: keep it exact when the matrices are quantized.
    const wpe = await matrix('wpe.weight', quantized ? 'F32' : format);
    const blocks: GPT2Block[] = [];
    for (let l = 0; l < cfg.nLayer; l++) {
      const p = `h.${l}.`;
      blocks.push({
        ln1Weight: await vector(p + 'ln_1.weight'),
        ln1Bias: await vector(p + 'ln_1.bias'),
        attnQKV: await matrix(p + 'attn.c_attn.weight'),
        attnQKVBias: await vector(p + 'attn.c_attn.bias'),
        attnProj: await matrix(p + 'attn.c_proj.weight'),
        attnProjBias: await vector(p + 'attn.c_proj.bias'),
        ln2Weight: await vector(p + 'ln_2.weight'),
        ln2Bias: await vector(p + 'ln_2.bias'),
        mlpFc: await matrix(p + 'mlp.c_fc.weight'),
        mlpFcBias: await vector(p + 'mlp.c_fc.bias'),
        mlpProj: await matrix(p + 'mlp.c_proj.weight'),
        mlpProjBias: await vector(p + 'mlp.c_proj.bias'),
      });
    }
    const lnFWeight = await vector('ln_f.weight');
    const lnFBias = await vector('ln_f.bias');
    const lmHead = cfg.tieWordEmbeddings ? wte : await matrix('lm_head.weight');
    return new GPT2Model(cfg, { wte, wpe, blocks, lnFWeight, lnFBias, lmHead }, be, opts.kvCacheDtype ?? 'f32');
  } finally {
    opts.progress?.stop();
  }
}
