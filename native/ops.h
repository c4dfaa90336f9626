// The ops the N-API glue (napi.cc) calls: each spreads its work over the context's pool and calls the
// context's kernel table (kernels.h) per row, group or chunk.
#pragma once

#include <cstdint>

#include "common.h"
#include "kernels.h"

namespace fugaku {

// matmul.cc: out[r][o] = x_r · row o (+ bias[o]) for rows activation rows.
void matmul(Context& ctx, const Matrix& m, const float* x, int64_t rows, const float* bias, float* out);

// attention.cc: t queries over past + t cache positions (KV: float, or uint16_t f16 bits), causal,
// padding keys (keyMask 0) excluded; a query whose every key is masked gets output 0.
template <typename KV>
void attention(Context& ctx, const float* q, int64_t t, const KV* kc, const KV* vc, int64_t past, int64_t nHead,
               int64_t headDim, float scale, const uint8_t* keyMask, float* out);
extern template void attention<float>(Context&, const float*, int64_t, const float*, const float*, int64_t, int64_t, int64_t, float, const uint8_t*, float*);
extern template void attention<uint16_t>(Context&, const float*, int64_t, const uint16_t*, const uint16_t*, int64_t, int64_t, int64_t, float, const uint8_t*, float*);

// ops.cc
void layer_norm(Context& ctx, const float* x, int64_t rows, int64_t dim, const float* g, const float* b, float eps, float* out);
void add_in_place(Context& ctx, float* a, const float* b, int64_t n);
void activation(Context& ctx, int32_t kind, float* x, int64_t n);
// rows × n values from src (row r at src + r·srcStride) to dst (rows contiguous), as f16 bits.
void store_rows_f16(const Context& ctx, const float* src, int64_t srcStride, uint16_t* dst, int64_t n, int64_t rows);
// Best GB/s over `reps` runs of a STREAM triad / a read-only sum over n floats; < 0: out of memory.
double stream_triad(Context& ctx, int64_t n, int64_t reps);
double stream_read(Context& ctx, int64_t n, int64_t reps);

// load.cc. Both return nullptr when out of memory.
// Weight memory: 2 MiB-aligned and marked for transparent huge pages (freed with std::free).
uint8_t* alloc_weights(size_t bytes);
// src holds in·out values of dtype srcFmt (F32/BF16/F16), laid out [in][out] (inOut) or [out][in],
// converted to `fmt`.
Matrix* load_matrix(Context& ctx, int32_t srcFmt, const void* src, int64_t in, int64_t outd, bool inOut, int32_t fmt);
// Already quantized [out][in] Q8_0/Q4_0 blocks (GGUF), repacked into interleaved groups.
Matrix* load_quantized(Context& ctx, int32_t fmt, const uint8_t* blocks, int64_t in, int64_t outd);

}  // namespace fugaku
