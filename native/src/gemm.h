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
  // `panels` whole panels side by side in an A stored (K, M) (mr rows each) or a B stored (K, N) (nr columns each),
  // row k at src + k * ld: dst holds them one after the other, each (kc, mr) or (kc, nr); bf16 widened.
  void (*pack_a_cols)(const float* src, int64_t ld, int64_t kc, int64_t panels, float* dst);
  void (*pack_b_rows)(const float* src, int64_t ld, int64_t kc, int64_t panels, float* dst);
  void (*pack_b_rows_bf16)(const uint16_t* src, int64_t ld, int64_t kc, int64_t panels, float* dst);
  // A register-only loop of FMAs of the kernel's vector width, and the flops of one iteration.
  double (*fma_loop)(int64_t iterations);
  double loop_flops;
};

constexpr int kMaxMR = 16, kMaxNR = 64;

// The packing of pack_a_cols and pack_b_rows for a panel width W known at compile time, so the copy of each row's W
// values vectorizes in the caller's build. The source is read row by row, front to back, each row once: with A
// stored (K, M) and a large M, rows lie a power-of-two stride apart and reading one panel's few values from each of
// kc rows at a time would keep evicting lines that the next panel still needs.
template <int W, typename T>
__attribute__((always_inline)) inline void pack_row_panels(const T* src, int64_t ld, int64_t kc, int64_t panels,
                                                           float* dst) {
  for (int64_t k = 0; k < kc; k++) {
    const T* row = src + k * ld;
    float* d = dst + k * W;
    for (int64_t p = 0; p < panels; p++, row += W, d += kc * W) {
      float values[W];  // a local first: src and dst could alias as far as the compiler knows, which stops vectors
      for (int j = 0; j < W; j++) values[j] = widen(row[j]);
      std::memcpy(d, values, sizeof(values));
    }
  }
}

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
