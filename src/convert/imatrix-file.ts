/**
 * llama.cpp importance-matrix files, read as llama-quantize reads them (common/imatrix-loader.cpp
 * and tools/quantize/quantize.cpp's load_imatrix, llama.cpp commit 80fb11a):
 *
 * - GGUF (what llama-imatrix writes by default): per tensor `<name>.in_sum2` (F32, ne0 × n_expert)
 *   and `<name>.counts` (F32, n_expert); the weights are in_sum2 / lround(count) per expert (1 where
 *   the count is 0). The file must have the imatrix.datasets / chunk_count / chunk_size keys.
 * - legacy .dat: int32 n_entries, then per entry int32 len, name, int32 ncall, int32 nval,
 *   nval float32 sums (already averaged, times ncall); the weights are sums / ncall (sums if ncall ≤ 0).
 *   Optional trailer: int32 chunk count, int32 len, dataset name.
 *
 * The result maps a tensor name (e.g. blk.0.attn_qkv.weight) to its weights (float32).
 */
import { open, readFile } from 'node:fs/promises';
import { FugakuError } from '../errors.js';
import { openGGUF } from '../io/gguf.js';

export interface ImatrixData {
  file: string;
  format: 'gguf' | 'legacy';
  /** Weights per tensor name (llama.cpp's averaged in_sum2 / counts). */
  entries: Map<string, Float32Array>;
  datasets: string[];
  chunkCount: number;
}

const HINT = 'pass an importance matrix written by llama-imatrix or `fugaku imatrix` (GGUF or legacy .dat)';

async function isGGUF(file: string): Promise<boolean> {
  let fh;
  try {
    fh = await open(file, 'r');
  } catch (e) {
    throw new FugakuError('FILE_NOT_FOUND', `cannot open the importance matrix ${file}: ${(e as Error).message}`, 'check the --imatrix path');
  }
  try {
    const b = Buffer.alloc(4);
    const { bytesRead } = await fh.read(b, 0, 4, 0);
    return bytesRead === 4 && b.toString('latin1') === 'GGUF';
  } finally {
    await fh.close();
  }
}

function checkFinite(file: string, entries: Map<string, Float32Array>): void {
  for (const [name, v] of entries) {
    for (let i = 0; i < v.length; i++) {
      if (!Number.isFinite(v[i])) throw new FugakuError('INVALID_ARGUMENT', `${file}: the importance matrix of ${name} contains a non-finite value (${v[i]})`, 'recompute the importance matrix');
    }
  }
}

/** Reads an importance matrix file (GGUF or legacy format). */
export async function readImatrixFile(file: string): Promise<ImatrixData> {
  const out = (await isGGUF(file)) ? await readGGUFImatrix(file) : await readLegacyImatrix(file);
  checkFinite(file, out.entries);
  return out;
}

async function readGGUFImatrix(file: string): Promise<ImatrixData> {
  const g = await openGGUF(file);
  try {
    const ds = g.metadata.get('imatrix.datasets');
    const cc = g.metadata.get('imatrix.chunk_count');
    const cs = g.metadata.get('imatrix.chunk_size');
    if (ds === undefined || cc === undefined || cs === undefined) {
      throw new FugakuError('INVALID_ARGUMENT', `${file}: missing imatrix metadata (imatrix.datasets, imatrix.chunk_count, imatrix.chunk_size)`, HINT);
    }
    const datasets: string[] = ds.type === 'array' && Array.isArray(ds.value) ? (ds.value as unknown[]).map(String) : [];
    const chunkCount = cc.type !== 'array' ? Number(cc.value) : 0;
    const pairs = new Map<string, { sums?: string; counts?: string }>();
    for (const name of g.tensors.keys()) {
      if (name === '') continue;
      let base: string;
      let key: 'sums' | 'counts';
      if (name.endsWith('.in_sum2')) {
        base = name.slice(0, -'.in_sum2'.length);
        key = 'sums';
      } else if (name.endsWith('.counts')) {
        base = name.slice(0, -'.counts'.length);
        key = 'counts';
      } else continue;
      const p = pairs.get(base) ?? {};
      p[key] = name;
      pairs.set(base, p);
    }
    if (pairs.size === 0) throw new FugakuError('INVALID_ARGUMENT', `${file}: no importance matrix data in the file`, HINT);
    const entries = new Map<string, Float32Array>();
    for (const [name, p] of pairs) {
      if (p.sums === undefined || p.counts === undefined) throw new FugakuError('INVALID_ARGUMENT', `${file}: mismatched sums and counts for ${name}`, HINT);
      const s = await g.readTensor(p.sums);
      const c = await g.readTensor(p.counts);
      if (s.dtype !== 'F32' || c.dtype !== 'F32') throw new FugakuError('INVALID_ARGUMENT', `${file}: sums and counts for ${name} must be F32`, HINT);
      const sums = s.data as Float32Array;
      const counts = c.data as Float32Array;
      const nc = counts.length;
      const ne0 = Math.trunc(sums.length / nc);
      const e = new Float32Array(sums.length);
      for (let j = 0; j < nc; j++) {
        // std::lround (half away from zero), then back to float
        const cnt = Math.fround(Math.sign(counts[j]) * Math.round(Math.abs(counts[j])));
        for (let i = 0; i < ne0; i++) e[j * ne0 + i] = cnt > 0 ? Math.fround(sums[j * ne0 + i] / cnt) : 1;
      }
      entries.set(name, e);
    }
    return { file, format: 'gguf', entries, datasets, chunkCount };
  } finally {
    await g.close();
  }
}

