// The AVX2 + FMA + F16C kernels of the native backend (x86-64): the `avx2` kernel set, and what the
// avx512, avxvnni and amx sets use for everything their own headers do not replace (attention,
// softmax, LayerNorm, activations, the activation quantizer, conversions). Compiled with target
// attributes (no global -m flags) and chosen only where the CPU reports the features (cpu.cc).
//
// Included by arch/x86/kernels.cc only, inside its namespace, after <immintrin.h> and ../../common.h
// (Matrix, the interleaved layout, the scalar conversions, Act); the kernel table there points at
// these functions.
#pragma once

#define AVX2_FN __attribute__((target("avx2,fma,f16c")))
AVX2_FN inline float hsum8(__m256 v) {
  __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
  lo = _mm_add_ps(lo, hi);
  lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
  lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
  return _mm_cvtss_f32(lo);
}

AVX2_FN inline __m256 load8_as_f32(int32_t fmt, const uint8_t* row, int64_t i) {
  if (fmt == F32) return _mm256_loadu_ps(reinterpret_cast<const float*>(row) + i);
  __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(reinterpret_cast<const uint16_t*>(row) + i));
  if (fmt == BF16) return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  return _mm256_cvtph_ps(h);
}

AVX2_FN inline float scalar_weight(int32_t fmt, const uint8_t* row, int64_t j) {
  return fmt == F32 ? reinterpret_cast<const float*>(row)[j]
       : fmt == BF16 ? bf16_to_f32(reinterpret_cast<const uint16_t*>(row)[j])
                     : _cvtsh_ss(reinterpret_cast<const uint16_t*>(row)[j]);
}

template <int NR>
AVX2_FN void dot_float_avx2(const Matrix& m, int64_t o, const float* const* xs, float* res) {
  const int64_t n = m.in_dim;
  const uint8_t* row = m.data + o * m.row_bytes;
  const int32_t fmt = m.format;
  __m256 acc[NR], acc2[NR];
  for (int r = 0; r < NR; r++) { acc[r] = _mm256_setzero_ps(); acc2[r] = _mm256_setzero_ps(); }
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m256 w0 = load8_as_f32(fmt, row, i), w1 = load8_as_f32(fmt, row, i + 8);
    for (int r = 0; r < NR; r++) {
      acc[r] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(xs[r] + i), acc[r]);
      acc2[r] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(xs[r] + i + 8), acc2[r]);
    }
  }
  for (int r = 0; r < NR; r++) {
    float s = hsum8(_mm256_add_ps(acc[r], acc2[r]));
    for (int64_t j = i; j < n; j++) s += scalar_weight(fmt, row, j) * xs[r][j];
    res[r] = s;
  }
}

// Prefill tile for float weights: 2 weight rows × NR activation rows, one accumulator each, so every
// loaded (and converted) weight vector feeds NR FMAs and every activation vector 2.
template <int NR>
AVX2_FN void dot2_float_avx2(const Matrix& m, int64_t o, const float* const* xs, float* res0, float* res1) {
  const int64_t n = m.in_dim;
  const uint8_t* row0 = m.data + o * m.row_bytes;
  const uint8_t* row1 = row0 + m.row_bytes;
  const int32_t fmt = m.format;
  __m256 a0[NR], a1[NR];
  for (int r = 0; r < NR; r++) { a0[r] = _mm256_setzero_ps(); a1[r] = _mm256_setzero_ps(); }
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 w0 = load8_as_f32(fmt, row0, i), w1 = load8_as_f32(fmt, row1, i);
    for (int r = 0; r < NR; r++) {
      const __m256 x = _mm256_loadu_ps(xs[r] + i);
      a0[r] = _mm256_fmadd_ps(w0, x, a0[r]);
      a1[r] = _mm256_fmadd_ps(w1, x, a1[r]);
    }
  }
  for (int r = 0; r < NR; r++) {
    float s0 = hsum8(a0[r]), s1 = hsum8(a1[r]);
    for (int64_t j = i; j < n; j++) {
      s0 += scalar_weight(fmt, row0, j) * xs[r][j];
      s1 += scalar_weight(fmt, row1, j) * xs[r][j];
    }
    res0[r] = s0;
    res1[r] = s1;
  }
}

// 4 activation bytes broadcast to all 8 lanes (one load uop).
AVX2_FN inline __m256i bcast4(const int8_t* p) { return _mm256_castps_si256(_mm256_broadcast_ss(reinterpret_cast<const float*>(p))); }

