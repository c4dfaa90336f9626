/**
 * The fast CPU backend: weights live in native memory (converted or quantized once while loading),
 * and matmul, attention, LayerNorm and activations run in the native addon (native/, see
 * docs/ARCHITECTURE.md) on its own thread pool with SIMD kernels chosen from the CPU's features. It
 * implements the same Backend interface as the reference backend and passes the same op-level and
 * model tests. The numeric codes of formats, kernel sets and activations are the addon's own
 * (`addon.constants`); the addon's errors arrive as FugakuErrors (native-addon.ts).
 */
import { FugakuError } from '../errors.js';
import { ACTIVATIONS, type ActivationName } from '../tensor/activations.js';
import { isQuantType } from '../tensor/quant.js';
import { checkTokenIds, matrixDims, type AttentionArgs, type Backend, type Matrix, type MatrixFormat, type MatrixLayout, type Tensor, type WeightTensor } from './backend.js';
import { HostBackend } from './host.js';
import { physicalCores } from './cpu.js';
import { loadNativeAddon, type NativeAddon, type NativeConstants, type NativeContext, type NativeMatrix } from './native-addon.js';

/** Activations computed natively, by the addon's name for them (others fall back to the TypeScript definitions). */
const NATIVE_ACTIVATION: Partial<Record<ActivationName, keyof NativeConstants['activations']>> = {
  gelu: 'gelu',
  gelu_python: 'gelu',
  gelu_new: 'gelu_tanh',
  gelu_pytorch_tanh: 'gelu_tanh',
  gelu_accurate: 'gelu_tanh',
  gelu_fast: 'gelu_fast',
  quick_gelu: 'quick_gelu',
  relu: 'relu',
  silu: 'silu',
  swish: 'silu',
};

export type SimdChoice = 'auto' | 'amx' | 'avx512' | 'avxvnni' | 'avx2' | 'neon' | 'portable';
export const SIMD_CHOICES: readonly SimdChoice[] = ['auto', 'amx', 'avx512', 'avxvnni', 'avx2', 'neon', 'portable'];
/** The kernel sets of the addon. */
export type KernelSet = 'amx' | 'avx512' | 'avxvnni' | 'avx2' | 'neon' | 'portable';

type CpuFeatures = ReturnType<NativeAddon['cpuFeatures']>;
/** The kernel sets this CPU can run, best first (the addon checks the same features again). */
export function availableKernels(f: CpuFeatures): KernelSet[] {
  const avx2 = f.x86 && !!f.avx2 && !!f.fma && !!f.f16c;
  const avx512 = avx2 && !!f.avx512f && !!f.avx512bw && !!f.avx512vl && !!f.avx512vnni;
  const avxvnni = avx2 && !!f.avxvnni;
  // The addon reports amx only where the CPU has AMX-INT8 and the OS granted the tile state.
  const amx = avx512 && !!f.amx;
  // Every AArch64 CPU has NEON; the addon uses DotProd's sdot for the quantized products where f.dotprod.
  const neon = !!f.aarch64;
  return [
    ...(amx ? ['amx' as const] : []),
    ...(avx512 ? ['avx512' as const] : []),
    ...(avxvnni ? ['avxvnni' as const] : []),
    ...(avx2 ? ['avx2' as const] : []),
    ...(neon ? ['neon' as const] : []),
    'portable',
  ];
}
const NEEDS: Record<Exclude<KernelSet, 'portable'>, string> = {
  amx: 'AMX-INT8 and the OS tile state (Linux 5.16 or later) on top of AVX-512 F, BW, VL and VNNI',
  avx512: 'AVX-512 F, BW, VL and VNNI (with AVX2, FMA, F16C)',
  avxvnni: 'AVX-VNNI (with AVX2, FMA, F16C)',
  avx2: 'AVX2, FMA and F16C',
  neon: 'a 64-bit Arm CPU (AArch64 NEON)',
};

export interface NativeBackendOptions {
  /** Threads of the pool (default: physical cores). */
  threads?: number;
  /** Kernel set: 'auto' picks the best the CPU has (AMX, else AVX-512 VNNI, else AVX-VNNI, else AVX2/FMA/F16C, Arm NEON (with DotProd where present), else portable C++). */
  simd?: SimdChoice;
  /** An addon from loadNativeAddon (default: build/Release/fugaku.node). */
  addon?: NativeAddon;
}

interface NativeMatrixHandle extends Matrix {
  readonly handle: NativeMatrix;
}

/** The source formats the addon converts from (to any float format, Q8_0 or Q4_0). */
const FLOAT_SOURCES: ReadonlySet<string> = new Set(['F32', 'BF16', 'F16']);

export class NativeBackend extends HostBackend implements Backend {
  readonly name = 'native';
  readonly weightMemory = 'host';
  readonly threads: number;
  /**
   * The kernels in use: 'amx' (the avx512 set, with AMX-INT8 tiles for quantized products of 8 or more
   * activation rows), 'avx512' (AVX-512 VNNI weight products, AVX2 for the rest), 'avxvnni' (256-bit VNNI
   * quantized products, AVX2 for the rest), 'avx2', 'neon' (64-bit Arm: NEON throughout, DotProd's sdot
   * for the quantized products where the CPU has it) or 'portable'.
   */
  readonly kernels: KernelSet;
  private readonly ctx: NativeContext;