async function readLegacyImatrix(file: string): Promise<ImatrixData> {
  const buf = await readFile(file);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let at = 0;
  const need = (n: number, what: string): void => {
    if (at + n > buf.length) throw new FugakuError('INVALID_ARGUMENT', `${file}: truncated importance matrix (reading ${what} at byte ${at})`, HINT);
  };
  need(4, 'the entry count');
  const nEntries = view.getInt32(at, true);
  at += 4;
  if (nEntries < 1) throw new FugakuError('INVALID_ARGUMENT', `${file}: no data in the importance matrix file (it is neither GGUF nor a legacy .dat with entries)`, HINT);
  const entries = new Map<string, Float32Array>();
  for (let i = 0; i < nEntries; i++) {
    need(4, `the name length of entry ${i + 1}`);
    const len = view.getInt32(at, true);
    at += 4;
    if (len < 0) throw new FugakuError('INVALID_ARGUMENT', `${file}: bad name length ${len} for entry ${i + 1}`, HINT);
    need(len, `the name of entry ${i + 1}`);
    const raw = buf.subarray(at, at + len);
    const nul = raw.indexOf(0);
    const name = raw.subarray(0, nul < 0 ? len : nul).toString('utf8');
    at += len;
    need(8, `the counts of entry ${i + 1}`);
    const ncall = view.getInt32(at, true);
    const nval = view.getInt32(at + 4, true);
    at += 8;
    if (nval < 1) throw new FugakuError('INVALID_ARGUMENT', `${file}: failed reading the number of values for entry ${i + 1}`, HINT);
    need(nval * 4, `the values of entry ${i + 1}`);
    const e = new Float32Array(nval);
    const fc = Math.fround(ncall);
    for (let j = 0; j < nval; j++) {
      const s = view.getFloat32(at + 4 * j, true);
      e[j] = ncall > 0 ? Math.fround(s / fc) : s;
    }
    at += nval * 4;
    entries.set(name, e);
  }
  let chunkCount = 0;
  const datasets: string[] = [];
  if (at + 4 <= buf.length) {
    chunkCount = view.getInt32(at, true);
    at += 4;
    if (at + 4 <= buf.length) {
      const len = view.getInt32(at, true);
      at += 4;
      if (len > 0 && at + len <= buf.length) datasets.push(buf.subarray(at, at + len).toString('utf8').replace(/\0.*$/s, ''));
    }
  }
  return { file, format: 'legacy', entries, datasets, chunkCount };
}

/**
 * The weights llama-quantize passes for one tensor (ne = [ne0, rows(, experts)]): the entry when its
 * size is ne0·ne2; none when the file has no entry; an error when the size differs (token_embd: none).
 */
export function imatrixFor(data: ImatrixData | null, name: string, ne: readonly number[]): Float32Array | null {
  if (data === null) return null;
  const e = data.entries.get(name);
  if (e === undefined) return null;
  const want = ne[0] * (ne[2] ?? 1);
  if (e.length === want) return e;
  if (name === 'token_embd.weight' || name === 'per_layer_token_embd.weight') return null;
  throw new FugakuError('INVALID_ARGUMENT', `${data.file}: the importance matrix of ${name} has ${e.length} values but the tensor has rows of ${want}`, 'use an importance matrix computed for this model');
}
