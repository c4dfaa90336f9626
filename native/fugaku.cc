// The native compute kernels of fugaku-llm's fast backend (src/backend/native.ts).
//
// Only what is hot lives here: weight storage in native memory (converted/quantized once at load),
// matmul/GEMV per weight format, attention, LayerNorm and activations, on a persistent thread pool.
// Everything else (the model, scheduling, sampling) stays in TypeScript. The TypeScript reference
// backend is the specification; test/backend-native.test.ts checks every op here against it.
//
// Kernels are chosen at run time (Context::level): on x86-64, AVX-512 F/BW/VL/VNNI for the weight
// products (native/avx512.h) with AVX2 for the rest, plus AMX-INT8 tiles for quantized prefill products
// where the CPU and OS allow (native/amx.h), or AVX-VNNI (native/avxvnni.h), or AVX2+FMA+F16C; on 64-bit Arm, NEON
// (native/neon.h, with the dot-product extension's sdot where the CPU has it; native/neon_float.h); else portable C++ that any
// compiler vectorizes as it can. The SIMD kernels are compiled with target attributes and used only
// when the CPU reports the features.
// Float weights are stored row-major [out][in]; quantized formats hold ggml's Q8_0/Q4_0 blocks (see
// src/tensor/quant.ts) with the blocks of 8 output rows interleaved (see "interleaved quantized
// layout" below), so GGUF tensors load with a cheap repack and no requantization.
#include <node_api.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <mutex>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>
#ifdef __linux__
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#if defined(__x86_64__) || defined(_M_X64)
#include <cpuid.h>
#include <immintrin.h>
#define FUGAKU_X86 1
#endif
#if defined(__aarch64__)
#include <arm_neon.h>
#if defined(__linux__)
#include <sys/auxv.h>
#endif
#define FUGAKU_ARM64 1
#endif

namespace {

constexpr int QB = 8;  // queries per prefill attention task (the AVX2 and NEON block kernels)

enum Format : int32_t { F32 = 0, BF16 = 1, F16 = 2, Q8_0 = 3, Q4_0 = 4 };
constexpr int QK = 32;
struct BlockQ8 { uint16_t d; int8_t qs[32]; };
struct BlockQ4 { uint16_t d; uint8_t qs[16]; };
static_assert(sizeof(BlockQ8) == 34, "Q8_0 block is 34 bytes");
static_assert(sizeof(BlockQ4) == 18, "Q4_0 block is 18 bytes");

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

// ---------------------------------------------------------------- thread pool
// A persistent pool with dynamic work sharing: a job is a number of independent chunks that every
// thread (the caller included) takes from one atomic counter. If a worker is not scheduled (a busy
// machine), the others simply take its chunks, so more threads never make a step wait for a thread
// the OS has parked. Workers spin up to 1 ms for the next job (decode issues one every few µs), then
// sleep on a condition variable.
class Pool {
 public:
  explicit Pool(int n) : n_(std::max(1, n)) {
    for (int i = 1; i < n_; i++) workers_.emplace_back([this] { loop(); });
  }
  ~Pool() {
    { std::lock_guard<std::mutex> lk(mu_); stop_.store(true); gen_.fetch_add(1); }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
  }
  int size() const { return n_; }

  // Calls fn(i) for every i < n, spread over the threads; returns when all calls are done.
  void parallel_for(int64_t n, const std::function<void(int64_t)>& fn) {
    if (n_ == 1 || n <= 1) { for (int64_t i = 0; i < n; i++) fn(i); return; }
    Job job{&fn, n};
    current_.store(&job);
    { std::lock_guard<std::mutex> lk(mu_); gen_.fetch_add(1); }
    cv_.notify_all();
    work(job);
    for (int spins = 0; job.done.load() != n; spins++) relax(spins);
    current_.store(nullptr);
    for (int spins = 0; refs_.load() != 0; spins++) relax(spins);
  }
  // Calls fn(ith, nth) for ith < nth = size(): a static split whose slices any thread may run.
  void run(const std::function<void(int, int)>& fn) {
    const int nth = n_;
    parallel_for(nth, [&](int64_t i) { fn(int(i), nth); });
  }

 private:
  struct Job {
    const std::function<void(int64_t)>* fn;
    int64_t n;
    std::atomic<int64_t> next{0};
    std::atomic<int64_t> done{0};
  };
  static void relax(int spins) {
    if (spins < 4000) {
#ifdef FUGAKU_X86
      _mm_pause();
#endif
    } else {
      std::this_thread::yield();
    }
  }
  static void work(Job& j) {
    int64_t i;
    while ((i = j.next.fetch_add(1)) < j.n) {
      (*j.fn)(i);
      j.done.fetch_add(1);
    }
  }
  void loop() {
    uint64_t seen = 0;
    for (;;) {
      // Spin for up to kSpin after the last job: a decode step issues its next job within tens of µs
      // (the JS between two ops), and waking a sleeping thread costs more than that on a VM.
      int spins = 0;
      const auto since = std::chrono::steady_clock::now();
      while (gen_.load() == seen) {
        if ((++spins & 255) != 0 || std::chrono::steady_clock::now() - since < kSpin) {
#ifdef FUGAKU_X86
          _mm_pause();
#endif
          continue;
        }
        std::unique_lock<std::mutex> lk(mu_);
        cv_.wait(lk, [&] { return gen_.load() != seen; });
      }
      seen = gen_.load();
      if (stop_.load()) return;
      // refs_ before reading current_ (both seq_cst): the caller clears current_ and then waits
      // for refs_ == 0, so a job is never touched after its parallel_for returned.
      refs_.fetch_add(1);
      Job* j = current_.load();
      if (j) work(*j);
      refs_.fetch_sub(1);
    }
  }
  static constexpr std::chrono::microseconds kSpin{1000};
  int n_;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<uint64_t> gen_{0};
  std::atomic<Job*> current_{nullptr};
  std::atomic<int> refs_{0};
  std::atomic<bool> stop_{false};
};

inline void split(int64_t n, int ith, int nth, int64_t& a, int64_t& b) {
  int64_t per = (n + nth - 1) / nth;
  a = std::min<int64_t>(n, per * ith);
  b = std::min<int64_t>(n, a + per);
}

// Kernel levels: what createContext is asked for, after checking the CPU.
enum Level : int32_t { PORTABLE = 0, AVX2 = 1, AVX512 = 2, NEON = 3, AVXVNNI = 4, AMX = 5 };
// The x86 levels, which all use the AVX2 kernels for what they do not replace.
inline bool x86_level(int level) { return level == AVX2 || level == AVX512 || level == AVXVNNI || level == AMX; }

struct Context {
  Pool pool;
  bool simd;    // AVX2+FMA+F16C kernels (also used at the AVX512/AVXVNNI levels for everything but weight products)
  bool avx512;  // AVX-512 F/BW/VL/VNNI weight products (also at the AMX level)
  bool amx;     // AMX-INT8 tiles for quantized products of several activation rows (prefill)
  bool vnni;    // AVX-VNNI (256-bit vpdpbusd) quantized products
  bool neon;    // aarch64: NEON quantized products (neon.h) and float kernels (neon_float.h)
  bool dotprod; // the NEON quantized products use DotProd's sdot (neon::dp), else plain NEON (neon::base)
  std::vector<float> f16_table;
  Context(int threads, int level, bool has_dotprod)
      : pool(threads), simd(x86_level(level)), avx512(level == AVX512 || level == AMX),
        amx(level == AMX), vnni(level == AVXVNNI),
        neon(level == NEON), dotprod(level == NEON && has_dotprod), f16_table(65536) {
    for (int i = 0; i < 65536; i++) f16_table[i] = f16_to_f32(uint16_t(i));
  }
};

struct Matrix {
  int32_t format;
  int64_t in_dim, out_dim, row_bytes;
  uint8_t* data;
  size_t bytes;
  ~Matrix() { std::free(data); }
};

// Weight memory: 2 MiB-aligned and marked for transparent huge pages (Linux "madvise" mode), so a GEMV
// streaming gigabytes of weights is not slowed by a page walk every 4 KiB.
uint8_t* alloc_weights(size_t bytes) {
  const size_t huge = size_t(2) << 20;
  const size_t align = bytes >= huge ? huge : 64;
  const size_t size = (bytes + align - 1) / align * align;
  void* p = std::aligned_alloc(align, size);
#ifdef __linux__
  if (p && align == huge) madvise(p, size, MADV_HUGEPAGE);
#endif
  return static_cast<uint8_t*>(p);
}

int64_t row_bytes_of(int32_t fmt, int64_t in) {
  switch (fmt) {
    case F32: return in * 4;
    case BF16: case F16: return in * 2;
    case Q8_0: return in / QK * 34;
    case Q4_0: return in / QK * 18;
  }
  return -1;
}

// ---------------------------------------------------------------- interleaved quantized layout
// Quantized matrices are stored as groups of IL = 8 output rows whose blocks are interleaved (the
// idea of llama.cpp's repacked CPU layouts): for block k of a group, first the 8 rows' f16 scales
// (16 bytes), then the rows' quants in 4-byte lanes: 32-byte chunk c holds bytes 4c..4c+3 of every
// row's block, row r in lane r. One 32-byte load then serves 8 output rows: the kernels broadcast 4
// activation bytes to all lanes, and the 8 results come out in one vector, with no horizontal sums
// and one vector of scales per block. A Q4_0 chunk's low nibbles are elements 4c..4c+3 and its high
// nibbles elements 16+4c..16+4c+3; a Q8_0 block has 8 chunks. The same bytes as plain rows (8 ×
// row_bytes per group); rows past out_dim in the last group are zero blocks (scale 0).
constexpr int IL = 8;
inline bool is_quant(int32_t fmt) { return fmt == Q8_0 || fmt == Q4_0; }
inline int64_t block_bytes(int32_t fmt) { return fmt == Q8_0 ? int64_t(sizeof(BlockQ8)) : int64_t(sizeof(BlockQ4)); }
inline int64_t groups_of(int64_t outd) { return (outd + IL - 1) / IL; }
inline size_t matrix_bytes(int32_t fmt, int64_t row_bytes, int64_t outd) {
  return size_t(row_bytes) * size_t(is_quant(fmt) ? groups_of(outd) * IL : outd);
}

// The bytes of group g (output rows 8g..8g+7) of a quantized matrix.
inline const uint8_t* group_data(const Matrix& m, int64_t g) { return m.data + g * IL * m.row_bytes; }

// Interleaves n ≤ 8 plain rows of nb blocks each (consecutive in `rows`) into one group at dst.
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
void dequantize_row(const Matrix& m, int64_t o, float* out, const float* f16t) {
  const uint8_t* row = m.data + o * m.row_bytes;
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

// Activations quantized for the integer dot: per 32-block int8 values and a float32 scale.
// With `sums`, also each block's Σ of its int8 values (Q4_0's kernels subtract 8·Σx).
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

#ifdef FUGAKU_ARM64
#include "neon.h"
#include "neon_float.h"
#endif

#ifdef FUGAKU_X86
// ---------------------------------------------------------------- AVX2 + FMA + F16C kernels
#define AVX2_FN __attribute__((target("avx2,fma,f16c")))

AVX2_FN inline float hsum8(__m256 v) {
  __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
  lo = _mm_add_ps(lo, hi);
  lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
  lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
  return _mm_cvtss_f32(lo);
}

AVX2_FN inline __m256 load8_as_f32(int32_t fmt, const uint8_t* row, int64_t i) {
  if (fmt == F32) return _mm256_loadu_ps(reinterpret_cast<const float*>(row) + i);
  __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(reinterpret_cast<const uint16_t*>(row) + i));
  if (fmt == BF16) return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  return _mm256_cvtph_ps(h);
}

AVX2_FN inline float scalar_weight(int32_t fmt, const uint8_t* row, int64_t j) {
  return fmt == F32 ? reinterpret_cast<const float*>(row)[j]
       : fmt == BF16 ? bf16_to_f32(reinterpret_cast<const uint16_t*>(row)[j])
                     : _cvtsh_ss(reinterpret_cast<const uint16_t*>(row)[j]);
}

template <int NR>
AVX2_FN void dot_float_avx2(const Matrix& m, int64_t o, const float* const* xs, float* res) {
  const int64_t n = m.in_dim;
  const uint8_t* row = m.data + o * m.row_bytes;
  const int32_t fmt = m.format;
  __m256 acc[NR], acc2[NR];
  for (int r = 0; r < NR; r++) { acc[r] = _mm256_setzero_ps(); acc2[r] = _mm256_setzero_ps(); }
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m256 w0 = load8_as_f32(fmt, row, i), w1 = load8_as_f32(fmt, row, i + 8);
    for (int r = 0; r < NR; r++) {
      acc[r] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(xs[r] + i), acc[r]);
      acc2[r] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(xs[r] + i + 8), acc2[r]);
    }
  }
  for (int r = 0; r < NR; r++) {
    float s = hsum8(_mm256_add_ps(acc[r], acc2[r]));
    for (int64_t j = i; j < n; j++) s += scalar_weight(fmt, row, j) * xs[r][j];
    res[r] = s;
  }
}

