// The portable kernel set (plain C++ that any compiler vectorizes as it can; ggml-cpu's generic
// kernels): the `portable` level's table, and the entries the SIMD sets do not replace (cpu.cc's
// make_kernels starts every table from this one). They are the native side's own specification: the
// SIMD kernels compute the same sums (test/backend-ops.test.ts checks every set against the TypeScript
// reference backend; scripts/op-hash.mjs hashes every set's outputs).
#include <algorithm>
#include <cmath>
#include <cstring>

#include "../common.h"
#include "../kernels.h"
#include "../quant.h"
#include "../blocks.h"

namespace fugaku {
namespace {

// ---------------------------------------------------------------- portable dot products
// NR = number of activation rows handled per weight row (register blocking; the weight row is read once).
template <int NR>
void dot_float_portable(const Matrix& m, int64_t o, const float* const* xs, float* res, const float* f16t) {
  const int64_t n = m.in_dim;
  const uint8_t* row = m.data + o * m.row_bytes;
  double acc[NR] = {0};
  float tmp[256];
  for (int64_t i0 = 0; i0 < n; i0 += 256) {
    int64_t c = std::min<int64_t>(256, n - i0);
    for (int64_t i = 0; i < c; i++) {
      if (m.format == F32) tmp[i] = reinterpret_cast<const float*>(row)[i0 + i];
      else if (m.format == BF16) tmp[i] = bf16_to_f32(reinterpret_cast<const uint16_t*>(row)[i0 + i]);
      else tmp[i] = f16t[reinterpret_cast<const uint16_t*>(row)[i0 + i]];
    }
    for (int r = 0; r < NR; r++) {
      float s = 0;
      for (int64_t i = 0; i < c; i++) s += tmp[i] * xs[r][i0 + i];
      acc[r] += s;
    }
  }
  for (int r = 0; r < NR; r++) res[r] = float(acc[r]);
}

// res[t·8 + r] = row (IL·g + r) · x_t for n ≤ 4 activation rows (quantized to xq, xd). Each block of
// the group is unpacked to 8 rows of 32 contiguous int8 weights, then every activation row takes plain
// 32-long integer dot products, which compilers vectorize (SSE2, NEON); unpacking is shared by n rows.
template <int n>
void group_dot_portable(const Matrix& m, int64_t g, const int8_t* const* xq, const float* const* xd, const float* f16t, float* res) {
  const int64_t bb = block_bytes(m.format), nb = m.in_dim / QK;
  const uint8_t* base = group_data(m, g);
  float acc[n][IL] = {};
  int8_t w[IL][QK];
  float dw[IL];
  for (int64_t k = 0; k < nb; k++) {
    const uint8_t* p = base + k * IL * bb;
    for (int r = 0; r < IL; r++) {
      uint16_t dh; std::memcpy(&dh, p + 2 * r, 2);
      dw[r] = f16t[dh];
    }
    for (int r = 0; r < IL; r++) {
      if (m.format == Q8_0) {
        for (int c = 0; c < 8; c++) std::memcpy(&w[r][4 * c], p + 16 + 32 * c + 4 * r, 4);
      } else {
        for (int c = 0; c < 4; c++)
          for (int j = 0; j < 4; j++) {
            const uint8_t b = p[16 + 32 * c + 4 * r + j];
            w[r][4 * c + j] = int8_t((b & 15) - 8);
            w[r][16 + 4 * c + j] = int8_t((b >> 4) - 8);
          }
      }
    }
    for (int t = 0; t < n; t++) {
      const int8_t* x = xq[t] + k * QK;
      for (int r = 0; r < IL; r++) {
        int32_t s = 0;
        for (int j = 0; j < QK; j++) s += int32_t(w[r][j]) * x[j];
        acc[t][r] += float(s) * dw[r] * xd[t][k];
      }
    }
  }
  for (int t = 0; t < n; t++)
    for (int r = 0; r < IL; r++) res[t * IL + r] = acc[t][r];
}

template <int R>
void dot_float(const Matrix& m, int64_t o, const float* const* xs, float* res) { dot_float_portable<R>(m, o, xs, res, f16_table()); }
template <int N>
void group(const Matrix& m, int64_t g, const int8_t* const* xq, const float* const* xd, const int32_t* const*, float* res) {
  group_dot_portable<N>(m, g, xq, xd, f16_table(), res);
}

void to_f16(const float* src, uint16_t* dst, int64_t n) {
  for (int64_t i = 0; i < n; i++) dst[i] = f32_to_f16(src[i]);
}

// ---------------------------------------------------------------- attention
// Key/value rows in the cache: float32 or f16 bits (t: f16_table()).
inline float kv_value(const float*, float v) { return v; }
inline float kv_value(const float* t, uint16_t h) { return t[h]; }

template <typename KV>
float dot_kv(const float* t, const float* a, const KV* b, int64_t n) {
  float s = 0;
  for (int64_t i = 0; i < n; i++) s += a[i] * kv_value(t, b[i]);
  return s;
}
template <typename KV>
void scores(const float* q, const KV* k, int64_t width, int64_t n, int64_t hd, float* out) {
  const float* t = f16_table();
  for (int64_t j = 0; j < n; j++) out[j] = dot_kv(t, q, k + j * width, hd);
}
template <typename KV>
void scores_row(const float* q, const KV* row, int64_t nHead, int64_t hd, float scale, float* out, int64_t stride) {
  const float* t = f16_table();
  for (int64_t h = 0; h < nHead; h++) out[h * stride] = dot_kv(t, q + h * hd, row + h * hd, hd) * scale;
}
template <typename KV>
void axpy_kv(const float* t, float* y, float a, const KV* x, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] += a * kv_value(t, x[i]);
}
template <typename KV>
void axpy(float* y, float a, const KV* x, int64_t n) { axpy_kv(f16_table(), y, a, x, n); }
template <typename KV>
void axpy4(float* y, const float* w, const KV* x0, const KV* x1, const KV* x2, const KV* x3, int64_t n) {
  const float* t = f16_table();
  const KV* x[4] = {x0, x1, x2, x3};
  for (int r = 0; r < 4; r++)
    if (w[r] != 0.0f) axpy_kv(t, y, w[r], x[r], n);
}
template <typename KV>
void accumulate(float* acc, const float* p, int64_t pstride, const KV* v, int64_t width, int64_t m, int64_t nHead, int64_t hd) {
  accumulate_rows<KV>(axpy4<KV>, axpy<KV>, acc, p, pstride, v, width, m, nHead, hd);
}
template <typename KV>
void weighted_sum(const float* p, int64_t n, const KV* v, int64_t width, int64_t hd, float* out) {
  const float* t = f16_table();
  std::fill(out, out + hd, 0.0f);
  for (int64_t j = 0; j < n; j++) {
    if (p[j] != 0.0f) axpy_kv(t, out, p[j], v + j * width, hd);
  }
}

double exp_sum(float* s, int64_t n, float max) {
  double sum = 0;
  for (int64_t j = 0; j < n; j++) {
    const float e = s[j] == -INFINITY ? 0.0f : std::exp(s[j] - max);
    s[j] = e;
    sum += e;
  }
  return sum;
}
float scale_max(float* s, int64_t n, float scale) {
  float max = -INFINITY;
  for (int64_t j = 0; j < n; j++) { s[j] *= scale; max = std::max(max, s[j]); }
  return max;
}

// ---------------------------------------------------------------- LayerNorm, add, read probe
// One row: mean and variance summed in double (as the reference), output in float.
void layer_norm_row(const float* xr, int64_t dim, const float* g, const float* b, float eps, float* out) {
  double mean = 0, var = 0;
  for (int64_t i = 0; i < dim; i++) mean += xr[i];
  mean /= double(dim);
  for (int64_t i = 0; i < dim; i++) { double d = xr[i] - mean; var += d * d; }
  const float inv = float(1.0 / std::sqrt(var / double(dim) + eps));
  const float m = float(mean);
  for (int64_t i = 0; i < dim; i++) out[i] = (xr[i] - m) * inv * g[i] + b[i];
}
void add(float* a, const float* b, int64_t n) {
  for (int64_t i = 0; i < n; i++) a[i] += b[i];
}
uint64_t read_sum(const uint64_t* a, int64_t n) {
  uint64_t s = 0;
  for (int64_t i = 0; i < n; i++) s += a[i];
  return s;
}

template <typename KV>
KvKernels<KV> kv_kernels() {
  return {scores<KV>, scores_row<KV>, axpy<KV>, axpy4<KV>, accumulate<KV>, weighted_sum<KV>, nullptr, nullptr};
}

}  // namespace

