// ggml's quantizers for the types `fugaku convert` writes (ggml_quantize.cc, ported from llama.cpp's
// ggml-quants.c): float32 rows → GGUF block rows, the bytes llama-quantize writes. The TypeScript
// spec is src/tensor/ggml/quantize.ts (quantizeTensorGGML); these give the same bytes, faster.
#pragma once

#include <cstdint>

#include "common.h"
#include "pool.h"

namespace fugaku {

// Whether ggml_quantize_rows writes format `fmt` (Format: Q4_0, Q5_0, Q5_1, Q8_0, Q3_K..Q6_K, IQ4_NL, IQ4_XS).
bool ggml_quantize_supported(int32_t fmt);
// ggml_quantize_chunk(fmt, src, dst, 0, nrow, n_per_row, imatrix): nrow rows of n_per_row values (a
// multiple of the block size) → nrow · row_bytes_of(fmt, n_per_row) bytes at dst; imatrix (n_per_row
// column weights) or nullptr. Rows are spread over the pool's threads; the bytes do not depend on them.
void ggml_quantize_rows(Pool& pool, int32_t fmt, const float* src, int64_t nrow, int64_t n_per_row, const float* imatrix, uint8_t* dst);

}  // namespace fugaku