// Prefill tile for float weights: 2 weight rows × NR activation rows, one accumulator each, so every
// loaded (and converted) weight vector feeds NR FMAs and every activation vector 2.
template <int NR>
AVX2_FN void dot2_float_avx2(const Matrix& m, int64_t o, const float* const* xs, float* res0, float* res1) {
  const int64_t n = m.in_dim;
  const uint8_t* row0 = m.data + o * m.row_bytes;
  const uint8_t* row1 = row0 + m.row_bytes;
  const int32_t fmt = m.format;
  __m256 a0[NR], a1[NR];
  for (int r = 0; r < NR; r++) { a0[r] = _mm256_setzero_ps(); a1[r] = _mm256_setzero_ps(); }
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 w0 = load8_as_f32(fmt, row0, i), w1 = load8_as_f32(fmt, row1, i);
    for (int r = 0; r < NR; r++) {
      const __m256 x = _mm256_loadu_ps(xs[r] + i);
      a0[r] = _mm256_fmadd_ps(w0, x, a0[r]);
      a1[r] = _mm256_fmadd_ps(w1, x, a1[r]);
    }
  }
  for (int r = 0; r < NR; r++) {
    float s0 = hsum8(a0[r]), s1 = hsum8(a1[r]);
    for (int64_t j = i; j < n; j++) {
      s0 += scalar_weight(fmt, row0, j) * xs[r][j];
      s1 += scalar_weight(fmt, row1, j) * xs[r][j];
    }
    res0[r] = s0;
    res1[r] = s1;
  }
}

// 4 activation bytes broadcast to all 8 lanes (one load uop).
AVX2_FN inline __m256i bcast4(const int8_t* p) { return _mm256_castps_si256(_mm256_broadcast_ss(reinterpret_cast<const float*>(p))); }

// One interleaved group (8 output rows) × NR activation rows: res[t·8 + r] = row (8g + r) · x_t.
// Q4_0: Σ (q − 8)·x = Σ q·x − 8·Σ x. The nibbles q ∈ [0, 15] are unsigned as maddubs wants them, and
// the 8 products of a block fit int16 (8 · 2 · 15 · 127 = 30480), so they add as int16 and widen once
// per block; 8·Σx per activation block (xsum) is subtracted in int32.
template <int NR>
AVX2_FN void group_q4_0_avx2(const uint8_t* base, int64_t nb, const int8_t* const* xq, const float* const* xd, const int32_t* const* xsum, float* res) {
  const __m256i mask = _mm256_set1_epi8(0x0f), ones = _mm256_set1_epi16(1);
  __m256 acc[NR];
  for (int t = 0; t < NR; t++) acc[t] = _mm256_setzero_ps();
  for (int64_t k = 0; k < nb; k++) {
    const uint8_t* p = base + k * (IL * 18);
    _mm_prefetch(reinterpret_cast<const char*>(p + 8 * IL * 18), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(p + 8 * IL * 18 + 64), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(p + 8 * IL * 18 + 128), _MM_HINT_T0);
    // One int16 sum per activation row (low and high nibbles together: at most 8 products of
    // 2 · 15 · 127 per lane), so the NR sums, NR accumulators and the unpacked quants fit the 16
    // registers (separate low/high sums spilled to the stack).
    __m256i s[NR];
    for (int t = 0; t < NR; t++) s[t] = _mm256_setzero_si256();
    for (int c = 0; c < 4; c++) {
      const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 16 + 32 * c));
      const __m256i lo = _mm256_and_si256(q, mask), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), mask);
      for (int t = 0; t < NR; t++) {
        const int8_t* x = xq[t] + k * QK;
        s[t] = _mm256_add_epi16(s[t], _mm256_maddubs_epi16(lo, bcast4(x + 4 * c)));
        s[t] = _mm256_add_epi16(s[t], _mm256_maddubs_epi16(hi, bcast4(x + 16 + 4 * c)));
      }
    }
    const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    for (int t = 0; t < NR; t++) {
      const __m256i x8 = _mm256_slli_epi32(_mm256_set1_epi32(xsum[t][k]), 3);
      const __m256i i32 = _mm256_sub_epi32(_mm256_madd_epi16(s[t], ones), x8);
      acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_broadcast_ss(xd[t] + k)), _mm256_cvtepi32_ps(i32), acc[t]);
    }
  }
  for (int t = 0; t < NR; t++) _mm256_storeu_ps(res + 8 * t, acc[t]);
}

// Q8_0: signed × signed with the sign trick (|w| unsigned, x takes w's sign); a pair of products can
// reach 2 · 127² and does not fit two in int16, so each chunk widens to int32.
template <int NR>
AVX2_FN void group_q8_0_avx2(const uint8_t* base, int64_t nb, const int8_t* const* xq, const float* const* xd, float* res) {
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 acc[NR];
  for (int t = 0; t < NR; t++) acc[t] = _mm256_setzero_ps();
  for (int64_t k = 0; k < nb; k++) {
    const uint8_t* p = base + k * (IL * 34);
    const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    __m256i s[NR];
    for (int t = 0; t < NR; t++) s[t] = _mm256_setzero_si256();
    for (int c = 0; c < 8; c++) {
      _mm_prefetch(reinterpret_cast<const char*>(p + 4 * IL * 34 + 32 * c), _MM_HINT_T0);
      const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 16 + 32 * c));
      const __m256i aw = _mm256_sign_epi8(w, w);
      for (int t = 0; t < NR; t++) {
        const __m256i x = _mm256_sign_epi8(bcast4(xq[t] + k * QK + 4 * c), w);
        s[t] = _mm256_add_epi32(s[t], _mm256_madd_epi16(_mm256_maddubs_epi16(aw, x), ones));
      }
    }
    for (int t = 0; t < NR; t++)
      acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_set1_ps(xd[t][k])), _mm256_cvtepi32_ps(s[t]), acc[t]);
  }
  for (int t = 0; t < NR; t++) _mm256_storeu_ps(res + 8 * t, acc[t]);
}

template <int NR>
AVX2_FN void group_quant_avx2(const Matrix& m, int64_t g, const int8_t* const* xq, const float* const* xd, const int32_t* const* xsum, float* res) {
  const uint8_t* base = group_data(m, g);
  if (m.format == Q4_0) group_q4_0_avx2<NR>(base, m.in_dim / QK, xq, xd, xsum, res);
  else group_q8_0_avx2<NR>(base, m.in_dim / QK, xq, xd, res);
}

AVX2_FN inline __m256 load8f(const float* p) { return _mm256_loadu_ps(p); }
AVX2_FN inline __m256 load8f(const uint16_t* p) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
AVX2_FN inline float to_f32(float v) { return v; }
AVX2_FN inline float to_f32(uint16_t h) { return _cvtsh_ss(h); }

// q · k for a cache row (float32 or f16 bits); two accumulators so the FMA latency does not bind.
template <typename KV>
AVX2_FN float dot_kv_avx2(const float* a, const KV* b, int64_t n) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), load8f(b + i), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), load8f(b + i + 8), acc1);
  }
  for (; i + 8 <= n; i += 8) acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), load8f(b + i), acc0);
  float s = hsum8(_mm256_add_ps(acc0, acc1));
  for (; i < n; i++) s += a[i] * to_f32(b[i]);
  return s;
}

// y[0..n) += a · x[0..n) for a cache row (float32 or f16 bits).
template <typename KV>
AVX2_FN void axpy_kv_avx2(float* y, float a, const KV* x, int64_t n) {
  const __m256 va = _mm256_set1_ps(a);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, load8f(x + i), _mm256_loadu_ps(y + i)));
  for (; i < n; i++) y[i] = std::fma(a, to_f32(x[i]), y[i]);
}

// The 4 sums of a0..a3 (each 8 lanes) as one vector: lane i = Σ a_i.
AVX2_FN inline __m128 hsum4x4(__m256 a0, __m256 a1, __m256 a2, __m256 a3) {
  const __m256 h = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));  // per 128-bit half
  return _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
}

// out[j] = q · k_j for n cache rows of stride `width`: 4 keys at a time, their sums reduced together.
template <typename KV>
AVX2_FN void scores_avx2(const float* q, const KV* k, int64_t width, int64_t n, int64_t hd, float* out) {
  const int64_t hd8 = hd / 8 * 8;
  int64_t j = 0;
  for (; j + 4 <= n; j += 4) {
    const KV* k0 = k + j * width;
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    for (int64_t d = 0; d < hd8; d += 8) {
      const __m256 qv = _mm256_loadu_ps(q + d);
      a0 = _mm256_fmadd_ps(qv, load8f(k0 + d), a0);
      a1 = _mm256_fmadd_ps(qv, load8f(k0 + width + d), a1);
      a2 = _mm256_fmadd_ps(qv, load8f(k0 + 2 * width + d), a2);
      a3 = _mm256_fmadd_ps(qv, load8f(k0 + 3 * width + d), a3);
    }
    _mm_storeu_ps(out + j, hsum4x4(a0, a1, a2, a3));
    for (int64_t d = hd8; d < hd; d++)
      for (int r = 0; r < 4; r++) out[j + r] += q[d] * to_f32(k0[r * width + d]);
  }
  for (; j < n; j++) out[j] = dot_kv_avx2(q, k + j * width, hd);
}

// out[d] = Σ_j p[j] · v_j[d] over n cache rows of stride `width` (zero weights skipped), 32 dims at a
// time so the sums stay in registers while the rows stream past (each element sums in j order).
template <typename KV>
AVX2_FN void weighted_sum_avx2(const float* p, int64_t n, const KV* v, int64_t width, int64_t hd, float* out) {
  int64_t d = 0;
  for (; d + 32 <= hd; d += 32) {
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    for (int64_t j = 0; j < n; j++) {
      if (p[j] == 0.0f) continue;
      const __m256 s = _mm256_set1_ps(p[j]);
      const KV* r = v + j * width + d;
      a0 = _mm256_fmadd_ps(s, load8f(r), a0);
      a1 = _mm256_fmadd_ps(s, load8f(r + 8), a1);
      a2 = _mm256_fmadd_ps(s, load8f(r + 16), a2);
      a3 = _mm256_fmadd_ps(s, load8f(r + 24), a3);
    }
    _mm256_storeu_ps(out + d, a0); _mm256_storeu_ps(out + d + 8, a1);
    _mm256_storeu_ps(out + d + 16, a2); _mm256_storeu_ps(out + d + 24, a3);
  }
  for (; d + 8 <= hd; d += 8) {
    __m256 a0 = _mm256_setzero_ps();
    for (int64_t j = 0; j < n; j++)
      if (p[j] != 0.0f) a0 = _mm256_fmadd_ps(_mm256_set1_ps(p[j]), load8f(v + j * width + d), a0);
    _mm256_storeu_ps(out + d, a0);
  }
  for (; d < hd; d++) {
    float a = 0;
    for (int64_t j = 0; j < n; j++)
      if (p[j] != 0.0f) a = std::fma(p[j], to_f32(v[j * width + d]), a);
    out[d] = a;
  }
}
AVX2_FN inline double hsum4d(__m256d v) {
  __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
  return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}
// exp on 8 lanes (Cephes' expf: range reduction by ln 2 and a degree-5 polynomial; ~1 ulp on
// [-87, 88], saturating outside): the tanh-form GELUs and sigmoids then cost a few ns per value
// instead of a libm call.
AVX2_FN inline __m256 exp256(__m256 x) {
  x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.3f)), _mm256_set1_ps(88.3f));
  __m256 fx = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), x);
  x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.12194440e-4f), x);
  __m256 y = _mm256_set1_ps(1.9875691500e-4f);
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.3981999507e-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(8.3334519073e-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(4.1665795894e-2f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.6666665459e-1f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(5.0000001201e-1f));
  y = _mm256_fmadd_ps(y, _mm256_mul_ps(x, x), _mm256_add_ps(x, _mm256_set1_ps(1.0f)));
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(fx), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(y, _mm256_castsi256_ps(e));
}
// Softmax's exp-and-normalize on 8 lanes: s[j] → exp(s[j] − max) (−∞, a masked key, → 0), the sum in
// double as the scalar version, then scaled by 1/sum. exp256 is within ~1 ulp of std::exp (the op tests
// compare with the reference's Math.exp); arguments below −87.3 saturate to ~1e-38 instead of a
// denormal, which is below float resolution next to the max's exp(0) = 1.
AVX2_FN double exp_sum_avx2(float* s, int64_t n, float max) {
  const __m256 vmax = _mm256_set1_ps(max), ninf = _mm256_set1_ps(-INFINITY);
  __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    const __m256 v = _mm256_loadu_ps(s + j);
    const __m256 e = _mm256_and_ps(exp256(_mm256_sub_ps(v, vmax)), _mm256_cmp_ps(v, ninf, _CMP_NEQ_OQ));
    _mm256_storeu_ps(s + j, e);
    s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
    s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
  }
  double sum = hsum4d(_mm256_add_pd(s0, s1));
  for (; j < n; j++) {
    const float e = s[j] == -INFINITY ? 0.0f : std::exp(s[j] - max);
    s[j] = e;
    sum += e;
  }
  return sum;
}

