// Block products of the attention kernels: C (M, N) (=|+=) A (M, K) @ B (K, N) on register tiles that read both
// operands in place (gemm_serial would pack them on every call, which costs more than a 32x32 block's product). The
// tiles are ymm on the avx2 path and zmm (with a ymm remainder) on the AVX-512 paths.
#include "attention_tiles.h"

#include <algorithm>

#include "simd.h"

namespace rt {
namespace {

// One tile of C: MR rows x (8 * NV) columns, its sums kept in registers over k; with accumulate it starts from C.
using TileFn = void (*)(const float* a, int64_t ars, int64_t aks, const float* b, int64_t ldb, int64_t k0, int64_t k1,
                        float* c, int64_t ldc, bool accumulate);

template <int MR, int NV>
void tile_portable(const float* a, int64_t ars, int64_t aks, const float* b, int64_t ldb, int64_t k0, int64_t k1,
                   float* c, int64_t ldc, bool accumulate) {
  constexpr int W = 8 * NV;
  float acc[MR][W];
  for (int i = 0; i < MR; i++)
    for (int j = 0; j < W; j++) acc[i][j] = accumulate ? c[i * ldc + j] : 0.0f;
  for (int64_t k = k0; k < k1; k++) {
    const float* bk = b + k * ldb;
    for (int i = 0; i < MR; i++) {
      const float ai = a[i * ars + k * aks];
      for (int j = 0; j < W; j++) acc[i][j] += ai * bk[j];
    }
  }
  for (int i = 0; i < MR; i++)
    for (int j = 0; j < W; j++) c[i * ldc + j] = acc[i][j];
}

#ifdef RT_HAVE_AVX2_PATH
// MR x NV vectors of sums (at most 12, plus NV loads of B and one broadcast of A: within the 16 ymm registers). Per
// k, NV loads and MR broadcasts feed MR * NV FMAs; 12 independent chains (6x16, 4x24) cover the FMA latency on both
// pipes. The sums are named variables, not an array, so GCC keeps them in registers instead of storing them back
// every step.
#define RT_TILE_ROW(i, X)           \
  if constexpr (MR > i) {           \
    X(i, 0);                        \
    if constexpr (NV > 1) X(i, 1);  \
    if constexpr (NV > 2) X(i, 2);  \
  }
#define RT_TILE_ALL(X) \
  RT_TILE_ROW(0, X) RT_TILE_ROW(1, X) RT_TILE_ROW(2, X) RT_TILE_ROW(3, X) RT_TILE_ROW(4, X) RT_TILE_ROW(5, X)
#define RT_LOAD(i, v) c##i##v = _mm256_loadu_ps(c + i * ldc + 8 * v)
#define RT_STORE(i, v) _mm256_storeu_ps(c + i * ldc + 8 * v, c##i##v)
#define RT_FMA(i, v) c##i##v = _mm256_fmadd_ps(x##i, b##v, c##i##v)
#define RT_FMA_ROW(i)                                     \
  if constexpr (MR > i) {                                 \
    const __m256 x##i = _mm256_broadcast_ss(ak + i * ars); \
    RT_FMA(i, 0);                                         \
    if constexpr (NV > 1) RT_FMA(i, 1);                   \
    if constexpr (NV > 2) RT_FMA(i, 2);                   \
  }

template <int MR, int NV>
RT_AVX2 void tile_avx2(const float* a, int64_t ars, int64_t aks, const float* b, int64_t ldb, int64_t k0, int64_t k1,
                       float* c, int64_t ldc, bool accumulate) {
  static_assert(MR >= 1 && MR <= 6 && NV >= 1 && NV <= 3 && MR * NV <= 12, "at most 12 sums");
  const __m256 z = _mm256_setzero_ps();
  // All 18 declared; the ones outside MR x NV are never used and cost nothing.
  __m256 c00 = z, c01 = z, c02 = z, c10 = z, c11 = z, c12 = z, c20 = z, c21 = z, c22 = z;
  __m256 c30 = z, c31 = z, c32 = z, c40 = z, c41 = z, c42 = z, c50 = z, c51 = z, c52 = z;
  if (accumulate) {
    RT_TILE_ALL(RT_LOAD);
  }
  const float* ak = a + k0 * aks;
  const float* bk = b + k0 * ldb;
  for (int64_t k = k0; k < k1; k++, ak += aks, bk += ldb) {
    const __m256 b0 = _mm256_loadu_ps(bk);
    const __m256 b1 = NV > 1 ? _mm256_loadu_ps(bk + 8) : z;
    const __m256 b2 = NV > 2 ? _mm256_loadu_ps(bk + 16) : z;
    RT_FMA_ROW(0) RT_FMA_ROW(1) RT_FMA_ROW(2) RT_FMA_ROW(3) RT_FMA_ROW(4) RT_FMA_ROW(5)
  }
  RT_TILE_ALL(RT_STORE);
}
#undef RT_FMA_ROW
#undef RT_FMA
#undef RT_STORE
#undef RT_LOAD
#undef RT_TILE_ALL
#undef RT_TILE_ROW

// MR x NV zmm sums (at most 24, plus NV loads of B and one broadcast: within the 32 zmm registers); each element
// sums its products in k order from the same start as tile_avx2, so both give the same bits.
template <int MR, int NV>
RT_AVX512 void tile_avx512(const float* a, int64_t ars, int64_t aks, const float* b, int64_t ldb, int64_t k0, int64_t k1,
                           float* c, int64_t ldc, bool accumulate) {
  static_assert(MR * NV <= 24, "at most 24 sums");
  __m512 acc[MR][NV];
#pragma GCC unroll 8
  for (int i = 0; i < MR; i++)
#pragma GCC unroll 3
    for (int v = 0; v < NV; v++) acc[i][v] = accumulate ? _mm512_loadu_ps(c + i * ldc + 16 * v) : _mm512_setzero_ps();
  const float* ak = a + k0 * aks;
  const float* bk = b + k0 * ldb;
  for (int64_t k = k0; k < k1; k++, ak += aks, bk += ldb) {
    __m512 bv[NV];
#pragma GCC unroll 3
    for (int v = 0; v < NV; v++) bv[v] = _mm512_loadu_ps(bk + 16 * v);
#pragma GCC unroll 8
    for (int i = 0; i < MR; i++) {
      const __m512 x = _mm512_set1_ps(ak[i * ars]);
#pragma GCC unroll 3
      for (int v = 0; v < NV; v++) acc[i][v] = _mm512_fmadd_ps(x, bv[v], acc[i][v]);
    }
  }
#pragma GCC unroll 8
  for (int i = 0; i < MR; i++)
#pragma GCC unroll 3
    for (int v = 0; v < NV; v++) _mm512_storeu_ps(c + i * ldc + 16 * v, acc[i][v]);
}

#endif

// The kernels for the tile shapes used, chosen once for this CPU: fn[MR / 2 - 1][NV - 1] for MR = 2, 4, 6 rows
// (6 rows only with NV <= 2).
struct Tiles {
  TileFn fn[3][3];
  Tiles()
      : fn{{tile_portable<2, 1>, tile_portable<2, 2>, tile_portable<2, 3>},
           {tile_portable<4, 1>, tile_portable<4, 2>, tile_portable<4, 3>},
           {tile_portable<6, 1>, tile_portable<6, 2>, nullptr}} {
#ifdef RT_HAVE_AVX2_PATH
    if (cpu_has_avx2_fma()) {
      fn[0][0] = tile_avx2<2, 1>, fn[0][1] = tile_avx2<2, 2>, fn[0][2] = tile_avx2<2, 3>;
      fn[1][0] = tile_avx2<4, 1>, fn[1][1] = tile_avx2<4, 2>, fn[1][2] = tile_avx2<4, 3>;
      fn[2][0] = tile_avx2<6, 1>, fn[2][1] = tile_avx2<6, 2>;
    }
#endif
  }
};
const Tiles& tiles() {
  static const Tiles t;
  return t;
}

// Columns [col0, N) on ymm tiles.
void block_product_ymm(AView a, const float* b, int64_t ldb, float* c, int64_t ldc, int64_t M, int64_t N, int64_t K,
                       bool accumulate, Diag diag, int64_t col0) {
  const Tiles& t = tiles();
  // Tiles of 12 sums: 4 rows x 3 vectors when triples cover N exactly (hd = 24, 48, 72, ...), else 6 rows x 2
  // vectors (S and dP with N = kB = 32; hd = 64, 128), with narrower tiles at the edges. The tiling depends on the
  // shapes only. Column panels outermost: a panel of B (K x 16 or 24 floats) stays in L1 while the row tiles pass
  // over it, which matters once B is wider than L1 can hold whole (hd = 128).
  const bool triples = (N - col0) % 24 == 0;
  for (int64_t col = col0; col < N;) {
    const int nv = triples ? 3 : N - col >= 16 ? 2 : 1;
    for (int64_t r = 0; r < M;) {
      const int64_t left = M - r;
      const int mr = triples ? (left >= 4 ? 4 : 2) : (left >= 6 && left != 8 ? 6 : left >= 4 ? 4 : 2);
      const int64_t k0 = diag == Diag::kKFromRow ? r : 0;
      const int64_t k1 = diag == Diag::kKToRow ? std::min(K, r + mr) : K;
      if (diag != Diag::kColsToRow || col < r + mr)
        t.fn[mr / 2 - 1][nv - 1](a.a + r * a.ars, a.ars, a.aks, b + col, ldb, k0, k1, c + r * ldc + col, ldc,
                                 accumulate);
      r += mr;
    }
    col += 8 * nv;
  }
}

#ifdef RT_HAVE_AVX2_PATH
// zmm tiles: fn[rows 8, 4, 2][NV - 1], 16 * NV columns.
constexpr TileFn kZmmTiles[3][3] = {{tile_avx512<8, 1>, tile_avx512<8, 2>, tile_avx512<8, 3>},
                                    {tile_avx512<4, 1>, tile_avx512<4, 2>, tile_avx512<4, 3>},
                                    {tile_avx512<2, 1>, tile_avx512<2, 2>, tile_avx512<2, 3>}};
#endif

// Column panels of 16 * nv columns (3 when triples of 16 cover N, else 2, then 1), 8-row tiles; a last 8 columns
// go through the ymm tiles. Same order of products per element as the ymm tiling.
bool block_product_zmm(AView a, const float* b, int64_t ldb, float* c, int64_t ldc, int64_t M, int64_t N, int64_t K,
                       bool accumulate, Diag diag) {
#ifdef RT_HAVE_AVX2_PATH
  if (!isa_at_least(Isa::avx512)) return false;
  const bool triples = N % 48 == 0;
  int64_t col = 0;
  for (; N - col >= 16;) {
    const int nv = triples ? 3 : N - col >= 32 ? 2 : 1;
    for (int64_t r = 0; r < M;) {
      const int64_t left = M - r;
      const int mr = left >= 8 ? 8 : left >= 4 ? 4 : 2;
      const int64_t k0 = diag == Diag::kKFromRow ? r : 0;
      const int64_t k1 = diag == Diag::kKToRow ? std::min(K, r + mr) : K;
      if (diag != Diag::kColsToRow || col < r + mr)
        kZmmTiles[mr == 8 ? 0 : mr == 4 ? 1 : 2][nv - 1](a.a + r * a.ars, a.ars, a.aks, b + col, ldb, k0, k1,
                                                        c + r * ldc + col, ldc, accumulate);
      r += mr;
    }
    col += 16 * nv;
  }
  if (col < N) block_product_ymm(a, b, ldb, c, ldc, M, N, K, accumulate, diag, col);
  return true;
#else
  return false;
#endif
}

}  // namespace

void block_product(AView a, const float* b, int64_t ldb, float* c, int64_t ldc, int64_t M, int64_t N, int64_t K,
                   bool accumulate, Diag diag) {
  if (!block_product_zmm(a, b, ldb, c, ldc, M, N, K, accumulate, diag)) {
    block_product_ymm(a, b, ldb, c, ldc, M, N, K, accumulate, diag, 0);
  }
}

}  // namespace rt
