/**
 * Finds and loads the native addon (the C++ under native/, built by `npm install` through node-gyp into
 * build/Release/fugaku.node). Returns why it is unavailable instead of throwing, so callers can fall
 * back to the reference backend. The loaded addon's functions throw FugakuErrors: the addon's own
 * errors carry a code (native/napi.cc) that is mapped here to an ErrorCode with a hint.
 */
import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { FugakuError, type ErrorCode } from '../errors.js';
import { packageRoot } from '../paths.js';

/** Opaque handles owned by the addon (freed when garbage-collected). */
export type NativeContext = { readonly __brand: 'NativeContext' };
export type NativeMatrix = { readonly __brand: 'NativeMatrix' };

/** The weight formats, kernel levels and activation kinds of the addon's functions, by name. */
export const NATIVE_FORMATS = [
  'F32', 'BF16', 'F16', 'Q8_0', 'Q4_0',
  // ggml's other block types: raw GGUF rows, loaded only from blocks of their own type (native/blocks.h)
  'Q4_1', 'Q5_0', 'Q5_1', 'Q2_K', 'Q3_K', 'Q4_K', 'Q5_K', 'Q6_K', 'IQ2_XXS', 'IQ2_XS', 'IQ3_XXS', 'IQ1_S', 'IQ4_NL', 'IQ3_S', 'IQ2_S', 'IQ4_XS', 'IQ1_M',
] as const;
export const NATIVE_LEVELS = ['portable', 'avx2', 'avx512', 'neon', 'avxvnni', 'amx'] as const;
export const NATIVE_ACTIVATIONS = ['gelu', 'gelu_tanh', 'gelu_fast', 'quick_gelu', 'relu', 'silu'] as const;
/** Their numeric codes, as the addon exports them (`constants`, native/napi.cc): the one place they are defined. */
export interface NativeConstants {
  formats: Readonly<Record<(typeof NATIVE_FORMATS)[number], number>>;
  levels: Readonly<Record<(typeof NATIVE_LEVELS)[number], number>>;
  activations: Readonly<Record<(typeof NATIVE_ACTIVATIONS)[number], number>>;
}

/** The functions native/napi.cc exports; format, level and kind arguments are codes from `constants`. */
export interface NativeAddon {
  readonly constants: NativeConstants;
  cpuFeatures(): {
    x86: boolean; avx2?: boolean; fma?: boolean; f16c?: boolean;
    avx512f?: boolean; avx512bw?: boolean; avx512vl?: boolean; avx512vnni?: boolean; avx512bf16?: boolean; avxvnni?: boolean; amx?: boolean;
    aarch64?: boolean; dotprod?: boolean;
  };
  /** level: constants.levels (portable, AVX2/FMA/F16C, AVX-512 F/BW/VL/VNNI, Arm NEON with DotProd where present, AVX-VNNI, AMX); throws BACKEND_UNAVAILABLE if the CPU lacks them. */
  createContext(threads: number, level: number): NativeContext;
  loadMatrix(ctx: NativeContext, srcFormat: number, src: Float32Array | Uint16Array | Uint8Array, inDim: number, outDim: number, inOut: boolean, format: number): NativeMatrix;
  matmul(ctx: NativeContext, m: NativeMatrix, x: Float32Array, rows: number, bias: Float32Array | null, out: Float32Array): void;
  embedding(ctx: NativeContext, m: NativeMatrix, ids: Int32Array, out: Float32Array): void;
  layerNorm(ctx: NativeContext, x: Float32Array, rows: number, dim: number, gamma: Float32Array, beta: Float32Array, eps: number, out: Float32Array): void;
  addInPlace(ctx: NativeContext, a: Float32Array, b: Float32Array, n: number): void;
  activation(ctx: NativeContext, kind: number, x: Float32Array, n: number): void;
  /** rows × n values from src (row r at srcOff + r·srcStride) to dst (rows contiguous from dstOff); f16 bits when dst is a Uint16Array. */
  storeRows(ctx: NativeContext, src: Float32Array, srcOff: number, srcStride: number, dst: Float32Array | Uint16Array, dstOff: number, n: number, rows: number): void;
  attention(ctx: NativeContext, q: Float32Array, t: number, k: Float32Array | Uint16Array, v: Float32Array | Uint16Array, past: number, nHead: number, headDim: number, scale: number, keyMask: Uint8Array | null, out: Float32Array): void;
  /**
   * ggml_quantize_chunk (native/ggml_quantize.h): nRows rows of nPerRow float32 values → GGUF blocks of
   * `format` (Q4_0, Q5_0, Q5_1, Q8_0, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS) in dst, with an importance
   * matrix (nPerRow column weights) or null; the same bytes as quantizeTensorGGML, on the context's threads.
   */
  quantizeRows(ctx: NativeContext, format: number, src: Float32Array, nRows: number, nPerRow: number, imatrix: Float32Array | null, dst: Uint8Array): void;
  matrixBytes(m: NativeMatrix): number;
  streamTriad(ctx: NativeContext, n: number, reps: number): number;
  streamRead(ctx: NativeContext, n: number, reps: number): number;
}

