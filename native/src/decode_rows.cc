// Few-row products with a bf16 weight read in place (see decode_rows.h). A is rounded once per call into a float32
// copy in the kernel's chunk layout (decode_rows.inc), zero-padded to whole chunks; then each thread streams its own
// contiguous range of W's rows, a block of a few rows at a time against every row of A, so W is read from memory
// once per call whatever M is. M above the kernel's rows per pass runs in passes over the same block of W, which
// is then still in L1.
#include "decode_rows.h"

#include <algorithm>
#include <cstring>
#include <utility>
#include <vector>

#include "cpu.h"
#include "gemm.h"
#include "pool.h"
#include "simd.h"

namespace rt {
namespace {

using BlockFn = void (*)(const float*, int64_t, const uint16_t*, int64_t, float*, int64_t, bool);

// One build of the kernel: rows of A per pass, and per row count m (index m - 1) the W rows of a block with its
// block function, plus the one-row block for the last rows of W.
struct Kernel {
  int width;  // floats per vector; a chunk is 2 * width values of k
  int maxRows;
  int cols[kDecodeRows];
  BlockFn wide[kDecodeRows];
  BlockFn one[kDecodeRows];
};

// Round to nearest even, NaN kept quiet (torch's float32 -> bfloat16), as a float32 value.
inline float round_bf16(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, 4);
  if ((bits & 0x7fffffffu) > 0x7f800000u) bits |= 0x00400000u;
  else bits += 0x7fffu + ((bits >> 16) & 1);
  bits &= 0xffff0000u;
  std::memcpy(&x, &bits, 4);
  return x;
}

// The portable build: the same chunk layout and lane order as the vector builds, one float at a time.
template <int M>
void portable_block(const float* a, int64_t Kp, const uint16_t* w, int64_t K, float* c, int64_t ldc, bool accumulate) {
  constexpr int W = 8;
  float acc[M][W] = {};
  for (int64_t k = 0; k < K; k++) {
    const float wk = widen(w[k]);
    const int64_t chunk = k / (2 * W) * (2 * W), at = chunk + (k % 2) * W + (k - chunk) / 2;
    for (int i = 0; i < M; i++) acc[i][(k - chunk) / 2] += a[i * Kp + at] * wk;
  }
  for (int i = 0; i < M; i++) {
    for (int width = W / 2; width > 0; width /= 2)
      for (int l = 0; l < width; l++) acc[i][l] += acc[i][l + width];
    c[i * ldc] = accumulate ? c[i * ldc] + acc[i][0] : acc[i][0];
  }
}

template <int... Ms>
constexpr Kernel make_portable(std::integer_sequence<int, Ms...>) {
  return Kernel{8, 8, {(Ms * 0 + 1)...}, {portable_block<Ms + 1>...}, {portable_block<Ms + 1>...}};
}

constexpr Kernel kPortable = make_portable(std::make_integer_sequence<int, 8>{});

}  // namespace

#ifdef RT_HAVE_AVX2_PATH
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#endif
#define RT_W 8
#define RT_NS decode_avx2
#include "decode_rows.inc"
#if defined(__clang__)
#pragma clang attribute pop
#pragma clang attribute push(__attribute__((target("avx2,fma,avx512f,avx512dq,avx512bw,avx512vl"))), apply_to = function)
#else
#pragma GCC pop_options
#pragma GCC push_options
#pragma GCC target("avx2,fma,avx512f,avx512dq,avx512bw,avx512vl")
#endif
#define RT_W 16
#define RT_NS decode_avx512
#include "decode_rows.inc"
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#endif

namespace {

const Kernel& kernel() {
#ifdef RT_HAVE_AVX2_PATH
  if (isa_at_least(Isa::avx512)) return decode_avx512::kKernel;
  if (isa_at_least(Isa::avx2)) return decode_avx2::kKernel;
#endif
  return kPortable;
}

thread_local std::vector<float> tRows;

// A rounded to bf16 into dst (M, Kp) in chunks of 2 * width: the even k of a chunk, then its odd k; zeros after K.
void round_rows(const float* a, int64_t rsA, int64_t csA, int64_t M, int64_t K, int64_t Kp, int width, float* dst) {
  const int64_t chunk = 2 * width;
  for (int64_t i = 0; i < M; i++) {
    float* row = dst + i * Kp;
    std::fill(row + K / chunk * chunk, row + Kp, 0.0f);
    for (int64_t k = 0; k < K; k++) {
      const int64_t c0 = k / chunk * chunk;
      row[c0 + (k % 2) * width + (k - c0) / 2] = round_bf16(a[i * rsA + k * csA]);
    }
  }
}

// Rows [n0, n1) of W against every row of A: blocks of the kernel's width, then single rows; rows of A in passes.
void columns(const Kernel& kn, const float* a, int64_t Kp, const uint16_t* w, float* c, int64_t M, int64_t N,
             int64_t K, int64_t n0, int64_t n1, bool accumulate) {
  for (int64_t i0 = 0; i0 < M; i0 += kn.maxRows) {
    const int64_t m = std::min<int64_t>(kn.maxRows, M - i0);
    const int nb = kn.cols[m - 1];
    const float* ai = a + i0 * Kp;
    float* ci = c + i0 * N;
    int64_t n = n0;
    for (; n + nb <= n1; n += nb) kn.wide[m - 1](ai, Kp, w + n * K, K, ci + n, N, accumulate);
    for (; n < n1; n++) kn.one[m - 1](ai, Kp, w + n * K, K, ci + n, N, accumulate);
  }
}

}  // namespace

void gemm_bf16_rows(const float* a, int64_t rsA, int64_t csA, const uint16_t* w, float* c, int64_t M, int64_t N,
                    int64_t K, bool accumulate) {
  if (M == 0 || N == 0) return;
  const Kernel& kn = kernel();
  const int64_t chunk = 2 * kn.width, Kp = (K + chunk - 1) / chunk * chunk;
  if (static_cast<int64_t>(tRows.size()) < M * Kp) tRows.resize(M * Kp);
  float* rows = tRows.data();
  round_rows(a, rsA, csA, M, K, Kp, kn.width, rows);
  // Each thread takes at least 256 KiB of W, so a small product is not split finer than its wake-up cost.
  const int64_t grain = std::max<int64_t>(8, (int64_t(1) << 17) / std::max<int64_t>(K, 1));
  parallel_for(N, grain, [&](int64_t n0, int64_t n1) { columns(kn, rows, Kp, w, c, M, N, K, n0, n1, accumulate); });
}

}  // namespace rt
