/**
 * Which ggml type llama-quantize gives each tensor of a GPT-2 GGUF file for the k-quant file types
 * (a port of llama.cpp's src/llama-quant.cpp at commit 80fb11a: tensor_allows_quantization,
 * llama_tensor_get_type_impl for LLM_ARCH_GPT2 and tensor_type_fallback).
 *
 * - Only 2-D tensors whose name ends in "weight" are quantized, never *_norm.weight nor
 *   position_embd.weight (those keep the input file's type).
 * - The tied token_embd (GPT-2 has no output.weight) is treated as the output tensor: Q6_K, or Q8_0
 *   when ne[0] is not a multiple of 256.
 * - attn_qkv counts as llama.cpp's "attn_v" (more bits in some layers); ffn_down by its layer.
 * - A tensor whose row length ne[0] is not a multiple of the type's block size falls back:
 *   Q4_K→Q5_0, Q5_K→Q5_1, Q6_K→Q8_0, Q3_K→Q4_0, IQ4_XS→IQ4_NL (F16 if even that does not fit).
 * The counters (i_attention_wv, i_ffn_down) advance in llama.cpp's tensor order: by layer, then name.
 */
import type { GGMLQuantType } from '../tensor/ggml/quantize.js';
import { QUANT_BLOCKS } from '../tensor/ggml/quantize.js';

/** The k-quant `--dtype` values (llama.cpp's file type names, lower case). */
export type KQuantFType = 'q4_k_m' | 'q5_k_m' | 'q6_k' | 'q3_k_m' | 'iq4_xs';
export const KQUANT_FTYPES: readonly KQuantFType[] = ['q4_k_m', 'q5_k_m', 'q6_k', 'q3_k_m', 'iq4_xs'];

/** llama_ftype (include/llama.h): general.file_type. */
export const KQUANT_FILE_TYPE: Record<KQuantFType, number> = { q3_k_m: 12, q4_k_m: 15, q5_k_m: 17, q6_k: 18, iq4_xs: 30 };

/** llama_ftype_get_default_type. */
const DEFAULT_TYPE: Record<KQuantFType, GGMLQuantType> = { q3_k_m: 'Q3_K', q4_k_m: 'Q4_K', q5_k_m: 'Q5_K', q6_k: 'Q6_K', iq4_xs: 'IQ4_XS' };

/** tensor_type_fallback's table (the types these file types can produce). */
const FALLBACK: Partial<Record<GGMLQuantType, GGMLQuantType>> = { Q4_K: 'Q5_0', Q5_K: 'Q5_1', Q6_K: 'Q8_0', Q3_K: 'Q4_0', IQ4_XS: 'IQ4_NL' };

export interface TensorTypeQuery {
  /** GGUF tensor name (llama.cpp's gpt2 names). */
  name: string;
  /** ggml dimensions (ne[0] = row length). */
  ne: readonly number[];
}

/** The choice for one tensor: `type` null keeps the input type (not quantized). */
export interface TensorTypeChoice {
  type: GGMLQuantType | 'F16' | null;
  /** The type llama.cpp wanted before the shape fallback, when it fell back. */
  fallbackFrom?: GGMLQuantType;
}

type Category = 'token_embd' | 'output' | 'attn_qkv' | 'attn_output' | 'ffn_up' | 'ffn_down' | 'other';

function categoryOf(name: string): Category {
  if (name === 'output.weight') return 'output';
  if (name === 'token_embd.weight') return 'token_embd';
  if (name.includes('attn_qkv.weight')) return 'attn_qkv';
  if (name.includes('attn_output.weight')) return 'attn_output';
  if (name.includes('ffn_up')) return 'ffn_up';
  if (name.includes('ffn_down')) return 'ffn_down';
  return 'other';
}

