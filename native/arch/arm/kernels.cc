// The 64-bit Arm kernel set's table: neon (arch/arm/neon_float.h for the float kernels, neon.h for the
// quantized products: DotProd's sdot where the CPU has it, neon::dp, else plain NEON, neon::base).
// What NEON does not replace (the add, the read probe, the Q8_0/Q4_0 weight quantizers, GELU and ReLU)
// stays portable.
#include "../../common.h"

#ifdef FUGAKU_ARM64
#include <arm_neon.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>

#include "../../kernels.h"

namespace fugaku {
namespace {

#include "neon.h"
#include "neon_float.h"

static_assert(neon::kIL == IL && neon::kQK == QK, "the interleaved layout");
static_assert(neon::kQB == QB, "neon_float.h's query block");
static_assert(neon::kGeluTanh == GELU_TANH && neon::kGeluFast == GELU_FAST && neon::kQuickGelu == QUICK_GELU && neon::kSilu == SILU, "neon_float.h's activation kinds");
static_assert(neon::kF32 == F32 && neon::kBF16 == BF16 && neon::kF16 == F16, "neon_float.h's weight formats");

template <int R>
void dot_float(const Matrix& m, int64_t o, const float* const* xs, float* res) {
  neon::dot_float<R>(m.format, m.data + o * m.row_bytes, m.in_dim, xs, res);
}
template <int N>
FUGAKU_DOTPROD_FN void group_dp(const Matrix& m, int64_t g, const int8_t* const* xq, const float* const* xd, const int32_t* const*, float* res) {
  const uint8_t* base = group_data(m, g);
  if (m.format == Q4_0) neon::dp::group_q4_0<N>(base, m.in_dim / QK, xq, xd, res);
  else neon::dp::group_q8_0<N>(base, m.in_dim / QK, xq, xd, res);
}
template <int N>
void group_base(const Matrix& m, int64_t g, const int8_t* const* xq, const float* const* xd, const int32_t* const*, float* res) {
  const uint8_t* base = group_data(m, g);
  if (m.format == Q4_0) neon::base::group_q4_0<N>(base, m.in_dim / QK, xq, xd, res);
  else neon::base::group_q8_0<N>(base, m.in_dim / QK, xq, xd, res);
}

template <typename KV>
void scores(const float* q, const KV* k, int64_t width, int64_t n, int64_t hd, float* out) {
  for (int64_t j = 0; j < n; j++) out[j] = neon::dot(q, k + j * width, hd);
}
template <typename KV>
void scores_row(const float* q, const KV* row, int64_t nHead, int64_t hd, float scale, float* out, int64_t stride) {
  for (int64_t h = 0; h < nHead; h++) out[h * stride] = neon::dot(q + h * hd, row + h * hd, hd) * scale;
}
template <typename KV>
void axpy4(float* y, const float* w, const KV* x0, const KV* x1, const KV* x2, const KV* x3, int64_t n) {
  const KV* x[4] = {x0, x1, x2, x3};
  for (int r = 0; r < 4; r++)
    if (w[r] != 0.0f) neon::axpy(y, w[r], x[r], n);
}
template <typename KV>
void accumulate(float* acc, const float* p, int64_t pstride, const KV* v, int64_t width, int64_t m, int64_t nHead, int64_t hd) {
  accumulate_rows<KV>(axpy4<KV>, neon::axpy<KV>, acc, p, pstride, v, width, m, nHead, hd);
}
template <typename KV>
void weighted_sum(const float* p, int64_t n, const KV* v, int64_t width, int64_t hd, float* out) {
  std::fill(out, out + hd, 0.0f);
  for (int64_t j = 0; j < n; j++) {
    if (p[j] != 0.0f) neon::axpy(out, p[j], v + j * width, hd);
  }
}
template <typename KV>
KvKernels<KV> kv_kernels() {
  return {scores<KV>, scores_row<KV>, neon::axpy<KV>, axpy4<KV>, accumulate<KV>, weighted_sum<KV>, neon::scores_qb<KV>, neon::weighted_sum_qb<KV>};
}
void activation(int32_t kind, float* x, int64_t a, int64_t b) {
  if (kind != GELU && kind != RELU) neon::activation(kind, x, a, b);
  else portable::activation(kind, x, a, b);
}

}  // namespace

namespace arm {
void fill_neon(Kernels& k, bool dotprod) {
  fill_rows<NR>(k.dot_float, [](auto R) -> DotFloatFn { return dot_float<decltype(R)::value>; });
  if (dotprod) fill_rows<NR>(k.group, [](auto N) -> GroupFn { return group_dp<decltype(N)::value>; });
  else fill_rows<NR>(k.group, [](auto N) -> GroupFn { return group_base<decltype(N)::value>; });
  k.quantize_acts = neon::quantize_acts;
  k.to_f16 = neon::to_f16;  // every aarch64 CPU converts to half in hardware
  k.kv_f32 = kv_kernels<float>();
  k.kv_f16 = kv_kernels<uint16_t>();
  k.exp_sum = neon::exp_sum;
  k.scale_max = neon::scale_max;
  k.layer_norm_row = neon::layer_norm_row;
  k.activation = activation;
  fill_blocks_neon(k, dotprod);
}
}  // namespace arm

}  // namespace fugaku

#endif  // FUGAKU_ARM64
