// The softmax steps of the attention kernels (attention.cc) on one block of kAttentionBlock queries x
// kAttentionBlock keys, on the kernel path in force: portable, ymm (avx2) and zmm (the AVX-512 paths, with the ymm
// versions' bits).
#pragma once

#include <cstdint>

namespace rt {

constexpr int64_t kAttentionBlock = 32;  // queries and keys per block: a multiple of 16

// Online-softmax update of one block of raw scores s (kB, kB) for all kB rows: rescales the running sums and acc
// rows (kB, hdp) by exp(mOld - mNew) and leaves the block's probabilities (relative to the new max) in p, zero where
// masked. full: every pair is visible and mask is not read; else mask (kB, kB) says which are. Masked entries of s
// may hold anything (skipped tiles of a diagonal block): they are only selected away.
void online_softmax(const float* s, const unsigned char* mask, bool full, int64_t hdp, float scale, float* p,
                    float* rowMax, float* rowSum, float* acc);

// p = exp(s * scale - lse_i) where visible, else 0; dp becomes dS = p * (dp - D_i) * scale where visible, else 0.
void score_grads(const float* s, const unsigned char* mask, bool full, const float* lse, const float* D, float scale,
                 float* p, float* dp);

}  // namespace rt