// One interleaved group (8 output rows) × NR activation rows: res[t·8 + r] = row (8g + r) · x_t.
// Q4_0: Σ (q − 8)·x = Σ q·x − 8·Σ x. The nibbles q ∈ [0, 15] are unsigned as maddubs wants them, and
// the 8 products of a block fit int16 (8 · 2 · 15 · 127 = 30480), so they add as int16 and widen once
// per block; 8·Σx per activation block (xsum) is subtracted in int32.
template <int NR>
AVX2_FN void group_q4_0_avx2(const uint8_t* base, int64_t nb, const int8_t* const* xq, const float* const* xd, const int32_t* const* xsum, float* res) {
  const __m256i mask = _mm256_set1_epi8(0x0f), ones = _mm256_set1_epi16(1);
  __m256 acc[NR];
  for (int t = 0; t < NR; t++) acc[t] = _mm256_setzero_ps();
  for (int64_t k = 0; k < nb; k++) {
    const uint8_t* p = base + k * (IL * 18);
    _mm_prefetch(reinterpret_cast<const char*>(p + 8 * IL * 18), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(p + 8 * IL * 18 + 64), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(p + 8 * IL * 18 + 128), _MM_HINT_T0);
    // One int16 sum per activation row (low and high nibbles together: at most 8 products of
    // 2 · 15 · 127 per lane), so the NR sums, NR accumulators and the unpacked quants fit the 16
    // registers (separate low/high sums spilled to the stack).
    __m256i s[NR];
    for (int t = 0; t < NR; t++) s[t] = _mm256_setzero_si256();
    for (int c = 0; c < 4; c++) {
      const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 16 + 32 * c));
      const __m256i lo = _mm256_and_si256(q, mask), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), mask);
      for (int t = 0; t < NR; t++) {
        const int8_t* x = xq[t] + k * QK;
        s[t] = _mm256_add_epi16(s[t], _mm256_maddubs_epi16(lo, bcast4(x + 4 * c)));
        s[t] = _mm256_add_epi16(s[t], _mm256_maddubs_epi16(hi, bcast4(x + 16 + 4 * c)));
      }
    }
    const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    for (int t = 0; t < NR; t++) {
      const __m256i x8 = _mm256_slli_epi32(_mm256_set1_epi32(xsum[t][k]), 3);
      const __m256i i32 = _mm256_sub_epi32(_mm256_madd_epi16(s[t], ones), x8);
      acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_broadcast_ss(xd[t] + k)), _mm256_cvtepi32_ps(i32), acc[t]);
    }
  }
  for (int t = 0; t < NR; t++) _mm256_storeu_ps(res + 8 * t, acc[t]);
}

// Q8_0: signed × signed with the sign trick (|w| unsigned, x takes w's sign); a pair of products can
// reach 2 · 127² and does not fit two in int16, so each chunk widens to int32.
template <int NR>
AVX2_FN void group_q8_0_avx2(const uint8_t* base, int64_t nb, const int8_t* const* xq, const float* const* xd, float* res) {
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 acc[NR];
  for (int t = 0; t < NR; t++) acc[t] = _mm256_setzero_ps();
  for (int64_t k = 0; k < nb; k++) {
    const uint8_t* p = base + k * (IL * 34);
    const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    __m256i s[NR];
    for (int t = 0; t < NR; t++) s[t] = _mm256_setzero_si256();
    for (int c = 0; c < 8; c++) {
      _mm_prefetch(reinterpret_cast<const char*>(p + 4 * IL * 34 + 32 * c), _MM_HINT_T0);
      const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 16 + 32 * c));
      const __m256i aw = _mm256_sign_epi8(w, w);
      for (int t = 0; t < NR; t++) {
        const __m256i x = _mm256_sign_epi8(bcast4(xq[t] + k * QK + 4 * c), w);
        s[t] = _mm256_add_epi32(s[t], _mm256_madd_epi16(_mm256_maddubs_epi16(aw, x), ones));
      }
    }
    for (int t = 0; t < NR; t++)
      acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_set1_ps(xd[t][k])), _mm256_cvtepi32_ps(s[t]), acc[t]);
  }
  for (int t = 0; t < NR; t++) _mm256_storeu_ps(res + 8 * t, acc[t]);
}

