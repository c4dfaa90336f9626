// Checks native/avx512.h on a machine without AVX-512: compiled against SIMDe (portable
// implementations of the x86 intrinsics, Debian package libsimde-dev) plus the few intrinsics that
// SIMDe 0.7 lacks, written out below lane by lane. Every kernel is compared with a plain
// double-precision sum over the same quantized values, on buffers that end exactly where the
// kernel may stop reading (run under AddressSanitizer by scripts/check-avx512-emulated.sh).
// On a machine with AVX-512, test/backend-ops.test.ts runs the real instructions against the
// TypeScript reference backend; this harness is for developing the kernels without one.
#define SIMDE_ENABLE_NATIVE_ALIASES
#include <simde/x86/avx512.h>
#include <simde/x86/f16c.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

typedef simde__mmask16 __mmask16;
namespace {
template <typename V, typename T>
inline V from_lanes(const T* p) { V v; std::memcpy(&v, p, sizeof(V)); return v; }
float half_to_float(uint16_t h) {  // normal, zero and subnormal halves (no inf/nan are generated)
  const int e = (h >> 10) & 31, m = h & 1023;
  const float v = e == 0 ? std::ldexp(float(m), -24) : std::ldexp(float(1024 + m), e - 25);
  return (h & 0x8000) ? -v : v;
}
}  // namespace
inline simde__m512 _mm512_cvtepi32_ps(simde__m512i a) {
  int32_t v[16]; float f[16]; std::memcpy(v, &a, 64);
  for (int i = 0; i < 16; i++) f[i] = float(v[i]);
  return from_lanes<simde__m512>(f);
}
inline simde__m512 _mm512_maskz_loadu_ps(__mmask16 m, const float* p) {
  float f[16];
  for (int i = 0; i < 16; i++) f[i] = (m >> i) & 1 ? p[i] : 0.0f;  // masked-off lanes are not read
  return from_lanes<simde__m512>(f);
}
inline simde__m256i _mm256_maskz_loadu_epi16(__mmask16 m, const void* p) {
  uint16_t h[16];
  for (int i = 0; i < 16; i++) h[i] = (m >> i) & 1 ? static_cast<const uint16_t*>(p)[i] : 0;
  return from_lanes<simde__m256i>(h);
}
inline simde__m512i _mm512_cvtepu16_epi32(simde__m256i a) {
  uint16_t h[16]; int32_t v[16]; std::memcpy(h, &a, 32);
  for (int i = 0; i < 16; i++) v[i] = h[i];
  return from_lanes<simde__m512i>(v);
}
inline simde__m512 _mm512_cvtph_ps(simde__m256i a) {
  uint16_t h[16]; float f[16]; std::memcpy(h, &a, 32);
  for (int i = 0; i < 16; i++) f[i] = half_to_float(h[i]);
  return from_lanes<simde__m512>(f);
}

#define FUGAKU_AVX512_FN
#include "../avx512.h"

