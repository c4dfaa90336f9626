/**
 * GGUF (https://github.com/ggml-org/ggml/blob/master/docs/gguf.md), version 3: reader and
 * streaming writer. Everything is little-endian.
 *
 * Layout of a file:
 *   u32 magic "GGUF" | u32 version (3) | u64 tensor_count | u64 metadata_kv_count
 *   metadata_kv_count × { string key | u32 value_type | value }
 *   tensor_count × { string name | u32 n_dims | u64 ne[n_dims] | u32 ggml_type | u64 offset }
 *   padding to `general.alignment` (default 32)
 *   tensor data section: each tensor at data_start + offset (offset a multiple of the alignment)
 * where string = u64 byte length + UTF-8 bytes (no terminator), and an array value =
 * u32 item_type + u64 count + items. ne[0] is the innermost (contiguous) dimension, so a row-major
 * [rows, cols] matrix has ne = [cols, rows]; `shape` below is always the row-major form (ne reversed).
 *
 * Reading (`openGGUF`) parses and validates the header and tensor infos only — every count and
 * length is checked against the file size before anything is allocated — and then reads one tensor
 * at a time at its offset through a FileHandle (real files are 7–14 GB). Every malformed input is a
 * FugakuError 'GGUF_INVALID' (or FILE_NOT_FOUND / DTYPE_UNSUPPORTED), never a crash.
 *
 * Writing (`writeGGUF` / `GGUFWriter`) needs the tensor names, types and shapes up front: it writes
 * the header, metadata and tensor infos first, then each tensor's bytes in order, produced one at a
 * time by the caller, with the padding llama.cpp expects (tensor i's offset is the end of tensor
 * i-1 rounded up to the alignment). The file is written under a temporary name and renamed into
 * place only when complete.
 */
