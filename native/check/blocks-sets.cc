// Checks the vec_dot kernels of ggml's other block types (blocks.h) of every kernel set this build
// and CPU have against the portable ones, through the matmul driver: random block rows (valid f16
// scales; all-zero scales; maximal quants), odd shapes. Built from the addon's sources without the
// N-API glue, natively (scripts/check-blocks-sets.sh) or cross-compiled for aarch64 and run under
// qemu-aarch64 (scripts/check-neon-emulated.sh), where the neon set is checked with and without
// DotProd. A development check, not part of `npm test` (test/native-blocks.test.ts checks the same
// through the addon).
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "../blocks.h"
#include "../cpu.h"
#include "../ops.h"

using namespace fugaku;

namespace {

struct TypeCase { int32_t fmt; const char* name; std::vector<int> f16; };
const TypeCase kTypes[] = {
  {Q4_1, "Q4_1", {0, 2}}, {Q5_0, "Q5_0", {0}}, {Q5_1, "Q5_1", {0, 2}}, {Q2_K, "Q2_K", {80, 82}}, {Q3_K, "Q3_K", {108}},
  {Q4_K, "Q4_K", {0, 2}}, {Q5_K, "Q5_K", {0, 2}}, {Q6_K, "Q6_K", {208}}, {IQ2_XXS, "IQ2_XXS", {0}}, {IQ2_XS, "IQ2_XS", {0}},
  {IQ3_XXS, "IQ3_XXS", {0}}, {IQ1_S, "IQ1_S", {0}}, {IQ4_NL, "IQ4_NL", {0}}, {IQ3_S, "IQ3_S", {0}}, {IQ2_S, "IQ2_S", {0}},
  {IQ4_XS, "IQ4_XS", {0}}, {IQ1_M, "IQ1_M", {}},
};

// mode 0: random bytes with random small f16 scales; 1: all bytes 0xff (maximal quants) with scales
// set; 2: random bytes with every f16 scale zero.
std::vector<uint8_t> make_rows(const TypeCase& t, int64_t rows, int64_t in, int mode, std::mt19937& rng) {
  const BlockType b = block_type(t.fmt);
  const int64_t nb = rows * (in / b.block);
  std::vector<uint8_t> u(size_t(nb * b.bytes));
  for (auto& v : u) v = mode == 1 ? 0xff : uint8_t(rng());
  for (int64_t k = 0; k < nb; k++) {
    uint8_t* p = u.data() + k * b.bytes;
    const uint16_t h = mode == 2 ? 0 : uint16_t(0x2000 + rng() % 0x800);
    for (int off : t.f16) { p[off] = uint8_t(h & 255); p[off + 1] = uint8_t(h >> 8); }
    if (t.fmt == IQ1_M) {  // the f16 scale is the top nibbles of the 4 uint16 scales (bytes 48..55)
      const uint16_t s = mode == 2 ? 0 : uint16_t(0x2400 + rng() % 0x400);
      for (int j = 0; j < 4; j++) p[48 + 2 * j + 1] = uint8_t((p[48 + 2 * j + 1] & 0x0f) | (((s >> (4 * j)) & 15) << 4));
    }
  }
  return u;
}

}  // namespace

int main() {
  struct Set { const char* name; int level; };
  const Set sets[] = {{"avx2", AVX2}, {"avxvnni", AVXVNNI}, {"avx512", AVX512}, {"amx", AMX}, {"neon", NEON}};
  std::mt19937 rng(7);
  Context portable(2, PORTABLE);
  int failures = 0, checks = 0;
  // [out, in, rows]; 9 and 21 rows take the tile paths where the set has them (21: two 16-row tiles).
  const int64_t shapes[][3] = {{37, 512, 5}, {13, 256, 1}, {3, 1280, 9}, {35, 768, 21}};
  for (const Set& s : sets) {
    if (level_unavailable(s.level)) { std::printf("%-8s not on this CPU\n", s.name); continue; }
    Context ctx(2, s.level);
    double worst = 0;
    for (const TypeCase& t : kTypes) {
      for (const auto& sh : shapes) {
        const BlockType b = block_type(t.fmt);
        const int64_t outd = sh[0], rows = sh[2], in = b.block == 32 ? sh[1] + 96 : sh[1];  // 32·k, not 256·k, for the 32-blocks
        for (int mode = 0; mode < 3; mode++) {
          const std::vector<uint8_t> w = make_rows(t, outd, in, mode, rng);
          std::vector<float> x(size_t(rows * in));
          std::normal_distribution<float> nd;
          for (auto& v : x) v = nd(rng);
          Matrix* mp = load_blocks(portable, t.fmt, w.data(), in, outd);
          Matrix* ms = load_blocks(ctx, t.fmt, w.data(), in, outd);
          std::vector<float> a(size_t(rows * outd)), c(size_t(rows * outd));
          matmul_blocks(portable, *mp, x.data(), rows, nullptr, a.data());
          matmul_blocks(ctx, *ms, x.data(), rows, nullptr, c.data());
          double num = 0, den = 0;
          bool finite = true;
          for (size_t i = 0; i < a.size(); i++) {
            num += (double(a[i]) - c[i]) * (double(a[i]) - c[i]);
            den += double(a[i]) * a[i];
            finite = finite && std::isfinite(c[i]);
          }
          const double err = den > 0 ? std::sqrt(num / den) : std::sqrt(num);
          worst = std::max(worst, err);
          checks++;
          if (!(err < 1e-5) || !finite || (mode == 2 && num != 0)) {
            failures++;
            std::printf("FAIL %s %s %lldx%lld rows %lld mode %d: relErr %.3g\n", s.name, t.name, (long long)outd, (long long)in, (long long)rows, mode, err);
          }
          delete mp;
          delete ms;
        }
      }
    }
    std::printf("%-8s 17 types: worst relErr vs portable %.2g%s\n", s.name, worst,
                s.level == NEON ? (cpu_features().dotprod ? " (DotProd kernels)" : " (plain NEON kernels)") : "");
  }
  std::printf("%d checks, %d failures\n", checks, failures);
  return failures ? 1 : 0;
}
