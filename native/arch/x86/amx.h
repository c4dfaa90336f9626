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

// ---------------------------------------------------------------- ggml's 32-blocks (prefill)
// The other way round from pair_tiles: the weights are the A operand and the activations the B one.
// A weight tile is 16 rows × 32 bytes of int8 values unpacked once per product (blocks_unpack.cc), read
// in place with the unpacked rows' stride, so no weight is reordered; the activations are put in VNNI
// order once per product (matmul_blocks), and every weight group reuses them. C[o][r] = Σ q·x over
// one sub-block; one vector per weight row o holds its 16 activation rows, scaled in float by the
// sub-block's dw·xd and offset by mw·xs (xs = xd·Σx), and summed over the sub-blocks in order.
//
// Tiles 0/1: A (16 × S bytes, S = 32), 2/3: B (S/4 rows × 64 bytes), 4/5: C; consecutive blocks
// alternate between the two copies, as in pair_tiles.
inline TileConfig block_tile_config(int S) {
  TileConfig c;
  std::memset(&c, 0, sizeof c);
  c.palette_id = 1;
  for (int t = 0; t < 2; t++) {
    c.rows[t] = kM; c.colsb[t] = uint16_t(S);
    c.rows[2 + t] = uint8_t(S / 4); c.colsb[2 + t] = 64;
    c.rows[4 + t] = kM; c.colsb[4 + t] = 64;
  }
  return c;
}

// One sub-block's C (cp: 16 weight rows × 16 activation rows, int32) into the accumulators:
// acc[o] += dw[o]·xd·C[o] (+ mw[o]·xs).
template <bool kMin>
FUGAKU_AMX_FN inline void block_scale(__m512* acc, const int32_t* cp, const float* dj, const float* mj, const float* xd, const float* xs) {
  const __m512 xdv = _mm512_load_ps(xd);
  const __m512 xsv = kMin ? _mm512_load_ps(xs) : _mm512_setzero_ps();
  for (int o = 0; o < kM; o++) {
    const __m512 sc = _mm512_mul_ps(_mm512_set1_ps(dj[o]), xdv);
    acc[o] = _mm512_fmadd_ps(sc, _mm512_cvtepi32_ps(_mm512_load_si512(cp + 16 * o)), acc[o]);
    if (kMin) acc[o] = _mm512_fmadd_ps(_mm512_set1_ps(mj[o]), xsv, acc[o]);
  }
}

template <int S, bool kMin>
FUGAKU_AMX_FN void block_tiles(const int8_t* wq, int64_t ld, int64_t in, const float* dw, const float* mw, const int8_t* xp, const float* xd,
                               const float* xs, int64_t mt, float* res) {
  const int64_t ns = in / S;
  const TileConfig cfg = block_tile_config(S);
  _tile_loadconfig(&cfg);
  alignas(64) int32_t c[2][kM * 16];
  for (int64_t t = 0; t < mt; t++) {
    __m512 acc[kM];
    for (int o = 0; o < kM; o++) acc[o] = _mm512_setzero_ps();
    const int8_t* xt = xp + t * ns * 16 * S;
    const float* xdt = xd + t * ns * 16;
    const float* xst = xs + t * ns * 16;
    // Sub-block j's tile products are issued before sub-block j − 1's scaling: the scaling reads C
    // from memory, and a load of what a tile store wrote waits for that store to retire, so taking
    // out the previous step's C leaves the tile unit busy in the meantime.
    for (int64_t j = 0; j < ns; j++) {
      if ((j & 1) == 0) {
        _tile_loadd(0, wq + j * S, ld);
        _tile_loadd(2, xt + j * 16 * S, 64);
        _tile_zero(4);
        _tile_dpbssd(4, 0, 2);
        _tile_stored(4, c[0], 64);
      } else {
        _tile_loadd(1, wq + j * S, ld);
        _tile_loadd(3, xt + j * 16 * S, 64);
        _tile_zero(5);
        _tile_dpbssd(5, 1, 3);
        _tile_stored(5, c[1], 64);
      }
      if (j > 0) block_scale<kMin>(acc, c[(j - 1) & 1], dw + (j - 1) * kM, mw + (j - 1) * kM, xdt + (j - 1) * 16, xst + (j - 1) * 16);
    }
    block_scale<kMin>(acc, c[(ns - 1) & 1], dw + (ns - 1) * kM, mw + (ns - 1) * kM, xdt + (ns - 1) * 16, xst + (ns - 1) * 16);
    for (int o = 0; o < kM; o++) _mm512_storeu_ps(res + (t * kM + o) * 16, acc[o]);
  }
  _tile_release();
}

