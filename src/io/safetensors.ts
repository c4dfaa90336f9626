/**
 * Reading safetensors files (https://github.com/huggingface/safetensors) without ever holding a
 * whole file in memory.
 *
 * Layout of a file:
 *   [8 bytes]  N, the header length, little-endian u64
 *   [N bytes]  JSON header: {"__metadata__"?: {str: str}, name: {dtype, shape, data_offsets: [begin, end]}, ...}
 *   [rest]     tensor data; data_offsets are relative to the first byte after the header
 *
 * `readSafetensorsHeader` reads and fully validates the header (it trusts nothing: every length is
 * checked against the file size before anything is allocated). `readTensor` / `readTensorRows`
 * then read exactly one tensor's (or a row range's) bytes at their offset with FileHandle.read.
 */
import { open, stat, type FileHandle } from 'node:fs/promises';
import { endianness } from 'node:os';
import * as path from 'node:path';
import { FugakuError } from '../errors.js';
import type { StorageArray, StorageDType } from '../tensor/dtype.js';

/** Every dtype the safetensors format defines. All parse; only BF16/F16/F32 can be loaded. */
export type SafetensorsDType =
  | 'BOOL'
  | 'U8'
  | 'I8'
  | 'I16'
  | 'U16'
  | 'F16'
  | 'BF16'
  | 'I32'
  | 'U32'
  | 'F32'
  | 'F64'
  | 'I64'
  | 'U64'
  | 'F8_E4M3'
  | 'F8_E5M2';

/** Bytes per element of each safetensors dtype. */
export const SAFETENSORS_DTYPE_BYTES: Readonly<Record<SafetensorsDType, number>> = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  F64: 8,
  I64: 8,
  U64: 8,
  F8_E4M3: 1,
  F8_E5M2: 1,
};

/** Headers longer than this are rejected before allocation (the reference implementation uses the same cap). */
export const MAX_HEADER_BYTES = 100 * 1024 * 1024;

/** Largest single FileHandle.read request (Node caps one read at 2 GiB - 1). */
const MAX_READ_CHUNK = 1024 * 1024 * 1024;

/** Where one tensor lives. */
export interface TensorInfo {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  /** Absolute path of the file holding the tensor. */
  file: string;
  /** Absolute byte offset of the tensor's first byte in `file`. */
  offset: number;
  byteLength: number;
}

export interface SafetensorsHeader {
  /** Absolute path. */
  file: string;
  /** File size when the header was read. */
  fileSize: number;
  /** Absolute offset of the data section (8 + header length). */
  dataStart: number;
  /** The optional `__metadata__` string map (e.g. {"format": "pt"}). */
  metadata: Record<string, string>;
  /** Tensors in header order. */
  tensors: Map<string, TensorInfo>;
}

/** A tensor's bytes as a storage array: BF16/F16 as raw 16-bit patterns, F32 as floats. */
export interface LoadedTensor {
  dtype: StorageDType;
  shape: number[];
  data: StorageArray;
}

/** True for the dtypes `readTensor` can return. */
export function isLoadableDType(dtype: SafetensorsDType): dtype is StorageDType {
  return dtype === 'BF16' || dtype === 'F16' || dtype === 'F32';
}

const INVALID_HINT = 'the file is corrupt or was not written by a safetensors writer; re-download or re-export it';
const TRUNCATED_HINT = 'the file is truncated (interrupted download?); re-download it';

