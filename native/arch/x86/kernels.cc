// The x86-64 kernel sets' tables: avx2 (AVX2 + FMA + F16C, arch/x86/avx2.h), avxvnni (avx2 with the
// 256-bit VNNI quantized products, avxvnni.h), avx512 (avx2 with AVX-512 VNNI weight products,
// avx512.h, and AVX-512 vec_dot of Q4_K/Q5_K/Q6_K/IQ4_XS, blocks_avx512.cc) and amx (avx512 with
// AMX-INT8 tiles for quantized products of AMX_MIN_ROWS or more rows, amx.h). The kernels are
// compiled with target attributes; cpu.cc checks the CPU before a context gets one of these tables.
// The small adapters below give the kernels the table's signatures; each has its kernel's target, so
// the kernel is inlined into it and a table call is one indirect call.
#include "../../common.h"

#ifdef FUGAKU_X86
#include <immintrin.h>

#include <cstring>

#include "../../kernels.h"

namespace fugaku {
namespace {

#include "avx2.h"
#include "avx512.h"
#include "avxvnni.h"
#include "amx.h"

static_assert(avx512::kIL == IL && avxvnni::kIL == IL && avx512::kQK == QK && avxvnni::kQK == QK, "the interleaved layout");
static_assert(avx512::kF32 == F32 && avx512::kBF16 == BF16 && avx512::kF16 == F16, "avx512.h's weight formats");

// ---------------------------------------------------------------- avx512 / amx weight products
template <int R>
FUGAKU_AVX512_FN void dot_float_avx512(const Matrix& m, int64_t o, const float* const* xs, float* res) {
  avx512::dot_float<R>(m.format, m.data + o * m.row_bytes, m.in_dim, xs, res);
}
FUGAKU_AVX512_FN void dot2_float_avx512(const Matrix& m, int64_t o, const float* const* xs, float* res0, float* res1) {
  avx512::dot2_float<NR>(m.format, m.data + o * m.row_bytes, m.data + (o + 1) * m.row_bytes, m.in_dim, xs, res0, res1);
}
// Two groups (16 output rows) × N ≤ NR2 activation rows into res[t·16 + r].
template <int N>
FUGAKU_AVX512_FN void pair_rows(const Matrix& m, int64_t g, const int8_t* const* xq, const float* const* xd, const int32_t* const* xsum, float* res) {
  const uint8_t* a = group_data(m, g);
  const uint8_t* b = group_data(m, g + 1);
  if (m.format == Q4_0) avx512::pair_q4_0<N>(a, b, m.in_dim / QK, xq, xd, xsum, res);
  else avx512::pair_q8_0<N>(a, b, m.in_dim / QK, xq, xd, xsum, res);
}

static_assert(AMX_ROWS == amx::kM, "amx.h's tile rows");
static_assert(amx::kMaxTiles * amx::kM >= 64, "a chunk's rows fit one pair_tiles call");

// Groups [ga, gb) × activation rows [r0, r1) of matmul_quant on AMX tiles, two groups at a time;
// q and d have zero rows up to a multiple of 16. Returns how many groups it did (an odd last group
// is left to the caller's AVX-512 path).
FUGAKU_AMX_FN int64_t amx_chunk(const Matrix& m, int64_t ga, int64_t gb, int64_t r0, int64_t r1, const int8_t* q, const float* d,
                                const float* bias, float* out) {
  const int64_t in = m.in_dim, nb = in / QK, outd = m.out_dim;
  const int mt = int((r1 - r0 + amx::kM - 1) / amx::kM);
  const amx::TileConfig cfg = amx::tile_config();
  _tile_loadconfig(&cfg);
  amx::Scratch s;
  int64_t g = ga;
  for (; g + 1 < gb; g += 2) {
    const uint8_t* a = group_data(m, g);
    const uint8_t* b = group_data(m, g + 1);
    if (m.format == Q4_0) amx::pair_tiles<true>(a, b, nb, q + r0 * in, in, d + r0 * nb, mt, s);
    else amx::pair_tiles<false>(a, b, nb, q + r0 * in, in, d + r0 * nb, mt, s);
    const int64_t o0 = g * IL, valid = std::min<int64_t>(2 * IL, outd - o0);
    for (int64_t r = r0; r < r1; r++)
      for (int64_t l = 0; l < valid; l++) out[r * outd + o0 + l] = s.acc[(r - r0) * 16 + l] + (bias ? bias[o0 + l] : 0.0f);
  }
  _tile_release();
  return g - ga;
}

// ggml's block types in prefill (amx::block_tiles and super_tiles, by their offsets).
FUGAKU_AMX_FN void amx_blocks(bool mins, const int8_t* wq, int64_t ld, int64_t in, const float* dw, const float* mw, const int8_t* xp, const float* xd,
                              const float* xs, int64_t mt, float* res) {
  if (mins) amx::block_tiles<32, true>(wq, ld, in, dw, mw, xp, xd, xs, mt, res);
  else amx::block_tiles<32, false>(wq, ld, in, dw, mw, xp, xd, xs, mt, res);
}
FUGAKU_AMX_FN void amx_super(int MS, const int8_t* lo, const int8_t* hi, int64_t ld, int64_t in, const float* d, const float* mw, const int8_t* xp,
                             const float* xd, const float* xs, int64_t mt, float* res) {
  if (MS == 16) amx::super_tiles<16>(lo, hi, ld, in, d, mw, xp, xd, xs, mt, res);
  else if (MS == 8) amx::super_tiles<8>(lo, hi, ld, in, d, mw, xp, xd, xs, mt, res);
  else amx::super_tiles<0>(lo, hi, ld, in, d, mw, xp, xd, xs, mt, res);
}

// ---------------------------------------------------------------- avxvnni quantized products
template <int N>
FUGAKU_AVXVNNI_FN void group_vnni(const Matrix& m, int64_t g, const int8_t* const* xq, const float* const* xd, const int32_t* const* xsum, float* res) {
  const uint8_t* base = group_data(m, g);
  if (m.format == Q4_0) avxvnni::group_q4_0<N>(base, m.in_dim / QK, xq, xd, xsum, res);
  else avxvnni::group_q8_0<N>(base, m.in_dim / QK, xq, xd, xsum, res);
}

// ---------------------------------------------------------------- avx2 adapters
template <typename KV>
AVX2_FN void axpy4_kv(float* y, const float* w, const KV* x0, const KV* x1, const KV* x2, const KV* x3, int64_t n) {
  // A zero weight is skipped, never multiplied (0·inf would be NaN): only all-nonzero quads fuse.
  if (w[0] != 0.0f && w[1] != 0.0f && w[2] != 0.0f && w[3] != 0.0f) { axpy4_kv_avx2(y, w, x0, x1, x2, x3, n); return; }
  const KV* x[4] = {x0, x1, x2, x3};
  for (int r = 0; r < 4; r++)
    if (w[r] != 0.0f) axpy_kv_avx2(y, w[r], x[r], n);
}
template <typename KV>
AVX2_FN void accumulate(float* acc, const float* p, int64_t pstride, const KV* v, int64_t width, int64_t m, int64_t nHead, int64_t hd) {
  accumulate_rows<KV>(axpy4_kv<KV>, axpy_kv_avx2<KV>, acc, p, pstride, v, width, m, nHead, hd);
}
AVX2_FN void activation(int32_t kind, float* x, int64_t a, int64_t b) {
  if (kind != GELU && kind != RELU) activation_avx2(kind, x, a, b);
  else portable::activation(kind, x, a, b);  // erf and max: no vector kernel
}
AVX2_FN uint64_t read_sum(const uint64_t* a, int64_t n) {
  int64_t i = 0;
  uint64_t s = read_sum_avx2(a, n, &i);
  for (; i < n; i++) s += a[i];
  return s;
}

template <typename KV>
KvKernels<KV> kv_kernels() {
  return {scores_avx2<KV>, scores_row_avx2<KV>, axpy_kv_avx2<KV>, axpy4_kv<KV>, accumulate<KV>, weighted_sum_avx2<KV>, scores_qb_avx2<KV>, weighted_sum_qb_avx2<KV>};
}

}  // namespace

namespace x86 {
void fill(Kernels& k, int level) {
  // avx2: everything but what the other levels replace below.
  fill_rows<NR>(k.dot_float, [](auto R) -> DotFloatFn { return dot_float_avx2<decltype(R)::value>; });
  k.dot2_float = dot2_float_avx2<NR>;
  fill_rows<NR>(k.group, [](auto N) -> GroupFn { return group_quant_avx2<decltype(N)::value>; });
  k.quantize_acts = quantize_acts_avx2;
  k.to_f16 = to_f16_avx2;
  k.quantize_q8_0 = quantize_q8_0_avx2;
  k.quantize_q4_0 = quantize_q4_0_avx2;
  k.kv_f32 = kv_kernels<float>();
  k.kv_f16 = kv_kernels<uint16_t>();
  k.exp_sum = exp_sum_avx2;
  k.scale_max = scale_max_avx2;
  k.layer_norm_row = layer_norm_row_avx2;
  k.add = add_avx2;
  k.activation = activation;
  k.read_sum = read_sum;
  fill_blocks_avx2(k);  // every x86 level: ggml-cpu's AVX2 ports (avx512 and amx replace some below)
  if (level == AVXVNNI) {
    fill_rows<NR>(k.group, [](auto N) -> GroupFn { return group_vnni<decltype(N)::value>; });
    k.q8_sums = true;  // Q8_0 as (w + 128)·x − 128·Σx
  }
  if (level == AVX512 || level == AMX) {
    fill_rows<NR>(k.dot_float, [](auto R) -> DotFloatFn { return dot_float_avx512<decltype(R)::value>; });
    k.dot2_float = dot2_float_avx512;
    fill_rows<NR2>(k.pair, [](auto N) -> GroupFn { return pair_rows<decltype(N)::value>; });
    k.q8_sums = true;
    fill_blocks_avx512(k);  // Q4_K, Q5_K, Q6_K, IQ4_XS with 512-bit VNNI products
    fill_blocks32_avx512(k);  // Q4_1, Q5_0, Q5_1, IQ4_NL
  }
  if (level == AMX) {
    k.amx_chunk = amx_chunk;
    k.amx_blocks = amx_blocks;
    k.amx_super = amx_super;
    k.unpack_block = unpack_block_row_avx512;
    k.unpack_super = unpack_super_row_avx512;
  }
}
}  // namespace x86

}  // namespace fugaku

#endif  // FUGAKU_X86
