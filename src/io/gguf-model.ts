/**
 * Reading a GGUF model back into this runtime (what the loader needs to accept `--model FILE.gguf`).
 *
 * API:
 *
 *   const g = await openGGUFModel(file, { progress? });
 *   g.config            // Record<string, unknown>: the HF config.json object (from `fugaku.hf_config`, or
 *                       //   rebuilt from the gpt2.* / tokenizer.ggml.* keys for GGUF files of other converters)
 *   g.generationConfig  // Record<string, unknown> | null   (`fugaku.generation_config`)
 *   g.tokenizerJSON     // string | null   (`fugaku.tokenizer_json`; null for other converters: PreTrainedTokenizer.fromGGUF then builds it from tokenizer.ggml.*)
 *   g.tokenizerConfig   // string | null   (`fugaku.tokenizer_config`)
 *   g.specialTokensMap  // string | null   (`fugaku.special_tokens_map`)
 *   g.tensors           // Map<canonical name, GGUFModelTensorInfo> (names as in src/model/load.ts:
 *                       //   'wte.weight', 'h.0.attn.c_attn.weight', 'ln_f.bias', 'lm_head.weight' (untied only))
 *   g.totalBytes        // bytes of all tensors
 *   await g.tensor('h.0.attn.c_attn.weight')  // → { tensor: WeightTensor, layout: MatrixLayout }
 *   await g.close()
 *
 * `tensor(name)`: 2-D weights come back as stored — dtype F32 | F16 | BF16 or a ggml block type (Q8_0, Q4_K, IQ4_NL...), shape
 * [out, in] (GGUF matrices are [out][in]), layout always 'out_in' — ready for Backend.loadMatrix.
 * 1-D tensors come back as F32 (Float32Array, converted if a file stores them as F16/BF16), shape
 * [n], layout 'out_in' (meaningless for vectors). Unknown names throw TENSOR_MISSING.
 * If `progress` is given, each tensor read advances it by its byte length (the caller starts/stops it).
 */
import { FugakuError } from '../errors.js';
import type { MatrixLayout, WeightTensor } from '../backend/backend.js';
import type { ProgressReporter } from './progress.js';
import { isLoadableGGMLType, metaFloat, metaInt, metaString, openGGUF, type GGUFFile, type GGUFLoadableType } from './gguf.js';
import { isGGMLBlockType } from '../tensor/ggml/formats.js';
import { storageToF32 } from '../tensor/dtype.js';
import { tensorNames } from './gguf-names.js';

export interface GGUFModelTensorInfo {
  /** Name in the GGUF file (e.g. 'blk.0.attn_qkv.weight'). */
  ggufName: string;
  /** Stored ggml type (what tensor() returns for 2-D weights; 1-D tensors are returned as F32). */
  dtype: GGUFLoadableType;
  /** Shape tensor() returns: [out, in] for matrices, [n] for vectors. */
  shape: number[];
  /** Shape of the same tensor in a Hugging Face checkpoint (Conv1D weights are [in, out] there). */
  hfShape: number[];
  byteLength: number;
}

export interface GGUFModel {
  file: string;
  config: Record<string, unknown>;
  generationConfig: Record<string, unknown> | null;
  tokenizerJSON: string | null;
  tokenizerConfig: string | null;
  specialTokensMap: string | null;
  tensors: Map<string, GGUFModelTensorInfo>;
  totalBytes: number;
  /** The underlying GGUF file (metadata, raw tensor infos). */
  gguf: GGUFFile;
  tensor(name: string): Promise<{ tensor: WeightTensor; layout: MatrixLayout }>;
  close(): Promise<void>;
}

export interface OpenGGUFModelOptions {
  progress?: ProgressReporter;
}

function parseJSONKey(g: GGUFFile, key: string): Record<string, unknown> | null {
  const text = metaString(g, key);
  if (text === undefined) return null;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new FugakuError('GGUF_INVALID', `${g.file}: metadata "${key}" is not valid JSON (${(e as Error).message})`, 'convert the model again with `fugaku convert`');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new FugakuError('GGUF_INVALID', `${g.file}: metadata "${key}" is not a JSON object`, 'convert the model again with `fugaku convert`');
  }
  return v as Record<string, unknown>;
}

/** A config.json equivalent from llama.cpp's gpt2 keys (for GGUF files written by other converters). */
function configFromKeys(g: GGUFFile): Record<string, unknown> {
  const need = (key: string): number => {
    const v = metaInt(g, key);
    if (v === undefined) throw new FugakuError('GGUF_INVALID', `${g.file}: metadata "${key}" is missing`, 'the file is not a complete gpt2 GGUF; convert the model again with `fugaku convert`');
    return v;
  };
  const tokens = g.metadata.get('tokenizer.ggml.tokens');
  const embd = g.tensors.get('token_embd.weight');
  const vocabSize = tokens?.type === 'array' ? tokens.value.length : embd ? embd.ne[1] : need('gpt2.vocab_size');
  const cfg: Record<string, unknown> = {
    architectures: ['GPT2LMHeadModel'],
    model_type: 'gpt2',
    vocab_size: vocabSize,
    n_positions: need('gpt2.context_length'),
    n_embd: need('gpt2.embedding_length'),
    n_layer: need('gpt2.block_count'),
    n_head: need('gpt2.attention.head_count'),
    n_inner: metaInt(g, 'gpt2.feed_forward_length') ?? null,
    layer_norm_epsilon: metaFloat(g, 'gpt2.attention.layer_norm_epsilon') ?? 1e-5,
    // llama.cpp's gpt2 graph: GELU, tanh approximation.
    activation_function: 'gelu_new',
    tie_word_embeddings: !g.tensors.has('output.weight'),
  };
  const ids: Array<[string, string]> = [['bos_token_id', 'tokenizer.ggml.bos_token_id'], ['eos_token_id', 'tokenizer.ggml.eos_token_id'], ['pad_token_id', 'tokenizer.ggml.padding_token_id']];
  for (const [k, key] of ids) {
    const v = metaInt(g, key);
    cfg[k] = v ?? null;
  }
  return cfg;
}