template <int NR>
AVX2_FN void group_quant_avx2(const Matrix& m, int64_t g, const int8_t* const* xq, const float* const* xd, const int32_t* const* xsum, float* res) {
  const uint8_t* base = group_data(m, g);
  if (m.format == Q4_0) group_q4_0_avx2<NR>(base, m.in_dim / QK, xq, xd, xsum, res);
  else group_q8_0_avx2<NR>(base, m.in_dim / QK, xq, xd, res);
}

AVX2_FN inline __m256 load8f(const float* p) { return _mm256_loadu_ps(p); }
AVX2_FN inline __m256 load8f(const uint16_t* p) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
AVX2_FN inline float to_f32(float v) { return v; }
AVX2_FN inline float to_f32(uint16_t h) { return _cvtsh_ss(h); }

// q · k for a cache row (float32 or f16 bits); two accumulators so the FMA latency does not bind.
template <typename KV>
AVX2_FN float dot_kv_avx2(const float* a, const KV* b, int64_t n) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), load8f(b + i), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), load8f(b + i + 8), acc1);
  }
  for (; i + 8 <= n; i += 8) acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), load8f(b + i), acc0);
  float s = hsum8(_mm256_add_ps(acc0, acc1));
  for (; i < n; i++) s += a[i] * to_f32(b[i]);
  return s;
}

// y[0..n) += a · x[0..n) for a cache row (float32 or f16 bits).
template <typename KV>
AVX2_FN void axpy_kv_avx2(float* y, float a, const KV* x, int64_t n) {
  const __m256 va = _mm256_set1_ps(a);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, load8f(x + i), _mm256_loadu_ps(y + i)));
  for (; i < n; i++) y[i] = std::fma(a, to_f32(x[i]), y[i]);
}

// The 4 sums of a0..a3 (each 8 lanes) as one vector: lane i = Σ a_i.
AVX2_FN inline __m128 hsum4x4(__m256 a0, __m256 a1, __m256 a2, __m256 a3) {
  const __m256 h = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));  // per 128-bit half
  return _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
}

// out[j] = q · k_j for n cache rows of stride `width`: 4 keys at a time, their sums reduced together.
template <typename KV>
AVX2_FN void scores_avx2(const float* q, const KV* k, int64_t width, int64_t n, int64_t hd, float* out) {
  const int64_t hd8 = hd / 8 * 8;
  int64_t j = 0;
  for (; j + 4 <= n; j += 4) {
    const KV* k0 = k + j * width;
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    for (int64_t d = 0; d < hd8; d += 8) {
      const __m256 qv = _mm256_loadu_ps(q + d);
      a0 = _mm256_fmadd_ps(qv, load8f(k0 + d), a0);
      a1 = _mm256_fmadd_ps(qv, load8f(k0 + width + d), a1);
      a2 = _mm256_fmadd_ps(qv, load8f(k0 + 2 * width + d), a2);
      a3 = _mm256_fmadd_ps(qv, load8f(k0 + 3 * width + d), a3);
    }
    _mm_storeu_ps(out + j, hsum4x4(a0, a1, a2, a3));
    for (int64_t d = hd8; d < hd; d++)
      for (int r = 0; r < 4; r++) out[j + r] += q[d] * to_f32(k0[r * width + d]);
  }
  for (; j < n; j++) out[j] = dot_kv_avx2(q, k + j * width, hd);
}

// out[d] = Σ_j p[j] · v_j[d] over n cache rows of stride `width` (zero weights skipped), 32 dims at a
// time so the sums stay in registers while the rows stream past (each element sums in j order).
template <typename KV>
AVX2_FN void weighted_sum_avx2(const float* p, int64_t n, const KV* v, int64_t width, int64_t hd, float* out) {
  int64_t d = 0;
  for (; d + 32 <= hd; d += 32) {
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    for (int64_t j = 0; j < n; j++) {
      if (p[j] == 0.0f) continue;
      const __m256 s = _mm256_set1_ps(p[j]);
      const KV* r = v + j * width + d;
      a0 = _mm256_fmadd_ps(s, load8f(r), a0);
      a1 = _mm256_fmadd_ps(s, load8f(r + 8), a1);
      a2 = _mm256_fmadd_ps(s, load8f(r + 16), a2);
      a3 = _mm256_fmadd_ps(s, load8f(r + 24), a3);
    }
    _mm256_storeu_ps(out + d, a0); _mm256_storeu_ps(out + d + 8, a1);
    _mm256_storeu_ps(out + d + 16, a2); _mm256_storeu_ps(out + d + 24, a3);
  }
  for (; d + 8 <= hd; d += 8) {
    __m256 a0 = _mm256_setzero_ps();
    for (int64_t j = 0; j < n; j++)
      if (p[j] != 0.0f) a0 = _mm256_fmadd_ps(_mm256_set1_ps(p[j]), load8f(v + j * width + d), a0);
    _mm256_storeu_ps(out + d, a0);
  }
  for (; d < hd; d++) {
    float a = 0;
    for (int64_t j = 0; j < n; j++)
      if (p[j] != 0.0f) a = std::fma(p[j], to_f32(v[j * width + d]), a);
    out[d] = a;
  }
}
AVX2_FN inline double hsum4d(__m256d v) {
  __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
  return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}
