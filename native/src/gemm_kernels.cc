// Micro-kernels of the GEMM and the FMA peak probe. The AVX2 kernel keeps a 6x16 tile of C in 12 ymm registers:
// per k it loads two 8-float vectors of B, broadcasts 6 values of A and issues 12 FMAs, which is enough independent
// work to keep both FMA pipes of a Zen or Skylake core busy.
#include <chrono>
#include <ctime>
#include <cstring>

#include "gemm.h"
#include "pool.h"
#include "simd.h"

namespace rt {
namespace {

template <typename TB>
void pack_transposed_portable(const TB* src, int64_t ld, int64_t kc, float* dst) {
  for (int j = 0; j < kNR; j++)
    for (int64_t k = 0; k < kc; k++) dst[k * kNR + j] = widen(src[j * ld + k]);
}

void micro_kernel_portable(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, bool accumulate) {
  float acc[kMR][kNR] = {};
  for (int64_t k = 0; k < kc; k++) {
    const float* ak = a + k * kMR;
    const float* bk = b + k * kNR;
    for (int i = 0; i < kMR; i++)
      for (int j = 0; j < kNR; j++) acc[i][j] += ak[i] * bk[j];
  }
  for (int i = 0; i < kMR; i++) {
    float* ci = c + i * ldc;
    for (int j = 0; j < kNR; j++) ci[j] = accumulate ? ci[j] + acc[i][j] : acc[i][j];
  }
}

#ifdef RT_HAVE_AVX2_PATH

RT_AVX2 inline void store_row(float* c, __m256 lo, __m256 hi, bool accumulate) {
  if (accumulate) {
    lo = _mm256_add_ps(_mm256_loadu_ps(c), lo);
    hi = _mm256_add_ps(_mm256_loadu_ps(c + 8), hi);
  }
  _mm256_storeu_ps(c, lo);
  _mm256_storeu_ps(c + 8, hi);
}

RT_AVX2 void micro_kernel_avx2(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, bool accumulate) {
  __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
  __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
  __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
  __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
  __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
  __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
  // C is usually not in cache; fetching its tile now hides the miss behind the k loop.
  for (int i = 0; i < kMR; i++) {
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + kNR - 1), _MM_HINT_T0);
  }
  for (int64_t k = 0; k < kc; k++) {
    _mm_prefetch(reinterpret_cast<const char*>(b + 8 * kNR), _MM_HINT_T0);
    __m256 b0 = _mm256_load_ps(b);
    __m256 b1 = _mm256_load_ps(b + 8);
    __m256 av = _mm256_broadcast_ss(a + 0);
    c00 = _mm256_fmadd_ps(av, b0, c00);
    c01 = _mm256_fmadd_ps(av, b1, c01);
    av = _mm256_broadcast_ss(a + 1);
    c10 = _mm256_fmadd_ps(av, b0, c10);
    c11 = _mm256_fmadd_ps(av, b1, c11);
    av = _mm256_broadcast_ss(a + 2);
    c20 = _mm256_fmadd_ps(av, b0, c20);
    c21 = _mm256_fmadd_ps(av, b1, c21);
    av = _mm256_broadcast_ss(a + 3);
    c30 = _mm256_fmadd_ps(av, b0, c30);
    c31 = _mm256_fmadd_ps(av, b1, c31);
    av = _mm256_broadcast_ss(a + 4);
    c40 = _mm256_fmadd_ps(av, b0, c40);
    c41 = _mm256_fmadd_ps(av, b1, c41);
    av = _mm256_broadcast_ss(a + 5);
    c50 = _mm256_fmadd_ps(av, b0, c50);
    c51 = _mm256_fmadd_ps(av, b1, c51);
    a += kMR;
    b += kNR;
  }
  store_row(c + 0 * ldc, c00, c01, accumulate);
  store_row(c + 1 * ldc, c10, c11, accumulate);
  store_row(c + 2 * ldc, c20, c21, accumulate);
  store_row(c + 3 * ldc, c30, c31, accumulate);
  store_row(c + 4 * ldc, c40, c41, accumulate);
  store_row(c + 5 * ldc, c50, c51, accumulate);
}

// 12 independent FMA chains, as in the micro-kernel, with no loads: the ceiling the kernel is measured against.
RT_AVX2 double fma_loop_avx2(int64_t iterations) {
  __m256 x[12];
  for (int i = 0; i < 12; i++) x[i] = _mm256_set1_ps(1.0f + i * 1e-3f);
  const __m256 m = _mm256_set1_ps(0.999999f), add = _mm256_set1_ps(1e-7f);
  for (int64_t it = 0; it < iterations; it++)
    for (int i = 0; i < 12; i++) x[i] = _mm256_fmadd_ps(x[i], m, add);
  float sink[8];
  __m256 s = x[0];
  for (int i = 1; i < 12; i++) s = _mm256_add_ps(s, x[i]);
  _mm256_storeu_ps(sink, s);
  return sink[0];
}

