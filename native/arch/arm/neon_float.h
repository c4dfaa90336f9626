// Float kernels of the `neon` kernel set (64-bit Arm), included by arch/arm/kernels.cc after neon.h:
// what the AVX2 set does on x86 besides the quantized products. Float-weight products (f32, bf16, f16
// weights widened to float32), attention's dot products and weighted sums over float32 or f16 cache
// rows, softmax's exp-and-normalize, the exp-based activations and the activations' int8 quantizer.
// Without them these ran as scalar C++ (the compiler does not vectorize a float reduction without
// -ffast-math), which on a long context made attention, not the weights, the cost of a decode step.
//
// Baseline ARMv8-A Advanced SIMD only (every aarch64 CPU has it; no target attributes). Self-contained
// like neon.h: native/check/neon-emulated.cc checks every function here against scalar double sums
// under qemu-aarch64 (scripts/check-neon-emulated.sh), and scripts/check-arm64-emulated.sh runs the op
// tests and model goldens through the addon.
#pragma once

namespace neon {

constexpr int kF32 = 0, kBF16 = 1, kF16 = 2;                           // float weight formats (common.h's Format)
constexpr int kGeluTanh = 1, kGeluFast = 2, kQuickGelu = 3, kSilu = 5;  // common.h's Act

// 4 cache or weight values as float32: float32 rows, or f16 bit patterns.
inline float32x4_t load4(const float* p) { return vld1q_f32(p); }
inline float32x4_t load4(const uint16_t* p) { return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p))); }
inline float to_f32(float v) { return v; }
inline float to_f32(uint16_t h) { return vgetq_lane_f32(vcvt_f32_f16(vreinterpret_f16_u16(vdup_n_u16(h))), 0); }
inline float bf16_value(uint16_t h) {
  const uint32_t u = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// exp on 4 lanes: Cephes' expf as arch/x86/avx2.h's exp256 (range reduction by ln 2, a degree-5 polynomial,
// ~1 ulp on [−87, 88], saturating outside).
inline float32x4_t exp4(float32x4_t x) {
  x = vminq_f32(vmaxq_f32(x, vdupq_n_f32(-87.3f)), vdupq_n_f32(88.3f));
  const float32x4_t fx = vrndnq_f32(vmulq_n_f32(x, 1.44269504088896341f));
  x = vfmsq_f32(x, fx, vdupq_n_f32(0.693359375f));
  x = vfmsq_f32(x, fx, vdupq_n_f32(-2.12194440e-4f));
  float32x4_t y = vdupq_n_f32(1.9875691500e-4f);
  y = vfmaq_f32(vdupq_n_f32(1.3981999507e-3f), y, x);
  y = vfmaq_f32(vdupq_n_f32(8.3334519073e-3f), y, x);
  y = vfmaq_f32(vdupq_n_f32(4.1665795894e-2f), y, x);
  y = vfmaq_f32(vdupq_n_f32(1.6666665459e-1f), y, x);
  y = vfmaq_f32(vdupq_n_f32(5.0000001201e-1f), y, x);
  y = vfmaq_f32(vaddq_f32(x, vdupq_n_f32(1.0f)), y, vmulq_f32(x, x));
  const int32x4_t e = vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(fx), vdupq_n_s32(127)), 23);
  return vmulq_f32(y, vreinterpretq_f32_s32(e));
}

// x[a..b) in place for the x · sigmoid(k·g(x)) activations, as arch/x86/avx2.h's activation_avx2: gelu_tanh /
// gelu_fast = x / (1 + exp(−2y)), y = √(2/π)·x·(1 + 0.044715x²); quick_gelu = x·σ(1.702x); silu = x·σ(x).
inline void activation(int kind, float* x, int64_t a, int64_t b) {
  const float32x4_t one = vdupq_n_f32(1.0f);
  int64_t i = a;
  for (; i + 4 <= b; i += 4) {
    const float32x4_t v = vld1q_f32(x + i);
    float32x4_t z;
    if (kind == kGeluTanh || kind == kGeluFast) {
      const float32x4_t inner = vmulq_f32(vmulq_n_f32(v, 0.7978845608f), vfmaq_f32(one, vmulq_f32(v, v), vdupq_n_f32(0.044715f)));
      z = vmulq_n_f32(inner, -2.0f);
    } else if (kind == kQuickGelu) {
      z = vmulq_n_f32(v, -1.702f);
    } else {
      z = vnegq_f32(v);
    }
    vst1q_f32(x + i, vdivq_f32(v, vaddq_f32(one, exp4(z))));
  }
  for (; i < b; i++) {
    const float v = x[i];
    const float z = kind == kQuickGelu ? -1.702f * v : kind == kSilu ? -v : -2.0f * (v * 0.7978845608f * (1.0f + 0.044715f * v * v));
    x[i] = v / (1.0f + std::exp(z));
  }
}