  private constructor(private readonly addon: NativeAddon, threads: number, simd: SimdChoice) {
    super();
    const have = availableKernels(addon.cpuFeatures());
    if (!SIMD_CHOICES.includes(simd)) {
      throw new FugakuError('INVALID_ARGUMENT', `unknown kernel set ${JSON.stringify(simd)}`, `use one of ${SIMD_CHOICES.join(', ')}`);
    }
    if (simd !== 'auto' && !have.includes(simd)) {
      throw new FugakuError('BACKEND_UNAVAILABLE', `the ${simd} kernels need a CPU with ${NEEDS[simd as Exclude<KernelSet, 'portable'>]}`, `this CPU runs ${have.join(', ')}; use 'auto' to pick the best`);
    }
    this.kernels = simd === 'auto' ? have[0] : simd;
    this.threads = threads;
    this.ctx = addon.createContext(threads, addon.constants.levels[this.kernels]);
  }

  /** Creates the backend, or throws BACKEND_UNAVAILABLE saying why the addon cannot be used. */
  static create(opts: NativeBackendOptions = {}): NativeBackend {
    const threads = opts.threads ?? physicalCores();
    if (!Number.isInteger(threads) || threads < 1 || threads > 256) {
      throw new FugakuError('INVALID_ARGUMENT', `threads must be an integer from 1 to 256, got ${threads}`, `this machine has ${physicalCores()} physical cores`);
    }
    let addon = opts.addon;
    if (!addon) {
      const r = loadNativeAddon();
      if (!r.ok) throw new FugakuError('BACKEND_UNAVAILABLE', `the native backend is not available: ${r.reason}`, 'rebuild it with `npm rebuild fugaku-llm` (needs a C++ compiler and Python for node-gyp), or use the reference backend');
      addon = r.addon;
    }
    return new NativeBackend(addon, threads, opts.simd ?? 'auto');
  }

  loadMatrix(w: WeightTensor, layout: MatrixLayout, format?: MatrixFormat): Matrix {
    const { inDim, outDim, target } = matrixDims(this.name, w, layout, format);
    // Q8_0/Q4_0 and ggml's other block types load only from blocks of their own type (no requantization);
    // float weights convert to a float format, Q8_0 or Q4_0, not to the other block types.
    const convertible = FLOAT_SOURCES.has(w.dtype) && (FLOAT_SOURCES.has(target) || isQuantType(target));
    if (target !== w.dtype && !convertible) {
      throw new FugakuError('DTYPE_UNSUPPORTED', `a ${w.dtype} weight cannot be converted to ${target}`, `load it as ${w.dtype.toLowerCase()} (the format it is stored in)`);
    }
    const formats = this.addon.constants.formats;
    const handle = this.addon.loadMatrix(this.ctx, formats[w.dtype], w.data, inDim, outDim, layout === 'in_out', formats[target]);
    const m: NativeMatrixHandle = { backend: this.name, inDim, outDim, format: target, byteSize: this.addon.matrixBytes(handle), handle };
    return m;
  }

  private own(w: Matrix): NativeMatrixHandle {
    if (w.backend !== this.name) throw new FugakuError('INTERNAL', `matrix belongs to backend ${w.backend}, not ${this.name}`);
    return w as NativeMatrixHandle;
  }

  matmul(x: Tensor, rows: number, w: Matrix, bias: Tensor | null, out: Tensor): void {
    if (rows === 0) return;
    this.addon.matmul(this.ctx, this.own(w).handle, this.f32(x), rows, bias === null ? null : this.f32(bias), this.f32(out));
  }

  embedding(w: Matrix, ids: Int32Array, out: Tensor): void {
    const m = this.own(w);
    checkTokenIds(ids, m.outDim);
    this.addon.embedding(this.ctx, m.handle, ids, this.f32(out));
  }

  layerNorm(x: Tensor, rows: number, dim: number, gamma: Tensor, beta: Tensor, eps: number, out: Tensor): void {
    if (rows === 0) return;
    this.addon.layerNorm(this.ctx, this.f32(x), rows, dim, this.f32(gamma), this.f32(beta), eps, this.f32(out));
  }

  activation(name: ActivationName, xt: Tensor, n: number): void {
    const x = this.f32(xt);
    const kind = NATIVE_ACTIVATION[name];
    if (kind !== undefined) {
      this.addon.activation(this.ctx, this.addon.constants.activations[kind], x, n);
      return;
    }
    const f = ACTIVATIONS[name];
    for (let i = 0; i < n; i++) x[i] = f(x[i]);
  }

  attention(a: AttentionArgs): void {
    const width = a.nHead * a.headDim;
    const q = this.f32(a.q).subarray(a.qOffset, a.qOffset + a.t * width);
    const out = this.f32(a.out).subarray(a.outOffset, a.outOffset + a.t * width);
    this.addon.attention(this.ctx, q, a.t, this.host(a.kCache), this.host(a.vCache), a.past, a.nHead, a.headDim, a.scale, a.keyMask, out);
  }

  /** Memory bandwidth (GB/s, STREAM triad counting) measured with this backend's threads. */
  streamTriad(floats = 64 * 2 ** 20, reps = 5): number {
    return this.addon.streamTriad(this.ctx, floats, reps);
  }

  /** Read-only memory bandwidth (GB/s): the ceiling of a GEMV, which only reads its weights. */
  streamRead(floats = 64 * 2 ** 20, reps = 5): number {
    return this.addon.streamRead(this.ctx, floats, reps);
  }

  copyRows(srcT: Tensor, srcOff: number, dstT: Tensor, dstOff: number, n: number, rows = 1, srcStride = n): void {
    const src = this.host(srcT);
    const dst = this.host(dstT);
    if (src instanceof Uint16Array) return this.copyHalfRows(src, srcOff, dst, dstOff, n, rows, srcStride);
    this.addon.storeRows(this.ctx, src, srcOff, srcStride, dst, dstOff, n, rows);
  }

  addInPlace(a: Tensor, b: Tensor, n: number): void {
    this.addon.addInPlace(this.ctx, this.f32(a), this.f32(b), n);
  }
}
