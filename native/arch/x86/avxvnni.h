// AVX-VNNI kernels of the native backend (included by arch/x86/kernels.cc): the quantized products
// with the VEX-encoded vpdpbusd on 256-bit registers, which Intel's client CPUs from Alder Lake on
// have without AVX-512 (AMD's Zen 4 and later have AVX-512 VNNI and take the avx512 set). Same
// interleaved layout and same sums as the AVX2 group kernels (native/common.h, "interleaved quantized
// layout"); vpdpbusd adds 4 u8·s8 products into each int32 lane in one instruction where AVX2 needs
// maddubs + madd (+ sign for Q8_0). Q4_0 nibbles are the unsigned operand; Q8_0 weights XOR 0x80 are
// w + 128 as unsigned bytes, and 128·Σx per activation block is subtracted, as in avx512.h. Integer
// sums are exact and the float steps run in the AVX2 kernels' order, so results are bit-identical to
// the avx2 set's.
//
// Self-contained like avx512.h: native/check/avx512-emulated.cc compiles it against SIMDe and checks
// it on machines without AVX-VNNI (test/backend-ops.test.ts runs it for real where the CPU has it).
#pragma once

#ifndef FUGAKU_AVXVNNI_FN
#define FUGAKU_AVXVNNI_FN __attribute__((target("avx2,fma,f16c,avxvnni")))
#endif
#ifndef FUGAKU_DPBUSD256
#define FUGAKU_DPBUSD256 _mm256_dpbusd_avx_epi32
#endif

namespace avxvnni {

constexpr int kIL = 8;   // output rows per interleaved group
constexpr int kQK = 32;  // elements per quantized block

// 4 activation bytes broadcast to all 8 lanes.
FUGAKU_AVXVNNI_FN inline __m256i bcast4(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm256_set1_epi32(v);
}

// One Q4_0 group (8 output rows) × NR activation rows: res[t·8 + r] = Σ_k d_w·d_x·(Σ q·x − 8·Σx).
template <int NR>
FUGAKU_AVXVNNI_FN void group_q4_0(const uint8_t* base, int64_t nb, const int8_t* const* xq, const float* const* xd,
                                  const int32_t* const* xsum, float* res) {
  constexpr int64_t BB = kIL * 18;
  const __m256i mask = _mm256_set1_epi8(0x0f);
  __m256 acc[NR];
  for (int t = 0; t < NR; t++) acc[t] = _mm256_setzero_ps();
  for (int64_t k = 0; k < nb; k++) {
    const uint8_t* p = base + k * BB;
    _mm_prefetch(reinterpret_cast<const char*>(p + 8 * BB), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(p + 8 * BB + 64), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(p + 8 * BB + 128), _MM_HINT_T0);
    __m256i s[NR];
    for (int t = 0; t < NR; t++) s[t] = _mm256_setzero_si256();
    for (int c = 0; c < 4; c++) {
      const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 16 + 32 * c));
      const __m256i lo = _mm256_and_si256(q, mask), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), mask);
      for (int t = 0; t < NR; t++) {
        const int8_t* x = xq[t] + k * kQK;
        s[t] = FUGAKU_DPBUSD256(s[t], lo, bcast4(x + 4 * c));
        s[t] = FUGAKU_DPBUSD256(s[t], hi, bcast4(x + 16 + 4 * c));
      }
    }
    const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    for (int t = 0; t < NR; t++) {
      const __m256i i32 = _mm256_sub_epi32(s[t], _mm256_slli_epi32(_mm256_set1_epi32(xsum[t][k]), 3));
      acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_set1_ps(xd[t][k])), _mm256_cvtepi32_ps(i32), acc[t]);
    }
  }
  for (int t = 0; t < NR; t++) _mm256_storeu_ps(res + 8 * t, acc[t]);
}

// One Q8_0 group × NR activation rows: Σ (w + 128)·x − 128·Σx = Σ w·x.
template <int NR>
FUGAKU_AVXVNNI_FN void group_q8_0(const uint8_t* base, int64_t nb, const int8_t* const* xq, const float* const* xd,
                                  const int32_t* const* xsum, float* res) {
  constexpr int64_t BB = kIL * 34;
  const __m256i k80 = _mm256_set1_epi8(static_cast<char>(0x80));
  __m256 acc[NR];
  for (int t = 0; t < NR; t++) acc[t] = _mm256_setzero_ps();
  for (int64_t k = 0; k < nb; k++) {
    const uint8_t* p = base + k * BB;
    __m256i s[NR];
    for (int t = 0; t < NR; t++) s[t] = _mm256_setzero_si256();
    for (int c = 0; c < 8; c++) {
      _mm_prefetch(reinterpret_cast<const char*>(p + 4 * BB + 32 * c), _MM_HINT_T0);
      const __m256i w = _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 16 + 32 * c)), k80);
      for (int t = 0; t < NR; t++) s[t] = FUGAKU_DPBUSD256(s[t], w, bcast4(xq[t] + k * kQK + 4 * c));
    }
    const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    for (int t = 0; t < NR; t++) {
      const __m256i i32 = _mm256_sub_epi32(s[t], _mm256_slli_epi32(_mm256_set1_epi32(xsum[t][k]), 7));
      acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_set1_ps(xd[t][k])), _mm256_cvtepi32_ps(i32), acc[t]);
    }
  }
  for (int t = 0; t < NR; t++) _mm256_storeu_ps(res + 8 * t, acc[t]);
}

}  // namespace avxvnni
