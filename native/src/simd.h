// Helpers shared by the non-GEMM kernels. Loops are written so the compiler can vectorize them without reassociating
// floating-point math (sums run in a fixed number of independent lanes, combined in a fixed order), then compiled
// once per kernel path (RT_PATHS) and called on the path in force. All builds round the same way, because
// contraction into FMA is off for these files: these kernels give the same bits on every path.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "cpu.h"


// Hand-written AVX2+FMA kernels (GEMM and attention tiles, softmax blocks) are compiled where the compiler knows
// the intrinsics and used only where cpu_has_avx2_fma() says the CPU runs them; the portable code is the fallback.
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define RT_HAVE_AVX2_PATH 1
#define RT_AVX2 __attribute__((target("avx2,fma")))
#define RT_AVX512 __attribute__((target("avx2,fma,avx512f,avx512dq,avx512bw,avx512vl,prefer-vector-width=512")))
#endif

// RT_PATHS(ret, name, (params), (args)) { body } defines name(params), which runs the body compiled for the kernel
// path in force: the body is an always-inline function, inlined (and vectorized) once into an AVX-512 function, once
// into an AVX2 one and once into the portable dispatcher itself.
#ifdef RT_HAVE_AVX2_PATH
#define RT_PATHS(ret, name, params, args)                                                    \
  static inline __attribute__((always_inline)) ret name##_body params;                       \
  RT_AVX512 __attribute__((noinline)) ret name##_avx512 params { return name##_body args; } \
  RT_AVX2 __attribute__((noinline)) ret name##_avx2 params { return name##_body args; }     \
  ret name params {                                                                          \
    if (isa_at_least(Isa::avx512)) return name##_avx512 args;                               \
    if (isa_at_least(Isa::avx2)) return name##_avx2 args;                                   \
    return name##_body args;                                                                 \
  }                                                                                          \
  static inline __attribute__((always_inline)) ret name##_body params
#else
#define RT_PATHS(ret, name, params, args) ret name params
#endif

namespace rt {

constexpr int kLanes = 16;

inline float bits_to_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// exp(x) to about 2 ulp, branch-free so loops over it vectorize. Range reduction x = n*ln2 + r with |r| <= ln2/2,
// a degree-6 polynomial for e^r, then 2^n through the exponent bits. Inputs below -87.3 flush to 0 (the softmax
// inputs here are <= 0; inputs above 88 saturate at about e^88 instead of overflowing).
inline float fast_exp(float x) {
  x = x < -87.33654f ? -87.33654f : (x > 88.0f ? 88.0f : x);
  const float magic = 12582912.0f;  // 1.5 * 2^23: adding it rounds to the nearest integer in the low mantissa bits
  float t = x * 1.44269504088896341f + magic;
  float n = t - magic;
  float r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  int32_t ni = static_cast<int32_t>(n);
  uint32_t bits = static_cast<uint32_t>(ni + 127) << 23;
  float scale = bits_to_float(bits);
  float y = p * scale;
  return x <= -87.33654f ? 0.0f : y;
}

#ifdef RT_HAVE_AVX2_PATH
// Transposes an 8x8 block held in 8 registers (row i in r[i] -> column i in r[i]).
RT_AVX2 inline void transpose8x8(__m256 r[8]) {
  __m256 t[8], u[8];
  for (int i = 0; i < 4; i++) {
    t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 2; i++) {
    u[4 * i + 0] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
    u[4 * i + 1] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
    u[4 * i + 2] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
    u[4 * i + 3] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
  }
  for (int i = 0; i < 4; i++) {
    r[i] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x20);
    r[i + 4] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x31);
  }
}

// Every path but the portable one has AVX2+FMA (cpu.h: the portable path is in force only on hosts without them).
inline bool cpu_has_avx2_fma() { return isa_at_least(Isa::avx2); }
#endif

inline float sigmoid(float x) { return 1.0f / (1.0f + fast_exp(-x)); }

// Combines lane partial sums in a fixed order, in double.
inline double sum_lanes(const float* lanes) {
  double s = 0;
  for (int l = 0; l < kLanes; l++) s += lanes[l];
  return s;
}

}  // namespace rt
