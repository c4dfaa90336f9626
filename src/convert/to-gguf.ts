/**
 * Hugging Face GPT-2 checkpoint folder (Fugaku-LLM) → GGUF file that llama.cpp / node-llama-cpp
 * load as architecture "gpt2", and that this runtime reads back exactly (src/convert/from-gguf.ts).
 *
 * Streaming: tensors are read from the safetensors shards one at a time, converted, written and
 * dropped, so converting the 13B model never holds more than one tensor (≤ ~1 GB as float32).
 *
 * Layout rules: GGUF matrices are [out][in] (ne = [in, out]): HF Conv1D weights ([in, out]) are
 * transposed, the embedding tables / lm_head ([rows, n_embd]) are kept. 1-D tensors are F32. With
 * q8_0/q4_0 the position table stays F32 (it is added, not multiplied), exactly as the runtime does
 * when it quantizes while loading; quantization is src/tensor/quant.ts (ggml's reference rounding).
 */
import { readModelTerms } from '../io/terms.js';
import { access, readFile, stat } from 'node:fs/promises';
import * as path from 'node:path';
import { FugakuError } from '../errors.js';
import { openCheckpoint, type CheckpointFolder } from '../io/checkpoint.js';
import type { ProgressReporter } from '../io/progress.js';
import type { LoadedTensor } from '../io/safetensors.js';
import { gguf, writeGGUF, type GGMLTypeName, type GGUFHeaderSpec, type GGUFTensorSpec, type GGUFTypedValue } from '../io/gguf.js';
import { parseGPT2Config, type GPT2Config } from '../model/config.js';
import { expectedTensors } from '../model/load.js';
import { convertFloat, storageToF32, type StorageArray, type StorageDType } from '../tensor/dtype.js';
import { quantizeMatrix, QK } from '../tensor/quant.js';
import { QUANT_BLOCKS, type GGMLQuantType } from '../tensor/ggml/quantize.js';
import { createGGMLQuantizer, resolveQuantizerChoice, type GGMLQuantizer, type QuantizerChoice } from './ggml-quantizer.js';
import { KQUANT_FILE_TYPE, KQUANT_FTYPES, llamaTensorTypes, type KQuantFType, type TensorTypeChoice } from './tensor-types.js';
import { imatrixFor, readImatrixFile, type ImatrixData } from './imatrix-file.js';
import { tensorNames, type TensorName } from '../io/gguf-names.js';
import { buildSpmVocab, type SpmVocab } from './vocab.js';

type PlainDType = 'f32' | 'f16' | 'bf16' | 'q8_0' | 'q4_0';
/**
 * Output types: one type for every matrix (q8_0, q4_0, f16, bf16, f32), or one of llama.cpp's
 * k-quant mixes (q4_k_m, q5_k_m, q6_k, q3_k_m, iq4_xs), chosen per tensor as llama-quantize does
 * (src/convert/tensor-types.ts) and quantized bit-identically to it (src/tensor/ggml/quantize.ts).
 */
export type ConvertDType = PlainDType | KQuantFType;
export const CONVERT_DTYPES: readonly ConvertDType[] = ['q8_0', 'q4_0', ...KQUANT_FTYPES, 'f16', 'bf16', 'f32'];

/** ggml's llama_ftype for each output type (general.file_type). */
export const FILE_TYPE: Record<ConvertDType, number> = { f32: 0, f16: 1, q4_0: 2, q8_0: 7, bf16: 32, ...KQUANT_FILE_TYPE };
const GGML_TYPE_OF: Record<PlainDType, GGMLTypeName> = { f32: 'F32', f16: 'F16', bf16: 'BF16', q8_0: 'Q8_0', q4_0: 'Q4_0' };

function isGGMLQuantType(t: string): t is GGMLQuantType {
  return Object.prototype.hasOwnProperty.call(QUANT_BLOCKS, t);
}

