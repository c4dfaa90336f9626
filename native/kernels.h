// The kernel table: one struct of function pointers per kernel set (ggml-cpu's per-type traits),
// filled once per context from the level it was created with (make_kernels, cpu.cc): the portable
// C++ kernels (arch/portable.cc) first, then what an architecture's set replaces (arch/x86/kernels.cc
// for avx2, avxvnni, avx512 and amx; arch/arm/kernels.cc for neon). The op drivers (matmul.cc,
// attention.cc, ops.cc, load.cc) call ctx.k.xxx(...) and never ask which set is in use.
//
// Dispatch is per row, group, chunk or cache row, where the drivers called a kernel before; the
// loops over elements and blocks are inside the kernels. Kernels templated over their number of
// activation rows are arrays over that number (index n for n rows). A null entry is a path the set
// does not have (the driver then takes the general one).
#pragma once

#include <cstdint>
#include <type_traits>
#include <utility>

#include "common.h"
#include "pool.h"

namespace fugaku {

// Float-format weight row o · n activation rows (res[t]).
using DotFloatFn = void (*)(const Matrix& m, int64_t o, const float* const* xs, float* res);
// Weight rows o and o + 1 · NR activation rows (res0[t], res1[t]).
using Dot2FloatFn = void (*)(const Matrix& m, int64_t o, const float* const* xs, float* res0, float* res1);
// Quantized: one group g (8 output rows; a pair: groups g and g + 1, 16 rows) · n activation rows
// quantized to xq/xd (xsum: each block's Σ, where the format or set needs it): res[t·8 + r] (pairs: t·16 + r).
using GroupFn = void (*)(const Matrix& m, int64_t g, const int8_t* const* xq, const float* const* xd, const int32_t* const* xsum, float* res);
// AMX: groups [ga, gb) × activation rows [r0, r1) of a quantized product, two groups at a time, into
// out (+ bias); returns how many groups it did (an odd last group is left to the pair kernels).
// ggml-cpu's vec_dot for a block type (common.h's is_block formats): *s = one weight row vx of n values
// (raw GGUF blocks) · one activation row vy quantized for the type (blocks.h); bs, bx, by, nrc as
// ggml's (the addon always passes nrc = 1).
using VecDotFn = void (*)(int n, float* s, size_t bs, const void* vx, size_t bx, const void* vy, size_t by, int nrc);
// AMX, ggml's 32-blocks in prefill (Q4_1, Q5_0, Q5_1, IQ4_NL): 16 unpacked weight rows (wq: int8, rows
// ld bytes apart; dw, mw: the nb = in / 32 blocks' scales and offsets, block j's 16 rows at j·16) ×
// mt tiles of 16 activation rows packed for B tiles (xp: tile t, block j at (t·nb + j)·512 bytes; xd,
// xs: the rows' block scales and xd·Σq, 16 floats at (t·nb + j)·16): res[(t·16 + o)·16 + r] =
// Σ_j dw·xd·(q·x) + mw·xs (mw only with `mins`).
using AmxBlocksFn = void (*)(bool mins, const int8_t* wq, int64_t ld, int64_t in, const float* dw, const float* mw, const int8_t* xp,
                             const float* xd, const float* xs, int64_t mt, float* res);
// AMX, the super-block types in prefill (Q2_K … Q6_K, IQ4_XS; blocks.h unpack_super_row): 16 weight
// rows as lo and hi int8 values (rows ld bytes apart), d [super-block][16 rows] and the MS mins per
// super-block mw [super-block][MS][16 rows] × mt activation tiles (xp: tile t, super-block b, K-step s
// of 64 at ((t·nsb + b)·4 + s)·1024 bytes; xd [t][b][16 rows]; xs [t][b][MS][16 rows], xd·Σx of each
// sub-block with a min) into res[(t·16 + o)·16 + r].
using AmxSuperFn = void (*)(int MS, const int8_t* lo, const int8_t* hi, int64_t ld, int64_t in, const float* d, const float* mw, const int8_t* xp,
                            const float* xd, const float* xs, int64_t mt, float* res);
using AmxChunkFn = int64_t (*)(const Matrix& m, int64_t ga, int64_t gb, int64_t r0, int64_t r1, const int8_t* q, const float* d,
                               const float* bias, float* out);

// Attention over cache rows of type KV (float32, or uint16_t f16 bits).
template <typename KV>
struct KvKernels {
  // out[j] = q · k_j for n cache rows `width` apart.
  void (*scores)(const float* q, const KV* k, int64_t width, int64_t n, int64_t hd, float* out);
  // out[h·stride] = scale · (q_h · row_h) for every head of one cache row (decode).
  void (*scores_row)(const float* q, const KV* row, int64_t nHead, int64_t hd, float scale, float* out, int64_t stride);
  // y[0..n) += a · x[0..n).
  void (*axpy)(float* y, float a, const KV* x, int64_t n);
  // y += w[r]·x_r for four rows r in order, zero weights skipped (as four axpy calls).
  void (*axpy4)(float* y, const float* w, const KV* x0, const KV* x1, const KV* x2, const KV* x3, int64_t n);
  // Decode's value pass over one chunk of m cache rows (`width` apart) for nHead heads: acc[h·hd + d] +=
  // Σ_j p[h·pstride + j] · v_j[h·hd + d], rows four at a time (axpy4) then one by one (axpy), each head's
  // sum in row order, zero weights skipped (accumulate_rows below, compiled into the set's own code).
  void (*accumulate)(float* acc, const float* p, int64_t pstride, const KV* v, int64_t width, int64_t m, int64_t nHead, int64_t hd);
  // out[d] = Σ_j p[j] · v_j[d] over n cache rows `width` apart (zero weights skipped).
  void (*weighted_sum)(const float* p, int64_t n, const KV* v, int64_t width, int64_t hd, float* out);
  // Prefill: scores and weighted sums of QB queries of one head, each key and value row read once
  // (null: the set has no block kernels and prefill takes one query at a time).
  void (*scores_qb)(const float* const* q, const KV* k, int64_t width, int64_t n, int64_t hd, float* const* out);
  void (*weighted_sum_qb)(const float* const* p, int64_t n, const KV* v, int64_t width, int64_t hd, float* const* out);
};

// KvKernels::accumulate from a set's axpy4 and axpy (instantiated in the set's file, inside a function
// with its target, so the kernels inline into the loop).
template <typename KV, typename Axpy4, typename Axpy>
inline void accumulate_rows(Axpy4 axpy4, Axpy axpy, float* acc, const float* p, int64_t pstride, const KV* v, int64_t width, int64_t m,
                            int64_t nHead, int64_t hd) {
  int64_t j = 0;
  for (; j + 4 <= m; j += 4)
    for (int64_t h = 0; h < nHead; h++) {
      const int64_t o = h * hd;
      const KV* x = v + j * width + o;
      axpy4(acc + o, p + h * pstride + j, x, x + width, x + 2 * width, x + 3 * width, hd);
    }
  for (; j < m; j++)
    for (int64_t h = 0; h < nHead; h++) {
      const float pw = p[h * pstride + j];
      if (pw != 0.0f) axpy(acc + h * hd, pw, v + j * width + h * hd, hd);
    }
}

struct Kernels {
  // matmul, float formats: [1] and [NR] are used (one activation row, and NR at a time).
  DotFloatFn dot_float[NR + 1];
  Dot2FloatFn dot2_float;  // null: no two-row tile (the set takes dot_float row by row)
  // matmul, quantized formats: group[n] for n ≤ NR rows; pair[n] for n ≤ NR2 rows (null: no pair kernels).
  GroupFn group[NR + 1];
  GroupFn pair[NR2 + 1];
  AmxChunkFn amx_chunk;  // null: no tiles
  AmxBlocksFn amx_blocks;  // null: no tiles (the block types take vec_dot)
  AmxSuperFn amx_super;
  // the tile paths' weight unpacking (blocks.h unpack_block_row / unpack_super_row; the same integers in every set)
  void (*unpack_block)(int32_t fmt, const uint8_t* row, int64_t n, int8_t* q, float* dw, float* mw);
  void (*unpack_super)(int32_t fmt, const uint8_t* row, int64_t n, int8_t* lo, int8_t* hi, float* d, float* mw);
  bool q8_sums;          // the Q8_0 kernels need the activation blocks' sums (Q4_0's always do)
  void (*quantize_acts)(const float* x, int64_t n, int8_t* q, float* d, int32_t* sums);
  // matmul, ggml's other block types: one entry per Format code (null for the formats above).
  VecDotFn vec_dot[FORMAT_COUNT];
  // loading: float32 rows to f16 / Q8_0 / Q4_0 (bit-identical to the scalar spec in quant.cc); to_f16
  // also writes f16 KV-cache rows (storeRows).
  void (*to_f16)(const float* src, uint16_t* dst, int64_t n);
  void (*quantize_q8_0)(const float* x, BlockQ8* y, int64_t n);
  void (*quantize_q4_0)(const float* x, BlockQ4* y, int64_t n);
  // attention
  KvKernels<float> kv_f32;
  KvKernels<uint16_t> kv_f16;
  double (*exp_sum)(float* s, int64_t n, float max);    // s[j] → exp(s[j] − max), −∞ → 0; Σ in double
  float (*scale_max)(float* s, int64_t n, float scale);  // s *= scale; returns the max (−∞ for n = 0)
  // the rest
  void (*layer_norm_row)(const float* x, int64_t dim, const float* g, const float* b, float eps, float* out);
  void (*add)(float* a, const float* b, int64_t n);
  void (*activation)(int32_t kind, float* x, int64_t a, int64_t b);  // x[a..b) in place
  uint64_t (*read_sum)(const uint64_t* a, int64_t n);  // the read-bandwidth probe's loop