function invalid(file: string, what: string, hint = INVALID_HINT): FugakuError {
  return new FugakuError('SAFETENSORS_INVALID', `${file}: ${what}`, hint);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Opens a file for reading, turning ENOENT & co. into FILE_NOT_FOUND. */
async function openForReading(file: string): Promise<FileHandle> {
  try {
    return await open(file, 'r');
  } catch (e) {
    throw notFound(file, e);
  }
}

function notFound(file: string, cause: unknown): FugakuError {
  const code = (cause as NodeJS.ErrnoException | undefined)?.code;
  const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : String(cause);
  return new FugakuError(
    'FILE_NOT_FOUND',
    `cannot open safetensors file ${file}: ${why}`,
    'check the path; it must name an existing .safetensors file',
    { cause },
  );
}

/**
 * Fills `target` with bytes read from `handle` starting at `position`, looping over partial reads.
 * A read that hits end-of-file early (the file shrank after its header was validated) throws
 * SAFETENSORS_INVALID naming `file` and `what`.
 */
async function readExactly(
  handle: FileHandle,
  target: Uint8Array,
  position: number,
  file: string,
  what: string,
): Promise<void> {
  let done = 0;
  while (done < target.byteLength) {
    const want = Math.min(target.byteLength - done, MAX_READ_CHUNK);
    const { bytesRead } = await handle.read(target, done, want, position + done);
    if (bytesRead === 0) {
      throw invalid(
        file,
        `${what}: expected ${target.byteLength} bytes at offset ${position}, but the file ends after ${done}`,
        TRUNCATED_HINT,
      );
    }
    done += bytesRead;
  }
}

/** Reads and validates a safetensors header. Never reads tensor data. */
export async function readSafetensorsHeader(file: string): Promise<SafetensorsHeader> {
  const abs = path.resolve(file);
  let fileSize: number;
  try {
    const st = await stat(abs);
    if (!st.isFile()) {
      throw new FugakuError(
        'FILE_NOT_FOUND',
        `${abs} is not a regular file`,
        'pass the path of a .safetensors file',
      );
    }
    fileSize = st.size;
  } catch (e) {
    if (e instanceof FugakuError) throw e;
    throw notFound(abs, e);
  }
  if (fileSize < 8) {
    throw invalid(abs, `file is ${fileSize} bytes, too short for the 8-byte header length`, TRUNCATED_HINT);
  }

  const handle = await openForReading(abs);
  try {
    // 1. Header length: a u64, so compare as bigint before converting (it may exceed 2^53).
    const lenBytes = new Uint8Array(8);
    await readExactly(handle, lenBytes, 0, abs, 'header length');
    const headerLen = new DataView(lenBytes.buffer).getBigUint64(0, true);
    if (headerLen > BigInt(MAX_HEADER_BYTES)) {
      throw invalid(abs, `header length ${headerLen} is too long (limit ${MAX_HEADER_BYTES} bytes)`);
    }
    if (headerLen > BigInt(fileSize - 8)) {
      throw invalid(
        abs,
        `header length ${headerLen} is larger than the file (${fileSize} bytes)`,
        TRUNCATED_HINT + ' (or it is not a safetensors file)',
      );
    }
    const n = Number(headerLen);
    const dataStart = 8 + n;

    // 2. Header JSON: strict UTF-8, then JSON, then an object.
    const headerBytes = new Uint8Array(n);
    await readExactly(handle, headerBytes, 8, abs, 'header');
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
    } catch {
      throw invalid(abs, 'header is not valid UTF-8');
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      throw invalid(abs, `header is not valid JSON (${(e as Error).message})`);
    }
    if (!isPlainObject(json)) {
      throw invalid(abs, 'header is not a JSON object');
    }

    const { metadata, tensors } = parseHeaderEntries(json, abs, dataStart, fileSize);
    return { file: abs, fileSize, dataStart, metadata, tensors };
  } finally {
    await handle.close();
  }
}

