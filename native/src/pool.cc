// Workers spin briefly after each job before sleeping, because kernels arrive in quick bursts (one per op of a
// training step) and waking a sleeping thread costs tens of microseconds.
#include "pool.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
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
constexpr int64_t kChunksPerThread = 4;

std::atomic<int> gWorkerDelayUs{0};       // slow_workers_for_test
std::atomic<int64_t> gRunByOthers{0};     // chunks run by a thread other than their owner

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

void parallel_chunks(int64_t n, int64_t chunks, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  chunks = chunks < 1 ? 1 : chunks > n ? n : chunks;
  const int nUsed = static_cast<int>(chunks < threads() ? chunks : threads());
  if (nUsed <= 1 || tInsideTask) {
    fn(0, n);
    return;
  }
  // Thread t first runs its own chunks [chunks * t / nUsed, chunks * (t + 1) / nUsed) front to back, as a static
  // split would (each thread keeps the rows it had in the last kernel, in its own cache), then takes whatever is
  // left of the others' from the far end.
  constexpr int64_t kOnStack = 64;
  std::atomic<bool> onStack[kOnStack];
  std::unique_ptr<std::atomic<bool>[]> onHeap(chunks > kOnStack ? new std::atomic<bool>[chunks] : nullptr);
  std::atomic<bool>* taken = onHeap ? onHeap.get() : onStack;
  for (int64_t c = 0; c < chunks; c++) taken[c].store(false, std::memory_order_relaxed);
  run_on_threads(nUsed, [&](int t) {
    const int64_t own0 = chunks * t / nUsed, own1 = chunks * (t + 1) / nUsed;
    const int delayUs = t > 0 ? gWorkerDelayUs.load(std::memory_order_relaxed) : 0;
    const auto run = [&](int64_t c) {
      if (delayUs > 0) std::this_thread::sleep_for(std::chrono::microseconds(delayUs));
      if (taken[c].load(std::memory_order_relaxed) || taken[c].exchange(true, std::memory_order_relaxed)) return;
      if (c < own0 || c >= own1) gRunByOthers.fetch_add(1, std::memory_order_relaxed);
      fn(n * c / chunks, n * (c + 1) / chunks);
    };
    for (int64_t c = own0; c < own1; c++) run(c);
    for (int64_t c = chunks - 1; c >= 0; c--) run(c);
  });
}

void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  if (grain < 1) grain = 1;
  parallel_chunks(n, balanced_chunks((n + grain - 1) / grain), fn);
}

int64_t balanced_chunks(int64_t most) {
  const int64_t nT = threads();
  if (most <= nT) return most;
  const int64_t whole = most / nT * nT;
  return whole < default_chunks() ? whole : default_chunks();
}

int64_t default_chunks() { return threads() * kChunksPerThread; }

int64_t slow_workers_for_test(int microseconds) {
  gWorkerDelayUs.store(microseconds, std::memory_order_relaxed);
  return gRunByOthers.load(std::memory_order_relaxed);
}

}  // namespace rt
