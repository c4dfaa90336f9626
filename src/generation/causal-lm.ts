/**
 * The library facade, named after transformers: `AutoModelForCausalLM.fromPretrained(dir)` returns
 * a `GPT2LMHeadModel` whose `generate` takes the model card's arguments in camelCase.
 */
import { FugakuError } from '../errors.js';
import type { Backend } from '../backend/backend.js';
import { createBackend, type BackendName, type SimdChoice } from '../backend/select.js';
import type { ProgressReporter } from '../io/progress.js';
import { loadGPT2, type WeightFormat, WEIGHT_FORMATS } from '../model/load.js';
import type { GPT2Model } from '../model/gpt2.js';
import type { KVCacheDType } from '../model/kv-cache.js';
import { resolveGenerationConfig, type GenerationConfig } from './config.js';
import { generate, type GenerateDeps, type GeneratedSequence } from './generate.js';

export interface FromPretrainedOptions {
  /** Weight format: 'auto' keeps the checkpoint dtype (bf16 for Fugaku-LLM). */
  dtype?: WeightFormat;
  /**
   * Compute backend: a Backend instance, or 'auto' (default: WebGPU where a hardware GPU adapter exists,
   * else the native addon when it is built, else the reference backend with one warning), 'webgpu',
   * 'native' or 'reference'.
   */
  backend?: Backend | BackendName;
  /** Element type of the KV cache: 'f32' (default) or 'f16' (half the memory). */
  kvCacheDtype?: KVCacheDType;
  /** Threads of the native backend (default: physical cores). */
  threads?: number;
  /** Kernel set of the native backend: 'auto' (default: the best the CPU has), 'avx512', 'avx2', 'neon' or 'portable'. */
  simd?: SimdChoice;
  /** Told which GPU adapter the WebGPU backend uses, in one line. */
  log?: (message: string) => void;
  /** Called once if 'auto' falls back to the reference backend (default: process.emitWarning). */
  warn?: (message: string) => void;
  /** Shows loading progress (e.g. createTtyProgress()). */
  progress?: ProgressReporter;
}

/** Inputs of `generate`: one prompt's ids, or a batch (equal lengths; use attentionMask for left padding). */
export type InputIds = number[] | number[][];

export interface GenerateCallOptions extends Record<string, unknown> {
  attentionMask?: number[][];
}

export class GPT2LMHeadModel {
  private constructor(
    readonly model: GPT2Model,
    /** generation_config.json of the checkpoint (null when absent). */
    readonly generationConfigJSON: Record<string, unknown> | null,
    readonly dir: string,
  ) {}

  static async fromPretrained(dir: string, opts: FromPretrainedOptions = {}): Promise<GPT2LMHeadModel> {
    if (opts.dtype !== undefined && !WEIGHT_FORMATS.includes(opts.dtype)) {
      throw new FugakuError('INVALID_ARGUMENT', `dtype ${JSON.stringify(opts.dtype)} is not supported`, `use one of ${WEIGHT_FORMATS.join(', ')}`);
    }
    const backend = typeof opts.backend === 'object' ? opts.backend : await createBackend({ backend: opts.backend, threads: opts.threads, simd: opts.simd, warn: opts.warn, log: opts.log });
    const loaded = await loadGPT2(dir, { backend, dtype: opts.dtype, progress: opts.progress, kvCacheDtype: opts.kvCacheDtype });
    return new GPT2LMHeadModel(loaded.model, loaded.generationConfig, loaded.dir);
  }

  get config() {
    return this.model.config;
  }

  /** The effective generation config: HF defaults ← generation_config.json ← options. */
  generationConfig(options: Record<string, unknown> = {}): GenerationConfig {
    return resolveGenerationConfig(this.generationConfigJSON, this.model.config, options);
  }

  /**
   * Like transformers' `generate`: returns, per returned sequence, the prompt ids followed by the
   * generated ids (rows of a batch padded with pad_token_id to one length, as HF does).
   */
  async generate(inputIds: InputIds, options: GenerateCallOptions = {}, deps: GenerateDeps = {}): Promise<number[][]> {
    const { rows, seqs, cfg } = await this.run(inputIds, options, deps);
    const longest = Math.max(...seqs.map((s) => s.outputIds.length));
    const pad = cfg.padTokenId ?? cfg.eosTokenId[0] ?? 0;
    return seqs.map((s) => {
      const out = rows[s.promptIndex].concat(s.outputIds);
      while (out.length < rows[s.promptIndex].length + longest) out.push(pad);
      return out;
    });
  }

  /** Like `generate`, but returns the new tokens per sequence with finish reasons (and logprobs). */
  async generateSequences(inputIds: InputIds, options: GenerateCallOptions = {}, deps: GenerateDeps = {}): Promise<GeneratedSequence[]> {
    return (await this.run(inputIds, options, deps)).seqs;
  }

  private async run(inputIds: InputIds, options: GenerateCallOptions, deps: GenerateDeps) {
    const rows = normalizeInputIds(inputIds);
    const { attentionMask, ...rest } = options;
    const cfg = this.generationConfig(rest);
    const seqs = await generate(this.model, { inputIds: rows, attentionMask }, cfg, deps);
    return { rows, seqs, cfg };
  }
}

function normalizeInputIds(inputIds: InputIds): number[][] {
  if (!Array.isArray(inputIds) || inputIds.length === 0) {
    throw new FugakuError('INVALID_ARGUMENT', 'inputIds must be a non-empty array of token ids (or of rows of ids)', 'encode the prompt with the tokenizer first');
  }
  return Array.isArray(inputIds[0]) ? (inputIds as number[][]) : [inputIds as number[]];
}

export const AutoModelForCausalLM = {
  fromPretrained: (dir: string, opts?: FromPretrainedOptions) => GPT2LMHeadModel.fromPretrained(dir, opts),
};
