// AMX kernels of the native backend (included by arch/x86/kernels.cc after avx512.h; the CPU must report AMX-TILE
// and AMX-INT8 on top of the AVX-512 set, and Linux must have granted this process the tile state,
// which Context checks before choosing them). They serve the quantized matrix-matrix products of
// prefill only; a one-row product (decode) streams its weights with the AVX-512 kernels, where
// memory bandwidth, not arithmetic, is the limit.
//
// What a tile instruction computes: tdpbssd C += A·B for A = 16 activation rows × one 32-element block
// (int8), B = the same block of 16 output rows in the "VNNI" order (tile row kk holds elements
// 4kk..4kk+3 of each output row, 4 bytes per row), C = 16 × 16 int32 sums: 8192 multiply-adds in one
// instruction, where AVX-512 VNNI's vpdpbusd does 64. Q8_0 and Q4_0 scale every 32-element block of
// both operands, so C is taken out after each block and scaled with AVX-512 into float accumulators,
// exactly as avx512::pair_q*_0 does it: the same integer block sums (tdpbssd sums signed × signed, so
// Q8_0 needs no +128 offset, and Q4_0's nibbles are unpacked to q − 8), then the same
// fma(d_w·d_x, float(sum), acc) in the same block order, so the results are bit-identical to the
// AVX-512 (and AVX2) kernels'. This is llama.cpp's AMX design for these formats too (ggml-cpu/amx).
//
// The interleaved layout (native/common.h) already stores each group of 8 rows in VNNI order; a B tile wants
// 16 rows (64-byte tile rows), so each block of a group pair is copied (Q8_0) or unpacked (Q4_0) into
// a 512-byte buffer first, once per block for all the activation tiles of a call.
//
// Tiles are not renamed by the hardware, so A, B and C come in two copies each and consecutive steps
// alternate between them: the next step's loads and products need not wait for this step's store.
//
// Measured on a Sapphire Rapids Xeon (docs/BENCHMARKS.md): the 64-row product runs 1.4–1.6× the
// AVX-512 VNNI kernels'. A variant with 8-output B tiles loaded straight from the interleaved weights
// (no copy) and the scaling of block k − 1 deferred past block k's tile products (llama.cpp's order)
// was slower (0.5–0.9× this one), so this simpler form stays.
//
// Tile numbers are literal in every intrinsic call: GCC's intrinsics paste them into the assembler
// text. scripts/check-avx512-emulated.sh runs this file on a scalar model of the tile instructions
// (native/check/avx512-emulated.cc); test/backend-ops.test.ts checks it for real where the CPU has AMX.
#pragma once

#ifndef FUGAKU_AMX_FN
#define FUGAKU_AMX_FN __attribute__((target("amx-tile,amx-int8,avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")))
#endif

