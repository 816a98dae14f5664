// Cache-blocked GEMM in the BLIS layout. The threads split C into one rectangle each (bands of rows or of columns,
// whichever leaves the busiest thread the least to multiply and pack) and each runs the serial blocked algorithm on
// its own, with no barrier: a thread packs the B panels it needs itself. That repeats a little packing but keeps one
// fork-join per call, which matters when the cores are shared (row bands sharing one packed B, with a barrier per
// block, measured no faster on 2 cores). Loops of the serial algorithm, outermost first:
//   jc over N in kNC columns -> pc over K in equal steps of at most kKC: pack B (kc, kNC) (L3)
//   -> ic over M in blocks of mcBlock rows: pack A (mcBlock, kc) (L2)
//   -> jr over nr-column panels of packed B (L1) -> ir over mr-row panels of packed A -> micro-kernel (mr x nr: the
//   path's GemmKernel).
// Every element of C sums its K products in the same order (pc blocks ascending, k ascending inside), whatever the
// thread count, so results do not depend on how the work was split.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "gemm.h"
#include "pool.h"
#include "simd.h"

namespace rt {
namespace {

constexpr int64_t kKC = 288;   // A and B panels at most kKC deep: the B micro-panel (18 KiB on AVX2, 36 on AVX-512) stays in L1
constexpr int64_t kMCMax = 144;  // packed A block of at most 144 KiB stays in L2 (512 KiB on Zen 3)
constexpr int64_t kNC = 3072;  // packed B block of 3 MiB stays in L3

struct AlignedFree {
  void operator()(float* p) const { std::free(p); }
};

// A growable 64-byte aligned scratch buffer, one per thread, so steady-state calls allocate nothing.
class Scratch {
 public:
  float* get(int64_t n) {
    if (n > capacity_) {
      size_t bytes = (static_cast<size_t>(n) * sizeof(float) + 63) / 64 * 64;
      data_.reset(static_cast<float*>(std::aligned_alloc(64, bytes)));
      capacity_ = n;
    }
    return data_.get();
  }