export function isKQuantDType(d: ConvertDType): d is KQuantFType {
  return (KQUANT_FTYPES as readonly string[]).includes(d);
}

/** The licence of Fugaku-LLM (the Hugging Face model card's `license_name: fugaku-llm-tou`). */
export const FUGAKU_LLM_LICENSE = {
  name: 'Fugaku-LLM Terms of Use',
  link: 'https://huggingface.co/Fugaku-LLM/Fugaku-LLM-13B/blob/main/LICENSE',
} as const;

export interface ConvertOptions {
  /** Hugging Face checkpoint folder (config.json, safetensors, tokenizer.json). */
  model: string;
  /** Output .gguf path. */
  out: string;
  dtype: string;
  /** Overwrite an existing output file. */
  force?: boolean;
  /** general.name (default: the folder name). */
  name?: string;
  /** Licence name/link written as general.license.name / general.license.link (default: Fugaku-LLM Terms of Use). */
  licenseName?: string;
  licenseLink?: string;
  /**
   * A licence text file to embed as general.license.text (default: the folder's LICENSE and LICENSE_ja files, if any; null: none).
   * Pass null to embed none.
   */
  licenseFile?: string | null;
  /**
   * llama.cpp tokenizer to declare (tokenizer.ggml.model): 'llama' (default; SentencePiece BPE-style
   * merges by score, with byte fallback) or 't5' (llama.cpp's Unigram/Viterbi: the same ids as the HF
   * tokenizer for in-vocabulary text, but characters outside the vocabulary become <unk> instead of
   * byte tokens). See docs/GGUF.md.
   */
  tokenizerModel?: TokenizerModel;
  /**
   * A llama.cpp importance matrix (GGUF or legacy .dat) for the k-quant types: each tensor's
   * entry weights its columns, as `llama-quantize --imatrix` does.
   */
  imatrix?: string;
  /**
   * The k-quant quantizer (src/convert/ggml-quantizer.ts): 'native' (the addon, required), 'typescript'
   * (the spec) or 'auto' (native when the addon loads). Default: FUGAKU_QUANTIZER, else 'auto'. Same bytes.
   */
  quantizer?: QuantizerChoice;
  progress?: ProgressReporter;
}

export type TokenizerModel = 'llama' | 't5';
export const TOKENIZER_MODELS: readonly TokenizerModel[] = ['llama', 't5'];

export interface ConvertSummary {
  out: string;
  dtype: ConvertDType;
  fileType: number;
  architecture: 'gpt2';
  tokenizerModel: TokenizerModel;
  tensors: number;
  /** Bytes of the GGUF file. */
  bytes: number;
  /** Bytes read from the checkpoint. */
  bytesRead: number;
  seconds: number;
  /** Tensor count per ggml type. */
  types: Record<string, number>;
  /** The importance matrix used (k-quant types), with how many tensors took weights from it. */
  imatrix: { file: string; format: 'gguf' | 'legacy'; entries: number; used: number } | null;
  /** The quantizer that wrote the k-quant mixes' tensors; null for the other types. */
  quantizer: 'native' | 'typescript' | null;
  vocab: { tokens: number; pieces: number; padded: number; bos: number | null; eos: number | null; unk: number | null; pad: number | null };
  license: { name: string; link: string; textFrom: string | null };
  /** Differences between llama.cpp's gpt2 graph and this model that change llama.cpp's outputs. */
  warnings: string[];
}

const HINT_DTYPE = `choose one of ${CONVERT_DTYPES.join(', ')}`;

export function parseConvertDType(s: string): ConvertDType {
  const d = s.toLowerCase();
  if (!(CONVERT_DTYPES as readonly string[]).includes(d)) {
    throw new FugakuError('DTYPE_UNSUPPORTED', `--dtype ${JSON.stringify(s)} is not a GGUF output type this converter writes`, HINT_DTYPE);
  }
  return d as ConvertDType;
}