// s[0..n) *= scale in place; returns the max (−∞ for n = 0). Same products as the scalar loop.
AVX2_FN float scale_max_avx2(float* s, int64_t n, float scale) {
  const __m256 vs = _mm256_set1_ps(scale);
  __m256 vm = _mm256_set1_ps(-INFINITY);
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    const __m256 v = _mm256_mul_ps(_mm256_loadu_ps(s + j), vs);
    _mm256_storeu_ps(s + j, v);
    vm = _mm256_max_ps(vm, v);
  }
  alignas(32) float t[8];
  _mm256_store_ps(t, vm);
  float max = -INFINITY;
  for (int i = 0; i < 8; i++) max = std::max(max, t[i]);
  for (; j < n; j++) { s[j] *= scale; max = std::max(max, s[j]); }
  return max;
}

// Prefill attention reads each key and value row once for QB = 8 queries of one head (instead of once
// per query): out[i][j] = q_i · k_j for j < n (a key's 8 sums reduced together), and
// o_i[d] = Σ_j p_i[j] · v_j[d], 8 dims of the 8 outputs in registers at a time (sums in j order).
// The 8 sums of a0..a7 (each 8 lanes) as one vector: lane i = Σ a_i.
AVX2_FN inline __m256 hsum8x8(__m256 a0, __m256 a1, __m256 a2, __m256 a3, __m256 a4, __m256 a5, __m256 a6, __m256 a7) {
  const __m256 h0 = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));  // per 128-bit half: Σa0..Σa3
  const __m256 h1 = _mm256_hadd_ps(_mm256_hadd_ps(a4, a5), _mm256_hadd_ps(a6, a7));
  return _mm256_add_ps(_mm256_permute2f128_ps(h0, h1, 0x20), _mm256_permute2f128_ps(h0, h1, 0x31));
}
template <typename KV>
AVX2_FN void scores_qb_avx2(const float* const* q, const KV* k, int64_t width, int64_t n, int64_t hd, float* const* out) {
  const int64_t hd8 = hd / 8 * 8;
  // Key rows are `width` apart (one head's slice of each position): prefetch a few rows ahead, the
  // hardware's stream prefetchers do not follow that stride (the loads stalled here without it).
  const int64_t lineStep = 64 / int64_t(sizeof(KV)), PD = 8;
  for (int64_t j = 0; j < n; j++) {
    const KV* kr = k + j * width;
    if (j + PD < n)
      for (int64_t d = 0; d < hd; d += lineStep) _mm_prefetch(reinterpret_cast<const char*>(kr + PD * width + d), _MM_HINT_T0);
    __m256 a[QB];
    for (int i = 0; i < QB; i++) a[i] = _mm256_setzero_ps();
    for (int64_t d = 0; d < hd8; d += 8) {
      const __m256 kv = load8f(kr + d);
      for (int i = 0; i < QB; i++) a[i] = _mm256_fmadd_ps(_mm256_loadu_ps(q[i] + d), kv, a[i]);
    }
    alignas(32) float r[QB];
    _mm256_store_ps(r, hsum8x8(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]));
    for (int64_t d = hd8; d < hd; d++) {
      const float kd = to_f32(kr[d]);
      for (int i = 0; i < QB; i++) r[i] += q[i][d] * kd;
    }
    for (int i = 0; i < QB; i++) out[i][j] = r[i];
  }
}
template <typename KV>
AVX2_FN void weighted_sum_qb_avx2(const float* const* p, int64_t n, const KV* v, int64_t width, int64_t hd, float* const* out) {
  constexpr int64_t PD = 8;  // value rows prefetched ahead (their stride defeats the stream prefetchers)
  int64_t d = 0;
  for (; d + 8 <= hd; d += 8) {
    __m256 a[QB];
    for (int i = 0; i < QB; i++) a[i] = _mm256_setzero_ps();
    for (int64_t j = 0; j < n; j++) {
      if (j + PD < n) _mm_prefetch(reinterpret_cast<const char*>(v + (j + PD) * width + d), _MM_HINT_T0);
      const __m256 vv = load8f(v + j * width + d);
      for (int i = 0; i < QB; i++) a[i] = _mm256_fmadd_ps(_mm256_broadcast_ss(p[i] + j), vv, a[i]);
    }
    for (int i = 0; i < QB; i++) _mm256_storeu_ps(out[i] + d, a[i]);
  }
  for (; d < hd; d++)
    for (int i = 0; i < QB; i++) {
      float acc = 0;
      for (int64_t j = 0; j < n; j++) acc = std::fma(p[i][j], to_f32(v[j * width + d]), acc);
      out[i][d] = acc;
    }
}

AVX2_FN uint64_t read_sum_avx2(const uint64_t* a, int64_t n, int64_t* done) {
  __m256i s0 = _mm256_setzero_si256(), s1 = _mm256_setzero_si256();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm_prefetch(reinterpret_cast<const char*>(a + i) + 1024, _MM_HINT_T0);
    s0 = _mm256_add_epi64(s0, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + i)));
    s1 = _mm256_add_epi64(s1, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + i + 4)));
  }
  *done = i;
  alignas(32) uint64_t t[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(t), _mm256_add_epi64(s0, s1));
  return t[0] + t[1] + t[2] + t[3];
}
AVX2_FN void to_f16_avx2(const float* src, uint16_t* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i), _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
  for (; i < n; i++) dst[i] = f32_to_f16(src[i]);
}

// Decode attention over one cache row, every head at once (the row read in memory order):
// out[h·stride] = scale · (q_h · row_h) for h < nHead. G = 8 or 4 heads share a pass: G independent
// accumulator chains and one reduction for their G sums. (Per (row, head) calls of dot_kv_avx2
// were bound by their two-chain FMA latency and their horizontal sum: ~4× the FMA throughput, and
// attention over a 1000-position cache took ~1.8× the time its bytes take to stream.)
template <int G, typename KV>
AVX2_FN void scores_heads_avx2(const float* q, const KV* row, int64_t hd, float scale, float* out, int64_t stride) {
  static_assert(G == 8 || G == 4, "8 or 4 heads a pass");
  const int64_t hd8 = hd / 8 * 8;
  __m256 a[G];
  for (int i = 0; i < G; i++) a[i] = _mm256_setzero_ps();
  for (int64_t d = 0; d < hd8; d += 8)
    for (int i = 0; i < G; i++) a[i] = _mm256_fmadd_ps(_mm256_loadu_ps(q + i * hd + d), load8f(row + i * hd + d), a[i]);
  alignas(32) float t[8];
  if constexpr (G == 8) _mm256_store_ps(t, hsum8x8(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]));
  else _mm_store_ps(t, hsum4x4(a[0], a[1], a[2], a[3]));
  for (int i = 0; i < G; i++) {
    float v = t[i];
    for (int64_t d = hd8; d < hd; d++) v += q[i * hd + d] * to_f32(row[i * hd + d]);
    out[i * stride] = v * scale;
  }
}
template <typename KV>
AVX2_FN void scores_row_avx2(const float* q, const KV* row, int64_t nHead, int64_t hd, float scale, float* out, int64_t stride) {
  int64_t h = 0;
  for (; h + 8 <= nHead; h += 8) scores_heads_avx2<8>(q + h * hd, row + h * hd, hd, scale, out + h * stride, stride);
  if (h + 4 <= nHead) {  // four more (the 13B shape has 36 heads)
    scores_heads_avx2<4>(q + h * hd, row + h * hd, hd, scale, out + h * stride, stride);
    h += 4;
  }
  for (; h < nHead; h++) out[h * stride] = dot_kv_avx2(q + h * hd, row + h * hd, hd) * scale;
}

// y[0..n) += w0·x0 + w1·x1 + w2·x2 + w3·x3 (four cache rows), as four axpy_kv_avx2 calls in that
// order would compute it (the same FMA chain per element), with y loaded and stored once.
template <typename KV>
AVX2_FN void axpy4_kv_avx2(float* y, const float* w, const KV* x0, const KV* x1, const KV* x2, const KV* x3, int64_t n) {
  const __m256 w0 = _mm256_set1_ps(w[0]), w1 = _mm256_set1_ps(w[1]), w2 = _mm256_set1_ps(w[2]), w3 = _mm256_set1_ps(w[3]);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 acc = _mm256_loadu_ps(y + i);
    acc = _mm256_fmadd_ps(w0, load8f(x0 + i), acc);
    acc = _mm256_fmadd_ps(w1, load8f(x1 + i), acc);
    acc = _mm256_fmadd_ps(w2, load8f(x2 + i), acc);
    acc = _mm256_fmadd_ps(w3, load8f(x3 + i), acc);
    _mm256_storeu_ps(y + i, acc);
  }
  for (; i < n; i++) {
    float a = y[i];
    a = std::fma(w[0], to_f32(x0[i]), a);
    a = std::fma(w[1], to_f32(x1[i]), a);
    a = std::fma(w[2], to_f32(x2[i]), a);
    y[i] = std::fma(w[3], to_f32(x3[i]), a);
  }
}

#include "avx512.h"
#include "avxvnni.h"
#include "amx.h"
#endif

// Key/value rows in the cache: float32 or f16 bits.
inline float kv_value(const Context&, float v) { return v; }
inline float kv_value(const Context& ctx, uint16_t h) { return ctx.f16_table[h]; }

template <typename KV>
float dot_kv(const Context& ctx, const float* a, const KV* b, int64_t n) {
#ifdef FUGAKU_X86
  if (ctx.simd) return dot_kv_avx2(a, b, n);
#endif
#ifdef FUGAKU_ARM64
  if (ctx.neon) return neon::dot(a, b, n);
#endif
  float s = 0;
  for (int64_t i = 0; i < n; i++) s += a[i] * kv_value(ctx, b[i]);
  return s;
}
template <typename KV>
void scores_kv(const Context& ctx, const float* q, const KV* k, int64_t width, int64_t n, int64_t hd, float* out) {
#ifdef FUGAKU_X86
  if (ctx.simd) { scores_avx2(q, k, width, n, hd, out); return; }
#endif
  for (int64_t j = 0; j < n; j++) out[j] = dot_kv(ctx, q, k + j * width, hd);
}
template <typename KV>
void axpy_kv(const Context& ctx, float* y, float a, const KV* x, int64_t n) {
#ifdef FUGAKU_X86
  if (ctx.simd) { axpy_kv_avx2(y, a, x, n); return; }
#endif
#ifdef FUGAKU_ARM64
  if (ctx.neon) { neon::axpy(y, a, x, n); return; }
#endif
  for (int64_t i = 0; i < n; i++) y[i] += a * kv_value(ctx, x[i]);
}
// Asks for bytes [p, p + n) to be brought into the caches (a hint: no fault, no result).
inline void prefetch_bytes(const void* p, int64_t n) {
  const char* c = static_cast<const char*>(p);
  for (int64_t o = 0; o < n; o += 64) __builtin_prefetch(c + o, 0, 3);
}

// out[h·stride] = scale · (q_h · row_h) for every head of one cache row.
template <typename KV>
void scores_row(const Context& ctx, const float* q, const KV* row, int64_t nHead, int64_t hd, float scale, float* out, int64_t stride) {
#ifdef FUGAKU_X86
  if (ctx.simd) { scores_row_avx2(q, row, nHead, hd, scale, out, stride); return; }
#endif
  for (int64_t h = 0; h < nHead; h++) out[h * stride] = dot_kv(ctx, q + h * hd, row + h * hd, hd) * scale;
}
// y += w[r]·x_r for four rows r in order, zero weights skipped (as four axpy_kv calls).
template <typename KV>
void axpy4_kv(const Context& ctx, float* y, const float* w, const KV* x0, const KV* x1, const KV* x2, const KV* x3, int64_t n) {
#ifdef FUGAKU_X86
  // A zero weight is skipped, never multiplied (0·inf would be NaN): only all-nonzero quads fuse.
  if (ctx.simd && w[0] != 0.0f && w[1] != 0.0f && w[2] != 0.0f && w[3] != 0.0f) { axpy4_kv_avx2(y, w, x0, x1, x2, x3, n); return; }
#endif
  const KV* x[4] = {x0, x1, x2, x3};
  for (int r = 0; r < 4; r++)
    if (w[r] != 0.0f) axpy_kv(ctx, y, w[r], x[r], n);
}
template <typename KV>
void weighted_sum_kv(const Context& ctx, const float* p, int64_t n, const KV* v, int64_t width, int64_t hd, float* out) {
#ifdef FUGAKU_X86
  if (ctx.simd) { weighted_sum_avx2(p, n, v, width, hd, out); return; }
#endif
  std::fill(out, out + hd, 0.0f);
  for (int64_t j = 0; j < n; j++) {
    if (p[j] != 0.0f) axpy_kv(ctx, out, p[j], v + j * width, hd);
  }
}

