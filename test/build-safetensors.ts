/**
 * Test helper: writes safetensors files, well-formed or deliberately broken, into temp folders.
 * Independent of src/io so the reader is tested against a second implementation of the format.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';

/** Bytes per element, from the safetensors spec (kept separate from src on purpose). */
const BYTES: Record<string, number> = {
  BOOL: 1, U8: 1, I8: 1, F8_E4M3: 1, F8_E5M2: 1,
  I16: 2, U16: 2, F16: 2, BF16: 2,
  I32: 4, U32: 4, F32: 4,
  I64: 8, U64: 8, F64: 8,
};

export interface TensorSpec {
  name: string;
  dtype: string;
  shape: number[];
  /** Raw little-endian bytes; defaults to a deterministic pattern of the right length. */
  data?: Uint8Array;
}

/** A deterministic byte pattern (so every tensor's bytes differ). */
export function patternBytes(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i * 31 + seed * 17 + 7) & 0xff;
  return out;
}

export function tensorBytes(spec: TensorSpec): number {
  return spec.shape.reduce((a, b) => a * b, 1) * (BYTES[spec.dtype] ?? 1);
}

/** Lays tensors out back to back and returns {header object, data bytes}. */
export function layout(tensors: TensorSpec[], metadata?: Record<string, string>): { header: Record<string, unknown>; data: Uint8Array } {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  const chunks: Uint8Array[] = [];
  let offset = 0;
  tensors.forEach((t, i) => {
    const bytes = t.data ?? patternBytes(tensorBytes(t), i + 1);
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes.length] };
    chunks.push(bytes);
    offset += bytes.length;
  });
  return { header, data: concat(chunks) };
}

export function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((a, c) => a + c.length, 0));
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}

/**
 * Encodes a file from a header (object, or raw JSON text / bytes for broken headers) and data.
 * `headerLength` overrides the 8-byte length prefix (for lying-length cases).
 */
export function encodeSafetensors(
  header: Record<string, unknown> | string | Uint8Array,
  data: Uint8Array = new Uint8Array(0),
  headerLength?: bigint,
): Uint8Array {
  const headerBytes =
    header instanceof Uint8Array
      ? header
      : new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const prefix = new Uint8Array(8);
  new DataView(prefix.buffer).setBigUint64(0, headerLength ?? BigInt(headerBytes.length), true);
  return concat([prefix, headerBytes, data]);
}

/** A valid file holding `tensors`. */
export function buildSafetensors(tensors: TensorSpec[], metadata: Record<string, string> = { format: 'pt' }): Uint8Array {
  const { header, data } = layout(tensors, metadata);
  return encodeSafetensors(header, data);
}

/** A temporary folder, removed by `cleanup()`. */
export interface TempDir {
  dir: string;
  /** Writes `bytes` (or JSON for objects/strings) to `name` inside the folder; returns the absolute path. */
  write(name: string, content: Uint8Array | string | Record<string, unknown>): Promise<string>;
  cleanup(): Promise<void>;
}

export async function makeTempDir(): Promise<TempDir> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'fugaku-st-'));
  return {
    dir,
    async write(name, content) {
      const p = path.join(dir, name);
      const body = content instanceof Uint8Array || typeof content === 'string' ? content : JSON.stringify(content);
      await writeFile(p, body);
      return p;
    },
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

/** Runs `fn` with a fresh temp folder and always removes it. */
export async function withTempDir<T>(fn: (t: TempDir) => Promise<T>): Promise<T> {
  const t = await makeTempDir();
  try {
    return await fn(t);
  } finally {
    await t.cleanup();
  }
}

/**
 * Writes a minimal, valid checkpoint folder layout into `t`: config.json plus the given tensors,
 * either as one model.safetensors or sharded (tensor i goes to shard `shardOf[i]`) with an index.
 */
export async function writeCheckpoint(
  t: TempDir,
  tensors: TensorSpec[],
  shardOf?: number[],
): Promise<void> {
  await t.write('config.json', { model_type: 'gpt2', n_layer: 1 });
  if (!shardOf) {
    await t.write('model.safetensors', buildSafetensors(tensors));
    return;
  }
  const count = Math.max(...shardOf) + 1;
  const weightMap: Record<string, string> = {};
  let total = 0;
  for (let s = 0; s < count; s++) {
    const file = `model-${String(s + 1).padStart(5, '0')}-of-${String(count).padStart(5, '0')}.safetensors`;
    const mine = tensors.filter((_, i) => shardOf[i] === s);
    for (const m of mine) {
      weightMap[m.name] = file;
      total += tensorBytes(m);
    }
    await t.write(file, buildSafetensors(mine));
  }
  await t.write('model.safetensors.index.json', { metadata: { total_size: total }, weight_map: weightMap });
}
