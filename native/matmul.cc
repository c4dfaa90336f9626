// Matrix products (ggml-cpu's mul_mat): the drivers that cut a product into chunks for the pool and
// call the context's kernels per weight row (float formats) or per group of 8 output rows (quantized).
#include <algorithm>
#include <vector>

#include "blocks.h"
#include "ops.h"

namespace fugaku {
namespace {

// Float formats: chunks of CH output features × RB activation rows, each weight row read once per NR rows.
void matmul_float(Context& ctx, const Matrix& m, const float* x, int64_t rows, const float* bias, float* out) {
  const Kernels& k = ctx.k;
  const int64_t in = m.in_dim, outd = m.out_dim, CH = 32, RB = 64;
  const int64_t oChunks = (outd + CH - 1) / CH, rChunks = (rows + RB - 1) / RB;
  auto chunk = [&](int64_t c) {
    const int64_t r0 = (c / oChunks) * RB, r1 = std::min(rows, r0 + RB);
    const int64_t oa = (c % oChunks) * CH, ob = std::min(outd, oa + CH);
    // Activation rows r.. of output o one at a time (what is left after the NR-row tiles).
    auto rest = [&](int64_t o, int64_t r) {
      for (; r < r1; r++) {
        const float* xs[1] = {x + r * in}; float res[1];
        k.dot_float[1](m, o, xs, res);
        out[r * outd + o] = res[0] + (bias ? bias[o] : 0.0f);
      }
    };
    for (int64_t o = oa; o < ob; o++) {
      int64_t r = r0;
      if (k.dot2_float && o + 1 < ob && r1 - r0 >= NR) {
        // Two output rows at once for the full groups of NR activation rows (prefill); the rest of
        // the rows one by one for both.
        for (; r + NR <= r1; r += NR) {
          const float* xs[NR]; float res0[NR], res1[NR];
          for (int t = 0; t < NR; t++) xs[t] = x + (r + t) * in;
          k.dot2_float(m, o, xs, res0, res1);
          for (int t = 0; t < NR; t++) {
            out[(r + t) * outd + o] = res0[t] + (bias ? bias[o] : 0.0f);
            out[(r + t) * outd + o + 1] = res1[t] + (bias ? bias[o + 1] : 0.0f);
          }
        }
        rest(o, r);
        rest(o + 1, r);
        o++;
        continue;
      }
      for (; r + NR <= r1; r += NR) {
        const float* xs[NR]; float res[NR];
        for (int t = 0; t < NR; t++) xs[t] = x + (r + t) * in;
        k.dot_float[NR](m, o, xs, res);
        for (int t = 0; t < NR; t++) out[(r + t) * outd + o] = res[t] + (bias ? bias[o] : 0.0f);
      }
      rest(o, r);
    }
  };
  // Small products are not worth waking the other threads for.
  if (int64_t(m.bytes) * rows < (int64_t(1) << 18)) { for (int64_t c = 0; c < oChunks * rChunks; c++) chunk(c); return; }
  ctx.pool.parallel_for(oChunks * rChunks, chunk);
}

// Quantized formats: activations are quantized to int8 blocks (Q8_0's rule) once, then chunks of GC
// groups (8 output rows each) × RB activation rows run the integer kernels, NR (NR2) rows per weight read.
// With pair kernels (the avx512 and amx sets), groups go two at a time (16 rows per vector; a chunk's
// odd last group takes the one-group kernel); with tiles (amx), chunks go to AMX_ROWS-row tiles first.
void matmul_quant(Context& ctx, const Matrix& m, const float* x, int64_t rows, const float* bias, float* out) {
  const Kernels& k = ctx.k;
  const int64_t in = m.in_dim, outd = m.out_dim, nb = in / QK;
  const bool pairs = k.pair[1] != nullptr;
  // AMX tiles take 16 activation rows at a time: the buffers get zero rows up to a multiple of 16.
  const bool tiles = k.amx_chunk && rows >= AMX_MIN_ROWS;
  const int64_t padded = tiles ? (rows + AMX_ROWS - 1) / AMX_ROWS * AMX_ROWS : rows;
  std::vector<int8_t> q(padded * in);
  std::vector<float> d(padded * nb);
  // Σ of each activation block: Q4_0's offset of 8 (and, for the sets with q8_sums, Q8_0's of 128).
  std::vector<int32_t> sums(m.format == Q4_0 || k.q8_sums ? rows * nb : 0);
  auto qrow = [&](int64_t r) {
    int32_t* s = sums.empty() ? nullptr : sums.data() + r * nb;
    k.quantize_acts(x + r * in, in, q.data() + r * in, d.data() + r * nb, s);
  };
  if (rows < 4) { for (int64_t r = 0; r < rows; r++) qrow(r); }
  else ctx.pool.parallel_for(rows, qrow);
  const int64_t G = groups_of(outd), GC = 8, RB = 64;
  const int64_t gChunks = (G + GC - 1) / GC, rChunks = (rows + RB - 1) / RB;
  auto chunk = [&](int64_t c) {
    const int64_t r0 = (c / gChunks) * RB, r1 = std::min(rows, r0 + RB);
    const int64_t ga = (c % gChunks) * GC, gb = std::min(G, ga + GC);
    int64_t g = ga;
    if (tiles) g += k.amx_chunk(m, ga, gb, r0, r1, q.data(), d.data(), bias, out);  // all but an odd last group
    float res[NR2 * 2 * IL];
    while (g < gb) {
      const int64_t span = pairs && g + 1 < gb ? 2 : 1;  // groups in this step
      const int64_t o0 = g * IL, valid = std::min<int64_t>(span * IL, outd - o0);
      const int64_t step = span == 2 ? NR2 : NR;
      const GroupFn* kernel = span == 2 ? k.pair : k.group;
      for (int64_t r = r0; r < r1; r += step) {
        const int n = int(std::min<int64_t>(step, r1 - r));
        const int8_t* xqs[NR2]; const float* xds[NR2]; const int32_t* xss[NR2];
        for (int t = 0; t < n; t++) {
          xqs[t] = q.data() + (r + t) * in;
          xds[t] = d.data() + (r + t) * nb;
          xss[t] = sums.empty() ? nullptr : sums.data() + (r + t) * nb;
        }
        kernel[n](m, g, xqs, xds, xss, res);
        const int64_t stride = span * IL;
        for (int t = 0; t < n; t++)
          for (int64_t l = 0; l < valid; l++) out[(r + t) * outd + o0 + l] = res[t * stride + l] + (bias ? bias[o0 + l] : 0.0f);
      }
      g += span;
    }
  };
  if (int64_t(m.bytes) * rows < (int64_t(1) << 18)) { for (int64_t c = 0; c < gChunks * rChunks; c++) chunk(c); return; }
  ctx.pool.parallel_for(gChunks * rChunks, chunk);
}

}  // namespace

void matmul(Context& ctx, const Matrix& m, const float* x, int64_t rows, const float* bias, float* out) {
  if (is_block(m.format)) matmul_blocks(ctx, m, x, rows, bias, out);
  else if (is_quant(m.format)) matmul_quant(ctx, m, x, rows, bias, out);
  else matmul_float(ctx, m, x, rows, bias, out);
}

}  // namespace fugaku
