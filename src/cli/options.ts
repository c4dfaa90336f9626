/** The options commands share, and parsers for option values (bad values become one-line errors in usage-errors.ts). */
import { InvalidArgumentError, Option, type Command } from 'commander';
import { WEIGHT_FORMATS } from '../model/load.js';
import { BACKEND_NAMES, SIMD_CHOICES } from '../backend/select.js';
import { KV_CACHE_DTYPES } from '../model/kv-cache.js';
import { defaultModelDir } from '../paths.js';

export const modelOption = (): Option =>
  new Option('--model <dir>', 'Hugging Face model folder (default: the embedded tiny-ja-demo model)').default(defaultModelDir, 'embedded tiny-ja-demo');
export const dtypeOption = (): Option =>
  new Option('--dtype <format>', 'weight format: auto (as stored), bf16, f16, f32, or quantized while loading: q8_0, q4_0').choices(WEIGHT_FORMATS as string[]).default('auto');
export const backendOption = (): Option =>
  new Option('--backend <name>', 'compute backend: auto (a GPU through WebGPU if there is a hardware adapter, else the native addon, else reference), webgpu (any WebGPU adapter; FUGAKU_VULKAN_DIR names a software Vulkan), native, reference').choices(BACKEND_NAMES as string[]).default('auto');
export const threadsOption = (): Option =>
  new Option('--threads <n>', 'threads of the native backend (default: physical cores)').argParser(intArg('--threads', 1, 256));

export const simdOption = (): Option =>
  new Option('--simd <set>', 'kernels of the native backend: auto (the best this CPU has), amx, avx512, avxvnni, avx2, neon, portable').choices(SIMD_CHOICES as string[]).default('auto');

export const kvCacheDtypeOption = (): Option =>
  new Option('--kv-cache-dtype <type>', 'element type of the KV cache: f32, or f16 (half the memory)').choices(KV_CACHE_DTYPES as string[]).default('f32');

/** --dtype, --backend, --threads, --simd and --kv-cache-dtype: how a command loads its model (see load-model.ts). */
export function addModelLoadOptions(cmd: Command): Command {
  return cmd.addOption(dtypeOption()).addOption(backendOption()).addOption(threadsOption()).addOption(simdOption()).addOption(kvCacheDtypeOption());
}

/**
 * Option-value parsers. Each throws commander's InvalidArgumentError whose message says what the
 * option takes ("--threads takes an integer in 1..256"); usage-errors.ts makes that the hint of the
 * one-line error.
 */
export function intArg(name: string, min = -Infinity, max = Infinity) {
  const range = min > -Infinity ? (max < Infinity ? ` in ${min}..${max}` : ` >= ${min}`) : max < Infinity ? ` <= ${max}` : '';
  return (v: string): number => {
    const n = Number(v);
    if (!/^\s*[+-]?\d+\s*$/.test(v) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`${name} takes an integer${range}`);
    }
    return n;
  };
}

export function floatArg(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError(`${name} takes a number, e.g. 0.7`);
    return n;
  };
}

export function idsArg(v: string): number[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(v);
  } catch {
    parsed = undefined;
  }
  if (!Array.isArray(parsed) || parsed.length === 0 || !parsed.every((x) => Number.isInteger(x) && x >= 0)) {
    throw new InvalidArgumentError('--input-ids takes a non-empty JSON array of non-negative token ids, e.g. [31,26467]');
  }
  return parsed as number[];
}

/** The sampling options `generate` and `chat` share (commander option → GenerationConfig name). */
const SAMPLING_OPTIONS = [
  ['--temperature <t>', 'sampling temperature', 'temperature', 'float'],
  ['--top-k <k>', 'keep the k most likely tokens (0 = off; HF default 50)', 'topK', 'int0'],
  ['--top-p <p>', 'nucleus sampling mass', 'topP', 'float'],
  ['--min-p <p>', 'drop tokens below p × the top probability', 'minP', 'float'],
  ['--typical-p <p>', 'locally typical sampling mass', 'typicalP', 'float'],
  ['--repetition-penalty <r>', 'CTRL repetition penalty (1.0 = off)', 'repetitionPenalty', 'float'],
  ['--no-repeat-ngram-size <n>', 'forbid repeating n-grams of this size', 'noRepeatNgramSize', 'int0'],
] as const;

export const SAMPLING_OPTION_NAMES: readonly string[] = SAMPLING_OPTIONS.map((o) => o[2]);

/** Adds --do-sample and the sampling knobs to a command. */
export function addSamplingOptions(cmd: Command): Command {
  cmd.option('--do-sample', 'sample instead of greedy decoding', false);
  for (const [flags, description, , kind] of SAMPLING_OPTIONS) {
    const name = flags.split(' ')[0];
    cmd.option(flags, description, kind === 'float' ? floatArg(name) : intArg(name, 0));
  }
  return cmd;
}

/** Picks the generation options that were given on the command line. */
export function pickGenerationOptions(o: Record<string, unknown>, names: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of names) if (o[k] !== undefined) out[k] = o[k];
  return out;
}
