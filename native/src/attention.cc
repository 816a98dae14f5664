// Causal attention, flash style, in square blocks of kB queries x kB keys: no (T, T) matrix is ever stored.
// Forward: a task per (batch, kv head) packs the group's keys and values once, then for each head of the group walks
// query blocks i and, for each, key blocks j <= i, keeping a running max m, running sum l and unnormalized output
// per query (online softmax).
// Backward: recomputes probabilities from the saved log-sum-exp,
//   P = exp(S - lse), dV = P^T dO, dP = dO V^T, dS = P * (dP - rowsum(dO * O)), dQ = dS K * scale, dK = dS^T Q * scale
// in one pass per (batch, kv head): heads of the group in order, key blocks j, query blocks i >= j. S and dP are
// computed once per (i, j) and feed dK_j, dV_j and dQ_i, all in the task's own buffers: each output element is
// written by one task, no atomics. With few (batch, kv head) pairs the tasks are split into parts of their blocks (see
// part_count); a backward part's dQ terms are then added to dq in part order. The arithmetic is fixed by the shapes
// alone: the thread count only decides which thread runs a whole task.
// A sliding window (query i sees key j only when i - j < window) bounds both walks: key blocks wholly before a query
// block's earliest visible key are never visited, so the cost is O(T * window); blocks the window's edge cuts through
// take the masked path like diagonal blocks. Without a window the kernels use window = T, which hides nothing.
// Each task first copies its rows into zero-padded, contiguous scratch: T rounded up to Tp (a multiple of kB), hd to
// hdp (a multiple of 8), so every block product is a whole (kB, kB) or (kB, hdp) tile product; padded query rows
// are masked (probability 0) and padded columns are zero. The block products run on register-tiled kernels
// (attention_tiles.cc) that read both operands in place; the softmax steps are in attention_softmax.cc.
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels.h"
#include "pool.h"
#include "simd.h"

#include "attention_softmax.h"
#include "attention_tiles.h"

