// Checks native/arch/x86/avx512.h (and avxvnni.h, amx.h) on a machine without AVX-512: compiled against SIMDe (portable
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
#include "../arch/x86/avx512.h"
// The AVX-VNNI kernels: SIMDe 0.7 has the EVEX form of the 256-bit vpdpbusd (AVX512-VL + VNNI), which
// computes the same as the VEX form AVX-VNNI adds.
#define FUGAKU_AVXVNNI_FN
#define FUGAKU_DPBUSD256 _mm256_dpbusd_epi32
#include "../arch/x86/avxvnni.h"

// The AMX kernels on a scalar model of the tile instructions they use (SIMDe has no AMX): eight tile
// registers shaped by ldtilecfg's palette 1, loads and stores of rows × colsb bytes at a stride (so
// AddressSanitizer sees exactly the bytes the hardware would touch), and tdpbssd's signed int8 dot
// products of 4 into int32, with the shape rules the CPU enforces checked here.
namespace amx_model {
struct Tile { int rows = 0, colsb = 0; uint8_t data[16][64] = {}; };
Tile tiles[8];
bool configured = false;
int shape_errors = 0;
inline void loadconfig(const void* p) {
  const uint8_t* c = static_cast<const uint8_t*>(p);
  if (c[0] != 1) shape_errors++;
  for (int t = 0; t < 8; t++) {
    uint16_t colsb; std::memcpy(&colsb, c + 16 + 2 * t, 2);
    tiles[t].rows = c[48 + t];
    tiles[t].colsb = colsb;
    if (tiles[t].rows > 16 || tiles[t].colsb > 64) shape_errors++;
    std::memset(tiles[t].data, 0, sizeof tiles[t].data);
  }
  configured = true;
}
inline void loadd(int t, const void* base, long stride) {
  if (!configured) shape_errors++;
  for (int r = 0; r < tiles[t].rows; r++) std::memcpy(tiles[t].data[r], static_cast<const uint8_t*>(base) + r * stride, size_t(tiles[t].colsb));
}
inline void stored(int t, void* base, long stride) {
  if (!configured) shape_errors++;
  for (int r = 0; r < tiles[t].rows; r++) std::memcpy(static_cast<uint8_t*>(base) + r * stride, tiles[t].data[r], size_t(tiles[t].colsb));
}
inline void zero(int t) { std::memset(tiles[t].data, 0, sizeof tiles[t].data); }
inline void dpbssd(int ct, int at, int bt) {
  Tile &c = tiles[ct], &a = tiles[at], &b = tiles[bt];
  if (!configured || a.rows != c.rows || a.colsb / 4 != b.rows || b.colsb != c.colsb || a.colsb % 4 || c.colsb % 4) { shape_errors++; return; }
  for (int m = 0; m < c.rows; m++)
    for (int n = 0; n < c.colsb / 4; n++) {
      int32_t acc; std::memcpy(&acc, &c.data[m][4 * n], 4);
      for (int kk = 0; kk < b.rows; kk++)
        for (int j = 0; j < 4; j++) acc += int32_t(int8_t(a.data[m][4 * kk + j])) * int32_t(int8_t(b.data[kk][4 * n + j]));
      std::memcpy(&c.data[m][4 * n], &acc, 4);
    }
}
}  // namespace amx_model
#define _tile_loadconfig(p) amx_model::loadconfig(p)
#define _tile_loadd(t, base, stride) amx_model::loadd(t, base, long(stride))
#define _tile_stored(t, base, stride) amx_model::stored(t, base, long(stride))
#define _tile_zero(t) amx_model::zero(t)
#define _tile_dpbssd(c, a, b) amx_model::dpbssd(c, a, b)
#define _tile_release() (amx_model::configured = false)
#define FUGAKU_AMX_FN
#include "../arch/x86/amx.h"

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

// amx::pair_tiles on `rows` activation rows (zero rows padding them to whole tiles, rows lda ≥ 32·nb
// bytes apart) against avx512::pair_q*_0 on the same rows, bit for bit, and against the exact sums.
void check_amx(bool q4, int64_t nb, int rows, int64_t extra) {
  const int mt = (rows + 15) / 16;
  const int64_t lda = nb * 32 + extra;
  check::check_kernel(tally, q4 ? "amx pair_tiles q4_0" : "amx pair_tiles q8_0", q4, nb, 2, rows, [&](const check::QuantCase& c, float* got) {
    std::vector<int8_t> q(size_t(mt * 16 * lda - extra), 0);  // ends where the last tile row's block ends
    std::vector<float> d(size_t(mt * 16 * nb), 0.0f);
    for (int t = 0; t < rows; t++) {
      std::memcpy(&q[size_t(t * lda)], c.xq[t].data(), size_t(nb * 32));
      std::memcpy(&d[size_t(t * nb)], c.xd[t].data(), size_t(nb * 4));
    }
    const amx::TileConfig cfg = amx::tile_config();
    _tile_loadconfig(&cfg);
    auto* s = new amx::Scratch;
    if (q4) amx::pair_tiles<true>(c.groups[0].data(), c.groups[1].data(), nb, q.data(), lda, d.data(), mt, *s);
    else amx::pair_tiles<false>(c.groups[0].data(), c.groups[1].data(), nb, q.data(), lda, d.data(), mt, *s);
    _tile_release();
    // check_kernel's layout: got[t·16 + r] for activation row t.
    for (int t = 0; t < rows; t++) std::memcpy(got + 16 * t, s->acc + 16 * t, 64);
    float ref[8 * 16];
    tally.checks++;
    for (int t0 = 0; t0 < rows; t0 += 8) {
      const int n = std::min(8, rows - t0);
      const int8_t* xq[8]; const float* xd[8]; const int32_t* xs[8];
      for (int i = 0; i < 8; i++) { const int t = t0 + std::min(i, n - 1); xq[i] = c.xqp[t]; xd[i] = c.xdp[t]; xs[i] = c.xsp[t]; }
      if (q4) avx512::pair_q4_0<8>(c.groups[0].data(), c.groups[1].data(), nb, xq, xd, xs, ref);
      else avx512::pair_q8_0<8>(c.groups[0].data(), c.groups[1].data(), nb, xq, xd, xs, ref);
      if (std::memcmp(ref, got + 16 * t0, size_t(n) * 64) != 0) {
        tally.failures++;
        std::printf("FAIL amx pair_tiles %s nb=%lld rows=%d: not bit-identical to avx512 pair (rows %d..)\n", q4 ? "q4_0" : "q8_0", (long long)nb, rows, t0);
        break;
      }
    }
    delete s;
  });
  tally.checks++;
  if (amx_model::shape_errors) { tally.failures++; std::printf("FAIL amx tile shapes: %d errors\n", amx_model::shape_errors); amx_model::shape_errors = 0; }
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
  for (bool q4 : {true, false})
    for (int64_t nb : {1, 2, 3, 24, 162})
      for (int rows : {1, 8, 15, 16, 17, 33, 64}) check_amx(q4, nb, rows, rows % 2 ? 0 : 96);
  std::printf("%d checks, %d failures\n", tally.checks, tally.failures);
  return tally.failures == 0 ? 0 : 1;
}
