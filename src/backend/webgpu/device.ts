/// <reference types="@webgpu/types" />
/**
 * Finding a WebGPU adapter in Node: Dawn's binding (the npm package `webgpu`), over Vulkan on Linux and
 * Windows, Metal on macOS, D3D12 on Windows. A software Vulkan driver (SwiftShader, Mesa lavapipe) can be
 * named with FUGAKU_VULKAN_DIR (or the `vulkanDir` option): a folder with a Vulkan loader
 * (libvulkan.so.1) and an ICD JSON, which is loaded into this process before Dawn looks for Vulkan.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { constants as osConstants } from 'node:os';
import { createRequire } from 'node:module';
import { FugakuError } from '../../errors.js';

export interface WebGPUOpenOptions {
  /** Which adapter: 'auto' (a hardware one if any, else a software one), 'hardware' (refuse software rasterizers), 'software'. */
  adapter?: 'auto' | 'hardware' | 'software';
  /** A folder with a Vulkan loader (libvulkan.so.1) and a driver's ICD JSON (default: $FUGAKU_VULKAN_DIR). */
  vulkanDir?: string;
  /** The environment to read FUGAKU_VULKAN_DIR from (default process.env). */
  env?: NodeJS.ProcessEnv;
}

export interface AdapterDescription {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** A CPU rasterizer (SwiftShader, lavapipe/llvmpipe, WARP): correct but slow. */
  software: boolean;
  features: string[];
}

export interface OpenedDevice {
  /**
   * Dawn's instance and adapter. Hold them as long as the device: if the garbage collector takes the
   * instance, Dawn tears it down under the live device and the process crashes (seen with SwiftShader).
   */
  keepAlive: readonly unknown[];
  device: GPUDevice;
  adapter: AdapterDescription;
  usage: { storage: number; uniform: number; copySrc: number; copyDst: number; mapRead: number };
  mapRead: number;
}

/** The lines that say what to install when no adapter is found. */
export const INSTALL_HINT =
  'install a GPU driver with Vulkan (Linux: the vendor driver, or Mesa\'s mesa-vulkan-drivers ≥ 24; Windows: a D3D12/Vulkan driver; macOS: built in), ' +
  'or point FUGAKU_VULKAN_DIR at a folder with a software Vulkan (libvulkan.so.1 + an ICD JSON, e.g. SwiftShader)';

const RTLD_NODELETE = 0x1000; // glibc: keep the library loaded although process.dlopen finds no Node module in it

/** Loads the Vulkan loader of `dir` into the process so Dawn's dlopen("libvulkan.so.1") finds it, and names its ICD. */
function preloadVulkan(dir: string): void {
  const lib = path.join(dir, 'libvulkan.so.1');
  if (!fs.existsSync(lib)) throw new FugakuError('BACKEND_UNAVAILABLE', `FUGAKU_VULKAN_DIR ${dir} has no libvulkan.so.1`, 'point it at a folder with a Vulkan loader and an ICD JSON');
  if (process.env.VK_ICD_FILENAMES === undefined && process.env.VK_DRIVER_FILES === undefined) {
    const icd = fs.readdirSync(dir).find((f) => f.endsWith('.json'));
    if (icd) process.env.VK_ICD_FILENAMES = path.join(dir, icd);
  }
  try {
    process.dlopen({ exports: {} } as NodeJS.Module, lib, osConstants.dlopen.RTLD_NOW | osConstants.dlopen.RTLD_GLOBAL | RTLD_NODELETE);
  } catch (e) {
    // Expected: the loader is not a Node addon ("did not self-register"); it stays loaded (RTLD_NODELETE).
    if (!/self-register|Module did not/.test(String((e as Error).message))) {
      throw new FugakuError('BACKEND_UNAVAILABLE', `cannot load the Vulkan loader ${lib}: ${(e as Error).message}`, 'check that the folder holds a Vulkan loader for this machine');
    }
  }
}

