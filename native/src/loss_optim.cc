// Cross-entropy fused with log-softmax, and AdamW. Cross-entropy works one row of logits at a time (max, then the
// sum of exponentials in double lanes), so memory beyond the inputs is O(1) and probabilities are never stored.
#include <cmath>
#include <cstring>

#include "kernels.h"
#include "pool.h"
#include "simd.h"

namespace rt {
namespace {

constexpr int32_t kIgnoreIndex = -100;

// kLanes floats as one vector: a per-lane max over a float array is not vectorized by the compiler (a scalar
// vmaxss per logit, as slow as the exponentials), over a vector type it is one vmaxps per kLanes logits.
typedef float LaneVector __attribute__((vector_size(kLanes * sizeof(float))));

RT_PATHS(float, row_max, (const float* x, int64_t V), (x, V)) {
  LaneVector acc;
  for (int l = 0; l < kLanes; l++) acc[l] = -INFINITY;
  int64_t j = 0;
  for (; j + kLanes <= V; j += kLanes) {
    LaneVector v;
    std::memcpy(&v, x + j, sizeof v);
    acc = v > acc ? v : acc;
  }
  float lanes[kLanes];
  std::memcpy(lanes, &acc, sizeof lanes);
  float m = -INFINITY;
  for (int l = 0; l < kLanes; l++) m = lanes[l] > m ? lanes[l] : m;
  for (; j < V; j++) m = x[j] > m ? x[j] : m;
  return m;
}

RT_PATHS(double, row_sum_exp, (const float* x, int64_t V, float max), (x, V, max)) {
  double lanes[kLanes] = {};
  int64_t j = 0;
  for (; j + kLanes <= V; j += kLanes)
    for (int l = 0; l < kLanes; l++) lanes[l] += fast_exp(x[j + l] - max);
  for (int l = 0; j < V; j++, l++) lanes[l] += fast_exp(x[j] - max);
  double s = 0;
  for (int l = 0; l < kLanes; l++) s += lanes[l];
  return s;
}

void cross_entropy_rows(const float* logits, const int32_t* targets, float* losses, float* lse, int64_t n0, int64_t n1,
                        int64_t V) {
  for (int64_t n = n0; n < n1; n++) {
    const float* x = logits + n * V;
    float m = row_max(x, V);
    double l = m + std::log(row_sum_exp(x, V, m));
    lse[n] = static_cast<float>(l);
    losses[n] = targets[n] == kIgnoreIndex ? 0.0f : static_cast<float>(l - x[targets[n]]);
  }
}

RT_PATHS(void, softmax_grad_row,
         (const float* __restrict x, float* __restrict dx, int64_t V, float lse, float dLoss),
         (x, dx, V, lse, dLoss)) {
  for (int64_t j = 0; j < V; j++) dx[j] = fast_exp(x[j] - lse) * dLoss;
}

// The same over the logits themselves: one pointer, so the loop vectorizes without an overlap check.
RT_PATHS(void, softmax_grad_row_in_place, (float* x, int64_t V, float lse, float dLoss), (x, V, lse, dLoss)) {
  for (int64_t j = 0; j < V; j++) x[j] = fast_exp(x[j] - lse) * dLoss;
}

void cross_entropy_backward_rows(const float* logits, const int32_t* targets, const float* lse, const float* dLoss,
                                 float* dLogits, int64_t n0, int64_t n1, int64_t V) {
  for (int64_t n = n0; n < n1; n++) {
    float* dx = dLogits + n * V;
    int32_t t = targets[n];
    if (t == kIgnoreIndex) {
      for (int64_t j = 0; j < V; j++) dx[j] = 0.0f;
      continue;
    }
    const float pTarget = fast_exp(logits[n * V + t] - lse[n]);  // read before an in-place pass overwrites it
    if (dx == logits + n * V) softmax_grad_row_in_place(dx, V, lse[n], dLoss[n]);
    else softmax_grad_row(logits + n * V, dx, V, lse[n], dLoss[n]);
    dx[t] = (pTarget - 1.0f) * dLoss[n];
  }
}

// x = exp(x - max) in place; returns the sum, added in the lanes and order of row_sum_exp so lse is the same.
RT_PATHS(double, exp_row_in_place, (float* x, int64_t V, float max), (x, V, max)) {
  double lanes[kLanes] = {};
  int64_t j = 0;
  for (; j + kLanes <= V; j += kLanes)
    for (int l = 0; l < kLanes; l++) {
      const float e = fast_exp(x[j + l] - max);
      x[j + l] = e;
      lanes[l] += e;
    }
  for (int l = 0; j < V; j++, l++) {
    const float e = fast_exp(x[j] - max);
    x[j] = e;
    lanes[l] += e;
  }
  double s = 0;
  for (int l = 0; l < kLanes; l++) s += lanes[l];
  return s;
}

RT_PATHS(void, scale_row, (float* x, int64_t V, float s), (x, V, s)) {
  for (int64_t j = 0; j < V; j++) x[j] *= s;
}

// A row of 32k-150k logits fits in L2, so max, exponentials and scaling each pass over cached data; the row comes
// from memory once and each logit costs one exponential (two when loss and gradient are separate calls).
void cross_entropy_with_grad_rows(float* logits, const int32_t* targets, float* losses, float* lse, const float* dLoss,
                                  int64_t n0, int64_t n1, int64_t V) {
  for (int64_t n = n0; n < n1; n++) {
    float* x = logits + n * V;
    const int32_t t = targets[n];
    const float m = row_max(x, V);
    if (t == kIgnoreIndex) {
      lse[n] = static_cast<float>(m + std::log(row_sum_exp(x, V, m)));
      losses[n] = 0.0f;
      for (int64_t j = 0; j < V; j++) x[j] = 0.0f;
      continue;
    }
    const float xTarget = x[t];
    const double sum = exp_row_in_place(x, V, m);
    const double l = m + std::log(sum);
    lse[n] = static_cast<float>(l);
    losses[n] = static_cast<float>(l - xTarget);
    scale_row(x, V, static_cast<float>(dLoss[n] / sum));
    x[t] -= dLoss[n];
  }
}

struct AdamWFloats {
  float decay, oneMinusBeta1, beta2, oneMinusBeta2, bc2Sqrt, eps, negStepSize;
};

// torch.optim.AdamW's single-tensor update, operation for operation in float32.
RT_PATHS(void, adamw_range,
         (float* p, const float* g, float* m, float* v, int64_t i0, int64_t i1, AdamWFloats f),
         (p, g, m, v, i0, i1, f)) {
  for (int64_t i = i0; i < i1; i++) {
    float gi = g[i];
    float pi = p[i] * f.decay;
    float mi = m[i] + f.oneMinusBeta1 * (gi - m[i]);
    float vi = v[i] * f.beta2 + f.oneMinusBeta2 * gi * gi;
    float denom = std::sqrt(vi) / f.bc2Sqrt + f.eps;
    p[i] = pi + f.negStepSize * (mi / denom);
    m[i] = mi;
    v[i] = vi;
  }
}

}  // namespace

void cross_entropy(const float* logits, const int32_t* targets, float* losses, float* lse, int64_t N, int64_t V) {
  parallel_for(N, V >= 8192 ? 1 : 8192 / (V + 1) + 1,
               [&](int64_t n0, int64_t n1) { cross_entropy_rows(logits, targets, losses, lse, n0, n1, V); });
}

void cross_entropy_backward(const float* logits, const int32_t* targets, const float* lse, const float* dLoss,
                            float* dLogits, int64_t N, int64_t V) {
  parallel_for(N, V >= 8192 ? 1 : 8192 / (V + 1) + 1, [&](int64_t n0, int64_t n1) {
    cross_entropy_backward_rows(logits, targets, lse, dLoss, dLogits, n0, n1, V);
  });
}

void cross_entropy_with_grad(float* logits, const int32_t* targets, float* losses, float* lse, const float* dLoss,
                             int64_t N, int64_t V) {
  parallel_for(N, V >= 8192 ? 1 : 8192 / (V + 1) + 1, [&](int64_t n0, int64_t n1) {
    cross_entropy_with_grad_rows(logits, targets, losses, lse, dLoss, n0, n1, V);
  });
}

void adamw(float* p, const float* g, float* m, float* v, int64_t n, const AdamWHyper& h) {
  // The scalars are formed in double and rounded once, as PyTorch does with Python floats.
  AdamWFloats f{static_cast<float>(1.0 - h.lr * h.weightDecay), static_cast<float>(1.0 - h.beta1),
                static_cast<float>(h.beta2),                     static_cast<float>(1.0 - h.beta2),
                static_cast<float>(std::sqrt(h.bc2)),            static_cast<float>(h.eps),
                static_cast<float>(-(h.lr / h.bc1))};
  parallel_for(n, 1 << 15, [&](int64_t i0, int64_t i1) { adamw_range(p, g, m, v, i0, i1, f); });
}

}  // namespace rt