 private:
  std::unique_ptr<float, AlignedFree> data_;
  int64_t capacity_ = 0;
};

thread_local Scratch tPackA;
thread_local Scratch tPackB;

// Strided views: A(i, k) = a[i * rsA + k * csA], B(k, j) = b[k * rsB + j * csB].
template <typename TB>
struct Operands {
  const float* a;
  int64_t rsA, csA;
  const TB* b;
  int64_t rsB, csB;
  float* c;
  int64_t ldc;
  int64_t M, N, K;
};

// Packs rows [i0, i0+mc) x depth [p0, p0+kc) of A into mr-row panels, each (kc, mr), zero-padding past M.
template <typename TB>
void pack_a(const GemmKernel& gk, const Operands<TB>& o, int64_t i0, int64_t mc, int64_t p0, int64_t kc, float* dst) {
  const int mr = gk.mr;
  int64_t ir = 0;
  if (o.rsA == 1) {
    // A stored (K, M), as in weight gradients dW = dY^T X: the whole panels in one pass over the kc rows.
    const int64_t panels = mc / mr;
    gk.pack_a_cols(o.a + i0 + p0 * o.csA, o.csA, kc, panels, dst);
    ir = panels * mr;
    dst += panels * kc * mr;
  }
  for (; ir < mc; ir += mr) {
    int64_t rows = std::min<int64_t>(mr, mc - ir);
    const float* src = o.a + (i0 + ir) * o.rsA + p0 * o.csA;
    if (o.csA == 1 && rows == mr) {
      gk.pack_a_rows(src, o.rsA, kc, dst);
    } else if (o.csA == 1) {
      for (int64_t k = 0; k < kc; k++) {
        for (int64_t i = 0; i < rows; i++) dst[k * mr + i] = src[i * o.rsA + k];
        for (int64_t i = rows; i < mr; i++) dst[k * mr + i] = 0.0f;
      }
    } else {
      for (int64_t k = 0; k < kc; k++) {
        const float* col = src + k * o.csA;
        for (int64_t i = 0; i < rows; i++) dst[k * mr + i] = col[i * o.rsA];
        for (int64_t i = rows; i < mr; i++) dst[k * mr + i] = 0.0f;
      }
    }
    dst += kc * mr;
  }
}

inline void pack_b_rows(const GemmKernel& gk, const float* src, int64_t ld, int64_t kc, int64_t panels, float* dst) {
  gk.pack_b_rows(src, ld, kc, panels, dst);
}
inline void pack_b_rows(const GemmKernel& gk, const uint16_t* src, int64_t ld, int64_t kc, int64_t panels, float* dst) {
  gk.pack_b_rows_bf16(src, ld, kc, panels, dst);
}

// B stored (K, N), packed row by row so that B (often a weight fresh from memory) is read sequentially rather than
// as one 64-byte slice of every row per panel: whole panels through the kernel's packing, a last narrower one here.
template <typename TB>
void pack_b_rows(const GemmKernel& gk, const Operands<TB>& o, int64_t j0, int64_t nc, int64_t p0, int64_t kc,
                 float* packed) {
  const int nr = gk.nr;
  const int64_t panels = nc / nr, jr = panels * nr;
  pack_b_rows(gk, o.b + p0 * o.rsB + j0, o.rsB, kc, panels, packed);
  if (jr == nc) return;
  float* dst = packed + jr * kc;
  for (int64_t k = 0; k < kc; k++) {
    const TB* row = o.b + (p0 + k) * o.rsB + j0 + jr;
    for (int64_t j = 0; j < nc - jr; j++) dst[k * nr + j] = widen(row[j]);
    for (int64_t j = nc - jr; j < nr; j++) dst[k * nr + j] = 0.0f;
  }
}

// Packs B's block (depth [p0, p0+kc), columns [j0, j0+nc)) into nr-column panels, each (kc, nr), zero-padded.
inline void pack_b_cols(const GemmKernel& gk, const float* src, int64_t ld, int64_t kc, float* dst) {
  gk.pack_b_cols(src, ld, kc, dst);
}
inline void pack_b_cols(const GemmKernel& gk, const uint16_t* src, int64_t ld, int64_t kc, float* dst) {
  gk.pack_b_cols_bf16(src, ld, kc, dst);
}

template <typename TB>
void pack_b(const GemmKernel& gk, const Operands<TB>& o, int64_t j0, int64_t nc, int64_t p0, int64_t kc, float* packed) {
  const int nr = gk.nr;
  if (o.csB == 1) {
    pack_b_rows(gk, o, j0, nc, p0, kc, packed);
    return;
  }
  for (int64_t jp = 0; jp * nr < nc; jp++) {
    float* dst = packed + jp * kc * nr;
    int64_t jr = jp * nr;
    int64_t cols = std::min<int64_t>(nr, nc - jr);
    const TB* src = o.b + p0 * o.rsB + (j0 + jr) * o.csB;
    if (o.rsB == 1 && cols == nr) {
      pack_b_cols(gk, src, o.csB, kc, dst);
    } else {
      for (int64_t j = 0; j < cols; j++) {
        const TB* col = src + j * o.csB;
        for (int64_t k = 0; k < kc; k++) dst[k * nr + j] = widen(col[k * o.rsB]);
      }
      for (int64_t k = 0; k < kc; k++)
        for (int64_t j = cols; j < nr; j++) dst[k * nr + j] = 0.0f;
    }
  }
}

// Multiplies packed A rows [i0, i0+mc) by the packed B block into C, edge tiles through a local tile.
template <typename TB>
void compute_block(const Operands<TB>& o, const GemmKernel& gk, const float* packedA, const float* packedB, int64_t i0,
                   int64_t mc, int64_t j0, int64_t nc, int64_t kc, bool accumulate) {
  const int mr = gk.mr, nr = gk.nr;
  const auto kernel = gk.micro;
  alignas(64) float tile[kMaxMR * kMaxNR];
  for (int64_t jp = 0; jp * nr < nc; jp++) {
    int64_t jr = jp * nr;
    int64_t cols = std::min<int64_t>(nr, nc - jr);
    const float* bPanel = packedB + jp * kc * nr;
    for (int64_t ir = 0; ir < mc; ir += mr) {
      int64_t rows = std::min<int64_t>(mr, mc - ir);
      const float* aPanel = packedA + ir * kc;
      float* c = o.c + (i0 + ir) * o.ldc + j0 + jr;
      if (rows == mr && cols == nr) {
        kernel(kc, aPanel, bPanel, c, o.ldc, accumulate);
        continue;
      }
      kernel(kc, aPanel, bPanel, tile, nr, false);
      for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < cols; j++)
          c[i * o.ldc + j] = accumulate ? c[i * o.ldc + j] + tile[i * nr + j] : tile[i * nr + j];
    }
  }
}

// Rows of C per packed A block: whole kernel panels.
int64_t mc_rows(const GemmKernel& gk) { return kMCMax / gk.mr * gk.mr; }

// K in equal steps of at most kKC rather than kKC and a thin remainder: each step is one more pass over the C block
// (K = 524 takes two steps of 262, not 288 and 236; K = 288 one, not 256 and 32).
int64_t depth_step(int64_t K) {
  const int64_t steps = (K + kKC - 1) / kKC;
  return (K + steps - 1) / steps;
}

// Packed B of the whole depth up to this size is packed once and the row blocks go outermost (see gemm_rect).
constexpr int64_t kWholeBFloats = int64_t(1) << 18;  // 1 MiB

// The serial blocked algorithm on rows [r0, r1) x columns [c0, c1) of C.
template <typename TB>
void gemm_rect(const Operands<TB>& o, int64_t r0, int64_t r1, int64_t c0, int64_t c1, bool accumulate) {
  if (o.K == 0) {
    if (!accumulate)
      for (int64_t i = r0; i < r1; i++) std::fill(o.c + i * o.ldc + c0, o.c + i * o.ldc + c1, 0.0f);
    return;
  }
  const GemmKernel& gk = gemm_kernel();
  const int64_t nr = gk.nr, mcBlock = mc_rows(gk);
  const int64_t step = depth_step(o.K);
  for (int64_t j0 = c0; j0 < c1; j0 += kNC) {
    const int64_t nc = std::min(kNC, c1 - j0), nPanels = (nc + nr - 1) / nr;
    float* packedA = tPackA.get(mcBlock * step);
    if (o.K > step && nPanels * nr * o.K <= kWholeBFloats) {
      // A narrow B (a weight gradient dW (V, C) = dLogits^T h with a large C): with every depth step of B packed
      // up front, each block of C rows takes all its steps while it sits in L2, instead of C going through memory
      // once per step. Every element still sums its steps in ascending order: the same bits.
      float* packedB = tPackB.get(nPanels * nr * o.K);
      for (int64_t p0 = 0; p0 < o.K; p0 += step) pack_b(gk, o, j0, nc, p0, std::min(step, o.K - p0), packedB + nPanels * nr * p0);
      for (int64_t i0 = r0; i0 < r1; i0 += mcBlock) {
        const int64_t mc = std::min(mcBlock, r1 - i0);
        for (int64_t p0 = 0; p0 < o.K; p0 += step) {
          const int64_t kc = std::min(step, o.K - p0);
          pack_a(gk, o, i0, mc, p0, kc, packedA);
          compute_block(o, gk, packedA, packedB + nPanels * nr * p0, i0, mc, j0, nc, kc, accumulate || p0 > 0);
        }
      }
      continue;
    }
    for (int64_t p0 = 0; p0 < o.K; p0 += step) {
      const int64_t kc = std::min(step, o.K - p0);
      float* packedB = tPackB.get(nPanels * kc * nr);
      pack_b(gk, o, j0, nc, p0, kc, packedB);
      for (int64_t i0 = r0; i0 < r1; i0 += mcBlock) {
        const int64_t mc = std::min(mcBlock, r1 - i0);
        pack_a(gk, o, i0, mc, p0, kc, packedA);
        compute_block(o, gk, packedA, packedB, i0, mc, j0, nc, kc, accumulate || p0 > 0);
      }
    }
  }
}

// A few rows of A (a decode step, a short prompt) make the GEMM a matrix-vector product bound by streaming B once;
// packing B would cost more than the multiply. Rows of A are copied contiguous first (aRows: M x K).
constexpr int64_t kSmallM = 4;
constexpr int64_t kSmallChunk = 1024;  // columns of C accumulated together (up to 16 KiB) when B is (K, N)

// B stored (N, K): each C element is a dot product of two contiguous rows, summed in kLanes lanes. All M rows
// of A go through one pass over a row of B, their lanes independent so the additions overlap.
template <int M, typename TB>
inline void small_m_nt(const Operands<TB>& o, const float* aRows, int64_t j0, int64_t j1, bool accumulate) {
  const int64_t K = o.K;
  for (int64_t j = j0; j < j1; j++) {
    const TB* bj = o.b + j * o.csB;
    float lanes[M][kLanes] = {};
    int64_t k = 0;
    for (; k + kLanes <= K; k += kLanes)
      for (int i = 0; i < M; i++)
        for (int l = 0; l < kLanes; l++) lanes[i][l] += aRows[i * K + k + l] * widen(bj[k + l]);
    for (int l = 0; k < K; k++, l++)
      for (int i = 0; i < M; i++) lanes[i][l] += aRows[i * K + k] * widen(bj[k]);
    for (int i = 0; i < M; i++) {
      float sum = 0.0f;
      for (int l = 0; l < kLanes; l++) sum += lanes[i][l];
      float* c = o.c + i * o.ldc + j;
      *c = accumulate ? *c + sum : sum;
    }
  }
}

// B stored (K, N): rows of B are streamed once, each scaled into all M accumulator rows.
template <int M, typename TB>
inline void small_m_nn(const Operands<TB>& o, const float* aRows, int64_t j0, int64_t j1, bool accumulate) {
  float acc[M][kSmallChunk];
  for (int64_t c0 = j0; c0 < j1; c0 += kSmallChunk) {
    const int64_t n = std::min(kSmallChunk, j1 - c0);
    for (int i = 0; i < M; i++) std::fill(acc[i], acc[i] + n, 0.0f);
    for (int64_t k = 0; k < o.K; k++) {
      const TB* bk = o.b + k * o.rsB + c0;
      float a[M];
      for (int i = 0; i < M; i++) a[i] = aRows[i * o.K + k];
      for (int64_t j = 0; j < n; j++) {
        const float b = widen(bk[j]);
        for (int i = 0; i < M; i++) acc[i][j] += a[i] * b;
      }
    }
    for (int i = 0; i < M; i++) {
      float* c = o.c + i * o.ldc + c0;
      for (int64_t j = 0; j < n; j++) c[j] = accumulate ? c[j] + acc[i][j] : acc[i][j];
    }
  }
}

template <int M, typename TB>
inline void small_m_fixed(const Operands<TB>& o, const float* aRows, int64_t j0, int64_t j1, bool accumulate) {
  if (o.csB == 1) small_m_nn<M>(o, aRows, j0, j1, accumulate);
  else small_m_nt<M>(o, aRows, j0, j1, accumulate);
}

// Dispatches on the row count so the per-row loops unroll and the accumulators stay in registers.
template <typename TB>
inline void small_m_any(const Operands<TB>& o, const float* aRows, int64_t j0, int64_t j1, bool accumulate) {
  switch (o.M) {
    case 1: return small_m_fixed<1>(o, aRows, j0, j1, accumulate);
    case 2: return small_m_fixed<2>(o, aRows, j0, j1, accumulate);
    case 3: return small_m_fixed<3>(o, aRows, j0, j1, accumulate);
    default: return small_m_fixed<4>(o, aRows, j0, j1, accumulate);
  }
}

RT_PATHS(void, small_m_f32,
         (const Operands<float>& o, const float* aRows, int64_t j0, int64_t j1, bool accumulate),
         (o, aRows, j0, j1, accumulate)) {
  small_m_any(o, aRows, j0, j1, accumulate);
}

RT_PATHS(void, small_m_bf16,
         (const Operands<uint16_t>& o, const float* aRows, int64_t j0, int64_t j1, bool accumulate),
         (o, aRows, j0, j1, accumulate)) {
  small_m_any(o, aRows, j0, j1, accumulate);
}

inline void small_m(const Operands<float>& o, const float* aRows, int64_t j0, int64_t j1, bool accumulate) {
  small_m_f32(o, aRows, j0, j1, accumulate);
}
inline void small_m(const Operands<uint16_t>& o, const float* aRows, int64_t j0, int64_t j1, bool accumulate) {
  small_m_bf16(o, aRows, j0, j1, accumulate);
}

// Below this many multiply-adds a second thread costs more than it saves.
constexpr int64_t kMinParallelMacs = int64_t(1) << 21;

// How one product is cut for threads: into mr-row panels (row bands) or nr-column panels (column bands).
struct Split {
  bool rows;
  int64_t units;
};

// Multiply-adds the kernel does in the time one element is packed (vectorized copies or 8x8 transposes).
constexpr int64_t kPackCostMacs = 8;

// The busiest thread's work in multiply-adds, for a split into bands of `rows` rows or `cols` columns (whole panels,
// so one band may be a panel larger than another): its share of C plus what it packs, which is all of B for a row
// band and all of A once per kNC columns for a column band.
int64_t row_band_cost(int64_t rows, int64_t N, int64_t K) {
  return rows * N * K + kPackCostMacs * (K * N + rows * K * ((N + kNC - 1) / kNC));
}
int64_t col_band_cost(int64_t cols, int64_t M, int64_t K) {
  return M * cols * K + kPackCostMacs * (cols * K + M * K * ((cols + kNC - 1) / kNC));
}

// Row bands for tall C, column bands for a wide one (the LM head's (tokens, vocab) logits), and whichever keeps the
// busiest thread shorter when the panels do not divide evenly (256 x 288: 22 row panels split 11 + 11, 9 column
// panels only 4 + 5).
Split split_for(int64_t M, int64_t N, int64_t K, int64_t nT) {
  const int64_t mr = gemm_kernel().mr, nr = gemm_kernel().nr;
  const int64_t mPanels = (M + mr - 1) / mr, nPanels = (N + nr - 1) / nr;
  const int64_t rowsEach = (mPanels + nT - 1) / nT * mr, colsEach = (nPanels + nT - 1) / nT * nr;
  const bool rows = nPanels < nT || (mPanels >= nT && row_band_cost(rowsEach, N, K) <= col_band_cost(colsEach, M, K));
  return {rows, rows ? mPanels : nPanels};
}

// How many chunks (parallel_chunks) a product split for nT threads is cut into: each chunk packs again the operand
// its band spans whole (all of B for row bands, all of A for column bands), so beyond one chunk per thread only as
// many as add about 1 % to the product's work, up to a few per thread. `extent` is the product's rows for row bands,
// else its columns.
int64_t chunks_for(int64_t extent, int64_t nT) { return balanced_chunks(nT + extent / (100 * kPackCostMacs)); }
int64_t extent_of(const Split& split, int64_t M, int64_t N) { return split.rows ? M : N; }

// Units [u0, u1) of a split product, through the serial algorithm.
template <typename TB>
void gemm_units(const Operands<TB>& o, const Split& split, int64_t u0, int64_t u1, bool accumulate) {
  if (u0 >= u1) return;
  const int64_t mr = gemm_kernel().mr, nr = gemm_kernel().nr;
  if (split.rows) gemm_rect(o, u0 * mr, std::min(o.M, u1 * mr), 0, o.N, accumulate);
  else gemm_rect(o, 0, o.M, u0 * nr, std::min(o.N, u1 * nr), accumulate);
}

template <typename TB>
void gemm_one(const Operands<TB>& o, bool accumulate) {
  if (o.M <= kSmallM && o.K > 0) {
    float* aRows = tPackA.get(o.M * o.K);
    for (int64_t i = 0; i < o.M; i++)
      for (int64_t k = 0; k < o.K; k++) aRows[i * o.K + k] = o.a[i * o.rsA + k * o.csA];
    const int64_t grain = std::max<int64_t>(kSmallChunk, kMinParallelMacs / (o.M * o.K));
    parallel_for(o.N, grain, [&](int64_t j0, int64_t j1) { small_m(o, aRows, j0, j1, accumulate); });
    return;
  }
  const Split split = split_for(o.M, o.N, o.K, threads());
  const int64_t chunks = o.M * o.N * o.K < kMinParallelMacs ? 1 : chunks_for(extent_of(split, o.M, o.N), threads());
  parallel_chunks(split.units, chunks, [&](int64_t u0, int64_t u1) { gemm_units(o, split, u0, u1, accumulate); });
}

template <typename TB>
void gemm_batched(const float* a, const TB* b, float* c, const GemmShape& s) {
  const int64_t M = s.M, N = s.N, K = s.K;
  auto product = [&](int64_t g) {
    return Operands<TB>{a + g * M * K, s.transA ? 1 : K, s.transA ? M : 1,
                        b + g * K * N, s.transB ? 1 : N, s.transB ? K : 1,
                        c + g * M * N, N, M, N, K};
  };
  // Many small products (per-head matmuls) are spread over threads whole; large ones are split inside.
  if (s.batch > 1 && M * N * K < kMinParallelMacs) {
    parallel_for(s.batch, std::max<int64_t>(1, kMinParallelMacs / std::max<int64_t>(1, M * N * K)),
                 [&](int64_t g0, int64_t g1) {
                   for (int64_t g = g0; g < g1; g++) gemm_rect(product(g), 0, M, 0, N, s.accumulate);
                 });
    return;
  }
  for (int64_t g = 0; g < s.batch; g++) gemm_one(product(g), s.accumulate);
}

// Two independent products in one parallel region. Their units are laid end to end, weighted by multiply-adds, and
// cut into stretches of equal work, one or a few per thread (parallel_chunks, chunks_for), with no wait between
// the products: with two threads and two equal products (a linear layer's dx and dw) in one stretch each, each
// thread runs one product alone, with no packing repeated. The stretches are fixed by the shapes and thread count;
// each C element is computed exactly as by gemm_f32, whoever computes it.
void gemm_pair_split(const Operands<float>& o1, bool acc1, const Operands<float>& o2, bool acc2, int nT) {
  const Split s1 = split_for(o1.M, o1.N, o1.K, nT), s2 = split_for(o2.M, o2.N, o2.K, nT);
  const double cost1 = static_cast<double>(o1.M) * o1.N * o1.K / s1.units;
  const double cost2 = static_cast<double>(o2.M) * o2.N * o2.K / s2.units;
  const double end1 = cost1 * s1.units, total = end1 + cost2 * s2.units;
  // Unit boundaries of stretch c [total * c / stretches, total * (c + 1) / stretches) inside each product.
  auto cut = [](double at, double begin, double cost, int64_t units) {
    return std::clamp<int64_t>(std::llround((at - begin) / cost), 0, units);
  };
  const int64_t stretches = chunks_for(std::min(extent_of(s1, o1.M, o1.N), extent_of(s2, o2.M, o2.N)), nT);
  parallel_chunks(stretches, stretches, [&](int64_t c0, int64_t c1) {
    const double from = total * c0 / stretches, to = total * c1 / stretches;
    gemm_units(o1, s1, cut(from, 0, cost1, s1.units), cut(to, 0, cost1, s1.units), acc1);
    gemm_units(o2, s2, cut(from, end1, cost2, s2.units), cut(to, end1, cost2, s2.units), acc2);
  });
}

Operands<float> single_product(const float* a, const float* b, float* c, const GemmShape& s) {
  return {a, s.transA ? 1 : s.K, s.transA ? s.M : 1, b, s.transB ? 1 : s.N, s.transB ? s.K : 1, c, s.N, s.M, s.N, s.K};
}

}  // namespace

