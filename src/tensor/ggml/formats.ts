/**
 * ggml's block quantization formats, as GGUF stores them (llama.cpp's ggml/src/ggml-common.h).
 * A row of n values is n / blockSize blocks of typeSize bytes; `act` is ggml's vec_dot_type: the
 * format the activations are quantized to for the integer dot product (see activations.ts, dot.ts).
 */
import { FugakuError } from '../../errors.js';

export type GGMLBlockType =
  | 'Q4_0' | 'Q4_1' | 'Q5_0' | 'Q5_1' | 'Q8_0'
  | 'Q2_K' | 'Q3_K' | 'Q4_K' | 'Q5_K' | 'Q6_K'
  | 'IQ2_XXS' | 'IQ2_XS' | 'IQ3_XXS' | 'IQ1_S' | 'IQ4_NL' | 'IQ3_S' | 'IQ2_S' | 'IQ4_XS' | 'IQ1_M';

export type ActType = 'Q8_0' | 'Q8_1' | 'Q8_K';

export interface BlockTypeInfo {
  /** ggml_type id (the GGUF tensor type). */
  readonly id: number;
  /** Values per block. */
  readonly blockSize: 32 | 256;
  /** Bytes per block (sizeof(block_*)). */
  readonly typeSize: number;
  /** ggml's vec_dot_type. */
  readonly act: ActType;
}

/** QK_K: values per super-block of the k- and i-quants. */
export const QK_K = 256;

export const BLOCK_TYPES: Readonly<Record<GGMLBlockType, BlockTypeInfo>> = {
  Q4_0: { id: 2, blockSize: 32, typeSize: 18, act: 'Q8_0' },
  Q4_1: { id: 3, blockSize: 32, typeSize: 20, act: 'Q8_1' },
  Q5_0: { id: 6, blockSize: 32, typeSize: 22, act: 'Q8_0' },
  Q5_1: { id: 7, blockSize: 32, typeSize: 24, act: 'Q8_1' },
  Q8_0: { id: 8, blockSize: 32, typeSize: 34, act: 'Q8_0' },
  Q2_K: { id: 10, blockSize: 256, typeSize: 84, act: 'Q8_K' },
  Q3_K: { id: 11, blockSize: 256, typeSize: 110, act: 'Q8_K' },
  Q4_K: { id: 12, blockSize: 256, typeSize: 144, act: 'Q8_K' },
  Q5_K: { id: 13, blockSize: 256, typeSize: 176, act: 'Q8_K' },
  Q6_K: { id: 14, blockSize: 256, typeSize: 210, act: 'Q8_K' },
  IQ2_XXS: { id: 16, blockSize: 256, typeSize: 66, act: 'Q8_K' },
  IQ2_XS: { id: 17, blockSize: 256, typeSize: 74, act: 'Q8_K' },
  IQ3_XXS: { id: 18, blockSize: 256, typeSize: 98, act: 'Q8_K' },
  IQ1_S: { id: 19, blockSize: 256, typeSize: 50, act: 'Q8_K' },
  IQ4_NL: { id: 20, blockSize: 32, typeSize: 18, act: 'Q8_0' },
  IQ3_S: { id: 21, blockSize: 256, typeSize: 110, act: 'Q8_K' },
  IQ2_S: { id: 22, blockSize: 256, typeSize: 82, act: 'Q8_K' },
  IQ4_XS: { id: 23, blockSize: 256, typeSize: 136, act: 'Q8_K' },
  IQ1_M: { id: 29, blockSize: 256, typeSize: 56, act: 'Q8_K' },
};

export const GGML_BLOCK_TYPE_NAMES: readonly GGMLBlockType[] = Object.keys(BLOCK_TYPES) as GGMLBlockType[];

/** Values per activation block for each activation format. */
export const ACT_BLOCK: Readonly<Record<ActType, 32 | 256>> = { Q8_0: 32, Q8_1: 32, Q8_K: 256 };

export function isGGMLBlockType(s: string): s is GGMLBlockType {
  return Object.prototype.hasOwnProperty.call(BLOCK_TYPES, s);
}

/** Bytes of a row of n values of `type`; n must be a multiple of the block size. */
export function blockRowBytes(type: GGMLBlockType, n: number): number {
  const { blockSize, typeSize } = BLOCK_TYPES[type];
  if (!Number.isInteger(n) || n < 0 || n % blockSize !== 0) {
    throw new FugakuError(
      'DTYPE_UNSUPPORTED',
      `${type} needs rows whose length is a multiple of ${blockSize}, got ${n}`,
      blockSize === 256 ? 'use a 32-block type (Q8_0, Q5_0, Q5_1, Q4_0, IQ4_NL) for this tensor' : 'use bf16, f16 or f32 for this tensor',
    );
  }
  return (n / blockSize) * typeSize;
}
