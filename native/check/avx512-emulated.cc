// Checks native/avx512.h (and native/avxvnni.h) on a machine without AVX-512: compiled against SIMDe (portable
// implementations of the x86 intrinsics, Debian package libsimde-dev) plus the few intrinsics that
// SIMDe 0.7 lacks, written out below lane by lane. Every kernel is compared with a plain
// double-precision sum over the same quantized values, on buffers that end exactly where the
// kernel may stop reading (run under AddressSanitizer by scripts/check-avx512-emulated.sh).
// On a machine with AVX-512, test/backend-ops.test.ts runs the real instructions against the
// TypeScript reference backend; this harness is for developing the kernels without one.
#define SIMDE_ENABLE_NATIVE_ALIASES
#include <simde/x86/avx512.h>
#include <simde/x86/f16c.h>

#include "common.h"

typedef simde__mmask16 __mmask16;
namespace {
template <typename V, typename T>
inline V from_lanes(const T* p) { V v; std::memcpy(&v, p, sizeof(V)); return v; }
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
  for (int i = 0; i < 16; i++) f[i] = check::half_to_float(h[i]);
  return from_lanes<simde__m512>(f);
}

#define FUGAKU_AVX512_FN
#include "../avx512.h"
// The AVX-VNNI kernels: SIMDe 0.7 has the EVEX form of the 256-bit vpdpbusd (AVX512-VL + VNNI), which
// computes the same as the VEX form AVX-VNNI adds.
#define FUGAKU_AVXVNNI_FN
#define FUGAKU_DPBUSD256 _mm256_dpbusd_epi32
#include "../avxvnni.h"

namespace {
check::Tally tally;

template <int NR>
void check_pair(bool q4, int64_t nb) {
  check::check_kernel(tally, q4 ? "pair_q4_0" : "pair_q8_0", q4, nb, 2, NR, [&](const check::QuantCase& c, float* got) {
    if (q4) avx512::pair_q4_0<NR>(c.groups[0].data(), c.groups[1].data(), nb, c.xqp.data(), c.xdp.data(), c.xsp.data(), got);
    else avx512::pair_q8_0<NR>(c.groups[0].data(), c.groups[1].data(), nb, c.xqp.data(), c.xdp.data(), c.xsp.data(), got);
  });
}

template <int NR>
void check_vnni(bool q4, int64_t nb) {
  check::check_kernel(tally, q4 ? "avxvnni group_q4_0" : "avxvnni group_q8_0", q4, nb, 1, NR, [&](const check::QuantCase& c, float* got) {
    if (q4) avxvnni::group_q4_0<NR>(c.groups[0].data(), nb, c.xqp.data(), c.xdp.data(), c.xsp.data(), got);
    else avxvnni::group_q8_0<NR>(c.groups[0].data(), nb, c.xqp.data(), c.xdp.data(), c.xsp.data(), got);
  });
}

// A float-format row of n values: its stored bytes (exactly sized) and the values it stands for.
void make_row(int fmt, int64_t n, std::vector<uint8_t>& bytes, std::vector<double>& vals) {
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::mt19937& rng = tally.rng;
  const size_t esz = fmt == avx512::kF32 ? 4 : 2;
  bytes.assign(size_t(n) * esz, 0);
  vals.assign(size_t(n), 0.0);
  for (int64_t i = 0; i < n; i++) {
    if (fmt == avx512::kF32) { const float v = g(rng); std::memcpy(&bytes[i * 4], &v, 4); vals[i] = v; continue; }
    uint16_t h;
    if (fmt == avx512::kF16) { h = check::random_half(tally.rng); vals[i] = check::half_to_float(h); }
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
  std::mt19937& rng = tally.rng;
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
    tally.checks++;
    for (int i = 0; i < count; i++)
      if (std::fabs(got[i] - want[i]) > 1e-5 * mag[i] + 1e-30) {
        tally.failures++;
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
  for (int64_t nb : {1, 2, 3, 7, 162}) { check_pair<NR>(true, nb); check_pair<NR>(false, nb); }
  if (NR <= 4)
    for (int64_t nb : {1, 2, 3, 7, 162}) { check_vnni<NR>(true, nb); check_vnni<NR>(false, nb); }
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
  std::printf("%d checks, %d failures\n", tally.checks, tally.failures);
  return tally.failures == 0 ? 0 : 1;
}
