// Attention (ggml-cpu's flash_attn_ext for one sequence): exact softmax as the reference backend
// computes it, for decode (one query streaming the cache) and prefill (blocks of QB queries where the
// kernel set has block kernels, else one query at a time), over float32 or f16 cache rows.
#include <algorithm>
#include <cmath>
#include <vector>

#include "ops.h"

namespace fugaku {
namespace {

// Asks for bytes [p, p + n) to be brought into the caches (a hint: no fault, no result).
inline void prefetch_bytes(const void* p, int64_t n) {
  const char* c = static_cast<const char*>(p);
  for (int64_t o = 0; o < n; o += 64) __builtin_prefetch(c + o, 0, 3);
}

static_assert(QB == 8, "the block kernels hold 8 queries");

// s[j] → exp(s[j] − max) / Σ_j exp(s[j] − max) in place, −∞ (masked) → 0; the sum in double. (The
// scaling is one multiply per element, the same bits at any vector width: the compiler vectorizes it.)
void exp_normalize(const Context& ctx, float* s, int64_t n, float max) {
  const float inv = float(1.0 / ctx.k.exp_sum(s, n, max));
  for (int64_t j = 0; j < n; j++) s[j] *= inv;
}

// Scores of one query over keys 0..last (already q·k) → softmax weights in place: scaled, padding keys
// (keyMask 0) and keys past `last` excluded; false if every key is masked (the output is then 0).
bool softmax_row(const Context& ctx, float* scores, int64_t last, int64_t n, float scale, const uint8_t* keyMask) {
  float max = -INFINITY;
  if (!keyMask) {  // no padding: keys 0..last scaled (vectorized where the kernel set is), −∞ after them
    const int64_t m = std::min(n, last + 1);
    max = ctx.k.scale_max(scores, m, scale);
    std::fill(scores + m, scores + n, -INFINITY);
  } else {
    for (int64_t j = 0; j < n; j++) {
      if (j > last || keyMask[j] == 0) { scores[j] = -INFINITY; continue; }
      scores[j] *= scale;
      max = std::max(max, scores[j]);
    }
  }
  if (max == -INFINITY) return false;
  exp_normalize(ctx, scores, n, max);
  return true;
}

// One query over a long cache (decode), position-major, in one pass over the cache (flash-decoding):
// the cache is [position][head][dim], so one head's rows are `width` apart, a stride the hardware
// prefetchers do not follow. Each task here takes a chunk of KB consecutive positions and reads
// its key rows and then its value rows whole and in order, for every head: scores, the chunk's own
// max m_c and Σ exp(s − m_c) per head, and the unnormalized Σ exp(s_j − m_c)·v_j into the chunk's
// partial output. A second, small pass per head combines the chunks in chunk order:
// out = Σ_c exp(m_c − M)/S · partial_c with M = max_c m_c, S = Σ_c exp(m_c − M)·sum_c — the same
// softmax, its terms grouped by chunk. KB depends on the cache length only (never on the thread
// count), so the result does not depend on the thread count; a short cache gets chunks of 16
// positions so that two threads have 4+ tasks to share (3 chunks of 64 over 2 threads left one
// thread two thirds of the work). Before, this took four passes (scores, softmax, weighted sums,
// sum of partials): 80 pool barriers per token on the 1B shape instead of 40.
template <typename KV>
void attention_decode(Context& ctx, const float* q, const KV* kc, const KV* vc, int64_t n, int64_t nHead,
                      int64_t headDim, float scale, const uint8_t* keyMask, float* out) {
  const int64_t KB = std::min<int64_t>(64, std::max<int64_t>(16, (n + 15) / 16));
  const int64_t width = nHead * headDim, chunks = (n + KB - 1) / KB;
  const KvKernels<KV>& K = ctx.k.kv<KV>();
  std::vector<float> partial(size_t(chunks * width), 0.0f);
  std::vector<float> cmax(size_t(chunks * nHead));   // [chunk][head]: the chunk's max score
  std::vector<double> csum(size_t(chunks * nHead));  // [chunk][head]: Σ exp(s − max) over the chunk
  ctx.pool.parallel_for(chunks, [&](int64_t c) {
    const int64_t j0 = c * KB, m = std::min(n, j0 + KB) - j0;
    float sc[64 * 64];  // [head][key of the chunk]; heads beyond 64 go round in groups (below)
    for (int64_t hg = 0; hg < nHead; hg += 64) {
      const int64_t hn = std::min<int64_t>(64, nHead - hg);
      const int64_t sliceBytes = hn * headDim * int64_t(sizeof(KV));
      for (int64_t j = 0; j < m; j++) {
        // Each row is a few KiB (a 4 KiB page for the 1B shape's f16 cache), and the hardware stream
        // prefetchers stop at page ends: fetch the key row two ahead, and this row's value row for the
        // second loop below, while this row's scores are computed.
        if (j + 2 < m) prefetch_bytes(kc + (j0 + j + 2) * width + hg * headDim, sliceBytes);
        prefetch_bytes(vc + (j0 + j) * width + hg * headDim, sliceBytes);
        if (keyMask && keyMask[j0 + j] == 0) {
          for (int64_t h = 0; h < hn; h++) sc[h * KB + j] = -INFINITY;
          continue;
        }
        K.scores_row(q + hg * headDim, kc + (j0 + j) * width + hg * headDim, hn, headDim, scale, sc + j, KB);
      }
      for (int64_t h = 0; h < hn; h++) {
        float* s = sc + h * KB;
        float mx = -INFINITY;
        for (int64_t j = 0; j < m; j++) mx = std::max(mx, s[j]);
        cmax[c * nHead + hg + h] = mx;
        if (mx == -INFINITY) {  // every key of the chunk masked for this head: zero weights
          std::fill(s, s + m, 0.0f);
          csum[c * nHead + hg + h] = 0.0;
        } else {
          csum[c * nHead + hg + h] = ctx.k.exp_sum(s, m, mx);
        }
      }
      // Value rows four at a time (each head's sum still adds them in position order).
      K.accumulate(partial.data() + c * width + hg * headDim, sc, KB, vc + j0 * width + hg * headDim, width, m, hn, headDim);
    }
  });
  ctx.pool.parallel_for(nHead, [&](int64_t h) {
    float M = -INFINITY;
    for (int64_t c = 0; c < chunks; c++) M = std::max(M, cmax[c * nHead + h]);
    float* o = out + h * headDim;
    if (M == -INFINITY) { std::fill(o, o + headDim, 0.0f); return; }  // every key masked: output 0
    // S, and each chunk's exp(m_c − M) kept in its csum slot (its sum is used only here, once).
    double S = 0;
    for (int64_t c = 0; c < chunks; c++) {
      const float mc = cmax[c * nHead + h];
      double& cs = csum[c * nHead + h];
      const double e = mc == -INFINITY ? 0.0 : double(std::exp(mc - M));
      S += e * cs;
      cs = e;
    }
    std::fill(o, o + headDim, 0.0f);
    for (int64_t c = 0; c < chunks; c++) {
      if (cmax[c * nHead + h] == -INFINITY) continue;
      const float f = float(csum[c * nHead + h] / S);
      const float* pc = partial.data() + c * width + h * headDim;
      for (int64_t d = 0; d < headDim; d++) o[d] += f * pc[d];
    }
  });
}


}  // namespace

template <typename KV>
void attention(Context& ctx, const float* q, int64_t t, const KV* kc, const KV* vc, int64_t past, int64_t nHead,
               int64_t headDim, float scale, const uint8_t* keyMask, float* out) {
  const int64_t width = nHead * headDim;
  const KvKernels<KV>& K = ctx.k.kv<KV>();
  // A single query (decode): stream the cache rows in memory order. During decode the rows are cold
  // even when the cache is small, because the whole model's weights went through the CPU caches since
  // this layer last ran, and one head's rows are `width` apart, a stride the hardware prefetchers do
  // not follow: on the 1B shape with an f16 cache of ~150 positions, attention took 4.8–5.5 ms per
  // token head by head and 2.3–2.9 ms streamed (2 threads, development VM). Only a cache of a few KiB
  // (a tiny model) takes the per-head path below: one parallel pass instead of two.
  if (t == 1 && (past + 1) * width * int64_t(sizeof(KV)) >= (int64_t(1) << 16)) {
    attention_decode(ctx, q, kc, vc, past + 1, nHead, headDim, scale, keyMask, out);
    return;
  }
  // Prefill: tasks of QB consecutive queries of one head, each key and value row read once per task.
  // Query i sees keys 0..past+i, so the block computes scores up to its last query's keys and masks
  // the (at most QB − 1) keys each earlier query does not see.
  if (K.scores_qb && t >= 4) {
    const int64_t blocks = (t + QB - 1) / QB;
    auto block = [&](int64_t w) {
      const int64_t h = w / blocks, i0 = (w % blocks) * QB, nq = std::min<int64_t>(QB, t - i0);
      const int64_t n = past + i0 + nq;  // keys the block's last query sees
      std::vector<float> scores(size_t(QB * n));
      std::vector<float> tail(nq < QB ? size_t(QB * headDim) : 0);  // outputs of a short block's padding queries
      const float* qs[QB]; float* ss[QB]; float* os[QB];
      for (int i = 0; i < QB; i++) {
        const int64_t qi = i0 + std::min<int64_t>(i, nq - 1);
        qs[i] = q + qi * width + h * headDim;
        ss[i] = scores.data() + i * n;
        os[i] = i < nq ? out + (i0 + i) * width + h * headDim : tail.data() + i * headDim;
      }
      K.scores_qb(qs, kc + h * headDim, width, n, headDim, ss);
      bool any[QB];
      for (int i = 0; i < QB; i++) any[i] = softmax_row(ctx, ss[i], past + i0 + std::min<int64_t>(i, nq - 1), n, scale, keyMask);
      K.weighted_sum_qb(ss, n, vc + h * headDim, width, headDim, os);
      for (int i = 0; i < nq; i++)
        if (!any[i]) std::fill(os[i], os[i] + headDim, 0.0f);  // every key masked: output 0
    };
    if ((past + t) * t * width < 16384) { for (int64_t w = 0; w < nHead * blocks; w++) block(w); return; }
    ctx.pool.parallel_for(nHead * blocks, block);
    return;
  }
  auto one = [&](int64_t w) {
    std::vector<float> scores(past + t);
    const int64_t h = w % nHead, i = w / nHead;
    const int64_t last = past + i;
    const float* qh = q + i * width + h * headDim;
    K.scores(qh, kc + h * headDim, width, last + 1, headDim, scores.data());
    float* oh = out + i * width + h * headDim;
    if (!softmax_row(ctx, scores.data(), last, last + 1, scale, keyMask)) { std::fill(oh, oh + headDim, 0.0f); return; }
    K.weighted_sum(scores.data(), last + 1, vc + h * headDim, width, headDim, oh);
  };
  if ((past + t) * t * width < 16384) { for (int64_t w = 0; w < nHead * t; w++) one(w); return; }
  ctx.pool.parallel_for(nHead * t, one);
}

template void attention<float>(Context&, const float*, int64_t, const float*, const float*, int64_t, int64_t, int64_t, float, const uint8_t*, float*);
template void attention<uint16_t>(Context&, const float*, int64_t, const uint16_t*, const uint16_t*, int64_t, int64_t, int64_t, float, const uint8_t*, float*);

}  // namespace fugaku
