// Attention of a sequence's new query rows over its KV cache, for generation (see decode_attention.h). Each (query
// row, head) pair is one task: the scores of its visible keys into a per-thread buffer, their softmax, then the
// weighted sum of values. The tasks are split over the threads in fixed ranges and each sums in a fixed order, so
// the bits depend on neither the thread count nor the partition.
#include "decode_attention.h"

#include <algorithm>
#include <vector>

#include "pool.h"
#include "simd.h"

namespace rt {
namespace {

thread_local std::vector<float> tScores;

// One query row against keys [first, last] of its kv head: out (hd) = softmax(scale * q . k_j) . v_j. Keys and
// values of token j start at k + j * stride, v + j * stride.
RT_PATHS(void, attend_row,
         (const float* q, const float* k, const float* v, int64_t stride, int64_t first, int64_t last, int64_t hd,
          float scale, float* scores, float* out),
         (q, k, v, stride, first, last, hd, scale, scores, out)) {
  float m = -INFINITY;
  for (int64_t j = first; j <= last; j++) {
    const float* kj = k + j * stride;
    float lanes[kLanes] = {};
    int64_t d = 0;
    for (; d + kLanes <= hd; d += kLanes)
      for (int l = 0; l < kLanes; l++) lanes[l] += q[d + l] * kj[d + l];
    for (int l = 0; d + l < hd; l++) lanes[l] += q[d + l] * kj[d + l];
    const float s = static_cast<float>(sum_lanes(lanes)) * scale;
    scores[j - first] = s;
    m = std::max(m, s);
  }
  double total = 0;
  for (int64_t j = first; j <= last; j++) {
    scores[j - first] = fast_exp(scores[j - first] - m);
    total += scores[j - first];
  }
  std::fill(out, out + hd, 0.0f);
  for (int64_t j = first; j <= last; j++) {
    const float p = scores[j - first];
    const float* vj = v + j * stride;
    for (int64_t d = 0; d < hd; d++) out[d] += p * vj[d];
  }
  const float inv = static_cast<float>(1.0 / total);
  for (int64_t d = 0; d < hd; d++) out[d] *= inv;
}

}  // namespace

void attention_cached(const float* q, const float* k, const float* v, float* out, const CachedAttentionShape& s) {
  const int64_t tasks = s.Tq * s.nHead, group = s.nHead / s.nKV, stride = s.nKV * s.hd;
  // A task reads its keys and values once: split only when each thread gets ~64 K floats of them.
  const int64_t grain = std::max<int64_t>(1, (int64_t(1) << 16) / std::max<int64_t>(1, 2 * s.Tk * s.hd));
  parallel_for(tasks, grain, [&](int64_t t0, int64_t t1) {
    std::vector<float>& scores = tScores;
    if (static_cast<int64_t>(scores.size()) < s.Tk) scores.resize(s.Tk);
    for (int64_t t = t0; t < t1; t++) {
      const int64_t i = t / s.nHead, h = t % s.nHead, p = s.Tk - s.Tq + i;
      const int64_t first = s.window > 0 ? std::max<int64_t>(0, p - s.window + 1) : 0;
      const int64_t kv = (h / group) * s.hd;
      attend_row(q + t * s.hd, k + kv, v + kv, stride, first, p, s.hd, s.scale, scores.data(), out + t * s.hd);
    }
  });
}

}  // namespace rt