namespace {
std::mt19937 rng(20261127);
int failures = 0, checks = 0;

void expect_close(const char* what, int64_t nb, int nr, const float* got, const double* want, int n) {
  double scale = 1e-30, err = 0;
  for (int i = 0; i < n; i++) { scale = std::max(scale, std::fabs(want[i])); err = std::max(err, std::fabs(got[i] - want[i])); }
  checks++;
  if (!(err / scale < 2e-6)) {
    failures++;
    std::printf("FAIL %s n=%lld rows=%d: relative error %.3g\n", what, (long long)nb, nr, err / scale);
  }
}
uint16_t random_half() {  // a normal f16 of magnitude 2^-10 .. 2^1, either sign
  std::uniform_int_distribution<int> e(5, 16), m(0, 1023), s(0, 1);
  return uint16_t((s(rng) << 15) | (e(rng) << 10) | m(rng));
}
// Plain blocks of 16 rows laid out as two interleaved groups of 8 (fugaku.cc's layout), the second
// group right after the first and ending at the end of its own allocation.
struct Pair { std::vector<uint8_t> a, b; };
Pair interleave(const std::vector<std::vector<uint8_t>>& rows, int64_t nb, int block, int chunks) {
  Pair p{std::vector<uint8_t>(size_t(nb * 8 * block)), std::vector<uint8_t>(size_t(nb * 8 * block))};
  for (int row = 0; row < 16; row++) {
    std::vector<uint8_t>& g = row < 8 ? p.a : p.b;
    const int lane = row % 8;
    for (int64_t k = 0; k < nb; k++) {
      const uint8_t* src = rows[row].data() + k * block;
      uint8_t* dst = g.data() + k * 8 * block;
      dst[2 * lane] = src[0];
      dst[2 * lane + 1] = src[1];
      for (int c = 0; c < chunks; c++)
        for (int j = 0; j < 4; j++) dst[16 + 32 * c + 4 * lane + j] = src[2 + 4 * c + j];
    }
  }
  return p;
}

template <int NR>
void check_q4(int64_t nb) {
  std::uniform_int_distribution<int> byte(0, 255), act(-127, 127);
  std::uniform_real_distribution<float> scale(0.001f, 0.05f);
  std::vector<std::vector<uint8_t>> rows(16, std::vector<uint8_t>(size_t(nb * 18)));
  for (auto& r : rows) {
    for (int64_t k = 0; k < nb; k++) {
      const uint16_t d = random_half();
      std::memcpy(&r[k * 18], &d, 2);
      for (int j = 0; j < 16; j++) r[k * 18 + 2 + j] = uint8_t(byte(rng));
    }
  }
  const Pair p = interleave(rows, nb, 18, 4);
  std::vector<std::vector<int8_t>> xq(NR, std::vector<int8_t>(size_t(nb * 32)));
  std::vector<std::vector<float>> xd(NR, std::vector<float>(size_t(nb)));
  std::vector<std::vector<int32_t>> xs(NR, std::vector<int32_t>(size_t(nb)));
  const int8_t* xqp[NR]; const float* xdp[NR]; const int32_t* xsp[NR];
  for (int t = 0; t < NR; t++) {
    for (int64_t k = 0; k < nb; k++) {
      xd[t][k] = scale(rng);
      for (int j = 0; j < 32; j++) { xq[t][k * 32 + j] = int8_t(act(rng)); xs[t][k] += xq[t][k * 32 + j]; }
    }
    xqp[t] = xq[t].data(); xdp[t] = xd[t].data(); xsp[t] = xs[t].data();
  }
  std::vector<float> got(16 * NR);
  avx512::pair_q4_0<NR>(p.a.data(), p.b.data(), nb, xqp, xdp, xsp, got.data());
  std::vector<double> want(16 * NR, 0.0);
  for (int t = 0; t < NR; t++)
    for (int row = 0; row < 16; row++)
      for (int64_t k = 0; k < nb; k++) {
        const uint8_t* b = rows[row].data() + k * 18;
        uint16_t d; std::memcpy(&d, b, 2);
        long s = 0;
        for (int j = 0; j < 16; j++) s += long((b[2 + j] & 15) - 8) * xq[t][k * 32 + j] + long((b[2 + j] >> 4) - 8) * xq[t][k * 32 + 16 + j];
        want[t * 16 + row] += double(half_to_float(d)) * double(xd[t][k]) * double(s);
      }
  expect_close("pair_q4_0", nb, NR, got.data(), want.data(), 16 * NR);
}

template <int NR>
void check_q8(int64_t nb) {
  std::uniform_int_distribution<int> w(-128, 127), act(-127, 127);
  std::uniform_real_distribution<float> scale(0.001f, 0.05f);
  std::vector<std::vector<uint8_t>> rows(16, std::vector<uint8_t>(size_t(nb * 34)));
  for (auto& r : rows) {
    for (int64_t k = 0; k < nb; k++) {
      const uint16_t d = random_half();
      std::memcpy(&r[k * 34], &d, 2);
      for (int j = 0; j < 32; j++) r[k * 34 + 2 + j] = uint8_t(int8_t(w(rng)));
    }
  }
  const Pair p = interleave(rows, nb, 34, 8);
  std::vector<std::vector<int8_t>> xq(NR, std::vector<int8_t>(size_t(nb * 32)));
  std::vector<std::vector<float>> xd(NR, std::vector<float>(size_t(nb)));
  std::vector<std::vector<int32_t>> xs(NR, std::vector<int32_t>(size_t(nb)));
  const int8_t* xqp[NR]; const float* xdp[NR]; const int32_t* xsp[NR];
  for (int t = 0; t < NR; t++) {
    for (int64_t k = 0; k < nb; k++) {
      xd[t][k] = scale(rng);
      for (int j = 0; j < 32; j++) { xq[t][k * 32 + j] = int8_t(act(rng)); xs[t][k] += xq[t][k * 32 + j]; }
    }
    xqp[t] = xq[t].data(); xdp[t] = xd[t].data(); xsp[t] = xs[t].data();
  }
  std::vector<float> got(16 * NR);
  avx512::pair_q8_0<NR>(p.a.data(), p.b.data(), nb, xqp, xdp, xsp, got.data());
  std::vector<double> want(16 * NR, 0.0);
  for (int t = 0; t < NR; t++)
    for (int row = 0; row < 16; row++)
      for (int64_t k = 0; k < nb; k++) {
        const uint8_t* b = rows[row].data() + k * 34;
        uint16_t d; std::memcpy(&d, b, 2);
        long s = 0;
        for (int j = 0; j < 32; j++) s += long(int8_t(b[2 + j])) * xq[t][k * 32 + j];
        want[t * 16 + row] += double(half_to_float(d)) * double(xd[t][k]) * double(s);
      }
  expect_close("pair_q8_0", nb, NR, got.data(), want.data(), 16 * NR);
}

// A float-format row of n values: its stored bytes (exactly sized) and the values it stands for.
void make_row(int fmt, int64_t n, std::vector<uint8_t>& bytes, std::vector<double>& vals) {
  std::normal_distribution<float> g(0.0f, 1.0f);
  const size_t esz = fmt == avx512::kF32 ? 4 : 2;
  bytes.assign(size_t(n) * esz, 0);
  vals.assign(size_t(n), 0.0);
  for (int64_t i = 0; i < n; i++) {
    if (fmt == avx512::kF32) { const float v = g(rng); std::memcpy(&bytes[i * 4], &v, 4); vals[i] = v; continue; }
    uint16_t h;
    if (fmt == avx512::kF16) { h = random_half(); vals[i] = half_to_float(h); }
    else {
      const float v = g(rng); uint32_t u; std::memcpy(&u, &v, 4);
      h = uint16_t(u >> 16); u = uint32_t(h) << 16; float t; std::memcpy(&t, &u, 4); vals[i] = t;
    }
    std::memcpy(&bytes[i * 2], &h, 2);
  }
}

template <int NR>
void check_float(int fmt, int64_t n) {
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::vector<uint8_t> r0, r1; std::vector<double> v0, v1;
  make_row(fmt, n, r0, v0);
  make_row(fmt, n, r1, v1);
  std::vector<std::vector<float>> x(NR, std::vector<float>(size_t(n)));
  const float* xp[NR];
  for (int t = 0; t < NR; t++) { for (auto& e : x[t]) e = g(rng); xp[t] = x[t].data(); }
  float got[2 * NR]; double want[2 * NR] = {};
  for (int t = 0; t < NR; t++)
    for (int64_t i = 0; i < n; i++) { want[t] += v0[i] * x[t][i]; want[NR + t] += v1[i] * x[t][i]; }
  // Error relative to Σ|w·x| (the sums themselves can cancel).
  double mag[2 * NR] = {};
  for (int t = 0; t < NR; t++)
    for (int64_t i = 0; i < n; i++) { mag[t] += std::fabs(v0[i] * x[t][i]); mag[NR + t] += std::fabs(v1[i] * x[t][i]); }
  const char* names[] = {"f32", "bf16", "f16"};
  auto compare = [&](const char* what, int count) {
    checks++;
    for (int i = 0; i < count; i++)
      if (std::fabs(got[i] - want[i]) > 1e-5 * mag[i] + 1e-30) {
        failures++;
        std::printf("FAIL %s %s n=%lld rows=%d: got %.9g want %.9g\n", what, names[fmt], (long long)n, NR, got[i], want[i]);
        return;
      }
  };
  avx512::dot_float<NR>(fmt, r0.data(), n, xp, got);
  compare("dot_float", NR);
  avx512::dot2_float<NR>(fmt, r0.data(), r1.data(), n, xp, got, got + NR);
  compare("dot2_float", 2 * NR);
}

template <int NR>
void check_all() {
  for (int64_t nb : {1, 2, 3, 7, 162}) { check_q4<NR>(nb); check_q8<NR>(nb); }
  for (int fmt : {avx512::kF32, avx512::kBF16, avx512::kF16})
    for (int64_t n : {1, 5, 15, 16, 17, 31, 32, 33, 47, 144, 301, 5184}) check_float<NR>(fmt, n);
}
}  // namespace

int main() {
  check_all<1>();
  check_all<2>();
  check_all<3>();
  check_all<4>();
  check_all<5>();
  check_all<8>();
  std::printf("%d checks, %d failures\n", checks, failures);
  return failures == 0 ? 0 : 1;
}