namespace portable {
void activation(int32_t kind, float* x, int64_t a, int64_t b) {
  for (int64_t i = a; i < b; i++) {
    const float v = x[i];
    switch (kind) {
      case GELU: x[i] = 0.5f * v * (1.0f + std::erf(v * 0.70710678118654752f)); break;
      case GELU_TANH: x[i] = 0.5f * v * (1.0f + std::tanh(0.79788456080286536f * (v + 0.044715f * v * v * v))); break;
      case GELU_FAST: x[i] = 0.5f * v * (1.0f + std::tanh(v * 0.7978845608f * (1.0f + 0.044715f * v * v))); break;
      case QUICK_GELU: x[i] = v / (1.0f + std::exp(-1.702f * v)); break;
      case RELU: x[i] = v > 0 ? v : 0.0f; break;
      case SILU: x[i] = v / (1.0f + std::exp(-v)); break;
    }
  }
}
}  // namespace portable

Kernels portable_kernels() {
  Kernels k{};
  fill_rows<NR>(k.dot_float, [](auto R) -> DotFloatFn { return dot_float<decltype(R)::value>; });
  k.dot2_float = nullptr;
  fill_rows<NR>(k.group, [](auto N) -> GroupFn { return group<decltype(N)::value>; });
  k.amx_blocks = nullptr;
  k.amx_super = nullptr;
  k.unpack_block = unpack_block_row;
  k.unpack_super = unpack_super_row;
  k.amx_chunk = nullptr;  // k.pair stays all null
  k.q8_sums = false;
  k.quantize_acts = quantize_acts;
  fill_blocks_portable(k);
  k.to_f16 = to_f16;
  k.quantize_q8_0 = quantize_q8_0;
  k.quantize_q4_0 = quantize_q4_0;
  k.kv_f32 = kv_kernels<float>();
  k.kv_f16 = kv_kernels<uint16_t>();
  k.exp_sum = exp_sum;
  k.scale_max = scale_max;
  k.layer_norm_row = layer_norm_row;
  k.add = add;
  k.activation = portable::activation;
  k.read_sum = read_sum;
  return k;
}

}  // namespace fugaku