// ---------------------------------------------------------------- matmul driver
constexpr int NR = 4;  // activation rows per weight read (prefill reads every weight once per NR tokens)
constexpr int NR2 = 8;  // the same for the AVX-512 pair kernels (32 vector registers hold 8 rows' sums)

template <int R>
void dot_rows_float(Context& ctx, const Matrix& m, int64_t o, const float* const* xs, float* res) {
#ifdef FUGAKU_X86
  if (ctx.avx512) { avx512::dot_float<R>(m.format, m.data + o * m.row_bytes, m.in_dim, xs, res); return; }
  if (ctx.simd) { dot_float_avx2<R>(m, o, xs, res); return; }
#endif
#ifdef FUGAKU_ARM64
  if (ctx.neon) { neon::dot_float<R>(m.format, m.data + o * m.row_bytes, m.in_dim, xs, res); return; }
#endif
  dot_float_portable<R>(m, o, xs, res, ctx.f16_table.data());
}

// Float formats: chunks of CH output features × RB activation rows, each weight row read once per NR rows.
void matmul_float(Context& ctx, const Matrix& m, const float* x, int64_t rows, const float* bias, float* out) {
  const int64_t in = m.in_dim, outd = m.out_dim, CH = 32, RB = 64;
  const int64_t oChunks = (outd + CH - 1) / CH, rChunks = (rows + RB - 1) / RB;
  auto chunk = [&](int64_t c) {
    const int64_t r0 = (c / oChunks) * RB, r1 = std::min(rows, r0 + RB);
    const int64_t oa = (c % oChunks) * CH, ob = std::min(outd, oa + CH);
    // Activation rows r.. of output o one at a time (what is left after the NR-row tiles).
    auto rest = [&](int64_t o, int64_t r) {
      for (; r < r1; r++) {
        const float* xs[1] = {x + r * in}; float res[1];
        dot_rows_float<1>(ctx, m, o, xs, res);
        out[r * outd + o] = res[0] + (bias ? bias[o] : 0.0f);
      }
    };
    for (int64_t o = oa; o < ob; o++) {
      int64_t r = r0;
#ifdef FUGAKU_X86
      if (ctx.simd && o + 1 < ob && r1 - r0 >= NR) {
        // Two output rows at once for the full groups of NR activation rows (prefill); the rest of
        // the rows one by one for both.
        for (; r + NR <= r1; r += NR) {
          const float* xs[NR]; float res0[NR], res1[NR];
          for (int k = 0; k < NR; k++) xs[k] = x + (r + k) * in;
          if (ctx.avx512) avx512::dot2_float<NR>(m.format, m.data + o * m.row_bytes, m.data + (o + 1) * m.row_bytes, in, xs, res0, res1);
          else dot2_float_avx2<NR>(m, o, xs, res0, res1);
          for (int k = 0; k < NR; k++) {
            out[(r + k) * outd + o] = res0[k] + (bias ? bias[o] : 0.0f);
            out[(r + k) * outd + o + 1] = res1[k] + (bias ? bias[o + 1] : 0.0f);
          }
        }
        rest(o, r);
        rest(o + 1, r);
        o++;
        continue;
      }
#endif
      for (; r + NR <= r1; r += NR) {
        const float* xs[NR]; float res[NR];
        for (int k = 0; k < NR; k++) xs[k] = x + (r + k) * in;
        dot_rows_float<NR>(ctx, m, o, xs, res);
        for (int k = 0; k < NR; k++) out[(r + k) * outd + o] = res[k] + (bias ? bias[o] : 0.0f);
      }
      rest(o, r);
    }
  };
  // Small products are not worth waking the other threads for.
  if (int64_t(m.bytes) * rows < (int64_t(1) << 18)) { for (int64_t c = 0; c < oChunks * rChunks; c++) chunk(c); return; }
  ctx.pool.parallel_for(oChunks * rChunks, chunk);
}

#ifdef FUGAKU_ARM64
template <int N>
void group_neon(const Context& ctx, const Matrix& m, int64_t g, const int8_t* const* xq, const float* const* xd, float* res) {
  const uint8_t* base = group_data(m, g);
  const int64_t nb = m.in_dim / QK;
  if (ctx.dotprod) {
    if (m.format == Q4_0) neon::dp::group_q4_0<N>(base, nb, xq, xd, res);
    else neon::dp::group_q8_0<N>(base, nb, xq, xd, res);
  } else {
    if (m.format == Q4_0) neon::base::group_q4_0<N>(base, nb, xq, xd, res);
    else neon::base::group_q8_0<N>(base, nb, xq, xd, res);
  }
}
#endif

#ifdef FUGAKU_X86
template <int N>
void group_vnni(const Matrix& m, int64_t g, const int8_t* const* xq, const float* const* xd, const int32_t* const* xsum, float* res) {
  const uint8_t* base = group_data(m, g);
  if (m.format == Q4_0) avxvnni::group_q4_0<N>(base, m.in_dim / QK, xq, xd, xsum, res);
  else avxvnni::group_q8_0<N>(base, m.in_dim / QK, xq, xd, xsum, res);
}
#endif

// Calls f(std::integral_constant<int, k>{}) for k = min(max(n, 1), Max): the kernels are templates over
// their number of activation rows.
template <int Max, int K = 1, typename F>
void for_rows(int n, F&& f) {
  if constexpr (K == Max) f(std::integral_constant<int, K>{});
  else if (n <= K) f(std::integral_constant<int, K>{});
  else for_rows<Max, K + 1>(n, f);
}

// One group of 8 output rows × n ≤ NR activation rows into res[t·8 + r].
void group_rows(Context& ctx, const Matrix& m, int64_t g, int n, const int8_t* const* xq, const float* const* xd, const int32_t* const* xsum, float* res) {
#ifdef FUGAKU_X86
  if (ctx.vnni) return for_rows<NR>(n, [&](auto N) { group_vnni<decltype(N)::value>(m, g, xq, xd, xsum, res); });
  if (ctx.simd) return for_rows<NR>(n, [&](auto N) { group_quant_avx2<decltype(N)::value>(m, g, xq, xd, xsum, res); });
#endif
#ifdef FUGAKU_ARM64
  if (ctx.neon) return for_rows<NR>(n, [&](auto N) { group_neon<decltype(N)::value>(ctx, m, g, xq, xd, res); });
#endif
  const float* f16t = ctx.f16_table.data();
  for_rows<NR>(n, [&](auto N) { group_dot_portable<decltype(N)::value>(m, g, xq, xd, f16t, res); });
}

#ifdef FUGAKU_X86
// Two groups (16 output rows) × n ≤ NR2 activation rows into res[t·16 + r] (AVX-512 level).
template <int N>
void pair_rows_n(const Matrix& m, const uint8_t* a, const uint8_t* b, const int8_t* const* xq, const float* const* xd,
                 const int32_t* const* xsum, float* res) {
  if (m.format == Q4_0) avx512::pair_q4_0<N>(a, b, m.in_dim / QK, xq, xd, xsum, res);
  else avx512::pair_q8_0<N>(a, b, m.in_dim / QK, xq, xd, xsum, res);
}
void pair_rows(const Matrix& m, int64_t g, int n, const int8_t* const* xq, const float* const* xd, const int32_t* const* xsum, float* res) {
  const uint8_t* a = group_data(m, g);
  const uint8_t* b = group_data(m, g + 1);
  for_rows<NR2>(n, [&](auto N) { pair_rows_n<decltype(N)::value>(m, a, b, xq, xd, xsum, res); });
}
#endif

// The AMX level uses tiles from this many activation rows on (fewer rows, as in decode, take the
// AVX-512 kernels: a tile step costs about the same for 1 row as for 16), AMX_ROWS at a time.
constexpr int64_t AMX_MIN_ROWS = 8;
constexpr int64_t AMX_ROWS = 16;

#ifdef FUGAKU_X86
void quantize_acts_avx2(const float* x, int64_t n, int8_t* q, float* d, int32_t* sums);

static_assert(AMX_ROWS == amx::kM, "amx.h's tile rows");
static_assert(amx::kMaxTiles * amx::kM >= 64, "a chunk's rows fit one pair_tiles call");

// Groups [ga, gb) × activation rows [r0, r1) of matmul_quant on AMX tiles, two groups at a time;
// q and d have zero rows up to a multiple of 16. Returns how many groups it did (an odd last group
// is left to the caller's AVX-512 path).
FUGAKU_AMX_FN int64_t amx_chunk(const Matrix& m, int64_t ga, int64_t gb, int64_t r0, int64_t r1, const int8_t* q, const float* d,
                                const float* bias, float* out) {
  const int64_t in = m.in_dim, nb = in / QK, outd = m.out_dim;
  const int mt = int((r1 - r0 + amx::kM - 1) / amx::kM);
  const amx::TileConfig cfg = amx::tile_config();
  _tile_loadconfig(&cfg);
  amx::Scratch s;
  int64_t g = ga;
  for (; g + 1 < gb; g += 2) {
    const uint8_t* a = group_data(m, g);
    const uint8_t* b = group_data(m, g + 1);
    if (m.format == Q4_0) amx::pair_tiles<true>(a, b, nb, q + r0 * in, in, d + r0 * nb, mt, s);
    else amx::pair_tiles<false>(a, b, nb, q + r0 * in, in, d + r0 * nb, mt, s);
    const int64_t o0 = g * IL, valid = std::min<int64_t>(2 * IL, outd - o0);
    for (int64_t r = r0; r < r1; r++)
      for (int64_t l = 0; l < valid; l++) out[r * outd + o0 + l] = s.acc[(r - r0) * 16 + l] + (bias ? bias[o0 + l] : 0.0f);
  }
  _tile_release();
  return g - ga;
}
#endif