namespace rt {
namespace {

constexpr int64_t kB = kAttentionBlock;  // block of queries and of keys

// ---- masks ----------------------------------------------------------------------------------------------------
// True when every token of [i0, i0+nq) and [j0, j0+nk) is in one segment, the common case of packed rows, where
// the mask is plain causal.
bool one_segment(const int32_t* seg, int64_t i0, int64_t nq, int64_t j0, int64_t nk) {
  const auto same = [&](int32_t x) { return x == seg[j0]; };
  return seg == nullptr || (std::all_of(seg + j0, seg + j0 + nk, same) && std::all_of(seg + i0, seg + i0 + nq, same));
}

enum class Visible { kNone, kSome, kAll };

// The window in tokens, T when there is none (i - j < T holds for every pair).
int64_t window_of(const AttentionShape& s) { return s.window > 0 ? std::min(s.window, s.T) : s.T; }

// First key block query block ib sees: the one holding the earliest key its first query sees.
int64_t first_key_block(int64_t ib, int64_t W) { return std::max<int64_t>(0, ib * kB - W + 1) / kB; }

// One past the last query block that sees key block jb: its first query sees the block's last key.
int64_t end_query_block(int64_t jb, int64_t W, int64_t nBlocks) {
  return std::min(nBlocks, (jb * kB + kB + W - 2) / kB + 1);
}

// Which pairs of queries [i0, i0+nq) x keys [j0, j0+nk) are visible under the causal mask, window W and segments.
// For kSome, mask (kB, kB) holds whether key j0+j is visible to query i0+i, rows i >= nq and columns j >= nk
// (padding) hidden; for kAll (the usual block below the diagonal and wholly inside the window) the mask is not
// written and the kernels skip reading it.
Visible block_mask(const int32_t* seg, int64_t W, int64_t i0, int64_t nq, int64_t j0, int64_t nk, unsigned char* mask) {
  // Every key after every query, or before every query's window.
  if (i0 + nq - 1 < j0 || i0 - (j0 + nk - 1) >= W) return Visible::kNone;
  const bool plain = one_segment(seg, i0, nq, j0, nk);
  if (plain && nq == kB && nk == kB && i0 >= j0 + kB - 1 && i0 + kB - 1 - j0 < W) return Visible::kAll;
  if (plain) {  // causal and window only: a branch-free loop the compiler vectorizes
    for (int64_t i = 0; i < kB; i++)
      for (int64_t j = 0; j < kB; j++)
        mask[i * kB + j] = (i < nq) & (j < nk) & (j0 + j <= i0 + i) & (i0 + i - (j0 + j) < W);
    return Visible::kSome;
  }
  std::fill(mask + nq * kB, mask + kB * kB, 0);
  bool any = false;
  for (int64_t i = 0; i < nq; i++) {
    for (int64_t j = 0; j < kB; j++) {
      bool visible = j < nk && j0 + j <= i0 + i && i0 + i - (j0 + j) < W && seg[j0 + j] == seg[i0 + i];
      mask[i * kB + j] = visible;
      any = any || visible;
    }
  }
  return any ? Visible::kSome : Visible::kNone;
}

// ---- packing ----------------------------------------------------------------------------------------------------
// A float buffer that only grows, one set per thread, so steady-state calls allocate nothing.
struct Buf {
  std::vector<float> v;
  float* get(int64_t n) {
    if (static_cast<int64_t>(v.size()) < n) v.resize(n);
    return v.data();
  }
};

struct Padded {
  int64_t T, Tp, hd, hdp, nBlocks;
  explicit Padded(const AttentionShape& s)
      : T(s.T), Tp((s.T + kB - 1) / kB * kB), hd(s.hd), hdp((s.hd + 7) / 8 * 8), nBlocks((s.T + kB - 1) / kB) {}
};

// Asks for the cache lines of one hd-float row a few rows ahead of use: the rows of a head are hd floats every
// heads * hd, a stride the hardware prefetcher follows poorly across the several streams a task reads.
// For a row about to be written, the lines are fetched for writing.
template <int kWrite = 0>
inline void prefetch_row(const float* row, int64_t hd) {
#if defined(__GNUC__) || defined(__clang__)
  for (int64_t c = 0; c < hd; c += 16) __builtin_prefetch(row + c, kWrite);
  __builtin_prefetch(row + hd - 1, kWrite);
#endif
}

constexpr int64_t kAhead = 16;  // rows prefetched ahead

// dst (Tp, hdp) = the rows of head h of src (B, T, heads, hd) for batch b, zero-padded: the rows of blocks
// [blk0, blk1), the only ones a task reads (the rest of dst is left as it was).
RT_PATHS(void, pack_rows,
         (const float* src, int64_t heads, int64_t b, int64_t h, const Padded& p, float* dst, int64_t blk0,
          int64_t blk1),
         (src, heads, b, h, p, dst, blk0, blk1)) {
  const float* base = src + (b * p.T * heads + h) * p.hd;
  const int64_t stride = heads * p.hd;
  for (int64_t t = blk0 * kB; t < blk1 * kB; t++) {
    float* d = dst + t * p.hdp;
    if (t + kAhead < p.T) prefetch_row(base + (t + kAhead) * stride, p.hd);
    if (t < p.T) {
      const float* r = base + t * stride;
      for (int64_t c = 0; c < p.hd; c++) d[c] = r[c];
      for (int64_t c = p.hd; c < p.hdp; c++) d[c] = 0.0f;
    } else {
      for (int64_t c = 0; c < p.hdp; c++) d[c] = 0.0f;
    }
  }
}

// dst (nBlocks, hdp, kB) = rows (Tp, hdp) transposed block by block (block j's keys along the last axis), so
// S = Q_i @ dst_j reads contiguous key vectors. rows is already padded, so dst is too.
void transpose_blocks_portable(const float* rows, const Padded& p, float* dst, int64_t jb0, int64_t jb1) {
  for (int64_t jb = jb0; jb < jb1; jb++) {
    const float* r = rows + jb * kB * p.hdp;
    float* d = dst + jb * p.hdp * kB;
    for (int64_t c = 0; c < p.hdp; c++)
      for (int64_t t = 0; t < kB; t++) d[c * kB + t] = r[t * p.hdp + c];
  }
}

#ifdef RT_HAVE_AVX2_PATH
// 8x8 tiles transposed in registers (hdp and kB are multiples of 8).
RT_AVX2 void transpose_blocks_avx2(const float* rows, const Padded& p, float* dst, int64_t jb0, int64_t jb1) {
  for (int64_t jb = jb0; jb < jb1; jb++) {
    const float* r = rows + jb * kB * p.hdp;
    float* d = dst + jb * p.hdp * kB;
    for (int64_t t = 0; t < kB; t += 8) {
      for (int64_t c = 0; c < p.hdp; c += 8) {
        __m256 x[8];
        for (int i = 0; i < 8; i++) x[i] = _mm256_loadu_ps(r + (t + i) * p.hdp + c);
        transpose8x8(x);
        for (int i = 0; i < 8; i++) _mm256_storeu_ps(d + (c + i) * kB + t, x[i]);
      }
    }
  }
}
#endif

// Blocks [jb0, jb1) only.
void transpose_blocks(const float* rows, const Padded& p, float* dst, int64_t jb0, int64_t jb1) {
#ifdef RT_HAVE_AVX2_PATH
  if (cpu_has_avx2_fma()) return transpose_blocks_avx2(rows, p, dst, jb0, jb1);
#endif
  transpose_blocks_portable(rows, p, dst, jb0, jb1);
}

// dst (B, T, heads, hd) rows [t0, t1) of head h = src (Tp, hdp) without the padding.
RT_PATHS(void, unpack_rows,
         (const float* src, int64_t heads, int64_t b, int64_t h, const Padded& p, float* dst, int64_t t0, int64_t t1),
         (src, heads, b, h, p, dst, t0, t1)) {
  float* base = dst + (b * p.T * heads + h) * p.hd;
  for (int64_t t = t0; t < t1; t++) {
    const float* r = src + t * p.hdp;
    float* d = base + t * heads * p.hd;
    if (t + kAhead < t1) prefetch_row<1>(d + kAhead * heads * p.hd, p.hd);
    for (int64_t c = 0; c < p.hd; c++) d[c] = r[c];
  }
}

// With few (batch, head) pairs a task's blocks are split into parts of about equal work, so that the pool has
// enough tasks; the split depends on the shapes alone (kMinTasks is a constant), never on the thread count.
constexpr int64_t kMinTasks = 32, kMaxParts = 4;
int64_t part_count(int64_t pairs, int64_t nBlocks) {
  return std::clamp<int64_t>((kMinTasks + pairs - 1) / pairs, 1, std::min(kMaxParts, nBlocks));
}

// First block of part p of n when block x costs the number of blocks it pairs with: key blocks of query block x
// (forward), or query blocks of key block x (fromEnd, backward); part n ends at nBlocks.
int64_t part_start(int64_t p, int64_t n, int64_t nBlocks, int64_t W, bool fromEnd) {
  if (p >= n) return nBlocks;
  const auto cost = [&](int64_t x) {
    return fromEnd ? end_query_block(x, W, nBlocks) - x : x - first_key_block(x, W) + 1;
  };
  int64_t total = 0;
  for (int64_t x = 0; x < nBlocks; x++) total += cost(x);
  int64_t x = 0, done = 0;
  while (x < nBlocks && done * n < total * p) done += cost(x++);
  return x;
}

// ---- forward ----------------------------------------------------------------------------------------------------
struct ForwardScratch {
  Buf q, kt, v, acc, s, p, m, l;
  std::vector<unsigned char> mask = std::vector<unsigned char>(kB * kB);
};
thread_local ForwardScratch tForward;

// The query blocks [ib0, ib1) of head h, from its packed rows.
void forward_head(const AttentionShape& s, int64_t b, int64_t h, const float* qr, const float* kt, const float* vr,
                  int64_t ib0, int64_t ib1, float* out, float* lse) {
  const Padded P(s);
  const int64_t hdp = P.hdp, W = window_of(s);
  const int32_t* seg = s.segments ? s.segments + b * s.T : nullptr;
  ForwardScratch& w = tForward;
  float* acc = w.acc.get(kB * hdp);  // (kB, hdp) unnormalized output of one query block
  float *sc = w.s.get(kB * kB), *pr = w.p.get(kB * kB), *m = w.m.get(kB), *l = w.l.get(kB);
  unsigned char* mask = w.mask.data();
  for (int64_t ib = ib0; ib < ib1; ib++) {
    const int64_t i0 = ib * kB, nq = std::min(kB, s.T - i0);
    std::fill(m, m + kB, -INFINITY);
    std::fill(l, l + kB, 0.0f);
    std::fill(acc, acc + kB * hdp, 0.0f);
    for (int64_t jb = first_key_block(ib, W); jb <= ib; jb++) {
      const int64_t j0 = jb * kB, nk = std::min(kB, s.T - j0);
      const Visible vis = block_mask(seg, W, i0, nq, j0, nk, mask);
      if (vis == Visible::kNone) continue;
      const bool diag = ib == jb, full = vis == Visible::kAll;
      // S (kB, kB) = Q_i (kB, hdp) @ K_j^T (hdp, kB)
      block_product({qr + i0 * hdp, hdp, 1}, kt + jb * hdp * kB, kB, sc, kB, kB, kB, hdp, false,
                    diag ? Diag::kColsToRow : Diag::kNone);
      online_softmax(sc, mask, full, hdp, s.scale, pr, m, l, acc);
      // acc (kB, hdp) += P (kB, kB) @ V_j (kB, hdp)
      block_product({pr, kB, 1}, vr + j0 * hdp, hdp, acc, hdp, kB, hdp, kB, true, diag ? Diag::kKToRow : Diag::kNone);
    }
    for (int64_t i = 0; i < nq; i++) {
      float* o = out + ((b * s.T + i0 + i) * s.nHead + h) * s.hd;
      const float inv = 1.0f / l[i];
      for (int64_t d = 0; d < s.hd; d++) o[d] = acc[i * hdp + d] * inv;
      lse[(b * s.nHead + h) * s.T + i0 + i] = m[i] + std::log(l[i]);
    }
  }
}

// Query blocks [ib0, ib1) of every head of kv head kvh's group, batch b: the group's keys and values are packed
// once for all its heads, and only the blocks these queries see.
void forward_task(const float* q, const float* k, const float* v, float* out, float* lse, const AttentionShape& s,
                  int64_t b, int64_t kvh, int64_t ib0, int64_t ib1) {
  const Padded P(s);
  const int64_t hdp = P.hdp, group = s.nHead / s.nKV, W = window_of(s), kb0 = first_key_block(ib0, W);
  ForwardScratch& w = tForward;
  float *qr = w.q.get(P.Tp * hdp), *vr = w.v.get(P.Tp * hdp);  // Q, V (Tp, hdp)
  float* kt = w.kt.get(P.Tp * hdp);                              // K^T (nBlocks, hdp, kB)
  pack_rows(k, s.nKV, b, kvh, P, vr, kb0, ib1);  // K rows, only on the way to K^T
  transpose_blocks(vr, P, kt, kb0, ib1);
  pack_rows(v, s.nKV, b, kvh, P, vr, kb0, ib1);
  for (int64_t h = kvh * group; h < (kvh + 1) * group; h++) {
    pack_rows(q, s.nHead, b, h, P, qr, ib0, ib1);
    forward_head(s, b, h, qr, kt, vr, ib0, ib1, out, lse);
  }
}

// ---- backward ---------------------------------------------------------------------------------------------------
struct BackwardArgs {
  const float *dOut, *q, *k, *v, *out, *lse;
  float *dq, *dk, *dv;
};

struct BackwardScratch {
  Buf kt, vt, kr, q, dO, lse, D, dq, dk, dv, s, p, dp;
  std::vector<unsigned char> dqSet;  // (nBlocks) whether dQ_i holds a first term yet
  std::vector<unsigned char> mask = std::vector<unsigned char>(kB * kB);
};
thread_local BackwardScratch tBackward;

// D (Tp) = rowsum(dO * out) for head h of batch b from the packed dO rows (Tp, hdp), rows [t0, t1), zero on padded
// rows. Eight lanes (d mod 8) summed in a fixed order, so the loop vectorizes.
RT_PATHS(void, output_dots,
         (const float* dor, const float* out, const AttentionShape& s, const Padded& P, int64_t b, int64_t h, float* D,
          int64_t t0, int64_t t1),
         (dor, out, s, P, b, h, D, t0, t1)) {
  const float* base = out + (b * s.T * s.nHead + h) * s.hd;
  const int64_t stride = s.nHead * s.hd;
  std::fill(D + s.T, D + P.Tp, 0.0f);
  for (int64_t t = t0; t < t1; t++) {
    if (t + kAhead < t1) prefetch_row(base + (t + kAhead) * stride, s.hd);
    const float *x = dor + t * P.hdp, *y = base + t * stride;
    float lanes[8] = {};
    int64_t d0 = 0;
    for (; d0 + 8 <= s.hd; d0 += 8)
      for (int l = 0; l < 8; l++) lanes[l] += x[d0 + l] * y[d0 + l];
    for (int64_t d = d0; d < s.hd; d++) lanes[d - d0] += x[d] * y[d];
    D[t] = ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
  }
}

// Key blocks [jb0, jb1) of kv head kvh of batch b: dK and dV of those keys, and their terms of dQ (query blocks >= jb0),
// written to dqOut, laid out as dq.
void backward_task(const BackwardArgs& a, const AttentionShape& s, int64_t b, int64_t kvh, int64_t jb0, int64_t jb1,
                   float* dqOut) {
  const Padded P(s);
  const int64_t hdp = P.hdp, group = s.nHead / s.nKV, n = P.Tp * hdp, W = window_of(s);
  const int32_t* seg = s.segments ? s.segments + b * s.T : nullptr;
  BackwardScratch& w = tBackward;
  float *kt = w.kt.get(n), *vt = w.vt.get(n);                  // K^T and V^T (nBlocks, hdp, kB) for S and dP
  float* kr = w.kr.get(n);                                     // K (Tp, hdp) for dQ
  float *qr = w.q.get(n), *dor = w.dO.get(n), *dq = w.dq.get(n);  // Q, dO, dQ of the current head (Tp, hdp)
  float *dk = w.dk.get(n), *dv = w.dv.get(n);  // dK, dV of the kv head (Tp, hdp), summed over the group in order
  float *lse = w.lse.get(P.Tp), *D = w.D.get(P.Tp);
  float *sc = w.s.get(kB * kB), *pr = w.p.get(kB * kB), *dp = w.dp.get(kB * kB);
  unsigned char* mask = w.mask.data();
  // The part's keys [jb0, jb1) and the queries that see them, [jb0, ib1).
  const int64_t ib1 = jb1 > jb0 ? end_query_block(jb1 - 1, W, P.nBlocks) : jb0;
  pack_rows(a.v, s.nKV, b, kvh, P, dv, jb0, jb1);  // V rows, only on the way to V^T; dv is overwritten below
  transpose_blocks(dv, P, vt, jb0, jb1);
  pack_rows(a.k, s.nKV, b, kvh, P, kr, jb0, jb1);
  transpose_blocks(kr, P, kt, jb0, jb1);
  // No zero fills: the first term of dK_j and dV_j is (first head, diagonal block), and the diagonal block always
  // has a visible pair (a query sees its own key); dQ_i's first term is from the first visible key block.
  for (int64_t h = kvh * group; h < (kvh + 1) * group; h++) {
    pack_rows(a.q, s.nHead, b, h, P, qr, jb0, ib1);
    pack_rows(a.dOut, s.nHead, b, h, P, dor, jb0, ib1);
    output_dots(dor, a.out, s, P, b, h, D, jb0 * kB, std::min(ib1 * kB, s.T));
    std::copy_n(a.lse + (b * s.nHead + h) * s.T, s.T, lse);
    std::fill(lse + s.T, lse + P.Tp, 0.0f);
    std::vector<unsigned char>& dqSet = w.dqSet;
    dqSet.assign(P.nBlocks, 0);
    for (int64_t jb = jb0; jb < jb1; jb++) {
      const int64_t j0 = jb * kB, nk = std::min(kB, s.T - j0);
      const float *ktj = kt + jb * hdp * kB, *vtj = vt + jb * hdp * kB;
      const int64_t ibEnd = end_query_block(jb, W, P.nBlocks);
      for (int64_t ib = jb; ib < ibEnd; ib++) {
        const int64_t i0 = ib * kB;
        const Visible vis = block_mask(seg, W, i0, std::min(kB, s.T - i0), j0, nk, mask);
        if (vis == Visible::kNone) continue;
        const bool diag = ib == jb;
        const Diag cols = diag ? Diag::kColsToRow : Diag::kNone;
        // S = Q_i (kB, hdp) @ K_j^T (hdp, kB);  dP = dO_i (kB, hdp) @ V_j^T (hdp, kB)
        block_product({qr + i0 * hdp, hdp, 1}, ktj, kB, sc, kB, kB, kB, hdp, false, cols);
        block_product({dor + i0 * hdp, hdp, 1}, vtj, kB, dp, kB, kB, kB, hdp, false, cols);
        score_grads(sc, mask, vis == Visible::kAll, lse + i0, D + i0, s.scale, pr, dp);
        // dV_j (kB, hdp) += P^T (kB, kB) @ dO_i (kB, hdp);  dK_j += dS^T @ Q_i;  dQ_i (kB, hdp) += dS @ K_j (kB, hdp)
        const Diag fromRow = diag ? Diag::kKFromRow : Diag::kNone;
        const bool kvAcc = !(diag && h == kvh * group);
        block_product({pr, 1, kB}, dor + i0 * hdp, hdp, dv + j0 * hdp, hdp, kB, hdp, kB, kvAcc, fromRow);
        block_product({dp, 1, kB}, qr + i0 * hdp, hdp, dk + j0 * hdp, hdp, kB, hdp, kB, kvAcc, fromRow);
        block_product({dp, kB, 1}, kr + j0 * hdp, hdp, dq + i0 * hdp, hdp, kB, hdp, kB, dqSet[ib] != 0,
                      diag ? Diag::kKToRow : Diag::kNone);
        dqSet[ib] = 1;
      }
    }
    for (int64_t ib = jb0; ib < P.nBlocks; ib++)  // query blocks no key of this part sees (segments, window)
      if (!dqSet[ib]) std::fill(dq + ib * kB * hdp, dq + (ib + 1) * kB * hdp, 0.0f);
    unpack_rows(dq, s.nHead, b, h, P, dqOut, jb0 * kB, s.T);
  }
  unpack_rows(dk, s.nKV, b, kvh, P, a.dk, jb0 * kB, std::min(jb1 * kB, s.T));
  unpack_rows(dv, s.nKV, b, kvh, P, a.dv, jb0 * kB, std::min(jb1 * kB, s.T));
}

// Runs task(i) for i in [0, n), each task taken whole by the next thread to come free: which thread runs a task is
// all that the thread count changes.
template <typename F>
void for_each_task(int64_t n, F task) {
  parallel_chunks(n, n, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; i++) task(i);
  });
}

}  // namespace

