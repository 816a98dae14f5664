// A persistent thread pool with static work partitioning. Work is split into contiguous ranges fixed by the range
// size and thread count alone, so a kernel run twice with the same thread count touches the same elements on the
// same threads, in the same order: results are bit-identical run to run. There is no work stealing.
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

// Splits [0, n) into one contiguous range per thread, never smaller than grain items (except the last), and runs
// fn(begin, end) on each.
void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

}  // namespace rt
