// The avx2 set's vec_dot entries for ggml's other block types (the avxvnni set takes them all, the
// avx512 and amx sets all but Q4_K, Q5_K, Q6_K and IQ4_XS, which blocks_avx512.cc replaces with
// AVX-512 VNNI kernels of our own: ggml-cpu has none wider): ggml-cpu's own x86 kernels, ported from
// llama.cpp (MIT; ggml_x86.inc), which compute the same integer sums per block as the portable ones
// (arch/portable_blocks.cc) in another float order.
//
// Every header is included before the target pragma, so that no inline function of the standard
// library is compiled here with AVX2 (and merged at link time into code the portable set runs); the
// ported code and its helpers have internal linkage. __AVX2__ (and __FMA__, __F16C__) are defined for
// the ported code's #if branches only, after <immintrin.h>.
#include "../../common.h"

#ifdef FUGAKU_X86
#include <immintrin.h>

#include <cassert>
#include <cstring>

#include "../../blocks.h"
#include "../../ggml_blocks.h"
#include "../../ggml_tables.h"

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c,bmi2"))), apply_to = function)
#elif defined(__GNUC__)
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c,bmi2")
#endif

#ifndef __AVX2__
#define __AVX2__ 1
#endif
#ifndef __FMA__
#define __FMA__ 1
#endif
#ifndef __F16C__
#define __F16C__ 1
#endif

namespace fugaku {
namespace ggml {
using namespace ggml_tables;  // ggml's grids (ggml_tables.h, generated from ggml-common.h)
namespace {

inline float fp16_to_fp32(uint16_t h) { return _cvtsh_ss(h); }  // F16C: exact, as f16_table()
inline float fp16_to_fp32(float f) { return f; }  // the addon's activation scales are f32
#define UNUSED(x) (void)(x)
#include "ggml_x86.inc"
#undef UNUSED

}  // namespace
}  // namespace ggml

namespace x86 {
void fill_blocks_avx2(Kernels& k) {
  using namespace ggml;
  k.vec_dot[Q4_1] = ggml_vec_dot_q4_1_q8_1_avx2;
  k.vec_dot[Q5_0] = ggml_vec_dot_q5_0_q8_0_avx2;
  k.vec_dot[Q5_1] = ggml_vec_dot_q5_1_q8_1_avx2;
  k.vec_dot[Q2_K] = ggml_vec_dot_q2_K_q8_K_avx2;
  k.vec_dot[Q3_K] = ggml_vec_dot_q3_K_q8_K_avx2;
  k.vec_dot[Q4_K] = ggml_vec_dot_q4_K_q8_K_avx2;
  k.vec_dot[Q5_K] = ggml_vec_dot_q5_K_q8_K_avx2;
  k.vec_dot[Q6_K] = ggml_vec_dot_q6_K_q8_K_avx2;
  k.vec_dot[IQ2_XXS] = ggml_vec_dot_iq2_xxs_q8_K_avx2;
  k.vec_dot[IQ2_XS] = ggml_vec_dot_iq2_xs_q8_K_avx2;
  k.vec_dot[IQ3_XXS] = ggml_vec_dot_iq3_xxs_q8_K_avx2;
  k.vec_dot[IQ1_S] = ggml_vec_dot_iq1_s_q8_K_avx2;
  k.vec_dot[IQ4_NL] = ggml_vec_dot_iq4_nl_q8_0_avx2;
  k.vec_dot[IQ3_S] = ggml_vec_dot_iq3_s_q8_K_avx2;
  k.vec_dot[IQ2_S] = ggml_vec_dot_iq2_s_q8_K_avx2;
  k.vec_dot[IQ4_XS] = ggml_vec_dot_iq4_xs_q8_K_avx2;
  k.vec_dot[IQ1_M] = ggml_vec_dot_iq1_m_q8_K_avx2;
}
}  // namespace x86

}  // namespace fugaku

#if defined(__clang__)
#pragma clang attribute pop
#elif defined(__GNUC__)
#pragma GCC pop_options
#endif

#endif  // FUGAKU_X86
