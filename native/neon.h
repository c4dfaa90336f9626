// NEON kernels of the native backend for 64-bit Arm with the dot-product extension (ARMv8.2 DotProd:
// Apple M1 and later, AWS Graviton 2 and later, Cortex-A76 and later), included by fugaku.cc on
// aarch64. They compute the quantized products on the interleaved layout (fugaku.cc, "interleaved
// quantized layout"): a group's 32-byte chunk holds 4 bytes of each of its 8 rows, so one 16-byte
// load covers 4 rows and `sdot` (4 s8·s8 products added into each int32 lane) multiplies
// them by 4 activation bytes broadcast to every lane. Q4_0 nibbles are made signed (q − 8) first, so
// no activation sums are needed.
//
// Self-contained like avx512.h: scripts/check-neon-emulated.sh cross-compiles
// native/check/neon-emulated.cc with this file and runs it under qemu-aarch64.
#pragma once

// How `sdot` is reached: with the feature on at compile time (Apple Silicon's default target, or
// -march=...+dotprod) the intrinsic as is; GCC also declares the intrinsic for functions that enable
// the extension by attribute; clang (before 17) hides it unless the feature is on for the whole file,
// so there the functions enable it by attribute and the instruction is written as inline assembly.
#if defined(__ARM_FEATURE_DOTPROD)
#define FUGAKU_DOTPROD_FN
#define FUGAKU_SDOT_INTRINSIC 1
#elif !defined(__clang__)
#define FUGAKU_DOTPROD_FN __attribute__((target("arch=armv8.2-a+dotprod")))
#define FUGAKU_SDOT_INTRINSIC 1
#else
#define FUGAKU_DOTPROD_FN __attribute__((target("dotprod")))
#endif

namespace neon {

// acc[i] += Σ_{j<4} a[4i + j] · b[4i + j] (signed bytes).
#ifdef FUGAKU_SDOT_INTRINSIC
FUGAKU_DOTPROD_FN inline int32x4_t sdot(int32x4_t acc, int8x16_t a, int8x16_t b) { return vdotq_s32(acc, a, b); }
#else
FUGAKU_DOTPROD_FN inline int32x4_t sdot(int32x4_t acc, int8x16_t a, int8x16_t b) {
  __asm__("sdot %0.4s, %1.16b, %2.16b" : "+w"(acc) : "w"(a), "w"(b));
  return acc;
}
#endif

constexpr int kIL = 8;   // output rows per interleaved group
constexpr int kQK = 32;  // elements per quantized block

// 4 activation bytes in every 32-bit lane.
FUGAKU_DOTPROD_FN inline int8x16_t bcast4(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return vreinterpretq_s8_s32(vdupq_n_s32(v));
}
// A group's 8 f16 scales as two float vectors (rows 0..3, rows 4..7).
FUGAKU_DOTPROD_FN inline void scales(const uint8_t* p, float32x4_t& lo, float32x4_t& hi) {
  const float16x8_t h = vreinterpretq_f16_u16(vld1q_u16(reinterpret_cast<const uint16_t*>(p)));
  lo = vcvt_f32_f16(vget_low_f16(h));
  hi = vcvt_f32_f16(vget_high_f16(h));
}

// The integer sums of one block of a group for NR activation rows: s0[t] for rows 0..3, s1[t] for 4..7.
struct Q8Block {
  static constexpr int64_t kBytes = kIL * 34, kPrefetchBlocks = 4;
  template <int NR>
  FUGAKU_DOTPROD_FN static void sums(const uint8_t* p, const int8_t* const* xq, int64_t k, int32x4_t* s0, int32x4_t* s1) {
    for (int c = 0; c < 8; c++) {
      const int8x16_t w0 = vld1q_s8(reinterpret_cast<const int8_t*>(p + 16 + 32 * c));
      const int8x16_t w1 = vld1q_s8(reinterpret_cast<const int8_t*>(p + 32 + 32 * c));
      for (int t = 0; t < NR; t++) {
        const int8x16_t x = bcast4(xq[t] + k * kQK + 4 * c);
        s0[t] = sdot(s0[t], w0, x);
        s1[t] = sdot(s1[t], w1, x);
      }
    }
  }
};
// Q4_0: a chunk's low nibbles are elements 4c..4c+3 of each row, its high nibbles 16+4c..16+4c+3.
struct Q4Block {
  static constexpr int64_t kBytes = kIL * 18, kPrefetchBlocks = 6;
  template <int NR>
  FUGAKU_DOTPROD_FN static void sums(const uint8_t* p, const int8_t* const* xq, int64_t k, int32x4_t* s0, int32x4_t* s1) {
    const uint8x16_t mask = vdupq_n_u8(0x0f);
    const int8x16_t eight = vdupq_n_s8(8);
    for (int c = 0; c < 4; c++) {
      const uint8x16_t q0 = vld1q_u8(p + 16 + 32 * c), q1 = vld1q_u8(p + 32 + 32 * c);
      const int8x16_t lo0 = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(q0, mask)), eight);
      const int8x16_t hi0 = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(q0, 4)), eight);
      const int8x16_t lo1 = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(q1, mask)), eight);
      const int8x16_t hi1 = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(q1, 4)), eight);
      for (int t = 0; t < NR; t++) {
        const int8_t* x = xq[t] + k * kQK;
        const int8x16_t xl = bcast4(x + 4 * c), xh = bcast4(x + 16 + 4 * c);
        s0[t] = sdot(sdot(s0[t], lo0, xl), hi0, xh);
        s1[t] = sdot(sdot(s1[t], lo1, xl), hi1, xh);
      }
    }
  }
};