void gemm_pair_f32(const float* a1, const float* b1, float* c1, const GemmShape& s1, const float* a2, const float* b2,
                   float* c2, const GemmShape& s2) {
  const int nT = threads();
  // Batched, matrix-vector-like or tiny products keep their own paths, one after the other.
  const bool plain = s1.batch == 1 && s2.batch == 1 && s1.M > kSmallM && s2.M > kSmallM && s1.K > 0 && s2.K > 0;
  if (nT < 2 || !plain || s1.M * s1.N * s1.K + s2.M * s2.N * s2.K < 2 * kMinParallelMacs) {
    gemm_f32(a1, b1, c1, s1);
    gemm_f32(a2, b2, c2, s2);
    return;
  }
  gemm_pair_split(single_product(a1, b1, c1, s1), s1.accumulate, single_product(a2, b2, c2, s2), s2.accumulate, nT);
}

void gemm_f32(const float* a, const float* b, float* c, const GemmShape& s) { gemm_batched(a, b, c, s); }
void gemm_bf16(const float* a, const uint16_t* b, float* c, const GemmShape& s) { gemm_batched(a, b, c, s); }

void gemm_serial(Strided a, Strided b, float* c, int64_t ldc, int64_t M, int64_t N, int64_t K, bool accumulate) {
  const Operands<float> o{a.data, a.rowStride, a.colStride, b.data, b.rowStride, b.colStride, c, ldc, M, N, K};
  gemm_rect(o, 0, M, 0, N, accumulate);
}

}  // namespace rt
