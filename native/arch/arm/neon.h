// NEON kernels of the native backend's quantized products on 64-bit Arm, included by arch/arm/kernels.cc
// on aarch64. They compute the quantized products on the interleaved layout (native/common.h, "interleaved
// quantized layout"): a group's 32-byte chunk holds 4 bytes of each of its 8 rows, so one 16-byte
// load covers 4 rows, multiplied by 4 activation bytes broadcast to every 32-bit lane. Q4_0 nibbles
// are made signed (q − 8) first, so no activation sums are needed.
//
// Two builds of the same kernels (native/neon_quant.inc, included twice):
// - neon::dp, with the dot-product extension (ARMv8.2 DotProd: Apple M1 and later, AWS Graviton 2
//   and later, Cortex-A76 and later, Raspberry Pi 5): `sdot` adds 4 s8·s8 products into each int32
//   lane in one instruction;
// - neon::base, plain ARMv8-A NEON for CPUs without it (Cortex-A72/A53: Raspberry Pi 4, Graviton 1):
//   `smull` makes int16 products (|q·x| ≤ 128·128 fits), `sadalp` adds their pairs into int32 lanes,
//   and one pairwise add per block folds the pairs into the same per-row sums.
// The integer sums are exact either way, so both give bit-identical results.
//
// Needs <arm_neon.h>, <cstring> and <utility> (std::integer_sequence), included by the includer (arch/arm/kernels.cc
// includes this file inside its anonymous namespace). Self-contained like avx512.h otherwise: scripts/check-neon-emulated.sh cross-compiles
// native/check/neon-emulated.cc with this file and runs it under qemu-aarch64 (neon::base also on a
// CPU model without DotProd, so no DotProd instruction can slip into it).
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

constexpr int kIL = 8;   // output rows per interleaved group
constexpr int kQK = 32;  // elements per quantized block

// A group's 8 f16 scales as two float vectors (rows 0..3, rows 4..7).
inline void scales(const uint8_t* p, float32x4_t& lo, float32x4_t& hi) {
  const float16x8_t h = vreinterpretq_f16_u16(vld1q_u16(reinterpret_cast<const uint16_t*>(p)));
  lo = vcvt_f32_f16(vget_low_f16(h));
  hi = vcvt_f32_f16(vget_high_f16(h));
}

namespace dp {
#define FUGAKU_NEON_QUANT_FN FUGAKU_DOTPROD_FN
// Per-lane sums of 4 products: one int32x4 and `sdot`.
struct Acc { int32x4_t v; };
FUGAKU_DOTPROD_FN inline void acc_zero(Acc& a) { a.v = vdupq_n_s32(0); }
// a += w · (x's 32-bit lane L: 4 activation bytes in every lane), sdot's by-element form.
#ifdef FUGAKU_SDOT_INTRINSIC
template <int L>
FUGAKU_DOTPROD_FN inline void acc_dot_lane(Acc& a, int8x16_t w, int8x16_t x) { a.v = vdotq_laneq_s32(a.v, w, x, L); }
#else
template <int L>
FUGAKU_DOTPROD_FN inline void acc_dot_lane(Acc& a, int8x16_t w, int8x16_t x) {
  __asm__("sdot %0.4s, %1.16b, %2.4b[%c3]" : "+w"(a.v) : "w"(w), "w"(x), "i"(L));
}
#endif
FUGAKU_DOTPROD_FN inline int32x4_t acc_fold(const Acc& a) { return a.v; }
#include "neon_quant.inc"
#undef FUGAKU_NEON_QUANT_FN
}  // namespace dp

namespace base {
#define FUGAKU_NEON_QUANT_FN
// Pairs of products: lo holds [r0 01, r0 23, r1 01, r1 23] for rows 0, 1 of the vector, hi the same for
// rows 2, 3 (01 = products 0 + 1 of the row's 4); the fold adds neighbours: [r0, r1, r2, r3].
struct Acc { int32x4_t lo, hi; };
inline void acc_zero(Acc& a) { a.lo = vdupq_n_s32(0); a.hi = vdupq_n_s32(0); }
template <int L>
inline void acc_dot_lane(Acc& a, int8x16_t w, int8x16_t x) {
  const int8x16_t xl = vreinterpretq_s8_s32(vdupq_laneq_s32(vreinterpretq_s32_s8(x), L));
  a.lo = vpadalq_s16(a.lo, vmull_s8(vget_low_s8(w), vget_low_s8(xl)));
  a.hi = vpadalq_s16(a.hi, vmull_high_s8(w, xl));
}
inline int32x4_t acc_fold(const Acc& a) { return vpaddq_s32(a.lo, a.hi); }
#include "neon_quant.inc"
#undef FUGAKU_NEON_QUANT_FN
}  // namespace base

}  // namespace neon
