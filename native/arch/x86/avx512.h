// AVX-512 kernels of the native backend (included by arch/x86/kernels.cc; the CPU must report AVX-512 F, BW,
// VL and VNNI, which Context checks before choosing them). They compute the same sums as the AVX2
// kernels on the same interleaved layout (native/common.h, "interleaved quantized layout"), with 512-bit
// registers and VNNI's vpdpbusd (4 u8·s8 products added into each int32 lane in one instruction,
// where AVX2 needs maddubs + madd and int16 partial sums).
//
// Self-contained on purpose: besides <immintrin.h> it needs only the constants below, so
// scripts/check-avx512-emulated.sh compiles this file against SIMDe's portable AVX-512 and checks
// it on machines without AVX-512 (test/backend-ops.test.ts checks it for real where the CPU has it).
//
// Why not AVX512-BF16 (vdpbf16ps) for bf16 weights: it multiplies bf16 by bf16, so the activations
// would be rounded to bf16 first, which the reference (float32 activations) does not do; the bf16
// kernels below widen the weights to float32 instead, as the AVX2 ones do. Decode streams weights
// and is bound by memory, not by this widening.
#pragma once

#ifndef FUGAKU_AVX512_FN
#define FUGAKU_AVX512_FN __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")))
#endif

namespace avx512 {

constexpr int kIL = 8;   // output rows per interleaved group
constexpr int kQK = 32;  // elements per quantized block
constexpr int kF32 = 0, kBF16 = 1, kF16 = 2;  // float weight formats (common.h's Format)

FUGAKU_AVX512_FN inline __m512i bcast4(const void* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}
// The same 32 bytes of group a's and group b's block (8 rows each) as one 16-row vector.
FUGAKU_AVX512_FN inline __m512i load_pair(const uint8_t* a, const uint8_t* b) {
  return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(a))),
                            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b)), 1);
}
// The 8 f16 scales of a's block and of b's block as 16 floats.
FUGAKU_AVX512_FN inline __m512 scales_pair(const uint8_t* a, const uint8_t* b) {
  const __m256i h = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a))),
                                            _mm_loadu_si128(reinterpret_cast<const __m128i*>(b)), 1);
  return _mm512_cvtph_ps(h);
}

// Two interleaved Q4_0 groups (a: rows 0..7, b: rows 8..15) × NR activation rows:
// res[t·16 + r] = Σ_k d_w·d_x·(Σ q·x − 8·Σx). Nibbles q ∈ [0, 15] are the unsigned operand of
// vpdpbusd, activation bytes (broadcast, 4 at a time) the signed one. One int32 sum per activation
// row: with NR = 8 the sums, accumulators and unpacked quants stay within the 32 registers (a second
// sum per row spilled to the stack), and the NR independent chains of vpdpbusd keep it busy.
template <int NR>
FUGAKU_AVX512_FN void pair_q4_0(const uint8_t* a, const uint8_t* b, int64_t nb, const int8_t* const* xq,
                                const float* const* xd, const int32_t* const* xsum, float* res) {
  constexpr int64_t BB = kIL * 18;  // bytes of one block of a group
  const __m512i mask = _mm512_set1_epi8(0x0f);
  __m512 acc[NR];
  for (int t = 0; t < NR; t++) acc[t] = _mm512_setzero_ps();
  for (int64_t k = 0; k < nb; k++) {
    const uint8_t* pa = a + k * BB;
    const uint8_t* pb = b + k * BB;
    _mm_prefetch(reinterpret_cast<const char*>(pa + 6 * BB), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(pa + 6 * BB + 64), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(pa + 6 * BB + 128), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(pb + 6 * BB), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(pb + 6 * BB + 64), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(pb + 6 * BB + 128), _MM_HINT_T0);
    __m512i s[NR];
    for (int t = 0; t < NR; t++) s[t] = _mm512_setzero_si512();
    for (int c = 0; c < 4; c++) {
      const __m512i q = load_pair(pa + 16 + 32 * c, pb + 16 + 32 * c);
      const __m512i lo = _mm512_and_si512(q, mask);
      const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), mask);
      for (int t = 0; t < NR; t++) {
        const int8_t* x = xq[t] + k * kQK;
        s[t] = _mm512_dpbusd_epi32(s[t], lo, bcast4(x + 4 * c));
        s[t] = _mm512_dpbusd_epi32(s[t], hi, bcast4(x + 16 + 4 * c));
      }
    }
    const __m512 dw = scales_pair(pa, pb);
    for (int t = 0; t < NR; t++) {
      const __m512i i32 = _mm512_sub_epi32(s[t], _mm512_slli_epi32(_mm512_set1_epi32(xsum[t][k]), 3));
      acc[t] = _mm512_fmadd_ps(_mm512_mul_ps(dw, _mm512_set1_ps(xd[t][k])), _mm512_cvtepi32_ps(i32), acc[t]);
    }
  }
  for (int t = 0; t < NR; t++) _mm512_storeu_ps(res + 16 * t, acc[t]);
}