// exp on 8 lanes (Cephes' expf: range reduction by ln 2 and a degree-5 polynomial; ~1 ulp on
// [-87, 88], saturating outside): the tanh-form GELUs and sigmoids then cost a few ns per value
// instead of a libm call.
AVX2_FN inline __m256 exp256(__m256 x) {
  x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.3f)), _mm256_set1_ps(88.3f));
  __m256 fx = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), x);
  x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.12194440e-4f), x);
  __m256 y = _mm256_set1_ps(1.9875691500e-4f);
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.3981999507e-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(8.3334519073e-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(4.1665795894e-2f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.6666665459e-1f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(5.0000001201e-1f));
  y = _mm256_fmadd_ps(y, _mm256_mul_ps(x, x), _mm256_add_ps(x, _mm256_set1_ps(1.0f)));
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(fx), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(y, _mm256_castsi256_ps(e));
}
// Softmax's exp-and-normalize on 8 lanes: s[j] → exp(s[j] − max) (−∞, a masked key, → 0), the sum in
// double as the scalar version, then scaled by 1/sum. exp256 is within ~1 ulp of std::exp (the op tests
// compare with the reference's Math.exp); arguments below −87.3 saturate to ~1e-38 instead of a
// denormal, which is below float resolution next to the max's exp(0) = 1.
AVX2_FN double exp_sum_avx2(float* s, int64_t n, float max) {
  const __m256 vmax = _mm256_set1_ps(max), ninf = _mm256_set1_ps(-INFINITY);
  __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    const __m256 v = _mm256_loadu_ps(s + j);
    const __m256 e = _mm256_and_ps(exp256(_mm256_sub_ps(v, vmax)), _mm256_cmp_ps(v, ninf, _CMP_NEQ_OQ));
    _mm256_storeu_ps(s + j, e);
    s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
    s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
  }
  double sum = hsum4d(_mm256_add_pd(s0, s1));
  for (; j < n; j++) {
    const float e = s[j] == -INFINITY ? 0.0f : std::exp(s[j] - max);
    s[j] = e;
    sum += e;
  }
  return sum;
}

// s[0..n) *= scale in place; returns the max (−∞ for n = 0). Same products as the scalar loop.
AVX2_FN float scale_max_avx2(float* s, int64_t n, float scale) {
  const __m256 vs = _mm256_set1_ps(scale);
  __m256 vm = _mm256_set1_ps(-INFINITY);
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    const __m256 v = _mm256_mul_ps(_mm256_loadu_ps(s + j), vs);
    _mm256_storeu_ps(s + j, v);
    vm = _mm256_max_ps(vm, v);
  }
  alignas(32) float t[8];
  _mm256_store_ps(t, vm);
  float max = -INFINITY;
  for (int i = 0; i < 8; i++) max = std::max(max, t[i]);
  for (; j < n; j++) { s[j] *= scale; max = std::max(max, s[j]); }
  return max;
}

