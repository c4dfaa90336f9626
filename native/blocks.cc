// ggml's other block types on raw GGUF rows: see blocks.h.
#include "blocks.h"

#include <cstdint>
#include <utility>
#include <vector>

#include "ggml_blocks.h"
#include "ops.h"

namespace fugaku {

int64_t act_row_bytes(int32_t act, int64_t n) {
  switch (act) {
    case ACT_Q8_0: return n / 32 * int64_t(sizeof(ggml::block_q8_0));
    case ACT_Q8_1: return n / 32 * int64_t(sizeof(ggml::block_q8_1));
    default: return n / 256 * int64_t(sizeof(ggml::block_q8_K));
  }
}

namespace {

// ggml's nearest_int (ggml-quants.c): round to nearest, ties to even, by the 1.5·2^23 trick.
inline int nearest_int(float fval) {
  float val = fval + 12582912.f;
  int i; std::memcpy(&i, &val, sizeof(int));
  return (i & 0x007fffff) - 0x00400000;
}

// ggml's quantize_row_q8_K_ref (llama.cpp, MIT), float32 throughout.
void quantize_q8_K(const float* x, ggml::block_q8_K* y, int64_t k) {
  for (int64_t i = 0; i < k / 256; i++, x += 256) {
    float max = 0, amax = 0;
    for (int j = 0; j < 256; ++j) {
      const float ax = std::fabs(x[j]);
      if (ax > amax) { amax = ax; max = x[j]; }
    }
    if (amax == 0.0f) {
      y[i].d = 0;
      std::memset(y[i].qs, 0, 256);
      std::memset(y[i].bsums, 0, sizeof(y[i].bsums));
      continue;
    }
    const float iscale = -127.f / max;
    for (int j = 0; j < 256; ++j) y[i].qs[j] = int8_t(std::min(127, nearest_int(iscale * x[j])));
    for (int j = 0; j < 16; ++j) {
      int sum = 0;
      for (int ii = 0; ii < 16; ++ii) sum += y[i].qs[j * 16 + ii];
      y[i].bsums[j] = int16_t(sum);
    }
    y[i].d = 1 / iscale;
  }
}

}  // namespace

void quantize_act_row(const Kernels& k, int32_t act, const float* x, int64_t n, uint8_t* dst) {
  if (act == ACT_Q8_K) { quantize_q8_K(x, reinterpret_cast<ggml::block_q8_K*>(dst), n); return; }
  for (int64_t b = 0; b < n / 32; b++) {
    float d; int32_t sum;
    if (act == ACT_Q8_0) {
      auto* y = reinterpret_cast<ggml::block_q8_0*>(dst) + b;
      k.quantize_acts(x + b * 32, 32, y->qs, &d, &sum);
      y->d = d;
    } else {
      auto* y = reinterpret_cast<ggml::block_q8_1*>(dst) + b;
      k.quantize_acts(x + b * 32, 32, y->qs, &d, &sum);
      y->d = d;
      y->s = d * float(sum);
    }
  }
}

Matrix* load_blocks(Context& ctx, int32_t fmt, const uint8_t* blocks, int64_t in, int64_t outd) {
  const int64_t rb = row_bytes_of(fmt, in);
  auto* m = new Matrix{fmt, in, outd, rb, nullptr, size_t(rb) * size_t(outd)};
  m->data = alloc_weights(m->bytes);
  if (!m->data) { delete m; return nullptr; }
  ctx.pool.parallel_for((outd + 255) / 256, [&](int64_t c) {
    const int64_t o0 = c * 256, o1 = std::min(outd, o0 + 256);
    std::memcpy(m->data + o0 * rb, blocks + o0 * rb, size_t((o1 - o0) * rb));
  });
  return m;
}

namespace {

// The tile paths (kernels with amx_blocks / amx_super, rows ≥ AMX_MIN_ROWS, formats with an
// unpacker). Activation rows go in tiles of 16 (zero rows past the last), each K-step of K values
// (the 32-blocks: a block; the super-block types: a quarter super-block) in VNNI order for a B tile:
// 4 consecutive values of each of the 16 rows side by side. With them, per row, each step's (or
// super-block's) scale xd and, where the weights have offsets, xd·Σq per block with an offset
// (Q8_1's stored s; Q8_K's bsums). Then groups of 16 weight rows, each unpacked once and multiplied
// with every tile, in chunks spread over the pool.
struct ActTiles {
  int64_t mt;                   // tiles of 16 rows
  std::vector<int8_t> xp;       // [tile][K-step][K/4][16 rows][4]
  std::vector<float> xd_, xs_;  // + 64 bytes, so that xd, xs can start 64-byte aligned
  float* xd;                    // [tile][scale][16 rows]
  float* xs;                    // [tile][offset block][16 rows]
};

float* aligned64(std::vector<float>& v) { return reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(v.data()) + 63) & ~uintptr_t(63)); }

