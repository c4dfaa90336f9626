/** Test helper: random but valid ggml block bytes (finite, small f16 scales) for every block type. */
import { f32ToF16 } from '../src/tensor/dtype.js';
import { BLOCK_TYPES, type GGMLBlockType } from '../src/tensor/ggml/formats.js';

/** Byte offsets of the f16 scale fields within one block. */
const F16_FIELDS: Record<GGMLBlockType, readonly number[]> = {
  Q4_0: [0], Q4_1: [0, 2], Q5_0: [0], Q5_1: [0, 2], Q8_0: [0],
  Q2_K: [80, 82], Q3_K: [108], Q4_K: [0, 2], Q5_K: [0, 2], Q6_K: [208],
  IQ2_XXS: [0], IQ2_XS: [0], IQ3_XXS: [0], IQ1_S: [0], IQ4_NL: [0], IQ3_S: [0], IQ2_S: [0], IQ4_XS: [0],
  IQ1_M: [], // its f16 scale is spread over the top nibbles of bytes 49, 51, 53, 55
};

/**
 * Overwrites the f16 scale fields of `nBlocks` blocks at `off` with f16 of `scale()` (e.g. small
 * values in ±0.01), leaving every other byte as it is.
 */
export function fixBlockScales(type: GGMLBlockType, bytes: Uint8Array, off: number, nBlocks: number, scale: () => number): void {
  const ts = BLOCK_TYPES[type].typeSize;
  for (let b = 0; b < nBlocks; b++) {
    const o = off + b * ts;
    for (const f of F16_FIELDS[type]) {
      const v = f32ToF16(scale());
      bytes[o + f] = v & 0xff;
      bytes[o + f + 1] = v >> 8;
    }
    if (type === 'IQ1_M') {
      const v = f32ToF16(scale());
      for (let k = 0; k < 4; k++) {
        const p = o + 49 + 2 * k;
        bytes[p] = (bytes[p] & 0x0f) | (((v >> (4 * k)) & 0xf) << 4);
      }
    }
  }
}

/** `rows` rows of n random values' worth of blocks, bytes from `byte()`, scales from `scale()`. */
export function randomBlockRows(type: GGMLBlockType, rows: number, n: number, byte: () => number, scale: () => number): Uint8Array {
  const { blockSize, typeSize } = BLOCK_TYPES[type];
  const nBlocks = (rows * n) / blockSize;
  const bytes = new Uint8Array(nBlocks * typeSize);
  for (let i = 0; i < bytes.length; i++) bytes[i] = byte() & 0xff;
  fixBlockScales(type, bytes, 0, nBlocks, scale);
  return bytes;
}