// Prefill attention reads each key and value row once for QB = 8 queries of one head (instead of once
// per query): out[i][j] = q_i · k_j for j < n (a key's 8 sums reduced together), and
// o_i[d] = Σ_j p_i[j] · v_j[d], 8 dims of the 8 outputs in registers at a time (sums in j order).
// The 8 sums of a0..a7 (each 8 lanes) as one vector: lane i = Σ a_i.
AVX2_FN inline __m256 hsum8x8(__m256 a0, __m256 a1, __m256 a2, __m256 a3, __m256 a4, __m256 a5, __m256 a6, __m256 a7) {
  const __m256 h0 = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));  // per 128-bit half: Σa0..Σa3
  const __m256 h1 = _mm256_hadd_ps(_mm256_hadd_ps(a4, a5), _mm256_hadd_ps(a6, a7));
  return _mm256_add_ps(_mm256_permute2f128_ps(h0, h1, 0x20), _mm256_permute2f128_ps(h0, h1, 0x31));
}
template <typename KV>
AVX2_FN void scores_qb_avx2(const float* const* q, const KV* k, int64_t width, int64_t n, int64_t hd, float* const* out) {
  const int64_t hd8 = hd / 8 * 8;
  // Key rows are `width` apart (one head's slice of each position): prefetch a few rows ahead, the
  // hardware's stream prefetchers do not follow that stride (the loads stalled here without it).
  const int64_t lineStep = 64 / int64_t(sizeof(KV)), PD = 8;
  for (int64_t j = 0; j < n; j++) {
    const KV* kr = k + j * width;
    if (j + PD < n)
      for (int64_t d = 0; d < hd; d += lineStep) _mm_prefetch(reinterpret_cast<const char*>(kr + PD * width + d), _MM_HINT_T0);
    __m256 a[QB];
    for (int i = 0; i < QB; i++) a[i] = _mm256_setzero_ps();
    for (int64_t d = 0; d < hd8; d += 8) {
      const __m256 kv = load8f(kr + d);
      for (int i = 0; i < QB; i++) a[i] = _mm256_fmadd_ps(_mm256_loadu_ps(q[i] + d), kv, a[i]);
    }
    alignas(32) float r[QB];
    _mm256_store_ps(r, hsum8x8(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]));
    for (int64_t d = hd8; d < hd; d++) {
      const float kd = to_f32(kr[d]);
      for (int i = 0; i < QB; i++) r[i] += q[i][d] * kd;
    }
    for (int i = 0; i < QB; i++) out[i][j] = r[i];
  }
}
template <typename KV>
AVX2_FN void weighted_sum_qb_avx2(const float* const* p, int64_t n, const KV* v, int64_t width, int64_t hd, float* const* out) {
  constexpr int64_t PD = 8;  // value rows prefetched ahead (their stride defeats the stream prefetchers)
  int64_t d = 0;
  for (; d + 8 <= hd; d += 8) {
    __m256 a[QB];
    for (int i = 0; i < QB; i++) a[i] = _mm256_setzero_ps();
    for (int64_t j = 0; j < n; j++) {
      if (j + PD < n) _mm_prefetch(reinterpret_cast<const char*>(v + (j + PD) * width + d), _MM_HINT_T0);
      const __m256 vv = load8f(v + j * width + d);
      for (int i = 0; i < QB; i++) a[i] = _mm256_fmadd_ps(_mm256_broadcast_ss(p[i] + j), vv, a[i]);
    }
    for (int i = 0; i < QB; i++) _mm256_storeu_ps(out[i] + d, a[i]);
  }
  for (; d < hd; d++)
    for (int i = 0; i < QB; i++) {
      float acc = 0;
      for (int64_t j = 0; j < n; j++) acc = std::fma(p[i][j], to_f32(v[j * width + d]), acc);
      out[i][d] = acc;
    }
}

AVX2_FN uint64_t read_sum_avx2(const uint64_t* a, int64_t n, int64_t* done) {
  __m256i s0 = _mm256_setzero_si256(), s1 = _mm256_setzero_si256();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm_prefetch(reinterpret_cast<const char*>(a + i) + 1024, _MM_HINT_T0);
    s0 = _mm256_add_epi64(s0, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + i)));
    s1 = _mm256_add_epi64(s1, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + i + 4)));
  }
  *done = i;
  alignas(32) uint64_t t[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(t), _mm256_add_epi64(s0, s1));
  return t[0] + t[1] + t[2] + t[3];
}
AVX2_FN void to_f16_avx2(const float* src, uint16_t* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i), _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
  for (; i < n; i++) dst[i] = f32_to_f16(src[i]);
}