async function exists(p: string): Promise<boolean> {
  try {
    await access(p);
    return true;
  } catch {
    return false;
  }
}

async function readOptionalText(file: string): Promise<string | null> {
  try {
    return await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new FugakuError('FILE_NOT_FOUND', `cannot read ${file}: ${(e as Error).message}`, 'check the file permissions', { cause: e });
  }
}

/** Maps canonical names to stored names and checks names/shapes against the config (like the loader). */
function resolveTensors(ckpt: CheckpointFolder, cfg: GPT2Config): Map<string, string> {
  const expected = expectedTensors(cfg);
  const stored = new Map<string, string>();
  for (const name of ckpt.tensors.keys()) {
    const c = name.startsWith('transformer.') ? name.slice('transformer.'.length) : name;
    if (c === 'lm_head.weight' && cfg.tieWordEmbeddings) continue; // tied: a saved copy is ignored, as HF does
    if (!expected.has(c)) {
      throw new FugakuError('TENSOR_UNEXPECTED', `${ckpt.dir}: tensor ${name} is not part of a GPT-2 model with this config (n_layer = ${cfg.nLayer})`, 'config.json and the weights disagree: use the config.json that came with these weights');
    }
    if (stored.has(c)) throw new FugakuError('TENSOR_UNEXPECTED', `tensor ${c} is stored twice (${stored.get(c)} and ${name})`, 'the checkpoint is inconsistent; re-download it');
    stored.set(c, name);
  }
  for (const [c, shape] of expected) {
    const s = stored.get(c);
    if (s === undefined) throw new FugakuError('TENSOR_MISSING', `${ckpt.dir}: tensor ${c} (shape [${shape.join(', ')}]) is missing`, 'the download looks incomplete; re-download the checkpoint folder');
    const info = ckpt.tensors.get(s)!;
    if (info.shape.length !== shape.length || info.shape.some((d, i) => d !== shape[i])) {
      throw new FugakuError('TENSOR_SHAPE_MISMATCH', `${info.file}: tensor ${s} has shape [${info.shape.join(', ')}] but config.json implies [${shape.join(', ')}]`, 'config.json and the weights disagree: use the config.json that came with these weights');
    }
  }
  return stored;
}

/** Where llama.cpp's gpt2 graph computes something other than this model. */
function llamaCppWarnings(raw: Record<string, unknown>, cfg: GPT2Config): string[] {
  const w: string[] = [];
  const act = cfg.activation;
  if (!['gelu_new', 'gelu_fast', 'gelu_pytorch_tanh'].includes(act)) {
    w.push(`activation_function is "${act}" but llama.cpp's gpt2 graph always uses GELU with the tanh approximation (expect small logit differences in llama.cpp; this runtime uses "${act}")`);
  }
  if (cfg.scaleAttnByInverseLayerIdx) w.push('scale_attn_by_inverse_layer_idx is true but llama.cpp ignores it (its outputs will differ; this runtime honours it)');
  if (!cfg.scaleAttnWeights) w.push('scale_attn_weights is false but llama.cpp always scales attention by 1/sqrt(head_dim) (its outputs will differ)');
  if (raw.add_cross_attention === true) w.push('add_cross_attention is true; cross-attention weights are not converted');
  return w;
}

/** A 2-D HF tensor as row-major [out][in] storage (Conv1D [in, out] is transposed). */
function toOutIn(t: LoadedTensor, layout: TensorName['layout']): { data: StorageArray; outDim: number; inDim: number } {
  const [rows, cols] = t.shape;
  if (layout !== 'conv1d') return { data: t.data, outDim: rows, inDim: cols };
  // [in = rows][out = cols] → [out][in]
  const src = t.data;
  const dst = src instanceof Float32Array ? new Float32Array(src.length) : new Uint16Array(src.length);
  for (let i = 0; i < rows; i++) {
    const base = i * cols;
    for (let o = 0; o < cols; o++) dst[o * rows + i] = src[base + o];
  }
  return { data: dst, outDim: cols, inDim: rows };
}

