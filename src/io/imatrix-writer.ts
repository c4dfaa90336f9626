/**
 * Writes an importance matrix in llama.cpp's GGUF imatrix format (IMatrixCollector::save_imatrix in
 * llama.cpp tools/imatrix/imatrix.cpp), which llama-quantize --imatrix and `fugaku convert --imatrix` read:
 *
 *   general.type = "imatrix" | imatrix.datasets = [text file names] (string array)
 *   imatrix.chunk_count (u32) | imatrix.chunk_size (u32)
 *   per recorded matrix NAME, in sorted name order:
 *     NAME.in_sum2  F32 [in]  Σ over tokens of x_j² for each input column j
 *     NAME.counts   F32 [1]   tokens accumulated
 *
 * (Dense matrices only: llama.cpp writes in_sum2 [in, n_mat] and counts [n_mat] with n_mat = experts for
 * MoE tensors; GPT-2 has none, so n_mat = 1 and ggml writes both as 1-D.)
 */
import { gguf, writeGGUF, type GGUFTensorSpec } from './gguf.js';

export interface ImatrixFileEntry {
  inSum2: ArrayLike<number>;
  count: number;
}

export interface ImatrixFileSpec {
  /** Name → entry; written in sorted name order. */
  entries: ReadonlyMap<string, ImatrixFileEntry>;
  /** The text files the matrix was computed from (as given on the command line). */
  datasets: readonly string[];
  chunkCount: number;
  chunkSize: number;
}

export async function writeImatrixGGUF(file: string, spec: ImatrixFileSpec): Promise<{ file: string; bytes: number }> {
  const names = [...spec.entries.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const tensors: GGUFTensorSpec[] = [];
  const data: Float32Array[] = [];
  for (const name of names) {
    const e = spec.entries.get(name)!;
    tensors.push({ name: `${name}.in_sum2`, type: 'F32', shape: [e.inSum2.length] }, { name: `${name}.counts`, type: 'F32', shape: [1] });
    data.push(Float32Array.from(e.inSum2), Float32Array.of(e.count));
  }
  return writeGGUF(
    file,
    {
      metadata: [
        ['general.type', gguf.str('imatrix')],
        ['imatrix.datasets', gguf.strings([...spec.datasets])],
        ['imatrix.chunk_count', gguf.u32(spec.chunkCount)],
        ['imatrix.chunk_size', gguf.u32(spec.chunkSize)],
      ],
      tensors,
    },
    (_t, i) => data[i],
  );
}
