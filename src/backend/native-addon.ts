/**
 * Finds and loads the native addon (native/fugaku.cc, built by `npm install` through node-gyp into
 * build/Release/fugaku.node). Returns why it is unavailable instead of throwing, so callers can fall
 * back to the reference backend.
 */
import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { packageRoot } from '../paths.js';

/** Opaque handles owned by the addon (freed when garbage-collected). */
export type NativeContext = { readonly __brand: 'NativeContext' };
export type NativeMatrix = { readonly __brand: 'NativeMatrix' };

/** The functions native/fugaku.cc exports. Format codes: 0 F32, 1 BF16, 2 F16, 3 Q8_0, 4 Q4_0. */
export interface NativeAddon {
  cpuFeatures(): {
    x86: boolean; avx2?: boolean; fma?: boolean; f16c?: boolean;
    avx512f?: boolean; avx512bw?: boolean; avx512vl?: boolean; avx512vnni?: boolean; avx512bf16?: boolean; avxvnni?: boolean; amx?: boolean;
    aarch64?: boolean; dotprod?: boolean;
  };
  /** level: 0 portable, 1 AVX2/FMA/F16C, 2 AVX-512 F/BW/VL/VNNI, 3 Arm NEON (DotProd used where present), 4 AVX-VNNI, 5 AMX (throws if the CPU lacks them). */
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
  matrixBytes(m: NativeMatrix): number;
  streamTriad(ctx: NativeContext, n: number, reps: number): number;
  streamRead(ctx: NativeContext, n: number, reps: number): number;
}

export type AddonLoad = { ok: true; addon: NativeAddon; path: string } | { ok: false; reason: string };

/** Where the addon is looked for: FUGAKU_NATIVE_ADDON (if set; relative to the working directory), then build/Release under the package. */
export function addonPath(env: NodeJS.ProcessEnv = process.env): string {
  return env.FUGAKU_NATIVE_ADDON ? path.resolve(env.FUGAKU_NATIVE_ADDON) : path.join(packageRoot, 'build', 'Release', 'fugaku.node');
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
    return { ok: true, addon: require(abs) as NativeAddon, path: abs };
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
