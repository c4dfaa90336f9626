// Weight loading (ggml-cpu's "convert once" of the repack buffers): float32/bf16/f16 checkpoints
// converted or quantized to a matrix's format, and ready-quantized GGUF blocks repacked into the
// interleaved layout (common.h), spread over the pool. Weight memory is native and freed with the
// matrix (napi.cc's finalizer).
#include <cstdlib>
#include <vector>
#ifdef __linux__
#include <sys/mman.h>
#endif

#include "ops.h"
#include "quant.h"

namespace fugaku {

// Weight memory: 2 MiB-aligned and marked for transparent huge pages (Linux "madvise" mode), so a GEMV
// streaming gigabytes of weights is not slowed by a page walk every 4 KiB.
uint8_t* alloc_weights(size_t bytes) {
  const size_t huge = size_t(2) << 20;
  const size_t align = bytes >= huge ? huge : 64;
  const size_t size = (bytes + align - 1) / align * align;
  void* p = std::aligned_alloc(align, size);
#ifdef __linux__
  if (p && align == huge) madvise(p, size, MADV_HUGEPAGE);
#endif
  return static_cast<uint8_t*>(p);
}

Matrix::~Matrix() { std::free(data); }

namespace {

template <int SRC> inline float src_value(const void* src, int64_t idx, const float* f16t);
template <> inline float src_value<F32>(const void* src, int64_t idx, const float*) { return static_cast<const float*>(src)[idx]; }
template <> inline float src_value<BF16>(const void* src, int64_t idx, const float*) { return bf16_to_f32(static_cast<const uint16_t*>(src)[idx]); }
template <> inline float src_value<F16>(const void* src, int64_t idx, const float* f16t) { return f16t[static_cast<const uint16_t*>(src)[idx]]; }

// Rows o0..o0+no of the [out][in] matrix as float32 into tile [no][in]. For an [in][out] source
// (GPT-2 Conv1D) this is a transpose: each source row contributes `no` neighbouring values.
template <int SRC>
void gather_rows(const void* src, int64_t in, int64_t outd, bool inOut, int64_t o0, int64_t no, float* tile, const float* f16t) {
  if (inOut) {
    // In blocks of IB source rows: their `no` values (one cache line of bf16 for no = 32) stay in L1
    // while each tile row receives IB consecutive floats, instead of one scattered float per row.
    constexpr int64_t IB = 64;
    for (int64_t i0 = 0; i0 < in; i0 += IB) {
      const int64_t i1 = std::min(in, i0 + IB);
      for (int64_t k = 0; k < no; k++) {
        float* t = tile + k * in;
        for (int64_t i = i0; i < i1; i++) t[i] = src_value<SRC>(src, i * outd + o0 + k, f16t);
      }
    }
  } else {
    for (int64_t k = 0; k < no; k++) {
      const int64_t base = (o0 + k) * in;
      for (int64_t i = 0; i < in; i++) tile[k * in + i] = src_value<SRC>(src, base + i, f16t);
    }
  }
}

// One float32 row in `fmt` (quantized: plain blocks, packed by the caller).
void store_row(const Context& ctx, int32_t fmt, const float* r, int64_t in, uint8_t* dst) {
  switch (fmt) {
    case F32: std::memcpy(dst, r, in * 4); break;
    case BF16: for (int64_t i = 0; i < in; i++) reinterpret_cast<uint16_t*>(dst)[i] = f32_to_bf16(r[i]); break;
    case F16: ctx.k.to_f16(r, reinterpret_cast<uint16_t*>(dst), in); break;
    case Q8_0: ctx.k.quantize_q8_0(r, reinterpret_cast<BlockQ8*>(dst), in); break;
    case Q4_0: ctx.k.quantize_q4_0(r, reinterpret_cast<BlockQ4*>(dst), in); break;
  }
}

}  // namespace

// src holds in·out values of dtype srcFmt (F32/BF16/F16), laid out [in][out] (inOut) or [out][in].
// Chunks of 32 output rows (one 64-byte line of each bf16 source row when transposing) are
// gathered to float32 and stored in `fmt`, spread over the pool.
Matrix* load_matrix(Context& ctx, int32_t srcFmt, const void* src, int64_t in, int64_t outd, bool inOut, int32_t fmt) {
  auto* m = new Matrix{fmt, in, outd, row_bytes_of(fmt, in), nullptr, 0};
  m->bytes = matrix_bytes(fmt, m->row_bytes, outd);
  m->data = alloc_weights(m->bytes);
  if (!m->data) { delete m; return nullptr; }
  const float* f16t = f16_table();
  const size_t esz = srcFmt == F32 ? 4 : 2;
  if (!inOut && srcFmt == fmt) {  // same layout and format: a copy
    ctx.pool.parallel_for((outd + 255) / 256, [&](int64_t c) {
      const int64_t o0 = c * 256, o1 = std::min(outd, o0 + 256);
      std::memcpy(m->data + o0 * m->row_bytes, static_cast<const uint8_t*>(src) + o0 * in * esz, (o1 - o0) * in * esz);
    });
    return m;
  }
  const int64_t G = 32;  // a multiple of IL: quantized chunks are whole groups
  ctx.pool.parallel_for((outd + G - 1) / G, [&](int64_t g) {
    std::vector<float> tile(in * G);
    const int64_t o0 = g * G, no = std::min(outd, o0 + G) - o0;
    if (srcFmt == F32) gather_rows<F32>(src, in, outd, inOut, o0, no, tile.data(), f16t);
    else if (srcFmt == BF16) gather_rows<BF16>(src, in, outd, inOut, o0, no, tile.data(), f16t);
    else gather_rows<F16>(src, in, outd, inOut, o0, no, tile.data(), f16t);
    if (!is_quant(fmt)) {
      for (int64_t k = 0; k < no; k++) store_row(ctx, fmt, tile.data() + k * in, in, m->data + (o0 + k) * m->row_bytes);
      return;
    }
    std::vector<uint8_t> plain(size_t(no * m->row_bytes));
    for (int64_t k = 0; k < no; k++) store_row(ctx, fmt, tile.data() + k * in, in, plain.data() + k * m->row_bytes);
    for (int64_t k = 0; k < no; k += IL)
      pack_group(fmt, plain.data() + k * m->row_bytes, std::min<int64_t>(IL, no - k), in / QK, m->data + (o0 + k) * m->row_bytes);
  });
  return m;
}


Matrix* load_quantized(Context& ctx, int32_t fmt, const uint8_t* blocks, int64_t in, int64_t outd) {
  const int64_t rb = row_bytes_of(fmt, in);
  auto* m = new Matrix{fmt, in, outd, rb, nullptr, matrix_bytes(fmt, rb, outd)};
  m->data = alloc_weights(m->bytes);
  if (!m->data) { delete m; return nullptr; }
  ctx.pool.parallel_for(groups_of(outd), [&](int64_t g) {
    pack_group(m->format, blocks + g * IL * rb, std::min<int64_t>(IL, outd - g * IL), in / QK, m->data + g * IL * rb);
  });
  return m;
}

}  // namespace fugaku
