/**
 * Opening a Hugging Face checkpoint folder (a snapshot of e.g. Fugaku-LLM/Fugaku-LLM-13B):
 * config.json, optional generation_config.json, and the weights as either
 *   - model.safetensors.index.json + shards ({"metadata": {"total_size": N}, "weight_map": {name: shard}}), or
 *   - a single model.safetensors.
 *
 * Only headers are read here; tensor bytes are read one tensor at a time by `readTensor`, with one
 * FileHandle per shard kept open until `close()`. Tensor names are kept as stored (with or
 * without a "transformer." prefix); mapping names onto the model is the loader's job.
 */
import { readFile, readdir, stat, type FileHandle, open } from 'node:fs/promises';
import * as path from 'node:path';
import { FugakuError } from '../errors.js';
import type { ProgressReporter } from './progress.js';
import {
  readSafetensorsHeader,
  readTensor as readTensorAt,
  readTensorRows as readTensorRowsAt,
  type LoadedTensor,
  type SafetensorsHeader,
  type TensorInfo,
} from './safetensors.js';

export const CONFIG_FILE = 'config.json';
export const GENERATION_CONFIG_FILE = 'generation_config.json';
export const INDEX_FILE = 'model.safetensors.index.json';
export const SINGLE_FILE = 'model.safetensors';

const DOWNLOAD_HINT =
  'pass the folder with config.json and the .safetensors weights, e.g. a snapshot of Fugaku-LLM/Fugaku-LLM-13B';
const REDOWNLOAD_HINT = 'the download looks incomplete or corrupt; re-download the checkpoint folder';
const CONVERT_HINT =
  'only safetensors weights are supported; convert with transformers: ' +
  'AutoModelForCausalLM.from_pretrained(dir).save_pretrained(out, safe_serialization=True)';

/** A tensor found in the files but deliberately left out of `tensors`. */
export interface IgnoredTensor {
  name: string;
  file: string;
  reason: string;
}

export interface OpenCheckpointOptions {
  /**
   * If given, every successful `readTensor` / `readTensorRows` advances it by the bytes read.
   * The caller still calls `start(totalBytes, label)` and `stop()`; do not also advance it yourself.
   */
  progress?: ProgressReporter;
}

export interface CheckpointFolder {
  /** Absolute path of the folder. */
  dir: string;
  /** Parsed config.json. */
  config: Record<string, unknown>;
  /** Parsed generation_config.json, or null when the folder has none. */
  generationConfig: Record<string, unknown> | null;
  /** 'sharded' when read through model.safetensors.index.json, 'single' for model.safetensors. */
  layout: 'sharded' | 'single';
  /** Absolute paths of the weight files, in the order their tensors appear in `tensors`. */
  files: string[];
  /** All loadable tensors across shards, names as stored, ordered by (file, offset). */
  tensors: Map<string, TensorInfo>;
  /** Tensors present in the files but skipped (legacy attention buffers, entries missing from the index). */
  ignored: IgnoredTensor[];
  /** Sum of byteLength over `tensors`. */
  totalBytes: number;
  /** Reads one tensor (opening each shard once, keeping FileHandles open until close()). */
  readTensor(name: string): Promise<LoadedTensor>;
  /** Reads rows [rowStart, rowStart + rowCount) of a tensor along its first dimension. */
  readTensorRows(name: string, rowStart: number, rowCount: number): Promise<LoadedTensor>;
  /** Closes every open shard. Idempotent; reads after close() throw. Await pending reads first. */
  close(): Promise<void>;
}

/**
 * True for buffers that old GPT-2 checkpoints saved next to the weights (the causal mask
 * `h.N.attn.bias` and `h.N.attn.masked_bias`). They are recomputed, never loaded.
 * Note `attn.c_attn.bias` (a real weight) does not match.
 */
export function isLegacyAttentionBuffer(name: string): boolean {
  return /(?:^|\.)(?:attn|crossattention)\.(?:bias|masked_bias)$/.test(name);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

async function isFile(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isFile();
  } catch {
    return false;
  }
}

