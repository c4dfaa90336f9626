/**
 * The backends the op tests (backend-ops.test.ts) and the model goldens (model-golden.test.ts,
 * generate-golden.test.ts) run, in the spirit of llama.cpp's test-backend-ops: the reference
 * backend (the executable specification) and every other backend and kernel set present on this
 * machine. A new backend is one entry in `candidates` below; the tests then check every op and every
 * golden on it. What is not present is listed with the reason, and the tests print both lists.
 */
import type { Backend } from '../src/backend/backend.js';
import { loadNativeAddon } from '../src/backend/native-addon.js';
import { NativeBackend, SIMD_CHOICES, availableKernels, type KernelSet } from '../src/backend/native.js';
import { ReferenceBackend } from '../src/backend/reference.js';
import { WebGPUBackend } from '../src/backend/webgpu/webgpu.js';
import { softwareVulkanDir } from './software-gpu.js';

export interface BackendEntry {
  /** As the tests name it: 'reference', 'native avx2', … */
  readonly name: string;
  /** The reference backend, which every other entry is compared with. */
  readonly isSpec: boolean;
  /** Thread counts the op tests run it at (the results must not depend on them). */
  readonly threadCounts: readonly number[];
  /** A new backend instance (a GPU backend opens its device, so this is async). */
  create(opts?: { threads?: number }): Promise<Backend>;
  /** Computes directly on bf16/f16 storage (and quantized formats), so goldens run with dtype 'auto' too. */
  readonly computesStorage: boolean;
}

export interface AbsentBackend {
  readonly name: string;
  readonly reason: string;
}

export interface BackendRegistry {
  /** The reference backend first, then the others in the order a user would get them (best first). */
  readonly present: readonly BackendEntry[];
  readonly absent: readonly AbsentBackend[];
  readonly spec: BackendEntry;
  /** Every present entry but the specification. */
  readonly accelerated: readonly BackendEntry[];
  /** One line for the test output: which backends ran and which could not, and why. */
  describe(): string;
}

const reference: BackendEntry = {
  name: 'reference',
  isSpec: true,
  threadCounts: [1],
  create: async () => new ReferenceBackend(),
  computesStorage: false,
};

function nativeEntries(): { present: BackendEntry[]; absent: AbsentBackend[] } {
  const addon = loadNativeAddon();
  const all = SIMD_CHOICES.filter((s): s is KernelSet => s !== 'auto');
  if (!addon.ok) return { present: [], absent: all.map((k) => ({ name: `native ${k}`, reason: `the native addon did not load: ${addon.reason}` })) };
  const have = availableKernels(addon.addon.cpuFeatures());
  const present = have.map((simd): BackendEntry => ({
    name: `native ${simd}`,
    isSpec: false,
    threadCounts: [1, 3],
    create: async (o = {}) => NativeBackend.create({ simd, threads: o.threads }),
    computesStorage: true,
  }));
  const arch = process.arch;
  const absent = all.filter((k) => !have.includes(k)).map((k) => ({
    name: `native ${k}`,
    reason: k === 'neon' ? `this is ${arch}, not AArch64` : arch !== 'x64' ? `this is ${arch}, not x86-64` : `this CPU lacks the ${k} instructions`,
  }));
  return { present, absent };
}

/**
 * The WebGPU backend, always present: on Linux x64 on SwiftShader from npm (test/software-gpu.ts) unless
 * FUGAKU_VULKAN_DIR names another driver or FUGAKU_TEST_GPU=system asks for the machine's adapter. If no
 * adapter can be opened, creating it fails with what to install, and so do the tests that use it.
 */
function webgpuEntries(): { present: BackendEntry[]; absent: AbsentBackend[] } {
  const vulkanDir = softwareVulkanDir() ?? undefined;
  return {
    present: [{
      name: 'webgpu',
      isSpec: false,
      threadCounts: [1],
      create: () => WebGPUBackend.create({ vulkanDir }),
      computesStorage: true,
    }],
    absent: [],
  };
}

/** Every backend to test, and the ones this machine cannot run. */
export function backendRegistry(): BackendRegistry {
  // Each candidate family lists what it can run here. A new backend adds its function here.
  const candidates = [nativeEntries, webgpuEntries];
  const present: BackendEntry[] = [reference];
  const absent: AbsentBackend[] = [];
  for (const c of candidates) {
    const r = c();
    present.push(...r.present);
    absent.push(...r.absent);
  }
  return {
    present,
    absent,
    spec: reference,
    accelerated: present.filter((e) => !e.isSpec),
    describe: () =>
      `backends tested: ${present.map((e) => e.name).join(', ')}` +
      (absent.length > 0 ? `; not on this machine: ${absent.map((a) => `${a.name} (${a.reason})`).join(', ')}` : ''),
  };
}