RT_AVX2 inline __m256 load8(const float* p) { return _mm256_loadu_ps(p); }
RT_AVX2 inline __m256 load8(const uint16_t* p) {
  __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
}

// 8x8 blocks transposed in registers; the k tail goes element by element.
template <typename TB>
RT_AVX2 void pack_transposed_avx2(const TB* src, int64_t ld, int64_t kc, float* dst) {
  int64_t k = 0;
  for (; k + 8 <= kc; k += 8) {
    for (int half = 0; half < 2; half++) {
      __m256 r[8];
      for (int j = 0; j < 8; j++) r[j] = load8(src + (half * 8 + j) * ld + k);
      transpose8x8(r);
      for (int kk = 0; kk < 8; kk++) _mm256_storeu_ps(dst + (k + kk) * kNR + half * 8, r[kk]);
    }
  }
  for (; k < kc; k++)
    for (int j = 0; j < kNR; j++) dst[k * kNR + j] = widen(src[j * ld + k]);
}

// Six rows of A, each along k, as (kc, kMR): 8x8 transposes with two zero rows, six lanes of each stored.
RT_AVX2 void pack_a_rows_avx2(const float* src, int64_t ld, int64_t kc, float* dst) {
  int64_t k = 0;
  for (; k + 8 <= kc; k += 8) {
    __m256 r[8];
    for (int i = 0; i < kMR; i++) r[i] = _mm256_loadu_ps(src + i * ld + k);
    for (int i = kMR; i < 8; i++) r[i] = _mm256_setzero_ps();
    transpose8x8(r);
    for (int kk = 0; kk < 8; kk++) {
      float* d = dst + (k + kk) * kMR;
      _mm_storeu_ps(d, _mm256_castps256_ps128(r[kk]));
      _mm_storel_pi(reinterpret_cast<__m64*>(d + 4), _mm256_extractf128_ps(r[kk], 1));
    }
  }
  for (; k < kc; k++)
    for (int i = 0; i < kMR; i++) dst[k * kMR + i] = src[i * ld + k];
}

#endif

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

}  // namespace

MicroKernel select_micro_kernel() {
#ifdef RT_HAVE_AVX2_PATH
  if (cpu_has_avx2_fma()) return micro_kernel_avx2;
#endif
  return micro_kernel_portable;
}

template <typename TB>
void pack_transposed(const TB* src, int64_t ld, int64_t kc, float* dst) {
#ifdef RT_HAVE_AVX2_PATH
  if (cpu_has_avx2_fma()) return pack_transposed_avx2(src, ld, kc, dst);
#endif
  pack_transposed_portable(src, ld, kc, dst);
}

void pack_b_panel_transposed(const float* src, int64_t ld, int64_t kc, float* dst) { pack_transposed(src, ld, kc, dst); }
void pack_b_panel_transposed(const uint16_t* src, int64_t ld, int64_t kc, float* dst) {
  pack_transposed(src, ld, kc, dst);
}

void pack_a_panel_rows(const float* src, int64_t ld, int64_t kc, float* dst) {
#ifdef RT_HAVE_AVX2_PATH
  if (cpu_has_avx2_fma()) return pack_a_rows_avx2(src, ld, kc, dst);
#endif
  for (int64_t k = 0; k < kc; k++)
    for (int i = 0; i < kMR; i++) dst[k * kMR + i] = src[i * ld + k];
}

const char* micro_kernel_name() {
  return select_micro_kernel() == micro_kernel_portable ? "portable 6x16" : "avx2+fma 6x16";
}

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

double fma_peak_gflops(int nThreads, double seconds) {
  [[maybe_unused]] const bool fast = select_micro_kernel() != micro_kernel_portable;
  auto loop = [&](int64_t iterations, int t) {
#ifdef RT_HAVE_AVX2_PATH
    if (fast) {
      gPeakSink[t % 64] = fma_loop_avx2(iterations);
      return;
    }
#endif
    gPeakSink[t % 64] = fma_loop_portable(iterations);
  };
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
    if (t < 64) rates[t] = 2.0 * 8 * 12 * static_cast<double>(iterations) / (thread_cpu_seconds() - t0) / 1e9;
  });
  double total = 0;
  for (int t = 0; t < used && t < 64; t++) total += rates[t];
  return total;
}

}  // namespace rt
