// The avx512 and amx sets' vec_dot entries for the k-quants Q4_K, Q5_K, Q6_K and the i-quant IQ4_XS
// (x86::fill puts them over blocks_avx2.cc's ggml ports): one weight row of raw GGUF blocks
// (ggml_blocks.h) · one activation row quantized to block_q8_K (float d; int8 qs[256], within ±127;
// int16 bsums[16], the sums of qs per 16). ggml-cpu has no AVX-512 kernels for these types, and its
// AVX2 ones are compute-bound on one thread (the 6-bit scales' unpacking, 256-bit products); these
// take a superblock (256 values) per iteration in four 64-byte vectors.
//
// Every kernel computes ggml's integers (arch/portable_blocks.cc, ggml_generic.inc): per sub-block
// Σ q·x of the block's integer quants q and the activation bytes x, times the sub-block's integer
// scale, summed in int32 over the superblock (exact: well inside int32); only the float accumulation
// over superblocks (16 lanes, then a horizontal sum) differs from ggml's order. The products:
//   vpmaddubsw  unsigned weight bytes × signed activation bytes → int16 pair sums, which never
//               saturate here: 0 ≤ q ≤ 63 for the k-quants (2·63·128 < 2^15) and |q| ≤ 127 for
//               IQ4_XS's sign trick (2·127·127 < 2^15);
//   vpdpwssd    int16 pair sums × the int16 sub-block scale of their lanes, added into int32 lanes
//               (VNNI: the madd and the add in one instruction).
// The scale vectors (one int16 scale per lane) come from the superblock's 8 or 16 decoded scales by
// vpermw with constant lane → sub-block indexes.
//
// As in blocks_avx2.cc, every header is included before the target pragma, so that no inline function
// of the standard library is compiled here with AVX-512 (and merged at link time into code the
// portable set runs); the kernels have internal linkage.
#include "../../common.h"

