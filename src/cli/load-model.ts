/**
 * How every CLI command loads a model: the weight format from --dtype, a progress bar on stderr.
 * (The compute backend and --threads are chosen here too, so all commands behave alike.)
 */
import { AutoModelForCausalLM, type GPT2LMHeadModel } from '../generation/causal-lm.js';
import type { WeightFormat } from '../model/load.js';
import { createTtyProgress } from '../io/progress.js';

export interface CliModelOptions {
  /** --dtype */
  dtype?: string;
}

export async function loadModel(dir: string, dtype: string | CliModelOptions = {}): Promise<GPT2LMHeadModel> {
  const o = typeof dtype === 'string' ? { dtype } : dtype;
  return AutoModelForCausalLM.fromPretrained(dir, { dtype: (o.dtype ?? 'auto') as WeightFormat, progress: createTtyProgress(process.stderr) });
}
