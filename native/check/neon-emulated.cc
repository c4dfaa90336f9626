// Checks native/arch/arm/neon.h without an Arm machine: cross-compiled for aarch64 (Debian's
// g++-aarch64-linux-gnu) and run under qemu-aarch64 (qemu-user) by scripts/check-neon-emulated.sh,
// on the "max" CPU (with the dot-product extension: neon::dp and neon::base) and on a Cortex-A72
// model (without it: neon::base and the float kernels, which must then contain no DotProd
// instruction). The kernels are built exactly as in the addon (for plain ARMv8-A, with the DotProd
// target attribute on neon::dp) and compared with plain double-precision sums over
// the same quantized values; the float kernels (neon_float.h) with double-precision references, and
// the activation quantizer bit for bit with native/quant.cc's scalar one.
#include <arm_neon.h>
#if defined(__linux__)
#include <sys/auxv.h>
#endif

#include "common.h"
#include "../arch/arm/neon.h"
#include "../arch/arm/neon_float.h"

namespace {
check::Tally tally;

bool has_dotprod = false;  // set in main: neon::dp runs only on a CPU with DotProd

// neon::base always; neon::dp where the CPU has DotProd, and then bit for bit against neon::base.
template <int NR>
void check_group(bool q4, int64_t nb) {
  std::vector<float> base(8 * NR);
  check::check_kernel(tally, q4 ? "base group_q4_0" : "base group_q8_0", q4, nb, 1, NR, [&](const check::QuantCase& c, float* got) {
    if (q4) neon::base::group_q4_0<NR>(c.groups[0].data(), nb, c.xqp.data(), c.xdp.data(), got);
    else neon::base::group_q8_0<NR>(c.groups[0].data(), nb, c.xqp.data(), c.xdp.data(), got);
    if (!has_dotprod) return;
    if (q4) neon::dp::group_q4_0<NR>(c.groups[0].data(), nb, c.xqp.data(), c.xdp.data(), base.data());
    else neon::dp::group_q8_0<NR>(c.groups[0].data(), nb, c.xqp.data(), c.xdp.data(), base.data());
    tally.checks++;
    if (std::memcmp(base.data(), got, sizeof(float) * 8 * NR) != 0) {
      tally.failures++;
      std::printf("FAIL dp %s nb=%lld rows=%d: not bit-identical to base\n", q4 ? "group_q4_0" : "group_q8_0", (long long)nb, NR);
    }
  });
}

// Relative error of got against want, scaled by `scale` (a sum of magnitudes, or the largest |want|).
void expect(const char* what, long long n, double got, double want, double scale, double tol) {
  tally.checks++;
  const double err = std::fabs(got - want) / std::max(scale, 1e-30);
  if (!(err <= tol)) {
    tally.failures++;
    std::printf("FAIL %s n=%lld: got %.9g want %.9g (relative error %.3g)\n", what, n, got, want, err);
  }
}
float randf(float lo, float hi) { return std::uniform_real_distribution<float>(lo, hi)(tally.rng); }
uint16_t to_half(float f) {  // round to nearest even, normal range only (the test values are)
  return vget_lane_u16(vreinterpret_u16_f16(vcvt_f16_f32(vdupq_n_f32(f))), 0);
}
uint16_t to_bf16(float f) {  // truncation is enough for test data
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return uint16_t(u >> 16);
}

void check_exp_and_activations() {
  for (int i = 0; i <= 2000; i++) {
    const float x = -87.0f + 175.0f * float(i) / 2000.0f;
    float out[4];
    vst1q_f32(out, neon::exp4(vdupq_n_f32(x)));
    expect("exp4", i, out[0], std::exp(double(x)), std::exp(double(x)), 4e-7);
  }
  float low[4];
  vst1q_f32(low, neon::exp4(vdupq_n_f32(-200.0f)));
  expect("exp4 saturates low", 0, low[0], 0.0, 1.0, 2e-38);
  for (int kind : {neon::kGeluTanh, neon::kGeluFast, neon::kQuickGelu, neon::kSilu}) {
    for (int n : {1, 3, 4, 7, 64, 1001}) {
      std::vector<float> x(static_cast<size_t>(n));
      for (auto& v : x) v = randf(-8.0f, 8.0f);
      std::vector<float> y = x;
      neon::activation(kind, y.data(), 0, n);
      for (int i = 0; i < n; i++) {
        const double v = x[i];
        const double want = kind == neon::kQuickGelu ? v / (1 + std::exp(-1.702 * v))
                          : kind == neon::kSilu      ? v / (1 + std::exp(-v))
                                                     : 0.5 * v * (1 + std::tanh(0.7978845608 * v * (1 + 0.044715 * v * v)));
        expect("activation", n, y[i], want, std::max(1.0, std::fabs(want)), 2e-6);
      }
    }
  }
}

void check_softmax() {
  for (int n : {1, 2, 5, 8, 13, 64, 301}) {
    for (float spread : {1.0f, 300.0f}) {
      std::vector<float> s(static_cast<size_t>(n));
      for (auto& v : s) v = randf(-spread, spread);
      if (n > 3) s[1] = -INFINITY;  // a masked key
      std::vector<float> raw = s;
      const float scale = 0.125f;
      const float max = neon::scale_max(s.data(), n, scale);
      double want_max = -INFINITY;
      for (float v : raw) want_max = std::max(want_max, double(v * scale));
      expect("scale_max", n, max, want_max, std::max(1.0, std::fabs(want_max)), 0);
      const double got_sum = neon::exp_sum(s.data(), n, max);
      double sum = 0;
      for (float v : raw) sum += v == -INFINITY ? 0.0 : std::exp(double(v * scale) - want_max);
      expect("exp_sum: the sum", n, got_sum, sum, sum, 1e-6);
      for (int j = 0; j < n; j++) {
        const double want = raw[j] == -INFINITY ? 0.0 : std::exp(double(raw[j] * scale) - want_max);
        expect("exp_sum: exp(s - max)", n, s[j], want, 1.0, 1e-6);
        if (raw[j] == -INFINITY && s[j] != 0.0f) expect("masked key is exactly 0", n, s[j], 0.0, 1.0, 0);
      }
    }
  }
}

template <typename KV>
void check_dot_axpy(const char* what) {
  for (int n : {1, 3, 4, 15, 16, 17, 64, 144, 1000}) {
    std::vector<float> a(static_cast<size_t>(n)), yv(static_cast<size_t>(n));
    std::vector<KV> b(static_cast<size_t>(n));
    std::vector<double> bv(static_cast<size_t>(n));
    for (int i = 0; i < n; i++) {
      a[i] = randf(-2, 2);
      yv[i] = randf(-2, 2);
      const float f = randf(-2, 2);
      if constexpr (sizeof(KV) == 2) { b[i] = to_half(f); bv[i] = check::half_to_float(uint16_t(b[i])); }
      else { b[i] = f; bv[i] = f; }
    }
    double want = 0, mag = 0;
    for (int i = 0; i < n; i++) { want += double(a[i]) * bv[i]; mag += std::fabs(double(a[i]) * bv[i]); }
    expect(what, n, neon::dot(a.data(), b.data(), n), want, mag, 1e-6);
    std::vector<float> y = yv;
    neon::axpy(y.data(), 0.37f, b.data(), n);
    for (int i = 0; i < n; i++) expect(what, n, y[i], double(yv[i]) + 0.37 * bv[i], 4.0, 2e-7);
  }
}

template <int NR>
void check_dot_float() {
  for (int fmt : {neon::kF32, neon::kBF16, neon::kF16}) {
    for (int n : {1, 3, 4, 7, 8, 33, 773}) {
      std::vector<uint8_t> row(static_cast<size_t>(n) * 4);
      std::vector<double> w(static_cast<size_t>(n));
      for (int i = 0; i < n; i++) {
        const float f = randf(-1, 1);
        if (fmt == neon::kF32) { std::memcpy(&row[4 * i], &f, 4); w[i] = f; }
        else {
          const uint16_t h = fmt == neon::kBF16 ? to_bf16(f) : to_half(f);
          std::memcpy(&row[2 * i], &h, 2);
          w[i] = fmt == neon::kBF16 ? double(neon::bf16_value(h)) : check::half_to_float(h);
        }
      }
      std::vector<std::vector<float>> xs(NR, std::vector<float>(static_cast<size_t>(n)));
      std::vector<const float*> xp;
      for (auto& x : xs) { for (auto& v : x) v = randf(-3, 3); xp.push_back(x.data()); }
      float res[NR];
      neon::dot_float<NR>(fmt, row.data(), n, xp.data(), res);
      for (int r = 0; r < NR; r++) {
        double want = 0, mag = 0;
        for (int i = 0; i < n; i++) { want += w[i] * xs[r][i]; mag += std::fabs(w[i] * xs[r][i]); }
        expect("dot_float", n, res[r], want, mag, 1e-6);
      }
    }
  }
}

// The 8-query attention blocks: strided key/value rows (f32 or f16), odd head sizes, one key.
template <typename KV>
void check_attention_blocks(const char* what) {
  for (int hd : {1, 5, 64, 144}) {
    for (int n : {1, 9, 40}) {
      const int width = 3 * hd + 1;
      std::vector<KV> k(static_cast<size_t>(n) * width), v(static_cast<size_t>(n) * width);
      std::vector<double> kv(k.size()), vv(v.size());
      for (size_t i = 0; i < k.size(); i++) {
        const float a = randf(-1, 1), b = randf(-1, 1);
        if constexpr (sizeof(KV) == 2) { k[i] = to_half(a); v[i] = to_half(b); kv[i] = check::half_to_float(k[i]); vv[i] = check::half_to_float(v[i]); }
        else { k[i] = a; v[i] = b; kv[i] = a; vv[i] = b; }
      }
      std::vector<std::vector<float>> q(8, std::vector<float>(static_cast<size_t>(hd))), p(8, std::vector<float>(static_cast<size_t>(n)));
      std::vector<std::vector<float>> sc(8, std::vector<float>(static_cast<size_t>(n))), o(8, std::vector<float>(static_cast<size_t>(hd)));
      std::vector<const float*> qp, pp;
      std::vector<float*> sp, op;
      for (int i = 0; i < 8; i++) {
        for (auto& x : q[i]) x = randf(-1, 1);
        for (auto& x : p[i]) x = randf(0, 1);
        qp.push_back(q[i].data()); pp.push_back(p[i].data()); sp.push_back(sc[i].data()); op.push_back(o[i].data());
      }
      const int off = 1;  // the head's slice starts 1 value into each row
      neon::scores_qb(qp.data(), k.data() + off, width, n, hd, sp.data());
      neon::weighted_sum_qb(pp.data(), n, v.data() + off, width, hd, op.data());
      for (int i = 0; i < 8; i++) {
        for (int j = 0; j < n; j++) {
          double want = 0, mag = 0;
          for (int d = 0; d < hd; d++) { want += double(q[i][d]) * kv[size_t(j) * width + off + d]; mag += std::fabs(double(q[i][d]) * kv[size_t(j) * width + off + d]); }
          expect(what, n, sc[i][j], want, mag, 1e-6);
        }
        for (int d = 0; d < hd; d++) {
          double want = 0, mag = 0;
          for (int j = 0; j < n; j++) { want += double(p[i][j]) * vv[size_t(j) * width + off + d]; mag += std::fabs(double(p[i][j]) * vv[size_t(j) * width + off + d]); }
          expect(what, n, o[i][d], want, mag, 1e-6);
        }
      }
    }
  }
}

// native/common.h's scalar f32_to_f16 (round to nearest even; NaN is not compared).
uint16_t f32_to_f16_scalar(float f) {
  uint32_t x; std::memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t ax = x & 0x7fffffffu;
  if (ax >= 0x7f800000u) return uint16_t(sign | 0x7c00u | (ax > 0x7f800000u ? 0x200u : 0));
  if (ax >= 0x477ff000u) return uint16_t(sign | 0x7c00u);
  if (ax < 0x38800000u) {
    float a; std::memcpy(&a, &ax, 4);
    return uint16_t(sign | uint32_t(std::nearbyint(a * 16777216.0f)));
  }
  uint32_t r = ax + 0xfffu + ((ax >> 13) & 1u);
  return uint16_t(sign | ((r - 0x38000000u) >> 13));
}
void check_to_f16() {
  std::vector<float> x;
  for (int e = -30; e <= 17; e++)
    for (int i = 0; i < 200; i++) x.push_back(std::ldexp(randf(-1, 1), e));
  for (float v : {0.0f, -0.0f, 65504.0f, 65519.9f, 65520.0f, 1e9f, -1e9f, INFINITY, -INFINITY, 5.9604645e-8f, 2.9802322e-8f, 8.940697e-8f})
    x.push_back(v);
  for (uint32_t m = 0; m < 64; m++) {  // exact ties between two halves: 1 + (2m + 1)·2^-11
    x.push_back(1.0f + float(2 * m + 1) * std::ldexp(1.0f, -11));
  }
  std::vector<uint16_t> got(x.size());
  neon::to_f16(x.data(), got.data(), int64_t(x.size()));
  int bad = 0;
  for (size_t i = 0; i < x.size(); i++) bad += got[i] != f32_to_f16_scalar(x[i]);
  tally.checks++;
  if (bad) { tally.failures++; std::printf("FAIL to_f16: %d of %zu values differ from the scalar rounding\n", bad, x.size()); }
}

void check_layer_norm() {
  for (int dim : {1, 3, 4, 7, 64, 5184 / 16 + 1, 5184}) {
    std::vector<float> x(static_cast<size_t>(dim)), g(x.size()), b(x.size()), out(x.size());
    for (int i = 0; i < dim; i++) { x[i] = 50.0f + randf(-3, 3); g[i] = randf(-2, 2); b[i] = randf(-1, 1); }
    neon::layer_norm_row(x.data(), dim, g.data(), b.data(), 1e-5f, out.data());
    double mean = 0, var = 0;
    for (float v : x) mean += v;
    mean /= dim;
    for (float v : x) var += (v - mean) * (v - mean);
    const double inv = 1.0 / std::sqrt(var / dim + 1e-5);
    for (int i = 0; i < dim; i++) {
      const double want = (x[i] - mean) * inv * g[i] + b[i];
      expect("layer_norm_row", dim, out[i], want, std::max(1.0, std::fabs(want)), 1e-5);
    }
  }
}

// native/quant.cc's scalar quantize_acts (the specification the NEON one must match bit for bit).
void quantize_acts_scalar(const float* x, int64_t n, int8_t* q, float* d, int32_t* sums) {
  for (int64_t b = 0; b < n / 32; b++) {
    float amax = 0;
    for (int j = 0; j < 32; j++) amax = std::max(amax, std::fabs(x[b * 32 + j]));
    float s = amax / 127.0f, id = s != 0 ? 1.0f / s : 0.0f;
    d[b] = s;
    int32_t t = 0;
    for (int j = 0; j < 32; j++) {
      q[b * 32 + j] = int8_t(std::round(x[b * 32 + j] * id));
      t += q[b * 32 + j];
    }
    if (sums) sums[b] = t;
  }
}
void check_quantize_acts() {
  for (int nb : {1, 2, 9, 162}) {
    const int n = nb * 32;
    std::vector<float> x(static_cast<size_t>(n));
    for (auto& v : x) v = randf(-5, 5);
    // Rounding ties: a block whose scale is exactly 1 (max 127) holding k + 0.5 values; a zero block.
    for (int j = 0; j < 32; j++) x[j] = j == 0 ? 127.0f : float(j % 7) - 3.5f;
    if (nb > 1) std::fill(x.begin() + 32, x.begin() + 64, 0.0f);
    std::vector<int8_t> q1(static_cast<size_t>(n)), q2(static_cast<size_t>(n));
    std::vector<float> d1(static_cast<size_t>(nb)), d2(static_cast<size_t>(nb));
    std::vector<int32_t> s1(static_cast<size_t>(nb)), s2(static_cast<size_t>(nb));
    quantize_acts_scalar(x.data(), n, q1.data(), d1.data(), s1.data());
    neon::quantize_acts(x.data(), n, q2.data(), d2.data(), s2.data());
    tally.checks++;
    if (q1 != q2 || std::memcmp(d1.data(), d2.data(), d1.size() * 4) != 0 || s1 != s2) {
      tally.failures++;
      std::printf("FAIL quantize_acts blocks=%d: differs from the scalar quantizer\n", nb);
    }
  }
}

template <int NR>
void check_all() {
  for (int64_t nb : {1, 2, 3, 7, 162, 648}) { check_group<NR>(true, nb); check_group<NR>(false, nb); }
}
}  // namespace