export type AddonLoad = { ok: true; addon: NativeAddon; path: string } | { ok: false; reason: string };

/** Where the addon is looked for: FUGAKU_NATIVE_ADDON (if set; relative to the working directory), then build/Release under the package. */
export function addonPath(env: NodeJS.ProcessEnv = process.env): string {
  return env.FUGAKU_NATIVE_ADDON ? path.resolve(env.FUGAKU_NATIVE_ADDON) : path.join(packageRoot, 'build', 'Release', 'fugaku.node');
}

/** How the addon's error codes (native/napi.cc) become FugakuErrors. */
const NATIVE_ERRORS: Record<string, { code: ErrorCode; hint: string }> = {
  NATIVE_INVALID_ARGUMENT: {
    code: 'NATIVE_INVALID_ARGUMENT',
    hint: 'the native addon refused its arguments: a bug in the caller, or an addon built from other sources than this package (rebuild it with `npm rebuild fugaku-llm`)',
  },
  OUT_OF_MEMORY: { code: 'INSUFFICIENT_MEMORY', hint: 'free memory, or load the model in a smaller format (--dtype q8_0 or q4_0)' },
  SIMD_UNAVAILABLE: { code: 'BACKEND_UNAVAILABLE', hint: "choose a kernel set this CPU runs (--simd auto picks the best)" },
  NATIVE_INTERNAL: { code: 'INTERNAL', hint: 'an N-API call failed inside the native addon; please report it' },
};

/** An error thrown by the addon as a FugakuError (its code mapped, its message kept). */
export function nativeError(e: unknown): FugakuError {
  if (e instanceof FugakuError) return e;
  const err = e as { code?: unknown; message?: unknown };
  const known = typeof err?.code === 'string' ? NATIVE_ERRORS[err.code] : undefined;
  const message = `native addon: ${typeof err?.message === 'string' ? err.message : String(e)}`;
  return new FugakuError(known?.code ?? 'INTERNAL', message, known?.hint ?? NATIVE_ERRORS.NATIVE_INTERNAL.hint, { cause: e });
}

/** Why `constants` is not what this package expects (an addon built from other sources), or null. */
function constantsProblem(c: unknown): string | null {
  if (typeof c !== 'object' || c === null) return 'it exports no constants';
  const tables: [string, readonly string[]][] = [['formats', NATIVE_FORMATS], ['levels', NATIVE_LEVELS], ['activations', NATIVE_ACTIVATIONS]];
  for (const [table, names] of tables) {
    const t = (c as Record<string, unknown>)[table] as Record<string, unknown> | undefined;
    const missing = names.filter((n) => !Number.isInteger(t?.[n]));
    if (missing.length > 0) return `its constants.${table} lack ${missing.join(', ')}`;
  }
  return null;
}

/** The addon with every function throwing FugakuErrors (nativeError) instead of the addon's own errors. */
function withFugakuErrors(raw: NativeAddon): NativeAddon {
  const wrapped: Record<string, unknown> = { constants: raw.constants };
  for (const [name, fn] of Object.entries(raw)) {
    if (typeof fn !== 'function') continue;
    wrapped[name] = (...args: unknown[]) => {
      try {
        return (fn as (...a: unknown[]) => unknown)(...args);
      } catch (e) {
        throw nativeError(e);
      }
    };
  }
  return wrapped as unknown as NativeAddon;
}

export function loadNativeAddon(file: string = addonPath()): AddonLoad {
  if (!existsSync(file)) {
    let why = `${file} does not exist`;
    const log = path.join(packageRoot, 'build', 'native-build.log');
    if (existsSync(log)) why += ` (the build failed: see ${log})`;
    return { ok: false, reason: why };
  }
  try {
    const require = createRequire(import.meta.url);
    // An absolute path: require() would take a relative one for a package name.
    const abs = path.resolve(file);
    const raw = require(abs) as NativeAddon;
    const problem = constantsProblem(raw.constants);
    if (problem) return { ok: false, reason: `${file} was built from other sources than this package (${problem}); rebuild it with \`npm rebuild fugaku-llm\`` };
    return { ok: true, addon: withFugakuErrors(raw), path: abs };
  } catch (e) {
    return { ok: false, reason: `${file} could not be loaded: ${(e as Error).message.split('\n')[0]}` };
  }
}

/** The build log's last lines, for error hints. */
export function nativeBuildLogTail(lines = 5): string | null {
  const log = path.join(packageRoot, 'build', 'native-build.log');
  if (!existsSync(log)) return null;
  return readFileSync(log, 'utf8').trim().split('\n').slice(-lines).join('\n');
}
