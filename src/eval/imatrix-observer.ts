/**
 * A Backend decorator that forwards every op to a host backend (reference or native) and, on each
 * matmul, hands the input activations x [rows, inDim] to a callback before the product is computed.
 * The host backends run ops at once and keep tensors in host typed arrays (HostTensor), so the
 * activations are there synchronously; a GPU backend's are not, and it is refused with a typed error.
 */
import { FugakuError } from '../errors.js';
import type { AttentionArgs, Backend, Matrix, MatrixFormat, MatrixLayout, Tensor, TensorDType, WeightTensor } from '../backend/backend.js';
import { HostTensor } from '../backend/host.js';
import type { ActivationName } from '../tensor/activations.js';

/** Called with the f32 input rows of one matmul: x[r·w.inDim + j] for r < rows, j < w.inDim. */
export type MatmulObserver = (w: Matrix, x: Float32Array, rows: number) => void;

export class ObservingBackend implements Backend {
  constructor(
    readonly inner: Backend,
    private readonly observe: MatmulObserver,
  ) {
    if (inner.weightMemory !== 'host') {
      throw new FugakuError('INVALID_ARGUMENT', `the ${inner.name} backend keeps activations in device memory: they cannot be observed while it computes`, 'use --backend native or --backend reference');
    }
  }

  get name(): string {
    return this.inner.name;
  }

  get weightMemory(): 'host' | 'device' {
    return this.inner.weightMemory;
  }

  matmul(x: Tensor, rows: number, w: Matrix, bias: Tensor | null, out: Tensor): void {
    if (!(x instanceof HostTensor) || !(x.data instanceof Float32Array)) {
      throw new FugakuError('INVALID_ARGUMENT', `the ${this.inner.name} backend's tensors are not f32 host arrays: its activations cannot be observed`, 'use --backend native or --backend reference');
    }
    this.observe(w, x.data.subarray(0, rows * w.inDim), rows);
    this.inner.matmul(x, rows, w, bias, out);
  }

  loadMatrix(w: WeightTensor, layout: MatrixLayout, format?: MatrixFormat): Matrix {
    return this.inner.loadMatrix(w, layout, format);
  }
  alloc(n: number, dtype?: TensorDType): Tensor {
    return this.inner.alloc(n, dtype);
  }
  write(t: Tensor, data: Float32Array, offset?: number): void {
    this.inner.write(t, data, offset);
  }
  read(t: Tensor, offset?: number, n?: number): Promise<Float32Array> {
    return this.inner.read(t, offset, n);
  }
  argmax(x: Tensor, rows: number, cols: number): Promise<Int32Array> {
    return this.inner.argmax(x, rows, cols);
  }
  free(t: Tensor): void {
    this.inner.free(t);
  }
  embedding(w: Matrix, ids: Int32Array, out: Tensor): void {
    this.inner.embedding(w, ids, out);
  }
  layerNorm(x: Tensor, rows: number, dim: number, gamma: Tensor, beta: Tensor, eps: number, out: Tensor): void {
    this.inner.layerNorm(x, rows, dim, gamma, beta, eps, out);
  }
  activation(name: ActivationName, x: Tensor, n: number): void {
    this.inner.activation(name, x, n);
  }
  attention(args: AttentionArgs): void {
    this.inner.attention(args);
  }
  copyRows(src: Tensor, srcOff: number, dst: Tensor, dstOff: number, n: number, rows?: number, srcStride?: number): void {
    this.inner.copyRows(src, srcOff, dst, dstOff, n, rows, srcStride);
  }
  addInPlace(a: Tensor, b: Tensor, n: number): void {
    this.inner.addInPlace(a, b, n);
  }
}