// K-step size K; one xd per `per_scale` values, one xs per `per_sum` values (0: none).
ActTiles pack_acts(Context& ctx, int32_t act, const uint8_t* acts, int64_t arb, int64_t rows, int64_t in, int K, int per_scale, int per_sum) {
  ActTiles a;
  a.mt = (rows + AMX_ROWS - 1) / AMX_ROWS;
  const int64_t nk = in / K, nsc = in / per_scale, nsum = per_sum ? in / per_sum : 0;
  a.xp.resize(size_t(a.mt * AMX_ROWS * in));
  a.xd_.resize(size_t(a.mt * nsc * 16 + 16));
  a.xs_.resize(size_t(a.mt * nsum * 16 + 16));
  a.xd = aligned64(a.xd_);
  a.xs = aligned64(a.xs_);
  ctx.pool.parallel_for(a.mt, [&](int64_t t) {
    for (int r = 0; r < 16; r++) {
      const int64_t row = t * AMX_ROWS + r;
      const uint8_t* ar = row < rows ? acts + row * arb : nullptr;
      for (int64_t j = 0; j < nk; j++) {
        int8_t* dst = a.xp.data() + (t * nk + j) * 16 * K + r * 4;
        const int64_t e = j * K;
        const int8_t* q = nullptr;
        if (ar && act == ACT_Q8_K) q = reinterpret_cast<const ggml::block_q8_K*>(ar)[e / 256].qs + e % 256;
        else if (ar && act == ACT_Q8_1) q = reinterpret_cast<const ggml::block_q8_1*>(ar)[e / 32].qs;
        else if (ar) q = reinterpret_cast<const ggml::block_q8_0*>(ar)[e / 32].qs;
        for (int kk = 0; kk < K / 4; kk++) {
          if (q) std::memcpy(dst + kk * 64, q + 4 * kk, 4);
          else std::memset(dst + kk * 64, 0, 4);
        }
      }
      for (int64_t j = 0; j < nsc; j++) {
        const int64_t e = j * per_scale;
        float d = 0;
        if (ar && act == ACT_Q8_K) d = reinterpret_cast<const ggml::block_q8_K*>(ar)[e / 256].d;
        else if (ar && act == ACT_Q8_1) d = reinterpret_cast<const ggml::block_q8_1*>(ar)[e / 32].d;
        else if (ar) d = reinterpret_cast<const ggml::block_q8_0*>(ar)[e / 32].d;
        a.xd[(t * nsc + j) * 16 + r] = d;
      }
      for (int64_t j = 0; j < nsum; j++) {
        const int64_t e = j * per_sum;
        float sx = 0;
        if (ar && act == ACT_Q8_K) {
          const auto& b = reinterpret_cast<const ggml::block_q8_K*>(ar)[e / 256];
          int sum = 0;
          for (int64_t i = e % 256 / 16; i < (e % 256 + per_sum) / 16; i++) sum += b.bsums[i];
          sx = b.d * float(sum);
        } else if (ar && act == ACT_Q8_1) {
          sx = reinterpret_cast<const ggml::block_q8_1*>(ar)[e / 32].s;
        } else if (ar) {
          const auto& b = reinterpret_cast<const ggml::block_q8_0*>(ar)[e / 32];
          int sum = 0;
          for (int i = 0; i < 32; i++) sum += b.qs[i];
          sx = b.d * float(sum);
        }
        a.xs[(t * nsum + j) * 16 + r] = sx;
      }
    }
  });
  return a;
}

