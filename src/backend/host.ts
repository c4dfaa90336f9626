/**
 * Host memory for the CPU backends (reference and native): a Tensor is a typed array in this process
 * (Float32Array, or f16 bits in a Uint16Array), so "reading back" is a copy and ops run at once. The
 * CPU backends extend HostBackend and get alloc/write/read/argmax/free and the generic copies from it.
 */
import { FugakuError } from '../errors.js';
import { f32ToF16, makeF16Table } from '../tensor/dtype.js';
import { checkRange, type Tensor, type TensorDType } from './backend.js';

export class HostTensor implements Tensor {
  constructor(
    readonly backend: string,
    readonly data: Float32Array | Uint16Array,
  ) {}

  get dtype(): TensorDType {
    return this.data instanceof Float32Array ? 'f32' : 'f16';
  }

  get length(): number {
    return this.data.length;
  }
}

/** The alloc/write/read part of a CPU backend. */
export abstract class HostBackend {
  abstract readonly name: string;
  /** f16 → f32 lookup table, built on first use. */
  private f16Lookup: Float32Array | null = null;

  protected f16Table(): Float32Array {
    this.f16Lookup ??= makeF16Table();
    return this.f16Lookup;
  }

  /** The typed array behind a tensor of this backend. */
  protected host(t: Tensor): Float32Array | Uint16Array {
    if (t.backend !== this.name || !(t instanceof HostTensor)) throw new FugakuError('INTERNAL', `tensor belongs to backend ${t.backend}, not ${this.name}`);
    return t.data;
  }

  /** The Float32Array behind an f32 tensor of this backend. */
  protected f32(t: Tensor): Float32Array {
    const d = this.host(t);
    if (!(d instanceof Float32Array)) throw new FugakuError('INTERNAL', `${this.name}: an f32 tensor was expected, got f16`);
    return d;
  }

  alloc(n: number, dtype: TensorDType = 'f32'): Tensor {
    if (!Number.isInteger(n) || n < 0) throw new FugakuError('INVALID_ARGUMENT', `tensor size must be a non-negative integer, got ${n}`);
    return new HostTensor(this.name, dtype === 'f16' ? new Uint16Array(n) : new Float32Array(n));
  }

  write(t: Tensor, data: Float32Array, offset = 0): void {
    const d = this.host(t);
    checkRange('write', offset, data.length, d.length);
    if (d instanceof Float32Array) d.set(data, offset);
    else for (let i = 0; i < data.length; i++) d[offset + i] = f32ToF16(data[i]);
  }

  read(t: Tensor, offset = 0, n = t.length - offset): Promise<Float32Array> {
    const d = this.host(t);
    checkRange('read', offset, n, d.length);
    if (d instanceof Float32Array) return Promise.resolve(d.slice(offset, offset + n));
    const table = this.f16Table();
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = table[d[offset + i]];
    return Promise.resolve(out);
  }

  argmax(x: Tensor, rows: number, cols: number): Promise<Int32Array> {
    const d = this.f32(x);
    checkRange('argmax', 0, rows * cols, d.length);
    const out = new Int32Array(rows);
    for (let r = 0; r < rows; r++) {
      let best = 0;
      let bv = -Infinity;
      for (let i = 0; i < cols; i++) {
        const v = d[r * cols + i];
        if (v > bv) {
          bv = v;
          best = i;
        }
      }
      out[r] = best;
    }
    return Promise.resolve(out);
  }

  free(t: Tensor): void {
    this.host(t); // checks ownership; the garbage collector frees host memory
  }

  /** copyRows for the cases the CPU backends do not hand to their kernels: f16 → f16 bit copies. */
  protected copyHalfRows(src: Uint16Array, srcOff: number, dst: Float32Array | Uint16Array, dstOff: number, n: number, rows: number, srcStride: number): void {
    if (!(dst instanceof Uint16Array)) throw new FugakuError('INTERNAL', 'copyRows: an f16 source needs an f16 destination');
    for (let r = 0; r < rows; r++) dst.set(src.subarray(srcOff + r * srcStride, srcOff + r * srcStride + n), dstOff + r * n);
  }
}