/** Validates every header entry and the byte ranges between them. */
function parseHeaderEntries(
  json: Record<string, unknown>,
  file: string,
  dataStart: number,
  fileSize: number,
): { metadata: Record<string, string>; tensors: Map<string, TensorInfo> } {
  const metadata: Record<string, string> = {};
  const tensors = new Map<string, TensorInfo>();
  const ranges: Array<{ name: string; begin: number; end: number }> = [];

  for (const [name, entry] of Object.entries(json)) {
    if (name === '__metadata__') {
      if (!isPlainObject(entry)) throw invalid(file, '"__metadata__" is not an object of strings');
      for (const [k, v] of Object.entries(entry)) {
        if (typeof v !== 'string') throw invalid(file, `"__metadata__" value for "${k}" is not a string`);
        metadata[k] = v;
      }
      continue;
    }
    const where = `tensor "${name}"`;
    if (!isPlainObject(entry)) throw invalid(file, `${where}: entry is not an object`);
    const { dtype, shape, data_offsets: offsets } = entry;

    // dtype
    if (dtype === undefined) throw invalid(file, `${where}: missing "dtype"`);
    if (typeof dtype !== 'string') throw invalid(file, `${where}: "dtype" is not a string`);
    if (!Object.hasOwn(SAFETENSORS_DTYPE_BYTES, dtype)) {
      throw invalid(
        file,
        `${where}: unknown dtype "${dtype}"`,
        `known dtypes: ${Object.keys(SAFETENSORS_DTYPE_BYTES).join(', ')}`,
      );
    }
    const dt = dtype as SafetensorsDType;

    // shape (elements counted with an overflow guard: the product must stay a safe integer)
    if (shape === undefined) throw invalid(file, `${where}: missing "shape"`);
    if (!Array.isArray(shape)) throw invalid(file, `${where}: "shape" is not an array`);
    let elements = 1;
    for (const d of shape) {
      if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
        throw invalid(file, `${where}: shape ${JSON.stringify(shape)} has a dimension that is not a non-negative integer`);
      }
      elements = elements * d;
      if (!Number.isSafeInteger(elements)) {
        throw invalid(file, `${where}: shape ${JSON.stringify(shape)} has too many elements`);
      }
    }

    // data_offsets
    if (offsets === undefined) throw invalid(file, `${where}: missing "data_offsets"`);
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !offsets.every((o) => typeof o === 'number' && Number.isSafeInteger(o) && o >= 0)
    ) {
      throw invalid(file, `${where}: "data_offsets" ${JSON.stringify(offsets)} is not [begin, end] of non-negative integers`);
    }
    const [begin, end] = offsets as [number, number];
    if (begin > end) throw invalid(file, `${where}: data_offsets [${begin}, ${end}] has begin > end`);

    // size consistency and bounds
    const expected = elements * SAFETENSORS_DTYPE_BYTES[dt];
    if (expected !== end - begin) {
      throw invalid(
        file,
        `${where}: shape ${JSON.stringify(shape)} × ${dt} needs ${expected} bytes but data_offsets [${begin}, ${end}] span ${end - begin}`,
      );
    }
    if (dataStart + end > fileSize) {
      throw invalid(
        file,
        `${where}: data_offsets [${begin}, ${end}] reach byte ${dataStart + end} but the file has only ${fileSize} bytes`,
        TRUNCATED_HINT,
      );
    }

    tensors.set(name, {
      name,
      dtype: dt,
      shape: shape.slice() as number[],
      file,
      offset: dataStart + begin,
      byteLength: end - begin,
    });
    ranges.push({ name, begin, end });
  }

  // No two tensors may share bytes. Sorting by begin means only neighbours can overlap.
  // (Empty tensors occupy no bytes and overlap nothing.)
  const nonEmpty = ranges.filter((r) => r.end > r.begin).sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < nonEmpty.length; i++) {
    const prev = nonEmpty[i - 1];
    const cur = nonEmpty[i];
    if (cur.begin < prev.end) {
      throw invalid(
        file,
        `tensors "${prev.name}" [${prev.begin}, ${prev.end}] and "${cur.name}" [${cur.begin}, ${cur.end}] overlap`,
      );
    }
  }
  return { metadata, tensors };
}

