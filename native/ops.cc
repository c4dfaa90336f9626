// The element-wise and row-wise ops (ggml-cpu's ops.cpp): LayerNorm, add, activations, f16 rows for
// the KV cache, and the memory-bandwidth probes; each spread over the pool in rows or chunks, each
// row or chunk one call of the context's kernel.
#include <chrono>
#include <cstdlib>
#include <vector>

#include "ops.h"

namespace fugaku {

// Rows are independent: spread over the pool when there are enough of them to pay for it.
void layer_norm(Context& ctx, const float* x, int64_t rows, int64_t dim, const float* g, const float* b, float eps, float* out) {
  const auto kernel = ctx.k.layer_norm_row;
  auto row = [&](int64_t r) { kernel(x + r * dim, dim, g, b, eps, out + r * dim); };
  if (rows * dim < 65536) { for (int64_t r = 0; r < rows; r++) row(r); return; }
  ctx.pool.parallel_for(rows, row);
}

void add_in_place(Context& ctx, float* a, const float* b, int64_t n) {
  const int64_t CH = 65536;
  const auto kernel = ctx.k.add;
  auto part = [&](int64_t c) {
    const int64_t lo = c * CH, hi = std::min(n, lo + CH);
    kernel(a + lo, b + lo, hi - lo);
  };
  const int64_t chunks = (n + CH - 1) / CH;
  if (chunks <= 1) { if (n > 0) part(0); return; }
  ctx.pool.parallel_for(chunks, part);
}

void activation(Context& ctx, int32_t kind, float* x, int64_t n) {
  const int64_t CH = 8192;
  const auto kernel = ctx.k.activation;
  auto part = [&](int64_t c) {
    const int64_t a = c * CH, b = std::min(n, a + CH);
    kernel(kind, x, a, b);
  };
  const int64_t chunks = (n + CH - 1) / CH;
  if (chunks == 1) part(0);
  else ctx.pool.parallel_for(chunks, part);
}

void store_rows_f16(const Context& ctx, const float* src, int64_t srcStride, uint16_t* dst, int64_t n, int64_t rows) {
  for (int64_t r = 0; r < rows; r++) ctx.k.to_f16(src + r * srcStride, dst + r * n, n);
}

namespace {
// Best GB/s over `reps` runs of body(ith, nth) on the pool, `bytes` counted per run.
double best_rate(Context& ctx, int64_t reps, double bytes, const std::function<void(int, int)>& body) {
  double best = 0;
  for (int64_t r = 0; r < reps; r++) {
    auto t0 = std::chrono::steady_clock::now();
    ctx.pool.run(body);
    double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, bytes / sec / 1e9);
  }
  return best;
}
}  // namespace

// a[i] = b[i] + s·c[i] over n floats (STREAM's counting: 3 arrays × 4 bytes per element), using the
// pool's threads. The bandwidth bound for decode.
double stream_triad(Context& ctx, int64_t n, int64_t reps) {
  // The same huge-page memory the weights get.
  float* a = reinterpret_cast<float*>(alloc_weights(size_t(n) * 4));
  float* b = reinterpret_cast<float*>(alloc_weights(size_t(n) * 4));
  float* c = reinterpret_cast<float*>(alloc_weights(size_t(n) * 4));
  if (!a || !b || !c) { std::free(a); std::free(b); std::free(c); return -1; }
  ctx.pool.run([&](int ith, int nth) {  // first touch by the threads that use the pages
    int64_t lo, hi; split(n, ith, nth, lo, hi);
    for (int64_t i = lo; i < hi; i++) { a[i] = 0; b[i] = 1; c[i] = 2; }
  });
  const double best = best_rate(ctx, reps, 3.0 * 4.0 * double(n), [&](int ith, int nth) {
    int64_t lo, hi; split(n, ith, nth, lo, hi);
    const float s = 3.0f;
    for (int64_t i = lo; i < hi; i++) a[i] = b[i] + s * c[i];
  });
  volatile float sink = a[n / 2]; (void)sink;
  std::free(a); std::free(b); std::free(c);
  return best;
}

// Reading n floats' bytes (an integer sum over them, nothing written) as fast as the kernels read
// weights (the kernel set's read_sum: 32-byte loads and the same prefetching): the ceiling for a GEMV,
// which only reads its weights. On the VMs this was built on it is below the triad figure (whose
// write stream adds memory parallelism).
double stream_read(Context& ctx, int64_t n, int64_t reps) {
  const int64_t words = n / 2;  // n floats as 64-bit words
  auto* a = reinterpret_cast<uint64_t*>(alloc_weights(size_t(words) * 8));
  if (!a) return -1;
  ctx.pool.run([&](int ith, int nth) {
    int64_t lo, hi; split(words, ith, nth, lo, hi);
    for (int64_t i = lo; i < hi; i++) a[i] = uint64_t(i);
  });
  std::vector<uint64_t> sums(ctx.pool.size());
  const double best = best_rate(ctx, reps, 8.0 * double(words), [&](int ith, int nth) {
    int64_t lo, hi; split(words, ith, nth, lo, hi);
    sums[ith] = ctx.k.read_sum(a + lo, hi - lo);
  });
  volatile uint64_t sink = sums[0]; (void)sink;
  std::free(a);
  return best;
}

}  // namespace fugaku
