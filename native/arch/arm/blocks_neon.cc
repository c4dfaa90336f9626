// The neon set's vec_dot entries for ggml's other block types: ggml-cpu's own Arm kernels, ported from
// llama.cpp (MIT; ggml_arm.inc), twice: plain NEON (sdot emulated by ggml's vmull/vpaddl fallback) and,
// where the compiler can target it per function (GCC, or a DotProd default target as Apple's), with
// DotProd's sdot. Both compute the same integer sums per block as the portable kernels
// (arch/portable_blocks.cc). ggml's SVE and I8MM branches are never compiled (ggml_arm.inc names their
// macros FUGAKU_GGML_SVE / FUGAKU_GGML_I8MM, which nothing defines).
#include "../../common.h"

#ifdef FUGAKU_ARM64
#include <arm_neon.h>

#include <cassert>
#include <cstring>

#include "../../blocks.h"
#include "../../ggml_blocks.h"
#include "../../ggml_tables.h"

#if defined(__ARM_FEATURE_DOTPROD) || !defined(__clang__)
#define FUGAKU_BLOCKS_DOTPROD 1
#endif

namespace fugaku {
namespace ggml {
using namespace ggml_tables;  // ggml's grids (ggml_tables.h, generated from ggml-common.h)
namespace {

inline float fp16_to_fp32(uint16_t h) { return f16_table()[h]; }
inline float fp16_to_fp32(float f) { return f; }  // the addon's activation scales are f32
#define UNUSED(x) (void)(x)
#define ggml_int16x8x2_t int16x8x2_t
#define ggml_uint8x16x2_t uint8x16x2_t
#define ggml_uint8x16x4_t uint8x16x4_t
#define ggml_int8x16x2_t int8x16x2_t
#define ggml_int8x16x4_t int8x16x4_t
#define ggml_vld1q_s16_x2 vld1q_s16_x2
#define ggml_vld1q_u8_x2 vld1q_u8_x2
#define ggml_vld1q_u8_x4 vld1q_u8_x4
#define ggml_vld1q_s8_x2 vld1q_s8_x2
#define ggml_vld1q_s8_x4 vld1q_s8_x4
#define ggml_vqtbl1q_s8 vqtbl1q_s8
#define ggml_vqtbl1q_u8 vqtbl1q_u8
#define ggml_vld1q_u32(w, x, y, z) {(w), (x), (y), (z)}

namespace base {
// ggml's fallback for CPUs without DotProd: the same total as sdot, another per-lane grouping.
inline int32x4_t ggml_vdotq_s32(int32x4_t acc, int8x16_t a, int8x16_t b) {
  const int16x8_t p0 = vmull_s8(vget_low_s8(a), vget_low_s8(b));
  const int16x8_t p1 = vmull_s8(vget_high_s8(a), vget_high_s8(b));
  return vaddq_s32(acc, vaddq_s32(vpaddlq_s16(p0), vpaddlq_s16(p1)));
}
#include "ggml_arm.inc"
}  // namespace base

#ifdef FUGAKU_BLOCKS_DOTPROD
#if !defined(__ARM_FEATURE_DOTPROD)
#pragma GCC push_options
#pragma GCC target("arch=armv8.2-a+dotprod")
#endif
namespace dp {
#define ggml_vdotq_s32(a, b, c) vdotq_s32(a, b, c)
#include "ggml_arm.inc"
#undef ggml_vdotq_s32
}  // namespace dp
#if !defined(__ARM_FEATURE_DOTPROD)
#pragma GCC pop_options
#endif
#endif
#undef UNUSED

}  // namespace
}  // namespace ggml

namespace arm {
void fill_blocks_neon(Kernels& k, bool dotprod) {
#ifdef FUGAKU_BLOCKS_DOTPROD
#define FUGAKU_SET(F, f) k.vec_dot[F] = dotprod ? ggml::dp::ggml_vec_dot_##f##_neon : ggml::base::ggml_vec_dot_##f##_neon;
#else
  (void)dotprod;
#define FUGAKU_SET(F, f) k.vec_dot[F] = ggml::base::ggml_vec_dot_##f##_neon;
#endif
  FUGAKU_SET(Q4_1, q4_1_q8_1) FUGAKU_SET(Q5_0, q5_0_q8_0) FUGAKU_SET(Q5_1, q5_1_q8_1) FUGAKU_SET(Q2_K, q2_K_q8_K)
  FUGAKU_SET(Q3_K, q3_K_q8_K) FUGAKU_SET(Q4_K, q4_K_q8_K) FUGAKU_SET(Q5_K, q5_K_q8_K) FUGAKU_SET(Q6_K, q6_K_q8_K)
  FUGAKU_SET(IQ2_XXS, iq2_xxs_q8_K) FUGAKU_SET(IQ2_XS, iq2_xs_q8_K) FUGAKU_SET(IQ3_XXS, iq3_xxs_q8_K) FUGAKU_SET(IQ1_S, iq1_s_q8_K)
  FUGAKU_SET(IQ4_NL, iq4_nl_q8_0) FUGAKU_SET(IQ3_S, iq3_s_q8_K) FUGAKU_SET(IQ2_S, iq2_s_q8_K) FUGAKU_SET(IQ4_XS, iq4_xs_q8_K)
  FUGAKU_SET(IQ1_M, iq1_m_q8_K)
#undef FUGAKU_SET
}
}  // namespace arm

}  // namespace fugaku

#endif  // FUGAKU_ARM64