/** Opens a GGUF model written by `fugaku convert` (or any llama.cpp gpt2 GGUF with F32/F16/BF16 or ggml block-type tensors, mixed per tensor). */
export async function openGGUFModel(file: string, options: OpenGGUFModelOptions = {}): Promise<GGUFModel> {
  const g = await openGGUF(file);
  try {
    const arch = metaString(g, 'general.architecture');
    if (arch !== 'gpt2') {
      throw new FugakuError(
        'ARCH_UNSUPPORTED',
        `${g.file}: general.architecture is ${arch === undefined ? 'missing' : JSON.stringify(arch)}; only "gpt2" (Fugaku-LLM) is supported`,
        'convert a Fugaku-LLM (GPT2LMHeadModel) checkpoint with `fugaku convert --model DIR --dtype q8_0 --out FILE.gguf`',
      );
    }
    const config = parseJSONKey(g, 'fugaku.hf_config') ?? configFromKeys(g);
    const nLayer = metaInt(g, 'gpt2.block_count') ?? (typeof config.n_layer === 'number' ? config.n_layer : 0);
    const tensors = new Map<string, GGUFModelTensorInfo>();
    let totalBytes = 0;
    const known = new Set<string>();
    for (const n of tensorNames(nLayer, false)) {
      known.add(n.gguf);
      const info = g.tensors.get(n.gguf);
      if (!info) continue;
      if (!isLoadableGGMLType(info.type)) {
        throw new FugakuError('DTYPE_UNSUPPORTED', `${g.file}: tensor "${n.gguf}" is ${info.type}, which this runtime cannot load (it reads F32, F16, BF16 and the ggml block types Q4_0..Q8_0, Q2_K..Q6_K, IQ1_S..IQ4_XS)`, 'convert the Hugging Face checkpoint with `fugaku convert --dtype q8_0` (or q4_0, f16, bf16, f32), or re-quantize with a supported type');
      }
      if (n.layout === 'vector' && isGGMLBlockType(info.type)) {
        throw new FugakuError('DTYPE_UNSUPPORTED', `${g.file}: 1-D tensor "${n.gguf}" is ${info.type}; vectors must be F32, F16 or BF16`, 'convert again with `fugaku convert`');
      }
      const want = n.layout === 'vector' ? 1 : 2;
      if (info.shape.length !== want) {
        throw new FugakuError('TENSOR_SHAPE_MISMATCH', `${g.file}: tensor "${n.gguf}" has ${info.shape.length} dimensions (ne [${info.ne.join(', ')}]); expected ${want}`, 'the file is not a gpt2 GGUF of this layout; convert again with `fugaku convert`');
      }
      const shape = info.shape.slice();
      const hfShape = n.layout === 'conv1d' ? [shape[1], shape[0]] : shape.slice();
      tensors.set(n.hf, { ggufName: n.gguf, dtype: info.type, shape, hfShape, byteLength: info.byteLength });
      totalBytes += info.byteLength;
    }
    for (const name of g.tensors.keys()) {
      if (!known.has(name)) {
        throw new FugakuError('TENSOR_UNEXPECTED', `${g.file}: tensor "${name}" is not part of a gpt2 model with ${nLayer} blocks`, 'the file does not match its gpt2.block_count; convert again with `fugaku convert`');
      }
    }
    return {
      file: g.file,
      config,
      generationConfig: parseJSONKey(g, 'fugaku.generation_config'),
      tokenizerJSON: metaString(g, 'fugaku.tokenizer_json') ?? null,
      tokenizerConfig: metaString(g, 'fugaku.tokenizer_config') ?? null,
      specialTokensMap: metaString(g, 'fugaku.special_tokens_map') ?? null,
      tensors,
      totalBytes,
      gguf: g,
      async tensor(name: string) {
        const info = tensors.get(name);
        if (!info) {
          throw new FugakuError('TENSOR_MISSING', `${g.file} has no tensor for "${name}"`, name === 'lm_head.weight' ? 'the head is tied: use wte.weight' : 'names are canonical HF GPT-2 names such as "h.0.attn.c_attn.weight"');
        }
        const t = await g.readTensor(info.ggufName);
        options.progress?.advance(info.byteLength);
        if (t.shape.length === 1 && t.dtype !== 'F32') {
          const data = storageToF32(t.dtype as 'F16' | 'BF16', t.data as Uint16Array);
          return { tensor: { dtype: 'F32', shape: t.shape, data }, layout: 'out_in' };
        }
        return { tensor: { dtype: t.dtype, shape: t.shape, data: t.data }, layout: 'out_in' };
      },
      close: () => g.close(),
    };
  } catch (e) {
    await g.close();
    throw e;
  }
}