// Groups of 16 weight rows in chunks over the pool: fn(o0, valid, res) computes res[(t·16 + o)·16 + r]
// for rows o0 .. o0 + valid − 1 (make() gives it once per chunk, with the chunk's own buffers); then out (+ bias).
template <typename Make>
void tile_groups(Context& ctx, const Matrix& m, int64_t rows, int64_t mt, const float* bias, float* out, Make make) {
  const int64_t outd = m.out_dim, G = (outd + 15) / 16;
  const int64_t chunks = std::min<int64_t>(G, 4 * int64_t(ctx.pool.size()));
  ctx.pool.parallel_for(chunks, [&](int64_t c) {
    auto group = make();
    std::vector<float> res(size_t(mt * 256));
    for (int64_t g = G * c / chunks; g < G * (c + 1) / chunks; g++) {
      const int64_t o0 = g * 16, valid = std::min<int64_t>(16, outd - o0);
      group(o0, valid, res.data());
      for (int64_t r = 0; r < rows; r++) {
        const float* rr = res.data() + (r / 16) * 256 + r % 16;
        for (int64_t o = 0; o < valid; o++) out[r * outd + o0 + o] = rr[o * 16] + (bias ? bias[o0 + o] : 0.0f);
      }
    }
  });
}

// The unpacked weight rows' stride: `in` plus a cache line, so that the 16 rows of a tile load do not
// all fall into the same L1 set when `in` is a multiple of 4096 (a tile load then took several times longer).
inline int64_t tile_ld(int64_t in) { return in + 64; }

void matmul_tiles32(Context& ctx, const Matrix& m, const uint8_t* acts, int64_t arb, int64_t rows, const float* bias, float* out) {
  const int64_t in = m.in_dim, nb = in / 32, ld = tile_ld(in);
  const bool mins = unpack_has_min(m.format);
  const ActTiles a = pack_acts(ctx, block_type(m.format).act, acts, arb, rows, in, 32, 32, mins ? 32 : 0);
  tile_groups(ctx, m, rows, a.mt, bias, out, [&]() {
    struct Buf { std::vector<int8_t> wq; std::vector<float> dw, mw, dwt, mwt; };  // dwt[j·16 + o]
    Buf b;
    b.wq.resize(size_t(16 * ld));
    b.dw.resize(size_t(nb)); b.mw.resize(size_t(nb));
    b.dwt.resize(size_t(16 * nb)); b.mwt.resize(size_t(16 * nb));
    return [&, b = std::move(b)](int64_t o0, int64_t valid, float* res) mutable {
      for (int64_t o = 0; o < 16; o++) {
        if (o < valid) ctx.k.unpack_block(m.format, m.data + (o0 + o) * m.row_bytes, in, b.wq.data() + o * ld, b.dw.data(), b.mw.data());
        else {
          std::memset(b.wq.data() + o * ld, 0, size_t(in));
          std::fill(b.dw.begin(), b.dw.end(), 0.0f);
          std::fill(b.mw.begin(), b.mw.end(), 0.0f);
        }
        for (int64_t j = 0; j < nb; j++) { b.dwt[j * 16 + o] = b.dw[j]; b.mwt[j * 16 + o] = b.mw[j]; }
      }
      ctx.k.amx_blocks(mins, b.wq.data(), ld, in, b.dwt.data(), b.mwt.data(), a.xp.data(), a.xd, a.xs, a.mt, res);
    };
  });
}

