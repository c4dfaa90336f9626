// The AMX set's unpackers (blocks.h unpack_block_row / unpack_super_row): for Q4_K, Q5_K, Q6_K and
// IQ4_XS (the types of llama.cpp's usual files), and the 32-blocks Q4_1, Q5_0, Q5_1 and IQ4_NL (its
// fallbacks where a width is not a multiple of 256, as 13B's 5184), hand-written AVX-512 BW, 32 values per vector: the
// quants from nibbles and high bits (IQ4_XS: the kvalues lookup by vpshufb), times their sub-block's
// integer scale in int16, split into lo = w & 127 and hi = w >> 7; the other types blocks_unpack.inc
// compiled for AVX-512 (the compiler's vectorization). The integers are the portable set's
// (test/native-blocks.test.ts checks every set against the spec).
//
// Every header is included before the target pragma (as in blocks_avx2.cc), so that no inline
// function of the standard library is compiled here for AVX-512 and merged into portable code.
#include "../../common.h"

#ifdef FUGAKU_X86
#include <immintrin.h>

#include <cstring>

#include "../../blocks.h"
#include "../../ggml_blocks.h"
#include "../../ggml_tables.h"

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c,bmi2,ssse3"))), apply_to = function)
#elif defined(__GNUC__)
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx2,fma,f16c,bmi2")
#endif

namespace fugaku {
namespace {
namespace unpack_avx512 {
inline float h(uint16_t x) { return _cvtsh_ss(x); }  // F16C: exact, as f16_table()
#include "../../blocks_unpack.inc"

// 32 quants (int8) times their scales (int16 lanes) as lo and hi (32 bytes each).
inline void emit32(__m256i q, __m512i sc, int8_t* lo, int8_t* hi) {
  const __m512i w = _mm512_mullo_epi16(_mm512_cvtepi8_epi16(q), sc);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(lo), _mm512_cvtepi16_epi8(_mm512_and_si512(w, _mm512_set1_epi16(127))));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(hi), _mm512_cvtepi16_epi8(_mm512_srai_epi16(w, 7)));
}
inline __m512i scales2(int a, int b) {  // lanes 0–15: a, 16–31: b (two sub-blocks of 16)
  return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi16(int16_t(a))), _mm256_set1_epi16(int16_t(b)), 1);
}
// Bits s, s + 1, … of every byte (the mask m after the shift) — the shift is per 16-bit lane, the mask per byte.
inline __m256i bits(__m256i v, int s, int m) { return _mm256_and_si256(_mm256_srli_epi16(v, s), _mm256_set1_epi8(char(m))); }

void q4_K_super(const block_q4_K& x, int8_t* lo, int8_t* hi, float* d, float* mw) {
  int sc[8], m[8];
  for (int j = 0; j < 8; j++) scale_min_k4(j, x.scales, &sc[j], &m[j]);
  for (int j = 0; j < 4; j++) {
    const __m256i c = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.qs + 32 * j));
    emit32(bits(c, 0, 15), _mm512_set1_epi16(int16_t(sc[2 * j])), lo + 64 * j, hi + 64 * j);
    emit32(bits(c, 4, 15), _mm512_set1_epi16(int16_t(sc[2 * j + 1])), lo + 64 * j + 32, hi + 64 * j + 32);
  }
  const float dmin = h(x.dmin);
  *d = h(x.d);
  for (int j = 0; j < 8; j++) mw[j] = -(dmin * float(m[j]));
}
void q5_K_super(const block_q5_K& x, int8_t* lo, int8_t* hi, float* d, float* mw) {
  int sc[8], m[8];
  for (int j = 0; j < 8; j++) scale_min_k4(j, x.scales, &sc[j], &m[j]);
  const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.qh));
  for (int j = 0; j < 4; j++) {
    const __m256i c = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.qs + 32 * j));
    const __m256i q0 = _mm256_or_si256(bits(c, 0, 15), _mm256_slli_epi16(bits(qh, 2 * j, 1), 4));
    const __m256i q1 = _mm256_or_si256(bits(c, 4, 15), _mm256_slli_epi16(bits(qh, 2 * j + 1, 1), 4));
    emit32(q0, _mm512_set1_epi16(int16_t(sc[2 * j])), lo + 64 * j, hi + 64 * j);
    emit32(q1, _mm512_set1_epi16(int16_t(sc[2 * j + 1])), lo + 64 * j + 32, hi + 64 * j + 32);
  }
  const float dmin = h(x.dmin);
  *d = h(x.d);
  for (int j = 0; j < 8; j++) mw[j] = -(dmin * float(m[j]));
}
void q6_K_super(const block_q6_K& x, int8_t* lo, int8_t* hi, float* d) {
  const __m256i k32 = _mm256_set1_epi8(32);
  for (int n = 0; n < 2; n++) {
    const __m256i l0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.ql + 64 * n));
    const __m256i l1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.ql + 64 * n + 32));
    const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.qh + 32 * n));
    const __m256i q[4] = {
        _mm256_or_si256(bits(l0, 0, 15), _mm256_slli_epi16(bits(qh, 0, 3), 4)),
        _mm256_or_si256(bits(l1, 0, 15), _mm256_slli_epi16(bits(qh, 2, 3), 4)),
        _mm256_or_si256(bits(l0, 4, 15), _mm256_slli_epi16(bits(qh, 4, 3), 4)),
        _mm256_or_si256(bits(l1, 4, 15), _mm256_slli_epi16(bits(qh, 6, 3), 4)),
    };
    for (int k = 0; k < 4; k++) {
      const int s0 = 8 * n + 2 * k;  // values 128n + 32k + l: sub-block s0 + l / 16
      emit32(_mm256_sub_epi8(q[k], k32), scales2(x.scales[s0], x.scales[s0 + 1]), lo + 128 * n + 32 * k, hi + 128 * n + 32 * k);
    }
  }
  *d = h(x.d);
}
void iq4_xs_super(const block_iq4_xs& x, int8_t* lo, int8_t* hi, float* d) {
  const __m128i table = _mm_loadu_si128(reinterpret_cast<const __m128i*>(kvalues_iq4nl));
  const __m128i m4 = _mm_set1_epi8(15);
  for (int ib = 0; ib < 8; ib++) {
    const int ls = (((x.scales_l[ib / 2] >> 4 * (ib % 2)) & 0xf) | (((x.scales_h >> 2 * ib) & 3) << 4)) - 32;
    const __m128i c = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x.qs + 16 * ib));
    const __m128i v0 = _mm_shuffle_epi8(table, _mm_and_si128(c, m4));
    const __m128i v1 = _mm_shuffle_epi8(table, _mm_and_si128(_mm_srli_epi16(c, 4), m4));
    emit32(_mm256_inserti128_si256(_mm256_castsi128_si256(v0), v1, 1), _mm512_set1_epi16(int16_t(ls)), lo + 32 * ib, hi + 32 * ib);
  }
  *d = h(x.d);
}

