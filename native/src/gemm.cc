// Cache-blocked GEMM in the BLIS layout. The threads split C into one rectangle each (bands of rows, or of columns
// when M is small) and each runs the serial blocked algorithm on its own, with no barrier: a thread packs the B
// panels it needs itself. That repeats a little packing but keeps one fork-join per call, which matters when the
// cores are shared. Loops of the serial algorithm, outermost first:
//   jc over N in kNC columns -> pc over K in kKC steps: pack B (kKC, kNC) (L3)
//   -> ic over M in kMC rows: pack A (kMC, kKC) (L2)
//   -> jr over kNR-column panels of packed B (L1) -> ir over kMR-row panels of packed A -> micro-kernel.
// Every element of C sums its K products in the same order (pc blocks ascending, k ascending inside), whatever the
// thread count, so results do not depend on how the work was split.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "gemm.h"
#include "pool.h"

namespace rt {
namespace {

constexpr int64_t kKC = 256;   // A and B panels of kKC depth: a B micro-panel (16 KiB) stays in L1
constexpr int64_t kMC = 144;   // packed A block of 144 KiB stays in L2 (512 KiB on Zen 3)
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

inline float widen(float x) { return x; }
inline float widen(uint16_t x) {
  uint32_t bits = static_cast<uint32_t>(x) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

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

// Packs rows [i0, i0+mc) x depth [p0, p0+kc) of A into kMR-row panels, each (kc, kMR), zero-padding past M.
template <typename TB>
void pack_a(const Operands<TB>& o, int64_t i0, int64_t mc, int64_t p0, int64_t kc, float* dst) {
  for (int64_t ir = 0; ir < mc; ir += kMR) {
    int64_t rows = std::min<int64_t>(kMR, mc - ir);
    const float* src = o.a + (i0 + ir) * o.rsA + p0 * o.csA;
    if (o.csA == 1) {
      for (int64_t k = 0; k < kc; k++) {
        for (int64_t i = 0; i < rows; i++) dst[k * kMR + i] = src[i * o.rsA + k];
        for (int64_t i = rows; i < kMR; i++) dst[k * kMR + i] = 0.0f;
      }
    } else {
      for (int64_t k = 0; k < kc; k++) {
        const float* col = src + k * o.csA;
        for (int64_t i = 0; i < rows; i++) dst[k * kMR + i] = col[i];
        for (int64_t i = rows; i < kMR; i++) dst[k * kMR + i] = 0.0f;
      }
    }
    dst += kc * kMR;
  }
}

// Packs B's block (depth [p0, p0+kc), columns [j0, j0+nc)) into kNR-column panels, each (kc, kNR), zero-padded.
template <typename TB>
void pack_b(const Operands<TB>& o, int64_t j0, int64_t nc, int64_t p0, int64_t kc, float* packed) {
  for (int64_t jp = 0; jp * kNR < nc; jp++) {
    float* dst = packed + jp * kc * kNR;
    int64_t jr = jp * kNR;
    int64_t cols = std::min<int64_t>(kNR, nc - jr);
    const TB* src = o.b + p0 * o.rsB + (j0 + jr) * o.csB;
    if (o.csB == 1) {
      for (int64_t k = 0; k < kc; k++) {
        const TB* row = src + k * o.rsB;
        for (int64_t j = 0; j < cols; j++) dst[k * kNR + j] = widen(row[j]);
        for (int64_t j = cols; j < kNR; j++) dst[k * kNR + j] = 0.0f;
      }
    } else {
      for (int64_t j = 0; j < cols; j++) {
        const TB* col = src + j * o.csB;
        for (int64_t k = 0; k < kc; k++) dst[k * kNR + j] = widen(col[k * o.rsB]);
      }
      for (int64_t k = 0; k < kc; k++)
        for (int64_t j = cols; j < kNR; j++) dst[k * kNR + j] = 0.0f;
    }
  }
}

// Multiplies packed A rows [i0, i0+mc) by the packed B block into C, edge tiles through a local tile.
template <typename TB>
void compute_block(const Operands<TB>& o, MicroKernel kernel, const float* packedA, const float* packedB, int64_t i0,
                   int64_t mc, int64_t j0, int64_t nc, int64_t kc, bool accumulate) {
  alignas(64) float tile[kMR * kNR];
  for (int64_t jp = 0; jp * kNR < nc; jp++) {
    int64_t jr = jp * kNR;
    int64_t cols = std::min<int64_t>(kNR, nc - jr);
    const float* bPanel = packedB + jp * kc * kNR;
    for (int64_t ir = 0; ir < mc; ir += kMR) {
      int64_t rows = std::min<int64_t>(kMR, mc - ir);
      const float* aPanel = packedA + ir * kc;
      float* c = o.c + (i0 + ir) * o.ldc + j0 + jr;
      if (rows == kMR && cols == kNR) {
        kernel(kc, aPanel, bPanel, c, o.ldc, accumulate);
        continue;
      }
      kernel(kc, aPanel, bPanel, tile, kNR, false);
      for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < cols; j++)
          c[i * o.ldc + j] = accumulate ? c[i * o.ldc + j] + tile[i * kNR + j] : tile[i * kNR + j];
    }
  }
}

// The serial blocked algorithm on rows [r0, r1) x columns [c0, c1) of C.
template <typename TB>
void gemm_rect(const Operands<TB>& o, int64_t r0, int64_t r1, int64_t c0, int64_t c1, bool accumulate) {
  if (o.K == 0) {
    if (!accumulate)
      for (int64_t i = r0; i < r1; i++) std::fill(o.c + i * o.ldc + c0, o.c + i * o.ldc + c1, 0.0f);
    return;
  }
  const MicroKernel kernel = select_micro_kernel();
  for (int64_t j0 = c0; j0 < c1; j0 += kNC) {
    const int64_t nc = std::min(kNC, c1 - j0), nPanels = (nc + kNR - 1) / kNR;
    for (int64_t p0 = 0; p0 < o.K; p0 += kKC) {
      const int64_t kc = std::min(kKC, o.K - p0);
      float* packedB = tPackB.get(nPanels * kc * kNR);
      float* packedA = tPackA.get(kMC * kc);
      pack_b(o, j0, nc, p0, kc, packedB);
      for (int64_t i0 = r0; i0 < r1; i0 += kMC) {
        const int64_t mc = std::min(kMC, r1 - i0);
        pack_a(o, i0, mc, p0, kc, packedA);
        compute_block(o, kernel, packedA, packedB, i0, mc, j0, nc, kc, accumulate || p0 > 0);
      }
    }
  }
}

// Below this many multiply-adds a second thread costs more than it saves.
constexpr int64_t kMinParallelMacs = int64_t(1) << 21;

template <typename TB>
void gemm_one(const Operands<TB>& o, bool accumulate) {
  const int64_t nT = threads();
  const int64_t mPanels = (o.M + kMR - 1) / kMR, nPanels = (o.N + kNR - 1) / kNR;
  // Bands of rows when there are enough for every thread, else bands of columns.
  const bool splitRows = mPanels >= 4 * nT || nPanels < nT;
  const int64_t units = splitRows ? mPanels : nPanels;
  const int64_t grain = o.M * o.N * o.K < kMinParallelMacs ? units : 2;
  parallel_for(units, grain, [&](int64_t u0, int64_t u1) {
    if (splitRows) gemm_rect(o, u0 * kMR, std::min(o.M, u1 * kMR), 0, o.N, accumulate);
    else gemm_rect(o, 0, o.M, u0 * kNR, std::min(o.N, u1 * kNR), accumulate);
  });
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

}  // namespace

void gemm_f32(const float* a, const float* b, float* c, const GemmShape& s) { gemm_batched(a, b, c, s); }
void gemm_bf16(const float* a, const uint16_t* b, float* c, const GemmShape& s) { gemm_batched(a, b, c, s); }

void gemm_serial(Strided a, Strided b, float* c, int64_t ldc, int64_t M, int64_t N, int64_t K, bool accumulate) {
  const Operands<float> o{a.data, a.rowStride, a.colStride, b.data, b.rowStride, b.colStride, c, ldc, M, N, K};
  gemm_rect(o, 0, M, 0, N, accumulate);
}

}  // namespace rt
