/// <reference types="@webgpu/types" />
/**
 * The GPU backend, on WebGPU (Dawn's Node binding, npm `webgpu`). It owns its data: weights, activations,
 * the residual stream and the KV caches are GPU buffers, and ops are recorded into one compute pass per
 * submission (a forward step is a few submissions); only `read`/`argmax` bring numbers back. Kernels are in
 * ./wgsl.ts. Weights stay in the format they are loaded in (bf16 as stored, f16, f32; Q8_0/Q4_0 blocks with
 * their f16 scales split from the quants so every load is a whole word; the other ggml block types as their
 * raw GGUF bytes, see ./wgsl-ggml.ts), and a decode GEMV reads each
 * weight byte once per step for the whole batch.
 *
 * Ordering: queue.writeBuffer runs before any command buffer submitted after it, so the per-dispatch
 * parameters of one submission live in one "arena" buffer written just before that submission, each
 * dispatch in its own slot; host writes to tensors flush the pending commands first. Freed buffers are
 * destroyed after the submission that last used them.
 */
import { FugakuError } from '../../errors.js';
import { convertStorage, DTYPE_BYTES, f16ToF32, type StorageArray, type StorageDType } from '../../tensor/dtype.js';
import type { ActivationName } from '../../tensor/activations.js';
import { QUANT_BLOCK_BYTES, dequantizeRow, isQuantType, quantRowBytes, quantizeMatrix, type QuantType } from '../../tensor/quant.js';
import { blockFormatUnsupported, checkRange, checkTokenIds, matrixDims, type AttentionArgs, type Backend, type Matrix, type MatrixFormat, type MatrixLayout, type Tensor, type TensorDType, type WeightTensor } from '../backend.js';
import { describeAdapter, openWebGPU, type AdapterDescription, type OpenedDevice, type WebGPUOpenOptions } from './device.js';
import * as K from './wgsl.js';
import * as G from './wgsl-ggml.js';

export interface WebGPUBackendOptions extends WebGPUOpenOptions {
  /**
   * The decode GEMV of float matrices: 'splitk' (a GPU: lanes along the outputs, the input split over
   * workgroups, partial sums added after), 'direct' (one invocation per 8 outputs over the whole input, no
   * barriers: what a software rasterizer runs fastest), or 'auto' (direct on software adapters).
   */
  gemv?: 'auto' | 'direct' | 'splitk';
}

class GpuTensor implements Tensor {
  readonly backend = 'webgpu';
  freed = false;
  constructor(
    readonly buffer: GPUBuffer,
    readonly dtype: TensorDType,
    readonly length: number,
  ) {}
}

interface GpuMatrix extends Matrix {
  readonly buffer: GPUBuffer;
  readonly layout: MatrixLayout;
  readonly dtype: MatrixFormat;
  /** Word offset of the quantized values (after the f16 scales) of a Q8_0/Q4_0 matrix; bytes per row of a ggml block-format matrix. */
  readonly qbase: number;
}

type Binding = GPUBuffer | { buffer: GPUBuffer; offset: number; size: number };

const ARENA_BYTES = 4 << 20;
const SLOT = 256; // ≥ minUniformBufferOffsetAlignment and minStorageBufferOffsetAlignment on every adapter
const PARAM_WORDS = 16;

