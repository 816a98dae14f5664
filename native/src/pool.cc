// Workers spin briefly after each job before sleeping, because kernels arrive in quick bursts (one per op of a
// training step) and waking a sleeping thread costs tens of microseconds.
#include "pool.h"

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#define RT_PAUSE() _mm_pause()
#else
#define RT_PAUSE() std::this_thread::yield()
#endif

namespace rt {
namespace {

constexpr int kSpinIterations = 1 << 14;

struct Pool {
  std::vector<std::thread> workers;
  std::mutex mutex;                // guards generation changes and the sleep condition
  std::condition_variable wake;
  std::mutex callerMutex;          // one parallel region at a time, whatever JS thread calls in
  std::atomic<uint64_t> generation{0};
  std::atomic<int> remaining{0};
  const std::function<void(int)>* job = nullptr;
  int nUsed = 0;
  std::atomic<bool> stopping{false};
  int size = 1;
};

Pool& pool() {
  static Pool* p = new Pool();  // never destroyed: workers may outlive static destruction order at exit
  return *p;
}

thread_local bool tInsideTask = false;

void worker_loop(Pool& p, int t, uint64_t seen) {
  tInsideTask = true;
  for (;;) {
    uint64_t g = p.generation.load(std::memory_order_acquire);
    for (int i = 0; g == seen && i < kSpinIterations; i++) {
      RT_PAUSE();
      g = p.generation.load(std::memory_order_acquire);
    }
    if (g == seen) {
      std::unique_lock<std::mutex> lock(p.mutex);
      p.wake.wait(lock, [&] { return p.stopping || p.generation.load(std::memory_order_acquire) != seen; });
      if (p.stopping) return;
      g = p.generation.load(std::memory_order_acquire);
    }
    seen = g;
    if (p.stopping) return;
    // Every worker acknowledges every job, used or not, so none can still be reading this job's fields when the
    // caller publishes the next one.
    if (t < p.nUsed) (*p.job)(t);
    p.remaining.fetch_sub(1, std::memory_order_acq_rel);
  }
}

void stop_workers(Pool& p) {
  {
    std::lock_guard<std::mutex> lock(p.mutex);
    p.stopping = true;
  }
  p.wake.notify_all();
  for (auto& w : p.workers) w.join();
  p.workers.clear();
  p.stopping = false;
}

}  // namespace

void set_threads(int n) {
  Pool& p = pool();
  std::lock_guard<std::mutex> caller(p.callerMutex);
  if (n < 1) n = 1;
  stop_workers(p);
  p.size = n;
  for (int t = 1; t < n; t++) p.workers.emplace_back(worker_loop, std::ref(p), t, p.generation.load());
}

int threads() { return pool().size; }

void run_on_threads(int nUsed, const std::function<void(int)>& fn) {
  Pool& p = pool();
  if (nUsed > p.size) nUsed = p.size;
  if (nUsed <= 1 || tInsideTask) {
    for (int t = 0; t < nUsed; t++) fn(t);
    return;
  }
  std::lock_guard<std::mutex> caller(p.callerMutex);
  p.job = &fn;
  p.nUsed = nUsed;
  p.remaining.store(p.size - 1, std::memory_order_relaxed);
  {
    std::lock_guard<std::mutex> lock(p.mutex);
    p.generation.fetch_add(1, std::memory_order_acq_rel);
  }
  p.wake.notify_all();
  tInsideTask = true;
  fn(0);
  tInsideTask = false;
  // Spin first (the usual case: workers finish within microseconds of each other), then yield, so a machine with
  // more runnable threads than cores still lets the stragglers run.
  for (int i = 0; p.remaining.load(std::memory_order_acquire) != 0; i++) {
    if (i < 16 * kSpinIterations) RT_PAUSE();
    else std::this_thread::yield();
  }
}

void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  if (grain < 1) grain = 1;
  int64_t maxUsed = (n + grain - 1) / grain;
  int nUsed = static_cast<int>(maxUsed < threads() ? maxUsed : threads());
  if (nUsed <= 1 || tInsideTask) {
    fn(0, n);
    return;
  }
  run_on_threads(nUsed, [&](int t) {
    int64_t begin = n * t / nUsed, end = n * (t + 1) / nUsed;
    if (begin < end) fn(begin, end);
  });
}

}  // namespace rt