// Two interleaved Q8_0 groups × NR activation rows. vpdpbusd wants one unsigned operand: the
// weights' bytes XOR 0x80 are w + 128 as unsigned bytes (one XOR per 64 bytes, shared by the NR
// rows), so Σ (w + 128)·x = Σ w·x + 128·Σx, and 128·Σx per activation block (xsum, computed while
// quantizing the activations) is subtracted once per block, as Q4_0's 8·Σx is.
template <int NR>
FUGAKU_AVX512_FN void pair_q8_0(const uint8_t* a, const uint8_t* b, int64_t nb, const int8_t* const* xq,
                                const float* const* xd, const int32_t* const* xsum, float* res) {
  constexpr int64_t BB = kIL * 34;
  const __m512i k80 = _mm512_set1_epi8(static_cast<char>(0x80));
  __m512 acc[NR];
  for (int t = 0; t < NR; t++) acc[t] = _mm512_setzero_ps();
  for (int64_t k = 0; k < nb; k++) {
    const uint8_t* pa = a + k * BB;
    const uint8_t* pb = b + k * BB;
    __m512i s[NR];
    for (int t = 0; t < NR; t++) s[t] = _mm512_setzero_si512();
    for (int c = 0; c < 8; c += 2) {
      _mm_prefetch(reinterpret_cast<const char*>(pa + 3 * BB + 32 * c), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(pb + 3 * BB + 32 * c), _MM_HINT_T0);
      const __m512i w0 = _mm512_xor_si512(load_pair(pa + 16 + 32 * c, pb + 16 + 32 * c), k80);
      const __m512i w1 = _mm512_xor_si512(load_pair(pa + 48 + 32 * c, pb + 48 + 32 * c), k80);
      for (int t = 0; t < NR; t++) {
        const int8_t* x = xq[t] + k * kQK;
        s[t] = _mm512_dpbusd_epi32(s[t], w0, bcast4(x + 4 * c));
        s[t] = _mm512_dpbusd_epi32(s[t], w1, bcast4(x + 4 * c + 4));
      }
    }
    const __m512 dw = scales_pair(pa, pb);
    for (int t = 0; t < NR; t++) {
      const __m512i i32 = _mm512_sub_epi32(s[t], _mm512_slli_epi32(_mm512_set1_epi32(xsum[t][k]), 7));
      acc[t] = _mm512_fmadd_ps(_mm512_mul_ps(dw, _mm512_set1_ps(xd[t][k])), _mm512_cvtepi32_ps(i32), acc[t]);
    }
  }
  for (int t = 0; t < NR; t++) _mm512_storeu_ps(res + 16 * t, acc[t]);
}

// 16 weights from element i of a float-format row as float32; lanes outside `m` read nothing and are 0.
FUGAKU_AVX512_FN inline __m512 load16(int32_t fmt, const uint8_t* row, int64_t i, __mmask16 m) {
  if (fmt == kF32) return _mm512_maskz_loadu_ps(m, reinterpret_cast<const float*>(row) + i);
  const __m256i h = _mm256_maskz_loadu_epi16(m, reinterpret_cast<const uint16_t*>(row) + i);
  if (fmt == kBF16) return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  return _mm512_cvtph_ps(h);
}
FUGAKU_AVX512_FN inline __mmask16 tail_mask(int64_t left) { return left >= 16 ? __mmask16(0xffff) : __mmask16((1u << left) - 1); }
FUGAKU_AVX512_FN inline float hsum16(__m512 v) {
  __m256 s = _mm256_add_ps(_mm512_castps512_ps256(v), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
  __m128 l = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
  l = _mm_add_ps(l, _mm_movehl_ps(l, l));
  l = _mm_add_ss(l, _mm_movehdup_ps(l));
  return _mm_cvtss_f32(l);
}

// One float-format weight row (n elements) · NR activation rows; masked loads take the tail.
template <int NR>
FUGAKU_AVX512_FN void dot_float(int32_t fmt, const uint8_t* row, int64_t n, const float* const* xs, float* res) {
  __m512 a0[NR], a1[NR];
  for (int r = 0; r < NR; r++) { a0[r] = _mm512_setzero_ps(); a1[r] = _mm512_setzero_ps(); }
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m512 w0 = load16(fmt, row, i, 0xffff), w1 = load16(fmt, row, i + 16, 0xffff);
    for (int r = 0; r < NR; r++) {
      a0[r] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(xs[r] + i), a0[r]);
      a1[r] = _mm512_fmadd_ps(w1, _mm512_loadu_ps(xs[r] + i + 16), a1[r]);
    }
  }
  for (; i < n; i += 16) {
    const __mmask16 m = tail_mask(n - i);
    const __m512 w = load16(fmt, row, i, m);
    for (int r = 0; r < NR; r++) a0[r] = _mm512_fmadd_ps(w, _mm512_maskz_loadu_ps(m, xs[r] + i), a0[r]);
  }
  for (int r = 0; r < NR; r++) res[r] = hsum16(_mm512_add_ps(a0[r], a1[r]));
}

// Prefill tile: 2 weight rows × NR activation rows (each loaded weight vector feeds NR FMAs).
template <int NR>
FUGAKU_AVX512_FN void dot2_float(int32_t fmt, const uint8_t* row0, const uint8_t* row1, int64_t n, const float* const* xs,
                                 float* res0, float* res1) {
  __m512 a0[NR], a1[NR];
  for (int r = 0; r < NR; r++) { a0[r] = _mm512_setzero_ps(); a1[r] = _mm512_setzero_ps(); }
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = tail_mask(n - i);
    const __m512 w0 = load16(fmt, row0, i, m), w1 = load16(fmt, row1, i, m);
    for (int r = 0; r < NR; r++) {
      const __m512 x = _mm512_maskz_loadu_ps(m, xs[r] + i);
      a0[r] = _mm512_fmadd_ps(w0, x, a0[r]);
      a1[r] = _mm512_fmadd_ps(w1, x, a1[r]);
    }
  }
  for (int r = 0; r < NR; r++) { res0[r] = hsum16(a0[r]); res1[r] = hsum16(a1[r]); }
}

}  // namespace avx512
