// Low-rank products: LoRA's rank-r branches (r small, typically 8) against activations of n rows and F features. A
// general GEMM spends most of its time on these shapes packing operands and filling partial tiles; here each kernel
// is one pass over the large operand with the small one held in cache.
// Every sum runs in the order stated at its kernel, in float32 with contraction into FMA off (simd.h), so the bits
// are the same on every path and thread count, and the reference backend's loops (src/backend/reference.ts) give
// them too. Work is split over rows (project, expand) or 16-column strips (reduce), never over a sum.
#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels.h"
#include "pool.h"
#include "simd.h"

namespace rt {
namespace {

// 16 float lanes: one zmm, a ymm pair on the AVX2 path, scalar code on the portable one; every lane rounds alike.
// Loaded and stored through an unaligned, aliasing pointer type (no function takes or returns a vector: their ABI
// differs between the paths).
typedef float v16 __attribute__((vector_size(64)));
typedef float v16u __attribute__((vector_size(64), aligned(4), may_alias));
#define RT_LOAD16(p) (*reinterpret_cast<const v16u*>(p))
#define RT_STORE16(p, v) (*reinterpret_cast<v16u*>(p) = (v))

constexpr int64_t kRowGroup = 4;   // rows sharing each load of the small operand
constexpr int64_t kRankGroup = 4;  // rank columns sharing each load of a row (project)
constexpr int64_t kReduceGroup = 8;  // rank rows summed side by side (reduce)
constexpr int64_t kRowBlock = 16;  // rows of x per pass over a strip (reduce): 16 sequential streams
constexpr int64_t kMinParallelMacs = int64_t(1) << 18;

// 16 values from p, zero past `count`, into t.
inline void copy_tail(const float* p, int64_t count, float t[16]) {
  std::fill(t, t + 16, 0.0f);
  std::memcpy(t, p, count * sizeof(float));
}

// y (n, r) rows [i0, i1) = s * x @ w^T. Each dot product x[i] . w[j] sums in 16 lanes, lane l taking the features
// f = l (mod 16) in ascending order (features past F count as 0 * 0), and the lanes are added in float64 in lane order.
RT_PATHS(void, project_rows,
         (const float* x, const float* w, float* y, int64_t i0, int64_t i1, int64_t F, int64_t r, double s),
         (x, w, y, i0, i1, F, r, s)) {
  const int64_t full = F / 16 * 16, rem = F - full;
  for (int64_t i = i0; i < i1; i += kRowGroup) {
    const int64_t rows = std::min(kRowGroup, i1 - i);
    const float* xr[kRowGroup];
    for (int64_t a = 0; a < kRowGroup; a++) xr[a] = x + (i + std::min(a, rows - 1)) * F;
    for (int64_t j = 0; j < r; j += kRankGroup) {
      const int64_t cols = std::min(kRankGroup, r - j);
      const float* wr[kRankGroup];
      for (int64_t b = 0; b < kRankGroup; b++) wr[b] = w + (j + std::min(b, cols - 1)) * F;
      v16 acc[kRowGroup][kRankGroup] = {};
      for (int64_t f = 0; f < full; f += 16) {
        v16 xv[kRowGroup], wv[kRankGroup];
        for (int64_t a = 0; a < kRowGroup; a++) xv[a] = RT_LOAD16(xr[a] + f);
        for (int64_t b = 0; b < kRankGroup; b++) wv[b] = RT_LOAD16(wr[b] + f);
        for (int64_t a = 0; a < kRowGroup; a++)
          for (int64_t b = 0; b < kRankGroup; b++) acc[a][b] += xv[a] * wv[b];
      }
      if (rem > 0) {
        float xt[kRowGroup][16], wt[kRankGroup][16];
        for (int64_t a = 0; a < kRowGroup; a++) copy_tail(xr[a] + full, rem, xt[a]);
        for (int64_t b = 0; b < kRankGroup; b++) copy_tail(wr[b] + full, rem, wt[b]);
        for (int64_t a = 0; a < kRowGroup; a++)
          for (int64_t b = 0; b < kRankGroup; b++) acc[a][b] += RT_LOAD16(xt[a]) * RT_LOAD16(wt[b]);
      }
      for (int64_t a = 0; a < rows; a++) {
        for (int64_t b = 0; b < cols; b++) {
          float lanes[16];
          RT_STORE16(lanes, acc[a][b]);
          double sum = 0;
          for (int l = 0; l < 16; l++) sum += lanes[l];
          y[(i + a) * r + j + b] = static_cast<float>(s * sum);
        }
      }
    }
  }
}

// out (n, F) rows [i0, i1) += y @ w: each element adds t = y[i][0] w[0][f] + y[i][1] w[1][f] + ... (j ascending,
// from 0) to itself.
RT_PATHS(void, expand_rows, (const float* y, const float* w, float* out, int64_t i0, int64_t i1, int64_t r, int64_t F),
         (y, w, out, i0, i1, r, F)) {
  const int64_t full = F / 16 * 16;
  for (int64_t i = i0; i < i1; i += kRowGroup) {
    const int64_t rows = std::min(kRowGroup, i1 - i);
    const float* yr[kRowGroup];
    for (int64_t a = 0; a < kRowGroup; a++) yr[a] = y + (i + std::min(a, rows - 1)) * r;
    for (int64_t f = 0; f < full; f += 16) {
      v16 t[kRowGroup] = {};
      for (int64_t j = 0; j < r; j++) {
        const v16 wv = RT_LOAD16(w + j * F + f);
        for (int64_t a = 0; a < kRowGroup; a++) t[a] += yr[a][j] * wv;
      }
      for (int64_t a = 0; a < rows; a++) {
        float* o = out + (i + a) * F + f;
        RT_STORE16(o, RT_LOAD16(o) + t[a]);
      }
    }
    for (int64_t f = full; f < F; f++) {
      for (int64_t a = 0; a < rows; a++) {
        float t = 0;
        for (int64_t j = 0; j < r; j++) t += yr[a][j] * w[j * F + f];
        out[(i + a) * F + f] += t;
      }
    }
  }
}

thread_local std::vector<float> tStrip;

// d (r, F) columns [f0, f1) (=|+=) y^T @ x: each element sums y[0][j] x[0][f] + y[1][j] x[1][f] + ... (i ascending,
// from 0), then is stored or added to d. The sums build in a (r, f1 - f0) scratch strip, kRowBlock rows of x at a
// time, so x is read in row-sequential runs.
RT_PATHS(void, reduce_columns,
         (const float* y, const float* x, float* d, int64_t f0, int64_t f1, int64_t n, int64_t r, int64_t F,
          bool accumulate, float* strip),
         (y, x, d, f0, f1, n, r, F, accumulate, strip)) {
  const int64_t width = f1 - f0, full = width / 16 * 16;
  std::fill(strip, strip + r * width, 0.0f);
  for (int64_t i0 = 0; i0 < n; i0 += kRowBlock) {
    const int64_t i1 = std::min(i0 + kRowBlock, n);
    // Per 16 columns, kReduceGroup rank rows side by side (independent sums, so the adds overlap), each x vector
    // loaded once for the group; a last group short of kReduceGroup repeats its last row.
    for (int64_t f = 0; f < full; f += 16) {
      for (int64_t j = 0; j < r; j += kReduceGroup) {
        const int64_t rows = std::min(kReduceGroup, r - j);
        int64_t jj[kReduceGroup];
        v16 t[kReduceGroup];
        for (int64_t g = 0; g < kReduceGroup; g++) {
          jj[g] = j + std::min(g, rows - 1);
          t[g] = RT_LOAD16(strip + jj[g] * width + f);
        }
        for (int64_t i = i0; i < i1; i++) {
          const v16 xv = RT_LOAD16(x + i * F + f0 + f);
          for (int64_t g = 0; g < kReduceGroup; g++) t[g] += y[i * r + jj[g]] * xv;
        }
        for (int64_t g = 0; g < rows; g++) RT_STORE16(strip + jj[g] * width + f, t[g]);
      }
    }
    for (int64_t j = 0; j < r; j++)
      for (int64_t f = full; f < width; f++)
        for (int64_t i = i0; i < i1; i++) strip[j * width + f] += y[i * r + j] * x[i * F + f0 + f];
  }
  for (int64_t j = 0; j < r; j++) {
    float* dst = d + j * F + f0;
    const float* src = strip + j * width;
    for (int64_t f = 0; f < width; f++) dst[f] = accumulate ? dst[f] + src[f] : src[f];
  }
}

// Rows per task: at least enough multiply-adds to be worth a thread, in whole row groups.
int64_t row_grain(int64_t perRow) {
  const int64_t rows = kMinParallelMacs / std::max<int64_t>(perRow, 1);
  return std::max<int64_t>(kRowGroup, (rows + kRowGroup - 1) / kRowGroup * kRowGroup);
}

}  // namespace

void low_rank_project(const float* x, const float* w, float* y, int64_t n, int64_t F, int64_t r, double s) {
  parallel_for(n, row_grain(F * r), [&](int64_t i0, int64_t i1) { project_rows(x, w, y, i0, i1, F, r, s); });
}

void low_rank_expand(const float* y, const float* w, float* out, int64_t n, int64_t r, int64_t F) {
  parallel_for(n, row_grain(F * r), [&](int64_t i0, int64_t i1) { expand_rows(y, w, out, i0, i1, r, F); });
}

void low_rank_reduce(const float* y, const float* x, float* d, int64_t n, int64_t r, int64_t F, bool accumulate) {
  const int64_t strips = (F + 15) / 16;
  const int64_t grain = std::max<int64_t>(1, kMinParallelMacs / std::max<int64_t>(16 * n * r, 1));
  parallel_for(strips, grain, [&](int64_t s0, int64_t s1) {
    const int64_t f0 = s0 * 16, f1 = std::min(s1 * 16, F);
    tStrip.resize(std::max<size_t>(tStrip.size(), static_cast<size_t>(r * (f1 - f0))));
    reduce_columns(y, x, d, f0, f1, n, r, F, accumulate, tStrip.data());
  });
}

}  // namespace rt