// ---------------------------------------------------------------- ggml's super-block types (prefill)
// Q2_K … Q6_K and IQ4_XS (Q8_K activations, one scale per 256 activations): ggml's integer sum of a
// super-block, Σ_j sc_j·Σ q·x, is Σ (sc·q)·x, and each sc·q (|sc·q| ≤ 4096) is held as 128·hi + lo,
// two int8 values (blocks_unpack.cc). So a super-block is 4 K-steps of 64 with two products each
// (lo and hi, the same B tile), accumulated in the C tiles over the whole super-block; C is taken
// out once per 256 values instead of once per sub-block, and 128·C_hi + C_lo is ggml's exact
// integer. Then acc[o] += d_o·xd·sum + Σ_j mw_oj·xs_j (the mins: xs = xd·Σx of sub-block j).
//
// Tiles (all 16 rows × 64 bytes): 0/1 A (lo, hi), 2/3 B by K-step parity, 4,5 / 6,7 C (lo, hi) by
// super-block parity; super-block b's tile products are issued before b − 1's scaling.
inline TileConfig super_tile_config() {
  TileConfig c;
  std::memset(&c, 0, sizeof c);
  c.palette_id = 1;
  for (int t = 0; t < 8; t++) { c.rows[t] = kM; c.colsb[t] = 64; }
  return c;
}

#define FUGAKU_AMX_SUPER_STEP(B, CL, CH, s)                 \
  do {                                                      \
    _tile_loadd(0, lo + b * 256 + 64 * (s), ld);            \
    _tile_loadd(1, hi + b * 256 + 64 * (s), ld);            \
    _tile_loadd(B, xt + (b * 4 + (s)) * 1024, 64);          \
    _tile_dpbssd(CL, 0, B);                                 \
    _tile_dpbssd(CH, 1, B);                                 \
  } while (0)

// Super-block b's C (lo and hi: 16 weight rows × 16 activation rows) into the accumulators.
template <int MS>
FUGAKU_AMX_FN inline void super_scale(__m512* acc, const int32_t* cl, const int32_t* ch, const float* d, const float* mw, const float* xd,
                                      const float* xs) {
  const __m512 xdv = _mm512_load_ps(xd);
  for (int o = 0; o < kM; o++) {
    const __m512i sum = _mm512_add_epi32(_mm512_slli_epi32(_mm512_load_si512(ch + 16 * o), 7), _mm512_load_si512(cl + 16 * o));
    acc[o] = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_set1_ps(d[o]), xdv), _mm512_cvtepi32_ps(sum), acc[o]);
  }
  for (int j = 0; j < MS; j++) {
    const __m512 xsv = _mm512_load_ps(xs + 16 * j);
    for (int o = 0; o < kM; o++) acc[o] = _mm512_fmadd_ps(_mm512_set1_ps(mw[16 * j + o]), xsv, acc[o]);
  }
}

// super_scale with the accumulators in memory (acc[o·16 + r]).
template <int MS>
FUGAKU_AMX_FN inline void super_scale_mem(float* acc, const int32_t* cl, const int32_t* ch, const float* d, const float* mw, const float* xd,
                                          const float* xs) {
  __m512 a[kM];
  for (int o = 0; o < kM; o++) a[o] = _mm512_load_ps(acc + 16 * o);
  super_scale<MS>(a, cl, ch, d, mw, xd, xs);
  for (int o = 0; o < kM; o++) _mm512_store_ps(acc + 16 * o, a[o]);
}

// Two activation tiles at once (llama.cpp's 2-2-4 tile pattern): A 0/1 (lo, hi), B 2/3 (tiles t, t + 1),
// C 4–7 ((lo, hi) × (t, t + 1)), so each tile load serves two products.
template <int MS>
FUGAKU_AMX_FN void super_tiles_pair(const int8_t* lo, const int8_t* hi, int64_t ld, int64_t nsb, const float* d, const float* mw, const int8_t* x0,
                                    const int8_t* x1, const float* xd0, const float* xd1, const float* xs0, const float* xs1, float* res0, float* res1) {
  alignas(64) int32_t c[4][kM * 16];
  alignas(64) float acc[2][kM * 16];
  for (int i = 0; i < kM * 16; i += 16) { _mm512_store_ps(acc[0] + i, _mm512_setzero_ps()); _mm512_store_ps(acc[1] + i, _mm512_setzero_ps()); }
  for (int64_t b = 0; b < nsb; b++) {
    _tile_zero(4); _tile_zero(5); _tile_zero(6); _tile_zero(7);
    for (int s = 0; s < 4; s++) {
      _tile_loadd(0, lo + b * 256 + 64 * s, ld);
      _tile_loadd(2, x0 + (b * 4 + s) * 1024, 64);
      _tile_dpbssd(4, 0, 2);
      _tile_loadd(1, hi + b * 256 + 64 * s, ld);
      _tile_dpbssd(5, 1, 2);
      _tile_loadd(3, x1 + (b * 4 + s) * 1024, 64);
      _tile_dpbssd(6, 0, 3);
      _tile_dpbssd(7, 1, 3);
    }
    _tile_stored(4, c[0], 64); _tile_stored(5, c[1], 64); _tile_stored(6, c[2], 64); _tile_stored(7, c[3], 64);
    super_scale_mem<MS>(acc[0], c[0], c[1], d + b * 16, mw + b * MS * 16, xd0 + b * 16, xs0 + b * MS * 16);
    super_scale_mem<MS>(acc[1], c[2], c[3], d + b * 16, mw + b * MS * 16, xd1 + b * 16, xs1 + b * MS * 16);
  }
  for (int i = 0; i < kM * 16; i += 16) { _mm512_storeu_ps(res0 + i, _mm512_load_ps(acc[0] + i)); _mm512_storeu_ps(res1 + i, _mm512_load_ps(acc[1] + i)); }
}