#ifdef FUGAKU_X86
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "../../blocks.h"
#include "../../ggml_blocks.h"
#include "../../ggml_tables.h"

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c,bmi2"))), apply_to = function)
#elif defined(__GNUC__)
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c,bmi2")
// GCC 12 warns of the intrinsics' own _mm512_undefined_* operands (a known false positive).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace fugaku {
namespace ggml {
namespace {

inline float f16(uint16_t h) { return _cvtsh_ss(h); }  // F16C: exact, as f16_table()

// vpermw indexes: int16 lane l (0..31) of a scale vector takes scale base + (l >> shift). Shift 3:
// Q6_K, whose 64 activations are its 16-value sub-blocks 4m .. 4m + 3 (8 lanes each), and IQ4_XS,
// whose 128-bit lane c holds half of sub-block 4q + c. (Q4_K / Q5_K build theirs in vec_dot_k45.)
inline __m512i scale_index(int shift, int base) {
  alignas(64) int16_t idx[32];
  for (int l = 0; l < 32; l++) idx[l] = int16_t(base + (l >> shift));
  return _mm512_load_si512(idx);
}

// The weight rows stream from memory (a matrix's rows are contiguous, the next row follows): each
// superblock asks for the lines kPrefetchBytes ahead. The hardware prefetchers alone leave one thread
// at ~0.5× the read bandwidth here (measured: 1 KiB ahead gives ~12, 2-4 KiB ~18-20 GB/s for Q4_K on
// a Sapphire Rapids VM); a prefetch past the matrix's end is harmless (prefetches never fault).
constexpr size_t kPrefetchBytes = 4096;
template <typename Block>
inline void prefetch_ahead(const Block* b) {
  const char* p = reinterpret_cast<const char*>(reinterpret_cast<uintptr_t>(b) + kPrefetchBytes);  // may lie past the row
  for (size_t o = 0; o < sizeof(Block); o += 64) _mm_prefetch(p + o, _MM_HINT_T0);
}

inline float hsum(__m512 v) { return _mm512_reduce_add_ps(v); }
inline float hsum8(__m256 v) {
  __m128 h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  h = _mm_add_ps(h, _mm_movehl_ps(h, h));
  return _mm_cvtss_f32(_mm_add_ss(h, _mm_movehdup_ps(h)));
}

// A superblock's f16 d (and dmin) times the activations' d, kept in memory: the kernels use them as
// broadcast memory operands ({1to16}, a load) rather than register broadcasts (shuffle port 5, which
// the products' permutes already keep busy). The empty asm tells the compiler the values are in memory.
inline void scales_to_memory(const uint16_t* f16s, float yd, float* out2) {
  int32_t h2;
  std::memcpy(&h2, f16s, 4);
  _mm_storel_pi(reinterpret_cast<__m64*>(out2), _mm_mul_ps(_mm_cvtph_ps(_mm_cvtsi32_si128(h2)), _mm_set1_ps(yd)));
  asm("" : "+m"(*reinterpret_cast<float(*)[2]>(out2)));
}

// Q4_K / Q5_K's 12 bytes of 6-bit scales and mins (ggml's get_scale_min_k4 / the utmp unpacking of
// its kernels) as two words of 8 bytes: lo = sc0..3, m0..3 and hi = sc4..7, m4..7. With a, b, c the
// three little-endian words of 4 bytes: sc0..3 = a & 63, m0..3 = b & 63 (bytewise); sc4..7 =
// (c & 15) | (a >> 6) << 4 and m4..7 = (c >> 4) | (b >> 6) << 4.
inline void unpack_scales_mins(const uint8_t* packed, uint64_t out[2]) {
  uint64_t ab;
  uint32_t c;
  std::memcpy(&ab, packed, 8);
  std::memcpy(&c, packed + 8, 4);
  const uint64_t cc = uint64_t(c) | uint64_t(c >> 4) << 32;
  out[0] = ab & 0x3f3f3f3f3f3f3f3full;
  out[1] = (cc & 0x0f0f0f0f0f0f0f0full) | ((ab >> 6) & 0x0303030303030303ull) << 4;
}

// Q4_K and Q5_K (HighBit: Q5_K's fifth bit from qh). Block: d, dmin (f16), 12 bytes of scales/mins,
// [Q5_K: qh[32]], qs[128]. Values 64j .. 64j+31 (sub-block 2j) are the low nibbles of qs[32j .. 32j+31],
// 64j+32 .. 64j+63 (sub-block 2j+1) their high nibbles; Q5_K adds 16 where bit 2j (resp. 2j+1) of
// qh[l] is set. The row's value is Σ_i d_i·Σ_k sc_k·Σ q·x − dmin_i·Σ_k m_k·Σ_k x (Σ_k x from bsums).
// Vector j is qs[32j ..] loaded into both 256-bit halves, the upper half shifted by 4: its bytes match
// the activations 64j .. 64j+63.
template <bool HighBit, typename Block>
void vec_dot_k45(int n, float* s, const void* vx, const void* vy) {
  const Block* x = static_cast<const Block*>(vx);
  const block_q8_K* y = static_cast<const block_q8_K*>(vy);
  const int nb = n / QK_K;
  const __m512i m4 = _mm512_set1_epi8(0x0f), m16 = _mm512_set1_epi8(0x10);
  constexpr __mmask32 kUpper = 0xffff0000u;  // the upper 256 bits, as 16-bit lanes
  // The unpacked bytes zero-extended: lanes 0-7 = sc0..3, m0..3 (table a), 8-15 = sc4..7, m4..7 (b).
  // Scale vector j: lanes 0-15 sc_2j, 16-31 sc_2j+1 (vpermt2w of a and b).
  alignas(64) int16_t idx[4][32];
  for (int j = 0; j < 4; j++)
    for (int l = 0; l < 32; l++) {
      const int k = 2 * j + (l >> 4);
      idx[j][l] = int16_t(k < 4 ? k : 32 + k - 4);  // table b starts at lane 32
    }
  __m512i sidx[4];
  for (int j = 0; j < 4; j++) sidx[j] = _mm512_load_si512(idx[j]);
  // The mins duplicated for the 16 bsums: lane l takes m_(l/2).
  alignas(32) int16_t midx_[16];
  for (int l = 0; l < 16; l++) midx_[l] = int16_t(l / 2 < 4 ? 4 + l / 2 : 16 + l / 2);  // (ymm: table b starts at lane 16)
  const __m256i midx = _mm256_load_si256(reinterpret_cast<const __m256i*>(midx_));
  // Q5_K: the qh bit of each byte of vector j (bytes 0-31: bit 2j, 32-63: bit 2j+1).
  __m512i hbit[4];
  for (int j = 0; j < 4; j++) hbit[j] = _mm512_inserti64x4(_mm512_set1_epi8(char(1 << 2 * j)), _mm256_set1_epi8(char(2 << 2 * j)), 1);
  __m512 acc = _mm512_setzero_ps();
  __m256 accm = _mm256_setzero_ps();
  for (int i = 0; i < nb; i++) {
    prefetch_ahead(x + i);
    alignas(8) float dd[2];  // d·y.d, dmin·y.d
    scales_to_memory(&x[i].d, y[i].d, dd);
    alignas(16) uint64_t u[2];
    unpack_scales_mins(x[i].scales, u);
    const __m512i sa = _mm512_castsi128_si512(_mm_cvtepu8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(&u[0]))));
    const __m512i sb = _mm512_castsi128_si512(_mm_cvtepu8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(&u[1]))));
    // Σ_j bsums[j]·m_(j/2), 8 int32 lanes.
    const __m256i mins = _mm256_permutex2var_epi16(_mm512_castsi512_si256(sa), midx, _mm512_castsi512_si256(sb));
    const __m256i md = _mm256_madd_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[i].bsums)), mins);
    accm = _mm256_fmadd_ps(_mm256_set1_ps(dd[1]), _mm256_cvtepi32_ps(md), accm);
    __m512i qh = _mm512_setzero_si512();
    if constexpr (HighBit) qh = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[i].qh)));
    __m512i sum0 = _mm512_setzero_si512(), sum1 = _mm512_setzero_si512();
    for (int j = 0; j < 4; j++) {
      const __m512i z = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[i].qs + 32 * j)));
      __m512i w = _mm512_and_si512(_mm512_mask_srli_epi16(z, kUpper, z, 4), m4);
      if constexpr (HighBit) w = _mm512_mask_add_epi8(w, _mm512_test_epi8_mask(qh, hbit[j]), w, m16);
      const __m512i p = _mm512_maddubs_epi16(w, _mm512_loadu_si512(y[i].qs + 64 * j));
      const __m512i sc = _mm512_permutex2var_epi16(sa, sidx[j], sb);
      if (j % 2 == 0) sum0 = _mm512_dpwssd_epi32(sum0, p, sc);
      else sum1 = _mm512_dpwssd_epi32(sum1, p, sc);
    }
    acc = _mm512_fmadd_ps(_mm512_set1_ps(dd[0]), _mm512_cvtepi32_ps(_mm512_add_epi32(sum0, sum1)), acc);
  }
  *s = hsum(acc) - hsum8(accm);
}

