// General matrix multiply: C (batch, M, N) (=|+=) op(A) (batch, M, K) @ op(B) (batch, K, N), row-major, with B either
// float32 or bf16 (the high half of a float32, widened while packing).
#pragma once

#include <cstdint>
#include <cstring>

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

// Register tile of the micro-kernel: C rows x columns computed per call.
constexpr int kMR = 6;
constexpr int kNR = 16;

// c (kMR, kNR) with row stride ldc (=|+=) sum over k of aPanel (kc, kMR) x bPanel (kc, kNR), both packed k-major.
using MicroKernel = void (*)(int64_t kc, const float* aPanel, const float* bPanel, float* c, int64_t ldc, bool accumulate);

// Packs one full kNR-column panel of a B stored (N, K), column j of the panel starting at src + j * ld and running
// along k: dst (kc, kNR) = the transpose. bf16 is widened on the way.
void pack_b_panel_transposed(const float* src, int64_t ld, int64_t kc, float* dst);
void pack_b_panel_transposed(const uint16_t* src, int64_t ld, int64_t kc, float* dst);

// Packs one full kMR-row panel of an A stored (M, K), row i starting at src + i * ld: dst (kc, kMR) = the transpose.
void pack_a_panel_rows(const float* src, int64_t ld, int64_t kc, float* dst);

// The AVX2+FMA kernel when the CPU has both, else a portable one.
MicroKernel select_micro_kernel();
const char* micro_kernel_name();

// GFLOP/s of a register-resident FMA loop with the same instructions as the micro-kernel, run on nThreads: each
// thread's flops per second of its own CPU time (so a shared machine does not skew it), summed.
double fma_peak_gflops(int nThreads, double seconds);

}  // namespace rt
