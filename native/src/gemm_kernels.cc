// The GEMM kernels of each path: the portable one, the AVX2+FMA build of gemm_micro.inc (a 6x16 tile of C in 12
// ymm registers: per k two 8-float loads of B, six broadcasts of A and 12 FMAs, enough independent work for both FMA
// pipes of a Zen or Skylake core), and the FMA peak probe. The AVX-512 build is in gemm_kernels_avx512.cc. The
// AVX-512 kernel's source is also built here on ymm pairs: no path uses it (its 48 accumulators spill), but tests
// choose it with set_gemm_kernel, so a host without AVX-512 still runs and checks the 16-lane code.
#include <chrono>
#include <ctime>
#include <cstring>
#include <vector>

#include "cpu.h"
#include "gemm.h"
#include "pool.h"
#include "simd.h"

namespace rt {
namespace {

constexpr int kPortableMR = 6, kPortableNR = 16;

template <typename TB>
void pack_b_cols_portable(const TB* src, int64_t ld, int64_t kc, float* dst) {
  for (int j = 0; j < kPortableNR; j++)
    for (int64_t k = 0; k < kc; k++) dst[k * kPortableNR + j] = widen(src[j * ld + k]);
}

void pack_a_rows_portable(const float* src, int64_t ld, int64_t kc, float* dst) {
  for (int64_t k = 0; k < kc; k++)
    for (int i = 0; i < kPortableMR; i++) dst[k * kPortableMR + i] = src[i * ld + k];
}

void pack_a_cols_portable(const float* src, int64_t ld, int64_t kc, int64_t panels, float* dst) {
  pack_row_panels<kPortableMR>(src, ld, kc, panels, dst);
}

template <typename TB>
void pack_b_rows_portable(const TB* src, int64_t ld, int64_t kc, int64_t panels, float* dst) {
  pack_row_panels<kPortableNR>(src, ld, kc, panels, dst);
}

void micro_kernel_portable(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, bool accumulate) {
  float acc[kPortableMR][kPortableNR] = {};
  for (int64_t k = 0; k < kc; k++) {
    const float* ak = a + k * kPortableMR;
    const float* bk = b + k * kPortableNR;
    for (int i = 0; i < kPortableMR; i++)
      for (int j = 0; j < kPortableNR; j++) acc[i][j] += ak[i] * bk[j];
  }
  for (int i = 0; i < kPortableMR; i++) {
    float* ci = c + i * ldc;
    for (int j = 0; j < kPortableNR; j++) ci[j] = accumulate ? ci[j] + acc[i][j] : acc[i][j];
  }
}

double fma_loop_portable(int64_t iterations) {
  float x[12][8];
  for (int i = 0; i < 12; i++)
    for (int j = 0; j < 8; j++) x[i][j] = 1.0f + i * 1e-3f;
  for (int64_t it = 0; it < iterations; it++)
    for (int i = 0; i < 12; i++)
      for (int j = 0; j < 8; j++) x[i][j] = x[i][j] * 0.999999f + 1e-7f;
  double s = 0;
  for (int i = 0; i < 12; i++) s += x[i][0];
  return s;
}

const GemmKernel kPortable = {"portable 6x16",
                              kPortableMR,
                              kPortableNR,
                              micro_kernel_portable,
                              pack_a_rows_portable,
                              pack_b_cols_portable<float>,
                              pack_b_cols_portable<uint16_t>,
                              pack_a_cols_portable,
                              pack_b_rows_portable<float>,
                              pack_b_rows_portable<uint16_t>,
                              fma_loop_portable,
                              2.0 * 8 * 12};

}  // namespace

#ifdef RT_HAVE_AVX2_PATH
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#endif
#define RT_W 8
#define RT_MR 6
#define RT_NR 16
#define RT_NS avx2
#define RT_NAME "avx2+fma 6x16"
#include "gemm_micro.inc"
#define RT_W 16
#define RT_YMM_PAIRS 1
#define RT_MR 12
#define RT_NR 32
#define RT_NS avx512_ymm
#define RT_NAME "avx512 12x32 as ymm pairs"
#include "gemm_micro.inc"
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#endif

namespace {

// The kernel set_gemm_kernel chose, or null for the path's own.
const GemmKernel* gForced = nullptr;

const GemmKernel& path_kernel() {
#ifdef RT_HAVE_AVX2_PATH
  if (isa_at_least(Isa::avx512)) return gemm_kernel_avx512();
  if (isa_at_least(Isa::avx2)) return avx2::kKernel;
#endif
  return kPortable;
}

}  // namespace

const GemmKernel& gemm_kernel() { return gForced != nullptr ? *gForced : path_kernel(); }

std::vector<const GemmKernel*> host_gemm_kernels() {
  std::vector<const GemmKernel*> kernels;
#ifdef RT_HAVE_AVX2_PATH
  if (host_isa() >= Isa::avx2) kernels = {&avx2::kKernel, &avx512_ymm::kKernel};
  if (host_isa() >= Isa::avx512) kernels.push_back(&gemm_kernel_avx512());
#endif
  if (kernels.empty()) kernels.push_back(&kPortable);
  return kernels;
}

bool set_gemm_kernel(const char* name) {
  if (name[0] == '\0') {
    gForced = nullptr;
    return true;
  }
  for (const GemmKernel* kernel : host_gemm_kernels()) {
    if (std::strcmp(kernel->name, name) != 0) continue;
    gForced = kernel;
    return true;
  }
  return false;
}

namespace {

// The loops' results are stored here so the compiler cannot drop them.
volatile double gPeakSink[64];

// CPU time of the calling thread, so a probe on a shared machine counts only the time it actually ran.
double thread_cpu_seconds() {
#if defined(CLOCK_THREAD_CPUTIME_ID)
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
#else
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
#endif
}

}  // namespace

double fma_peak_gflops(int nThreads, double seconds) {
  const GemmKernel& kernel = gemm_kernel();
  auto loop = [&](int64_t iterations, int t) { gPeakSink[t % 64] = kernel.fma_loop(iterations); };
  // Calibrate on one thread, then run the same count on every thread; each reports flops per second of its own CPU
  // time, and the rates add up.
  int64_t iterations = 1 << 14;
  for (;;) {
    double t0 = thread_cpu_seconds();
    loop(iterations, 0);
    double dt = thread_cpu_seconds() - t0;
    if (dt > seconds / 8) {
      iterations = static_cast<int64_t>(iterations * (seconds / dt));
      break;
    }
    iterations *= 2;
  }
  const int used = nThreads < threads() ? nThreads : threads();
  double rates[64] = {};
  run_on_threads(used, [&](int t) {
    double t0 = thread_cpu_seconds();
    loop(iterations, t);
    if (t < 64) rates[t] = kernel.loop_flops * static_cast<double>(iterations) / (thread_cpu_seconds() - t0) / 1e9;
  });
  double total = 0;
  for (int t = 0; t < used && t < 64; t++) total += rates[t];
  return total;
}

}  // namespace rt
