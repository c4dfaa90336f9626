// Quantization and the interleaved repack (ggml-cpu's quants.c / repack.cpp): the scalar Q8_0 / Q4_0
// quantizers, which are the specification (src/tensor/quant.ts; the SIMD ones under arch/ give the
// same bits), the activations' int8 quantizer, the packing of plain rows into interleaved groups
// (common.h) and the dequantization of one row (embedding).
#pragma once

#include "common.h"

namespace fugaku {

void quantize_q8_0(const float* x, BlockQ8* y, int64_t n);
void quantize_q4_0(const float* x, BlockQ4* y, int64_t n);
// Activations quantized for the integer dot: per 32-block int8 values and a float32 scale.
// With `sums`, also each block's Σ of its int8 values (Q4_0's kernels subtract 8·Σx).
void quantize_acts(const float* x, int64_t n, int8_t* q, float* d, int32_t* sums);
// Interleaves n ≤ 8 plain rows of nb blocks each (consecutive in `rows`) into one group at dst.
void pack_group(int32_t fmt, const uint8_t* rows, int64_t n, int64_t nb, uint8_t* dst);
// Row o of m as float32 (any format).
void dequantize_row(const Matrix& m, int64_t o, float* out);

}  // namespace fugaku