// Quantized formats: activations are quantized to int8 blocks (Q8_0's rule) once, then chunks of GC
// groups (8 output rows each) × RB activation rows run the integer kernels, NR (NR2) rows per weight read.
// At the AVX-512 level, groups go two at a time (16 rows per vector; a chunk's odd last group
// takes the AVX2 kernel), and Q8_0 needs the activation block sums too.
void matmul_quant(Context& ctx, const Matrix& m, const float* x, int64_t rows, const float* bias, float* out) {
  const int64_t in = m.in_dim, outd = m.out_dim, nb = in / QK;
  const bool pairs = ctx.avx512;
  // AMX tiles take 16 activation rows at a time: the buffers get zero rows up to a multiple of 16.
  const bool tiles = ctx.amx && rows >= AMX_MIN_ROWS;
  const int64_t padded = tiles ? (rows + AMX_ROWS - 1) / AMX_ROWS * AMX_ROWS : rows;
  std::vector<int8_t> q(padded * in);
  std::vector<float> d(padded * nb);
  // Σ of each activation block: Q4_0's offset of 8 (and, at the AVX-512 and AVX-VNNI levels, Q8_0's of 128).
  std::vector<int32_t> sums(m.format == Q4_0 || pairs || ctx.vnni ? rows * nb : 0);
  auto qrow = [&](int64_t r) {
    int32_t* s = sums.empty() ? nullptr : sums.data() + r * nb;
#ifdef FUGAKU_X86
    if (ctx.simd) { quantize_acts_avx2(x + r * in, in, q.data() + r * in, d.data() + r * nb, s); return; }
#endif
#ifdef FUGAKU_ARM64
    if (ctx.neon) { neon::quantize_acts(x + r * in, in, q.data() + r * in, d.data() + r * nb, s); return; }
#endif
    quantize_acts(x + r * in, in, q.data() + r * in, d.data() + r * nb, s);
  };
  if (rows < 4) { for (int64_t r = 0; r < rows; r++) qrow(r); }
  else ctx.pool.parallel_for(rows, qrow);
  const int64_t G = groups_of(outd), GC = 8, RB = 64;
  const int64_t gChunks = (G + GC - 1) / GC, rChunks = (rows + RB - 1) / RB;
  auto chunk = [&](int64_t c) {
    const int64_t r0 = (c / gChunks) * RB, r1 = std::min(rows, r0 + RB);
    const int64_t ga = (c % gChunks) * GC, gb = std::min(G, ga + GC);
    int64_t g = ga;
#ifdef FUGAKU_X86
    if (tiles) g += amx_chunk(m, ga, gb, r0, r1, q.data(), d.data(), bias, out);  // all but an odd last group
#endif
    float res[NR2 * 2 * IL];
    while (g < gb) {
      const int64_t span = pairs && g + 1 < gb ? 2 : 1;  // groups in this step
      const int64_t o0 = g * IL, valid = std::min<int64_t>(span * IL, outd - o0);
      const int64_t step = span == 2 ? NR2 : NR;
      for (int64_t r = r0; r < r1; r += step) {
        const int n = int(std::min<int64_t>(step, r1 - r));
        const int8_t* xqs[NR2]; const float* xds[NR2]; const int32_t* xss[NR2];
        for (int t = 0; t < n; t++) {
          xqs[t] = q.data() + (r + t) * in;
          xds[t] = d.data() + (r + t) * nb;
          xss[t] = sums.empty() ? nullptr : sums.data() + (r + t) * nb;
        }
#ifdef FUGAKU_X86
        if (span == 2) pair_rows(m, g, n, xqs, xds, xss, res);
        else
#endif
          group_rows(ctx, m, g, n, xqs, xds, xss, res);
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

void matmul(Context& ctx, const Matrix& m, const float* x, int64_t rows, const float* bias, float* out) {
  if (is_quant(m.format)) matmul_quant(ctx, m, x, rows, bias, out);
  else matmul_float(ctx, m, x, rows, bias, out);
}

// ---------------------------------------------------------------- attention (exact softmax, as the reference)
// s[j] → exp(s[j] − max) in place, −∞ (masked) → 0; returns Σ_j, summed in double.
double exp_sum(const Context& ctx, float* s, int64_t n, float max) {
#ifdef FUGAKU_X86
  if (ctx.simd) return exp_sum_avx2(s, n, max);
#endif
#ifdef FUGAKU_ARM64
  if (ctx.neon) return neon::exp_sum(s, n, max);
#endif
  double sum = 0;
  for (int64_t j = 0; j < n; j++) {
    const float e = s[j] == -INFINITY ? 0.0f : std::exp(s[j] - max);
    s[j] = e;
    sum += e;
  }
  return sum;
}

// s[j] → exp(s[j] − max) / Σ_j exp(s[j] − max) in place, −∞ (masked) → 0; the sum in double. (The
// scaling is one multiply per element, the same bits at any vector width: the compiler vectorizes it.)
void exp_normalize(const Context& ctx, float* s, int64_t n, float max) {
  const float inv = float(1.0 / exp_sum(ctx, s, n, max));
  for (int64_t j = 0; j < n; j++) s[j] *= inv;
}

// s[0..n) *= scale in place; returns the max (−∞ for n = 0).
float scale_max(const Context& ctx, float* s, int64_t n, float scale) {
#ifdef FUGAKU_X86
  if (ctx.simd) return scale_max_avx2(s, n, scale);
#endif
#ifdef FUGAKU_ARM64
  if (ctx.neon) return neon::scale_max(s, n, scale);
#endif
  float max = -INFINITY;
  for (int64_t j = 0; j < n; j++) { s[j] *= scale; max = std::max(max, s[j]); }
  return max;
}

// Scores of one query over keys 0..last (already q·k) → softmax weights in place: scaled, padding keys
// (keyMask 0) and keys past `last` excluded; false if every key is masked (the output is then 0).
bool softmax_row(const Context& ctx, float* scores, int64_t last, int64_t n, float scale, const uint8_t* keyMask) {
  float max = -INFINITY;
  if (!keyMask) {  // no padding: keys 0..last scaled (vectorized where the kernel set is), −∞ after them
    const int64_t m = std::min(n, last + 1);
    max = scale_max(ctx, scores, m, scale);
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
        scores_row(ctx, q + hg * headDim, kc + (j0 + j) * width + hg * headDim, hn, headDim, scale, sc + j, KB);
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
          csum[c * nHead + hg + h] = exp_sum(ctx, s, m, mx);
        }
      }
      // Value rows four at a time (each head's sum still adds them in position order).
      float* acc = partial.data() + c * width + hg * headDim;
      const KV* vr = vc + j0 * width + hg * headDim;
      int64_t j = 0;
      for (; j + 4 <= m; j += 4)
        for (int64_t h = 0; h < hn; h++) {
          const int64_t o = h * headDim;
          const KV* x = vr + j * width + o;
          axpy4_kv(ctx, acc + o, sc + h * KB + j, x, x + width, x + 2 * width, x + 3 * width, headDim);
        }
      for (; j < m; j++)
        for (int64_t h = 0; h < hn; h++) {
          const float pw = sc[h * KB + j];
          if (pw != 0.0f) axpy_kv(ctx, acc + h * headDim, pw, vr + j * width + h * headDim, headDim);
        }
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

// The prefill block kernels of the kernel set in use (the caller checked ctx.simd or ctx.neon).
#if defined(FUGAKU_X86) || defined(FUGAKU_ARM64)
static_assert(QB == 8, "the block kernels hold 8 queries");
template <typename KV>
void scores_qb(const float* const* q, const KV* k, int64_t width, int64_t n, int64_t hd, float* const* out) {
#ifdef FUGAKU_X86
  scores_qb_avx2(q, k, width, n, hd, out);
#else
  static_assert(neon::kQB == QB, "neon_float.h's query block");
  neon::scores_qb(q, k, width, n, hd, out);
#endif
}
template <typename KV>
void weighted_sum_qb(const float* const* p, int64_t n, const KV* v, int64_t width, int64_t hd, float* const* out) {
#ifdef FUGAKU_X86
  weighted_sum_qb_avx2(p, n, v, width, hd, out);
#else
  neon::weighted_sum_qb(p, n, v, width, hd, out);
#endif
}
#endif

template <typename KV>
void attention(Context& ctx, const float* q, int64_t t, const KV* kc, const KV* vc, int64_t past, int64_t nHead,
               int64_t headDim, float scale, const uint8_t* keyMask, float* out) {
  const int64_t width = nHead * headDim;
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
#if defined(FUGAKU_X86) || defined(FUGAKU_ARM64)
  // Prefill: tasks of QB consecutive queries of one head, each key and value row read once per task.
  // Query i sees keys 0..past+i, so the block computes scores up to its last query's keys and masks
  // the (at most QB − 1) keys each earlier query does not see.
  if ((ctx.simd || ctx.neon) && t >= 4) {
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
      scores_qb(qs, kc + h * headDim, width, n, headDim, ss);
      bool any[QB];
      for (int i = 0; i < QB; i++) any[i] = softmax_row(ctx, ss[i], past + i0 + std::min<int64_t>(i, nq - 1), n, scale, keyMask);
      weighted_sum_qb(ss, n, vc + h * headDim, width, headDim, os);
      for (int i = 0; i < nq; i++)
        if (!any[i]) std::fill(os[i], os[i] + headDim, 0.0f);  // every key masked: output 0
    };
    if ((past + t) * t * width < 16384) { for (int64_t w = 0; w < nHead * blocks; w++) block(w); return; }
    ctx.pool.parallel_for(nHead * blocks, block);
    return;
  }
#endif
  auto one = [&](int64_t w) {
    std::vector<float> scores(past + t);
    const int64_t h = w % nHead, i = w / nHead;
    const int64_t last = past + i;
    const float* qh = q + i * width + h * headDim;
    scores_kv(ctx, qh, kc + h * headDim, width, last + 1, headDim, scores.data());
    float* oh = out + i * width + h * headDim;
    if (!softmax_row(ctx, scores.data(), last, last + 1, scale, keyMask)) { std::fill(oh, oh + headDim, 0.0f); return; }
    weighted_sum_kv(ctx, scores.data(), last + 1, vc + h * headDim, width, headDim, oh);
  };
  if ((past + t) * t * width < 16384) { for (int64_t w = 0; w < nHead * t; w++) one(w); return; }
  ctx.pool.parallel_for(nHead * t, one);
}

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

#ifdef FUGAKU_X86
AVX2_FN void layer_norm_row_avx2(const float* xr, int64_t dim, const float* g, const float* b, float eps, float* out) {
  const int64_t n8 = dim / 8 * 8;
  __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
  for (int64_t i = 0; i < n8; i += 8) {
    const __m256 v = _mm256_loadu_ps(xr + i);
    s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
    s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
  }
  double mean = hsum4d(_mm256_add_pd(s0, s1));
  for (int64_t i = n8; i < dim; i++) mean += xr[i];
  mean /= double(dim);
  const __m256d md = _mm256_set1_pd(mean);
  s0 = _mm256_setzero_pd(); s1 = _mm256_setzero_pd();
  for (int64_t i = 0; i < n8; i += 8) {
    const __m256 v = _mm256_loadu_ps(xr + i);
    const __m256d d0 = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(v)), md);
    const __m256d d1 = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)), md);
    s0 = _mm256_fmadd_pd(d0, d0, s0);
    s1 = _mm256_fmadd_pd(d1, d1, s1);
  }
  double var = hsum4d(_mm256_add_pd(s0, s1));
  for (int64_t i = n8; i < dim; i++) { double d = xr[i] - mean; var += d * d; }
  const float inv = float(1.0 / std::sqrt(var / double(dim) + eps));
  const float m = float(mean);
  const __m256 vm = _mm256_set1_ps(m), vi = _mm256_set1_ps(inv);
  for (int64_t i = 0; i < n8; i += 8)
    _mm256_storeu_ps(out + i, _mm256_fmadd_ps(_mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(xr + i), vm), vi), _mm256_loadu_ps(g + i), _mm256_loadu_ps(b + i)));
  for (int64_t i = n8; i < dim; i++) out[i] = (xr[i] - m) * inv * g[i] + b[i];
}
// a[i] += b[i]
AVX2_FN void add_avx2(float* a, const float* b, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(a + i, _mm256_add_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)));
  for (; i < n; i++) a[i] += b[i];
}
#endif

// Rows are independent: spread over the pool when there are enough of them to pay for it.
void layer_norm(Context& ctx, const float* x, int64_t rows, int64_t dim, const float* g, const float* b, float eps, float* out) {
  auto row = [&](int64_t r) {
#ifdef FUGAKU_X86
    if (ctx.simd) { layer_norm_row_avx2(x + r * dim, dim, g, b, eps, out + r * dim); return; }
#endif
#ifdef FUGAKU_ARM64
    if (ctx.neon) { neon::layer_norm_row(x + r * dim, dim, g, b, eps, out + r * dim); return; }
#endif
    layer_norm_row(x + r * dim, dim, g, b, eps, out + r * dim);
  };
  if (rows * dim < 65536) { for (int64_t r = 0; r < rows; r++) row(r); return; }
  ctx.pool.parallel_for(rows, row);
}

void add_in_place(Context& ctx, float* a, const float* b, int64_t n) {
  const int64_t CH = 65536;
  auto part = [&](int64_t c) {
    const int64_t lo = c * CH, hi = std::min(n, lo + CH);
#ifdef FUGAKU_X86
    if (ctx.simd) { add_avx2(a + lo, b + lo, hi - lo); return; }
#endif
    for (int64_t i = lo; i < hi; i++) a[i] += b[i];
  };
  const int64_t chunks = (n + CH - 1) / CH;
  if (chunks <= 1) { if (n > 0) part(0); return; }
  ctx.pool.parallel_for(chunks, part);
}

enum Act : int32_t { GELU = 0, GELU_TANH = 1, GELU_FAST = 2, QUICK_GELU = 3, RELU = 4, SILU = 5 };
#ifdef FUGAKU_ARM64
static_assert(neon::kGeluTanh == GELU_TANH && neon::kGeluFast == GELU_FAST && neon::kQuickGelu == QUICK_GELU && neon::kSilu == SILU, "neon_float.h's activation kinds");
static_assert(neon::kF32 == F32 && neon::kBF16 == BF16 && neon::kF16 == F16, "neon_float.h's weight formats");
#endif

