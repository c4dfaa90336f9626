// The addon's thread pool (one per context; ggml-cpu's threadpool).
//
// A persistent pool with dynamic work sharing: a job is a number of independent chunks that every
// thread (the caller included) takes from one atomic counter. If a worker is not scheduled (a busy
// machine), the others simply take its chunks, so more threads never make a step wait for a thread
// the OS has parked. Workers spin up to 1 ms for the next job (decode issues one every few µs), then
// sleep on a condition variable.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "common.h"
#ifdef FUGAKU_X86
#include <immintrin.h>
#endif

namespace fugaku {

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

}  // namespace fugaku
