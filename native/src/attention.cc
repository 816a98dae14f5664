// Causal attention, flash style: for each (batch, head, block of kBq queries) stream over blocks of kBk keys,
// keeping a running max m, running sum l and unnormalized output per query (online softmax), so no (T, T) matrix
// is ever stored. The backward pass recomputes probabilities from the saved log-sum-exp:
//   P = exp(S - lse), dV = P^T dO, dP = dO V^T, dS = P * (dP - rowsum(dO * O)), dQ = dS K * scale, dK = dS^T Q * scale
// dK and dV are computed per key block (every query that sees it, heads of the group in order) and dQ per query
// block, so each output element is written by exactly one task and no atomics or cross-thread sums are needed.
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels.h"
#include "pool.h"
#include "simd.h"

namespace rt {
namespace {

constexpr int64_t kBq = 32;
constexpr int64_t kBk = 64;

// Row pointers into (B, T, nHeads, hd) tensors.
struct Layout {
  int64_t T, nHead, nKV, hd;
  const float* row(const float* base, int64_t b, int64_t t, int64_t h, int64_t heads) const {
    return base + ((b * T + t) * heads + h) * hd;
  }
};

// Per-thread scratch, grown on first use.
struct Scratch {
  std::vector<float> kt, vt, s, p, dp, acc, m, l, dk, dv;
  std::vector<unsigned char> mask;
  void fit(int64_t hd) {
    kt.resize(hd * kBk);
    vt.resize(hd * kBk);
    s.resize(kBq * kBk);
    p.resize(kBq * kBk);
    dp.resize(kBq * kBk);
    acc.resize(kBq * hd);
    m.resize(kBq);
    l.resize(kBq);
    dk.resize(kBk * hd);
    dv.resize(kBk * hd);
    mask.resize(kBq * kBk);
  }
};
thread_local Scratch tScratch;

// dst (hd, kBk) = rows [j0, j0+nk) of one kv head, transposed; missing columns zero.
RT_CLONES void load_transposed(const float* src, int64_t stride, int64_t nk, int64_t hd, float* dst) {
  for (int64_t d = 0; d < hd; d++)
    for (int64_t j = 0; j < kBk; j++) dst[d * kBk + j] = j < nk ? src[j * stride + d] : 0.0f;
}

// s (nq, kBk) = a (nq, hd; row stride) @ bt (hd, kBk) * scale
RT_CLONES void block_scores(const float* a, int64_t stride, int64_t nq, const float* bt, int64_t hd, float scale,
                            float* s) {
  for (int64_t i = 0; i < nq; i++) {
    float row[kBk] = {};
    const float* ai = a + i * stride;
    for (int64_t d = 0; d < hd; d++) {
      const float x = ai[d];
      const float* bd = bt + d * kBk;
      for (int64_t j = 0; j < kBk; j++) row[j] += x * bd[j];
    }
    for (int64_t j = 0; j < kBk; j++) s[i * kBk + j] = row[j] * scale;
  }
}

// mask (nq, kBk): key j0+j visible to query i0+i. Returns whether any pair is visible.
bool block_mask(const int32_t* seg, int64_t i0, int64_t nq, int64_t j0, int64_t nk, unsigned char* mask) {
  bool any = false;
  for (int64_t i = 0; i < nq; i++) {
    for (int64_t j = 0; j < kBk; j++) {
      bool visible = j < nk && j0 + j <= i0 + i && (seg == nullptr || seg[j0 + j] == seg[i0 + i]);
      mask[i * kBk + j] = visible;
      any = any || visible;
    }
  }
  return any;
}

// acc (nq, hd) += p (nq, kBk) @ v rows (kBk, hd; row stride)
RT_CLONES void accumulate_pv(const float* p, const float* v, int64_t stride, int64_t nq, int64_t nk, int64_t hd,
                             float* acc) {
  for (int64_t i = 0; i < nq; i++) {
    float* ai = acc + i * hd;
    for (int64_t j = 0; j < nk; j++) {
      const float pj = p[i * kBk + j];
      if (pj == 0.0f) continue;
      const float* vj = v + j * stride;
      for (int64_t d = 0; d < hd; d++) ai[d] += pj * vj[d];
    }
  }
}

// Online-softmax update of one block for rows [0, nq): rescales acc rows by exp(mOld - mNew) and leaves the
// block's probabilities (relative to the new max) in p.
RT_CLONES void online_softmax(const float* s, const unsigned char* mask, int64_t nq, int64_t hd, float* p, float* m,
                              float* l, float* acc) {
  for (int64_t i = 0; i < nq; i++) {
    const float* si = s + i * kBk;
    const unsigned char* mi = mask + i * kBk;
    float* pi = p + i * kBk;
    float blockMax = -INFINITY;
    for (int64_t j = 0; j < kBk; j++) blockMax = mi[j] && si[j] > blockMax ? si[j] : blockMax;
    if (blockMax == -INFINITY) {
      for (int64_t j = 0; j < kBk; j++) pi[j] = 0.0f;
      continue;
    }
    const float mNew = blockMax > m[i] ? blockMax : m[i];
    const float alpha = fast_exp(m[i] - mNew);
    for (int64_t j = 0; j < kBk; j++) pi[j] = mi[j] ? fast_exp(si[j] - mNew) : 0.0f;
    float sum = 0.0f;
    for (int64_t j = 0; j < kBk; j++) sum += pi[j];
    l[i] = l[i] * alpha + sum;
    m[i] = mNew;
    if (alpha != 1.0f)
      for (int64_t d = 0; d < hd; d++) acc[i * hd + d] *= alpha;
  }
}

void forward_task(const float* q, const float* k, const float* v, float* out, float* lse, const AttentionShape& s,
                  int64_t b, int64_t h, int64_t i0) {
  const Layout L{s.T, s.nHead, s.nKV, s.hd};
  const int64_t hd = s.hd, kvh = h / (s.nHead / s.nKV), nq = std::min(kBq, s.T - i0);
  const int64_t qStride = s.nHead * hd, kvStride = s.nKV * hd;
  const int32_t* seg = s.segments ? s.segments + b * s.T : nullptr;
  Scratch& w = tScratch;
  w.fit(hd);
  for (int64_t i = 0; i < nq; i++) {
    w.m[i] = -INFINITY;
    w.l[i] = 0.0f;
  }
  std::fill(w.acc.begin(), w.acc.begin() + nq * hd, 0.0f);
  const float* qBlock = L.row(q, b, i0, h, s.nHead);
  for (int64_t j0 = 0; j0 < i0 + nq; j0 += kBk) {
    const int64_t nk = std::min(kBk, s.T - j0);
    if (!block_mask(seg, i0, nq, j0, nk, w.mask.data())) continue;
    load_transposed(L.row(k, b, j0, kvh, s.nKV), kvStride, nk, hd, w.kt.data());
    block_scores(qBlock, qStride, nq, w.kt.data(), hd, s.scale, w.s.data());
    online_softmax(w.s.data(), w.mask.data(), nq, hd, w.p.data(), w.m.data(), w.l.data(), w.acc.data());
    accumulate_pv(w.p.data(), L.row(v, b, j0, kvh, s.nKV), kvStride, nq, nk, hd, w.acc.data());
  }
  for (int64_t i = 0; i < nq; i++) {
    float* o = out + ((b * s.T + i0 + i) * s.nHead + h) * hd;
    const float inv = 1.0f / w.l[i];
    for (int64_t d = 0; d < hd; d++) o[d] = w.acc[i * hd + d] * inv;
    lse[(b * s.nHead + h) * s.T + i0 + i] = w.m[i] + std::log(w.l[i]);
  }
}

// p (nq, kBk) = exp(s - lse_i) where visible, else 0.
RT_CLONES void probabilities(const float* s, const unsigned char* mask, const float* lse, int64_t nq, float* p) {
  for (int64_t i = 0; i < nq; i++)
    for (int64_t j = 0; j < kBk; j++) p[i * kBk + j] = mask[i * kBk + j] ? fast_exp(s[i * kBk + j] - lse[i]) : 0.0f;
}

// ds (nq, kBk) = p * (dp - D_i) * scale, in place of dp.
RT_CLONES void score_grads(const float* p, const float* D, int64_t nq, float scale, float* dp) {
  for (int64_t i = 0; i < nq; i++)
    for (int64_t j = 0; j < kBk; j++) dp[i * kBk + j] = p[i * kBk + j] * (dp[i * kBk + j] - D[i]) * scale;
}

// dst (nk, hd) += g^T (nk, nq) @ rows (nq, hd; row stride), summing queries in order.
RT_CLONES void accumulate_transposed(const float* g, const float* rows, int64_t stride, int64_t nq, int64_t nk,
                                     int64_t hd, float* dst) {
  for (int64_t j = 0; j < nk; j++) {
    float* dj = dst + j * hd;
    for (int64_t i = 0; i < nq; i++) {
      const float gij = g[i * kBk + j];
      if (gij == 0.0f) continue;
      const float* ri = rows + i * stride;
      for (int64_t d = 0; d < hd; d++) dj[d] += gij * ri[d];
    }
  }
}

struct BackwardArgs {
  const float *dOut, *q, *k, *v, *lse, *D;
  float *dq, *dk, *dv;
};

// Recomputes P and dS for queries [i0, i0+nq) of head h against keys [j0, j0+nk). Returns false if fully masked.
bool recompute_block(const BackwardArgs& a, const AttentionShape& s, Scratch& w, int64_t b, int64_t h, int64_t i0,
                     int64_t nq, int64_t j0, int64_t nk) {
  const Layout L{s.T, s.nHead, s.nKV, s.hd};
  const int64_t kvh = h / (s.nHead / s.nKV), qStride = s.nHead * s.hd, kvStride = s.nKV * s.hd;
  const int32_t* seg = s.segments ? s.segments + b * s.T : nullptr;
  if (!block_mask(seg, i0, nq, j0, nk, w.mask.data())) return false;
  load_transposed(L.row(a.k, b, j0, kvh, s.nKV), kvStride, nk, s.hd, w.kt.data());
  load_transposed(L.row(a.v, b, j0, kvh, s.nKV), kvStride, nk, s.hd, w.vt.data());
  const float* lseRow = a.lse + (b * s.nHead + h) * s.T + i0;
  const float* dRow = a.D + (b * s.nHead + h) * s.T + i0;
  block_scores(L.row(a.q, b, i0, h, s.nHead), qStride, nq, w.kt.data(), s.hd, s.scale, w.s.data());
  probabilities(w.s.data(), w.mask.data(), lseRow, nq, w.p.data());
  block_scores(L.row(a.dOut, b, i0, h, s.nHead), qStride, nq, w.vt.data(), s.hd, 1.0f, w.dp.data());
  score_grads(w.p.data(), dRow, nq, s.scale, w.dp.data());
  return true;
}

void dkdv_task(const BackwardArgs& a, const AttentionShape& s, int64_t b, int64_t kvh, int64_t j0) {
  const Layout L{s.T, s.nHead, s.nKV, s.hd};
  const int64_t hd = s.hd, nk = std::min(kBk, s.T - j0), group = s.nHead / s.nKV, qStride = s.nHead * hd;
  Scratch& w = tScratch;
  w.fit(hd);
  std::fill(w.dk.begin(), w.dk.begin() + nk * hd, 0.0f);
  std::fill(w.dv.begin(), w.dv.begin() + nk * hd, 0.0f);
  for (int64_t h = kvh * group; h < (kvh + 1) * group; h++) {
    for (int64_t i0 = j0 / kBq * kBq; i0 < s.T; i0 += kBq) {
      const int64_t nq = std::min(kBq, s.T - i0);
      if (!recompute_block(a, s, w, b, h, i0, nq, j0, nk)) continue;
      accumulate_transposed(w.p.data(), L.row(a.dOut, b, i0, h, s.nHead), qStride, nq, nk, hd, w.dv.data());
      accumulate_transposed(w.dp.data(), L.row(a.q, b, i0, h, s.nHead), qStride, nq, nk, hd, w.dk.data());
    }
  }
  for (int64_t j = 0; j < nk; j++) {
    float* dkRow = a.dk + ((b * s.T + j0 + j) * s.nKV + kvh) * hd;
    float* dvRow = a.dv + ((b * s.T + j0 + j) * s.nKV + kvh) * hd;
    for (int64_t d = 0; d < hd; d++) {
      dkRow[d] = w.dk[j * hd + d];
      dvRow[d] = w.dv[j * hd + d];
    }
  }
}

// dQ rows of one query block: the sum over visible key blocks of dS @ K, the same loop as P @ V.
void dq_task(const BackwardArgs& a, const AttentionShape& s, int64_t b, int64_t h, int64_t i0) {
  const Layout L{s.T, s.nHead, s.nKV, s.hd};
  const int64_t hd = s.hd, nq = std::min(kBq, s.T - i0), kvh = h / (s.nHead / s.nKV), kvStride = s.nKV * hd;
  Scratch& w = tScratch;
  w.fit(hd);
  std::fill(w.acc.begin(), w.acc.begin() + nq * hd, 0.0f);
  for (int64_t j0 = 0; j0 < i0 + nq; j0 += kBk) {
    const int64_t nk = std::min(kBk, s.T - j0);
    if (!recompute_block(a, s, w, b, h, i0, nq, j0, nk)) continue;
    accumulate_pv(w.dp.data(), L.row(a.k, b, j0, kvh, s.nKV), kvStride, nq, nk, hd, w.acc.data());
  }
  for (int64_t i = 0; i < nq; i++) {
    float* dqRow = a.dq + ((b * s.T + i0 + i) * s.nHead + h) * hd;
    for (int64_t d = 0; d < hd; d++) dqRow[d] = w.acc[i * hd + d];
  }
}

// D (B, nHead, T) = rowsum(dOut * out)
RT_CLONES void output_dots(const float* dOut, const float* out, float* D, const AttentionShape& s, int64_t r0,
                           int64_t r1) {
  for (int64_t r = r0; r < r1; r++) {  // r = (b * T + t) * nHead + h
    const int64_t h = r % s.nHead, bt = r / s.nHead, b = bt / s.T, t = bt % s.T;
    const float* x = dOut + r * s.hd;
    const float* y = out + r * s.hd;
    float sum = 0.0f;
    for (int64_t d = 0; d < s.hd; d++) sum += x[d] * y[d];
    D[(b * s.nHead + h) * s.T + t] = sum;
  }
}

// Runs task(i) for i in [0, n), task i on thread i mod threads: blocks of a causal sweep differ in cost, and
// interleaving spreads cheap and dear ones evenly while keeping the assignment fixed.
template <typename F>
void for_each_task(int64_t n, F task) {
  const int nT = static_cast<int>(std::min<int64_t>(threads(), n));
  run_on_threads(nT, [&](int t) {
    for (int64_t i = t; i < n; i += nT) task(i);
  });
}

}  // namespace

void attention(const float* q, const float* k, const float* v, float* out, float* lse, const AttentionShape& s) {
  const int64_t nBlocks = (s.T + kBq - 1) / kBq;
  for_each_task(s.B * s.nHead * nBlocks, [&](int64_t task) {
    const int64_t blk = task % nBlocks, bh = task / nBlocks;
    forward_task(q, k, v, out, lse, s, bh / s.nHead, bh % s.nHead, blk * kBq);
  });
}

void attention_backward(const float* dOut, const float* q, const float* k, const float* v, const float* out,
                        const float* lse, float* dq, float* dk, float* dv, const AttentionShape& s) {
  std::vector<float> D(s.B * s.nHead * s.T);
  parallel_for(s.B * s.T * s.nHead, 256,
               [&](int64_t r0, int64_t r1) { output_dots(dOut, out, D.data(), s, r0, r1); });
  const BackwardArgs a{dOut, q, k, v, lse, D.data(), dq, dk, dv};
  const int64_t nKeyBlocks = (s.T + kBk - 1) / kBk, nQueryBlocks = (s.T + kBq - 1) / kBq;
  for_each_task(s.B * s.nKV * nKeyBlocks, [&](int64_t task) {
    const int64_t blk = task % nKeyBlocks, bh = task / nKeyBlocks;
    dkdv_task(a, s, bh / s.nKV, bh % s.nKV, blk * kBk);
  });
  for_each_task(s.B * s.nHead * nQueryBlocks, [&](int64_t task) {
    const int64_t blk = task % nQueryBlocks, bh = task / nQueryBlocks;
    dq_task(a, s, bh / s.nHead, bh % s.nHead, blk * kBq);
  });
}

}  // namespace rt