/** Converts a checkpoint folder to GGUF. See the file comment for the layout. */
export async function convertToGGUF(opts: ConvertOptions): Promise<ConvertSummary> {
  const t0 = performance.now();
  const dtype = parseConvertDType(opts.dtype);
  const tokenizerModel = opts.tokenizerModel ?? 'llama';
  if (!TOKENIZER_MODELS.includes(tokenizerModel)) {
    throw new FugakuError('INVALID_ARGUMENT', `tokenizer model ${JSON.stringify(tokenizerModel)} is not supported`, `choose one of ${TOKENIZER_MODELS.join(', ')}`);
  }
  const out = path.resolve(opts.out);
  if (opts.imatrix !== undefined && !isKQuantDType(dtype)) {
    throw new FugakuError('INVALID_ARGUMENT', `--imatrix only applies to the k-quant types (${KQUANT_FTYPES.join(', ')}), not to ${dtype}`, 'drop --imatrix or choose a k-quant --dtype');
  }

  // The output: refuse to overwrite unless --force; the folder must exist.
  let outStat;
  try {
    outStat = await stat(out);
  } catch {
    outStat = null;
  }
  if (outStat !== null) {
    if (outStat.isDirectory()) throw new FugakuError('INVALID_ARGUMENT', `--out ${out} is a folder`, 'pass the path of the .gguf file to write, e.g. --out model-q8_0.gguf');
    if (!opts.force) throw new FugakuError('INVALID_ARGUMENT', `${out} already exists`, 'pass --force to overwrite it, or choose another --out path');
  }
  if (!(await exists(path.dirname(out)))) {
    throw new FugakuError('FILE_NOT_FOUND', `the folder of --out ${out} does not exist`, 'create the folder first or choose another --out path');
  }

  const quantizerChoice = resolveQuantizerChoice(opts.quantizer);
  const imatrix: ImatrixData | null = opts.imatrix !== undefined ? await readImatrixFile(opts.imatrix) : null;
  const quantizer: GGMLQuantizer | null = isKQuantDType(dtype) ? createGGMLQuantizer(quantizerChoice) : null;
  const ckpt = await openCheckpoint(opts.model, { progress: opts.progress });
  try {
    const cfg = parseGPT2Config(ckpt.config, path.join(ckpt.dir, 'config.json'));
    const stored = resolveTensors(ckpt, cfg);
    const quantType = dtype === 'q8_0' || dtype === 'q4_0' ? GGML_TYPE_OF[dtype] : null;
    if (quantType !== null) {
      for (const [what, n] of [['n_embd', cfg.nEmbd], ['n_inner', cfg.nInner]] as const) {
        if (n % QK !== 0) {
          throw new FugakuError('DTYPE_UNSUPPORTED', `${dtype} needs matrix rows whose length is a multiple of ${QK}, but ${what} = ${n}`, 'convert with --dtype f16, bf16 or f32 instead');
        }
      }
    }

    // Tokenizer files (required: llama.cpp needs the vocabulary).
    const tokPath = path.join(ckpt.dir, 'tokenizer.json');
    const tokenizerJson = await readOptionalText(tokPath);
    if (tokenizerJson === null) {
      throw new FugakuError('FILE_NOT_FOUND', `${ckpt.dir} has no tokenizer.json`, 'copy tokenizer.json (and tokenizer_config.json, special_tokens_map.json) of the model into the folder; llama.cpp needs the vocabulary');
    }
    const tokenizerConfig = await readOptionalText(path.join(ckpt.dir, 'tokenizer_config.json'));
    const specialTokensMap = await readOptionalText(path.join(ckpt.dir, 'special_tokens_map.json'));
    const vocab = buildSpmVocab(tokenizerJson, tokenizerConfig, specialTokensMap, cfg.vocabSize);

    // Licence.
    const licenseName = opts.licenseName ?? FUGAKU_LLM_LICENSE.name;
    const licenseLink = opts.licenseLink ?? FUGAKU_LLM_LICENSE.link;
    let licenseText: string | null = null;
    let licenseFrom: string | null = null;
    if (opts.licenseFile === undefined) {
      // The folder's terms (LICENSE, LICENSE_ja): a service on the converted file must show them too.
      licenseText = await readModelTerms(ckpt.dir);
      if (licenseText !== null) licenseFrom = path.resolve(ckpt.dir, 'LICENSE*');
    } else if (opts.licenseFile !== null) {
      const f = opts.licenseFile;
      licenseText = await readOptionalText(f);
      if (licenseText === null && opts.licenseFile !== undefined) {
        throw new FugakuError('FILE_NOT_FOUND', `licence file ${f} does not exist`, 'pass an existing text file with --license-file');
      }
      if (licenseText !== null) licenseFrom = path.resolve(f);
    }

    const configText = (await readOptionalText(path.join(ckpt.dir, 'config.json')))!;
    const genText = await readOptionalText(path.join(ckpt.dir, 'generation_config.json'));
    const { names, spec, choices } = gpt2GGUFHeader({
      cfg, dtype, name: opts.name ?? path.basename(ckpt.dir), vocab, tokenizerModel,
      license: { name: licenseName, link: licenseLink, text: licenseText },
      files: { config: configText, generationConfig: genText, tokenizer: tokenizerJson, tokenizerConfig, specialTokensMap },
      shapeOf: (hf) => ckpt.tensors.get(stored.get(hf)!)!.shape,
      dtypeOf: (hf) => ckpt.tensors.get(stored.get(hf)!)!.dtype as StorageDType,
      hasImatrix: imatrix !== null,
    });
    const tensors = spec.tensors;

    const warnings = llamaCppWarnings(ckpt.config, cfg);
    if (choices !== null) {
      const fb = new Map<string, number>();
      for (const c of choices.values()) if (c.fallbackFrom) fb.set(`${c.fallbackFrom}→${c.type}`, (fb.get(`${c.fallbackFrom}→${c.type}`) ?? 0) + 1);
      if (fb.size > 0) {
        warnings.push(`${[...fb.values()].reduce((a, b) => a + b, 0)} tensors have rows that are not a multiple of the block size and use llama.cpp's fallback types (${[...fb].map(([k, n]) => `${n} ${k}`).join(', ')}), as llama-quantize does`);
      }
    }
    let bytesRead = 0;
    let overflow = 0;
    let imatrixUsed = 0;
    const types: Record<string, number> = {};
    for (const t of tensors) types[t.type] = (types[t.type] ?? 0) + 1;
    for (const n of names) bytesRead += ckpt.tensors.get(stored.get(n.hf)!)!.byteLength;

    opts.progress?.start(bytesRead, `converting ${path.basename(ckpt.dir)} → ${path.basename(out)} (${dtype})`);
    let written: { file: string; bytes: number };
    try {
      written = await writeGGUF(out, spec, async (t, i) => {
        const n = names[i];
        const w = await ckpt.readTensor(stored.get(n.hf)!);
        if (n.layout === 'vector') return storageToF32(w.dtype, w.data);
        const m = toOutIn(w, n.layout);
        if (isKQuantDType(dtype) && isGGMLQuantType(t.type)) {
          // ggml_quantize_chunk over the whole [out][in] matrix, with this tensor's imatrix row
          const qw = imatrixFor(imatrix, t.name, [m.inDim, m.outDim]);
          if (qw !== null) imatrixUsed++;
          return quantizer!.quantize(t.type, storageToF32(w.dtype, m.data), m.outDim, m.inDim, qw);
        }
        if (t.type === 'Q8_0' || t.type === 'Q4_0') {
          const f = storageToF32(w.dtype, m.data);
          return quantizeMatrix(t.type, f, m.inDim, m.outDim, false);
        }
        const r = convertFloat(w.dtype, m.data, t.type as StorageDType);
        overflow += r.overflow;
        return r.data;
      });
    } finally {
      opts.progress?.stop();
    }
    if (overflow > 0) warnings.push(`${overflow} weights are outside the f16 range and became ±inf; use --dtype bf16 or f32`);
    return {
      out: written.file,
      dtype,
      fileType: FILE_TYPE[dtype],
      architecture: 'gpt2',
      tokenizerModel,
      tensors: tensors.length,
      bytes: written.bytes,
      bytesRead,
      seconds: (performance.now() - t0) / 1000,
      types,
      imatrix: imatrix === null ? null : { file: path.resolve(imatrix.file), format: imatrix.format, entries: imatrix.entries.size, used: imatrixUsed },
      quantizer: quantizer?.kind ?? null,
      vocab: { tokens: vocab.tokens.length, pieces: vocab.pieces, padded: vocab.padded, bos: vocab.bosId, eos: vocab.eosId, unk: vocab.unkId, pad: vocab.padId },
      license: { name: licenseName, link: licenseLink, textFrom: licenseFrom },
      warnings,
    };
  } finally {
    await ckpt.close();
  }
}