/** Reads a JSON object file; `code` is the error code for unparsable content. */
async function readJsonObject(file: string, code: 'CONFIG_INVALID' | 'SAFETENSORS_INVALID', hint: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new FugakuError('FILE_NOT_FOUND', `cannot read ${file}: ${(e as Error).message}`, hint, { cause: e });
  }
  let json: unknown;
  try {
    json = JSON.parse(text.replace(/^\uFEFF/, '')); // tolerate a UTF-8 byte-order mark
  } catch (e) {
    throw new FugakuError(code, `${file} is not valid JSON (${(e as Error).message})`, hint, { cause: e });
  }
  if (!isPlainObject(json)) throw new FugakuError(code, `${file} is not a JSON object`, hint);
  return json;
}

/** The parsed config.json of a checkpoint folder without touching the weights; null when the folder has none. */
export async function readConfigFile(dir: string): Promise<Record<string, unknown> | null> {
  const configPath = path.join(path.resolve(dir), CONFIG_FILE);
  if (!(await isFile(configPath))) return null;
  return readJsonObject(configPath, 'CONFIG_INVALID', 'config.json must be a JSON object; re-download it');
}

/** Opens a checkpoint folder and validates its config and every safetensors header. */
export async function openCheckpoint(dir: string, options: OpenCheckpointOptions = {}): Promise<CheckpointFolder> {
  const abs = path.resolve(dir);
  let isDir = false;
  try {
    isDir = (await stat(abs)).isDirectory();
  } catch {
    throw new FugakuError('FILE_NOT_FOUND', `checkpoint folder ${abs} does not exist`, DOWNLOAD_HINT);
  }
  if (!isDir) throw new FugakuError('FILE_NOT_FOUND', `${abs} is not a folder`, DOWNLOAD_HINT);

  // config.json (required) and generation_config.json (optional)
  const configPath = path.join(abs, CONFIG_FILE);
  if (!(await isFile(configPath))) {
    throw new FugakuError('FILE_NOT_FOUND', `${abs} has no ${CONFIG_FILE}`, DOWNLOAD_HINT);
  }
  const config = await readJsonObject(configPath, 'CONFIG_INVALID', 'config.json must be a JSON object; re-download it');
  const genPath = path.join(abs, GENERATION_CONFIG_FILE);
  const generationConfig = (await isFile(genPath))
    ? await readJsonObject(genPath, 'CONFIG_INVALID', 'generation_config.json must be a JSON object; fix or delete it')
    : null;

  // weights
  const indexPath = path.join(abs, INDEX_FILE);
  const singlePath = path.join(abs, SINGLE_FILE);
  let weights: Weights;
  if (await isFile(indexPath)) {
    weights = await readShardedWeights(abs, indexPath);
  } else if (await isFile(singlePath)) {
    weights = readSingleWeights(await readSafetensorsHeader(singlePath));
  } else {
    throw await noWeightsError(abs);
  }

  let totalBytes = 0;
  for (const t of weights.tensors.values()) totalBytes += t.byteLength;
  return new CheckpointReader(abs, config, generationConfig, weights, totalBytes, options.progress);
}

/** What the weight files yielded. */
interface Weights {
  layout: 'sharded' | 'single';
  files: string[];
  tensors: Map<string, TensorInfo>;
  ignored: IgnoredTensor[];
}

const LEGACY_REASON = 'legacy attention buffer (causal mask), recomputed at run time';

/** Sorts by (file order, offset) so iterating `tensors` reads each file front to back. */
function orderedTensors(infos: TensorInfo[], files: string[]): Map<string, TensorInfo> {
  const rank = new Map(files.map((f, i) => [f, i]));
  infos.sort((a, b) => rank.get(a.file)! - rank.get(b.file)! || a.offset - b.offset);
  return new Map(infos.map((t) => [t.name, t]));
}

function readSingleWeights(header: SafetensorsHeader): Weights {
  const kept: TensorInfo[] = [];
  const ignored: IgnoredTensor[] = [];
  for (const t of header.tensors.values()) {
    if (isLegacyAttentionBuffer(t.name)) ignored.push({ name: t.name, file: t.file, reason: LEGACY_REASON });
    else kept.push(t);
  }
  return { layout: 'single', files: [header.file], tensors: orderedTensors(kept, [header.file]), ignored };
}