/** Swaps the bytes of every 2- or 4-byte element in place (only needed on big-endian hosts). */
export function swapBytes(bytes: Uint8Array, width: number): void {
  for (let i = 0; i < bytes.length; i += width) {
    for (let a = i, b = i + width - 1; a < b; a++, b--) {
      const t = bytes[a];
      bytes[a] = bytes[b];
      bytes[b] = t;
    }
  }
}

/** Reads `byteLength` bytes at `position` into a fresh, aligned buffer and views it as `dtype`. */
async function readAsStorage(
  info: TensorInfo,
  position: number,
  byteLength: number,
  what: string,
  handle: FileHandle | undefined,
): Promise<StorageArray> {
  if (!isLoadableDType(info.dtype)) {
    throw new FugakuError(
      'DTYPE_UNSUPPORTED',
      `${info.file}: tensor "${info.name}" has dtype ${info.dtype}; only BF16, F16 and F32 can be loaded`,
      'export the checkpoint in bfloat16, float16 or float32',
    );
  }
  // A fresh ArrayBuffer starts at offset 0, so 2- and 4-byte views over it are always aligned.
  const bytes = new Uint8Array(byteLength);
  const own = handle === undefined;
  const h = handle ?? (await openForReading(info.file));
  try {
    await readExactly(h, bytes, position, info.file, what);
  } finally {
    if (own) await h.close();
  }
  // safetensors data is little-endian.
  const width = info.dtype === 'F32' ? 4 : 2;
  if (endianness() === 'BE') swapBytes(bytes, width);
  return width === 4 ? new Float32Array(bytes.buffer) : new Uint16Array(bytes.buffer);
}

/**
 * Reads one whole tensor: exactly `info.byteLength` bytes at `info.offset`.
 * BF16/F16 come back as Uint16Array (raw bits), F32 as Float32Array; other dtypes throw
 * DTYPE_UNSUPPORTED. Pass an open `handle` to `info.file` to avoid reopening the file per tensor.
 */
export async function readTensor(info: TensorInfo, handle?: FileHandle): Promise<LoadedTensor> {
  const data = await readAsStorage(info, info.offset, info.byteLength, `tensor "${info.name}"`, handle);
  return { dtype: info.dtype as StorageDType, shape: info.shape.slice(), data };
}

/**
 * Reads rows [rowStart, rowStart + rowCount) of a tensor along its first dimension (for a 2-D
 * [rows, cols] weight: rowCount × cols elements). Lets callers stream a huge tensor in slices.
 * The returned shape is [rowCount, ...info.shape.slice(1)].
 */
export async function readTensorRows(
  info: TensorInfo,
  rowStart: number,
  rowCount: number,
  handle?: FileHandle,
): Promise<LoadedTensor> {
  if (info.shape.length < 1) {
    throw new FugakuError(
      'INVALID_ARGUMENT',
      `${info.file}: tensor "${info.name}" is a scalar and has no rows`,
      'use readTensor for 0-D tensors',
    );
  }
  const rows = info.shape[0];
  if (
    !Number.isSafeInteger(rowStart) ||
    !Number.isSafeInteger(rowCount) ||
    rowStart < 0 ||
    rowCount < 0 ||
    rowStart + rowCount > rows
  ) {
    throw new FugakuError(
      'INVALID_ARGUMENT',
      `${info.file}: rows [${rowStart}, ${rowStart + rowCount}) are outside tensor "${info.name}" with ${rows} rows`,
      'rowStart and rowCount must be non-negative integers with rowStart + rowCount <= shape[0]',
    );
  }
  // Row byte size = byteLength / rows; for rows === 0, rowCount is 0 too and nothing is read.
  const rowBytes = rows === 0 ? 0 : info.byteLength / rows;
  const data = await readAsStorage(
    info,
    info.offset + rowStart * rowBytes,
    rowCount * rowBytes,
    `tensor "${info.name}" rows [${rowStart}, ${rowStart + rowCount})`,
    handle,
  );
  return { dtype: info.dtype as StorageDType, shape: [rowCount, ...info.shape.slice(1)], data };
}
