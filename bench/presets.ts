/**
 * Model shapes the benchmark scripts share (make-checkpoint, peers/compare.mjs through it, gpu.ts;
 * bench/hf_eager.py repeats them in Python): one preset name, one shape, everywhere.
 */
/** A GPT-2 shape for the benchmarks: the same names mean the same shapes in every script. */
export interface Shape { nEmbd: number; nLayer: number; nHead: number; nInner: number; vocab: number; nPositions: number; activation: string }

export const PRESETS: Record<string, Shape> = {
  // Fugaku-LLM-13B's config.json
  '13b': { nEmbd: 5184, nLayer: 40, nHead: 36, nInner: 20736, vocab: 49152, nPositions: 2048, activation: 'gelu_fast' },
  '1b': { nEmbd: 2048, nLayer: 20, nHead: 16, nInner: 8192, vocab: 49152, nPositions: 2048, activation: 'gelu_fast' },
  'gpt2-small': { nEmbd: 768, nLayer: 12, nHead: 12, nInner: 3072, vocab: 49152, nPositions: 1024, activation: 'gelu_fast' },
  tiny: { nEmbd: 288, nLayer: 3, nHead: 2, nInner: 1152, vocab: 49152, nPositions: 512, activation: 'gelu_fast' },
};
