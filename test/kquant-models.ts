/**
 * The two random GPT-2 checkpoints the k-quant fixtures (test/fixtures/llamacpp/) were made from,
 * rebuilt bit for bit from a seeded integer PRNG (so the tests need neither the checkpoints nor
 * llama.cpp, only the committed per-tensor hashes of llama-quantize's output):
 *
 * - kq-narrow: n_embd 32, n_inner 256, 8 layers — like Fugaku-13B (5184 / 20736) the width is not a
 *   multiple of 256 but the FFN is, so every type falls back except ffn_down; 8 layers exercise
 *   llama.cpp's per-layer rules (use_more_bits, i_layer < n/8, n/16).
 * - kq-wide: n_embd 256, n_inner 512, 2 layers — every tensor takes its k-quant (token_embd Q6_K).
 *
 * Weights are f16, roughly N(0, 0.02²) with a few larger outliers and an all-zero block, vectors
 * around 1 (LayerNorm weights) / 0 (biases). The tokenizer is the first 512 pieces of the llm-jp
 * tokenizer (test/fixtures/llamacpp/tokenizer.json).
 */
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { f32ToF16 } from '../src/tensor/dtype.js';
import { buildSafetensors, type TensorSpec } from './build-safetensors.js';

export interface KQuantModel {
  name: 'kq-narrow' | 'kq-wide';
  nEmbd: number;
  nInner: number;
  nLayer: number;
  nHead: number;
  vocab: number;
  nPositions: number;
  seed: number;
}

export const KQUANT_MODELS: readonly KQuantModel[] = [
  { name: 'kq-narrow', nEmbd: 32, nInner: 256, nLayer: 8, nHead: 2, vocab: 512, nPositions: 64, seed: 18 },
  { name: 'kq-wide', nEmbd: 256, nInner: 512, nLayer: 2, nHead: 4, vocab: 512, nPositions: 64, seed: 19 },
];

export const FIXTURE_DIR = path.join(path.dirname(new URL(import.meta.url).pathname), '..', '..', 'test', 'fixtures', 'llamacpp');

/** mulberry32: a 32-bit integer PRNG (defined here so the fixtures never depend on src/). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function f16Tensor(name: string, shape: number[], gen: () => number): TensorSpec {
  const n = shape.reduce((a, b) => a * b, 1);
  const bits = new Uint16Array(n);
  for (let i = 0; i < n; i++) bits[i] = f32ToF16(gen());
  return { name, dtype: 'F16', shape, data: new Uint8Array(bits.buffer) };
}

/** Writes the checkpoint folder `m` into `dir` (created). */
export async function writeKQuantModel(m: KQuantModel, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  const rnd = prng(m.seed);
  const gauss = (): number => Math.sqrt(-2 * Math.log(rnd() + 2 ** -33)) * Math.cos(2 * Math.PI * rnd());
  let count = 0;
  const weight = (): number => {
    const i = count++;
    if (i % 4096 >= 4064) return 0; // an all-zero 32-block now and then
    const outlier = rnd() < 0.002 ? 8 : 1;
    return gauss() * 0.02 * outlier;
  };
  const vec = (base: number) => (): number => base + gauss() * 0.05;
  const E = m.nEmbd;
  const F = m.nInner;
  const t: TensorSpec[] = [f16Tensor('transformer.wte.weight', [m.vocab, E], weight), f16Tensor('transformer.wpe.weight', [m.nPositions, E], weight)];
  for (let l = 0; l < m.nLayer; l++) {
    const p = `transformer.h.${l}.`;
    t.push(
      f16Tensor(p + 'ln_1.weight', [E], vec(1)), f16Tensor(p + 'ln_1.bias', [E], vec(0)),
      f16Tensor(p + 'attn.c_attn.weight', [E, 3 * E], weight), f16Tensor(p + 'attn.c_attn.bias', [3 * E], vec(0)),
      f16Tensor(p + 'attn.c_proj.weight', [E, E], weight), f16Tensor(p + 'attn.c_proj.bias', [E], vec(0)),
      f16Tensor(p + 'ln_2.weight', [E], vec(1)), f16Tensor(p + 'ln_2.bias', [E], vec(0)),
      f16Tensor(p + 'mlp.c_fc.weight', [E, F], weight), f16Tensor(p + 'mlp.c_fc.bias', [F], vec(0)),
      f16Tensor(p + 'mlp.c_proj.weight', [F, E], weight), f16Tensor(p + 'mlp.c_proj.bias', [E], vec(0)),
    );
  }
  t.push(f16Tensor('transformer.ln_f.weight', [E], vec(1)), f16Tensor('transformer.ln_f.bias', [E], vec(0)));
  await writeFile(path.join(dir, 'model.safetensors'), buildSafetensors(t));
  await writeFile(path.join(dir, 'config.json'), JSON.stringify({
    architectures: ['GPT2LMHeadModel'], model_type: 'gpt2', activation_function: 'gelu_new',
    n_embd: E, n_head: m.nHead, n_layer: m.nLayer, n_inner: F, n_positions: m.nPositions, vocab_size: m.vocab,
    layer_norm_epsilon: 1e-5, bos_token_id: 1, eos_token_id: 7, pad_token_id: 4, tie_word_embeddings: true, torch_dtype: 'float16',
    scale_attn_weights: true, scale_attn_by_inverse_layer_idx: false, reorder_and_upcast_attn: false,
  }, null, 2));
  for (const f of ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json']) {
    await copyFile(path.join(FIXTURE_DIR, f), path.join(dir, f));
  }
}