/** What goes into a GPT-2 GGUF header besides the tensors' data. */
export interface GGUFHeaderInputs {
  cfg: GPT2Config;
  dtype: ConvertDType;
  /** general.name */
  name: string;
  vocab: SpmVocab;
  tokenizerModel: TokenizerModel;
  license: { name: string; link: string; text: string | null };
  /** The model's own files, embedded verbatim (fugaku.* keys) so this runtime reads the model back exactly. */
  files: { config: string; generationConfig: string | null; tokenizer: string; tokenizerConfig: string | null; specialTokensMap: string | null };
  /** The checkpoint's shape of each canonical HF tensor name (Conv1D [in, out], embeddings [rows, n_embd]). */
  shapeOf: (hf: string) => readonly number[];
  /**
   * The checkpoint's storage type of a tensor (default F32): k-quant files keep the tensors
   * llama-quantize does not quantize (position_embd) in it, as llama-quantize keeps them in the
   * type of its input file (`fugaku convert --dtype` of the checkpoint's own type).
   */
  dtypeOf?: (hf: string) => StorageDType;
  /** Whether an importance matrix is used (it changes llama.cpp's choice for iq4_xs's ffn_down). */
  hasImatrix?: boolean;
}

/**
 * The metadata and tensor list of a GPT-2 GGUF file (llama.cpp's gpt2 names and keys), in the order
 * they are written; `names[i]` is the canonical name of `spec.tensors[i]`. Matrices take `dtype`
 * (the position table stays F32 when quantizing), vectors are F32.
 */