  template <typename KV>
  const KvKernels<KV>& kv() const {
    if constexpr (std::is_same_v<KV, float>) return kv_f32;
    else return kv_f16;
  }
};

// t[K] = make(std::integral_constant<int, K>{}) for K = 1..Max: a row-count template's instantiations.
template <int Max, int K = 1, typename Fn, typename Make>
void fill_rows(Fn* t, Make make) {
  t[K] = make(std::integral_constant<int, K>{});
  if constexpr (K < Max) fill_rows<Max, K + 1>(t, make);
}

// The kernel sets' fillers (each arch's kernels.cc; the x86 and arm ones exist on their architecture only).
Kernels portable_kernels();
namespace portable {
void activation(int32_t kind, float* x, int64_t a, int64_t b);  // the scalar definitions (any kind)
}
#ifdef FUGAKU_X86
namespace x86 {
void fill(Kernels& k, int level);  // AVX2 / AVXVNNI / AVX512 / AMX
void fill_blocks_avx2(Kernels& k);  // the block types' vec_dot (arch/x86/blocks_avx2.cc)
void fill_blocks_avx512(Kernels& k);  // AVX-512 VNNI vec_dot of the k-quants and IQ4_XS over those (arch/x86/blocks_avx512.cc)
void fill_blocks32_avx512(Kernels& k);  // the 32-blocks' vec_dot on AVX-512 VNNI (arch/x86/blocks32_avx512.cc)
void unpack_block_row_avx512(int32_t fmt, const uint8_t* row, int64_t n, int8_t* q, float* dw, float* mw);  // arch/x86/unpack_avx512.cc
void unpack_super_row_avx512(int32_t fmt, const uint8_t* row, int64_t n, int8_t* lo, int8_t* hi, float* d, float* mw);
}
#endif
#ifdef FUGAKU_ARM64
namespace arm {
void fill_neon(Kernels& k, bool dotprod);
void fill_blocks_neon(Kernels& k, bool dotprod);  // the block types' vec_dot (arch/arm/blocks_neon.cc)
}
#endif
// The table for a level the CPU has (cpu.cc checks that first).
Kernels make_kernels(int level);

struct Context {
  Pool pool;
  const Kernels k;
  const int level;
  Context(int threads, int level_) : pool(threads), k(make_kernels(level_)), level(level_) {}
};

}  // namespace fugaku