// Decode attention over one cache row, every head at once (the row read in memory order):
// out[h·stride] = scale · (q_h · row_h) for h < nHead. G = 8 or 4 heads share a pass: G independent
// accumulator chains and one reduction for their G sums. (Per (row, head) calls of dot_kv_avx2
// were bound by their two-chain FMA latency and their horizontal sum: ~4× the FMA throughput, and
// attention over a 1000-position cache took ~1.8× the time its bytes take to stream.)
template <int G, typename KV>
AVX2_FN void scores_heads_avx2(const float* q, const KV* row, int64_t hd, float scale, float* out, int64_t stride) {
  static_assert(G == 8 || G == 4, "8 or 4 heads a pass");
  const int64_t hd8 = hd / 8 * 8;
  __m256 a[G];
  for (int i = 0; i < G; i++) a[i] = _mm256_setzero_ps();
  for (int64_t d = 0; d < hd8; d += 8)
    for (int i = 0; i < G; i++) a[i] = _mm256_fmadd_ps(_mm256_loadu_ps(q + i * hd + d), load8f(row + i * hd + d), a[i]);
  alignas(32) float t[8];
  if constexpr (G == 8) _mm256_store_ps(t, hsum8x8(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]));
  else _mm_store_ps(t, hsum4x4(a[0], a[1], a[2], a[3]));
  for (int i = 0; i < G; i++) {
    float v = t[i];
    for (int64_t d = hd8; d < hd; d++) v += q[i * hd + d] * to_f32(row[i * hd + d]);
    out[i * stride] = v * scale;
  }
}
template <typename KV>
AVX2_FN void scores_row_avx2(const float* q, const KV* row, int64_t nHead, int64_t hd, float scale, float* out, int64_t stride) {
  int64_t h = 0;
  for (; h + 8 <= nHead; h += 8) scores_heads_avx2<8>(q + h * hd, row + h * hd, hd, scale, out + h * stride, stride);
  if (h + 4 <= nHead) {  // four more (the 13B shape has 36 heads)
    scores_heads_avx2<4>(q + h * hd, row + h * hd, hd, scale, out + h * stride, stride);
    h += 4;
  }
  for (; h < nHead; h++) out[h * stride] = dot_kv_avx2(q + h * hd, row + h * hd, hd) * scale;
}

// y[0..n) += w0·x0 + w1·x1 + w2·x2 + w3·x3 (four cache rows), as four axpy_kv_avx2 calls in that
// order would compute it (the same FMA chain per element), with y loaded and stored once.
template <typename KV>
AVX2_FN void axpy4_kv_avx2(float* y, const float* w, const KV* x0, const KV* x1, const KV* x2, const KV* x3, int64_t n) {
  const __m256 w0 = _mm256_set1_ps(w[0]), w1 = _mm256_set1_ps(w[1]), w2 = _mm256_set1_ps(w[2]), w3 = _mm256_set1_ps(w[3]);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 acc = _mm256_loadu_ps(y + i);
    acc = _mm256_fmadd_ps(w0, load8f(x0 + i), acc);
    acc = _mm256_fmadd_ps(w1, load8f(x1 + i), acc);
    acc = _mm256_fmadd_ps(w2, load8f(x2 + i), acc);
    acc = _mm256_fmadd_ps(w3, load8f(x3 + i), acc);
    _mm256_storeu_ps(y + i, acc);
  }
  for (; i < n; i++) {
    float a = y[i];
    a = std::fma(w[0], to_f32(x0[i]), a);
    a = std::fma(w[1], to_f32(x1[i]), a);
    a = std::fma(w[2], to_f32(x2[i]), a);
    y[i] = std::fma(w[3], to_f32(x3[i]), a);
  }
}

#include "avx512.h"
#include "avxvnni.h"
#include "amx.h"