// s[0..n) *= scale in place; returns the max (−∞ for n = 0).
inline float scale_max(float* s, int64_t n, float scale) {
  float32x4_t vm = vdupq_n_f32(-INFINITY);
  int64_t j = 0;
  for (; j + 4 <= n; j += 4) {
    const float32x4_t v = vmulq_n_f32(vld1q_f32(s + j), scale);
    vst1q_f32(s + j, v);
    vm = vmaxq_f32(vm, v);
  }
  float max = vmaxvq_f32(vm);
  for (; j < n; j++) { s[j] *= scale; max = std::max(max, s[j]); }
  return max;
}

// s[j] → exp(s[j] − max) (−∞, a masked key, → 0); returns the sum, in double.
inline double exp_sum(float* s, int64_t n, float max) {
  const float32x4_t vmax = vdupq_n_f32(max), ninf = vdupq_n_f32(-INFINITY), zero = vdupq_n_f32(0.0f);
  float64x2_t s0 = vdupq_n_f64(0.0), s1 = vdupq_n_f64(0.0);
  int64_t j = 0;
  for (; j + 4 <= n; j += 4) {
    const float32x4_t v = vld1q_f32(s + j);
    const float32x4_t e = vbslq_f32(vceqq_f32(v, ninf), zero, exp4(vsubq_f32(v, vmax)));
    vst1q_f32(s + j, e);
    s0 = vaddq_f64(s0, vcvt_f64_f32(vget_low_f32(e)));
    s1 = vaddq_f64(s1, vcvt_high_f64_f32(e));
  }
  double sum = vaddvq_f64(vaddq_f64(s0, s1));
  for (; j < n; j++) {
    const float e = s[j] == -INFINITY ? 0.0f : std::exp(s[j] - max);
    s[j] = e;
    sum += e;
  }
  return sum;
}

// a · b over n values (b: a float32 or f16 cache row); four accumulators so FMA latency does not bind.
template <typename KV>
inline float dot(const float* a, const KV* b, int64_t n) {
  float32x4_t c0 = vdupq_n_f32(0.0f), c1 = c0, c2 = c0, c3 = c0;
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    c0 = vfmaq_f32(c0, vld1q_f32(a + i), load4(b + i));
    c1 = vfmaq_f32(c1, vld1q_f32(a + i + 4), load4(b + i + 4));
    c2 = vfmaq_f32(c2, vld1q_f32(a + i + 8), load4(b + i + 8));
    c3 = vfmaq_f32(c3, vld1q_f32(a + i + 12), load4(b + i + 12));
  }
  for (; i + 4 <= n; i += 4) c0 = vfmaq_f32(c0, vld1q_f32(a + i), load4(b + i));
  float s = vaddvq_f32(vaddq_f32(vaddq_f32(c0, c1), vaddq_f32(c2, c3)));
  for (; i < n; i++) s += a[i] * to_f32(b[i]);
  return s;
}

// y[0..n) += a · x[0..n) (x: a float32 or f16 cache row).
template <typename KV>
inline void axpy(float* y, float a, const KV* x, int64_t n) {
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vfmaq_n_f32(vld1q_f32(y + i), load4(x + i), a));
  for (; i < n; i++) y[i] = std::fma(a, to_f32(x[i]), y[i]);
}

// 4 weights from element i of a float-format row as float32.
inline float32x4_t weights4(int fmt, const uint8_t* row, int64_t i) {
  if (fmt == kF32) return vld1q_f32(reinterpret_cast<const float*>(row) + i);
  const uint16x4_t h = vld1_u16(reinterpret_cast<const uint16_t*>(row) + i);
  if (fmt == kBF16) return vreinterpretq_f32_u32(vshll_n_u16(h, 16));
  return vcvt_f32_f16(vreinterpret_f16_u16(h));
}
inline float weight1(int fmt, const uint8_t* row, int64_t i) {
  if (fmt == kF32) return reinterpret_cast<const float*>(row)[i];
  const uint16_t h = reinterpret_cast<const uint16_t*>(row)[i];
  return fmt == kBF16 ? bf16_value(h) : to_f32(h);
}

