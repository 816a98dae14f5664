// General matrix multiply: C (batch, M, N) (=|+=) op(A) (batch, M, K) @ op(B) (batch, K, N), row-major, with B either
// float32 or bf16 (the high half of a float32, widened while packing).
#pragma once

#include <cstdint>
#include <cstring>
#include <vector>

namespace rt {

// A B element as float32: bf16 is the high half of a float32.
inline float widen(float x) { return x; }
inline float widen(uint16_t x) {
  uint32_t bits = static_cast<uint32_t>(x) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

struct GemmShape {
  int64_t batch, M, N, K;
  bool transA;  // A stored (batch, K, M)
  bool transB;  // B stored (batch, N, K)
  bool accumulate;
};

void gemm_f32(const float* a, const float* b, float* c, const GemmShape& s);
void gemm_bf16(const float* a, const uint16_t* b, float* c, const GemmShape& s);
// Two independent float32 products (no operand of one is the other's output), same bits as two gemm_f32 calls;
// the threads share them out rather than splitting each in turn.
void gemm_pair_f32(const float* a1, const float* b1, float* c1, const GemmShape& s1, const float* a2, const float* b2,
                   float* c2, const GemmShape& s2);

// A strided matrix view: element (i, k) at data[i * rowStride + k * colStride].
struct Strided {
  const float* data;
  int64_t rowStride, colStride;
};

// Single-threaded C (M, N; row stride ldc) (=|+=) A (M, K) @ B (K, N), for blocks inside other kernels' tasks
// (attention), with the same packing and micro-kernel as the threaded GEMM.
void gemm_serial(Strided a, Strided b, float* c, int64_t ldc, int64_t M, int64_t N, int64_t K, bool accumulate);

// A micro-kernel with the packing it reads, one per vector width (gemm_micro.inc) plus a portable one. The kernel
// computes c (mr, nr) with row stride ldc (=|+=) sum over k of aPanel (kc, mr) x bPanel (kc, nr), both packed k-major.
struct GemmKernel {
  const char* name;
  int mr, nr;
  void (*micro)(int64_t kc, const float* aPanel, const float* bPanel, float* c, int64_t ldc, bool accumulate);
  // One full mr-row panel of an A stored (M, K), row i at src + i * ld: dst (kc, mr) = the transpose.
  void (*pack_a_rows)(const float* src, int64_t ld, int64_t kc, float* dst);
  // One full nr-column panel of a B stored (N, K), column j at src + j * ld: dst (kc, nr); bf16 widened.
  void (*pack_b_cols)(const float* src, int64_t ld, int64_t kc, float* dst);
  void (*pack_b_cols_bf16)(const uint16_t* src, int64_t ld, int64_t kc, float* dst);
  // A register-only loop of FMAs of the kernel's vector width, and the flops of one iteration.
  double (*fma_loop)(int64_t iterations);
  double loop_flops;
};

constexpr int kMaxMR = 16, kMaxNR = 64;

// The kernel of the path in force (cpu.h), unless set_gemm_kernel chose another.
const GemmKernel& gemm_kernel();
// Every kernel this host runs, the path kernels' and the AVX-512 source on ymm pairs.
std::vector<const GemmKernel*> host_gemm_kernels();
// Makes the named kernel (one of host_gemm_kernels) the GEMM's on every path, or with "" the path's own again;
// false for a name that is not one of them. For tests and benchmarks: results then follow the chosen kernel.
bool set_gemm_kernel(const char* name);
// The AVX-512 build of gemm_micro.inc (gemm_kernels_avx512.cc); only called where the CPU runs it.
const GemmKernel& gemm_kernel_avx512();

// GFLOP/s of the path's FMA loop on nThreads: each thread's flops per second of its own CPU time (so a shared
// machine does not skew it), summed.
double fma_peak_gflops(int nThreads, double seconds);

}  // namespace rt
