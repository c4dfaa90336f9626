// What every part of the native addon shares (ggml-cpu's common.h / ggml-impl.h): the codes of the
// weight formats, kernel levels and activations (exported to TypeScript as `constants`, napi.cc), the
// quantized block types, the scalar float conversions, a weight matrix and its interleaved quantized
// layout, and the blocking constants the matmul and attention drivers and their kernels agree on.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#if defined(__x86_64__) || defined(_M_X64)
#define FUGAKU_X86 1
#endif
#if defined(__aarch64__)
#define FUGAKU_ARM64 1
#endif

namespace fugaku {

// Weight formats (loadMatrix's srcFormat and format).
enum Format : int32_t {
  F32 = 0, BF16 = 1, F16 = 2, Q8_0 = 3, Q4_0 = 4,
  // ggml's other block types, kept as raw GGUF block rows [out][in] (blocks.cc; ggml-cpu's vec_dot model)
  Q4_1 = 5, Q5_0 = 6, Q5_1 = 7, Q2_K = 8, Q3_K = 9, Q4_K = 10, Q5_K = 11, Q6_K = 12, IQ2_XXS = 13, IQ2_XS = 14,
  IQ3_XXS = 15, IQ1_S = 16, IQ4_NL = 17, IQ3_S = 18, IQ2_S = 19, IQ4_XS = 20, IQ1_M = 21,
  FORMAT_COUNT = 22
};
// The activation quantization a block type's integer dot takes (ggml's vec_dot_type).
enum ActQuant : int32_t { ACT_Q8_0 = 0, ACT_Q8_1 = 1, ACT_Q8_K = 2 };
// A block type's elements per block, bytes per block and activation quantization.
struct BlockType { int32_t block, bytes, act; };
inline bool is_block(int32_t fmt) { return fmt >= Q4_1 && fmt <= IQ1_M; }
inline BlockType block_type(int32_t fmt) {
  switch (fmt) {
    case Q4_1: return {32, 20, ACT_Q8_1};
    case Q5_0: return {32, 22, ACT_Q8_0};
    case Q5_1: return {32, 24, ACT_Q8_1};
    case Q2_K: return {256, 84, ACT_Q8_K};
    case Q3_K: return {256, 110, ACT_Q8_K};
    case Q4_K: return {256, 144, ACT_Q8_K};
    case Q5_K: return {256, 176, ACT_Q8_K};
    case Q6_K: return {256, 210, ACT_Q8_K};
    case IQ2_XXS: return {256, 66, ACT_Q8_K};
    case IQ2_XS: return {256, 74, ACT_Q8_K};
    case IQ3_XXS: return {256, 98, ACT_Q8_K};
    case IQ1_S: return {256, 50, ACT_Q8_K};
    case IQ4_NL: return {32, 18, ACT_Q8_0};
    case IQ3_S: return {256, 110, ACT_Q8_K};
    case IQ2_S: return {256, 82, ACT_Q8_K};
    case IQ4_XS: return {256, 136, ACT_Q8_K};
    case IQ1_M: return {256, 56, ACT_Q8_K};
  }
  return {0, 0, 0};
}
// Kernel levels: what createContext is asked for, after checking the CPU (cpu.cc).
enum Level : int32_t { PORTABLE = 0, AVX2 = 1, AVX512 = 2, NEON = 3, AVXVNNI = 4, AMX = 5 };
// The x86 levels, which all use the AVX2 kernels for what they do not replace.
inline bool x86_level(int level) { return level == AVX2 || level == AVX512 || level == AVXVNNI || level == AMX; }
// Activation kinds (activation's kind).
enum Act : int32_t { GELU = 0, GELU_TANH = 1, GELU_FAST = 2, QUICK_GELU = 3, RELU = 4, SILU = 5 };

constexpr int QK = 32;  // elements per quantized block
struct BlockQ8 { uint16_t d; int8_t qs[32]; };
struct BlockQ4 { uint16_t d; uint8_t qs[16]; };
static_assert(sizeof(BlockQ8) == 34, "Q8_0 block is 34 bytes");
static_assert(sizeof(BlockQ4) == 18, "Q4_0 block is 18 bytes");

constexpr int QB = 8;   // queries per prefill attention task (the AVX2 and NEON block kernels)
constexpr int NR = 4;   // activation rows per weight read (prefill reads every weight once per NR tokens)
constexpr int NR2 = 8;  // the same for the AVX-512 pair kernels (32 vector registers hold 8 rows' sums)
// The AMX level uses tiles from this many activation rows on (fewer rows, as in decode, take the
// AVX-512 kernels: a tile step costs about the same for 1 row as for 16), AMX_ROWS at a time.
constexpr int64_t AMX_MIN_ROWS = 8;
constexpr int64_t AMX_ROWS = 16;

// ---------------------------------------------------------------- scalar conversions
inline float bf16_to_f32(uint16_t h) { uint32_t u = uint32_t(h) << 16; float f; std::memcpy(&f, &u, 4); return f; }
inline uint16_t f32_to_bf16(float f) {
  uint32_t u; std::memcpy(&u, &f, 4);
  if ((u & 0x7f800000u) == 0x7f800000u && (u & 0x7fffffu)) return uint16_t((u >> 16) | 0x40);
  return uint16_t((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}
inline float f16_to_f32(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ff, u;
  if (exp == 0) {
    if (mant == 0) u = sign;
    else { float f = std::ldexp(float(mant), -24); std::memcpy(&u, &f, 4); u |= sign; }
  } else if (exp == 31) u = sign | 0x7f800000u | (mant << 13);
  else u = sign | ((exp + 112) << 23) | (mant << 13);
  float f; std::memcpy(&f, &u, 4); return f;
}
// Round-to-nearest-even float → half (as numpy/ggml do).
inline uint16_t f32_to_f16(float f) {
  uint32_t x; std::memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t ax = x & 0x7fffffffu;
  if (ax >= 0x7f800000u) return uint16_t(sign | 0x7c00u | (ax > 0x7f800000u ? 0x200u : 0));
  if (ax >= 0x477ff000u) return uint16_t(sign | 0x7c00u);  // ≥ 65520 → inf
  if (ax < 0x38800000u) {                                   // subnormal half (or zero)
    float a; std::memcpy(&a, &ax, 4);
    float m = a * 16777216.0f;                              // a / 2^-24
    return uint16_t(sign | uint32_t(std::nearbyint(m)));
  }
  uint32_t r = ax + 0xfffu + ((ax >> 13) & 1u);            // round mantissa to 10 bits
  return uint16_t(sign | ((r - 0x38000000u) >> 13));
}
inline float roundf_away(float x) { return std::round(x); }

// f16 bits → float32 for all 65536 patterns (f16_to_f32's values; built once, then read-only): the
// portable kernels' and the loaders' conversion.
const float* f16_table();

// ---------------------------------------------------------------- weight matrices
// Float weights are stored row-major [out][in]; quantized formats hold ggml's Q8_0/Q4_0 blocks (see
// src/tensor/quant.ts) with the blocks of 8 output rows interleaved (below), so GGUF tensors load
// with a cheap repack and no requantization.
struct Matrix {
  int32_t format;
  int64_t in_dim, out_dim, row_bytes;
  uint8_t* data;
  size_t bytes;
  ~Matrix();
};

// ---------------------------------------------------------------- interleaved quantized layout
// Quantized matrices are stored as groups of IL = 8 output rows whose blocks are interleaved (the
// idea of llama.cpp's repacked CPU layouts): for block k of a group, first the 8 rows' f16 scales
// (16 bytes), then the rows' quants in 4-byte lanes: 32-byte chunk c holds bytes 4c..4c+3 of every
// row's block, row r in lane r. One 32-byte load then serves 8 output rows: the kernels broadcast 4
// activation bytes to all lanes, and the 8 results come out in one vector, with no horizontal sums
// and one vector of scales per block. A Q4_0 chunk's low nibbles are elements 4c..4c+3 and its high
// nibbles elements 16+4c..16+4c+3; a Q8_0 block has 8 chunks. The same bytes as plain rows (8 ×
// row_bytes per group); rows past out_dim in the last group are zero blocks (scale 0). quant.cc
// packs it (pack_group); the kernels under arch/ read it.
constexpr int IL = 8;
inline bool is_quant(int32_t fmt) { return fmt == Q8_0 || fmt == Q4_0; }
inline int64_t block_bytes(int32_t fmt) { return fmt == Q8_0 ? int64_t(sizeof(BlockQ8)) : int64_t(sizeof(BlockQ4)); }
inline int64_t groups_of(int64_t outd) { return (outd + IL - 1) / IL; }
inline size_t matrix_bytes(int32_t fmt, int64_t row_bytes, int64_t outd) {
  return size_t(row_bytes) * size_t(is_quant(fmt) ? groups_of(outd) * IL : outd);
}
inline int64_t row_bytes_of(int32_t fmt, int64_t in) {
  switch (fmt) {
    case F32: return in * 4;
    case BF16: case F16: return in * 2;
    case Q8_0: return in / QK * 34;
    case Q4_0: return in / QK * 18;
  }
  if (is_block(fmt)) { const BlockType b = block_type(fmt); return in / b.block * b.bytes; }
  return -1;
}
// The bytes of group g (output rows 8g..8g+7) of a quantized matrix.
inline const uint8_t* group_data(const Matrix& m, int64_t g) { return m.data + g * IL * m.row_bytes; }

}  // namespace fugaku
