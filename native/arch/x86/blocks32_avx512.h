// The 32-blocks' quants as bytes on AVX-512 BW/VL (Q4_1, Q5_0, Q5_1, IQ4_NL: 16 bytes of nibbles, Q5's
// fifth bits in a 32-bit qh), shared by their vec_dot (blocks32_avx512.cc) and their unpacking for
// the tile paths (unpack_avx512.cc). Included after each file's target pragma, inside its namespace.
#pragma once

// A block's 16 nibble bytes as values 0–15 (low nibbles) then 16–31 (high nibbles).
inline __m256i nibbles32(const uint8_t* qs) {
  const __m128i c = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs)), m4 = _mm_set1_epi8(15);
  return _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_and_si128(c, m4)), _mm_and_si128(_mm_srli_epi16(c, 4), m4), 1);
}
// + 16 where bit e of the block's qh is set (value e's fifth bit; nibbles ≤ 15, so + is |).
inline __m256i fifth32(__m256i v, const uint8_t* qh4) {
  uint32_t qh;
  std::memcpy(&qh, qh4, 4);
  return _mm256_mask_add_epi8(v, __mmask32(qh), v, _mm256_set1_epi8(16));
}
