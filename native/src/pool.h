// A persistent thread pool with static work partitioning: work is cut into contiguous ranges fixed by its size and
// the thread count alone, and every kernel computes each output within one range by arithmetic fixed by its inputs,
// so results are bit-identical run to run. The ranges are a few per thread; each thread runs its own first and then
// takes the ranges another thread has not reached yet, so a thread slowed by another process (or running on an
// efficiency core) holds up the rest for at most part of a range. Which thread runs a range changes no bit.
#pragma once

#include <cstdint>
#include <functional>

namespace rt {

// Resizes the pool (n >= 1); the calling thread counts as one of the n.
void set_threads(int n);
int threads();

// Runs fn(t) for t in [0, nUsed) concurrently, t = 0 on the calling thread; returns when every call has returned.
// nUsed is clamped to the pool size. Called from inside a running task it runs the calls one after another.
void run_on_threads(int nUsed, const std::function<void(int)>& fn);

// Runs fn(begin, end) on the ranges c = [n * c / chunks, n * (c + 1) / chunks) for c in [0, chunks), spread over
// the threads as the header says; on one thread (or inside a task) fn(0, n) runs once.
void parallel_chunks(int64_t n, int64_t chunks, const std::function<void(int64_t, int64_t)>& fn);

// parallel_chunks over [0, n) in balanced_chunks(ceil(n / grain)) ranges: default_chunks(), fewer where a range
// would hold under grain items.
void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

// At most `most` chunks and at most default_chunks(), a whole number per thread when there are more than threads:
// with 3 equal chunks on 2 threads one thread runs two while the other waits, a third slower than 2.
int64_t balanced_chunks(int64_t most);

// How many chunks parallel_chunks work is cut into by default: a few per thread, so a thread running at half speed
// costs about a quarter of its share instead of doubling the time.
int64_t default_chunks();

// For tests: from now on the pool's workers (not the calling thread) sleep this long before each chunk they look
// at, so the calling thread runs theirs (0: no sleep). Returns how many chunks so far ran on a thread other than
// their owner.
int64_t slow_workers_for_test(int microseconds);

}  // namespace rt
