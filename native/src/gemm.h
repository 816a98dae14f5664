// General matrix multiply: C (batch, M, N) (=|+=) op(A) (batch, M, K) @ op(B) (batch, K, N), row-major, with B either
// float32 or bf16 (the high half of a float32, widened while packing).
#pragma once

#include <cstdint>

namespace rt {

struct GemmShape {
  int64_t batch, M, N, K;
  bool transA;  // A stored (batch, K, M)
  bool transB;  // B stored (batch, N, K)
  bool accumulate;
};

void gemm_f32(const float* a, const float* b, float* c, const GemmShape& s);
void gemm_bf16(const float* a, const uint16_t* b, float* c, const GemmShape& s);

// Register tile of the micro-kernel: C rows x columns computed per call.
constexpr int kMR = 6;
constexpr int kNR = 16;

// c (kMR, kNR) with row stride ldc (=|+=) sum over k of aPanel (kc, kMR) x bPanel (kc, kNR), both packed k-major.
using MicroKernel = void (*)(int64_t kc, const float* aPanel, const float* bPanel, float* c, int64_t ldc, bool accumulate);

// The AVX2+FMA kernel when the CPU has both, else a portable one.
MicroKernel select_micro_kernel();
const char* micro_kernel_name();

// Sustained GFLOP/s of a register-resident FMA loop with the same instructions as the micro-kernel, on nThreads.
double fma_peak_gflops(int nThreads, double seconds);

}  // namespace rt