void vec_dot_q4_K(int n, float* s, size_t, const void* vx, size_t, const void* vy, size_t, int) { vec_dot_k45<false, block_q4_K>(n, s, vx, vy); }
void vec_dot_q5_K(int n, float* s, size_t, const void* vx, size_t, const void* vy, size_t, int) { vec_dot_k45<true, block_q5_K>(n, s, vx, vy); }

// Q6_K. Block: ql[128] (low 4 bits), qh[64] (high 2 bits), int8 scales[16] (one per 16 values), d.
// In half h (values 128h .. 128h+127, ql[64h ..], qh[32h ..]), for l < 32:
//   value 128h + l      = ql[l] & 15      | ((qh[l] >> 0) & 3) << 4
//   value 128h + 32 + l = ql[32 + l] & 15 | ((qh[l] >> 2) & 3) << 4
//   value 128h + 64 + l = ql[l] >> 4      | ((qh[l] >> 4) & 3) << 4
//   value 128h + 96 + l = ql[32 + l] >> 4 | ((qh[l] >> 6) & 3) << 4
// each minus 32. The kernel multiplies the unsigned q ∈ [0, 63] and subtracts 32·Σ_k sc_k·Σ_k x
// (Σ_k x from bsums), as ggml's AVX2 kernel: the same integer as Σ_k sc_k·Σ (q − 32)·x.
void vec_dot_q6_K(int n, float* s, size_t, const void* vx, size_t, const void* vy, size_t, int) {
  const block_q6_K* x = static_cast<const block_q6_K*>(vx);
  const block_q8_K* y = static_cast<const block_q8_K*>(vy);
  const int nb = n / QK_K;
  const __m512i m4 = _mm512_set1_epi8(0x0f), m3 = _mm512_set1_epi8(0x03), m30 = _mm512_set1_epi8(0x30);
  const __m512i hi16 = _mm512_broadcast_i32x4(_mm_setr_epi8(0, 16, 32, 48, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0));  // 2 bits → bits 4-5
  const __m512i sidx[4] = {scale_index(3, 0), scale_index(3, 4), scale_index(3, 8), scale_index(3, 12)};
  constexpr __mmask64 kUpper = 0xffffffff00000000ull;  // bytes 32-63
  __m512 acc = _mm512_setzero_ps();
  for (int i = 0; i < nb; i++) {
    prefetch_ahead(x + i);
    const float d = y[i].d * f16(x[i].d);
    const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x[i].scales)));
    const __m512i sc = _mm512_castsi256_si512(sc16);
    // 32·Σ_k sc_k·Σ_k x over the 16 sub-blocks, as 8 int32 lanes.
    const __m256i corr = _mm256_slli_epi32(_mm256_madd_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[i].bsums)), sc16), 5);
    __m512i sum0 = _mm512_zextsi256_si512(_mm256_sub_epi32(_mm256_setzero_si256(), corr)), sum1 = _mm512_setzero_si512();
    for (int h = 0; h < 2; h++) {
      const __m512i l = _mm512_loadu_si512(x[i].ql + 64 * h);
      const __m512i qh = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[i].qh + 32 * h)));
      // t: bytes 0-31 qh[l], bytes 32-63 qh[l] >> 2, so that the bits of values l and 32 + l are
      // at 0-1 and those of 64 + l and 96 + l at 4-5.
      const __m512i t = _mm512_mask_blend_epi8(kUpper, qh, _mm512_srli_epi16(qh, 2));
      // values 128h .. +63: low nibbles | (t & 3) << 4 (a table lookup, no shift);
      // values 128h + 64 .. +127: high nibbles | t & 0x30. The ternary logic 0xe4 is (c ? a : b) bitwise.
      const __m512i qa = _mm512_ternarylogic_epi32(l, _mm512_shuffle_epi8(hi16, _mm512_and_si512(t, m3)), m4, 0xe4);
      const __m512i qb = _mm512_ternarylogic_epi32(_mm512_srli_epi16(l, 4), _mm512_and_si512(t, m30), m4, 0xe4);
      const __m512i p0 = _mm512_maddubs_epi16(qa, _mm512_loadu_si512(y[i].qs + 128 * h));
      const __m512i p1 = _mm512_maddubs_epi16(qb, _mm512_loadu_si512(y[i].qs + 128 * h + 64));
      sum0 = _mm512_dpwssd_epi32(sum0, p0, _mm512_permutexvar_epi16(sidx[2 * h], sc));
      sum1 = _mm512_dpwssd_epi32(sum1, p1, _mm512_permutexvar_epi16(sidx[2 * h + 1], sc));
    }
    acc = _mm512_fmadd_ps(_mm512_set1_ps(d), _mm512_cvtepi32_ps(_mm512_add_epi32(sum0, sum1)), acc);
  }
  *s = hsum(acc);
}

