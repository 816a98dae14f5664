// Elementwise kernels and the sum of squares. Work is split into contiguous ranges; the reduction sums fixed-size
// chunks (independent of the thread count) and adds the chunk sums in order, so it is bit-identical on any number of
// threads.
#include <algorithm>
#include <vector>

#include "kernels.h"
#include "pool.h"
#include "simd.h"

namespace rt {
namespace {

constexpr int64_t kGrain = 1 << 15;
constexpr int64_t kChunk = 1 << 14;

RT_PATHS(void, swiglu_range,
         (const float* gate, const float* up, float* out, int64_t i0, int64_t i1),
         (gate, up, out, i0, i1)) {
  for (int64_t i = i0; i < i1; i++) out[i] = gate[i] * sigmoid(gate[i]) * up[i];
}

// d silu(g) / dg = s * (1 + g * (1 - s)), s = sigmoid(g)
RT_PATHS(void, swiglu_backward_range,
         (const float* dOut, const float* gate, const float* up, float* dGate, float* dUp, int64_t i0, int64_t i1),
         (dOut, gate, up, dGate, dUp, i0, i1)) {
  for (int64_t i = i0; i < i1; i++) {
    float g = gate[i], s = sigmoid(g), d = dOut[i];
    dUp[i] = d * g * s;
    dGate[i] = d * up[i] * (s * (1.0f + g * (1.0f - s)));
  }
}

// Sum of squares of one chunk: float products in kLanes lanes of double.
RT_PATHS(double, sum_squares_chunk, (const float* x, int64_t n), (x, n)) {
  double lanes[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int l = 0; l < kLanes; l++) lanes[l] += static_cast<double>(x[i + l]) * x[i + l];
  for (int l = 0; i < n; i++, l++) lanes[l] += static_cast<double>(x[i]) * x[i];
  double s = 0;
  for (int l = 0; l < kLanes; l++) s += lanes[l];
  return s;
}

// scale and axpy take their scalar in double and round once per element, as JS does with a Number.
RT_PATHS(void, scale_range, (float* x, double s, int64_t i0, int64_t i1), (x, s, i0, i1)) {
  for (int64_t i = i0; i < i1; i++) x[i] = static_cast<float>(x[i] * s);
}

RT_PATHS(void, add_range, (const float* a, const float* b, float* out, int64_t i0, int64_t i1), (a, b, out, i0, i1)) {
  for (int64_t i = i0; i < i1; i++) out[i] = a[i] + b[i];
}

RT_PATHS(void, mul_range, (const float* a, const float* b, float* out, int64_t i0, int64_t i1), (a, b, out, i0, i1)) {
  for (int64_t i = i0; i < i1; i++) out[i] = a[i] * b[i];
}

RT_PATHS(void, axpy_range, (double alpha, const float* x, float* y, int64_t i0, int64_t i1), (alpha, x, y, i0, i1)) {
  for (int64_t i = i0; i < i1; i++) y[i] = static_cast<float>(y[i] + alpha * x[i]);
}

}  // namespace

void swiglu(const float* gate, const float* up, float* out, int64_t n) {
  parallel_for(n, kGrain, [&](int64_t i0, int64_t i1) { swiglu_range(gate, up, out, i0, i1); });
}

void swiglu_backward(const float* dOut, const float* gate, const float* up, float* dGate, float* dUp, int64_t n) {
  parallel_for(n, kGrain, [&](int64_t i0, int64_t i1) { swiglu_backward_range(dOut, gate, up, dGate, dUp, i0, i1); });
}

double sum_squares(const float* x, int64_t n) {
  int64_t nChunks = (n + kChunk - 1) / kChunk;
  std::vector<double> partial(nChunks);
  parallel_for(nChunks, 2, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; c++) {
      int64_t begin = c * kChunk, len = n - begin < kChunk ? n - begin : kChunk;
      partial[c] = sum_squares_chunk(x + begin, len);
    }
  });
  double s = 0;
  for (double p : partial) s += p;
  return s;
}

void scale(float* x, double s, int64_t n) {
  parallel_for(n, kGrain, [&](int64_t i0, int64_t i1) { scale_range(x, s, i0, i1); });
}

void add(const float* a, const float* b, float* out, int64_t n) {
  parallel_for(n, kGrain, [&](int64_t i0, int64_t i1) { add_range(a, b, out, i0, i1); });
}

void mul(const float* a, const float* b, float* out, int64_t n) {
  parallel_for(n, kGrain, [&](int64_t i0, int64_t i1) { mul_range(a, b, out, i0, i1); });
}

void axpy(double alpha, const float* x, float* y, int64_t n) {
  parallel_for(n, kGrain, [&](int64_t i0, int64_t i1) { axpy_range(alpha, x, y, i0, i1); });
}

// Rows to threads, whole rows each.
void add_rows(float* out, const float* bias, int64_t N, int64_t C) {
  parallel_for(N, std::max<int64_t>(1, kGrain / std::max<int64_t>(C, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r++) add_range(out + r * C, bias, out + r * C, 0, C);
  });
}

// Columns to threads, so each column's sum runs down all rows in order on one thread: the bits of a plain loop.
void sum_rows(const float* x, float* out, int64_t N, int64_t C) {
  parallel_for(C, std::max<int64_t>(16, kGrain / std::max<int64_t>(N, 1)), [&](int64_t c0, int64_t c1) {
    for (int64_t r = 0; r < N; r++) add_range(out, x + r * C, out, c0, c1);
  });
}

// In 8 x 8 blocks (a row of src and one of dst per cache line or two), rows of dst to threads.
void transpose(const float* src, float* dst, int64_t rows, int64_t cols, bool accumulate) {
  constexpr int64_t kTile = 8;
  parallel_for((cols + kTile - 1) / kTile, std::max<int64_t>(1, kGrain / kTile / std::max<int64_t>(rows, 1)),
               [&](int64_t b0, int64_t b1) {
    for (int64_t j0 = b0 * kTile; j0 < std::min(cols, b1 * kTile); j0 += kTile) {
      const int64_t j1 = std::min(cols, j0 + kTile);
      for (int64_t i0 = 0; i0 < rows; i0 += kTile) {
        const int64_t i1 = std::min(rows, i0 + kTile);
        for (int64_t j = j0; j < j1; j++)
          for (int64_t i = i0; i < i1; i++)
            dst[j * rows + i] = accumulate ? dst[j * rows + i] + src[i * cols + j] : src[i * cols + j];
      }
    }
  });
}

}  // namespace rt
