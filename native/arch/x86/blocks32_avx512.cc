// The avx512 and amx sets' vec_dot for ggml's 32-blocks Q4_1, Q5_0, Q5_1 and IQ4_NL (decode; the types
// llama-quantize falls back to where a width is not a multiple of 256, so most of 13B's Q4_K_M and
// Q5_K_M weights). Two blocks per 512-bit vector: the quants as unsigned bytes (Q5_0: q + 16 ∈ [0, 31],
// its fifth bits set by a byte mask straight from qh; IQ4_NL: kvalues + 128 via vpshufb), one vpdpbusd
// with the Q8_0/Q8_1 activation bytes, a second for Σx (times ones), and the offset (16 or 128: a
// shift) taken out in int32: the same integer sum per block as ggml's kernels (arch/portable_blocks.cc), then
// acc += d_w·d_x·sum per block in float (Q4_1/Q5_1: + m·s, s = d_x·Σx from the Q8_1 block).
//
// Every header is included before the target pragma (as in blocks_avx2.cc).
#include "../../common.h"

#ifdef FUGAKU_X86
#include <immintrin.h>

#include <cstring>

#include "../../blocks.h"
#include "../../ggml_blocks.h"
#include "../../ggml_tables.h"

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c,bmi2"))), apply_to = function)
#elif defined(__GNUC__)
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c,bmi2")
#endif

namespace fugaku {
namespace {
using namespace ggml;

inline float h(uint16_t x) { return _cvtsh_ss(x); }

#include "blocks32_avx512.h"

// Two blocks' quants as one vector [a 0–15, a 16–31, b 0–15, b 16–31]: the 16 nibble bytes of each
// as low nibbles (values 0–15) and high nibbles (16–31).
inline __m512i nibbles64(const uint8_t* qa, const uint8_t* qb) {
  const __m256i c = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(qa))),
                                            _mm_loadu_si128(reinterpret_cast<const __m128i*>(qb)), 1);
  const __m256i m4 = _mm256_set1_epi8(15);
  const __m512i lo = _mm512_castsi256_si512(_mm256_and_si256(c, m4)), hi = _mm512_castsi256_si512(_mm256_and_si256(_mm256_srli_epi16(c, 4), m4));
  return _mm512_permutex2var_epi64(lo, _mm512_set_epi64(11, 10, 3, 2, 9, 8, 1, 0), hi);  // [lo a, hi a, lo b, hi b]
}
// + 16 where the blocks' qh bit e is set (value e's fifth bit; nibbles ≤ 15, so + is |).
inline __m512i fifth64(__m512i v, const uint8_t* qha, const uint8_t* qhb) {
  uint32_t a, b; std::memcpy(&a, qha, 4); std::memcpy(&b, qhb, 4);
  return _mm512_mask_add_epi8(v, __mmask64(a) | (__mmask64(b) << 32), v, _mm512_set1_epi8(16));
}
inline __m512 scales(float a, float b) { return _mm512_mask_broadcastss_ps(_mm512_set1_ps(a), 0xFF00, _mm_set_ss(b)); }
inline __m512i load_acts(const int8_t* a, const int8_t* b) {
  return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(a))),
                            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b)), 1);
}

// The weight rows stream from memory: each step (two blocks, ≤ 48 bytes) asks for the line 4 KiB
// ahead, as the k-quant kernels do (blocks_avx512.cc; without it one thread's row read is latency-bound:
// Q5_0 from DRAM streamed ~4 GB/s per thread with two threads).
constexpr size_t kPrefetchBytes = 4096;

// Σ over blocks of d_w·d_x·(Σ u·x − 2^Shift·Σx) (Shift < 0: no offset): u2(i) gives blocks i and i + 1's
// unsigned quants, u1(i) block i's alone (an odd last block), sc(i) block i's d_w·d_x, xq(i) its bytes;
// w: the first weight block, bs: a block's bytes (for the prefetch).
template <int Shift, typename U2, typename U1, typename Scale, typename Acts>
inline float dot32(int nb, const void* w, size_t bs, U2 u2, U1 u1, Scale sc, Acts xq) {
  const __m512i ones = _mm512_set1_epi8(1);
  const char* wp = static_cast<const char*>(w) + kPrefetchBytes;  // may lie past the row: prefetches never fault
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  int i = 0;
  auto step = [&](int j, __m512& acc) {
    _mm_prefetch(wp + size_t(j) * bs, _MM_HINT_T0);
    const __m512i x = load_acts(xq(j), xq(j + 1));
    __m512i sum = _mm512_dpbusd_epi32(_mm512_setzero_si512(), u2(j), x);
    if (Shift >= 0) sum = _mm512_sub_epi32(sum, _mm512_slli_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), ones, x), Shift < 0 ? 0 : Shift));
    acc = _mm512_fmadd_ps(scales(sc(j), sc(j + 1)), _mm512_cvtepi32_ps(sum), acc);
  };
  for (; i + 3 < nb; i += 4) { step(i, acc0); step(i + 2, acc1); }
  if (i + 1 < nb) { step(i, acc0); i += 2; }
  float s = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
  if (i < nb) {  // an odd last block
    const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xq(i)));
    __m256i sum = _mm256_dpbusd_epi32(_mm256_setzero_si256(), u1(i), x);
    if (Shift >= 0) sum = _mm256_sub_epi32(sum, _mm256_slli_epi32(_mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_set1_epi8(1), x), Shift < 0 ? 0 : Shift));
    const __m256 f = _mm256_mul_ps(_mm256_set1_ps(sc(i)), _mm256_cvtepi32_ps(sum));
    __m128 r = _mm_add_ps(_mm256_castps256_ps128(f), _mm256_extractf128_ps(f, 1));
    r = _mm_add_ps(r, _mm_movehl_ps(r, r));
    r = _mm_add_ss(r, _mm_movehdup_ps(r));
    s += _mm_cvtss_f32(r);
  }
  return s;
}

