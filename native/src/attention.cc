// Causal attention, flash style: for each (batch, head, block of kBq queries) stream over blocks of kBk keys,
// keeping a running max m, running sum l and unnormalized output per query (online softmax), so no (T, T) matrix
// is ever stored. The backward pass recomputes probabilities from the saved log-sum-exp:
//   P = exp(S - lse), dV = P^T dO, dP = dO V^T, dS = P * (dP - rowsum(dO * O)), dQ = dS K * scale, dK = dS^T Q * scale
// dK and dV are computed per key block (every query that sees it, heads of the group in order) and dQ per query
// block, so each output element is written by exactly one task and no atomics or cross-thread sums are needed.
// The block products run on the GEMM micro-kernel (gemm_serial).
#include <algorithm>
#include <cmath>
#include <vector>

#include "gemm.h"
#include "kernels.h"
#include "pool.h"
#include "simd.h"

namespace rt {
namespace {

constexpr int64_t kBq = 48;
constexpr int64_t kBk = 64;  // a multiple of kLanes

// Per-thread block buffers, grown on first use: s, p, dp (kBq, kBk); acc (kBq, hd); dk, dv (kBk, hd).
struct Scratch {
  std::vector<float> s, p, dp, acc, m, l, dk, dv;
  std::vector<unsigned char> mask;
  void fit(int64_t hd) {
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

// Rows of one head in a (B, T, heads, hd) tensor, starting at token t, as a strided (tokens, hd) matrix.
Strided head_rows(const float* base, const AttentionShape& s, int64_t heads, int64_t b, int64_t t, int64_t h) {
  return {base + ((b * s.T + t) * heads + h) * s.hd, heads * s.hd, 1};
}

// The same rows seen transposed, as an (hd, tokens) matrix.
Strided head_cols(const float* base, const AttentionShape& s, int64_t heads, int64_t b, int64_t t, int64_t h) {
  return {base + ((b * s.T + t) * heads + h) * s.hd, 1, heads * s.hd};
}

// True when every token of [i0, i0+nq) and [j0, j0+nk) is in one segment, the common case of packed rows, where
// the mask is plain causal.
bool one_segment(const int32_t* seg, int64_t i0, int64_t nq, int64_t j0, int64_t nk) {
  if (seg == nullptr) return true;
  const int32_t id = seg[j0];
  for (int64_t j = j0; j < j0 + nk; j++)
    if (seg[j] != id) return false;
  for (int64_t i = i0; i < i0 + nq; i++)
    if (seg[i] != id) return false;
  return true;
}

// mask (nq, kBk): key j0+j visible to query i0+i. Returns whether any pair is visible.
bool block_mask(const int32_t* seg, int64_t i0, int64_t nq, int64_t j0, int64_t nk, unsigned char* mask) {
  if (one_segment(seg, i0, nq, j0, nk)) {
    for (int64_t i = 0; i < nq; i++) {
      const int64_t visible = std::clamp<int64_t>(i0 + i - j0 + 1, 0, nk);
      std::fill(mask + i * kBk, mask + i * kBk + visible, 1);
      std::fill(mask + i * kBk + visible, mask + (i + 1) * kBk, 0);
    }
    return i0 + nq - 1 >= j0;
  }
  bool any = false;
  for (int64_t i = 0; i < nq; i++) {
    for (int64_t j = 0; j < kBk; j++) {
      bool visible = j < nk && j0 + j <= i0 + i && seg[j0 + j] == seg[i0 + i];
      mask[i * kBk + j] = visible;
      any = any || visible;
    }
  }
  return any;
}

// Online-softmax update of one block of raw scores s for rows [0, nq): rescales the running sums and acc rows by
// exp(mOld - mNew) and leaves the block's probabilities (relative to the new max) in p, zero where masked.
RT_CLONES void online_softmax(const float* s, const unsigned char* mask, int64_t nq, int64_t hd, float scale, float* p,
                              float* rowMax, float* rowSum, float* acc) {
  for (int64_t i = 0; i < nq; i++) {
    const float* si = s + i * kBk;
    const unsigned char* mi = mask + i * kBk;
    float* pi = p + i * kBk;
    for (int64_t j = 0; j < kBk; j++) pi[j] = mi[j] ? si[j] * scale : -INFINITY;
    float lanes[kLanes];
    for (int l = 0; l < kLanes; l++) lanes[l] = -INFINITY;
    for (int64_t j = 0; j < kBk; j += kLanes)
      for (int l = 0; l < kLanes; l++) lanes[l] = pi[j + l] > lanes[l] ? pi[j + l] : lanes[l];
    float blockMax = -INFINITY;
    for (int l = 0; l < kLanes; l++) blockMax = lanes[l] > blockMax ? lanes[l] : blockMax;
    if (blockMax == -INFINITY) {
      for (int64_t j = 0; j < kBk; j++) pi[j] = 0.0f;
      continue;
    }
    const float mNew = blockMax > rowMax[i] ? blockMax : rowMax[i];
    const float alpha = fast_exp(rowMax[i] - mNew);
    for (int64_t j = 0; j < kBk; j++) pi[j] = mi[j] ? fast_exp(pi[j] - mNew) : 0.0f;
    for (int l = 0; l < kLanes; l++) lanes[l] = 0.0f;
    for (int64_t j = 0; j < kBk; j += kLanes)
      for (int l = 0; l < kLanes; l++) lanes[l] += pi[j + l];
    float sum = 0.0f;
    for (int l = 0; l < kLanes; l++) sum += lanes[l];
    rowSum[i] = rowSum[i] * alpha + sum;
    rowMax[i] = mNew;
    if (alpha != 1.0f)
      for (int64_t d = 0; d < hd; d++) acc[i * hd + d] *= alpha;
  }
}

void forward_task(const float* q, const float* k, const float* v, float* out, float* lse, const AttentionShape& s,
                  int64_t b, int64_t h, int64_t i0) {
  const int64_t hd = s.hd, kvh = h / (s.nHead / s.nKV), nq = std::min(kBq, s.T - i0);
  const int32_t* seg = s.segments ? s.segments + b * s.T : nullptr;
  Scratch& w = tScratch;
  w.fit(hd);
  std::fill(w.m.begin(), w.m.begin() + nq, -INFINITY);
  std::fill(w.l.begin(), w.l.begin() + nq, 0.0f);
  std::fill(w.acc.begin(), w.acc.begin() + nq * hd, 0.0f);
  for (int64_t j0 = 0; j0 < i0 + nq; j0 += kBk) {
    const int64_t nk = std::min(kBk, s.T - j0);
    if (!block_mask(seg, i0, nq, j0, nk, w.mask.data())) continue;
    // S (nq, nk) = Q (nq, hd) @ K^T (hd, nk)
    gemm_serial(head_rows(q, s, s.nHead, b, i0, h), head_cols(k, s, s.nKV, b, j0, kvh), w.s.data(), kBk, nq, nk, hd,
                false);
    online_softmax(w.s.data(), w.mask.data(), nq, hd, s.scale, w.p.data(), w.m.data(), w.l.data(), w.acc.data());
    // acc (nq, hd) += P (nq, nk) @ V (nk, hd)
    gemm_serial({w.p.data(), kBk, 1}, head_rows(v, s, s.nKV, b, j0, kvh), w.acc.data(), hd, nq, hd, nk, true);
  }
  for (int64_t i = 0; i < nq; i++) {
    float* o = out + ((b * s.T + i0 + i) * s.nHead + h) * hd;
    const float inv = 1.0f / w.l[i];
    for (int64_t d = 0; d < hd; d++) o[d] = w.acc[i * hd + d] * inv;
    lse[(b * s.nHead + h) * s.T + i0 + i] = w.m[i] + std::log(w.l[i]);
  }
}

// p = exp(s * scale - lse_i) where visible, else 0; then dp becomes dS = p * (dp - D_i) * scale.
RT_CLONES void score_grads(const float* __restrict s, const unsigned char* __restrict mask, const float* lse,
                           const float* D, int64_t nq, float scale, float* __restrict p, float* __restrict dp) {
  for (int64_t i = 0; i < nq; i++) {
    const float li = lse[i], di = D[i];
    for (int64_t j = 0; j < kBk; j++) {
      const int64_t o = i * kBk + j;
      const float e = fast_exp(s[o] * scale - li);  // computed everywhere, then selected, so the loop vectorizes
      const float pij = mask[o] ? e : 0.0f;
      p[o] = pij;
      dp[o] = pij * (dp[o] - di) * scale;
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
  const int64_t kvh = h / (s.nHead / s.nKV);
  const int32_t* seg = s.segments ? s.segments + b * s.T : nullptr;
  if (!block_mask(seg, i0, nq, j0, nk, w.mask.data())) return false;
  // S = Q K^T and dP = dO V^T, both (nq, nk)
  gemm_serial(head_rows(a.q, s, s.nHead, b, i0, h), head_cols(a.k, s, s.nKV, b, j0, kvh), w.s.data(), kBk, nq, nk,
              s.hd, false);
  gemm_serial(head_rows(a.dOut, s, s.nHead, b, i0, h), head_cols(a.v, s, s.nKV, b, j0, kvh), w.dp.data(), kBk, nq,
              nk, s.hd, false);
  const int64_t row = (b * s.nHead + h) * s.T + i0;
  score_grads(w.s.data(), w.mask.data(), a.lse + row, a.D + row, nq, s.scale, w.p.data(), w.dp.data());
  return true;
}

void dkdv_task(const BackwardArgs& a, const AttentionShape& s, int64_t b, int64_t kvh, int64_t j0) {
  const int64_t hd = s.hd, nk = std::min(kBk, s.T - j0), group = s.nHead / s.nKV;
  Scratch& w = tScratch;
  w.fit(hd);
  std::fill(w.dk.begin(), w.dk.begin() + nk * hd, 0.0f);
  std::fill(w.dv.begin(), w.dv.begin() + nk * hd, 0.0f);
  for (int64_t h = kvh * group; h < (kvh + 1) * group; h++) {
    for (int64_t i0 = j0 / kBq * kBq; i0 < s.T; i0 += kBq) {
      const int64_t nq = std::min(kBq, s.T - i0);
      if (!recompute_block(a, s, w, b, h, i0, nq, j0, nk)) continue;
      // dV (nk, hd) += P^T (nk, nq) @ dO (nq, hd);  dK (nk, hd) += dS^T (nk, nq) @ Q (nq, hd)
      gemm_serial({w.p.data(), 1, kBk}, head_rows(a.dOut, s, s.nHead, b, i0, h), w.dv.data(), hd, nk, hd, nq, true);
      gemm_serial({w.dp.data(), 1, kBk}, head_rows(a.q, s, s.nHead, b, i0, h), w.dk.data(), hd, nk, hd, nq, true);
    }
  }
  for (int64_t j = 0; j < nk; j++) {
    std::copy_n(w.dk.data() + j * hd, hd, a.dk + ((b * s.T + j0 + j) * s.nKV + kvh) * hd);
    std::copy_n(w.dv.data() + j * hd, hd, a.dv + ((b * s.T + j0 + j) * s.nKV + kvh) * hd);
  }
}

void dq_task(const BackwardArgs& a, const AttentionShape& s, int64_t b, int64_t h, int64_t i0) {
  const int64_t hd = s.hd, nq = std::min(kBq, s.T - i0), kvh = h / (s.nHead / s.nKV);
  Scratch& w = tScratch;
  w.fit(hd);
  std::fill(w.acc.begin(), w.acc.begin() + nq * hd, 0.0f);
  for (int64_t j0 = 0; j0 < i0 + nq; j0 += kBk) {
    const int64_t nk = std::min(kBk, s.T - j0);
    if (!recompute_block(a, s, w, b, h, i0, nq, j0, nk)) continue;
    // dQ (nq, hd) += dS (nq, nk) @ K (nk, hd)
    gemm_serial({w.dp.data(), kBk, 1}, head_rows(a.k, s, s.nKV, b, j0, kvh), w.acc.data(), hd, nq, hd, nk, true);
  }
  for (int64_t i = 0; i < nq; i++) std::copy_n(w.acc.data() + i * hd, hd, a.dq + ((b * s.T + i0 + i) * s.nHead + h) * hd);
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