#ifdef FUGAKU_X86
// x · sigmoid(k·g(x)) forms: gelu_tanh(x) = x / (1 + exp(−2y)), y = √(2/π)(x + 0.044715x³) (gelu_fast is
// the same function written as √(2/π)·x·(1 + 0.044715x²)); quick_gelu = x·σ(1.702x); silu = x·σ(x).
AVX2_FN void activation_avx2(int32_t kind, float* x, int64_t a, int64_t b) {
  const __m256 one = _mm256_set1_ps(1.0f);
  int64_t i = a;
  for (; i + 8 <= b; i += 8) {
    const __m256 v = _mm256_loadu_ps(x + i);
    __m256 z;  // the exponent of exp(z) in v / (1 + exp(z))
    if (kind == GELU_TANH || kind == GELU_FAST) {
      const __m256 v2 = _mm256_mul_ps(v, v);
      const __m256 inner = _mm256_mul_ps(_mm256_mul_ps(v, _mm256_set1_ps(0.7978845608f)), _mm256_fmadd_ps(v2, _mm256_set1_ps(0.044715f), one));
      z = _mm256_mul_ps(inner, _mm256_set1_ps(-2.0f));
    } else if (kind == QUICK_GELU) {
      z = _mm256_mul_ps(v, _mm256_set1_ps(-1.702f));
    } else {
      z = _mm256_sub_ps(_mm256_setzero_ps(), v);
    }
    _mm256_storeu_ps(x + i, _mm256_div_ps(v, _mm256_add_ps(one, exp256(z))));
  }
  for (; i < b; i++) {
    const float v = x[i];
    float z = kind == QUICK_GELU ? -1.702f * v : kind == SILU ? -v : -2.0f * (v * 0.7978845608f * (1.0f + 0.044715f * v * v));
    x[i] = v / (1.0f + std::exp(z));
  }
}
#endif

void activation(Context& ctx, int32_t kind, float* x, int64_t n) {
  const int64_t CH = 8192;
  auto part = [&](int64_t c) {
    const int64_t a = c * CH, b = std::min(n, a + CH);
#ifdef FUGAKU_X86
    if (ctx.simd && kind != GELU && kind != RELU) { activation_avx2(kind, x, a, b); return; }
#endif
#ifdef FUGAKU_ARM64
    if (ctx.neon && kind != GELU && kind != RELU) { neon::activation(kind, x, a, b); return; }
#endif
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
  };
  const int64_t chunks = (n + CH - 1) / CH;
  if (chunks == 1) part(0);
  else ctx.pool.parallel_for(chunks, part);
}

// ---------------------------------------------------------------- weight loading (convert/quantize once)
template <int SRC> inline float src_value(const void* src, int64_t idx, const float* f16t);
template <> inline float src_value<F32>(const void* src, int64_t idx, const float*) { return static_cast<const float*>(src)[idx]; }
template <> inline float src_value<BF16>(const void* src, int64_t idx, const float*) { return bf16_to_f32(static_cast<const uint16_t*>(src)[idx]); }
template <> inline float src_value<F16>(const void* src, int64_t idx, const float* f16t) { return f16t[static_cast<const uint16_t*>(src)[idx]]; }

// Rows o0..o0+no of the [out][in] matrix as float32 into tile [no][in]. For an [in][out] source
// (GPT-2 Conv1D) this is a transpose: each source row contributes `no` neighbouring values.
template <int SRC>
void gather_rows(const void* src, int64_t in, int64_t outd, bool inOut, int64_t o0, int64_t no, float* tile, const float* f16t) {
  if (inOut) {
    // In blocks of IB source rows: their `no` values (one cache line of bf16 for no = 32) stay in L1
    // while each tile row receives IB consecutive floats, instead of one scattered float per row.
    constexpr int64_t IB = 64;
    for (int64_t i0 = 0; i0 < in; i0 += IB) {
      const int64_t i1 = std::min(in, i0 + IB);
      for (int64_t k = 0; k < no; k++) {
        float* t = tile + k * in;
        for (int64_t i = i0; i < i1; i++) t[i] = src_value<SRC>(src, i * outd + o0 + k, f16t);
      }
    }
  } else {
    for (int64_t k = 0; k < no; k++) {
      const int64_t base = (o0 + k) * in;
      for (int64_t i = 0; i < in; i++) tile[k * in + i] = src_value<SRC>(src, base + i, f16t);
    }
  }
}

#ifdef FUGAKU_X86
// C's roundf (halves away from zero) on 8 lanes, exactly: trunc(v) plus ±1 where |v − trunc(v)| ≥ 0.5.
AVX2_FN inline __m256 round_away8(__m256 v) {
  const __m256 t = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
  const __m256 signMask = _mm256_set1_ps(-0.0f);
  const __m256 frac = _mm256_andnot_ps(signMask, _mm256_sub_ps(v, t));
  const __m256 one = _mm256_or_ps(_mm256_and_ps(v, signMask), _mm256_set1_ps(1.0f));
  return _mm256_add_ps(t, _mm256_and_ps(_mm256_cmp_ps(frac, _mm256_set1_ps(0.5f), _CMP_GE_OQ), one));
}
// One block of 32 values quantized as the scalar spec does (s = amax/127, q = roundf(x·(1/s))): the
// int8 values to q, their sum to *sum (if given); returns s.
AVX2_FN inline float quantize_block_q8_avx2(const float* xb, int8_t* q, int32_t* sum) {
  const __m256 signMask = _mm256_set1_ps(-0.0f);
  __m256 v[4];
  for (int j = 0; j < 4; j++) v[j] = _mm256_loadu_ps(xb + j * 8);
  __m256 m = _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(signMask, v[0]), _mm256_andnot_ps(signMask, v[1])),
                           _mm256_max_ps(_mm256_andnot_ps(signMask, v[2]), _mm256_andnot_ps(signMask, v[3])));
  __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
  m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
  m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
  const float amax = _mm_cvtss_f32(m4);
  const float d = amax / 127.0f, id = d != 0 ? 1.0f / d : 0.0f;
  const __m256 vid = _mm256_set1_ps(id);
  __m256i i0 = _mm256_cvtps_epi32(round_away8(_mm256_mul_ps(v[0], vid)));
  __m256i i1 = _mm256_cvtps_epi32(round_away8(_mm256_mul_ps(v[1], vid)));
  __m256i i2 = _mm256_cvtps_epi32(round_away8(_mm256_mul_ps(v[2], vid)));
  __m256i i3 = _mm256_cvtps_epi32(round_away8(_mm256_mul_ps(v[3], vid)));
  if (sum) {
    const __m256i t = _mm256_add_epi32(_mm256_add_epi32(i0, i1), _mm256_add_epi32(i2, i3));
    __m128i h = _mm_add_epi32(_mm256_castsi256_si128(t), _mm256_extracti128_si256(t, 1));
    h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0x4e));
    h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0xb1));
    *sum = _mm_cvtsi128_si32(h);
  }
  i0 = _mm256_packs_epi32(i0, i1);
  i2 = _mm256_packs_epi32(i2, i3);
  i0 = _mm256_packs_epi16(i0, i2);
  i0 = _mm256_permutevar8x32_epi32(i0, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(q), i0);
  return d;
}
// quantize_q8_0 with the same results (the scale stored as f16, as the spec does).
AVX2_FN void quantize_q8_0_avx2(const float* x, BlockQ8* y, int64_t n) {
  for (int64_t b = 0; b < n / QK; b++) y[b].d = f32_to_f16(quantize_block_q8_avx2(x + b * QK, y[b].qs, nullptr));
}
// quantize_acts with the same results: float32 scales and each block's Σq.
AVX2_FN void quantize_acts_avx2(const float* x, int64_t n, int8_t* q, float* d, int32_t* sums) {
  for (int64_t b = 0; b < n / QK; b++) d[b] = quantize_block_q8_avx2(x + b * QK, q + b * QK, sums ? sums + b : nullptr);
}
#endif

#ifdef FUGAKU_X86
// quantize_q4_0 with the same results. Compiled without FMA so that x·id + 8.5 rounds twice, as the
// scalar spec does (a fused multiply-add could round a value at a .5 boundary the other way).
__attribute__((target("avx2"))) void quantize_q4_0_avx2(const float* x, BlockQ4* y, int64_t n) {
  const __m256 signMask = _mm256_set1_ps(-0.0f), half = _mm256_set1_ps(8.5f);
  const __m256i fifteen = _mm256_set1_epi32(15);
  for (int64_t b = 0; b < n / QK; b++) {
    const float* xb = x + b * QK;
    __m256 v[4], a[4];
    for (int k = 0; k < 4; k++) { v[k] = _mm256_loadu_ps(xb + 8 * k); a[k] = _mm256_andnot_ps(signMask, v[k]); }
    __m256 m = _mm256_max_ps(_mm256_max_ps(a[0], a[1]), _mm256_max_ps(a[2], a[3]));
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    const float amax = _mm_cvtss_f32(m4);
    // The spec keeps the first value of largest magnitude (and 0 when every value is 0).
    float max = 0;
    if (amax != 0) {
      const __m256 am = _mm256_set1_ps(amax);
      for (int k = 0; k < 4; k++) {
        const int mask = _mm256_movemask_ps(_mm256_cmp_ps(a[k], am, _CMP_EQ_OQ));
        if (mask) { max = xb[8 * k + __builtin_ctz(unsigned(mask))]; break; }
      }
    }
    const float d = max / -8.0f, id = d != 0 ? 1.0f / d : 0.0f;
    y[b].d = f32_to_f16(d);
    const __m256 vid = _mm256_set1_ps(id);
    alignas(32) int32_t q[32];
    for (int k = 0; k < 4; k++)
      _mm256_store_si256(reinterpret_cast<__m256i*>(q + 8 * k),
                         _mm256_min_epi32(fifteen, _mm256_cvttps_epi32(_mm256_add_ps(_mm256_mul_ps(v[k], vid), half))));
    for (int j = 0; j < QK / 2; j++) y[b].qs[j] = uint8_t(q[j] | (q[j + 16] << 4));
  }
}
#endif

void store_row(const Context& ctx, int32_t fmt, const float* r, int64_t in, uint8_t* dst) {
  switch (fmt) {
    case F32: std::memcpy(dst, r, in * 4); break;
    case BF16: for (int64_t i = 0; i < in; i++) reinterpret_cast<uint16_t*>(dst)[i] = f32_to_bf16(r[i]); break;
    case F16:
#ifdef FUGAKU_X86
      if (ctx.simd) { to_f16_avx2(r, reinterpret_cast<uint16_t*>(dst), in); break; }
#endif
      for (int64_t i = 0; i < in; i++) reinterpret_cast<uint16_t*>(dst)[i] = f32_to_f16(r[i]);
      break;
    case Q8_0:
#ifdef FUGAKU_X86
      if (ctx.simd) { quantize_q8_0_avx2(r, reinterpret_cast<BlockQ8*>(dst), in); break; }
#endif
      quantize_q8_0(r, reinterpret_cast<BlockQ8*>(dst), in);
      break;
    case Q4_0:
#ifdef FUGAKU_X86
      if (ctx.simd) { quantize_q4_0_avx2(r, reinterpret_cast<BlockQ4*>(dst), in); break; }
#endif
      quantize_q4_0(r, reinterpret_cast<BlockQ4*>(dst), in);
      break;
  }
}

// src holds in·out values of dtype srcFmt (F32/BF16/F16), laid out [in][out] (inOut) or [out][in].
// Chunks of 32 output rows (one 64-byte line of each bf16 source row when transposing) are
// gathered to float32 and stored in `fmt`, spread over the pool.
Matrix* load_matrix(Context& ctx, int32_t srcFmt, const void* src, int64_t in, int64_t outd, bool inOut, int32_t fmt) {
  auto* m = new Matrix{fmt, in, outd, row_bytes_of(fmt, in), nullptr, 0};
  m->bytes = matrix_bytes(fmt, m->row_bytes, outd);
  m->data = alloc_weights(m->bytes);
  if (!m->data) { delete m; return nullptr; }
  const float* f16t = ctx.f16_table.data();
  const size_t esz = srcFmt == F32 ? 4 : 2;
  if (!inOut && srcFmt == fmt) {  // same layout and format: a copy
    ctx.pool.parallel_for((outd + 255) / 256, [&](int64_t c) {
      const int64_t o0 = c * 256, o1 = std::min(outd, o0 + 256);
      std::memcpy(m->data + o0 * m->row_bytes, static_cast<const uint8_t*>(src) + o0 * in * esz, (o1 - o0) * in * esz);
    });
    return m;
  }
  const int64_t G = 32;  // a multiple of IL: quantized chunks are whole groups
  ctx.pool.parallel_for((outd + G - 1) / G, [&](int64_t g) {
    std::vector<float> tile(in * G);
    const int64_t o0 = g * G, no = std::min(outd, o0 + G) - o0;
    if (srcFmt == F32) gather_rows<F32>(src, in, outd, inOut, o0, no, tile.data(), f16t);
    else if (srcFmt == BF16) gather_rows<BF16>(src, in, outd, inOut, o0, no, tile.data(), f16t);
    else gather_rows<F16>(src, in, outd, inOut, o0, no, tile.data(), f16t);
    if (!is_quant(fmt)) {
      for (int64_t k = 0; k < no; k++) store_row(ctx, fmt, tile.data() + k * in, in, m->data + (o0 + k) * m->row_bytes);
      return;
    }
    std::vector<uint8_t> plain(size_t(no * m->row_bytes));
    for (int64_t k = 0; k < no; k++) store_row(ctx, fmt, tile.data() + k * in, in, plain.data() + k * m->row_bytes);
    for (int64_t k = 0; k < no; k += IL)
      pack_group(fmt, plain.data() + k * m->row_bytes, std::min<int64_t>(IL, no - k), in / QK, m->data + (o0 + k) * m->row_bytes);
  });
  return m;
}

