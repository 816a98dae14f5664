// Few-row products with a bf16 weight read in place, for decode steps: C (M, N) (=|+=) bf16(A) (M, K) @ W^T, W the
// (N, K) bf16 weight of a Linear in HF layout. The arithmetic is matmulBf16's (A rounded to bf16 nearest even, each
// product exact in float32, float32 sums); what differs is the shape of the work: with so few rows the product is
// bound by reading W, so W is streamed once, row by row, straight from the caller's array, and widened to float32
// in registers (a shift), never into a copy.
#pragma once

#include <cstdint>

namespace rt {

// Up to this many rows of A go through gemm_bf16_rows.
constexpr int64_t kDecodeRows = 16;

// A(i, k) = a[i * rsA + k * csA], i < M <= kDecodeRows; w (N, K); c (M, N). Threads split the columns of C into
// fixed contiguous ranges, and each element sums its K products in an order fixed by K and the kernel path alone:
// the bits do not depend on the thread count.
void gemm_bf16_rows(const float* a, int64_t rsA, int64_t csA, const uint16_t* w, float* c, int64_t M, int64_t N,
                    int64_t K, bool accumulate);

}  // namespace rt