// With --dotprod the CPU must have the extension (exit 2 if not, so a CPU model lacking it cannot pass
// the DotProd checks); without, the DotProd kernels are skipped where the CPU lacks it.
int main(int argc, char** argv) {
  const bool want_dotprod = argc > 1 && std::strcmp(argv[1], "--dotprod") == 0;
#if defined(__linux__) && defined(HWCAP_ASIMDDP)
  has_dotprod = (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
#elif defined(__ARM_FEATURE_DOTPROD)
  has_dotprod = true;
#endif
  if (want_dotprod && !has_dotprod) {
    std::printf("this CPU does not report the dot-product extension (HWCAP_ASIMDDP); run with qemu-aarch64 -cpu max\n");
    return 2;
  }
  std::printf("DotProd kernels %s\n", has_dotprod ? "checked (against the plain NEON ones too)" : "skipped: this CPU lacks DotProd");
  check_all<1>();
  check_all<2>();
  check_all<3>();
  check_all<4>();
  check_exp_and_activations();
  check_softmax();
  check_dot_axpy<float>("dot/axpy f32");
  check_dot_axpy<uint16_t>("dot/axpy f16");
  check_dot_float<1>();
  check_dot_float<4>();
  check_quantize_acts();
  check_attention_blocks<float>("attention blocks f32");
  check_attention_blocks<uint16_t>("attention blocks f16");
  check_to_f16();
  check_layer_norm();
  std::printf("%d checks, %d failures\n", tally.checks, tally.failures);
  return tally.failures == 0 ? 0 : 1;
}