// ---------------------------------------------------------------- LayerNorm, add, activations
AVX2_FN void layer_norm_row_avx2(const float* xr, int64_t dim, const float* g, const float* b, float eps, float* out) {
  const int64_t n8 = dim / 8 * 8;
  __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
  for (int64_t i = 0; i < n8; i += 8) {
    const __m256 v = _mm256_loadu_ps(xr + i);
    s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
    s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
  }
  double mean = hsum4d(_mm256_add_pd(s0, s1));
  for (int64_t i = n8; i < dim; i++) mean += xr[i];
  mean /= double(dim);
  const __m256d md = _mm256_set1_pd(mean);
  s0 = _mm256_setzero_pd(); s1 = _mm256_setzero_pd();
  for (int64_t i = 0; i < n8; i += 8) {
    const __m256 v = _mm256_loadu_ps(xr + i);
    const __m256d d0 = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(v)), md);
    const __m256d d1 = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)), md);
    s0 = _mm256_fmadd_pd(d0, d0, s0);
    s1 = _mm256_fmadd_pd(d1, d1, s1);
  }
  double var = hsum4d(_mm256_add_pd(s0, s1));
  for (int64_t i = n8; i < dim; i++) { double d = xr[i] - mean; var += d * d; }
  const float inv = float(1.0 / std::sqrt(var / double(dim) + eps));
  const float m = float(mean);
  const __m256 vm = _mm256_set1_ps(m), vi = _mm256_set1_ps(inv);
  for (int64_t i = 0; i < n8; i += 8)
    _mm256_storeu_ps(out + i, _mm256_fmadd_ps(_mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(xr + i), vm), vi), _mm256_loadu_ps(g + i), _mm256_loadu_ps(b + i)));
  for (int64_t i = n8; i < dim; i++) out[i] = (xr[i] - m) * inv * g[i] + b[i];
}
// a[i] += b[i]
AVX2_FN void add_avx2(float* a, const float* b, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(a + i, _mm256_add_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)));
  for (; i < n; i++) a[i] += b[i];
}

// x · sigmoid(k·g(x)) forms: gelu_tanh(x) = x / (1 + exp(−2y)), y = √(2/π)(x + 0.044715x³) (gelu_fast is
// the same function written as √(2/π)·x·(1 + 0.044715x²)); quick_gelu = x·σ(1.702x); silu = x·σ(x).
AVX2_FN void activation_avx2(int32_t kind, float* x, int64_t a, int64_t b) {
  const __m256 one = _mm256_set1_ps(1.0f);
  int64_t i = a;
  for (; i + 8 <= b; i += 8) {
    const __m256 v = _mm256_loadu_ps(x + i);
    __m256 z;  // the exponent of exp(z) in v / (1 + exp(z))
    if (kind == GELU_TANH || kind == GELU_FAST) {
      const __m256 v2 = _mm256_mul_ps(v, v);
      const __m256 inner = _mm256_mul_ps(_mm256_mul_ps(v, _mm256_set1_ps(0.7978845608f)), _mm256_fmadd_ps(v2, _mm256_set1_ps(0.044715f), one));
      z = _mm256_mul_ps(inner, _mm256_set1_ps(-2.0f));
    } else if (kind == QUICK_GELU) {
      z = _mm256_mul_ps(v, _mm256_set1_ps(-1.702f));
    } else {
      z = _mm256_sub_ps(_mm256_setzero_ps(), v);
    }
    _mm256_storeu_ps(x + i, _mm256_div_ps(v, _mm256_add_ps(one, exp256(z))));
  }
  for (; i < b; i++) {
    const float v = x[i];
    float z = kind == QUICK_GELU ? -1.702f * v : kind == SILU ? -v : -2.0f * (v * 0.7978845608f * (1.0f + 0.044715f * v * v));
    x[i] = v / (1.0f + std::exp(z));
  }
}