/** tensor_allows_quantization (the parts that can apply to a gpt2 file). */
export function allowsQuantization(name: string, ne: readonly number[]): boolean {
  // ggml_n_dims: trailing dimensions of size 1 do not count
  let nDims = ne.length;
  while (nDims > 1 && ne[nDims - 1] === 1) nDims--;
  if (nDims < 2) return false;
  return name.endsWith('weight') && !name.includes('_norm.weight') && name !== 'position_embd.weight';
}

/** llama.cpp's tensor order: by layer (non-layer tensors first), then by name. */
function layerOf(name: string): number {
  const m = /^blk\.(\d+)\./.exec(name);
  return m ? Number(m[1]) : -1;
}
export function llamaTensorOrder<T extends { name: string }>(tensors: readonly T[]): T[] {
  return [...tensors].sort((a, b) => {
    const la = layerOf(a.name);
    const lb = layerOf(b.name);
    if (la !== lb) return la - lb;
    return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
  });
}

const useMoreBits = (i: number, n: number): boolean => i < Math.trunc(n / 8) || i >= Math.trunc((7 * n) / 8) || (i - Math.trunc(n / 8)) % 3 === 2;

/**
 * The type llama-quantize (`llama-quantize IN OUT <FTYPE>`, no overrides) gives every tensor of a
 * gpt2 file with `nLayer` blocks. `hasImatrix`: whether an importance matrix was passed.
 */
export function llamaTensorTypes(ftype: KQuantFType, tensors: readonly TensorTypeQuery[], opts: { nLayer: number; hasImatrix: boolean }): Map<string, TensorTypeChoice> {
  const def = DEFAULT_TYPE[ftype];
  const ordered = llamaTensorOrder(tensors);
  const tied = !ordered.some((t) => t.name === 'output.weight');
  const nAttnV = ordered.filter((t) => categoryOf(t.name) === 'attn_qkv').length;
  const nFfn = opts.nLayer;
  let iAttnV = 0;
  let iFfnDown = 0;
  const out = new Map<string, TensorTypeChoice>();
  for (const t of ordered) {
    if (!allowsQuantization(t.name, t.ne)) {
      out.set(t.name, { type: null });
      continue;
    }
    const cat = categoryOf(t.name);
    let type: GGMLQuantType = def;
    if (cat === 'output' || (tied && cat === 'token_embd')) {
      if (t.ne[0] % QUANT_BLOCKS[def].blockSize !== 0) type = 'Q8_0';
      else type = 'Q6_K';
    } else if (cat === 'token_embd') {
      // no change for these file types
    } else if (cat === 'attn_qkv') {
      if (ftype === 'q3_k_m') type = iAttnV < 2 ? 'Q5_K' : 'Q4_K';
      else if ((ftype === 'q4_k_m' || ftype === 'q5_k_m') && useMoreBits(iAttnV, nAttnV)) type = 'Q6_K';
      ++iAttnV;
    } else if (cat === 'ffn_down') {
      const i = iFfnDown;
      const n = nFfn;
      if (ftype === 'q3_k_m') type = i < Math.trunc(n / 16) ? 'Q5_K' : 'Q4_K';
      else if (ftype === 'q4_k_m') {
        if (useMoreBits(i, n)) type = 'Q6_K';
      } else if (i < Math.trunc(n / 8) && ftype === 'iq4_xs' && !opts.hasImatrix) type = 'Q5_K';
      else if (ftype === 'q5_k_m' && useMoreBits(i, n)) type = 'Q6_K';
      ++iFfnDown;
    } else if (cat === 'attn_output') {
      if (ftype === 'q3_k_m') type = 'Q4_K';
    }
    // tensor_type_fallback
    const blk = QUANT_BLOCKS[type].blockSize;
    if (t.ne[0] % blk !== 0) {
      const fb: GGMLQuantType = blk <= 32 ? type : FALLBACK[type]!;
      out.set(t.name, { type: t.ne[0] % QUANT_BLOCKS[fb].blockSize !== 0 ? 'F16' : fb, fallbackFrom: type });
    } else {
      out.set(t.name, { type });
    }
  }
  return out;
}
