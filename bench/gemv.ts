/**
 * GEMV bandwidth of the native kernels: streams an 8192×8192 weight matrix (larger than the L3
 * cache) through matmul with one activation row, per format and thread count, and prints the
 * weight bytes per second as a ratio of the STREAM triad bandwidth measured in the same run.
 *
 * With `--rows R` (R > 1) it times the matrix-matrix product that prefill uses (R activation rows) and
 * prints multiply-adds per second next to the one-row figure. With `--simd avx2,avx512` it runs each
 * kernel set on the same matrices and prints each one's ratio to the first.
 *
 * ggml's other block types (Q4_K, Q6_K, IQ4_NL, …: native/blocks.h) are timed on random blocks of that
 * type (the addon does not convert to them), e.g. `--formats Q4_K,Q5_K,Q6_K,Q5_0,IQ4_NL`.
 *
 *   npx tsc -p tsconfig.json && node dist/bench/gemv.js [--threads 1,2] [--formats Q8_0,Q4_0,BF16,F16,F32] [--rows 64] [--simd avx2,avx512]
 */
import { benchArgs } from './args.js';
import { NativeBackend, type SimdChoice } from '../src/backend/native.js';
import { tensorFrom, type MatrixFormat } from '../src/backend/backend.js';
import { physicalCores } from '../src/backend/cpu.js';
import { BLOCK_TYPES, isGGMLBlockType, type GGMLBlockType } from '../src/tensor/ggml/formats.js';

const values = benchArgs('gemv', 'node dist/bench/gemv.js [--dim D] [--threads 1,2] [--formats Q8_0,Q4_0,BF16,F16,F32] [--rows R] [--reps N] [--simd avx2,avx512]', { threads: { type: 'string' }, formats: { type: 'string' }, dim: { type: 'string' }, reps: { type: 'string' }, rows: { type: 'string' }, simd: { type: 'string' } });
const threadList = (values.threads ?? [...new Set([1, physicalCores()])].join(',')).split(',').map(Number);
const formats = (values.formats ?? 'Q8_0,Q4_0,BF16,F16').split(',') as MatrixFormat[];
const dim = Number(values.dim ?? 8192);
const reps = Number(values.reps ?? 20);
const gemmRows = Number(values.rows ?? 0);
// Kernel sets to compare in the same run (the first is the baseline of the printed ratios).
const simdList = (values.simd ?? 'auto').split(',') as SimdChoice[];

const src = new Float32Array(dim * dim);
for (let i = 0; i < src.length; i++) src[i] = Math.sin(i * 0.618) * 0.05;
const xHost = new Float32Array(dim).map((_, i) => Math.cos(i));
const xsHost = new Float32Array(Math.max(1, gemmRows) * dim).map((_, i) => Math.cos(i * 0.37));

/** dim × dim weights of a ggml block type: random bytes with every f16 scale set to a small value. */
function randomBlocks(type: GGMLBlockType): Uint8Array {
  const { blockSize, typeSize } = BLOCK_TYPES[type];
  const u = new Uint8Array((dim * dim / blockSize) * typeSize);
  for (let i = 0; i < u.length; i++) u[i] = (i * 2654435761) >>> 24;
  // the f16 scale fields of each block (ggml-common.h), 0x2400 ≈ 0.016
  const f16: Record<string, number[]> = { Q4_1: [0, 2], Q5_1: [0, 2], Q2_K: [80, 82], Q3_K: [108], Q4_K: [0, 2], Q5_K: [0, 2], Q6_K: [208], IQ1_M: [] };
  const fields = f16[type] ?? [0];
  for (let o = 0; o < u.length; o += typeSize) for (const f of fields) { u[o + f] = 0x00; u[o + f + 1] = 0x24; }
  return u;
}
// Q8_0 / Q4_0 convert from float32 into the interleaved layout (common.h).
const INTERLEAVED = new Set(['Q4_0', 'Q8_0']);

function median(f: () => void, n: number): number {
  const times: number[] = [];
  for (let r = 0; r < n; r++) {
    const t0 = performance.now();
    f();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

for (const threads of threadList) {
  const backends = simdList.map((simd) => NativeBackend.create({ threads, simd }));
  const triad = backends[0].streamTriad();
  const read = backends[0].streamRead(128 * 2 ** 20, 5);
  console.log(`threads ${threads}: STREAM triad ${triad.toFixed(1)} GB/s, read-only stream ${read.toFixed(1)} GB/s`);
  for (const f of formats) {
    let first: { gbs: number; gmacs: number } | null = null;
    for (const be of backends) {
      // Activations live in tensors of the backend that computes on them.
      const x = tensorFrom(be, xHost);
      const out = be.alloc(dim);
      const xs = tensorFrom(be, xsHost);
      const outs = be.alloc(Math.max(1, gemmRows) * dim);
      const m = isGGMLBlockType(f) && !INTERLEAVED.has(f)
        ? be.loadMatrix({ dtype: f as MatrixFormat, shape: [dim, dim], data: randomBlocks(f) }, 'out_in', f as MatrixFormat)
        : be.loadMatrix({ dtype: 'F32', shape: [dim, dim], data: src }, 'out_in', f);
      be.matmul(x, 1, m, null, out);
      const med = median(() => be.matmul(x, 1, m, null, out), reps);
      const gbs = m.byteSize / (med / 1000) / 1e9;
      let line = `  ${f.padEnd(5)} ${be.kernels.padEnd(8)} ${(m.byteSize / 2 ** 20).toFixed(0).padStart(4)} MiB  median ${med.toFixed(2)} ms  ${gbs.toFixed(1)} GB/s  = ${(gbs / triad).toFixed(2)}× triad, ${(gbs / read).toFixed(2)}× read`;
      let gmacs = 0;
      if (gemmRows > 1) {
        const medR = median(() => be.matmul(xs, gemmRows, m, null, outs), Math.max(3, Math.ceil(reps / 4)));
        gmacs = (gemmRows * dim * dim) / (medR / 1000) / 1e9;
        line += `  | ${gemmRows} rows ${medR.toFixed(1)} ms  ${gmacs.toFixed(1)} GMAC/s`;
      }
      if (first) line += `  [vs ${backends[0].kernels}: GEMV ${(gbs / first.gbs).toFixed(2)}×${gemmRows > 1 ? `, GEMM ${(gmacs / first.gmacs).toFixed(2)}×` : ''}]`;
      else first = { gbs, gmacs };
      console.log(line);
    }
  }
}