// ================================================================ N-API glue
#define CHECK(call) do { if ((call) != napi_ok) { napi_throw_error(env, "FUGAKU_NATIVE", "N-API call failed: " #call); return nullptr; } } while (0)

napi_value throw_err(napi_env env, const char* msg) { napi_throw_error(env, "FUGAKU_NATIVE", msg); return nullptr; }

bool get_i64(napi_env env, napi_value v, int64_t* out) { return napi_get_value_int64(env, v, out) == napi_ok; }
bool get_f64(napi_env env, napi_value v, double* out) { return napi_get_value_double(env, v, out) == napi_ok; }

// A typed array's data pointer and element count (any element type); false if v is not one.
bool get_ta(napi_env env, napi_value v, void** data, size_t* length, napi_typedarray_type* type) {
  bool is = false;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is) return false;
  napi_value ab; size_t off;
  return napi_get_typedarray_info(env, v, type, length, data, &ab, &off) == napi_ok;
}
bool get_f32(napi_env env, napi_value v, float** data, size_t* n) {
  void* p; napi_typedarray_type t;
  if (!get_ta(env, v, &p, n, &t) || t != napi_float32_array) return false;
  *data = static_cast<float*>(p);
  return true;
}
bool is_null(napi_env env, napi_value v) {
  napi_valuetype t; napi_typeof(env, v, &t);
  return t == napi_null || t == napi_undefined;
}
template <typename T>
T* unwrap(napi_env env, napi_value v) {
  void* p = nullptr;
  if (napi_get_value_external(env, v, &p) != napi_ok) return nullptr;
  return static_cast<T*>(p);
}

#ifdef FUGAKU_X86
bool cpu_has_f16c() {
  unsigned a, b, c, d;
  return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C);
}
bool cpu_has_avx2_kernels() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && cpu_has_f16c();
}
// AVX-VNNI: CPUID leaf 7, sub-leaf 1, EAX bit 4 (VEX-encoded, so the OS support AVX2 needs is enough).
bool cpu_reports_avxvnni() {
  unsigned a, b, c, d;
  return __get_cpuid_count(7, 1, &a, &b, &c, &d) && (a & (1u << 4));
}
bool cpu_has_avxvnni_kernels() { return cpu_has_avx2_kernels() && cpu_reports_avxvnni(); }
// libgcc's checks include the OS saving the 512-bit state (XCR0).
bool cpu_has_avx512_kernels() {
  __builtin_cpu_init();
  return cpu_has_avx2_kernels() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
}
// AMX-TILE and AMX-INT8 (CPUID leaf 7 EDX bits 24 and 25), the OS saving the tile state (XCR0 bits 17
// and 18), and, on Linux, this process's permission to use it: the kernel hands out the 8 KiB tile
// state only on request (arch_prctl ARCH_REQ_XCOMP_PERM, Linux 5.16 and later); asking again is
// harmless. Elsewhere AMX is not used.
bool cpu_has_amx_kernels() {
  if (!cpu_has_avx512_kernels()) return false;
  unsigned a, b, c, d;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d) || !(d & (1u << 24)) || !(d & (1u << 25))) return false;
  if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27))) return false;  // OSXSAVE: xgetbv is usable
  unsigned lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  if ((lo & (3u << 17)) != (3u << 17)) return false;
#if defined(__linux__)
  constexpr long kReqXcompPerm = 0x1023, kXtiledata = 18;
  return syscall(SYS_arch_prctl, kReqXcompPerm, kXtiledata) == 0;
#else
  return false;
#endif
}
#endif

#ifdef FUGAKU_ARM64
// ARMv8.2 DotProd (sdot/udot): a compile-time feature (Apple Silicon builds) or the kernel's HWCAP.
bool cpu_has_dotprod() {
#if defined(__ARM_FEATURE_DOTPROD)
  return true;
#elif defined(__linux__) && defined(HWCAP_ASIMDDP)
  return (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
#else
  return false;
#endif
}
#endif

napi_value CpuFeatures(napi_env env, napi_callback_info) {
  napi_value o; CHECK(napi_create_object(env, &o));
  auto set = [&](const char* k, bool b) { napi_value v; napi_get_boolean(env, b, &v); napi_set_named_property(env, o, k, v); };
#ifdef FUGAKU_X86
  __builtin_cpu_init();
  set("avx2", __builtin_cpu_supports("avx2"));
  set("fma", __builtin_cpu_supports("fma"));
  set("f16c", cpu_has_f16c());
  set("avx512f", __builtin_cpu_supports("avx512f"));
  set("avx512bw", __builtin_cpu_supports("avx512bw"));
  set("avx512vl", __builtin_cpu_supports("avx512vl"));
  set("avx512vnni", __builtin_cpu_supports("avx512vnni"));
  set("avx512bf16", __builtin_cpu_supports("avx512bf16"));
  set("avxvnni", cpu_reports_avxvnni());
  set("amx", cpu_has_amx_kernels());
  set("x86", true);
#else
  set("x86", false);
#endif
#ifdef FUGAKU_ARM64
  set("aarch64", true);
  set("dotprod", cpu_has_dotprod());
#else
  set("aarch64", false);
#endif
  return o;
}

// createContext(threads, level: 0 portable | 1 AVX2 | 2 AVX-512 | 3 NEON | 4 AVX-VNNI | 5 AMX) → external
napi_value CreateContext(napi_env env, napi_callback_info info) {
  size_t argc = 2; napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  int64_t threads, level;
  if (argc < 2 || !get_i64(env, argv[0], &threads) || !get_i64(env, argv[1], &level) || level < PORTABLE || level > AMX)
    return throw_err(env, "createContext(threads, level: 0 | 1 | 2 | 3 | 4 | 5)");
#ifdef FUGAKU_X86
  if (x86_level(level) && !cpu_has_avx2_kernels()) return throw_err(env, "this CPU lacks AVX2/FMA/F16C");
  if ((level == AVX512 || level == AMX) && !cpu_has_avx512_kernels()) return throw_err(env, "this CPU lacks AVX-512 F/BW/VL/VNNI");
  if (level == AVXVNNI && !cpu_has_avxvnni_kernels()) return throw_err(env, "this CPU lacks AVX-VNNI");
  if (level == AMX && !cpu_has_amx_kernels()) return throw_err(env, "this CPU lacks AMX-INT8, or the OS did not grant the tile state (Linux 5.16 or later)");
  if (level == NEON) return throw_err(env, "NEON kernels need a 64-bit Arm CPU");
#elif defined(FUGAKU_ARM64)
  if (x86_level(level)) return throw_err(env, "AVX2/AVX-512/AVX-VNNI/AMX kernels need an x86-64 CPU");
#else
  if (level > PORTABLE) return throw_err(env, "SIMD kernels need an x86-64 or 64-bit Arm CPU");
#endif
#ifdef FUGAKU_ARM64
  const bool dotprod = cpu_has_dotprod();
#else
  const bool dotprod = false;
#endif
  auto* ctx = new Context(int(std::max<int64_t>(1, std::min<int64_t>(threads, 256))), int(level), dotprod);
  napi_value ext;
  CHECK(napi_create_external(env, ctx, [](napi_env, void* p, void*) { delete static_cast<Context*>(p); }, nullptr, &ext));
  return ext;
}

// loadMatrix(ctx, srcFormat, src, inDim, outDim, inOut, format) → external
napi_value LoadMatrix(napi_env env, napi_callback_info info) {
  size_t argc = 7; napi_value argv[7];
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  if (argc < 7) return throw_err(env, "loadMatrix: 7 arguments");
  auto* ctx = unwrap<Context>(env, argv[0]);
  int64_t srcFmt, in, outd, fmt; bool inOut;
  void* src; size_t len; napi_typedarray_type tt;
  if (!ctx || !get_i64(env, argv[1], &srcFmt) || !get_ta(env, argv[2], &src, &len, &tt) || !get_i64(env, argv[3], &in) ||
      !get_i64(env, argv[4], &outd) || napi_get_value_bool(env, argv[5], &inOut) != napi_ok || !get_i64(env, argv[6], &fmt))
    return throw_err(env, "loadMatrix: bad arguments");
  if (fmt < F32 || fmt > Q4_0) return throw_err(env, "loadMatrix: unknown format");
  if ((fmt == Q8_0 || fmt == Q4_0) && in % QK != 0) return throw_err(env, "loadMatrix: quantized rows need in % 32 == 0");
  Matrix* m = nullptr;
  if (srcFmt == fmt && (fmt == Q8_0 || fmt == Q4_0)) {
    // Already quantized [out][in] blocks (GGUF): interleaved into groups of 8 rows.
    if (inOut) return throw_err(env, "loadMatrix: quantized weights must be [out][in]");
    const int64_t rb = row_bytes_of(int32_t(fmt), in);
    if (len != size_t(rb * outd)) return throw_err(env, "loadMatrix: quantized data has the wrong length");
    m = new Matrix{int32_t(fmt), in, outd, rb, nullptr, matrix_bytes(int32_t(fmt), rb, outd)};
    m->data = alloc_weights(m->bytes);
    if (!m->data) { delete m; return throw_err(env, "loadMatrix: out of memory"); }
    const auto* bytes = static_cast<const uint8_t*>(src);
    ctx->pool.parallel_for(groups_of(outd), [&](int64_t g) {
      pack_group(m->format, bytes + g * IL * rb, std::min<int64_t>(IL, outd - g * IL), in / QK, m->data + g * IL * rb);
    });
  } else {
    if (srcFmt < F32 || srcFmt > F16) return throw_err(env, "loadMatrix: source must be f32/bf16/f16");
    const bool typeOk = srcFmt == F32 ? tt == napi_float32_array : tt == napi_uint16_array;
    if (!typeOk) return throw_err(env, "loadMatrix: f32 source must be a Float32Array, bf16/f16 a Uint16Array");
    if (len != size_t(in * outd)) return throw_err(env, "loadMatrix: source has the wrong length");
    m = load_matrix(*ctx, int32_t(srcFmt), src, in, outd, inOut, int32_t(fmt));
    if (!m) return throw_err(env, "loadMatrix: out of memory");
  }
  napi_value ext;
  CHECK(napi_create_external(env, m, [](napi_env, void* p, void*) { delete static_cast<Matrix*>(p); }, nullptr, &ext));
  int64_t adj; napi_adjust_external_memory(env, int64_t(m->bytes), &adj);
  return ext;
}

// matmul(ctx, m, x, rows, bias|null, out)
napi_value Matmul(napi_env env, napi_callback_info info) {
  size_t argc = 6; napi_value argv[6];
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  auto* ctx = unwrap<Context>(env, argv[0]);
  auto* m = unwrap<Matrix>(env, argv[1]);
  float *x, *bias = nullptr, *out; size_t nx, nb = 0, no; int64_t rows;
  if (argc < 6 || !ctx || !m || !get_f32(env, argv[2], &x, &nx) || !get_i64(env, argv[3], &rows) ||
      (!is_null(env, argv[4]) && !get_f32(env, argv[4], &bias, &nb)) || !get_f32(env, argv[5], &out, &no))
    return throw_err(env, "matmul: bad arguments");
  if (rows < 0 || nx < size_t(rows * m->in_dim) || no < size_t(rows * m->out_dim) || (bias && nb < size_t(m->out_dim)))
    return throw_err(env, "matmul: array too short for the matrix");
  matmul(*ctx, *m, x, rows, bias, out);
  return nullptr;
}

// embedding(ctx, m, ids: Int32Array, out)
napi_value Embedding(napi_env env, napi_callback_info info) {
  size_t argc = 4; napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  auto* ctx = unwrap<Context>(env, argv[0]);
  auto* m = unwrap<Matrix>(env, argv[1]);
  void* ids; size_t n; napi_typedarray_type t; float* out; size_t no;
  if (argc < 4 || !ctx || !m || !get_ta(env, argv[2], &ids, &n, &t) || t != napi_int32_array || !get_f32(env, argv[3], &out, &no))
    return throw_err(env, "embedding: bad arguments");
  if (no < n * size_t(m->in_dim)) return throw_err(env, "embedding: output too short");
  for (size_t k = 0; k < n; k++) {
    int32_t id = static_cast<int32_t*>(ids)[k];
    if (id < 0 || id >= m->out_dim) return throw_err(env, "embedding: id out of range");
    dequantize_row(*m, id, out + k * m->in_dim, ctx->f16_table.data());
  }
  return nullptr;
}

// layerNorm(ctx, x, rows, dim, gamma, beta, eps, out)
napi_value LayerNorm(napi_env env, napi_callback_info info) {
  size_t argc = 8; napi_value argv[8];
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  auto* ctx = argc >= 8 ? unwrap<Context>(env, argv[0]) : nullptr;
  float *x, *g, *b, *out; size_t nx, ng, nb, no; int64_t rows, dim; double eps;
  if (!ctx || !get_f32(env, argv[1], &x, &nx) || !get_i64(env, argv[2], &rows) || !get_i64(env, argv[3], &dim) ||
      !get_f32(env, argv[4], &g, &ng) || !get_f32(env, argv[5], &b, &nb) || !get_f64(env, argv[6], &eps) || !get_f32(env, argv[7], &out, &no))
    return throw_err(env, "layerNorm: bad arguments");
  if (rows < 0 || dim < 1 || nx < size_t(rows * dim) || no < size_t(rows * dim) || ng < size_t(dim) || nb < size_t(dim)) return throw_err(env, "layerNorm: array too short");
  layer_norm(*ctx, x, rows, dim, g, b, float(eps), out);
  return nullptr;
}

// addInPlace(ctx, a, b, n): a[i] += b[i]
napi_value AddInPlace(napi_env env, napi_callback_info info) {
  size_t argc = 4; napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  auto* ctx = argc >= 4 ? unwrap<Context>(env, argv[0]) : nullptr;
  float *a, *b; size_t na, nb; int64_t n;
  if (!ctx || !get_f32(env, argv[1], &a, &na) || !get_f32(env, argv[2], &b, &nb) || !get_i64(env, argv[3], &n) || n < 0 || na < size_t(n) || nb < size_t(n))
    return throw_err(env, "addInPlace: bad arguments");
  add_in_place(*ctx, a, b, n);
  return nullptr;
}

// activation(ctx, kind, x, n)
napi_value Activation(napi_env env, napi_callback_info info) {
  size_t argc = 4; napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  auto* ctx = unwrap<Context>(env, argv[0]);
  int64_t kind, n; float* x; size_t nx;
  if (argc < 4 || !ctx || !get_i64(env, argv[1], &kind) || !get_f32(env, argv[2], &x, &nx) || !get_i64(env, argv[3], &n) || nx < size_t(n))
    return throw_err(env, "activation: bad arguments");
  if (kind < GELU || kind > SILU) return throw_err(env, "activation: unknown kind");
  activation(*ctx, int32_t(kind), x, n);
  return nullptr;
}

// attention(ctx, q, t, kCache, vCache, past, nHead, headDim, scale, keyMask|null, out); caches are
// Float32Array or Uint16Array (f16 bits), both of the same type.
napi_value Attention(napi_env env, napi_callback_info info) {
  size_t argc = 11; napi_value argv[11];
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  auto* ctx = unwrap<Context>(env, argv[0]);
  float *q, *out; size_t nq, nk, nv, no; int64_t t, past, nHead, headDim; double scale;
  void *kc, *vc; napi_typedarray_type kt, vt;
  void* mask = nullptr; size_t nm = 0; napi_typedarray_type mt;
  if (argc < 11 || !ctx || !get_f32(env, argv[1], &q, &nq) || !get_i64(env, argv[2], &t) || !get_ta(env, argv[3], &kc, &nk, &kt) ||
      !get_ta(env, argv[4], &vc, &nv, &vt) || !get_i64(env, argv[5], &past) || !get_i64(env, argv[6], &nHead) || !get_i64(env, argv[7], &headDim) ||
      !get_f64(env, argv[8], &scale) || (!is_null(env, argv[9]) && !get_ta(env, argv[9], &mask, &nm, &mt)) || !get_f32(env, argv[10], &out, &no))
    return throw_err(env, "attention: bad arguments");
  if (kt != vt || (kt != napi_float32_array && kt != napi_uint16_array)) return throw_err(env, "attention: caches must both be Float32Array or both Uint16Array");
  const size_t width = size_t(nHead * headDim);
  if (nq < size_t(t) * width || no < size_t(t) * width || nk < size_t(past + t) * width || nv < size_t(past + t) * width || (mask && nm < size_t(past + t)))
    return throw_err(env, "attention: array too short");
  if (kt == napi_float32_array)
    attention(*ctx, q, t, static_cast<const float*>(kc), static_cast<const float*>(vc), past, nHead, headDim, float(scale), static_cast<const uint8_t*>(mask), out);
  else
    attention(*ctx, q, t, static_cast<const uint16_t*>(kc), static_cast<const uint16_t*>(vc), past, nHead, headDim, float(scale), static_cast<const uint8_t*>(mask), out);
  return nullptr;
}

// storeRows(src, srcOff, srcStride, dst, dstOff, n, rows): row r's n values from src[srcOff + r·srcStride]
// to dst[dstOff + r·n] (rows contiguous in dst), rounded to nearest-even f16 when dst is a Uint16Array.
napi_value StoreRows(napi_env env, napi_callback_info info) {
  size_t argc = 7; napi_value argv[7];
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  float* src; size_t ns, nd; void* dst; napi_typedarray_type dt; int64_t so, ss, dof, n, rows;
  if (argc < 7 || !get_f32(env, argv[0], &src, &ns) || !get_i64(env, argv[1], &so) || !get_i64(env, argv[2], &ss) ||
      !get_ta(env, argv[3], &dst, &nd, &dt) || !get_i64(env, argv[4], &dof) || !get_i64(env, argv[5], &n) || !get_i64(env, argv[6], &rows) ||
      (dt != napi_float32_array && dt != napi_uint16_array))
    return throw_err(env, "storeRows(src: Float32Array, srcOff, srcStride, dst: Float32Array | Uint16Array, dstOff, n, rows)");
  if (so < 0 || ss < 0 || dof < 0 || n < 0 || rows < 0) return throw_err(env, "storeRows: negative offset or size");
  if (rows == 0 || n == 0) return nullptr;
  if (size_t(so + (rows - 1) * ss + n) > ns || size_t(dof + rows * n) > nd) return throw_err(env, "storeRows: array too short");
#ifdef FUGAKU_X86
  static const bool f16c = cpu_has_avx2_kernels();
#endif
  for (int64_t r = 0; r < rows; r++) {
    const float* s = src + so + r * ss;
    if (dt == napi_float32_array) { std::memcpy(static_cast<float*>(dst) + dof + r * n, s, size_t(n) * 4); continue; }
    uint16_t* d = static_cast<uint16_t*>(dst) + dof + r * n;
#ifdef FUGAKU_X86
    if (f16c) { to_f16_avx2(s, d, n); continue; }
#endif
#ifdef FUGAKU_ARM64
    neon::to_f16(s, d, n);  // every aarch64 CPU converts to half in hardware
#else
    for (int64_t i = 0; i < n; i++) d[i] = f32_to_f16(s[i]);
#endif
  }
  return nullptr;
}

// The bandwidth probes' arguments (ctx, n, reps); false after throwing if they are bad.
bool probe_args(napi_env env, napi_callback_info info, const char* usage, Context** ctx, int64_t* n, int64_t* reps) {
  size_t argc = 3; napi_value argv[3];
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc < 3 || !(*ctx = unwrap<Context>(env, argv[0])) ||
      !get_i64(env, argv[1], n) || !get_i64(env, argv[2], reps) || *n < 1024 || *reps < 1) {
    throw_err(env, usage);
    return false;
  }
  return true;
}
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