async function readShardedWeights(dir: string, indexPath: string): Promise<Weights> {
  const indexHint = `${INDEX_FILE} must look like {"metadata": {...}, "weight_map": {"tensor name": "shard file"}}; ${REDOWNLOAD_HINT}`;
  const index = await readJsonObject(indexPath, 'SAFETENSORS_INVALID', indexHint);
  const weightMap = index.weight_map;
  if (!isPlainObject(weightMap)) {
    throw new FugakuError('SAFETENSORS_INVALID', `${indexPath}: "weight_map" is missing or not an object`, indexHint);
  }
  if (Object.keys(weightMap).length === 0) {
    throw new FugakuError('SAFETENSORS_INVALID', `${indexPath}: "weight_map" is empty`, indexHint);
  }

  // Resolve each shard name, refusing anything that escapes the folder.
  const shardOf = new Map<string, string>(); // tensor name -> absolute shard path
  for (const [name, shard] of Object.entries(weightMap)) {
    if (typeof shard !== 'string' || shard === '') {
      throw new FugakuError('SAFETENSORS_INVALID', `${indexPath}: shard for tensor "${name}" is not a file name`, indexHint);
    }
    const shardPath = path.resolve(dir, shard);
    const rel = path.relative(dir, shardPath);
    if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) {
      throw new FugakuError('SAFETENSORS_INVALID', `${indexPath}: shard "${shard}" for tensor "${name}" is outside the folder`, indexHint);
    }
    shardOf.set(name, shardPath);
  }

  // Read every shard header once (sorted file names = HF's 00001-of-0000N order).
  const files = [...new Set(shardOf.values())].sort();
  const headers = new Map<string, SafetensorsHeader>();
  for (const file of files) {
    if (!(await isFile(file))) {
      const users = [...shardOf].filter(([, f]) => f === file).length;
      throw new FugakuError(
        'FILE_NOT_FOUND',
        `shard ${file} (listed in ${INDEX_FILE} for ${users} tensors) does not exist`,
        REDOWNLOAD_HINT,
      );
    }
    headers.set(file, await readSafetensorsHeader(file));
  }

  const kept: TensorInfo[] = [];
  const ignored: IgnoredTensor[] = [];
  // Every tensor in the index must be in the shard it names.
  for (const [name, file] of shardOf) {
    const info = headers.get(file)!.tensors.get(name);
    if (!info) {
      throw new FugakuError(
        'TENSOR_MISSING',
        `${INDEX_FILE} says tensor "${name}" is in ${file}, but that shard does not contain it`,
        REDOWNLOAD_HINT,
      );
    }
    if (isLegacyAttentionBuffer(name)) ignored.push({ name, file, reason: LEGACY_REASON });
    else kept.push(info);
  }
  // Tensors in a shard but not mapped to it: a duplicate of a mapped tensor is ambiguous (error);
  // one the index does not list at all is ignored, as transformers does (the index is authoritative).
  for (const [file, header] of headers) {
    for (const name of header.tensors.keys()) {
      const mapped = shardOf.get(name);
      if (mapped === file) continue;
      if (mapped !== undefined) {
        throw new FugakuError(
          'SAFETENSORS_INVALID',
          `tensor "${name}" is stored in two shards: ${mapped} and ${file}`,
          REDOWNLOAD_HINT,
        );
      }
      ignored.push({ name, file, reason: `not listed in ${INDEX_FILE}` });
    }
  }
  return { layout: 'sharded', files, tensors: orderedTensors(kept, files), ignored };
}