namespace amx {

constexpr int kM = 16;        // activation rows per tile
constexpr int kMaxTiles = 4;  // activation tiles per call (matmul.cc's chunks hold 64 rows)

// The 64-byte operand of ldtilecfg (palette 1).
struct alignas(64) TileConfig {
  uint8_t palette_id;
  uint8_t start_row;
  uint8_t reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
};
// Tiles 0/1: A, 16 rows × 32 bytes; 2/3: B, 8 rows × 64 bytes; 4/5: C, 16 rows × 16 int32.
inline TileConfig tile_config() {
  TileConfig c;
  std::memset(&c, 0, sizeof c);
  c.palette_id = 1;
  for (int t = 0; t < 2; t++) {
    c.rows[t] = kM; c.colsb[t] = 32;
    c.rows[2 + t] = 8; c.colsb[2 + t] = 64;
    c.rows[4 + t] = kM; c.colsb[4 + t] = 64;
  }
  return c;
}

// Per-thread buffers of one call (on the caller's stack).
struct Scratch {
  alignas(64) int8_t b[2][512];          // B tiles in VNNI order, by block parity
  alignas(64) int32_t c[2][kM * 16];     // C tiles taken out, by step parity
  alignas(64) float acc[kMaxTiles * kM * 16];  // acc[(t·16 + m)·16 + r]
};

// Block k of the group pair (pa: output rows 0..7, pb: rows 8..15) as a B tile: 8 rows of 64 bytes,
// row kk = elements 4kk..4kk+3 of the 16 rows. A Q8_0 chunk c is already row c of group a's half; a
// Q4_0 chunk c holds rows c (low nibbles) and 4 + c (high nibbles), unpacked to q − 8.
template <bool Q4>
FUGAKU_AMX_FN inline void pack_b(const uint8_t* pa, const uint8_t* pb, int8_t* dst) {
  if constexpr (Q4) {
    const __m512i mask = _mm512_set1_epi8(0x0f), k8 = _mm512_set1_epi8(8);
    for (int c = 0; c < 4; c++) {
      const __m512i q = avx512::load_pair(pa + 16 + 32 * c, pb + 16 + 32 * c);
      _mm512_store_si512(dst + 64 * c, _mm512_sub_epi8(_mm512_and_si512(q, mask), k8));
      _mm512_store_si512(dst + 64 * (4 + c), _mm512_sub_epi8(_mm512_and_si512(_mm512_srli_epi16(q, 4), mask), k8));
    }
  } else {
    for (int c = 0; c < 8; c++) _mm512_store_si512(dst + 64 * c, avx512::load_pair(pa + 16 + 32 * c, pb + 16 + 32 * c));
  }
}

// One step: A tile from `a` (16 rows, lda bytes apart) times B tile BT into C tile CT, stored to `c`.
#define FUGAKU_AMX_STEP(AT, BT, CT) \
  do {                              \
    _tile_loadd(AT, a, lda);        \
    _tile_zero(CT);                 \
    _tile_dpbssd(CT, AT, BT);       \
    _tile_stored(CT, c, 64);        \
  } while (0)

// Two interleaved groups (a, b: 8 output rows each) × mt ≤ kMaxTiles tiles of 16 activation rows.
// q: the first row's int8 values, rows lda bytes apart; d: its block scales, rows nb floats apart
// (rows up to 16·mt must be readable; padding rows may be zero). Results in s.acc[(t·16 + m)·16 + r]
// (r < 8: group a's rows, r ≥ 8: group b's), the values avx512::pair_q*_0 computes, bit for bit.
// The caller has loaded tile_config() on this thread.
template <bool Q4>
FUGAKU_AMX_FN void pair_tiles(const uint8_t* ga, const uint8_t* gb, int64_t nb, const int8_t* q, int64_t lda, const float* d,
                              int mt, Scratch& s) {
  constexpr int64_t BB = 8 * (Q4 ? 18 : 34);  // bytes of one block of a group
  for (int i = 0; i < mt * kM * 16; i += 16) _mm512_store_ps(s.acc + i, _mm512_setzero_ps());
  int64_t step = 0;
  for (int64_t k = 0; k < nb; k++) {
    const uint8_t* pa = ga + k * BB;
    const uint8_t* pb = gb + k * BB;
    const int kb = int(k & 1);
    pack_b<Q4>(pa, pb, s.b[kb]);
    if (kb) _tile_loadd(3, s.b[1], 64);
    else _tile_loadd(2, s.b[0], 64);
    const __m512 dw = avx512::scales_pair(pa, pb);
    for (int t = 0; t < mt; t++, step++) {
      const int p = int(step & 1);
      const int8_t* a = q + t * kM * lda + k * 32;
      int32_t* c = s.c[p];
      switch (p * 2 + kb) {
        case 0: FUGAKU_AMX_STEP(0, 2, 4); break;
        case 1: FUGAKU_AMX_STEP(0, 3, 4); break;
        case 2: FUGAKU_AMX_STEP(1, 2, 5); break;
        default: FUGAKU_AMX_STEP(1, 3, 5); break;
      }
      const float* dt = d + t * kM * nb + k;
      float* acc = s.acc + t * kM * 16;
      for (int m = 0; m < kM; m++) {
        const __m512 scale = _mm512_mul_ps(dw, _mm512_set1_ps(dt[m * nb]));
        const __m512 sum = _mm512_cvtepi32_ps(_mm512_load_si512(c + 16 * m));
        _mm512_store_ps(acc + 16 * m, _mm512_fmadd_ps(scale, sum, _mm512_load_ps(acc + 16 * m)));
      }
    }
  }
}

#undef FUGAKU_AMX_STEP

}  // namespace amx
