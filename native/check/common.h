// Test data and scalar references shared by the emulated kernel checks (avx512-emulated.cc,
// neon-emulated.cc): random Q8_0/Q4_0 rows laid out as native/common.h's interleaved groups of 8 rows, each
// group in its own allocation (so AddressSanitizer catches a kernel reading past it), activation rows
// quantized as the kernels expect them, and the products summed in double.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <utility>
#include <vector>

namespace check {

struct Tally {
  std::mt19937 rng{20261127};
  int checks = 0, failures = 0;
};

inline float half_to_float(uint16_t h) {  // normal, zero and subnormal halves (no inf/nan are generated)
  const int e = (h >> 10) & 31, m = h & 1023;
  const float v = e == 0 ? std::ldexp(float(m), -24) : std::ldexp(float(1024 + m), e - 25);
  return (h & 0x8000) ? -v : v;
}
inline uint16_t random_half(std::mt19937& rng) {  // a normal f16 of magnitude 2^-10 .. 2^1, either sign
  std::uniform_int_distribution<int> e(5, 16), m(0, 1023), s(0, 1);
  return uint16_t((s(rng) << 15) | (e(rng) << 10) | m(rng));
}

// One case: `groups` interleaved groups (8 rows each) of nb blocks, nr activation rows, and want[t·rows + r].
struct QuantCase {
  bool q4;
  int64_t nb;
  int nr;
  std::vector<std::vector<uint8_t>> plain;   // rows as plain blocks
  std::vector<std::vector<uint8_t>> groups;  // interleaved
  std::vector<std::vector<int8_t>> xq;
  std::vector<std::vector<float>> xd;
  std::vector<std::vector<int32_t>> xsum;
  std::vector<const int8_t*> xqp;
  std::vector<const float*> xdp;
  std::vector<const int32_t*> xsp;
  std::vector<double> want;
};

inline QuantCase make_case(Tally& tally, bool q4, int64_t nb, int ngroups, int nr) {
  const int block = q4 ? 18 : 34, chunks = q4 ? 4 : 8, rows = 8 * ngroups;
  QuantCase c{q4, nb, nr, {}, {}, {}, {}, {}, {}, {}, {}, {}};
  std::uniform_int_distribution<int> byte(0, 255), act(-127, 127);
  std::uniform_real_distribution<float> scale(0.001f, 0.05f);
  c.plain.assign(size_t(rows), std::vector<uint8_t>(size_t(nb * block)));
  for (auto& r : c.plain)
    for (int64_t k = 0; k < nb; k++) {
      const uint16_t d = random_half(tally.rng);
      std::memcpy(&r[k * block], &d, 2);
      for (int j = 2; j < block; j++) r[k * block + j] = uint8_t(byte(tally.rng));  // Q8_0: any int8, −128 included
    }
  c.groups.assign(size_t(ngroups), std::vector<uint8_t>(size_t(nb * 8 * block)));
  for (int row = 0; row < rows; row++) {
    const int lane = row % 8;
    for (int64_t k = 0; k < nb; k++) {
      const uint8_t* src = c.plain[row].data() + k * block;
      uint8_t* dst = c.groups[row / 8].data() + k * 8 * block;
      dst[2 * lane] = src[0];
      dst[2 * lane + 1] = src[1];
      for (int ch = 0; ch < chunks; ch++)
        for (int j = 0; j < 4; j++) dst[16 + 32 * ch + 4 * lane + j] = src[2 + 4 * ch + j];
    }
  }
  c.xq.assign(size_t(nr), std::vector<int8_t>(size_t(nb * 32)));
  c.xd.assign(size_t(nr), std::vector<float>(size_t(nb)));
  c.xsum.assign(size_t(nr), std::vector<int32_t>(size_t(nb)));
  for (int t = 0; t < nr; t++) {
    for (int64_t k = 0; k < nb; k++) {
      c.xd[t][k] = scale(tally.rng);
      for (int j = 0; j < 32; j++) { c.xq[t][k * 32 + j] = int8_t(act(tally.rng)); c.xsum[t][k] += c.xq[t][k * 32 + j]; }
    }
    c.xqp.push_back(c.xq[t].data());
    c.xdp.push_back(c.xd[t].data());
    c.xsp.push_back(c.xsum[t].data());
  }
  c.want.assign(size_t(rows * nr), 0.0);
  for (int t = 0; t < nr; t++)
    for (int row = 0; row < rows; row++)
      for (int64_t k = 0; k < nb; k++) {
        const uint8_t* b = c.plain[row].data() + k * block;
        const int8_t* x = c.xq[t].data() + k * 32;
        uint16_t d; std::memcpy(&d, b, 2);
        long s = 0;
        if (q4) for (int j = 0; j < 16; j++) s += long((b[2 + j] & 15) - 8) * x[j] + long((b[2 + j] >> 4) - 8) * x[16 + j];
        else for (int j = 0; j < 32; j++) s += long(int8_t(b[2 + j])) * x[j];
        c.want[t * rows + row] += double(half_to_float(d)) * double(c.xd[t][k]) * double(s);
      }
  return c;
}

// got[i] against want[i] relative to the largest |want| (float32 accumulation over nb blocks).
inline void expect_close(Tally& tally, const char* what, int64_t nb, int nr, const float* got, const double* want, int n) {
  double scale = 1e-30, err = 0;
  for (int i = 0; i < n; i++) { scale = std::max(scale, std::fabs(want[i])); err = std::max(err, std::fabs(got[i] - want[i])); }
  tally.checks++;
  if (!(err / scale < 2e-6)) {
    tally.failures++;
    std::printf("FAIL %s n=%lld rows=%d: relative error %.3g\n", what, (long long)nb, nr, err / scale);
  }
}

// Runs kernel(case, got) on a fresh case and compares got with the case's sums.
template <typename Kernel>
void check_kernel(Tally& tally, const char* what, bool q4, int64_t nb, int ngroups, int nr, Kernel kernel) {
  QuantCase c = make_case(tally, q4, nb, ngroups, nr);
  std::vector<float> got(size_t(8 * ngroups * nr));
  kernel(c, got.data());
  expect_close(tally, what, nb, nr, got.data(), c.want.data(), 8 * ngroups * nr);
}

}  // namespace check
