// Quantization and the interleaved repack: see quant.h.
#include "quant.h"

#include "blocks.h"

#include <vector>

namespace fugaku {

const float* f16_table() {
  static const std::vector<float> table = [] {
    std::vector<float> t(65536);
    for (int i = 0; i < 65536; i++) t[i] = f16_to_f32(uint16_t(i));
    return t;
  }();
  return table.data();
}

void pack_group(int32_t fmt, const uint8_t* rows, int64_t n, int64_t nb, uint8_t* dst) {
  const int64_t bb = block_bytes(fmt), chunks = (bb - 2) / 4;
  for (int64_t k = 0; k < nb; k++) {
    uint8_t* p = dst + k * IL * bb;
    std::memset(p, 0, size_t(IL * bb));
    for (int64_t r = 0; r < n; r++) {
      const uint8_t* b = rows + (r * nb + k) * bb;
      std::memcpy(p + 2 * r, b, 2);
      for (int64_t c = 0; c < chunks; c++) std::memcpy(p + 16 + 32 * c + 4 * r, b + 2 + 4 * c, 4);
    }
  }
}

// ---------------------------------------------------------------- quantization (the spec: src/tensor/quant.ts)
void quantize_q8_0(const float* x, BlockQ8* y, int64_t n) {
  for (int64_t b = 0; b < n / QK; b++) {
    float amax = 0;
    for (int j = 0; j < QK; j++) amax = std::max(amax, std::fabs(x[b * QK + j]));
    float d = amax / 127.0f, id = d != 0 ? 1.0f / d : 0.0f;
    y[b].d = f32_to_f16(d);
    for (int j = 0; j < QK; j++) y[b].qs[j] = int8_t(roundf_away(x[b * QK + j] * id));
  }
}
void quantize_q4_0(const float* x, BlockQ4* y, int64_t n) {
  for (int64_t b = 0; b < n / QK; b++) {
    float amax = 0, max = 0;
    for (int j = 0; j < QK; j++) {
      float v = x[b * QK + j];
      if (amax < std::fabs(v)) { amax = std::fabs(v); max = v; }
    }
    float d = max / -8.0f, id = d != 0 ? 1.0f / d : 0.0f;
    y[b].d = f32_to_f16(d);
    for (int j = 0; j < QK / 2; j++) {
      int q0 = std::min(15, int(int8_t(x[b * QK + j] * id + 8.5f)));
      int q1 = std::min(15, int(int8_t(x[b * QK + j + 16] * id + 8.5f)));
      y[b].qs[j] = uint8_t(q0 | (q1 << 4));
    }
  }
}
void dequantize_row(const Matrix& m, int64_t o, float* out) {
  const float* f16t = f16_table();
  const uint8_t* row = m.data + o * m.row_bytes;
  if (is_block(m.format)) { dequantize_block_row(m.format, row, m.in_dim, out); return; }
  switch (m.format) {
    case F32: std::memcpy(out, row, m.in_dim * 4); break;
    case BF16: for (int64_t i = 0; i < m.in_dim; i++) out[i] = bf16_to_f32(reinterpret_cast<const uint16_t*>(row)[i]); break;
    case F16: for (int64_t i = 0; i < m.in_dim; i++) out[i] = f16t[reinterpret_cast<const uint16_t*>(row)[i]]; break;
    case Q8_0: case Q4_0: {
      const int64_t bb = block_bytes(m.format), r = o % IL;
      const uint8_t* g = group_data(m, o / IL);
      for (int64_t k = 0; k < m.in_dim / QK; k++) {
        const uint8_t* p = g + k * IL * bb;
        uint16_t dh; std::memcpy(&dh, p + 2 * r, 2);
        const float d = f16t[dh];
        float* y = out + k * QK;
        if (m.format == Q8_0) {
          for (int c = 0; c < 8; c++)
            for (int j = 0; j < 4; j++) y[4 * c + j] = d * int8_t(p[16 + 32 * c + 4 * r + j]);
        } else {
          for (int c = 0; c < 4; c++)
            for (int j = 0; j < 4; j++) {
              const uint8_t b = p[16 + 32 * c + 4 * r + j];
              y[4 * c + j] = d * ((b & 15) - 8);
              y[16 + 4 * c + j] = d * ((b >> 4) - 8);
            }
        }
      }
      break;
    }
  }
}


void quantize_acts(const float* x, int64_t n, int8_t* q, float* d, int32_t* sums) {
  for (int64_t b = 0; b < n / QK; b++) {
    float amax = 0;
    for (int j = 0; j < QK; j++) amax = std::max(amax, std::fabs(x[b * QK + j]));
    float s = amax / 127.0f, id = s != 0 ? 1.0f / s : 0.0f;
    d[b] = s;
    int32_t t = 0;
    for (int j = 0; j < QK; j++) {
      q[b * QK + j] = int8_t(roundf_away(x[b * QK + j] * id));
      t += q[b * QK + j];
    }
    if (sums) sums[b] = t;
  }
}

}  // namespace fugaku