export function gpt2GGUFHeader(h: GGUFHeaderInputs): { names: TensorName[]; spec: GGUFHeaderSpec; choices: Map<string, TensorTypeChoice> | null } {
  const { cfg, dtype, files } = h;
  const quantType = dtype === 'q8_0' || dtype === 'q4_0' ? GGML_TYPE_OF[dtype] : null;
  const names = tensorNames(cfg.nLayer, cfg.tieWordEmbeddings);
  const shapes = names.map((n) => {
    const shape = h.shapeOf(n.hf);
    return n.layout === 'conv1d' ? [shape[1], shape[0]] : shape.slice();
  });
  const choices = isKQuantDType(dtype)
    ? llamaTensorTypes(dtype, names.map((n, i) => ({ name: n.gguf, ne: shapes[i].slice().reverse() })), { nLayer: cfg.nLayer, hasImatrix: h.hasImatrix === true })
    : null;
  const typeOf = (n: TensorName): GGMLTypeName => {
    if (n.layout === 'vector') return 'F32';
    if (choices !== null) return choices.get(n.gguf)!.type ?? h.dtypeOf?.(n.hf) ?? 'F32';
    if (quantType !== null) return n.hf === 'wpe.weight' ? 'F32' : quantType;
    return GGML_TYPE_OF[dtype as PlainDType];
  };
  const tensors: GGUFTensorSpec[] = names.map((n, i) => ({ name: n.gguf, type: typeOf(n), shape: shapes[i] }));
  const metadata: Array<[string, GGUFTypedValue]> = [
    ['general.architecture', gguf.str('gpt2')],
    ['general.type', gguf.str('model')],
    ['general.name', gguf.str(h.name)],
    ['general.file_type', gguf.u32(FILE_TYPE[dtype])],
    ['general.quantization_version', gguf.u32(2)],
    ['general.alignment', gguf.u32(32)],
    ['general.license', gguf.str('other')],
    ['general.license.name', gguf.str(h.license.name)],
    ['general.license.link', gguf.str(h.license.link)],
  ];
  if (h.license.text !== null) metadata.push(['general.license.text', gguf.str(h.license.text)]);
  metadata.push(
    ['gpt2.context_length', gguf.u32(cfg.nPositions)],
    ['gpt2.embedding_length', gguf.u32(cfg.nEmbd)],
    ['gpt2.feed_forward_length', gguf.u32(cfg.nInner)],
    ['gpt2.block_count', gguf.u32(cfg.nLayer)],
    ['gpt2.attention.head_count', gguf.u32(cfg.nHead)],
    ['gpt2.attention.layer_norm_epsilon', gguf.f32(cfg.layerNormEpsilon)],
    ['gpt2.vocab_size', gguf.u32(cfg.vocabSize)],
    ...vocabMetadata(h.vocab, h.tokenizerModel),
    ['fugaku.hf_config', gguf.str(files.config)],
  );
  if (files.generationConfig !== null) metadata.push(['fugaku.generation_config', gguf.str(files.generationConfig)]);
  metadata.push(['fugaku.tokenizer_json', gguf.str(files.tokenizer)]);
  if (files.tokenizerConfig !== null) metadata.push(['fugaku.tokenizer_config', gguf.str(files.tokenizerConfig)]);
  if (files.specialTokensMap !== null) metadata.push(['fugaku.special_tokens_map', gguf.str(files.specialTokensMap)]);
  return { names, spec: { metadata, tensors }, choices };
}