import { open, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { endianness } from 'node:os';
import * as path from 'node:path';
import { swapBytes } from './safetensors.js';
import { FugakuError } from '../errors.js';
import { isGGMLBlockType, type GGMLBlockType } from '../tensor/ggml/formats.js';

export const GGUF_MAGIC = 'GGUF';
export const GGUF_VERSION = 3;
export const GGUF_DEFAULT_ALIGNMENT = 32;

/** Metadata value types, with their on-disk codes. */
export const GGUF_VALUE_TYPES = {
  uint8: 0,
  int8: 1,
  uint16: 2,
  int16: 3,
  uint32: 4,
  int32: 5,
  float32: 6,
  bool: 7,
  string: 8,
  array: 9,
  uint64: 10,
  int64: 11,
  float64: 12,
} as const;
export type GGUFValueType = keyof typeof GGUF_VALUE_TYPES;
const VALUE_TYPE_BY_CODE = new Map<number, GGUFValueType>(Object.entries(GGUF_VALUE_TYPES).map(([k, v]) => [v, k as GGUFValueType]));

/** Fixed byte size of each scalar type (strings and arrays are variable). */
const SCALAR_BYTES: Partial<Record<GGUFValueType, number>> = {
  uint8: 1, int8: 1, bool: 1, uint16: 2, int16: 2, uint32: 4, int32: 4, float32: 4, uint64: 8, int64: 8, float64: 8,
};

/** Array items: numeric arrays as typed arrays, bools/strings as JS arrays, nested arrays as GGUFArray[]. */
export type GGUFArrayItems =
  | Uint8Array
  | Int8Array
  | Uint16Array
  | Int16Array
  | Uint32Array
  | Int32Array
  | Float32Array
  | Float64Array
  | BigUint64Array
  | BigInt64Array
  | boolean[]
  | string[]
  | GGUFArray[];

export interface GGUFArray {
  type: 'array';
  itemType: GGUFValueType;
  value: GGUFArrayItems;
}

/** A metadata value with its GGUF type (what the reader returns and the writer takes). */
export type GGUFTypedValue =
  | { type: 'uint8' | 'int8' | 'uint16' | 'int16' | 'uint32' | 'int32' | 'float32' | 'float64'; value: number }
  | { type: 'uint64' | 'int64'; value: bigint }
  | { type: 'bool'; value: boolean }
  | { type: 'string'; value: string }
  | GGUFArray;

/** Constructors for typed metadata values: `gguf.u32(7)`, `gguf.str('gpt2')`, `gguf.strings([...])`... */
export const gguf = {
  u8: (value: number): GGUFTypedValue => ({ type: 'uint8', value }),
  i8: (value: number): GGUFTypedValue => ({ type: 'int8', value }),
  u16: (value: number): GGUFTypedValue => ({ type: 'uint16', value }),
  i16: (value: number): GGUFTypedValue => ({ type: 'int16', value }),
  u32: (value: number): GGUFTypedValue => ({ type: 'uint32', value }),
  i32: (value: number): GGUFTypedValue => ({ type: 'int32', value }),
  f32: (value: number): GGUFTypedValue => ({ type: 'float32', value }),
  f64: (value: number): GGUFTypedValue => ({ type: 'float64', value }),
  u64: (value: bigint | number): GGUFTypedValue => ({ type: 'uint64', value: BigInt(value) }),
  i64: (value: bigint | number): GGUFTypedValue => ({ type: 'int64', value: BigInt(value) }),
  bool: (value: boolean): GGUFTypedValue => ({ type: 'bool', value }),
  str: (value: string): GGUFTypedValue => ({ type: 'string', value }),
  strings: (value: string[]): GGUFArray => ({ type: 'array', itemType: 'string', value }),
  f32s: (value: ArrayLike<number>): GGUFArray => ({ type: 'array', itemType: 'float32', value: Float32Array.from(value) }),
  i32s: (value: ArrayLike<number>): GGUFArray => ({ type: 'array', itemType: 'int32', value: Int32Array.from(value) }),
  array: (itemType: GGUFValueType, value: GGUFArrayItems): GGUFArray => ({ type: 'array', itemType, value }),
};

/**
 * ggml tensor types: code, elements per block, bytes per block (sizes as ggml-common.h's static_asserts).
 * F32/F16/BF16 and every GGMLBlockType (src/tensor/ggml/formats.ts) can be read as weights; the
 * others are known so that other GGUF files parse and validate, and reading them throws DTYPE_UNSUPPORTED.
 */
export const GGML_TYPES = {
  F32: { id: 0, blockSize: 1, typeSize: 4 },
  F16: { id: 1, blockSize: 1, typeSize: 2 },
  Q4_0: { id: 2, blockSize: 32, typeSize: 18 },
  Q8_0: { id: 8, blockSize: 32, typeSize: 34 },
  BF16: { id: 30, blockSize: 1, typeSize: 2 },
  Q4_1: { id: 3, blockSize: 32, typeSize: 20 },
  Q5_0: { id: 6, blockSize: 32, typeSize: 22 },
  Q5_1: { id: 7, blockSize: 32, typeSize: 24 },
  Q2_K: { id: 10, blockSize: 256, typeSize: 84 },
  Q3_K: { id: 11, blockSize: 256, typeSize: 110 },
  Q4_K: { id: 12, blockSize: 256, typeSize: 144 },
  Q5_K: { id: 13, blockSize: 256, typeSize: 176 },
  Q6_K: { id: 14, blockSize: 256, typeSize: 210 },
  IQ2_XXS: { id: 16, blockSize: 256, typeSize: 66 },
  IQ2_XS: { id: 17, blockSize: 256, typeSize: 74 },
  IQ3_XXS: { id: 18, blockSize: 256, typeSize: 98 },
  IQ1_S: { id: 19, blockSize: 256, typeSize: 50 },
  IQ4_NL: { id: 20, blockSize: 32, typeSize: 18 },
  IQ3_S: { id: 21, blockSize: 256, typeSize: 110 },
  IQ2_S: { id: 22, blockSize: 256, typeSize: 82 },
  IQ4_XS: { id: 23, blockSize: 256, typeSize: 136 },
  IQ1_M: { id: 29, blockSize: 256, typeSize: 56 },
  // Known but not loadable.
  Q8_1: { id: 9, blockSize: 32, typeSize: 36 },
  Q8_K: { id: 15, blockSize: 256, typeSize: 292 },
  I8: { id: 24, blockSize: 1, typeSize: 1 },
  I16: { id: 25, blockSize: 1, typeSize: 2 },
  I32: { id: 26, blockSize: 1, typeSize: 4 },
  I64: { id: 27, blockSize: 1, typeSize: 8 },
  F64: { id: 28, blockSize: 1, typeSize: 8 },
  TQ1_0: { id: 34, blockSize: 256, typeSize: 54 },
  TQ2_0: { id: 35, blockSize: 256, typeSize: 66 },
  MXFP4: { id: 39, blockSize: 32, typeSize: 17 },
} as const;
export type GGMLTypeName = keyof typeof GGML_TYPES;
const GGML_TYPE_BY_ID = new Map<number, GGMLTypeName>(Object.entries(GGML_TYPES).map(([k, v]) => [v.id, k as GGMLTypeName]));

/** The tensor types `readTensor` returns (the runtime's MatrixFormat): floats and every ggml block type. */
export type GGUFLoadableType = 'F32' | 'F16' | 'BF16' | GGMLBlockType;
export function isLoadableGGMLType(t: GGMLTypeName): t is GGUFLoadableType {
  return t === 'F32' || t === 'F16' || t === 'BF16' || isGGMLBlockType(t);
}

/** Bytes of a tensor of `type` with dimensions `ne` (ne[0] must be a multiple of the block size). */
export function ggmlTensorBytes(type: GGMLTypeName, ne: readonly number[]): number {
  const t = GGML_TYPES[type];
  if (ne.length > 0 && ne[0] % t.blockSize !== 0) {
    throw new FugakuError('INVALID_ARGUMENT', `a ${type} tensor needs ne[0] to be a multiple of ${t.blockSize}, got ${ne[0]}`, 'use a float type (f16, bf16, f32) for this tensor');
  }
  let n = 1;
  for (const d of ne) n *= d;
  return (n / t.blockSize) * t.typeSize;
}

/** Where one tensor lives in a GGUF file. */
export interface GGUFTensorInfo {
  name: string;
  type: GGMLTypeName;
  /** ggml dimensions, innermost first. */
  ne: number[];
  /** Row-major shape, outermost first (ne reversed). */
  shape: number[];
  /** Absolute byte offset of the tensor's first byte. */
  offset: number;
  byteLength: number;
}

/** A tensor's bytes: F32 as floats, F16/BF16 as raw 16-bit patterns, block types (Q8_0, Q4_K, IQ4_NL...) as block bytes. */
export interface GGUFTensorData {
  dtype: GGUFLoadableType;
  /** Row-major, outermost first (ne reversed). */
  shape: number[];
  data: Float32Array | Uint16Array | Uint8Array;
}

export interface GGUFFile {
  /** Absolute path. */
  file: string;
  fileSize: number;
  version: number;
  alignment: number;
  /** Absolute offset of the tensor data section. */
  dataStart: number;
  /** Metadata in file order, each value with its GGUF type. */
  metadata: Map<string, GGUFTypedValue>;
  /** Tensors in file order. */
  tensors: Map<string, GGUFTensorInfo>;
  /** Reads one tensor (F32/F16/BF16 and the ggml block types; others throw DTYPE_UNSUPPORTED). */
  readTensor(name: string): Promise<GGUFTensorData>;
  /** Closes the file handle. Idempotent; reads after close() throw. */
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Reading

const INVALID_HINT = 'the file is corrupt or was not written by a GGUF writer; re-download it or convert again with `fugaku convert`';
const TRUNCATED_HINT = 'the file is truncated (interrupted download or copy?); re-download or convert it again';
/** Header reads are buffered in chunks of this size. */
const CHUNK = 1 << 20;
/** Longest string accepted in the header (a whole tokenizer.json is a few MB). */
const MAX_STRING_BYTES = 256 * 1024 * 1024;
/** Deepest nesting of arrays accepted. */
const MAX_ARRAY_DEPTH = 8;
const MAX_DIMS = 4;
const MAX_READ_CHUNK = 1024 * 1024 * 1024;

function invalid(file: string, what: string, hint = INVALID_HINT): FugakuError {
  return new FugakuError('GGUF_INVALID', `${file}: ${what}`, hint);
}

function notFound(file: string, cause: unknown): FugakuError {
  const code = (cause as NodeJS.ErrnoException | undefined)?.code;
  const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : String(cause);
  return new FugakuError('FILE_NOT_FOUND', `cannot open GGUF file ${file}: ${why}`, 'check the path; it must name an existing .gguf file', { cause });
}

async function readExactly(handle: FileHandle, target: Uint8Array, position: number, file: string, what: string): Promise<void> {
  let done = 0;
  while (done < target.byteLength) {
    const want = Math.min(target.byteLength - done, MAX_READ_CHUNK);
    const { bytesRead } = await handle.read(target, done, want, position + done);
    if (bytesRead === 0) {
      throw invalid(file, `${what}: expected ${target.byteLength} bytes at offset ${position}, but the file ends after ${done}`, TRUNCATED_HINT);
    }
    done += bytesRead;
  }
}

/** Sequential, buffered, bounds-checked reads of the header. */
class HeaderCursor {
  private buf = new Uint8Array(0);
  private view = new DataView(this.buf.buffer);
  /** Absolute file position of buf[0]. */
  private bufStart = 0;
  /** Absolute position of the next byte to read. */
  pos = 0;
  /** ignoreBOM: a string may legitimately start with U+FEFF (it is a token of the llm-jp vocabulary). */
  private readonly decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

  constructor(private readonly handle: FileHandle, readonly file: string, readonly fileSize: number) {}

  remaining(): number {
    return this.fileSize - this.pos;
  }

  /** Makes bytes [pos, pos + n) available in buf; throws GGUF_INVALID if the file is shorter. */
  private async ensure(n: number, what: string): Promise<number> {
    if (n > this.remaining()) {
      throw invalid(this.file, `${what} at offset ${this.pos} needs ${n} bytes but the file has only ${this.remaining()} left`, TRUNCATED_HINT);
    }
    const at = this.pos - this.bufStart;
    if (at >= 0 && at + n <= this.buf.byteLength) return at;
    const size = Math.min(Math.max(n, CHUNK), this.remaining());
    const fresh = new Uint8Array(size);
    await readExactly(this.handle, fresh, this.pos, this.file, what);
    this.buf = fresh;
    this.view = new DataView(fresh.buffer);
    this.bufStart = this.pos;
    return 0;
  }

  async u32(what: string): Promise<number> {
    const at = await this.ensure(4, what);
    this.pos += 4;
    return this.view.getUint32(at, true);
  }

  /** A u64 that must fit a safe integer (counts, lengths, offsets, dimensions). */
  async u64(what: string): Promise<number> {
    const at = await this.ensure(8, what);
    this.pos += 8;
    const v = this.view.getBigUint64(at, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw invalid(this.file, `${what} = ${v} is implausibly large`);
    return Number(v);
  }

  async bytes(n: number, what: string): Promise<Uint8Array> {
    const at = await this.ensure(n, what);
    this.pos += n;
    return this.buf.subarray(at, at + n);
  }

  async string(what: string): Promise<string> {
    const len = await this.u64(`${what} length`);
    if (len > MAX_STRING_BYTES) throw invalid(this.file, `${what} is ${len} bytes long (limit ${MAX_STRING_BYTES})`);
    if (len > this.remaining()) {
      throw invalid(this.file, `${what} is ${len} bytes long but only ${this.remaining()} bytes of the file are left`, TRUNCATED_HINT);
    }
    const b = await this.bytes(len, what);
    try {
      return this.decoder.decode(b);
    } catch {
      throw invalid(this.file, `${what} is not valid UTF-8`);
    }
  }

  async scalar(type: GGUFValueType, what: string): Promise<number | bigint | boolean> {
    const size = SCALAR_BYTES[type]!;
    const at = await this.ensure(size, what);
    this.pos += size;
    const v = this.view;
    switch (type) {
      case 'uint8': return v.getUint8(at);
      case 'int8': return v.getInt8(at);
      case 'uint16': return v.getUint16(at, true);
      case 'int16': return v.getInt16(at, true);
      case 'uint32': return v.getUint32(at, true);
      case 'int32': return v.getInt32(at, true);
      case 'float32': return v.getFloat32(at, true);
      case 'float64': return v.getFloat64(at, true);
      case 'uint64': return v.getBigUint64(at, true);
      case 'int64': return v.getBigInt64(at, true);
      case 'bool': {
        const b = v.getUint8(at);
        if (b > 1) throw invalid(this.file, `${what}: bool value ${b} is neither 0 nor 1`);
        return b === 1;
      }
      default: throw new Error(`not a scalar type: ${type}`);
    }
  }

  async valueType(what: string): Promise<GGUFValueType> {
    const code = await this.u32(`${what} type`);
    const t = VALUE_TYPE_BY_CODE.get(code);
    if (t === undefined) throw invalid(this.file, `${what} has unknown value type ${code}`);
    return t;
  }

  async value(type: GGUFValueType, what: string, depth = 0): Promise<GGUFTypedValue> {
    if (type === 'string') return { type, value: await this.string(what) };
    if (type !== 'array') return { type, value: await this.scalar(type, what) } as GGUFTypedValue;
    if (depth >= MAX_ARRAY_DEPTH) throw invalid(this.file, `${what}: arrays nested deeper than ${MAX_ARRAY_DEPTH}`);
    const itemType = await this.valueType(`${what} item`);
    const count = await this.u64(`${what} count`);
    // Every item takes at least one byte (strings at least 8): refuse counts the file cannot hold.
    const minItem = itemType === 'string' ? 8 : itemType === 'array' ? 12 : SCALAR_BYTES[itemType]!;
    if (count * minItem > this.remaining()) {
      throw invalid(this.file, `${what}: ${count} items of type ${itemType} cannot fit in the ${this.remaining()} bytes left`, TRUNCATED_HINT);
    }
    if (itemType === 'string') {
      const out: string[] = new Array(count);
      for (let i = 0; i < count; i++) out[i] = await this.string(`${what}[${i}]`);
      return { type: 'array', itemType, value: out };
    }
    if (itemType === 'array') {
      const out: GGUFArray[] = new Array(count);
      for (let i = 0; i < count; i++) {
        // Each item is an array value: its own item type, count and items (no extra type tag).
        out[i] = (await this.value('array', `${what}[${i}]`, depth + 1)) as GGUFArray;
      }
      return { type: 'array', itemType, value: out };
    }
    if (itemType === 'bool') {
      const out: boolean[] = new Array(count);
      for (let i = 0; i < count; i++) out[i] = (await this.scalar('bool', `${what}[${i}]`)) as boolean;
      return { type: 'array', itemType, value: out };
    }
    const size = SCALAR_BYTES[itemType]!;
    const raw = await this.bytes(count * size, what);
    const copy = new Uint8Array(raw); // fresh, aligned buffer
    if (endianness() === 'BE' && size > 1) swapBytes(copy, size);
    return { type: 'array', itemType, value: typedArrayOf(itemType, copy.buffer) };
  }
}

function typedArrayOf(type: GGUFValueType, buf: ArrayBuffer): GGUFArrayItems {
  switch (type) {
    case 'uint8': return new Uint8Array(buf);
    case 'int8': return new Int8Array(buf);
    case 'uint16': return new Uint16Array(buf);
    case 'int16': return new Int16Array(buf);
    case 'uint32': return new Uint32Array(buf);
    case 'int32': return new Int32Array(buf);
    case 'float32': return new Float32Array(buf);
    case 'float64': return new Float64Array(buf);
    case 'uint64': return new BigUint64Array(buf);
    case 'int64': return new BigInt64Array(buf);
    default: throw new Error(`not a numeric type: ${type}`);
  }
}


function isPowerOfTwo(n: number): boolean {
  return Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
}

/** Opens a GGUF file: parses and validates the header and tensor infos; tensor data is read on demand. */
export async function openGGUF(file: string): Promise<GGUFFile> {
  const abs = path.resolve(file);
  let fileSize: number;
  try {
    const st = await stat(abs);
    if (!st.isFile()) throw new FugakuError('FILE_NOT_FOUND', `${abs} is not a regular file`, 'pass the path of a .gguf file');
    fileSize = st.size;
  } catch (e) {
    if (e instanceof FugakuError) throw e;
    throw notFound(abs, e);
  }
  let handle: FileHandle;
  try {
    handle = await open(abs, 'r');
  } catch (e) {
    throw notFound(abs, e);
  }
  try {
    const parsed = await parseHeader(handle, abs, fileSize);
    return new GGUFReader(abs, fileSize, parsed, handle);
  } catch (e) {
    await handle.close();
    throw e;
  }
}

interface ParsedHeader {
  version: number;
  alignment: number;
  dataStart: number;
  metadata: Map<string, GGUFTypedValue>;
  tensors: Map<string, GGUFTensorInfo>;
}

async function parseHeader(handle: FileHandle, file: string, fileSize: number): Promise<ParsedHeader> {
  if (fileSize < 24) throw invalid(file, `file is ${fileSize} bytes, too short for a GGUF header (24 bytes)`, TRUNCATED_HINT);
  const c = new HeaderCursor(handle, file, fileSize);
  const magic = await c.bytes(4, 'magic');
  if (String.fromCharCode(...magic) !== GGUF_MAGIC) {
    const shown = [...magic].map((b) => b.toString(16).padStart(2, '0')).join(' ');
    throw invalid(file, `bad magic ${shown} (expected "GGUF" = 47 47 55 46): not a GGUF file`, 'pass a .gguf file (convert a Hugging Face folder with `fugaku convert`)');
  }
  const version = await c.u32('version');
  if (version !== 2 && version !== 3) {
    throw invalid(file, `GGUF version ${version} is not supported (only 3, and 2 which has the same layout)`, version === 1 ? 're-convert the model with a current converter' : INVALID_HINT);
  }
  const tensorCount = await c.u64('tensor count');
  const kvCount = await c.u64('metadata count');
  // A key-value pair takes at least 8 + 4 + 1 bytes; a tensor info at least 8 + 4 + 4 + 8.
  if (kvCount * 13 > c.remaining()) throw invalid(file, `metadata count ${kvCount} cannot fit in a ${fileSize}-byte file`, TRUNCATED_HINT);
  if (tensorCount * 24 > c.remaining()) throw invalid(file, `tensor count ${tensorCount} cannot fit in a ${fileSize}-byte file`, TRUNCATED_HINT);

  const metadata = new Map<string, GGUFTypedValue>();
  for (let i = 0; i < kvCount; i++) {
    const key = await c.string(`metadata key #${i}`);
    if (key === '') throw invalid(file, `metadata key #${i} is empty`);
    if (metadata.has(key)) throw invalid(file, `metadata key "${key}" appears twice`);
    const type = await c.valueType(`metadata "${key}"`);
    metadata.set(key, await c.value(type, `metadata "${key}"`));
  }

  let alignment = GGUF_DEFAULT_ALIGNMENT;
  const al = metadata.get('general.alignment');
  if (al !== undefined) {
    if (al.type !== 'uint32' || !isPowerOfTwo(al.value)) {
      throw invalid(file, `general.alignment must be a uint32 power of two, got ${al.type} ${String(al.value)}`);
    }
    alignment = al.value;
  }

  const infos: Array<{ name: string; type: GGMLTypeName; ne: number[]; rel: number }> = [];
  const names = new Set<string>();
  for (let i = 0; i < tensorCount; i++) {
    const name = await c.string(`tensor #${i} name`);
    const where = `tensor "${name}"`;
    if (names.has(name)) throw invalid(file, `${where} appears twice`);
    names.add(name);
    const nDims = await c.u32(`${where} n_dims`);
    if (nDims > MAX_DIMS) throw invalid(file, `${where} has ${nDims} dimensions (at most ${MAX_DIMS})`);
    const ne: number[] = [];
    let elements = 1;
    for (let d = 0; d < nDims; d++) {
      const n = await c.u64(`${where} ne[${d}]`);
      ne.push(n);
      elements *= n;
      if (!Number.isSafeInteger(elements)) throw invalid(file, `${where} has too many elements (ne = [${ne.join(', ')}])`);
    }
    const typeId = await c.u32(`${where} type`);
    const type = GGML_TYPE_BY_ID.get(typeId);
    if (type === undefined) {
      throw new FugakuError('DTYPE_UNSUPPORTED', `${file}: ${where} has ggml type ${typeId}, which this reader does not know`, 'convert the model with `fugaku convert --dtype q8_0|q4_0|f16|bf16|f32`, or re-quantize with a type llama.cpp\'s quantize writes');
    }
    const block = GGML_TYPES[type].blockSize;
    if (ne.length > 0 && ne[0] % block !== 0) {
      throw invalid(file, `${where}: ne[0] = ${ne[0]} is not a multiple of the ${type} block size ${block}`);
    }
    const rel = await c.u64(`${where} offset`);
    if (rel % alignment !== 0) throw invalid(file, `${where}: offset ${rel} is not a multiple of the alignment ${alignment}`);
    infos.push({ name, type, ne, rel });
  }

  const dataStart = Math.ceil(c.pos / alignment) * alignment;
  if (tensorCount > 0 && dataStart > fileSize) {
    throw invalid(file, `the tensor data section would start at ${dataStart}, past the end of the ${fileSize}-byte file`, TRUNCATED_HINT);
  }
  const tensors = new Map<string, GGUFTensorInfo>();
  for (const t of infos) {
    const byteLength = ggmlTensorBytes(t.type, t.ne);
    const offset = dataStart + t.rel;
    if (offset + byteLength > fileSize) {
      throw invalid(file, `tensor "${t.name}" (${t.type}, ne [${t.ne.join(', ')}], ${byteLength} bytes at offset ${offset}) reaches past the end of the ${fileSize}-byte file`, TRUNCATED_HINT);
    }
    tensors.set(t.name, { name: t.name, type: t.type, ne: t.ne, shape: t.ne.slice().reverse(), offset, byteLength });
  }
  const ranges = [...tensors.values()].filter((t) => t.byteLength > 0).sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < ranges.length; i++) {
    const prev = ranges[i - 1];
    const cur = ranges[i];
    if (cur.offset < prev.offset + prev.byteLength) {
      throw invalid(file, `tensors "${prev.name}" [${prev.offset}, ${prev.offset + prev.byteLength}) and "${cur.name}" [${cur.offset}, ${cur.offset + cur.byteLength}) overlap`);
    }
  }
  return { version, alignment, dataStart, metadata, tensors };
}

class GGUFReader implements GGUFFile {
  readonly version: number;
  readonly alignment: number;
  readonly dataStart: number;
  readonly metadata: Map<string, GGUFTypedValue>;
  readonly tensors: Map<string, GGUFTensorInfo>;
  private closed = false;

  constructor(readonly file: string, readonly fileSize: number, h: ParsedHeader, private readonly handle: FileHandle) {
    this.version = h.version;
    this.alignment = h.alignment;
    this.dataStart = h.dataStart;
    this.metadata = h.metadata;
    this.tensors = h.tensors;
  }

  async readTensor(name: string): Promise<GGUFTensorData> {
    if (this.closed) throw new FugakuError('INVALID_ARGUMENT', `GGUF file ${this.file} is closed`, 'read tensors before calling close()');
    const info = this.tensors.get(name);
    if (!info) {
      throw new FugakuError('TENSOR_MISSING', `${this.file} has no tensor "${name}"`, `tensors in this file: ${[...this.tensors.keys()].slice(0, 8).join(', ')}${this.tensors.size > 8 ? ', ...' : ''}`);
    }
    if (!isLoadableGGMLType(info.type)) {
      throw new FugakuError('DTYPE_UNSUPPORTED', `${this.file}: tensor "${name}" is ${info.type}, which this runtime cannot load (it reads F32, F16, BF16 and the block types Q4_0..Q8_0, Q2_K..Q6_K, IQ1_S..IQ4_XS)`, 'convert the Hugging Face checkpoint with `fugaku convert --dtype q8_0` (or q4_0, f16, bf16, f32), or re-quantize with a supported type');
    }
    const bytes = new Uint8Array(info.byteLength);
    await readExactly(this.handle, bytes, info.offset, this.file, `tensor "${name}"`);
    let data: Float32Array | Uint16Array | Uint8Array;
    if (info.type === 'F32') {
      if (endianness() === 'BE') swapBytes(bytes, 4);
      data = new Float32Array(bytes.buffer);
    } else if (info.type === 'F16' || info.type === 'BF16') {
      if (endianness() === 'BE') swapBytes(bytes, 2);
      data = new Uint16Array(bytes.buffer);
    } else {
      data = bytes;
    }
    return { dtype: info.type, shape: info.shape.slice(), data };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.handle.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Metadata helpers

/** The value of a string key, or undefined; a key of another type is GGUF_INVALID. */
export function metaString(g: Pick<GGUFFile, 'file' | 'metadata'>, key: string): string | undefined {
  const v = g.metadata.get(key);
  if (v === undefined) return undefined;
  if (v.type !== 'string') throw invalid(g.file, `metadata "${key}" should be a string but is ${v.type}`);
  return v.value;
}

/** The value of an integer key (any integer type that fits a safe integer), or undefined. */
export function metaInt(g: Pick<GGUFFile, 'file' | 'metadata'>, key: string): number | undefined {
  const v = g.metadata.get(key);
  if (v === undefined) return undefined;
  switch (v.type) {
    case 'uint8': case 'int8': case 'uint16': case 'int16': case 'uint32': case 'int32':
      return v.value;
    case 'uint64': case 'int64':
      if (v.value > BigInt(Number.MAX_SAFE_INTEGER) || v.value < -BigInt(Number.MAX_SAFE_INTEGER)) break;
      return Number(v.value);
    default:
      break;
  }
  throw invalid(g.file, `metadata "${key}" should be an integer but is ${v.type} ${String(v.value)}`);
}

/** The value of a float key (float32/float64), or undefined. */
export function metaFloat(g: Pick<GGUFFile, 'file' | 'metadata'>, key: string): number | undefined {
  const v = g.metadata.get(key);
  if (v === undefined) return undefined;
  if (v.type !== 'float32' && v.type !== 'float64') throw invalid(g.file, `metadata "${key}" should be a float but is ${v.type}`);
  return v.value;
}

// ---------------------------------------------------------------------------------------------
// Writing

/** A tensor to be written: name, ggml type, row-major shape (outermost first). */
export interface GGUFTensorSpec {
  name: string;
  type: GGMLTypeName;
  shape: readonly number[];
}

export interface GGUFHeaderSpec {
  /** Metadata in the order it is written. `general.alignment` (uint32, power of two) sets the alignment. */
  metadata: ReadonlyArray<readonly [string, GGUFTypedValue]>;
  tensors: readonly GGUFTensorSpec[];
}

/** Growable little-endian byte buffer for the header. */
class ByteSink {
  buf = new Uint8Array(1 << 16);
  view = new DataView(this.buf.buffer);
  length = 0;
  private readonly encoder = new TextEncoder();

  private reserve(n: number): number {
    if (this.length + n > this.buf.length) {
      let size = this.buf.length * 2;
      while (size < this.length + n) size *= 2;
      const next = new Uint8Array(size);
      next.set(this.buf.subarray(0, this.length));
      this.buf = next;
      this.view = new DataView(next.buffer);
    }
    const at = this.length;
    this.length += n;
    return at;
  }
  u8(v: number): void {
    const at = this.reserve(1);
    this.view.setUint8(at, v);
  }
  i8(v: number): void {
    const at = this.reserve(1);
    this.view.setInt8(at, v);
  }
  u16(v: number): void {
    const at = this.reserve(2);
    this.view.setUint16(at, v, true);
  }
  i16(v: number): void {
    const at = this.reserve(2);
    this.view.setInt16(at, v, true);
  }
  u32(v: number): void {
    const at = this.reserve(4);
    this.view.setUint32(at, v, true);
  }
  i32(v: number): void {
    const at = this.reserve(4);
    this.view.setInt32(at, v, true);
  }
  f32(v: number): void {
    const at = this.reserve(4);
    this.view.setFloat32(at, v, true);
  }
  f64(v: number): void {
    const at = this.reserve(8);
    this.view.setFloat64(at, v, true);
  }
  u64(v: bigint | number): void {
    const at = this.reserve(8);
    this.view.setBigUint64(at, BigInt(v), true);
  }
  i64(v: bigint): void {
    const at = this.reserve(8);
    this.view.setBigInt64(at, v, true);
  }
  bytes(b: Uint8Array): void {
    const at = this.reserve(b.length);
    this.buf.set(b, at);
  }
  string(s: string): void {
    const b = this.encoder.encode(s);
    this.u64(b.length);
    this.bytes(b);
  }
}

function badValue(key: string, what: string): FugakuError {
  return new FugakuError('INVALID_ARGUMENT', `GGUF metadata "${key}": ${what}`, 'pass values that fit their GGUF type');
}

function checkInt(key: string, v: unknown, min: number, max: number, type: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw badValue(key, `${String(v)} is not a ${type}`);
  return v;
}

function writeScalar(s: ByteSink, key: string, type: GGUFValueType, v: unknown): void {
  switch (type) {
    case 'uint8': s.u8(checkInt(key, v, 0, 0xff, type)); return;
    case 'int8': s.i8(checkInt(key, v, -0x80, 0x7f, type)); return;
    case 'uint16': s.u16(checkInt(key, v, 0, 0xffff, type)); return;
    case 'int16': s.i16(checkInt(key, v, -0x8000, 0x7fff, type)); return;
    case 'uint32': s.u32(checkInt(key, v, 0, 0xffffffff, type)); return;
    case 'int32': s.i32(checkInt(key, v, -0x80000000, 0x7fffffff, type)); return;
    case 'float32': case 'float64':
      if (typeof v !== 'number') throw badValue(key, `${String(v)} is not a number`);
      if (type === 'float32') s.f32(v);
      else s.f64(v);
      return;
    case 'uint64': case 'int64': {
      if (typeof v !== 'bigint') throw badValue(key, `${String(v)} is not a bigint`);
      const ok = type === 'uint64' ? v >= 0n && v < 1n << 64n : v >= -(1n << 63n) && v < 1n << 63n;
      if (!ok) throw badValue(key, `${v} does not fit ${type}`);
      if (type === 'uint64') s.u64(v);
      else s.i64(v);
      return;
    }
    case 'bool':
      if (typeof v !== 'boolean') throw badValue(key, `${String(v)} is not a boolean`);
      s.u8(v ? 1 : 0);
      return;
    case 'string':
      if (typeof v !== 'string') throw badValue(key, `${String(v)} is not a string`);
      s.string(v);
      return;
    default:
      throw badValue(key, `unknown type ${String(type)}`);
  }
}

function typedArrayMatches(type: GGUFValueType, a: ArrayBufferView): boolean {
  switch (type) {
    case 'uint8': return a instanceof Uint8Array;
    case 'int8': return a instanceof Int8Array;
    case 'uint16': return a instanceof Uint16Array;
    case 'int16': return a instanceof Int16Array;
    case 'uint32': return a instanceof Uint32Array;
    case 'int32': return a instanceof Int32Array;
    case 'float32': return a instanceof Float32Array;
    case 'float64': return a instanceof Float64Array;
    case 'uint64': return a instanceof BigUint64Array;
    case 'int64': return a instanceof BigInt64Array;
    default: return false;
  }
}

function writeValue(s: ByteSink, key: string, v: GGUFTypedValue, depth = 0): void {
  if (v.type !== 'array') {
    writeScalar(s, key, v.type, v.value);
    return;
  }
  if (!Object.hasOwn(GGUF_VALUE_TYPES, v.itemType)) throw badValue(key, `unknown array item type ${String(v.itemType)}`);
  if (depth >= MAX_ARRAY_DEPTH) throw badValue(key, `arrays nested deeper than ${MAX_ARRAY_DEPTH}`);
  const items = v.value as ArrayLike<unknown>;
  s.u32(GGUF_VALUE_TYPES[v.itemType]);
  s.u64(items.length);
  if (endianness() === 'LE' && ArrayBuffer.isView(items) && typedArrayMatches(v.itemType, items)) {
    // A typed array of exactly the item type: its bytes are the encoding.
    s.bytes(new Uint8Array(items.buffer, items.byteOffset, items.byteLength));
    return;
  }
  for (let i = 0; i < items.length; i++) {
    const item = items[i];
    if (v.itemType === 'array') {
      const a = item as GGUFArray;
      if (typeof a !== 'object' || a === null || a.type !== 'array') throw badValue(key, `item ${i} of an array of arrays is not an array value`);
      writeValue(s, key, a, depth + 1);
    } else {
      writeScalar(s, key, v.itemType, item);
    }
  }
}

/** Builds the header bytes (through the padding before the data section) and each tensor's relative offset. */
export function encodeGGUFHeader(spec: GGUFHeaderSpec): { header: Uint8Array; alignment: number; offsets: number[]; sizes: number[]; dataBytes: number } {
  let alignment = GGUF_DEFAULT_ALIGNMENT;
  const keys = new Set<string>();
  for (const [key, v] of spec.metadata) {
    if (keys.has(key)) throw badValue(key, 'appears twice');
    keys.add(key);
    if (key === 'general.alignment') {
      if (v.type !== 'uint32' || !isPowerOfTwo(v.value)) throw badValue(key, 'must be a uint32 power of two');
      alignment = v.value;
    }
  }
  const s = new ByteSink();
  s.bytes(new TextEncoder().encode(GGUF_MAGIC));
  s.u32(GGUF_VERSION);
  s.u64(spec.tensors.length);
  s.u64(spec.metadata.length);
  for (const [key, v] of spec.metadata) {
    s.string(key);
    s.u32(GGUF_VALUE_TYPES[v.type]);
    writeValue(s, key, v);
  }
  const offsets: number[] = [];
  const sizes: number[] = [];
  const names = new Set<string>();
  let rel = 0;
  for (const t of spec.tensors) {
    if (names.has(t.name)) throw new FugakuError('INVALID_ARGUMENT', `GGUF tensor "${t.name}" appears twice`, 'give every tensor a distinct name');
    names.add(t.name);
    if (!Object.hasOwn(GGML_TYPES, t.type)) throw new FugakuError('INVALID_ARGUMENT', `GGUF tensor "${t.name}": unknown ggml type ${String(t.type)}`, `known: ${Object.keys(GGML_TYPES).join(', ')}`);
    if (t.shape.length > MAX_DIMS || t.shape.some((d) => !Number.isSafeInteger(d) || d < 0)) {
      throw new FugakuError('INVALID_ARGUMENT', `GGUF tensor "${t.name}": shape [${t.shape.join(', ')}] is not 0–4 non-negative integers`, 'fix the tensor shape');
    }
    const ne = t.shape.slice().reverse();
    const size = ggmlTensorBytes(t.type, ne);
    s.string(t.name);
    s.u32(ne.length);
    for (const d of ne) s.u64(d);
    s.u32(GGML_TYPES[t.type].id);
    s.u64(rel);
    offsets.push(rel);
    sizes.push(size);
    rel += Math.ceil(size / alignment) * alignment;
  }
  const padded = Math.ceil(s.length / alignment) * alignment;
  const header = new Uint8Array(padded);
  header.set(s.buf.subarray(0, s.length));
  return { header, alignment, offsets, sizes, dataBytes: rel };
}

/**
 * A GGUF file being written: the header is written by `create`; then `writeTensor` is called once
 * per tensor, in the order of the spec, with exactly its bytes; `finish` renames the finished file
 * into place. `abort` (or any error) removes the partial file.
 */
export class GGUFWriter {
  private next = 0;
  /** Where the next write goes (the header is written first, at 0). */
  private position = 0;
  private done = false;

  private constructor(
    readonly file: string,
    private readonly tmp: string,
    private readonly handle: FileHandle,
    private readonly spec: GGUFHeaderSpec,
    private readonly layout: ReturnType<typeof encodeGGUFHeader>,
  ) {}

  /** Total bytes the finished file will have. */
  get totalBytes(): number {
    return this.layout.header.length + this.layout.dataBytes;
  }

  static async create(file: string, spec: GGUFHeaderSpec): Promise<GGUFWriter> {
    const abs = path.resolve(file);
    const layout = encodeGGUFHeader(spec);
    const tmp = path.join(path.dirname(abs), `.${path.basename(abs)}.${process.pid}.${Date.now()}.partial`);
    let handle: FileHandle;
    try {
      handle = await open(tmp, 'wx');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new FugakuError(
        code === 'ENOENT' ? 'FILE_NOT_FOUND' : 'INVALID_ARGUMENT',
        `cannot create ${abs}: ${code === 'ENOENT' ? `folder ${path.dirname(abs)} does not exist` : (e as Error).message}`,
        'write the output into an existing, writable folder',
        { cause: e },
      );
    }
    const w = new GGUFWriter(abs, tmp, handle, spec, layout);
    try {
      await w.write(layout.header);
    } catch (e) {
      await w.abort();
      throw e;
    }
    return w;
  }

  /** The spec of the tensor `writeTensor` expects next (undefined when all are written). */
  get nextTensor(): GGUFTensorSpec | undefined {
    return this.spec.tensors[this.next];
  }

  async writeTensor(name: string, data: ArrayBufferView): Promise<void> {
    const t = this.spec.tensors[this.next];
    if (this.done || t === undefined) throw new FugakuError('INVALID_ARGUMENT', `GGUF writer: unexpected tensor "${name}" (all ${this.spec.tensors.length} tensors are written)`, 'write each tensor of the spec exactly once');
    if (t.name !== name) throw new FugakuError('INVALID_ARGUMENT', `GGUF writer: got tensor "${name}" but "${t.name}" comes next`, 'write the tensors in the order of the spec');
    const size = this.layout.sizes[this.next];
    if (data.byteLength !== size) {
      throw new FugakuError('INVALID_ARGUMENT', `GGUF writer: tensor "${name}" (${t.type} [${t.shape.join(', ')}]) needs ${size} bytes, got ${data.byteLength}`, 'the data must match the declared type and shape');
    }
    let bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    const width = t.type === 'F32' ? 4 : t.type === 'F16' || t.type === 'BF16' ? 2 : 1;
    if (endianness() === 'BE' && width > 1) {
      bytes = new Uint8Array(bytes);
      swapBytes(bytes, width);
    }
    await this.write(bytes);
    const padded = Math.ceil(size / this.layout.alignment) * this.layout.alignment;
    if (padded > size) await this.write(new Uint8Array(padded - size));
    this.next++;
  }

  async finish(): Promise<void> {
    if (this.next !== this.spec.tensors.length) {
      const missing = this.spec.tensors[this.next]?.name;
      await this.abort();
      throw new FugakuError('INVALID_ARGUMENT', `GGUF writer: finished after ${this.next} of ${this.spec.tensors.length} tensors (next: "${missing}")`, 'write every tensor of the spec');
    }
    this.done = true;
    await this.handle.close();
    await rename(this.tmp, this.file);
  }

  /** Closes and deletes the partial file. Safe to call more than once. */
  async abort(): Promise<void> {
    if (this.done) return;
    this.done = true;
    await this.handle.close().catch(() => undefined);
    await rm(this.tmp, { force: true });
  }

  private async write(bytes: Uint8Array): Promise<void> {
    let done = 0;
    while (done < bytes.length) {
      const { bytesWritten } = await this.handle.write(bytes, done, Math.min(bytes.length - done, MAX_READ_CHUNK), this.position + done);
      done += bytesWritten;
    }
    this.position += bytes.length;
  }
}

/**
 * Writes a whole GGUF file: header first, then `produce(spec, index)` for each tensor in order
 * (so only one tensor's bytes exist at a time). On any error the partial file is removed.
 */
export async function writeGGUF(
  file: string,
  spec: GGUFHeaderSpec,
  produce: (tensor: GGUFTensorSpec, index: number) => Promise<ArrayBufferView> | ArrayBufferView,
): Promise<{ file: string; bytes: number }> {
  const w = await GGUFWriter.create(file, spec);
  try {
    for (let i = 0; i < spec.tensors.length; i++) {
      const t = spec.tensors[i];
      await w.writeTensor(t.name, await produce(t, i));
    }
    await w.finish();
  } catch (e) {
    await w.abort();
    throw e;
  }
  return { file: w.file, bytes: w.totalBytes };
}