// One float-format weight row (n values) · NR activation rows: each weight vector loaded (and widened)
// once feeds NR FMAs.
template <int NR>
inline void dot_float(int fmt, const uint8_t* row, int64_t n, const float* const* xs, float* res) {
  float32x4_t a0[NR], a1[NR];
  for (int r = 0; r < NR; r++) { a0[r] = vdupq_n_f32(0.0f); a1[r] = vdupq_n_f32(0.0f); }
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const float32x4_t w0 = weights4(fmt, row, i), w1 = weights4(fmt, row, i + 4);
    for (int r = 0; r < NR; r++) {
      a0[r] = vfmaq_f32(a0[r], w0, vld1q_f32(xs[r] + i));
      a1[r] = vfmaq_f32(a1[r], w1, vld1q_f32(xs[r] + i + 4));
    }
  }
  for (; i + 4 <= n; i += 4) {
    const float32x4_t w = weights4(fmt, row, i);
    for (int r = 0; r < NR; r++) a0[r] = vfmaq_f32(a0[r], w, vld1q_f32(xs[r] + i));
  }
  for (int r = 0; r < NR; r++) {
    float s = vaddvq_f32(vaddq_f32(a0[r], a1[r]));
    for (int64_t j = i; j < n; j++) s += weight1(fmt, row, j) * xs[r][j];
    res[r] = s;
  }
}

// Prefill attention, 8 queries of one head at a time (as arch/x86/avx2.h's scores_qb_avx2 / weighted_sum_qb_avx2):
// each key row is read once for the 8 scores out[i][j] = q_i · k_j, and each value row once for the 8
// outputs o_i = Σ_j p_i[j] · v_j (4 dims of the 8 in registers, sums in j order). Rows are `width` apart,
// a stride the hardware prefetchers may not follow, so they are prefetched a few rows ahead.
constexpr int kQB = 8;
template <typename KV>
inline void scores_qb(const float* const* q, const KV* k, int64_t width, int64_t n, int64_t hd, float* const* out) {
  const int64_t hd4 = hd / 4 * 4, line = 64 / int64_t(sizeof(KV)), PD = 8;
  for (int64_t j = 0; j < n; j++) {
    const KV* kr = k + j * width;
    if (j + PD < n)
      for (int64_t d = 0; d < hd; d += line) __builtin_prefetch(kr + PD * width + d);
    float32x4_t a[kQB];
    for (int i = 0; i < kQB; i++) a[i] = vdupq_n_f32(0.0f);
    for (int64_t d = 0; d < hd4; d += 4) {
      const float32x4_t kv = load4(kr + d);
      for (int i = 0; i < kQB; i++) a[i] = vfmaq_f32(a[i], vld1q_f32(q[i] + d), kv);
    }
    for (int i = 0; i < kQB; i++) {
      float r = vaddvq_f32(a[i]);
      for (int64_t d = hd4; d < hd; d++) r += q[i][d] * to_f32(kr[d]);
      out[i][j] = r;
    }
  }
}
template <typename KV>
inline void weighted_sum_qb(const float* const* p, int64_t n, const KV* v, int64_t width, int64_t hd, float* const* out) {
  constexpr int64_t PD = 8;
  int64_t d = 0;
  for (; d + 4 <= hd; d += 4) {
    float32x4_t a[kQB];
    for (int i = 0; i < kQB; i++) a[i] = vdupq_n_f32(0.0f);
    for (int64_t j = 0; j < n; j++) {
      if (j + PD < n) __builtin_prefetch(v + (j + PD) * width + d);
      const float32x4_t vv = load4(v + j * width + d);
      for (int i = 0; i < kQB; i++) a[i] = vfmaq_n_f32(a[i], vv, p[i][j]);
    }
    for (int i = 0; i < kQB; i++) vst1q_f32(out[i] + d, a[i]);
  }
  for (; d < hd; d++)
    for (int i = 0; i < kQB; i++) {
      float acc = 0;
      for (int64_t j = 0; j < n; j++) acc = std::fma(p[i][j], to_f32(v[j * width + d]), acc);
      out[i][d] = acc;
    }
}

