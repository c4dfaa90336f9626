// ggml's other block types on raw GGUF rows: see blocks.h.
#include "blocks.h"

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

// Each activation row quantized once for the type, then chunks of CH output rows × RB activation
// rows: per weight row, RB dots (the row, a few KiB, stays in L1 while the activation rows pass).
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
  ctx.pool.parallel_for(oChunks * rChunks, chunk);
}

}  // namespace fugaku
