// The portable vec_dot kernels of ggml's other block types (ggml-cpu's *_generic dot products, ported
// from llama.cpp, MIT: ggml_generic.inc) and their table entries. They are the native side's
// specification of these types: the SIMD entries (arch/x86/blocks_avx2.cc, blocks_avx512.cc,
// arch/arm/blocks_neon.cc) compute the same integer sums per block; test/native-blocks.test.ts checks
// them against these, test/backend-ops.test.ts all of them against the TypeScript reference backend.
#include <cassert>
#include <cstring>

#include "../blocks.h"
#include "../ggml_blocks.h"
#include "../ggml_tables.h"

namespace fugaku {
namespace ggml {
using namespace ggml_tables;  // ggml's grids (ggml_tables.h, generated from ggml-common.h)
namespace {

inline float fp16_to_fp32(uint16_t h) { return f16_table()[h]; }
inline float fp16_to_fp32(float f) { return f; }  // the addon's activation scales are f32
#define UNUSED(x) (void)(x)
#include "../ggml_generic.inc"
#undef UNUSED

}  // namespace
}  // namespace ggml

void dequantize_block_row(int32_t fmt, const uint8_t* row, int64_t n, float* out) {
  using namespace ggml;
  switch (fmt) {
#define DQ(F, f) case F: dequantize_row_##f(reinterpret_cast<const block_##f*>(row), out, n); break;
    DQ(Q4_1, q4_1) DQ(Q5_0, q5_0) DQ(Q5_1, q5_1) DQ(Q2_K, q2_K) DQ(Q3_K, q3_K) DQ(Q4_K, q4_K) DQ(Q5_K, q5_K) DQ(Q6_K, q6_K)
    DQ(IQ2_XXS, iq2_xxs) DQ(IQ2_XS, iq2_xs) DQ(IQ3_XXS, iq3_xxs) DQ(IQ1_S, iq1_s) DQ(IQ4_NL, iq4_nl) DQ(IQ3_S, iq3_s)
    DQ(IQ2_S, iq2_s) DQ(IQ4_XS, iq4_xs) DQ(IQ1_M, iq1_m)
#undef DQ
  }
}

void fill_blocks_portable(Kernels& k) {
  using namespace ggml;
  k.vec_dot[Q4_1] = ggml_vec_dot_q4_1_q8_1_generic;
  k.vec_dot[Q5_0] = ggml_vec_dot_q5_0_q8_0_generic;
  k.vec_dot[Q5_1] = ggml_vec_dot_q5_1_q8_1_generic;
  k.vec_dot[Q2_K] = ggml_vec_dot_q2_K_q8_K_generic;
  k.vec_dot[Q3_K] = ggml_vec_dot_q3_K_q8_K_generic;
  k.vec_dot[Q4_K] = ggml_vec_dot_q4_K_q8_K_generic;
  k.vec_dot[Q5_K] = ggml_vec_dot_q5_K_q8_K_generic;
  k.vec_dot[Q6_K] = ggml_vec_dot_q6_K_q8_K_generic;
  k.vec_dot[IQ2_XXS] = ggml_vec_dot_iq2_xxs_q8_K_generic;
  k.vec_dot[IQ2_XS] = ggml_vec_dot_iq2_xs_q8_K_generic;
  k.vec_dot[IQ3_XXS] = ggml_vec_dot_iq3_xxs_q8_K_generic;
  k.vec_dot[IQ1_S] = ggml_vec_dot_iq1_s_q8_K_generic;
  k.vec_dot[IQ4_NL] = ggml_vec_dot_iq4_nl_q8_0_generic;
  k.vec_dot[IQ3_S] = ggml_vec_dot_iq3_s_q8_K_generic;
  k.vec_dot[IQ2_S] = ggml_vec_dot_iq2_s_q8_K_generic;
  k.vec_dot[IQ4_XS] = ggml_vec_dot_iq4_xs_q8_K_generic;
  k.vec_dot[IQ1_M] = ggml_vec_dot_iq1_m_q8_K_generic;
}

}  // namespace fugaku