// LayerNorm of one row as arch/portable.cc's layer_norm_row: mean and variance summed in double, output in float.
inline void layer_norm_row(const float* x, int64_t dim, const float* g, const float* b, float eps, float* out) {
  float64x2_t s0 = vdupq_n_f64(0.0), s1 = vdupq_n_f64(0.0);
  int64_t i = 0;
  for (; i + 4 <= dim; i += 4) {
    const float32x4_t v = vld1q_f32(x + i);
    s0 = vaddq_f64(s0, vcvt_f64_f32(vget_low_f32(v)));
    s1 = vaddq_f64(s1, vcvt_high_f64_f32(v));
  }
  double mean = vaddvq_f64(vaddq_f64(s0, s1));
  for (int64_t j = i; j < dim; j++) mean += x[j];
  mean /= double(dim);
  const float64x2_t md = vdupq_n_f64(mean);
  s0 = vdupq_n_f64(0.0);
  s1 = vdupq_n_f64(0.0);
  for (i = 0; i + 4 <= dim; i += 4) {
    const float32x4_t v = vld1q_f32(x + i);
    const float64x2_t d0 = vsubq_f64(vcvt_f64_f32(vget_low_f32(v)), md), d1 = vsubq_f64(vcvt_high_f64_f32(v), md);
    s0 = vfmaq_f64(s0, d0, d0);
    s1 = vfmaq_f64(s1, d1, d1);
  }
  double var = vaddvq_f64(vaddq_f64(s0, s1));
  for (int64_t j = i; j < dim; j++) { const double d = x[j] - mean; var += d * d; }
  const float inv = float(1.0 / std::sqrt(var / double(dim) + eps));
  const float m = float(mean);
  for (i = 0; i + 4 <= dim; i += 4)
    vst1q_f32(out + i, vfmaq_f32(vld1q_f32(b + i), vmulq_n_f32(vsubq_f32(vld1q_f32(x + i), vdupq_n_f32(m)), inv), vld1q_f32(g + i)));
  for (; i < dim; i++) out[i] = (x[i] - m) * inv * g[i] + b[i];
}

// float32 → f16 bits, rounded to nearest even (the hardware conversion; what common.h's f32_to_f16 computes).
inline void to_f16(const float* src, uint16_t* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) vst1_u16(dst + i, vreinterpret_u16_f16(vcvt_f16_f32(vld1q_f32(src + i))));
  for (; i < n; i++) dst[i] = vget_lane_u16(vreinterpret_u16_f16(vcvt_f16_f32(vdupq_n_f32(src[i]))), 0);
}

// The activations' int8 blocks (Q8_0's rule), bit for bit as quant.cc's scalar quantize_acts: per 32
// values d = max|x| / 127, q = round-half-away(x · (1/d)) (vcvtaq is that rounding), and Σq per block.
inline void quantize_acts(const float* x, int64_t n, int8_t* q, float* d, int32_t* sums) {
  for (int64_t b = 0; b < n / 32; b++) {
    const float* xb = x + b * 32;
    float32x4_t v[8];
    for (int j = 0; j < 8; j++) v[j] = vld1q_f32(xb + 4 * j);
    float32x4_t m = vabsq_f32(v[0]);
    for (int j = 1; j < 8; j++) m = vmaxq_f32(m, vabsq_f32(v[j]));
    const float amax = vmaxvq_f32(m);
    const float s = amax / 127.0f, id = s != 0 ? 1.0f / s : 0.0f;
    d[b] = s;
    int32x4_t t = vdupq_n_s32(0);
    int16x8_t h[4];
    for (int j = 0; j < 4; j++) {
      const int32x4_t i0 = vcvtaq_s32_f32(vmulq_n_f32(v[2 * j], id)), i1 = vcvtaq_s32_f32(vmulq_n_f32(v[2 * j + 1], id));
      t = vaddq_s32(t, vaddq_s32(i0, i1));
      h[j] = vcombine_s16(vqmovn_s32(i0), vqmovn_s32(i1));
    }
    vst1q_s8(q + b * 32, vcombine_s8(vqmovn_s16(h[0]), vqmovn_s16(h[1])));
    vst1q_s8(q + b * 32 + 16, vcombine_s8(vqmovn_s16(h[2]), vqmovn_s16(h[3])));
    if (sums) sums[b] = vaddvq_s32(t);
  }
}

}  // namespace neon