/** True where a Vulkan loader can be found on Linux (Dawn prints a warning when it cannot). */
export function vulkanLoaderPresent(env: NodeJS.ProcessEnv = process.env): boolean {
  if (process.platform !== 'linux') return true;
  const dirs = [
    ...(env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean),
    '/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/lib/x86_64-linux-gnu', '/lib/aarch64-linux-gnu',
    '/usr/lib64', '/usr/lib', '/lib64', '/lib', '/usr/local/lib',
  ];
  return dirs.some((d) => fs.existsSync(path.join(d, 'libvulkan.so.1')));
}

function isSoftware(info: GPUAdapterInfo): boolean {
  const text = `${info.vendor} ${info.architecture} ${info.device} ${info.description}`;
  return /swiftshader|llvmpipe|lavapipe|softpipe|warp|microsoft basic render/i.test(text) || (info as { isFallbackAdapter?: boolean }).isFallbackAdapter === true;
}

interface DawnModule {
  create(flags: string[]): GPU;
  globals: Record<string, unknown>;
}

/** Opens the GPU: adapter, then a device with the adapter's largest buffer limits. */
export async function openWebGPU(opts: WebGPUOpenOptions = {}): Promise<OpenedDevice> {
  const env = opts.env ?? process.env;
  const dir = opts.vulkanDir ?? env.FUGAKU_VULKAN_DIR;
  if (dir) preloadVulkan(path.resolve(dir));
  let dawn: DawnModule;
  try {
    dawn = createRequire(import.meta.url)('webgpu') as DawnModule;
  } catch (e) {
    throw new FugakuError('BACKEND_UNAVAILABLE', `the WebGPU backend needs the npm package webgpu (Dawn), which did not load: ${(e as Error).message}`, 'reinstall: npm install webgpu@0.6.2', { cause: e });
  }
  if (!dir && !vulkanLoaderPresent(env)) {
    throw new FugakuError('BACKEND_UNAVAILABLE', 'no Vulkan loader (libvulkan.so.1) on this machine, so WebGPU has no adapter', INSTALL_HINT);
  }
  const gpu = dawn.create([]);
  const want = opts.adapter ?? 'auto';
  let adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (adapter && want === 'software' && !isSoftware(adapter.info)) adapter = await gpu.requestAdapter({ forceFallbackAdapter: true });
  if (!adapter) throw new FugakuError('BACKEND_UNAVAILABLE', 'WebGPU found no adapter', INSTALL_HINT);
  const info = adapter.info;
  const description: AdapterDescription = {
    vendor: info.vendor,
    architecture: info.architecture,
    device: info.device,
    description: info.description,
    software: isSoftware(info),
    features: [...adapter.features].map(String).sort(),
  };
  if (want === 'hardware' && description.software) {
    throw new FugakuError('BACKEND_UNAVAILABLE', `the only WebGPU adapter is a software rasterizer (${description.description || description.architecture})`, INSTALL_HINT);
  }
  const l = adapter.limits;
  const device = await adapter.requestDevice({
    requiredLimits: {
      maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
      maxBufferSize: l.maxBufferSize,
      maxStorageBuffersPerShaderStage: Math.min(l.maxStorageBuffersPerShaderStage, 10),
      maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
    },
  });
  const g = dawn.globals as { GPUBufferUsage: Record<string, number>; GPUMapMode: Record<string, number> };
  return {
    keepAlive: [gpu, adapter],
    device,
    adapter: description,
    usage: {
      storage: g.GPUBufferUsage.STORAGE,
      uniform: g.GPUBufferUsage.UNIFORM,
      copySrc: g.GPUBufferUsage.COPY_SRC,
      copyDst: g.GPUBufferUsage.COPY_DST,
      mapRead: g.GPUBufferUsage.MAP_READ,
    },
    mapRead: g.GPUMapMode.READ,
  };
}

/** One line naming the adapter, for logs: "NVIDIA H200 (nvidia hopper, Vulkan)". */
export function describeAdapter(a: AdapterDescription): string {
  const name = a.description || a.device || a.architecture || 'unknown adapter';
  return `${name} (${[a.vendor, a.architecture].filter(Boolean).join(' ')}${a.software ? ', software rasterizer' : ''})`;
}
