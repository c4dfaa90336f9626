/**
 * How every CLI command loads a model: the weight format from --dtype, the backend from --backend
 * and --threads, a progress bar on stderr, and one warning if the native backend is unavailable.
 */
import { AutoModelForCausalLM, type GPT2LMHeadModel } from '../generation/causal-lm.js';
import type { WeightFormat } from '../model/load.js';
import type { BackendName, SimdChoice } from '../backend/select.js';
import type { KVCacheDType } from '../model/kv-cache.js';
import { createTtyProgress, createNoopProgress } from '../io/progress.js';

export interface CliModelOptions {
  /** --dtype */
  dtype?: string;
  /** --backend */
  backend?: string;
  /** --threads */
  threads?: number;
  /** --simd */
  simd?: string;
  /** --kv-cache-dtype */
  kvCacheDtype?: string;
  /** Show a progress bar on stderr (default true). */
  progress?: boolean;
}

export async function loadModel(dir: string, opts: string | CliModelOptions = {}): Promise<GPT2LMHeadModel> {
  const o: CliModelOptions = typeof opts === 'string' ? { dtype: opts } : opts;
  return AutoModelForCausalLM.fromPretrained(dir, {
    dtype: (o.dtype ?? 'auto') as WeightFormat,
    backend: (o.backend ?? 'auto') as BackendName,
    threads: o.threads,
    simd: (o.simd ?? 'auto') as SimdChoice,
    kvCacheDtype: (o.kvCacheDtype ?? 'f32') as KVCacheDType,
    progress: o.progress === false ? createNoopProgress() : createTtyProgress(process.stderr),
    warn: (m) => process.stderr.write(`warning: ${m}\n`),
    log: (m) => process.stderr.write(`${m}\n`),
  });
}
