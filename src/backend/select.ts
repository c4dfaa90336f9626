/**
 * Chooses the compute backend: 'webgpu' (the GPU through WebGPU; any adapter, software rasterizers
 * included), 'native' (the addon; fails if it is missing), 'reference' (plain TypeScript), or 'auto':
 * WebGPU where a hardware adapter exists, else native when it loads, else the reference backend with one
 * warning. The choice is told in one line (`log`).
 */
import { FugakuError, isFugakuError } from '../errors.js';
import type { Backend } from './backend.js';
import { NativeBackend, SIMD_CHOICES, type SimdChoice } from './native.js';
import { ReferenceBackend } from './reference.js';
import { WebGPUBackend } from './webgpu/webgpu.js';
import { vulkanLoaderPresent } from './webgpu/device.js';

export { SIMD_CHOICES, type SimdChoice };

export type BackendName = 'auto' | 'webgpu' | 'native' | 'reference';
export const BACKEND_NAMES: readonly BackendName[] = ['auto', 'webgpu', 'native', 'reference'];

export interface BackendChoice {
  backend?: BackendName;
  /** Threads for the native backend (default: physical cores). */
  threads?: number;
  /** Kernel set of the native backend (default 'auto': the best the CPU has). */
  simd?: SimdChoice;
  /** Whether 'auto' may pick a GPU (default true). */
  gpu?: boolean;
  /** Told once when 'auto' falls back to the reference backend (default: process.emitWarning). */
  warn?: (message: string) => void;
  /** Told which GPU adapter the WebGPU backend uses, in one line. */
  log?: (message: string) => void;
  /** Environment (FUGAKU_VULKAN_DIR) for the WebGPU backend (default process.env). */
  env?: NodeJS.ProcessEnv;
}

export async function createBackend(choice: BackendChoice = {}): Promise<Backend> {
  const name = choice.backend ?? 'auto';
  if (!BACKEND_NAMES.includes(name)) {
    throw new FugakuError('INVALID_ARGUMENT', `unknown backend ${JSON.stringify(name)}`, `use one of ${BACKEND_NAMES.join(', ')}`);
  }
  if (name === 'reference') return new ReferenceBackend();
  if (name === 'webgpu') {
    const gpu = await WebGPUBackend.create({ env: choice.env });
    choice.log?.(`WebGPU adapter: ${gpu.adapterLine}`);
    return gpu;
  }
  const explicitKernels = choice.simd !== undefined && choice.simd !== 'auto';
  const env = choice.env ?? process.env;
  if (name === 'auto' && choice.gpu !== false && !explicitKernels && (env.FUGAKU_VULKAN_DIR || vulkanLoaderPresent(env))) {
    try {
      const gpu = await WebGPUBackend.create({ adapter: 'hardware', env });
      choice.log?.(`WebGPU adapter: ${gpu.adapterLine}`);
      return gpu;
    } catch (e) {
      if (!isFugakuError(e) || e.code !== 'BACKEND_UNAVAILABLE') throw e;
      // No hardware adapter: the CPU backends below.
    }
  }
  try {
    return NativeBackend.create({ threads: choice.threads, simd: choice.simd });
  } catch (e) {
    // An explicit kernel set the CPU lacks is the caller's error, not a reason to run 100× slower.
    if (name === 'native' || explicitKernels || !isFugakuError(e) || e.code !== 'BACKEND_UNAVAILABLE') throw e;
    const warn = choice.warn ?? ((m: string) => process.emitWarning(m, { code: 'FUGAKU_NATIVE_UNAVAILABLE' }));
    warn(`${e.message}; using the reference backend (correct but much slower). ${e.hint ?? ''}`.trim());
    return new ReferenceBackend();
  }
}