// One interleaved group (8 output rows) × NR activation rows: res[t·8 + r] = row r · x_t, each block's
// integer sums scaled by both block scales and accumulated in float.
template <typename Block, int NR>
FUGAKU_DOTPROD_FN void group(const uint8_t* base, int64_t nb, const int8_t* const* xq, const float* const* xd, float* res) {
  float32x4_t acc0[NR], acc1[NR];
  for (int t = 0; t < NR; t++) { acc0[t] = vdupq_n_f32(0.0f); acc1[t] = vdupq_n_f32(0.0f); }
  for (int64_t k = 0; k < nb; k++) {
    const uint8_t* p = base + k * Block::kBytes;
    for (int64_t off = 0; off < Block::kBytes; off += 64) __builtin_prefetch(p + Block::kPrefetchBlocks * Block::kBytes + off);
    float32x4_t d0, d1;
    scales(p, d0, d1);
    int32x4_t s0[NR], s1[NR];
    for (int t = 0; t < NR; t++) { s0[t] = vdupq_n_s32(0); s1[t] = vdupq_n_s32(0); }
    Block::template sums<NR>(p, xq, k, s0, s1);
    for (int t = 0; t < NR; t++) {
      acc0[t] = vfmaq_f32(acc0[t], vmulq_n_f32(d0, xd[t][k]), vcvtq_f32_s32(s0[t]));
      acc1[t] = vfmaq_f32(acc1[t], vmulq_n_f32(d1, xd[t][k]), vcvtq_f32_s32(s1[t]));
    }
  }
  for (int t = 0; t < NR; t++) { vst1q_f32(res + 8 * t, acc0[t]); vst1q_f32(res + 8 * t + 4, acc1[t]); }
}
template <int NR>
FUGAKU_DOTPROD_FN void group_q8_0(const uint8_t* base, int64_t nb, const int8_t* const* xq, const float* const* xd, float* res) {
  group<Q8Block, NR>(base, nb, xq, xd, res);
}
template <int NR>
FUGAKU_DOTPROD_FN void group_q4_0(const uint8_t* base, int64_t nb, const int8_t* const* xq, const float* const* xd, float* res) {
  group<Q4Block, NR>(base, nb, xq, xd, res);
}

}  // namespace neon
