/**
 * Chooses the compute backend: 'native' (the addon; fails if it is missing), 'reference' (plain
 * TypeScript), or 'auto' (native when it loads, else the reference backend with one warning).
 */
import { FugakuError, isFugakuError } from '../errors.js';
import type { Backend } from './backend.js';
import { NativeBackend, SIMD_CHOICES, type SimdChoice } from './native.js';
import { ReferenceBackend } from './reference.js';

export { SIMD_CHOICES, type SimdChoice };

export type BackendName = 'auto' | 'native' | 'reference';
export const BACKEND_NAMES: readonly BackendName[] = ['auto', 'native', 'reference'];

export interface BackendChoice {
  backend?: BackendName;
  /** Threads for the native backend (default: physical cores). */
  threads?: number;
  /** Kernel set of the native backend (default 'auto': the best the CPU has). */
  simd?: SimdChoice;
  /** Told once when 'auto' falls back to the reference backend (default: process.emitWarning). */
  warn?: (message: string) => void;
}

export function createBackend(choice: BackendChoice = {}): Backend {
  const name = choice.backend ?? 'auto';
  if (!BACKEND_NAMES.includes(name)) {
    throw new FugakuError('INVALID_ARGUMENT', `unknown backend ${JSON.stringify(name)}`, `use one of ${BACKEND_NAMES.join(', ')}`);
  }
  if (name === 'reference') return new ReferenceBackend();
  try {
    return NativeBackend.create({ threads: choice.threads, simd: choice.simd });
  } catch (e) {
    // An explicit kernel set the CPU lacks is the caller's error, not a reason to run 100× slower.
    const explicitKernels = choice.simd !== undefined && choice.simd !== 'auto';
    if (name === 'native' || explicitKernels || !isFugakuError(e) || e.code !== 'BACKEND_UNAVAILABLE') throw e;
    const warn = choice.warn ?? ((m: string) => process.emitWarning(m, { code: 'FUGAKU_NATIVE_UNAVAILABLE' }));
    warn(`${e.message}; using the reference backend (correct but much slower). ${e.hint ?? ''}`.trim());
    return new ReferenceBackend();
  }
}