/** The tokenizer.ggml.* keys for an SPM vocabulary. */
export function vocabMetadata(v: SpmVocab, model: TokenizerModel = 'llama'): Array<[string, GGUFTypedValue]> {
  const m: Array<[string, GGUFTypedValue]> = [
    ['tokenizer.ggml.model', gguf.str(model)],
    ['tokenizer.ggml.tokens', gguf.strings(v.tokens)],
    ['tokenizer.ggml.scores', gguf.array('float32', v.scores)],
    ['tokenizer.ggml.token_type', gguf.array('int32', v.types)],
  ];
  if (v.bosId !== null) m.push(['tokenizer.ggml.bos_token_id', gguf.u32(v.bosId)]);
  if (v.eosId !== null) m.push(['tokenizer.ggml.eos_token_id', gguf.u32(v.eosId)]);
  if (v.unkId !== null) m.push(['tokenizer.ggml.unknown_token_id', gguf.u32(v.unkId)]);
  if (v.padId !== null) m.push(['tokenizer.ggml.padding_token_id', gguf.u32(v.padId)]);
  m.push(
    ['tokenizer.ggml.add_bos_token', gguf.bool(false)],
    ['tokenizer.ggml.add_eos_token', gguf.bool(false)],
    ['tokenizer.ggml.add_space_prefix', gguf.bool(v.addSpacePrefix)],
  );
  // llama.cpp's Unigram tokenizer would otherwise collapse runs of spaces, which llm-jp keeps.
  if (model === 't5') m.push(['tokenizer.ggml.remove_extra_whitespaces', gguf.bool(false)]);
  return m;
}
