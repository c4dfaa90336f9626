/**
 * Tensor names: our canonical Hugging Face GPT-2 names (without the `transformer.` prefix) ↔
 * llama.cpp's gpt2 GGUF names, and how each tensor is laid out in the HF checkpoint.
 */

/** How a tensor is stored in the HF checkpoint. */
export type HFLayout = 'vector' | 'conv1d' | 'embedding';

export interface TensorName {
  hf: string;
  gguf: string;
  /** 'vector': 1-D; 'conv1d': HF Conv1D [in, out] (transposed for GGUF); 'embedding': [rows, n_embd] as is. */
  layout: HFLayout;
}

/** Every tensor of a GPT-2 model with `nLayer` blocks, in the order the converter writes them. */
export function tensorNames(nLayer: number, tied: boolean): TensorName[] {
  const out: TensorName[] = [
    { hf: 'wte.weight', gguf: 'token_embd.weight', layout: 'embedding' },
    { hf: 'wpe.weight', gguf: 'position_embd.weight', layout: 'embedding' },
  ];
  for (let l = 0; l < nLayer; l++) {
    const h = `h.${l}.`;
    const b = `blk.${l}.`;
    out.push(
      { hf: h + 'ln_1.weight', gguf: b + 'attn_norm.weight', layout: 'vector' },
      { hf: h + 'ln_1.bias', gguf: b + 'attn_norm.bias', layout: 'vector' },
      { hf: h + 'attn.c_attn.weight', gguf: b + 'attn_qkv.weight', layout: 'conv1d' },
      { hf: h + 'attn.c_attn.bias', gguf: b + 'attn_qkv.bias', layout: 'vector' },
      { hf: h + 'attn.c_proj.weight', gguf: b + 'attn_output.weight', layout: 'conv1d' },
      { hf: h + 'attn.c_proj.bias', gguf: b + 'attn_output.bias', layout: 'vector' },
      { hf: h + 'ln_2.weight', gguf: b + 'ffn_norm.weight', layout: 'vector' },
      { hf: h + 'ln_2.bias', gguf: b + 'ffn_norm.bias', layout: 'vector' },
      { hf: h + 'mlp.c_fc.weight', gguf: b + 'ffn_up.weight', layout: 'conv1d' },
      { hf: h + 'mlp.c_fc.bias', gguf: b + 'ffn_up.bias', layout: 'vector' },
      { hf: h + 'mlp.c_proj.weight', gguf: b + 'ffn_down.weight', layout: 'conv1d' },
      { hf: h + 'mlp.c_proj.bias', gguf: b + 'ffn_down.bias', layout: 'vector' },
    );
  }
  out.push({ hf: 'ln_f.weight', gguf: 'output_norm.weight', layout: 'vector' }, { hf: 'ln_f.bias', gguf: 'output_norm.bias', layout: 'vector' });
  if (!tied) out.push({ hf: 'lm_head.weight', gguf: 'output.weight', layout: 'embedding' });
  return out;
}

/** The GGUF name of a canonical HF name (undefined if it is not a GPT-2 tensor name). */
export function ggufNameOf(hf: string): string | undefined {
  const m = /^h\.(\d+)\.(.+)$/.exec(hf);
  if (m) {
    const l = Number(m[1]);
    return tensorNames(l + 1, true).find((t) => t.hf === hf)?.gguf;
  }
  return tensorNames(0, false).find((t) => t.hf === hf)?.gguf;
}