void matmul_super(Context& ctx, const Matrix& m, const uint8_t* acts, int64_t arb, int64_t rows, const float* bias, float* out) {
  const int64_t in = m.in_dim, nsb = in / 256, ld = tile_ld(in);
  const int MS = unpack_mins(m.format);
  const ActTiles a = pack_acts(ctx, ACT_Q8_K, acts, arb, rows, in, 64, 256, MS ? 256 / MS : 0);
  tile_groups(ctx, m, rows, a.mt, bias, out, [&]() {
    struct Buf { std::vector<int8_t> lo, hi; std::vector<float> d, mw, dt, mwt; };  // dt[b·16 + o], mwt[(b·MS + j)·16 + o]
    Buf b;
    b.lo.resize(size_t(16 * ld)); b.hi.resize(size_t(16 * ld));
    b.d.resize(size_t(nsb)); b.mw.resize(size_t(nsb * MS));
    b.dt.resize(size_t(16 * nsb)); b.mwt.resize(size_t(16 * nsb * MS));
    return [&, b = std::move(b)](int64_t o0, int64_t valid, float* res) mutable {
      for (int64_t o = 0; o < 16; o++) {
        if (o < valid) ctx.k.unpack_super(m.format, m.data + (o0 + o) * m.row_bytes, in, b.lo.data() + o * ld, b.hi.data() + o * ld, b.d.data(), b.mw.data());
        else {
          std::memset(b.lo.data() + o * ld, 0, size_t(in));
          std::memset(b.hi.data() + o * ld, 0, size_t(in));
          std::fill(b.d.begin(), b.d.end(), 0.0f);
          std::fill(b.mw.begin(), b.mw.end(), 0.0f);
        }
        for (int64_t i = 0; i < nsb; i++) b.dt[i * 16 + o] = b.d[i];
        for (int64_t i = 0; i < nsb * MS; i++) b.mwt[i * 16 + o] = b.mw[i];
      }
      ctx.k.amx_super(MS, b.lo.data(), b.hi.data(), ld, in, b.dt.data(), b.mwt.data(), a.xp.data(), a.xd, a.xs, a.mt, res);
    };
  });
}

}  // namespace

// Each activation row quantized once for the type, then chunks of CH output rows × RB activation
// rows: per weight row, RB dots (the row, a few KiB, stays in L1 while the activation rows pass).
// With tile kernels and enough rows, the tile path above instead.
void matmul_blocks(Context& ctx, const Matrix& m, const float* x, int64_t rows, const float* bias, float* out) {
  const Kernels& k = ctx.k;
  const int64_t in = m.in_dim, outd = m.out_dim;
  const int32_t act = block_type(m.format).act;
  const int64_t arb = act_row_bytes(act, in);
  std::vector<uint64_t> buf(size_t((rows * arb + 7) / 8));  // 8-byte aligned activation blocks
  uint8_t* acts = reinterpret_cast<uint8_t*>(buf.data());
  auto qrow = [&](int64_t r) { quantize_act_row(k, act, x + r * in, in, acts + r * arb); };
  if (rows < 4) { for (int64_t r = 0; r < rows; r++) qrow(r); }
  else ctx.pool.parallel_for(rows, qrow);
  if (rows >= AMX_MIN_ROWS && k.amx_super && unpack_super(m.format)) { matmul_super(ctx, m, acts, arb, rows, bias, out); return; }
  if (rows >= AMX_MIN_ROWS && k.amx_blocks && unpack_sub(m.format)) { matmul_tiles32(ctx, m, acts, arb, rows, bias, out); return; }
  const VecDotFn dot = k.vec_dot[m.format];
  const int64_t CH = 16, RB = 64;
  const int64_t oChunks = (outd + CH - 1) / CH, rChunks = (rows + RB - 1) / RB;
  auto chunk = [&](int64_t c) {
    const int64_t r0 = (c / oChunks) * RB, r1 = std::min(rows, r0 + RB);
    const int64_t oa = (c % oChunks) * CH, ob = std::min(outd, oa + CH);
    for (int64_t o = oa; o < ob; o++) {
      const uint8_t* w = m.data + o * m.row_bytes;
      const float b = bias ? bias[o] : 0.0f;
      for (int64_t r = r0; r < r1; r++) {
        float s;
        dot(int(in), &s, 0, w, 0, acts + r * arb, 0, 1);
        out[r * outd + o] = s + b;
      }
    }
  };
  if (int64_t(m.bytes) * rows < (int64_t(1) << 18)) { for (int64_t c = 0; c < oChunks * rChunks; c++) chunk(c); return; }
  if (rChunks == 1) {
    // Decode (one chunk of activation rows): each thread takes one contiguous range of weight rows,
    // so that its reads are one long stream and no chunk counter is shared. Measured on a 2-core
    // Xeon VM, 2 threads, weights streamed from DRAM: Q4_K 18 → 23, Q6_K 20 → 27 GB/s against
    // 16-row chunks handed out one at a time (22-24 with 256 KiB-1 MiB runs of chunks).
    ctx.pool.run([&](int ith, int nth) {
      int64_t a, b;
      split(oChunks, ith, nth, a, b);
      for (int64_t c = a; c < b; c++) chunk(c);
    });
    return;
  }
  ctx.pool.parallel_for(oChunks * rChunks, chunk);
}

}  // namespace fugaku