function align(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

export class WebGPUBackend implements Backend {
  readonly name = 'webgpu';
  /** Weights go to GPU memory: the host only streams them (26 GB of bf16 load on a 24 GiB machine). */
  readonly weightMemory = 'device';
  /** The adapter in use, as one line. */
  readonly adapterLine: string;
  private readonly device: GPUDevice;
  private readonly queue: GPUQueue;
  private readonly usage: OpenedDevice['usage'];
  private readonly mapReadMode: number;
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  private readonly arena: GPUBuffer;
  private readonly arenaHost = new Uint32Array(ARENA_BYTES / 4);
  private arenaUsed = 0;
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private dead: GPUBuffer[] = [];
  private readonly dummy: GPUBuffer;
  private scratchQ: GPUBuffer | null = null;
  private scratchPart: GPUBuffer | null = null;
  private scratchXQ: GPUBuffer | null = null;
  private scratchXD: GPUBuffer | null = null;
  private scratchXS: GPUBuffer | null = null;
  /** ggml's grids (IQ types), uploaded at the first matrix that needs them. */
  private grids: GPUBuffer | null = null;
  private deviceError: string | null = null;
  private readonly bits = new DataView(new ArrayBuffer(4));
  private readonly keepAlive: readonly unknown[];
  readonly maxBinding: number;

  private constructor(
    opened: OpenedDevice,
    /** The decode GEMV of float matrices in use (see WebGPUBackendOptions.gemv). */
    readonly gemv: 'direct' | 'splitk',
  ) {
    this.keepAlive = opened.keepAlive;
    this.device = opened.device;
    this.queue = opened.device.queue;
    this.usage = opened.usage;
    this.mapReadMode = opened.mapRead;
    this.adapter = opened.adapter;
    this.adapterLine = describeAdapter(opened.adapter);
    this.maxBinding = opened.device.limits.maxStorageBufferBindingSize;
    const u = this.usage;
    this.arena = this.device.createBuffer({ size: ARENA_BYTES, usage: u.storage | u.uniform | u.copyDst });
    this.dummy = this.device.createBuffer({ size: 16, usage: u.storage });
    this.device.addEventListener('uncapturederror', (ev) => {
      this.deviceError ??= String((ev as GPUUncapturedErrorEvent).error.message);
    });
    void this.device.lost.then((info) => {
      this.deviceError ??= `the GPU device was lost: ${info.message}`;
    });
  }

  /** The adapter: vendor, architecture, whether it is a software rasterizer, its features. */
  readonly adapter: AdapterDescription;

  /** Opens the adapter and device, or throws BACKEND_UNAVAILABLE saying what to install. */
  static async create(opts: WebGPUBackendOptions = {}): Promise<WebGPUBackend> {
    const opened = await openWebGPU(opts);
    const gemv = opts.gemv ?? 'auto';
    return new WebGPUBackend(opened, gemv === 'auto' ? (opened.adapter.software ? 'direct' : 'splitk') : gemv);
  }

  // ---- buffers and submission -------------------------------------------------------------------

  private checkDevice(): void {
    if (this.deviceError === null) return;
    if (/OUT_OF_DEVICE_MEMORY|OUT_OF_HOST_MEMORY|out of memory/i.test(this.deviceError)) {
      throw new FugakuError('INSUFFICIENT_MEMORY', `WebGPU: the GPU ran out of memory (${this.deviceError.split('\n')[0]})`, 'use a smaller weight format (--dtype q8_0 or q4_0), a shorter context, or --backend native');
    }
    throw new FugakuError('INTERNAL', `WebGPU: ${this.deviceError}`, 'this is a bug in the WebGPU backend or the driver; run with --backend native meanwhile');
  }

  private createBuffer(bytes: number, extra = 0): GPUBuffer {
    const u = this.usage;
    if (bytes > this.maxBinding) {
      throw new FugakuError('INSUFFICIENT_MEMORY', `a GPU buffer of ${(bytes / 2 ** 20).toFixed(0)} MiB exceeds this adapter's largest binding (${(this.maxBinding / 2 ** 20).toFixed(0)} MiB)`, 'use a smaller weight format (--dtype bf16, q8_0 or q4_0)');
    }
    return this.device.createBuffer({ size: Math.max(16, align(bytes, 16)), usage: u.storage | u.copySrc | u.copyDst | extra });
  }

  private own(t: Tensor): GpuTensor {
    if (!(t instanceof GpuTensor)) throw new FugakuError('INTERNAL', `tensor belongs to backend ${t.backend}, not webgpu`);
    if (t.freed) throw new FugakuError('INTERNAL', 'webgpu: this tensor was freed');
    return t;
  }

  private ownMatrix(w: Matrix): GpuMatrix {
    if (w.backend !== this.name) throw new FugakuError('INTERNAL', `matrix belongs to backend ${w.backend}, not ${this.name}`);
    return w as GpuMatrix;
  }

  /** Makes room in the arena for one op's parameters and data, submitting what is pending if it is full. */
  private reserve(bytes: number): void {
    if (this.arenaUsed + bytes > ARENA_BYTES) this.flush();
  }

  private arenaPut(words: ArrayLike<number>): { buffer: GPUBuffer; offset: number; size: number } {
    const offset = this.arenaUsed;
    this.arenaHost.set(words, offset / 4);
    const size = Math.max(16, align(words.length * 4, 16));
    this.arenaUsed = align(offset + size, SLOT);
    return { buffer: this.arena, offset, size };
  }

  private f32bits(x: number): number {
    this.bits.setFloat32(0, x, true);
    return this.bits.getUint32(0, true);
  }

  private pipeline(key: string, source: () => string): GPUComputePipeline {
    let p = this.pipelines.get(key);
    if (!p) {
      const module = this.device.createShaderModule({ code: source(), label: key });
      p = this.device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' }, label: key });
      this.pipelines.set(key, p);
    }
    return p;
  }

  private computePass(): GPUComputePassEncoder {
    this.encoder ??= this.device.createCommandEncoder();
    this.pass ??= this.encoder.beginComputePass();
    return this.pass;
  }

  private copyEncoder(): GPUCommandEncoder {
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
    this.encoder ??= this.device.createCommandEncoder();
    return this.encoder;
  }

  /** Records one dispatch: params (u32 words) in binding 0, then the buffers, in the order of the kernel's bindings. */
  private dispatch(key: string, source: () => string, params: number[], buffers: Binding[], groups: [number, number?, number?], data?: Uint32Array): void {
    this.checkDevice();
    this.reserve(SLOT + (data ? align(data.length * 4, SLOT) : 0));
    const pipe = this.pipeline(key, source);
    const words = new Array<number>(PARAM_WORDS).fill(0);
    params.forEach((v, i) => (words[i] = v >>> 0));
    const entries: GPUBindGroupEntry[] = [{ binding: 0, resource: { ...this.arenaPut(words), size: PARAM_WORDS * 4 } }];
    const dataBinding = data ? this.arenaPut(data) : null;
    buffers.forEach((b, i) => {
      const r = b === DATA ? dataBinding! : b instanceof Object && 'buffer' in b ? b : { buffer: b as GPUBuffer };
      entries.push({ binding: i + 1, resource: r as GPUBufferBinding });
    });
    const group = this.device.createBindGroup({ layout: pipe.getBindGroupLayout(0), entries });
    const pass = this.computePass();
    pass.setPipeline(pipe);
    pass.setBindGroup(0, group);
    pass.dispatchWorkgroups(groups[0], groups[1] ?? 1, groups[2] ?? 1);
  }

  /** A 1-D grid of n invocations in workgroups of 256, folded into two dimensions. */
  private grid(n: number): [number, number] {
    const g = Math.max(1, Math.ceil(n / 256));
    const x = Math.min(g, 65535);
    return [x, Math.ceil(g / x)];
  }

  private rowsGrid(n: number): [number, number] {
    const x = Math.min(Math.max(n, 1), 65535);
    return [x, Math.ceil(Math.max(n, 1) / x)];
  }

  /** Submits every recorded command (with the arena written first) and destroys the buffers freed before. */
  private flush(): void {
    if (this.encoder) {
      if (this.pass) {
        this.pass.end();
        this.pass = null;
      }
      if (this.arenaUsed > 0) this.queue.writeBuffer(this.arena, 0, this.arenaHost.buffer, 0, this.arenaUsed);
      this.queue.submit([this.encoder.finish()]);
      this.encoder = null;
      this.arenaUsed = 0;
    }
    for (const b of this.dead.splice(0)) b.destroy();
  }

  /** Resolves once the GPU has run everything queued so far (for timing). */
  async finish(): Promise<void> {
    this.flush();
    await this.queue.onSubmittedWorkDone();
    this.checkDevice();
  }

  /** A copy of a tensor's first n elements in a buffer freed after the next submission. */
  private snapshot(t: GpuTensor, n: number): GPUBuffer {
    const bytes = align(n * (t.dtype === 'f16' ? 2 : 4), 4);
    const b = this.createBuffer(bytes);
    this.copyEncoder().copyBufferToBuffer(t.buffer, 0, b, 0, bytes);
    this.dead.push(b);
    return b;
  }

  private scratch(which: 'scratchQ' | 'scratchPart' | 'scratchXQ' | 'scratchXD' | 'scratchXS', floats: number): GPUBuffer {
    const cur = this[which];
    if (cur && cur.size >= floats * 4) return cur;
    if (cur) this.dead.push(cur);
    const b = this.createBuffer(Math.max(floats * 4, cur ? cur.size * 2 : 0));
    this[which] = b;
    return b;
  }

  // ---- tensors ----------------------------------------------------------------------------------

  alloc(n: number, dtype: TensorDType = 'f32'): Tensor {
    if (!Number.isInteger(n) || n < 0) throw new FugakuError('INVALID_ARGUMENT', `tensor size must be a non-negative integer, got ${n}`);
    return new GpuTensor(this.createBuffer(n * (dtype === 'f16' ? 2 : 4)), dtype, n);
  }

  write(t: Tensor, data: Float32Array, offset = 0): void {
    const g = this.own(t);
    checkRange('write', offset, data.length, g.length);
    if (data.length === 0) return;
    this.flush(); // commands recorded before this write must not see it
    if (g.dtype === 'f32') {
      this.queue.writeBuffer(g.buffer, offset * 4, data.buffer, data.byteOffset, data.byteLength);
      return;
    }
    // f16: upload the floats, then round them on the GPU with the same conversion as the stores.
    const tmp = this.createBuffer(data.byteLength);
    this.queue.writeBuffer(tmp, 0, data.buffer, data.byteOffset, data.byteLength);
    this.copyInto({ buffer: tmp, dtype: 'f32' }, 0, g, offset, data.length, 1, data.length);
    this.dead.push(tmp);
  }

  async read(t: Tensor, offset = 0, n = t.length - offset): Promise<Float32Array> {
    const g = this.own(t);
    checkRange('read', offset, n, g.length);
    if (n === 0) return new Float32Array(0);
    const esz = g.dtype === 'f16' ? 2 : 4;
    const start = Math.floor((offset * esz) / 4) * 4;
    const end = align((offset + n) * esz, 4);
    const bytes = await this.readBytes(g.buffer, start, end - start);
    if (g.dtype === 'f32') return new Float32Array(bytes);
    const halves = new Uint16Array(bytes);
    const skip = offset - start / 2;
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = f16ToF32(halves[skip + i]);
    return out;
  }

  private async readBytes(src: GPUBuffer, offset: number, size: number): Promise<ArrayBuffer> {
    const staging = this.device.createBuffer({ size: align(size, 4), usage: this.usage.mapRead | this.usage.copyDst });
    this.copyEncoder().copyBufferToBuffer(src, offset, staging, 0, align(size, 4));
    this.flush();
    try {
      await staging.mapAsync(this.mapReadMode);
      this.checkDevice();
      return staging.getMappedRange().slice(0, size);
    } finally {
      staging.destroy();
    }
  }

  async argmax(x: Tensor, rows: number, cols: number): Promise<Int32Array> {
    const g = this.own(x);
    checkRange('argmax', 0, rows * cols, g.length);
    if (rows === 0) return new Int32Array(0);
    const out = this.createBuffer(rows * 4);
    this.dispatch('argmax', () => K.ARGMAX, [cols], [g.buffer, out], [rows]);
    const bytes = await this.readBytes(out, 0, rows * 4);
    this.dead.push(out);
    return new Int32Array(bytes);
  }

  free(t: Tensor): void {
    const g = this.own(t);
    g.freed = true;
    this.dead.push(g.buffer);
  }

  // ---- weights ----------------------------------------------------------------------------------

  loadMatrix(w: WeightTensor, layout: MatrixLayout, format?: MatrixFormat): Matrix {
    if (G.isGpuBlockType(w.dtype)) return this.loadBlockMatrix(w, layout, format);
    const { inDim, outDim, target } = matrixDims(this.name, w, layout, format);
    for (const f of [w.dtype, target]) if (f !== 'F32' && f !== 'BF16' && f !== 'F16' && !isQuantType(f)) throw blockFormatUnsupported(this.name, f);
    if (isQuantType(target)) {
      let blocks: Uint8Array;
      if (isQuantType(w.dtype)) {
        if (w.dtype !== target) throw new FugakuError('DTYPE_UNSUPPORTED', `a ${w.dtype} weight cannot be converted to ${target}`, `load it as ${w.dtype.toLowerCase()} (the format it is stored in)`);
        if (layout !== 'out_in') throw new FugakuError('INTERNAL', 'quantized weights are stored [out, in]');
        blocks = w.data as Uint8Array;
        if (blocks.length !== quantRowBytes(target, inDim) * outDim) {
          throw new FugakuError('TENSOR_SHAPE_MISMATCH', `${target} matrix [${outDim}, ${inDim}] needs ${quantRowBytes(target, inDim) * outDim} bytes, got ${blocks.length}`, 'the file is corrupt; convert it again');
        }
      } else {
        const f = convertStorage(w.dtype as StorageDType, w.data as StorageArray, 'F32') as Float32Array;
        blocks = quantizeMatrix(target, f, inDim, outDim, layout === 'in_out');
      }
      return this.uploadQuant(target, blocks, inDim, outDim);
    }
    if (isQuantType(w.dtype)) {
      // A quantized weight asked for as floats: dequantize (as the reference backend does), then convert.
      const rowBytes = quantRowBytes(w.dtype, inDim);
      const f = new Float32Array(inDim * outDim);
      for (let o = 0; o < outDim; o++) dequantizeRow(w.dtype, w.data as Uint8Array, o * rowBytes, inDim, f, o * inDim);
      return this.loadMatrix({ dtype: 'F32', shape: [outDim, inDim], data: f }, 'out_in', target);
    }
    const src = w.data as StorageArray;
    const converted = target === w.dtype ? src : convertStorage(w.dtype as StorageDType, src, target as StorageDType);
    // Float matrices are kept [in, out] (the Conv1D layout, as GPT-2 stores them): one GEMV whose lanes run
    // along the outputs reads every weight word once, coalesced. An [out, in] table (wte as the LM head) is
    // transposed once here; embedding rows then read a column.
    const data = layout === 'out_in' ? transpose(converted, outDim, inDim) : converted;
    const bytes = data.length * DTYPE_BYTES[target as StorageDType];
    const buffer = this.createBuffer(bytes);
    this.flush();
    const whole = data.byteLength - (data.byteLength % 4);
    if (whole > 0) this.queue.writeBuffer(buffer, 0, data.buffer, data.byteOffset, whole);
    if (whole < data.byteLength) {
      // An odd count of 16-bit values: the last one goes in a word of its own.
      const last = new Uint16Array(2);
      last[0] = (data as Uint16Array)[data.length - 1];
      this.queue.writeBuffer(buffer, whole, last.buffer, 0, 4);
    }
    const m: GpuMatrix = { backend: this.name, inDim, outDim, format: target, byteSize: bytes, buffer, layout: 'in_out', dtype: target, qbase: 0 };
    return m;
  }

  /** Q8_0/Q4_0 blocks [out][in] → [f16 scales, two per word][quants, 8 (Q8_0) or 4 (Q4_0) words per block]. */
  private uploadQuant(type: QuantType, blocks: Uint8Array, inDim: number, outDim: number): Matrix {
    const nBlocks = (inDim / 32) * outDim;
    const bb = QUANT_BLOCK_BYTES[type];
    const qBytes = bb - 2;
    const qbase = Math.ceil(nBlocks / 2);
    const packed = new Uint8Array(qbase * 4 + nBlocks * qBytes);
    for (let k = 0; k < nBlocks; k++) {
      packed[2 * k] = blocks[k * bb];
      packed[2 * k + 1] = blocks[k * bb + 1];
      packed.set(blocks.subarray(k * bb + 2, (k + 1) * bb), qbase * 4 + k * qBytes);
    }
    const buffer = this.createBuffer(packed.length);
    this.flush();
    this.queue.writeBuffer(buffer, 0, packed.buffer, 0, align(packed.length, 4));
    const m: GpuMatrix = { backend: this.name, inDim, outDim, format: type, byteSize: blocks.length, buffer, layout: 'out_in', dtype: type, qbase };
    return m;
  }

  /**
   * A ggml block-format weight (Q4_1, Q5_0, Q5_1, k-quants, IQ4_NL, IQ4_XS): its GGUF bytes as they are,
   * [out][in/blockSize blocks], in one buffer of words (a last partial word is zero-padded).
   */
  private loadBlockMatrix(w: WeightTensor, layout: MatrixLayout, format?: MatrixFormat): Matrix {
    const type = w.dtype as string;
    const t = G.GGML_GPU_TYPES[type];
    if (format !== undefined && format !== w.dtype) throw new FugakuError('DTYPE_UNSUPPORTED', `the WebGPU backend computes on a ${type} weight as stored; it cannot convert it to ${format}`, `load it as ${type.toLowerCase()} (the format it is stored in)`);
    if (layout !== 'out_in' || w.shape.length !== 2) throw new FugakuError('INTERNAL', `${type} weights are stored [out, in], got layout ${layout} and shape [${w.shape.join(', ')}]`);
    const [outDim, inDim] = w.shape as [number, number];
    if (inDim % t.blockSize !== 0) throw new FugakuError('DTYPE_UNSUPPORTED', `${type} needs rows whose length is a multiple of ${t.blockSize}, got ${inDim}`, 'use a 32-block type (Q8_0, Q5_0, Q5_1, Q4_0, IQ4_NL) or bf16 for this tensor');
    const rowBytes = (inDim / t.blockSize) * t.typeSize;
    const data = w.data as Uint8Array;
    if (data.length !== rowBytes * outDim) throw new FugakuError('TENSOR_SHAPE_MISMATCH', `${type} matrix [${outDim}, ${inDim}] needs ${rowBytes * outDim} bytes, got ${data.length}`, 'the file is corrupt; convert it again');
    const buffer = this.createBuffer(data.length);
    this.flush();
    const whole = data.length - (data.length % 4);
    if (whole > 0) this.queue.writeBuffer(buffer, 0, data.buffer, data.byteOffset, whole);
    if (whole < data.length) {
      const last = new Uint8Array(4);
      last.set(data.subarray(whole));
      this.queue.writeBuffer(buffer, whole, last.buffer, 0, 4);
    }
    if (t.grid && this.grids === null) {
      const g = G.gridBytes();
      this.grids = this.createBuffer(g.length);
      this.queue.writeBuffer(this.grids, 0, g.buffer, g.byteOffset, g.length);
    }
    const m: GpuMatrix = { backend: this.name, inDim, outDim, format: w.dtype, byteSize: data.length, buffer, layout: 'out_in', dtype: w.dtype, qbase: rowBytes };
    return m;
  }

  /** Block-format matmul: activations quantized as the type's vec_dot_type, then the GEMV over groups of up to 8 rows. */
  private matmulBlocks(m: GpuMatrix, xb: GpuTensor, rows: number, bb: GPUBuffer, hasBias: number, yb: GpuTensor): void {
    const type = m.dtype as string;
    const t = G.GGML_GPU_TYPES[type];
    const { inDim, outDim } = m;
    const n = rows * inDim;
    const kBlock = t.act === 'Q8_K' ? 256 : 32;
    const blocks = n / kBlock;
    const xq = this.scratch('scratchXQ', n);
    const xd = this.scratch('scratchXD', blocks);
    const xs = this.scratch('scratchXS', t.act === 'Q8_K' ? blocks * 16 : blocks);
    if (t.act === 'Q8_K') this.dispatch('quant_q8k', () => G.QUANTIZE_Q8_K, [blocks], [xb.buffer, xq, xd, xs], this.grid(blocks));
    else this.dispatch('quant_q81', () => G.QUANTIZE_Q8_1, [blocks], [xb.buffer, xq, xd, xs], this.grid(blocks));
    for (let r0 = 0; r0 < rows; r0 += K.GEMV_MAX_ROWS) {
      const R = Math.min(K.GEMV_MAX_ROWS, rows - r0);
      this.dispatch(`gemv_g_${type}_${R}`, () => G.gemvGGML(type, R), [inDim, outDim, m.qbase, r0, hasBias], [m.buffer, xq, xd, xs, bb, yb.buffer, ...(t.grid ? [this.grids!] : [])], this.rowsGrid(Math.ceil(outDim / 8)));
    }
  }

  /** A matrix of pseudo-random values made on the GPU (benchmarks of shapes too big to make on the host). */
  randomMatrix(format: 'BF16' | 'F16' | 'Q8_0' | 'Q4_0', inDim: number, outDim: number, layout: MatrixLayout, seed: number): Matrix {
    const quant = format === 'Q8_0' || format === 'Q4_0';
    const n = inDim * outDim;
    const nBlocks = n / 32;
    const qbase = quant ? Math.ceil(nBlocks / 2) : 0;
    const bytes = quant ? qbase * 4 + nBlocks * (QUANT_BLOCK_BYTES[format] - 2) : n * 2;
    const buffer = this.createBuffer(bytes);
    const words = Math.ceil(bytes / 4);
    this.dispatch('random', () => K.RANDOM_FILL, [words, seed, quant ? 1 : 0, qbase], [buffer], this.grid(words));
    const m: GpuMatrix = { backend: this.name, inDim, outDim, format, byteSize: quant ? nBlocks * QUANT_BLOCK_BYTES[format] : n * 2, buffer, layout: quant ? 'out_in' : layout, dtype: format, qbase };
    return m;
  }

  /** Read bandwidth (GB/s) of this GPU: a kernel that reads every word of a `bytes` buffer, `reps` times, after one warm-up. */
  async readBandwidth(bytes: number, reps: number, now: () => number): Promise<number> {
    const buf = this.createBuffer(bytes);
    const out = this.createBuffer(16);
    const words = Math.floor(bytes / 16) * 4;
    const run = () => this.dispatch('probe', () => K.READ_PROBE, [words], [buf, out], [Math.min(65535, 4096), 1]);
    run();
    await this.finish();
    const t0 = now();
    for (let r = 0; r < reps; r++) run();
    await this.finish();
    const dt = (now() - t0) / 1000;
    this.dead.push(buf, out);
    return (words * 4 * reps) / dt / 1e9;
  }

  // ---- ops --------------------------------------------------------------------------------------

  matmul(x: Tensor, rows: number, w: Matrix, bias: Tensor | null, out: Tensor): void {
    if (rows === 0) return;
    const m = this.ownMatrix(w);
    const xb = this.own(x);
    const yb = this.own(out);
    const bb = bias === null ? this.dummy : this.own(bias).buffer;
    const hasBias = bias === null ? 0 : 1;
    const { inDim, outDim } = m;
    checkRange('matmul input', 0, rows * inDim, xb.length);
    checkRange('matmul output', 0, rows * outDim, yb.length);
    if (G.isGpuBlockType(m.dtype)) {
      this.matmulBlocks(m, xb, rows, bb, hasBias, yb);
      return;
    }
    let xbuf = xb.buffer;
    if (m.dtype === 'Q8_0' || m.dtype === 'Q4_0') {
      // Activations on the int8 grid of their 32-blocks, as the specification's integer product has them.
      const blocks = (rows * inDim) / 32;
      xbuf = this.scratch('scratchQ', rows * inDim);
      this.dispatch('quantx', () => K.QUANTIZE_ACTIVATIONS, [blocks], [xb.buffer, xbuf], this.grid(blocks));
    }
    const fmt = m.dtype;
    if (rows <= K.GEMV_MAX_ROWS && (fmt === 'Q8_0' || fmt === 'Q4_0')) {
      this.dispatch(`gemv_q_${fmt}_${rows}`, () => K.gemvQuant(fmt, rows), [inDim, outDim, m.qbase, rows, hasBias], [m.buffer, xbuf, bb, yb.buffer], this.rowsGrid(Math.ceil(outDim / 8)));
    } else if (rows <= K.GEMV_MAX_ROWS && this.gemv === 'direct') {
      const even = outDim % 2 === 0;
      this.dispatch(`gemv_direct_${fmt}_${rows}_${even}`, () => K.gemvInOutDirect(fmt, rows, even), [inDim, outDim, m.qbase, rows, hasBias], [m.buffer, xbuf, bb, yb.buffer], this.rowsGrid(Math.ceil(outDim / (64 * K.DIRECT_OUTPUTS))));
    } else if (rows <= K.GEMV_MAX_ROWS) {
      const chunks = Math.ceil(inDim / K.GEMV_K_CHUNK);
      const part = this.scratch('scratchPart', chunks * rows * outDim);
      const even = outDim % 2 === 0;
      this.dispatch(`gemv_io_${fmt}_${rows}_${even}`, () => K.gemvInOut(fmt, rows, even), [inDim, outDim, m.qbase, rows], [m.buffer, xbuf, part], [Math.ceil(outDim / 256), chunks]);
      this.dispatch('gemv_reduce', () => K.GEMV_REDUCE, [rows * outDim, outDim, chunks, hasBias], [part, bb, yb.buffer], this.grid(rows * outDim));
    } else {
      this.dispatch(`gemm_${fmt}_${m.layout}`, () => K.gemm(fmt, m.layout), [inDim, outDim, m.qbase, rows, hasBias], [m.buffer, xbuf, bb, yb.buffer], [Math.ceil(outDim / 64), Math.ceil(rows / 64)]);
    }
  }

  embedding(w: Matrix, ids: Int32Array, out: Tensor): void {
    const m = this.ownMatrix(w);
    const y = this.own(out);
    checkTokenIds(ids, m.outDim);
    if (ids.length === 0) return;
    const n = ids.length * m.inDim;
    checkRange('embedding output', 0, n, y.length);
    const fmt = m.dtype;
    if (G.isGpuBlockType(fmt)) {
      this.dispatch(`embed_g_${fmt}`, () => G.embeddingGGML(fmt), [m.inDim, m.outDim, m.qbase, n], [m.buffer, DATA, y.buffer, ...(G.GGML_GPU_TYPES[fmt].grid ? [this.grids!] : [])], this.grid(n), new Uint32Array(ids.buffer, ids.byteOffset, ids.length));
      return;
    }
    this.dispatch(`embed_${fmt}_${m.layout}`, () => K.embedding(fmt, m.layout), [m.inDim, m.outDim, m.qbase, n], [m.buffer, DATA, y.buffer], this.grid(n), new Uint32Array(ids.buffer, ids.byteOffset, ids.length));
  }

  layerNorm(x: Tensor, rows: number, dim: number, gamma: Tensor, beta: Tensor, eps: number, out: Tensor): void {
    if (rows === 0) return;
    const xb = this.own(x);
    const yb = this.own(out);
    checkRange('layerNorm', 0, rows * dim, Math.min(xb.length, yb.length));
    this.dispatch('layernorm', () => K.LAYER_NORM, [dim, this.f32bits(eps), rows], [xb.buffer, this.own(gamma).buffer, this.own(beta).buffer, yb.buffer], this.rowsGrid(rows));
  }

  activation(name: ActivationName, x: Tensor, n: number): void {
    if (n === 0) return;
    const xb = this.own(x);
    checkRange('activation', 0, n, xb.length);
    this.dispatch(`act_${name}`, () => K.activation(name), [n], [xb.buffer], this.grid(n));
  }

  attention(a: AttentionArgs): void {
    const q = this.own(a.q);
    const o = this.own(a.out);
    const kc = this.own(a.kCache);
    const vc = this.own(a.vCache);
    if (a.headDim > 256) throw new FugakuError('DTYPE_UNSUPPORTED', `the WebGPU attention kernel handles head_dim up to 256, got ${a.headDim}`, 'use --backend native for this model');
    if (kc.dtype !== vc.dtype) throw new FugakuError('INTERNAL', 'keys and values of one cache have different dtypes');
    if (a.t === 0) return;
    const width = a.nHead * a.headDim;
    checkRange('attention queries', a.qOffset, a.t * width, q.length);
    checkRange('attention output', a.outOffset, a.t * width, o.length);
    checkRange('attention cache', 0, (a.past + a.t) * width, kc.length);
    let mask: Uint32Array | undefined;
    if (a.keyMask !== null) {
      mask = new Uint32Array(a.past + a.t);
      for (let j = 0; j < mask.length; j++) mask[j] = a.keyMask[j];
    }
    this.dispatch(
      `attn_${kc.dtype}`,
      () => K.attention(kc.dtype),
      [a.t, a.past, a.nHead, a.headDim, this.f32bits(a.scale), a.qOffset, a.outOffset, mask ? 1 : 0],
      [q.buffer, kc.buffer, vc.buffer, mask ? DATA : this.dummy, o.buffer],
      [a.nHead, a.t],
      mask,
    );
  }

  copyRows(src: Tensor, srcOff: number, dst: Tensor, dstOff: number, n: number, rows = 1, srcStride = n): void {
    const s = this.own(src);
    const d = this.own(dst);
    if (n === 0 || rows === 0) return;
    checkRange('copyRows source', srcOff, (rows - 1) * srcStride + n, s.length);
    checkRange('copyRows destination', dstOff, rows * n, d.length);
    const from = s === d ? { buffer: this.snapshot(s, s.length), dtype: s.dtype } : s;
    this.copyInto(from, srcOff, d, dstOff, n, rows, srcStride);
  }

  private copyInto(s: { buffer: GPUBuffer; dtype: TensorDType }, srcOff: number, d: GpuTensor, dstOff: number, n: number, rows: number, srcStride: number): void {
    if (d.dtype === 'f32') {
      if (s.dtype !== 'f32') throw new FugakuError('INTERNAL', 'copyRows: an f16 source needs an f16 destination');
      const count = rows * n;
      this.dispatch('copy_f32', () => K.copyRows('f32'), [srcOff, dstOff, n, rows, srcStride, count], [s.buffer, d.buffer], this.grid(count));
      return;
    }
    const kind = s.dtype === 'f32' ? 'f32_to_f16' : 'f16_to_f16';
    const first = Math.floor(dstOff / 2);
    const words = Math.floor((dstOff + rows * n - 1) / 2) - first + 1;
    this.dispatch(`copy_${kind}`, () => K.copyRows(kind), [srcOff, dstOff, n, rows, srcStride, words, first], [s.buffer, d.buffer], this.grid(words));
  }

  addInPlace(a: Tensor, b: Tensor, n: number): void {
    if (n === 0) return;
    const ab = this.own(a);
    const bb = this.own(b);
    checkRange('addInPlace', 0, n, Math.min(ab.length, bb.length));
    // A buffer cannot be bound for writing and reading in one dispatch: a += a reads a copy.
    const src = ab === bb ? this.snapshot(bb, n) : bb.buffer;
    this.dispatch('add', () => K.ADD, [n], [ab.buffer, src], this.grid(n));
  }

  /** Frees the device (tests; a process exit does it too). */
  destroy(): void {
    this.flush();
    this.device.destroy();
  }
}

/** Marks the binding that takes the op's data (ids, mask) from the arena. */
const DATA = { buffer: null as unknown as GPUBuffer, offset: -1, size: -1 };

/** [rows, cols] → [cols, rows], for 16-bit or 32-bit elements. */
function transpose(a: StorageArray, rows: number, cols: number): StorageArray {
  const t = a instanceof Float32Array ? new Float32Array(a.length) : new Uint16Array(a.length);
  // Tiles of 64×64 keep both sides in cache.
  for (let r0 = 0; r0 < rows; r0 += 64) {
    for (let c0 = 0; c0 < cols; c0 += 64) {
      const r1 = Math.min(r0 + 64, rows);
      const c1 = Math.min(c0 + 64, cols);
      for (let r = r0; r < r1; r++) for (let c = c0; c < c1; c++) t[c * rows + r] = a[r * cols + c];
    }
  }
  return t;
}