// streamTriad(ctx, n, reps) → best GB/s of a[i] = b[i] + s·c[i] over n floats (STREAM's counting:
// 3 arrays × 4 bytes per element), using the pool's threads. The bandwidth bound for decode.
napi_value StreamTriad(napi_env env, napi_callback_info info) {
  Context* ctx; int64_t n, reps;
  if (!probe_args(env, info, "streamTriad(ctx, n, reps)", &ctx, &n, &reps)) return nullptr;
  // The same huge-page memory the weights get.
  float* a = reinterpret_cast<float*>(alloc_weights(size_t(n) * 4));
  float* b = reinterpret_cast<float*>(alloc_weights(size_t(n) * 4));
  float* c = reinterpret_cast<float*>(alloc_weights(size_t(n) * 4));
  if (!a || !b || !c) { std::free(a); std::free(b); std::free(c); return throw_err(env, "streamTriad: out of memory"); }
  ctx->pool.run([&](int ith, int nth) {  // first touch by the threads that use the pages
    int64_t lo, hi; split(n, ith, nth, lo, hi);
    for (int64_t i = lo; i < hi; i++) { a[i] = 0; b[i] = 1; c[i] = 2; }
  });
  const double best = best_rate(*ctx, reps, 3.0 * 4.0 * double(n), [&](int ith, int nth) {
    int64_t lo, hi; split(n, ith, nth, lo, hi);
    const float s = 3.0f;
    for (int64_t i = lo; i < hi; i++) a[i] = b[i] + s * c[i];
  });
  volatile float sink = a[n / 2]; (void)sink;
  std::free(a); std::free(b); std::free(c);
  napi_value v; CHECK(napi_create_double(env, best, &v));
  return v;
}

// Σ of n words, read as fast as the kernels read weights (32-byte loads and the same prefetching).
uint64_t read_sum(bool simd, const uint64_t* a, int64_t n) {
  int64_t i = 0;
  uint64_t s = 0;
#ifdef FUGAKU_X86
  if (simd) s = read_sum_avx2(a, n, &i);
#endif
  for (; i < n; i++) s += a[i];
  return s;
}

// streamRead(ctx, n, reps) → best GB/s of reading n floats' bytes (an integer sum over them, nothing
// written) with the pool's threads: the ceiling for a GEMV, which only reads its weights. On the
// VMs this was built on it is below the triad figure (whose write stream adds memory parallelism).
napi_value StreamRead(napi_env env, napi_callback_info info) {
  Context* ctx; int64_t n, reps;
  if (!probe_args(env, info, "streamRead(ctx, n, reps)", &ctx, &n, &reps)) return nullptr;
  const int64_t words = n / 2;  // n floats as 64-bit words
  auto* a = reinterpret_cast<uint64_t*>(alloc_weights(size_t(words) * 8));
  if (!a) return throw_err(env, "streamRead: out of memory");
  ctx->pool.run([&](int ith, int nth) {
    int64_t lo, hi; split(words, ith, nth, lo, hi);
    for (int64_t i = lo; i < hi; i++) a[i] = uint64_t(i);
  });
  std::vector<uint64_t> sums(ctx->pool.size());
  const double best = best_rate(*ctx, reps, 8.0 * double(words), [&](int ith, int nth) {
    int64_t lo, hi; split(words, ith, nth, lo, hi);
    sums[ith] = read_sum(ctx->simd, a + lo, hi - lo);
  });
  volatile uint64_t sink = sums[0]; (void)sink;
  std::free(a);
  napi_value v; CHECK(napi_create_double(env, best, &v));
  return v;
}

// matrixBytes(m) → the weights' size in bytes
napi_value MatrixBytes(napi_env env, napi_callback_info info) {
  size_t argc = 1; napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  auto* m = unwrap<Matrix>(env, argv[0]);
  if (!m) return throw_err(env, "matrixBytes: bad arguments");
  // The weights' bytes (row_bytes · out_dim), not the zero rows that pad the last interleaved group.
  napi_value v; CHECK(napi_create_double(env, double(m->row_bytes) * double(m->out_dim), &v));
  return v;
}

napi_value Init(napi_env env, napi_value exports) {
  struct { const char* name; napi_callback fn; } fns[] = {
      {"cpuFeatures", CpuFeatures}, {"createContext", CreateContext}, {"loadMatrix", LoadMatrix}, {"matmul", Matmul},
      {"embedding", Embedding},     {"layerNorm", LayerNorm},         {"activation", Activation}, {"attention", Attention},
      {"matrixBytes", MatrixBytes}, {"streamTriad", StreamTriad}, {"streamRead", StreamRead}, {"storeRows", StoreRows},
      {"addInPlace", AddInPlace},
  };
  for (auto& f : fns) {
    napi_value v;
    if (napi_create_function(env, f.name, NAPI_AUTO_LENGTH, f.fn, nullptr, &v) != napi_ok) return nullptr;
    napi_set_named_property(env, exports, f.name, v);
  }
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