#include "blocks32_avx512.h"

void block_row_simd(int32_t fmt, const uint8_t* row, int64_t n, int8_t* q, float* dw, float* mw) {
  const int64_t nb = n / 32;
  auto store = [](int8_t* dst, __m256i v) { _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst), v); };
  switch (fmt) {
    case Q4_1:
      for (int64_t i = 0; i < nb; i++) {
        const auto& b = reinterpret_cast<const block_q4_1*>(row)[i];
        store(q + 32 * i, nibbles32(b.qs)); dw[i] = h(b.d); mw[i] = h(b.m);
      }
      return;
    case Q5_0:
      for (int64_t i = 0; i < nb; i++) {
        const auto& b = reinterpret_cast<const block_q5_0*>(row)[i];
        store(q + 32 * i, _mm256_sub_epi8(fifth32(nibbles32(b.qs), b.qh), _mm256_set1_epi8(16))); dw[i] = h(b.d); mw[i] = 0;
      }
      return;
    case Q5_1:
      for (int64_t i = 0; i < nb; i++) {
        const auto& b = reinterpret_cast<const block_q5_1*>(row)[i];
        store(q + 32 * i, fifth32(nibbles32(b.qs), b.qh)); dw[i] = h(b.d); mw[i] = h(b.m);
      }
      return;
    case IQ4_NL: {
      const __m256i table = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kvalues_iq4nl)));
      for (int64_t i = 0; i < nb; i++) {
        const auto& b = reinterpret_cast<const block_iq4_nl*>(row)[i];
        store(q + 32 * i, _mm256_shuffle_epi8(table, nibbles32(b.qs))); dw[i] = h(b.d); mw[i] = 0;
      }
      return;
    }
  }
  block_row(fmt, row, n, q, dw, mw);
}

void super_row_simd(int32_t fmt, const uint8_t* row, int64_t n, int8_t* lo, int8_t* hi, float* d, float* mw) {
  const int64_t nb = n / 256;
  switch (fmt) {
    case Q4_K: for (int64_t i = 0; i < nb; i++) q4_K_super(reinterpret_cast<const block_q4_K*>(row)[i], lo + 256 * i, hi + 256 * i, d + i, mw + 8 * i); return;
    case Q5_K: for (int64_t i = 0; i < nb; i++) q5_K_super(reinterpret_cast<const block_q5_K*>(row)[i], lo + 256 * i, hi + 256 * i, d + i, mw + 8 * i); return;
    case Q6_K: for (int64_t i = 0; i < nb; i++) q6_K_super(reinterpret_cast<const block_q6_K*>(row)[i], lo + 256 * i, hi + 256 * i, d + i); return;
    case IQ4_XS: for (int64_t i = 0; i < nb; i++) iq4_xs_super(reinterpret_cast<const block_iq4_xs*>(row)[i], lo + 256 * i, hi + 256 * i, d + i); return;
  }
  super_row(fmt, row, n, lo, hi, d, mw);
}
}  // namespace unpack_avx512
}  // namespace

namespace x86 {
void unpack_block_row_avx512(int32_t fmt, const uint8_t* row, int64_t n, int8_t* q, float* dw, float* mw) {
  unpack_avx512::block_row_simd(fmt, row, n, q, dw, mw);
}
void unpack_super_row_avx512(int32_t fmt, const uint8_t* row, int64_t n, int8_t* lo, int8_t* hi, float* d, float* mw) {
  unpack_avx512::super_row_simd(fmt, row, n, lo, hi, d, mw);
}
}  // namespace x86

}  // namespace fugaku

#if defined(__clang__)
#pragma clang attribute pop
#elif defined(__GNUC__)
#pragma GCC pop_options
#endif

#endif  // FUGAKU_X86