// IQ4_XS. Block: d (f16), scales_h (2 high bits of each of the 8 sub-block scales), scales_l[4] (their
// low nibbles), qs[128]: sub-block k (32 values) is qs[16k .. 16k+15], low nibbles its values 0-15,
// high nibbles 16-31, each an index into kvalues_iq4nl; its scale is ls_k − 32 (6 bits). A 64-byte
// load holds sub-blocks 4q .. 4q+3, one per 128-bit lane: the low nibbles pair with activation lanes
// [0, 2] of each 64 activations, the high nibbles with [1, 3]. vpmaddubsw takes |kvalue| (unsigned)
// and x negated where the kvalue is negative (indexes 0-7): ggml's sign trick.
void vec_dot_iq4_xs(int n, float* s, size_t, const void* vx, size_t, const void* vy, size_t, int) {
  const block_iq4_xs* x = static_cast<const block_iq4_xs*>(vx);
  const block_q8_K* y = static_cast<const block_q8_K*>(vy);
  const int nb = n / QK_K;
  alignas(16) uint8_t absv[16];
  for (int k = 0; k < 16; k++) absv[k] = uint8_t(ggml_tables::kvalues_iq4nl[k] < 0 ? -ggml_tables::kvalues_iq4nl[k] : ggml_tables::kvalues_iq4nl[k]);
  const __m512i tab = _mm512_broadcast_i32x4(_mm_load_si128(reinterpret_cast<const __m128i*>(absv)));
  const __m512i m4 = _mm512_set1_epi8(0x0f), b3 = _mm512_set1_epi8(0x08), b7 = _mm512_set1_epi8(char(0x80));
  const __m512i zero = _mm512_setzero_si512();
  const __m512i sidx[2] = {scale_index(3, 0), scale_index(3, 4)};
  __m512 acc = _mm512_setzero_ps();
  for (int i = 0; i < nb; i++) {
    prefetch_ahead(x + i);
    const float d = y[i].d * f16(x[i].d);
    // The 8 scales as bytes: low nibbles by pdep from scales_l, bits 4-5 from scales_h.
    uint32_t sl;
    std::memcpy(&sl, x[i].scales_l, 4);
    const uint64_t ls = _pdep_u64(sl, 0x0f0f0f0f0f0f0f0full) | _pdep_u64(x[i].scales_h, 0x3030303030303030ull);
    const __m512i sc = _mm512_castsi128_si512(_mm_sub_epi16(_mm_cvtepu8_epi16(_mm_cvtsi64_si128(int64_t(ls))), _mm_set1_epi16(32)));
    __m512i sum0 = _mm512_setzero_si512(), sum1 = _mm512_setzero_si512();
    for (int q = 0; q < 2; q++) {  // sub-blocks 4q .. 4q+3
      const __m512i z = _mm512_loadu_si512(x[i].qs + 64 * q);
      const __m512i a0 = _mm512_loadu_si512(y[i].qs + 128 * q), a1 = _mm512_loadu_si512(y[i].qs + 128 * q + 64);
      const __m512i alo = _mm512_shuffle_i64x2(a0, a1, 0x88);  // activation lanes 0, 2 of a0 and of a1
      const __m512i ahi = _mm512_shuffle_i64x2(a0, a1, 0xdd);  // lanes 1, 3
      const __m512i wlo = _mm512_shuffle_epi8(tab, _mm512_and_si512(z, m4));
      const __m512i whi = _mm512_shuffle_epi8(tab, _mm512_and_si512(_mm512_srli_epi16(z, 4), m4));
      const __m512i xlo = _mm512_mask_sub_epi8(alo, _mm512_testn_epi8_mask(z, b3), zero, alo);
      const __m512i xhi = _mm512_mask_sub_epi8(ahi, _mm512_testn_epi8_mask(z, b7), zero, ahi);
      const __m512i scq = _mm512_permutexvar_epi16(sidx[q], sc);
      sum0 = _mm512_dpwssd_epi32(sum0, _mm512_maddubs_epi16(wlo, xlo), scq);
      sum1 = _mm512_dpwssd_epi32(sum1, _mm512_maddubs_epi16(whi, xhi), scq);
    }
    acc = _mm512_fmadd_ps(_mm512_set1_ps(d), _mm512_cvtepi32_ps(_mm512_add_epi32(sum0, sum1)), acc);
  }
  *s = hsum(acc);
}

}  // namespace
}  // namespace ggml

namespace x86 {
void fill_blocks_avx512(Kernels& k) {
  using namespace ggml;
  k.vec_dot[Q4_K] = vec_dot_q4_K;
  k.vec_dot[Q5_K] = vec_dot_q5_K;
  k.vec_dot[Q6_K] = vec_dot_q6_K;
  k.vec_dot[IQ4_XS] = vec_dot_iq4_xs;
}
}  // namespace x86

}  // namespace fugaku

#if defined(__clang__)
#pragma clang attribute pop
#elif defined(__GNUC__)
#pragma GCC diagnostic pop
#pragma GCC pop_options
#endif

#endif  // FUGAKU_X86