void attention(const float* q, const float* k, const float* v, float* out, float* lse, const AttentionShape& s) {
  if (s.B * s.T * s.nHead == 0) return;  // nothing to do (and no pairs to split into parts)
  const int64_t nBlocks = (s.T + kB - 1) / kB, parts = part_count(s.B * s.nKV, nBlocks), W = window_of(s);
  for_each_task(s.B * s.nKV * parts, [&](int64_t task) {
    const int64_t p = task % parts, bkv = task / parts;
    forward_task(q, k, v, out, lse, s, bkv / s.nKV, bkv % s.nKV, part_start(p, parts, nBlocks, W, false),
                 part_start(p + 1, parts, nBlocks, W, false));
  });
}

void attention_backward(const float* dOut, const float* q, const float* k, const float* v, const float* out,
                        const float* lse, float* dq, float* dk, float* dv, const AttentionShape& s) {
  if (s.B * s.T * s.nHead == 0) return;  // nothing to do (and no pairs to split into parts)
  const BackwardArgs a{dOut, q, k, v, out, lse, dq, dk, dv};
  const int64_t nBlocks = (s.T + kB - 1) / kB, parts = part_count(s.B * s.nKV, nBlocks), W = window_of(s);
  // Part p > 0 writes its dQ terms to extra[p - 1]; they are added to dq below, parts in order.
  const int64_t size = s.B * s.T * s.nHead * s.hd;
  // Reused across calls (a fresh buffer of this size would be page-faulted in on every call); every row read below
  // is written first.
  thread_local Buf tExtra;
  float* extra = tExtra.get((parts - 1) * size);
  for_each_task(s.B * s.nKV * parts, [&](int64_t task) {
    const int64_t p = task % parts, bh = task / parts;
    backward_task(a, s, bh / s.nKV, bh % s.nKV, part_start(p, parts, nBlocks, W, true),
                  part_start(p + 1, parts, nBlocks, W, true), p == 0 ? dq : extra + (p - 1) * size);
  });
  if (parts == 1) return;
  int64_t start[kMaxParts];
  for (int64_t p = 0; p < parts; p++) start[p] = part_start(p, parts, nBlocks, W, true) * kB;
  parallel_for(s.B * s.T * s.nHead, 256, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r++) {  // r = (b * T + t) * nHead + h
      const int64_t t = r / s.nHead % s.T;
      for (int64_t p = 1; p < parts && t >= start[p]; p++)
        for (int64_t d = 0; d < s.hd; d++) dq[r * s.hd + d] += extra[(p - 1) * size + r * s.hd + d];
    }
  });
}

}  // namespace rt
