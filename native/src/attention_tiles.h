// Register-tiled block products for the attention kernels (attention.cc).
#pragma once

#include <cstdint>

namespace rt {

// Which part of a diagonal block (queries i0.. and keys j0.. with i0 == j0) a product needs, per row tile [r, r+mr):
// products whose terms are all masked (key after query) are skipped; skipping a zero term changes no sum.
enum class Diag {
  kNone,       // off the diagonal: everything
  kColsToRow,  // C = S or dP (queries x keys): only key columns < r + mr, in whole tiles
  kKFromRow,   // C = dV or dK (keys x hd), summing over queries: only queries >= r
  kKToRow,     // C = dQ or out (queries x hd), summing over keys: only keys < r + mr
};

struct AView {  // A (m, k) = a[m * ars + k * aks]
  const float* a;
  int64_t ars, aks;
};

// C (M, N; row stride ldc) (=|+=) A (M, K) @ B (K, N), where A (m, k) = a.a[m * a.ars + k * a.aks] (so A may be
// read transposed) and B row k is N contiguous floats at b + k * ldb. M is even, N a multiple of 8.
void block_product(AView a, const float* b, int64_t ldb, float* c, int64_t ldc, int64_t M, int64_t N, int64_t K,
                   bool accumulate, Diag diag);

}  // namespace rt