/** The error for a folder with no safetensors weights, pointing at what is there instead. */
async function noWeightsError(dir: string): Promise<FugakuError> {
  let names: string[] = [];
  try {
    names = (await readdir(dir)).sort();
  } catch {
    // unreadable folder: fall through to the generic message
  }
  const torch = names.filter((n) => /^pytorch_model.*\.bin(\.index\.json)?$/.test(n));
  if (torch.length > 0) {
    return new FugakuError(
      'FILE_NOT_FOUND',
      `${dir} has PyTorch weights (${torch.join(', ')}) but no ${SINGLE_FILE} or ${INDEX_FILE}`,
      CONVERT_HINT,
    );
  }
  const other = names.filter((n) => /\.(h5|msgpack|gguf|pt|pth|ckpt)$/.test(n));
  if (other.length > 0) {
    return new FugakuError(
      'FILE_NOT_FOUND',
      `${dir} has weights in an unsupported format (${other.join(', ')}) but no ${SINGLE_FILE} or ${INDEX_FILE}`,
      CONVERT_HINT,
    );
  }
  const shards = names.filter((n) => n.endsWith('.safetensors'));
  if (shards.length > 0) {
    return new FugakuError(
      'FILE_NOT_FOUND',
      `${dir} has ${shards.join(', ')} but no ${INDEX_FILE} telling which tensor is in which shard`,
      REDOWNLOAD_HINT,
    );
  }
  return new FugakuError('FILE_NOT_FOUND', `${dir} has no weights (${SINGLE_FILE} or ${INDEX_FILE})`, DOWNLOAD_HINT);
}

/** The CheckpointFolder implementation: header data plus lazily opened, cached shard handles. */
class CheckpointReader implements CheckpointFolder {
  readonly layout: 'sharded' | 'single';
  readonly files: string[];
  readonly tensors: Map<string, TensorInfo>;
  readonly ignored: IgnoredTensor[];
  /** One open per shard; the promise is cached so concurrent reads share it. */
  private readonly handles = new Map<string, Promise<FileHandle>>();
  private closed = false;

  constructor(
    readonly dir: string,
    readonly config: Record<string, unknown>,
    readonly generationConfig: Record<string, unknown> | null,
    weights: Weights,
    readonly totalBytes: number,
    private readonly progress: ProgressReporter | undefined,
  ) {
    this.layout = weights.layout;
    this.files = weights.files;
    this.tensors = weights.tensors;
    this.ignored = weights.ignored;
  }

  async readTensor(name: string): Promise<LoadedTensor> {
    const info = this.info(name);
    const t = await readTensorAt(info, await this.handle(info.file));
    this.progress?.advance(info.byteLength);
    return t;
  }

  async readTensorRows(name: string, rowStart: number, rowCount: number): Promise<LoadedTensor> {
    const info = this.info(name);
    const t = await readTensorRowsAt(info, rowStart, rowCount, await this.handle(info.file));
    this.progress?.advance(t.data.byteLength);
    return t;
  }

  async close(): Promise<void> {
    this.closed = true;
    const pending = [...this.handles.values()];
    this.handles.clear();
    const opened = await Promise.allSettled(pending);
    await Promise.allSettled(opened.map((r) => (r.status === 'fulfilled' ? r.value.close() : undefined)));
  }

  private info(name: string): TensorInfo {
    if (this.closed) {
      throw new FugakuError('INVALID_ARGUMENT', `checkpoint ${this.dir} is closed`, 'read tensors before calling close()');
    }
    const info = this.tensors.get(name);
    if (!info) {
      const why = this.ignored.find((t) => t.name === name);
      throw new FugakuError(
        'TENSOR_MISSING',
        `checkpoint ${this.dir} has no tensor "${name}"${why ? ` (ignored: ${why.reason})` : ''}`,
        'tensor names are as stored in the files; see CheckpointFolder.tensors for the list',
      );
    }
    return info;
  }

  private handle(file: string): Promise<FileHandle> {
    let h = this.handles.get(file);
    if (!h) {
      h = open(file, 'r').catch((e: unknown) => {
        this.handles.delete(file); // allow a retry after e.g. a transient EMFILE
        throw new FugakuError('FILE_NOT_FOUND', `cannot open ${file}: ${(e as Error).message}`, REDOWNLOAD_HINT, { cause: e });
      });
      this.handles.set(file, h);
    }
    return h;
  }
}
