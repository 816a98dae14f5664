// Cache-blocked GEMM in the BLIS layout. Loops, outermost first:
//   jc over N in kNC columns -> pc over K in kKC steps: pack B (kKC, kNC) once, shared by all threads (L3)
//   -> each thread over its rows of M in kMC blocks: pack A (kMC, kKC) (L2)
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

// Packs the kNR-column panels [jp0, jp1) of B's block (depth [p0, p0+kc), columns from j0, nc wide), each (kc, kNR).
template <typename TB>
void pack_b(const Operands<TB>& o, int64_t j0, int64_t nc, int64_t p0, int64_t kc, int64_t jp0, int64_t jp1,
            float* packed) {
  for (int64_t jp = jp0; jp < jp1; jp++) {
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

// Multiplies packed A rows [i0, i0+mc) by packed B panels [jp0, jp1) into C, edge tiles through a local tile.
template <typename TB>
void compute_block(const Operands<TB>& o, MicroKernel kernel, const float* packedA, const float* packedB, int64_t i0,
                   int64_t mc, int64_t j0, int64_t nc, int64_t kc, int64_t jp0, int64_t jp1, bool accumulate) {
  alignas(64) float tile[kMR * kNR];
  for (int64_t jp = jp0; jp < jp1; jp++) {
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

template <typename TB>
void gemm_one(const Operands<TB>& o, bool accumulate) {
  MicroKernel kernel = select_micro_kernel();
  const int nT = threads();
  if (o.K == 0) {
    if (!accumulate)
      for (int64_t i = 0; i < o.M; i++) std::fill(o.c + i * o.ldc, o.c + i * o.ldc + o.N, 0.0f);
    return;
  }
  for (int64_t j0 = 0; j0 < o.N; j0 += kNC) {
    const int64_t nc = std::min(kNC, o.N - j0);
    const int64_t nPanels = (nc + kNR - 1) / kNR;
    const int64_t mPanels = (o.M + kMR - 1) / kMR;
    // Split rows among threads when there are enough of them; otherwise split column panels.
    const bool splitRows = mPanels >= 4 * static_cast<int64_t>(nT) || nPanels < static_cast<int64_t>(nT);
    for (int64_t p0 = 0; p0 < o.K; p0 += kKC) {
      const int64_t kc = std::min(kKC, o.K - p0);
      const bool acc = accumulate || p0 > 0;
      float* packedB = tPackB.get(nPanels * kc * kNR);
      parallel_for(nPanels, 4, [&](int64_t jp0, int64_t jp1) { pack_b(o, j0, nc, p0, kc, jp0, jp1, packedB); });
      if (splitRows) {
        parallel_for(mPanels, 2, [&](int64_t mp0, int64_t mp1) {
          float* packedA = tPackA.get(kMC * kc);
          for (int64_t i0 = mp0 * kMR; i0 < std::min(o.M, mp1 * kMR); i0 += kMC) {
            int64_t mc = std::min({kMC, o.M - i0, mp1 * kMR - i0});
            pack_a(o, i0, mc, p0, kc, packedA);
            compute_block(o, kernel, packedA, packedB, i0, mc, j0, nc, kc, 0, nPanels, acc);
          }
        });
      } else {
        parallel_for(nPanels, 1, [&](int64_t jp0, int64_t jp1) {
          float* packedA = tPackA.get(kMC * kc);
          for (int64_t i0 = 0; i0 < o.M; i0 += kMC) {
            int64_t mc = std::min(kMC, o.M - i0);
            pack_a(o, i0, mc, p0, kc, packedA);
            compute_block(o, kernel, packedA, packedB, i0, mc, j0, nc, kc, jp0, jp1, acc);
          }
        });
      }
    }
  }
}

template <typename TB>
void gemm_batched(const float* a, const TB* b, float* c, const GemmShape& s) {
  const int64_t M = s.M, N = s.N, K = s.K;
  for (int64_t g = 0; g < s.batch; g++) {
    Operands<TB> o{a + g * M * K, s.transA ? 1 : K, s.transA ? M : 1,
                   b + g * K * N, s.transB ? 1 : N, s.transB ? K : 1,
                   c + g * M * N, N, M, N, K};
    gemm_one(o, s.accumulate);
  }
}

}  // namespace

void gemm_serial(Strided a, Strided b, float* c, int64_t ldc, int64_t M, int64_t N, int64_t K, bool accumulate) {
  const Operands<float> o{a.data, a.rowStride, a.colStride, b.data, b.rowStride, b.colStride, c, ldc, M, N, K};
  if (K == 0) {
    if (!accumulate)
      for (int64_t i = 0; i < M; i++) std::fill(c + i * ldc, c + i * ldc + N, 0.0f);
    return;
  }
  MicroKernel kernel = select_micro_kernel();
  for (int64_t j0 = 0; j0 < N; j0 += kNC) {
    const int64_t nc = std::min(kNC, N - j0), nPanels = (nc + kNR - 1) / kNR;
    for (int64_t p0 = 0; p0 < K; p0 += kKC) {
      const int64_t kc = std::min(kKC, K - p0);
      float* packedB = tPackB.get(nPanels * kc * kNR);
      float* packedA = tPackA.get(kMC * kc);
      pack_b(o, j0, nc, p0, kc, 0, nPanels, packedB);
      for (int64_t i0 = 0; i0 < M; i0 += kMC) {
        const int64_t mc = std::min(kMC, M - i0);
        pack_a(o, i0, mc, p0, kc, packedA);
        compute_block(o, kernel, packedA, packedB, i0, mc, j0, nc, kc, 0, nPanels, accumulate || p0 > 0);
      }
    }
  }
}

void gemm_f32(const float* a, const float* b, float* c, const GemmShape& s) { gemm_batched(a, b, c, s); }
void gemm_bf16(const float* a, const uint16_t* b, float* c, const GemmShape& s) { gemm_batched(a, b, c, s); }

}  // namespace rt
