// Embedding lookup, RMSNorm and rotary embedding, forward and backward. Reductions across rows (dw, dWeight) are
// split by columns, so each output element is summed by one thread in row order whatever the thread count.
#include <cmath>
#include <cstring>

#include "kernels.h"
#include "pool.h"
#include "simd.h"

namespace rt {
namespace {

// sum_i a[i] * b[i] in kLanes double lanes, combined in a fixed order.
RT_PATHS(double, dot, (const float* a, const float* b, int64_t n), (a, b, n)) {
  double lanes[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int l = 0; l < kLanes; l++) lanes[l] += static_cast<double>(a[i + l]) * b[i + l];
  for (int l = 0; i < n; i++, l++) lanes[l] += static_cast<double>(a[i]) * b[i];
  double s = 0;
  for (int l = 0; l < kLanes; l++) s += lanes[l];
  return s;
}

RT_PATHS(void, rmsnorm_rows,
         (const float* x, const float* w, float* out, float* rstd, int64_t n0, int64_t n1, int64_t C, float eps),
         (x, w, out, rstd, n0, n1, C, eps)) {
  for (int64_t n = n0; n < n1; n++) {
    const float* xr = x + n * C;
    float* o = out + n * C;
    float r = static_cast<float>(1.0 / std::sqrt(dot(xr, xr, C) / static_cast<double>(C) + eps));
    rstd[n] = r;
    for (int64_t c = 0; c < C; c++) o[c] = w[c] * (xr[c] * r);
  }
}

// With g = dOut * w and y = x * r: dx = r * g - x * r^3 * (g . x) / C
RT_PATHS(void, rmsnorm_dx_rows,
         (const float* dOut, const float* x, const float* w, const float* rstd, float* dx, int64_t n0, int64_t n1,
          int64_t C),
         (dOut, x, w, rstd, dx, n0, n1, C)) {
  for (int64_t n = n0; n < n1; n++) {
    const float* xr = x + n * C;
    const float* d = dOut + n * C;
    float* dxr = dx + n * C;
    double gx = 0;
    double lanes[kLanes] = {};
    int64_t c = 0;
    for (; c + kLanes <= C; c += kLanes)
      for (int l = 0; l < kLanes; l++) lanes[l] += static_cast<double>(d[c + l] * w[c + l]) * xr[c + l];
    for (int l = 0; c < C; c++, l++) lanes[l] += static_cast<double>(d[c] * w[c]) * xr[c];
    for (int l = 0; l < kLanes; l++) gx += lanes[l];
    float r = rstd[n];
    float k = static_cast<float>(gx / static_cast<double>(C) * r * r * r);
    for (c = 0; c < C; c++) dxr[c] = r * (d[c] * w[c]) - xr[c] * k;
  }
}

RT_PATHS(void, rmsnorm_dw_cols,
         (const float* dOut, const float* x, const float* rstd, float* dw, int64_t N, int64_t C, int64_t c0, int64_t c1),
         (dOut, x, rstd, dw, N, C, c0, c1)) {
  for (int64_t n = 0; n < N; n++) {
    const float* xr = x + n * C;
    const float* d = dOut + n * C;
    float r = rstd[n];
    for (int64_t c = c0; c < c1; c++) dw[c] += d[c] * (xr[c] * r);
  }
}

RT_PATHS(void, rope_rows,
         (const float* x, float* out, const int32_t* positions, const float* cos, const float* sin, int64_t r0,
          int64_t r1, int64_t nHead, int64_t hd, float sign),
         (x, out, positions, cos, sin, r0, r1, nHead, hd, sign)) {
  const int64_t half = hd / 2;
  for (int64_t r = r0; r < r1; r++) {
    const int64_t pos = positions[r / nHead];
    const float* cr = cos + pos * half;
    const float* sr = sin + pos * half;
    const float* x1 = x + r * hd;
    const float* x2 = x1 + half;
    float* o1 = out + r * hd;
    float* o2 = o1 + half;
    for (int64_t i = 0; i < half; i++) {
      float a = x1[i], b = x2[i], c = cr[i], s = sign * sr[i];
      o1[i] = a * c - b * s;
      o2[i] = b * c + a * s;
    }
  }
}

RT_PATHS(void, embedding_backward_cols,
         (const float* dOut, const int32_t* ids, float* dWeight, int64_t N, int64_t C, int64_t c0, int64_t c1),
         (dOut, ids, dWeight, N, C, c0, c1)) {
  for (int64_t n = 0; n < N; n++) {
    const float* src = dOut + n * C;
    float* dst = dWeight + static_cast<int64_t>(ids[n]) * C;
    for (int64_t c = c0; c < c1; c++) dst[c] += src[c];
  }
}

// Enough rows per thread that a split pays for waking a thread.
int64_t row_grain(int64_t C) { return C >= 8192 ? 1 : 8192 / (C + 1) + 1; }

}  // namespace

void embedding(const float* weight, const int32_t* ids, float* out, int64_t N, int64_t C) {
  parallel_for(N, row_grain(C), [&](int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; n++)
      std::memcpy(out + n * C, weight + static_cast<int64_t>(ids[n]) * C, C * sizeof(float));
  });
}

void embedding_backward(const float* dOut, const int32_t* ids, float* dWeight, int64_t N, int64_t C) {
  parallel_for(C, 64, [&](int64_t c0, int64_t c1) { embedding_backward_cols(dOut, ids, dWeight, N, C, c0, c1); });
}

void rmsnorm(const float* x, const float* w, float* out, float* rstd, int64_t N, int64_t C, float eps) {
  parallel_for(N, row_grain(C), [&](int64_t n0, int64_t n1) { rmsnorm_rows(x, w, out, rstd, n0, n1, C, eps); });
}

void rmsnorm_backward(const float* dOut, const float* x, const float* w, const float* rstd, float* dx, float* dw,
                      int64_t N, int64_t C) {
  parallel_for(N, row_grain(C), [&](int64_t n0, int64_t n1) { rmsnorm_dx_rows(dOut, x, w, rstd, dx, n0, n1, C); });
  parallel_for(C, 64, [&](int64_t c0, int64_t c1) { rmsnorm_dw_cols(dOut, x, rstd, dw, N, C, c0, c1); });
}

void rope(const float* x, float* out, const int32_t* positions, const float* cos, const float* sin, int64_t N,
          int64_t nHead, int64_t hd, bool inverse) {
  const float sign = inverse ? -1.0f : 1.0f;
  parallel_for(N * nHead, row_grain(hd), [&](int64_t r0, int64_t r1) {
    rope_rows(x, out, positions, cos, sin, r0, r1, nHead, hd, sign);
  });
}

}  // namespace rt