// 16 weight rows (lo, hi: rows ld bytes apart; d: [super-block][16 rows]; mw: [super-block][MS][16
// rows]) × mt tiles of 16 activation rows (xp: tile t, super-block b, K-step s at ((t·nsb + b)·4 + s)
// KiB in VNNI order; xd: [t][b][16 rows]; xs: [t][b][MS][16 rows]) into res[(t·16 + o)·16 + r].
template <int MS>
FUGAKU_AMX_FN void super_tiles(const int8_t* lo, const int8_t* hi, int64_t ld, int64_t in, const float* d, const float* mw, const int8_t* xp,
                               const float* xd, const float* xs, int64_t mt, float* res) {
  const int64_t nsb = in / 256;
  const TileConfig cfg = super_tile_config();
  _tile_loadconfig(&cfg);
  alignas(64) int32_t c[2][2][kM * 16];  // [parity][lo, hi]
  int64_t t = 0;
  for (; t + 1 < mt; t += 2)
    super_tiles_pair<MS>(lo, hi, ld, nsb, d, mw, xp + t * nsb * 4096, xp + (t + 1) * nsb * 4096, xd + t * nsb * 16, xd + (t + 1) * nsb * 16,
                         xs + t * nsb * MS * 16, xs + (t + 1) * nsb * MS * 16, res + t * kM * 16, res + (t + 1) * kM * 16);
  for (; t < mt; t++) {
    __m512 acc[kM];
    for (int o = 0; o < kM; o++) acc[o] = _mm512_setzero_ps();
    const int8_t* xt = xp + t * nsb * 4096;
    const float* xdt = xd + t * nsb * 16;
    const float* xst = xs + t * nsb * MS * 16;
    for (int64_t b = 0; b < nsb; b++) {
      if ((b & 1) == 0) {
        _tile_zero(4); _tile_zero(5);
        FUGAKU_AMX_SUPER_STEP(2, 4, 5, 0); FUGAKU_AMX_SUPER_STEP(3, 4, 5, 1);
        FUGAKU_AMX_SUPER_STEP(2, 4, 5, 2); FUGAKU_AMX_SUPER_STEP(3, 4, 5, 3);
        _tile_stored(4, c[0][0], 64); _tile_stored(5, c[0][1], 64);
      } else {
        _tile_zero(6); _tile_zero(7);
        FUGAKU_AMX_SUPER_STEP(2, 6, 7, 0); FUGAKU_AMX_SUPER_STEP(3, 6, 7, 1);
        FUGAKU_AMX_SUPER_STEP(2, 6, 7, 2); FUGAKU_AMX_SUPER_STEP(3, 6, 7, 3);
        _tile_stored(6, c[1][0], 64); _tile_stored(7, c[1][1], 64);
      }
      if (b > 0) {
        const int64_t k = b - 1;
        super_scale<MS>(acc, c[k & 1][0], c[k & 1][1], d + k * 16, mw + k * MS * 16, xdt + k * 16, xst + k * MS * 16);
      }
    }
    const int64_t k = nsb - 1;
    super_scale<MS>(acc, c[k & 1][0], c[k & 1][1], d + k * 16, mw + k * MS * 16, xdt + k * 16, xst + k * MS * 16);
    for (int o = 0; o < kM; o++) _mm512_storeu_ps(res + (t * kM + o) * 16, acc[o]);
  }
  _tile_release();
}

#undef FUGAKU_AMX_SUPER_STEP

}  // namespace amx