// ---------------------------------------------------------------- quantizers (the spec: quant.cc)
// C's roundf (halves away from zero) on 8 lanes, exactly: trunc(v) plus ±1 where |v − trunc(v)| ≥ 0.5.
AVX2_FN inline __m256 round_away8(__m256 v) {
  const __m256 t = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
  const __m256 signMask = _mm256_set1_ps(-0.0f);
  const __m256 frac = _mm256_andnot_ps(signMask, _mm256_sub_ps(v, t));
  const __m256 one = _mm256_or_ps(_mm256_and_ps(v, signMask), _mm256_set1_ps(1.0f));
  return _mm256_add_ps(t, _mm256_and_ps(_mm256_cmp_ps(frac, _mm256_set1_ps(0.5f), _CMP_GE_OQ), one));
}
// One block of 32 values quantized as the scalar spec does (s = amax/127, q = roundf(x·(1/s))): the
// int8 values to q, their sum to *sum (if given); returns s.
AVX2_FN inline float quantize_block_q8_avx2(const float* xb, int8_t* q, int32_t* sum) {
  const __m256 signMask = _mm256_set1_ps(-0.0f);
  __m256 v[4];
  for (int j = 0; j < 4; j++) v[j] = _mm256_loadu_ps(xb + j * 8);
  __m256 m = _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(signMask, v[0]), _mm256_andnot_ps(signMask, v[1])),
                           _mm256_max_ps(_mm256_andnot_ps(signMask, v[2]), _mm256_andnot_ps(signMask, v[3])));
  __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
  m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
  m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
  const float amax = _mm_cvtss_f32(m4);
  const float d = amax / 127.0f, id = d != 0 ? 1.0f / d : 0.0f;
  const __m256 vid = _mm256_set1_ps(id);
  __m256i i0 = _mm256_cvtps_epi32(round_away8(_mm256_mul_ps(v[0], vid)));
  __m256i i1 = _mm256_cvtps_epi32(round_away8(_mm256_mul_ps(v[1], vid)));
  __m256i i2 = _mm256_cvtps_epi32(round_away8(_mm256_mul_ps(v[2], vid)));
  __m256i i3 = _mm256_cvtps_epi32(round_away8(_mm256_mul_ps(v[3], vid)));
  if (sum) {
    const __m256i t = _mm256_add_epi32(_mm256_add_epi32(i0, i1), _mm256_add_epi32(i2, i3));
    __m128i h = _mm_add_epi32(_mm256_castsi256_si128(t), _mm256_extracti128_si256(t, 1));
    h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0x4e));
    h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0xb1));
    *sum = _mm_cvtsi128_si32(h);
  }
  i0 = _mm256_packs_epi32(i0, i1);
  i2 = _mm256_packs_epi32(i2, i3);
  i0 = _mm256_packs_epi16(i0, i2);
  i0 = _mm256_permutevar8x32_epi32(i0, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(q), i0);
  return d;
}
// quantize_q8_0 with the same results (the scale stored as f16, as the spec does).
AVX2_FN void quantize_q8_0_avx2(const float* x, BlockQ8* y, int64_t n) {
  for (int64_t b = 0; b < n / QK; b++) y[b].d = f32_to_f16(quantize_block_q8_avx2(x + b * QK, y[b].qs, nullptr));
}
// quantize_acts with the same results: float32 scales and each block's Σq.
AVX2_FN void quantize_acts_avx2(const float* x, int64_t n, int8_t* q, float* d, int32_t* sums) {
  for (int64_t b = 0; b < n / QK; b++) d[b] = quantize_block_q8_avx2(x + b * QK, q + b * QK, sums ? sums + b : nullptr);
}

// quantize_q4_0 with the same results. Compiled without FMA so that x·id + 8.5 rounds twice, as the
// scalar spec does (a fused multiply-add could round a value at a .5 boundary the other way).
__attribute__((target("avx2"))) void quantize_q4_0_avx2(const float* x, BlockQ4* y, int64_t n) {
  const __m256 signMask = _mm256_set1_ps(-0.0f), half = _mm256_set1_ps(8.5f);
  const __m256i fifteen = _mm256_set1_epi32(15);
  for (int64_t b = 0; b < n / QK; b++) {
    const float* xb = x + b * QK;
    __m256 v[4], a[4];
    for (int k = 0; k < 4; k++) { v[k] = _mm256_loadu_ps(xb + 8 * k); a[k] = _mm256_andnot_ps(signMask, v[k]); }
    __m256 m = _mm256_max_ps(_mm256_max_ps(a[0], a[1]), _mm256_max_ps(a[2], a[3]));
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    const float amax = _mm_cvtss_f32(m4);
    // The spec keeps the first value of largest magnitude (and 0 when every value is 0).
    float max = 0;
    if (amax != 0) {
      const __m256 am = _mm256_set1_ps(amax);
      for (int k = 0; k < 4; k++) {
        const int mask = _mm256_movemask_ps(_mm256_cmp_ps(a[k], am, _CMP_EQ_OQ));
        if (mask) { max = xb[8 * k + __builtin_ctz(unsigned(mask))]; break; }
      }
    }
    const float d = max / -8.0f, id = d != 0 ? 1.0f / d : 0.0f;
    y[b].d = f32_to_f16(d);
    const __m256 vid = _mm256_set1_ps(id);
    alignas(32) int32_t q[32];
    for (int k = 0; k < 4; k++)
      _mm256_store_si256(reinterpret_cast<__m256i*>(q + 8 * k),
                         _mm256_min_epi32(fifteen, _mm256_cvttps_epi32(_mm256_add_ps(_mm256_mul_ps(v[k], vid), half))));
    for (int j = 0; j < QK / 2; j++) y[b].qs[j] = uint8_t(q[j] | (q[j + 16] << 4));
  }
}