void vec_dot_q5_0(int n, float* s, size_t, const void* vx, size_t, const void* vy, size_t, int) {
  const auto* x = static_cast<const block_q5_0*>(vx);
  const auto* y = static_cast<const block_q8_0*>(vy);
  *s = dot32<4>(n / 32, x, sizeof(*x), [&](int i) { return fifth64(nibbles64(x[i].qs, x[i + 1].qs), x[i].qh, x[i + 1].qh); },
                [&](int i) { return fifth32(nibbles32(x[i].qs), x[i].qh); }, [&](int i) { return h(x[i].d) * y[i].d; },
                [&](int i) { return y[i].qs; });
}
void vec_dot_iq4_nl(int n, float* s, size_t, const void* vx, size_t, const void* vy, size_t, int) {
  const auto* x = static_cast<const block_iq4_nl*>(vx);
  const auto* y = static_cast<const block_q8_0*>(vy);
  int8_t shifted[16];  // kvalues + 128 as unsigned bytes
  for (int j = 0; j < 16; j++) shifted[j] = int8_t(ggml_tables::kvalues_iq4nl[j] ^ 0x80);
  const __m512i table = _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(shifted)));
  *s = dot32<7>(n / 32, x, sizeof(*x), [&](int i) { return _mm512_shuffle_epi8(table, nibbles64(x[i].qs, x[i + 1].qs)); },
                [&](int i) { return _mm256_shuffle_epi8(_mm512_castsi512_si256(table), nibbles32(x[i].qs)); },
                [&](int i) { return h(x[i].d) * y[i].d; }, [&](int i) { return y[i].qs; });
}
// Q4_1 / Q5_1: w = d·q + m, so Σ w·x_f = d·d_x·Σ q·x + m·s.
template <typename B, bool Q5>
float dot_min(int n, const B* x, const block_q8_1* y) {
  const int nb = n / 32;
  float ms = 0;
  for (int i = 0; i < nb; i++) ms += h(x[i].m) * y[i].s;
  const float sum = dot32<-1>(nb, x, sizeof(B), [&](int i) {
    if constexpr (Q5) return fifth64(nibbles64(x[i].qs, x[i + 1].qs), x[i].qh, x[i + 1].qh);
    else return nibbles64(x[i].qs, x[i + 1].qs);
  }, [&](int i) {
    if constexpr (Q5) return fifth32(nibbles32(x[i].qs), x[i].qh);
    else return nibbles32(x[i].qs);
  }, [&](int i) { return h(x[i].d) * y[i].d; }, [&](int i) { return y[i].qs; });
  return sum + ms;
}
void vec_dot_q4_1(int n, float* s, size_t, const void* vx, size_t, const void* vy, size_t, int) {
  *s = dot_min<block_q4_1, false>(n, static_cast<const block_q4_1*>(vx), static_cast<const block_q8_1*>(vy));
}
void vec_dot_q5_1(int n, float* s, size_t, const void* vx, size_t, const void* vy, size_t, int) {
  *s = dot_min<block_q5_1, true>(n, static_cast<const block_q5_1*>(vx), static_cast<const block_q8_1*>(vy));
}

}  // namespace

namespace x86 {
void fill_blocks32_avx512(Kernels& k) {
  k.vec_dot[Q4_1] = vec_dot_q4_1;
  k.vec_dot[Q5_0] = vec_dot_q5_0;
  k.vec_dot[Q5_1] = vec_dot_q5_1;
  k.vec_dot[IQ4_NL] = vec_dot_iq4_nl;
}
}  // namespace x86

}  // namespace fugaku

#if defined(__clang__)
#pragma clang attribute pop
#elif defined(__GNUC__)
#pragma GCC pop_options
#endif

#endif  // FUGAKU_X86
