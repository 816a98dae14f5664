// bf16 compute for products with a frozen bf16 weight (see gemm_bf16.h). A is rounded once per call into a bf16
// copy (Mp, Kp), rows and depth zero-padded to whole 32-blocks (laid out in AMX tiles for the AMX path). B goes
// through "panels": 32 columns of C over one depth step, stored as two 16-column halves of (kc / 2) rows of 16 bf16
// pairs (k, k+1) -- the VNNI layout that an AMX B tile loads with a 64-byte stride and that vdpbf16ps multiplies
// against a broadcast pair of A. Each thread packs the panels of its own columns while it uses them, so no packed
// copy of a weight outlives the call: packing reads B once per depth step and costs 1/M of the multiply.
// Loops per thread, outermost first: depth steps of at most kDepth (the bf16 A block stays in L2) -> groups of
// kPanelGroup of the thread's 32-column blocks (pack their panels) -> 32-row blocks of C -> each block of the group
// -> the 2x2 AMX tiles or 8x32 vdpbf16ps register blocks.
// Every C element sums its depth steps in ascending order whatever the thread count: the bits depend on the path.
// Few rows against a (N, K) weight (a decode step) go to gemm_bf16_rows (decode_rows.h) on every path instead.
#include "gemm_bf16.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include "cpu.h"
#include "decode_rows.h"
#include "pool.h"
#include "simd.h"

#if defined(RT_HAVE_AVX2_PATH) && defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#define RT_HAVE_BF16_PATHS 1
#define RT_AVX512BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
#define RT_AMX __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16,amx-tile,amx-bf16,prfchw")))
#endif

namespace rt {
namespace {

constexpr int64_t kBlock = 32;    // rows and columns of the C block one step computes (2x2 AMX tiles of 16x16)
constexpr int64_t kDepth = 1024;  // k per depth step at most: a bf16 A block of 512 rows (1 MiB) stays in L2
constexpr int64_t kMinParallelMacs = int64_t(1) << 21;
// Panels packed together (up to 256 KiB, in L2): a (K, N) weight's rows are then read in runs of 4 cache lines.
constexpr int64_t kPanelGroup = 4;

int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

// Round to nearest even, NaN kept quiet: what torch's float32 -> bfloat16 conversion does.
inline uint16_t round_bf16(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, 4);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40);
  return static_cast<uint16_t>((bits + 0x7fffu + ((bits >> 16) & 1)) >> 16);
}

template <typename T>
class Buffer {
 public:
  T* get(int64_t n) {
    if (n > capacity_) {
      const size_t bytes = (static_cast<size_t>(n) * sizeof(T) + 63) / 64 * 64;
      data_.reset(static_cast<T*>(std::aligned_alloc(64, bytes)));
      capacity_ = n;
    }
    return data_.get();
  }

 private:
  struct Free {
    void operator()(T* p) const { std::free(p); }
  };
  std::unique_ptr<T, Free> data_;
  int64_t capacity_ = 0;
};

thread_local Buffer<uint16_t> tRoundedA;
thread_local Buffer<float> tWidenedA;
thread_local Buffer<uint32_t> tPanels;

// One product of a batch. a: bf16 A (Mp, Kp), zero-padded, in rows or, for AMX, in tiles (ALayout); b: the weight,
// (N, K) when transB else (K, N).
struct Operands {
  const uint16_t* a;
  int64_t Kp;
  const uint16_t* b;
  bool transB;
  float* c;  // (M, N)
  int64_t M, N, K;
};

// Where A(i, k) goes in the rounded copy. Rows: (Mp, Kp) row-major. Tiles: 16-row x 32-deep blocks of 1 KiB, the
// depth blocks of each 16 rows one after another, so an AMX A tile is one contiguous KiB and a 32-row block of C
// reads A as two sequential streams, which the hardware prefetchers follow (32 rows far apart they do not).
struct ALayout {
  bool tiles;
  int64_t Kp;
  int64_t at(int64_t i, int64_t k) const {
    return tiles ? ((i / 16) * (Kp / 32) + k / 32) * 512 + (i % 16) * 32 + k % 32 : i * Kp + k;
  }
};

// A(i, k) = a[i * rs + k * cs], rounded into dst (Mp, Kp) with zero padding; rows shared out over the threads. Each
// row is written in runs of 32 depths, contiguous in both layouts.
RT_PATHS(void, round_rows,
         (const float* a, int64_t rs, int64_t cs, int64_t K, ALayout layout, int64_t i0, int64_t i1, int64_t M,
          uint16_t* dst),
         (a, rs, cs, K, layout, i0, i1, M, dst)) {
  for (int64_t i = i0; i < i1; i++) {
    for (int64_t k0 = 0; k0 < layout.Kp; k0 += 32) {
      uint16_t* run = dst + layout.at(i, k0);
      const int64_t n = i < M ? std::clamp<int64_t>(K - k0, 0, 32) : 0;
      const float* src = a + i * rs + k0 * cs;
      for (int64_t k = 0; k < n; k++) run[k] = round_bf16(src[k * cs]);
      std::fill(run + n, run + 32, uint16_t(0));
    }
  }
}

RT_PATHS(void, round_range, (const float* x, uint16_t* out, int64_t i0, int64_t i1), (x, out, i0, i1)) {
  for (int64_t i = i0; i < i1; i++) out[i] = round_bf16(x[i]);
}

#ifdef RT_HAVE_BF16_PATHS
void round_columns_avx512(const float* a, int64_t cs, int64_t K, ALayout layout, int64_t i0, int64_t i1, int64_t M,
                          uint16_t* dst);
#endif

void round_a(const float* a, int64_t rs, int64_t cs, int64_t M, int64_t K, int64_t Mp, ALayout layout, uint16_t* dst) {
  const int64_t grain = std::max<int64_t>(16, kMinParallelMacs / 64 / std::max<int64_t>(K, 1));
#ifdef RT_HAVE_BF16_PATHS
  // Only the bf16 paths round A, and they run AVX-512.
  if (rs == 1 && cs != 1) {
    const int64_t groups = (Mp + 15) / 16;
    parallel_for(groups, (grain + 15) / 16, [&](int64_t g0, int64_t g1) {
      round_columns_avx512(a, cs, K, layout, g0 * 16, std::min(Mp, g1 * 16), M, dst);
    });
    return;
  }
#endif
  parallel_for(Mp, grain, [&](int64_t i0, int64_t i1) { round_rows(a, rs, cs, K, layout, i0, i1, M, dst); });
}

// Depth in equal steps of at most kDepth, each a whole number of 32-blocks.
int64_t depth_step(int64_t Kp) {
  const int64_t steps = (Kp + kDepth - 1) / kDepth;
  return round_up((Kp + steps - 1) / steps, 32);
}

#ifdef RT_HAVE_BF16_PATHS

// 16 registers of 16 dwords transposed: lane j of r[i] goes to lane i of r[j].
RT_AVX512BF16 inline void transpose16x16(__m512i r[16]) {
  // The all-lanes mask forms: GCC 12 warns about the plain forms' undefined source register.
  const __mmask16 kAll = 0xffff;
  const __mmask8 kAll64 = 0xff;
  __m512i t[16];
  for (int i = 0; i < 8; i++) {
    t[2 * i] = _mm512_maskz_unpacklo_epi32(kAll, r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_maskz_unpackhi_epi32(kAll, r[2 * i], r[2 * i + 1]);
  }
  // r[4i + m], 128-bit block L: rows 4i..4i+3 at lane 4L + m.
  for (int i = 0; i < 4; i++) {
    r[4 * i] = _mm512_maskz_unpacklo_epi64(kAll64, t[4 * i], t[4 * i + 2]);
    r[4 * i + 1] = _mm512_maskz_unpackhi_epi64(kAll64, t[4 * i], t[4 * i + 2]);
    r[4 * i + 2] = _mm512_maskz_unpacklo_epi64(kAll64, t[4 * i + 1], t[4 * i + 3]);
    r[4 * i + 3] = _mm512_maskz_unpackhi_epi64(kAll64, t[4 * i + 1], t[4 * i + 3]);
  }
  // Then a 4x4 transpose of 128-bit blocks among r[m], r[4 + m], r[8 + m], r[12 + m].
  for (int m = 0; m < 4; m++) {
    const __m512i v0 = _mm512_maskz_shuffle_i32x4(kAll, r[m], r[4 + m], 0x44), v1 = _mm512_maskz_shuffle_i32x4(kAll, r[m], r[4 + m], 0xEE);
    const __m512i v2 = _mm512_maskz_shuffle_i32x4(kAll, r[8 + m], r[12 + m], 0x44), v3 = _mm512_maskz_shuffle_i32x4(kAll, r[8 + m], r[12 + m], 0xEE);
    t[m] = _mm512_maskz_shuffle_i32x4(kAll, v0, v2, 0x88);
    t[4 + m] = _mm512_maskz_shuffle_i32x4(kAll, v0, v2, 0xDD);
    t[8 + m] = _mm512_maskz_shuffle_i32x4(kAll, v1, v3, 0x88);
    t[12 + m] = _mm512_maskz_shuffle_i32x4(kAll, v1, v3, 0xDD);
  }
  for (int i = 0; i < 16; i++) r[i] = t[i];
}

// 16 floats rounded as round_bf16 does, each result in the low half of its dword.
RT_AVX512BF16 inline __m512i round16(__m512 x) {
  const __mmask16 kAll = 0xffff;  // the mask forms: GCC 12 warns about the plain shifts' undefined source register
  const __m512i bits = _mm512_castps_si512(x), high = _mm512_maskz_srli_epi32(kAll, bits, 16);
  const __m512i lsb = _mm512_and_si512(high, _mm512_set1_epi32(1));
  const __m512i nearest = _mm512_maskz_srli_epi32(kAll, _mm512_add_epi32(bits, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff))), 16);
  const __m512i quiet = _mm512_or_si512(high, _mm512_set1_epi32(0x40));
  const __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(bits, _mm512_set1_epi32(0x7fffffff)), _mm512_set1_epi32(0x7f800000));
  return _mm512_mask_blend_epi32(nan, nearest, quiet);
}

// A stored (K, M) (A(i, k) = a[k * cs + i]: a weight gradient's g^T), rows [i0, i1) (whole groups of 16, but for the
// last): per 16 rows and 32 depths, 32 loads of 16 contiguous floats, rounded, paired (k even low, k odd high) and
// transposed in registers into the rows' 32-deep runs. Row by row straight from A, every element would be on its own
// cache line, and for a wide g on its own page. Rows past M and depths past K are zeros.
RT_AVX512BF16 void round_columns_avx512(const float* a, int64_t cs, int64_t K, ALayout layout, int64_t i0, int64_t i1,
                                        int64_t M, uint16_t* dst) {
  // Depth blocks outermost: the 32 rows of A that a block reads are then each read front to back as the groups
  // advance, 32 streams the prefetchers follow.
  for (int64_t k0 = 0; k0 < layout.Kp; k0 += 32) {
    for (int64_t i = i0; i < i1; i += 16) {
      const int64_t group = std::min<int64_t>(16, i1 - i), rows = std::clamp<int64_t>(M - i, 0, group);
      const __mmask16 live = static_cast<__mmask16>((uint32_t(1) << rows) - 1);
      const int64_t n = rows > 0 ? std::clamp<int64_t>(K - k0, 0, 32) : 0;
      const float* src = a + k0 * cs + i;
      __m512i r[16];
      for (int j = 0; j < 16; j++) {
        const __m512i even = 2 * j < n ? round16(_mm512_maskz_loadu_ps(live, src + 2 * j * cs)) : _mm512_setzero_si512();
        const __m512i odd = 2 * j + 1 < n ? round16(_mm512_maskz_loadu_ps(live, src + (2 * j + 1) * cs)) : _mm512_setzero_si512();
        r[j] = _mm512_or_si512(even, _mm512_maskz_slli_epi32(0xffff, odd, 16));
      }
      transpose16x16(r);
      for (int64_t row = 0; row < group; row++) _mm512_storeu_si512(dst + layout.at(i + row, k0), r[row]);
    }
  }
}

// One 16-column half of a panel from a (N, K) weight: column n's pair is the 4 bytes at row n, so a panel row is
// one dword from each of 16 rows. Runs of 16 pairs are 16 row loads transposed in registers; the pairs left over
// are gathered, and those past K filled element by element.
RT_AVX512BF16 void pack_half_nk(const Operands& o, int64_t n0, int64_t k0, int64_t pairs, uint32_t* out) {
  const int64_t K = o.K, cols = std::clamp<int64_t>(o.N - n0, 0, 16);
  const int64_t full = std::clamp<int64_t>((K - k0) / 2, 0, pairs);  // pairs with both k and k+1 inside K
  const uint16_t* base = o.b + n0 * K + k0;
  int64_t p = 0;
  for (; p + 16 <= full; p += 16) {
    __m512i r[16];
    for (int i = 0; i < 16; i++) r[i] = i < cols ? _mm512_loadu_si512(base + i * K + 2 * p) : _mm512_setzero_si512();
    transpose16x16(r);
    for (int j = 0; j < 16; j++) _mm512_store_si512(out + (p + j) * 16, r[j]);
  }
  const __mmask16 colMask = static_cast<__mmask16>((1u << cols) - 1);
  const __m512i rowBytes = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                              _mm512_set1_epi32(static_cast<int>(K * 2)));
  for (; p < full; p++)
    _mm512_store_si512(out + p * 16, _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), colMask, rowBytes, base + 2 * p, 1));
  for (; p < pairs; p++) {
    const int64_t k = k0 + 2 * p;
    for (int64_t jj = 0; jj < 16; jj++) {
      const uint16_t* row = o.b + (n0 + jj) * K;
      const uint32_t lo = jj < cols && k < K ? row[k] : 0, hi = jj < cols && k + 1 < K ? row[k + 1] : 0;
      out[p * 16 + jj] = lo | hi << 16;
    }
  }
}

// Rows of a (K, N) weight fetched ahead by hand: N * 2 bytes apart, they are too far apart for the hardware
// prefetcher once N is a few thousand. Into L1, so only a few rows ahead: at 192 rows, a group's lines in flight
// (192 rows x 4 panels x 64 bytes) filled L1 and evicted each other and the panels being written; 8 measured 5-9 %
// faster on the LM head's input gradient (110 x 896 x 151936) and 1-4 % on the 512-row NN products.
constexpr int64_t kRowsAhead = 8;

// Both halves of `count` consecutive panels from a (K, N) weight: for each pair, rows k and k+1 of the panels'
// columns, 64 bytes per panel and row, widened and interleaved. The panels are packed side by side so that each row
// is read in one run of count * 64 bytes (a few cache lines the prefetchers follow) instead of one line per visit.
// Panel q goes to dst + q * pairs * 32.
RT_AVX512BF16 void pack_panels_kn(const Operands& o, int64_t j0, int64_t count, int64_t k0, int64_t pairs, uint32_t* dst) {
  const int64_t K = o.K, N = o.N;
  for (int64_t p = 0; p < pairs; p++) {
    const int64_t k = k0 + 2 * p;
    const uint16_t* row = o.b + k * N + j0;
    if (k + kRowsAhead + 1 < K) {
      for (int64_t q = 0; q < count; q++) {
        _mm_prefetch(reinterpret_cast<const char*>(row + kRowsAhead * N + q * kBlock), _MM_HINT_T0);
        _mm_prefetch(reinterpret_cast<const char*>(row + (kRowsAhead + 1) * N + q * kBlock), _MM_HINT_T0);
      }
    }
    for (int64_t q = 0; q < count; q++) {
      const int64_t cols = std::clamp<int64_t>(N - j0 - q * kBlock, 0, 32);
      const __mmask32 colMask = static_cast<__mmask32>((uint64_t(1) << cols) - 1);
      const uint16_t* at = row + q * kBlock;
      uint32_t* panel = dst + q * pairs * 32;
      // The all-lanes mask forms below: GCC 12 warns about the plain forms' undefined source register.
      const __m512i lo = k < K ? _mm512_maskz_loadu_epi16(colMask, at) : _mm512_setzero_si512();
      const __m512i hi = k + 1 < K ? _mm512_maskz_loadu_epi16(colMask, at + N) : _mm512_setzero_si512();
      const __m512i lo0 = _mm512_maskz_cvtepu16_epi32(0xffff, _mm512_maskz_extracti64x4_epi64(0xf, lo, 0));
      const __m512i lo1 = _mm512_maskz_cvtepu16_epi32(0xffff, _mm512_maskz_extracti64x4_epi64(0xf, lo, 1));
      const __m512i hi0 = _mm512_maskz_cvtepu16_epi32(0xffff, _mm512_maskz_extracti64x4_epi64(0xf, hi, 0));
      const __m512i hi1 = _mm512_maskz_cvtepu16_epi32(0xffff, _mm512_maskz_extracti64x4_epi64(0xf, hi, 1));
      _mm512_store_si512(panel + p * 16, _mm512_or_si512(lo0, _mm512_maskz_slli_epi32(0xffff, hi0, 16)));
      _mm512_store_si512(panel + (pairs + p) * 16, _mm512_or_si512(lo1, _mm512_maskz_slli_epi32(0xffff, hi1, 16)));
    }
  }
}

// Panels of columns [j0, j0 + count * 32) over depth [k0, k0 + kc) into dst, one after another (kc * 16 dwords
// each): in panel q, half h, pair p, column jj at dst[q * kc * 16 + (h * kc/2 + p) * 16 + jj]. Columns past N and
// depth past K are zeros.
RT_AVX512BF16 void pack_panels(const Operands& o, int64_t j0, int64_t count, int64_t k0, int64_t kc, uint32_t* dst) {
  const int64_t pairs = kc / 2;
  if (!o.transB) return pack_panels_kn(o, j0, count, k0, pairs, dst);
  for (int64_t q = 0; q < count; q++) {
    uint32_t* panel = dst + q * pairs * 32;
    pack_half_nk(o, j0 + q * kBlock, k0, pairs, panel);
    pack_half_nk(o, j0 + q * kBlock + 16, k0, pairs, panel + pairs * 16);
  }
}

// ---- AVX512_BF16: 8 rows x 32 columns of C in 16 zmm accumulators; per pair of k, two panel loads and 16 vdpbf16ps.

RT_AVX512BF16 inline __m512 dot_pairs(__m512 acc, __m512i a, __m512i b) {
  return _mm512_dpbf16_ps(acc, (__m512bh)a, (__m512bh)b);
}

RT_AVX512BF16 inline void store_masked(float* c, __m512 v, __mmask16 mask, bool add) {
  if (add) v = _mm512_add_ps(_mm512_maskz_loadu_ps(mask, c), v);
  _mm512_mask_storeu_ps(c, mask, v);
}

RT_AVX512BF16 void avx512_block(const Operands& o, const uint32_t* panels, int64_t i0, int64_t j0, int64_t k0,
                                int64_t kc, bool add) {
  const int64_t pairs = kc / 2;
  const int64_t cols0 = std::clamp<int64_t>(o.N - j0, 0, 16), cols1 = std::clamp<int64_t>(o.N - j0 - 16, 0, 16);
  const __mmask16 m0 = static_cast<__mmask16>((1u << cols0) - 1), m1 = static_cast<__mmask16>((1u << cols1) - 1);
  for (int64_t r = i0; r < std::min(i0 + kBlock, o.M); r += 8) {
    __m512 acc[8][2];
    for (int i = 0; i < 8; i++) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
    const uint16_t* a = o.a + r * o.Kp + k0;
    for (int64_t p = 0; p < pairs; p++) {
      const __m512i b0 = _mm512_load_si512(panels + p * 16);
      const __m512i b1 = _mm512_load_si512(panels + (pairs + p) * 16);
      for (int i = 0; i < 8; i++) {
        uint32_t ap;
        std::memcpy(&ap, a + i * o.Kp + 2 * p, 4);
        const __m512i av = _mm512_set1_epi32(static_cast<int>(ap));
        acc[i][0] = dot_pairs(acc[i][0], av, b0);
        acc[i][1] = dot_pairs(acc[i][1], av, b1);
      }
    }
    for (int i = 0; i < 8 && r + i < o.M; i++) {
      float* c = o.c + (r + i) * o.N + j0;
      store_masked(c, acc[i][0], m0, add);
      if (cols1 > 0) store_masked(c + 16, acc[i][1], m1, add);
    }
  }
}

// ---- AMX: a 32x32 block of C in tiles 0-3, A rows in tiles 4-5, the two panel halves in tiles 6-7.

struct alignas(64) TileConfig {
  uint8_t palette;
  uint8_t startRow;
  uint8_t reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
};

// Eight 16-row x 64-byte tiles. A constant in memory: GCC 12 drops the stores to a local config before ldtilecfg.
alignas(64) const TileConfig kTileConfig = {
    1, 0, {}, {64, 64, 64, 64, 64, 64, 64, 64}, {16, 16, 16, 16, 16, 16, 16, 16}};

RT_AMX void load_tile_config() { _tile_loadconfig(&kTileConfig); }

// Where a 16x16 C tile is loaded from and stored to: C itself when the tile lies inside it, else a zero-padded copy.
struct CTile {
  float* at;
  int64_t strideBytes;
  int64_t rows, cols;
  float* c;
};

CTile c_tile(const Operands& o, int64_t r, int64_t col, bool load, float* local) {
  const int64_t rows = std::clamp<int64_t>(o.M - r, 0, 16), cols = std::clamp<int64_t>(o.N - col, 0, 16);
  float* c = o.c + r * o.N + col;
  if (rows == 16 && cols == 16) return {c, o.N * 4, rows, cols, c};
  std::fill(local, local + 256, 0.0f);
  if (load)
    for (int64_t i = 0; i < rows; i++) std::memcpy(local + i * 16, c + i * o.N, cols * sizeof(float));
  return {local, 64, rows, cols, c};
}

// Tiles 0-1 (and 2-3 when the block has more than 16 rows of C) loaded from C or zeroed, multiplied over the
// depth step and stored back. A block whose rows past 16 all lie past M runs as 16x32 (kFull false): its second A
// tile would hold only zero padding, and skipping it spares a quarter of the LM head's tile products in 110-row
// chunks.
template <bool kFull>
RT_AMX void amx_tiles(const Operands& o, const uint32_t* panels, const CTile* t, int64_t i0, int64_t k0, int64_t kc,
                      bool load) {
  if (load) {
    _tile_loadd(0, t[0].at, t[0].strideBytes);
    _tile_loadd(1, t[1].at, t[1].strideBytes);
    if (kFull) _tile_loadd(2, t[2].at, t[2].strideBytes);
    if (kFull) _tile_loadd(3, t[3].at, t[3].strideBytes);
  } else {
    _tile_zero(0);
    _tile_zero(1);
    if (kFull) _tile_zero(2);
    if (kFull) _tile_zero(3);
  }
  const int64_t pairs = kc / 2;
  const uint16_t* a0 = o.a + i0 * o.Kp + k0 * 16;  // A in tiles: 16-row blocks of Kp * 16, depth blocks of 512
  const uint16_t* a1 = a0 + 16 * o.Kp;
  for (int64_t kk = 0; kk < kc; kk += 32) {
    _tile_loadd(4, a0 + kk * 16, 64);
    if (kFull) _tile_loadd(5, a1 + kk * 16, 64);
    _tile_loadd(6, panels + kk / 2 * 16, 64);
    _tile_loadd(7, panels + (pairs + kk / 2) * 16, 64);
    _tile_dpbf16ps(0, 4, 6);
    _tile_dpbf16ps(1, 4, 7);
    if (kFull) _tile_dpbf16ps(2, 5, 6);
    if (kFull) _tile_dpbf16ps(3, 5, 7);
  }
  _tile_stored(0, t[0].at, t[0].strideBytes);
  _tile_stored(1, t[1].at, t[1].strideBytes);
  if (kFull) _tile_stored(2, t[2].at, t[2].strideBytes);
  if (kFull) _tile_stored(3, t[3].at, t[3].strideBytes);
}

RT_AMX void amx_block(const Operands& o, const uint32_t* panels, int64_t i0, int64_t j0, int64_t k0, int64_t kc,
                      bool load) {
  alignas(64) float local[4][256];
  const int tiles = i0 + 16 < o.M ? 4 : 2;
  CTile t[4];
  for (int q = 0; q < tiles; q++) t[q] = c_tile(o, i0 + (q / 2) * 16, j0 + (q % 2) * 16, load, local[q]);
  // On the first depth step C's lines are fetched for writing now, while the tiles multiply: a tile store to lines
  // not in cache waits on memory row by row (in a test loop, tiles stored to a (512, 4864) C in place ran at 55-80 %
  // of the rate of tiles stored to a local buffer; fetched first, at 85-95 %). Later steps load C into the tiles
  // first, which brings the lines in; fetching them as well measured 0-8 % slower.
  for (int q = 0; q < tiles && !load; q++) {
    if (t[q].at != t[q].c) continue;
    for (int64_t r = 0; r < 16; r++) {
      _mm_prefetch(reinterpret_cast<const char*>(t[q].at + r * o.N), _MM_HINT_ET0);
      _mm_prefetch(reinterpret_cast<const char*>(t[q].at + r * o.N + 15), _MM_HINT_ET0);
    }
  }
  if (tiles == 4) amx_tiles<true>(o, panels, t, i0, k0, kc, load);
  else amx_tiles<false>(o, panels, t, i0, k0, kc, load);
  for (int q = 0; q < tiles; q++) {
    if (t[q].at == t[q].c) continue;
    for (int64_t i = 0; i < t[q].rows; i++) std::memcpy(t[q].c + i * o.N, t[q].at + i * 16, t[q].cols * sizeof(float));
  }
}

RT_AMX void amx_release() { _tile_release(); }

// Linux hands out the AMX register state only on request, once per process.
bool amx_permitted() {
  constexpr long kArchReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
  static const bool ok = syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
  return ok;
}

// The kernel path in force allows the bf16 path (it never names one the host lacks) and, for AMX, Linux grants it.
bool allowed(Bf16Path p) {
  if (p == Bf16Path::kAvx512Bf16) return isa_at_least(Isa::avx512bf16);
  if (p == Bf16Path::kAmx) return isa_at_least(Isa::amx) && amx_permitted();
  return true;
}

#else

bool allowed(Bf16Path p) { return p == Bf16Path::kFloat32; }

#endif

// The blocked algorithm on column blocks [jb0, jb1) of one product, on the calling thread.
void blocked_columns(const Operands& o, Bf16Path path, int64_t jb0, int64_t jb1, bool accumulate) {
  const int64_t step = depth_step(o.Kp);
  uint32_t* panels = tPanels.get(kPanelGroup * kBlock * step / 2);
#ifdef RT_HAVE_BF16_PATHS
  const bool amx = path == Bf16Path::kAmx;
  if (amx) load_tile_config();
  for (int64_t k0 = 0; k0 < o.Kp; k0 += step) {
    const int64_t kc = std::min(step, o.Kp - k0);
    for (int64_t jg = jb0; jg < jb1; jg += kPanelGroup) {
      const int64_t count = std::min(kPanelGroup, jb1 - jg);
      pack_panels(o, jg * kBlock, count, k0, kc, panels);
      // Row blocks outside the group's panels: a block's A rows are read from L2 (or beyond, for many rows) once per
      // group and reused from L1 across its panels, while the group's panels stay in L2.
      for (int64_t i0 = 0; i0 < o.M; i0 += kBlock) {
        for (int64_t q = 0; q < count; q++) {
          const uint32_t* panel = panels + q * kc * 16;
          const int64_t j0 = (jg + q) * kBlock;
          if (amx) amx_block(o, panel, i0, j0, k0, kc, accumulate || k0 > 0);
          else avx512_block(o, panel, i0, j0, k0, kc, accumulate || k0 > 0);
        }
      }
    }
  }
  if (amx) amx_release();
#else
  (void)o, (void)path, (void)jb0, (void)jb1, (void)accumulate, (void)panels;
#endif
}

// One product through a bf16 path: A rounded once, then the blocked kernel.
void product_bf16(const float* a, int64_t rsA, int64_t csA, const uint16_t* b, float* c, const GemmShape& s,
                  Bf16Path path) {
  const int64_t M = s.M, N = s.N, K = s.K, Kp = round_up(K, 32), Mp = round_up(M, kBlock);
  uint16_t* rounded = tRoundedA.get(Mp * Kp);
  round_a(a, rsA, csA, M, K, Mp, {path == Bf16Path::kAmx, Kp}, rounded);
  const Operands o{rounded, Kp, b, s.transB, c, M, N, K};
  const int64_t blocks = (N + kBlock - 1) / kBlock;
  // Chunks of about a panel group each where there are enough (a group's panels share one pass over A), at most a
  // few per thread, never fewer than the threads.
  const int64_t groups = std::max(std::min<int64_t>(blocks, threads()), blocks / kPanelGroup);
  const int64_t chunks = M * N * K < kMinParallelMacs ? 1 : balanced_chunks(groups);
  parallel_chunks(blocks, chunks, [&](int64_t jb0, int64_t jb1) { blocked_columns(o, path, jb0, jb1, s.accumulate); });
}

// Rows [i0, i1) of A rounded to bf16 and widened back into dst (M, K). A stored (K, M) is read a 16-row strip at a
// time along its rows, not one element per cache line.
RT_PATHS(void, widen_rounded, (const float* a, int64_t rs, int64_t cs, int64_t K, int64_t i0, int64_t i1, float* dst),
         (a, rs, cs, K, i0, i1, dst)) {
  if (rs == 1 && cs != 1) {
    for (int64_t i = i0; i < i1; i += 16)
      for (int64_t k = 0; k < K; k++)
        for (int64_t r = i; r < std::min<int64_t>(i + 16, i1); r++) dst[r * K + k] = widen(round_bf16(a[k * cs + r]));
    return;
  }
  for (int64_t i = i0; i < i1; i++)
    for (int64_t k = 0; k < K; k++) dst[i * K + k] = widen(round_bf16(a[i * rs + k * cs]));
}

// The float32 path: A rounded to bf16 and widened back, then the float32 GEMM that widens B while packing. The
// products are the same exact values; only the order of the float32 sums differs from the bf16 paths.
void product_float32(const float* a, int64_t rsA, int64_t csA, const uint16_t* b, float* c, const GemmShape& s) {
  const int64_t M = s.M, K = s.K;
  float* widened = tWidenedA.get(std::max<int64_t>(M * K, 1));
  parallel_for(M, std::max<int64_t>(16, kMinParallelMacs / 64 / std::max<int64_t>(K, 1)),
               [&](int64_t i0, int64_t i1) { widen_rounded(a, rsA, csA, K, i0, i1, widened); });
  GemmShape one = s;
  one.batch = 1;
  one.transA = false;
  gemm_bf16(widened, b, c, one);
}

void run_path(const float* a, const uint16_t* b, float* c, const GemmShape& s, Bf16Path path) {
  for (int64_t g = 0; g < s.batch; g++) {
    const float* ag = a + g * s.M * s.K;
    const uint16_t* bg = b + g * s.K * s.N;
    float* cg = c + g * s.M * s.N;
    const int64_t rsA = s.transA ? 1 : s.K, csA = s.transA ? s.M : 1;
    if (path == Bf16Path::kFloat32 || s.K == 0) product_float32(ag, rsA, csA, bg, cg, s);
    else product_bf16(ag, rsA, csA, bg, cg, s, path);
  }
}

// ---- Path choice and the self-check.

const char* const kPathNames[kBf16PathCount] = {"amx", "avx512bf16", "float32"};

// Largest |path - float32 path| over shapes that reach every branch of the kernels (edges, several depth steps,
// both weight layouts, few rows), relative to sum |a_k b_k| of the element. Products are exact, so only float32
// rounding of the sums separates the paths: a few units in K * 2^-24, and more means a broken kernel.
constexpr double kSelfCheckTolerance = 1e-5;

double self_check_error(Bf16Path path) {
  struct Case {
    int64_t M, N, K;
    bool transA, transB, accumulate;
  };
  const Case cases[] = {{37, 45, 77, false, true, false}, {37, 45, 77, false, false, true},
                        {3, 45, 77, false, true, true},    {70, 40, 2100, true, true, false},
                        {33, 50, 1100, false, false, false}};
  std::mt19937 rng(12345);
  std::uniform_real_distribution<float> dist(-2.0f, 2.0f);
  double worst = 0;
  for (const Case& cs : cases) {
    const GemmShape s{1, cs.M, cs.N, cs.K, cs.transA, cs.transB, cs.accumulate};
    std::vector<float> a(cs.M * cs.K), c0(cs.M * cs.N), c1;
    std::vector<uint16_t> b(cs.K * cs.N);
    for (float& x : a) x = dist(rng);
    for (uint16_t& x : b) x = round_bf16(dist(rng));
    for (float& x : c0) x = dist(rng);
    const std::vector<float> initial = c0;
    c1 = c0;
    std::vector<float> scale(cs.M * cs.N, 0.0f);
    GemmShape abs = s;
    abs.accumulate = false;
    std::vector<float> aAbs(a.size());
    std::vector<uint16_t> bAbs(b.size());
    for (size_t i = 0; i < a.size(); i++) aAbs[i] = std::fabs(a[i]);
    for (size_t i = 0; i < b.size(); i++) bAbs[i] = b[i] & 0x7fff;
    run_path(aAbs.data(), bAbs.data(), scale.data(), abs, Bf16Path::kFloat32);
    run_path(a.data(), b.data(), c0.data(), s, Bf16Path::kFloat32);
    run_path(a.data(), b.data(), c1.data(), s, path);
    for (size_t i = 0; i < c0.size(); i++) {
      const double err = std::fabs(static_cast<double>(c0[i]) - c1[i]) / (scale[i] + std::fabs(initial[i]) + 1e-30);
      worst = std::isnan(err) ? INFINITY : std::max(worst, err);
    }
  }
  return worst;
}

// Per bf16 path: 0 not checked yet, 1 passed its self-check, -1 failed it.
int gChecked[kBf16PathCount] = {};

bool passes_self_check(Bf16Path p) {
  int& state = gChecked[static_cast<int>(p)];
  if (state == 0) {
    const double err = self_check_error(p);
    state = err <= kSelfCheckTolerance ? 1 : -1;
    if (state < 0)
      std::fprintf(stderr, "retune: the %s bf16 kernel disagrees with the float32 path (error %.3g > %.3g); not using it\n",
                   kPathNames[static_cast<int>(p)], err, kSelfCheckTolerance);
  }
  return state > 0;
}

}  // namespace

const char* bf16_path_name(Bf16Path p) { return kPathNames[static_cast<int>(p)]; }

Bf16Path bf16_path() {
  for (Bf16Path p : {Bf16Path::kAmx, Bf16Path::kAvx512Bf16})
    if (allowed(p) && passes_self_check(p)) return p;
  return Bf16Path::kFloat32;
}

void round_bf16_array(const float* x, uint16_t* out, int64_t n) {
  parallel_for(n, int64_t(1) << 16, [&](int64_t i0, int64_t i1) { round_range(x, out, i0, i1); });
}

void gemm_bf16_compute(const float* a, const uint16_t* b, float* c, const GemmShape& s) {
  if (!s.transB || s.M > kDecodeRows) return run_path(a, b, c, s, bf16_path());
  for (int64_t g = 0; g < s.batch; g++) {
    const int64_t rsA = s.transA ? 1 : s.K, csA = s.transA ? s.M : 1;
    gemm_bf16_rows(a + g * s.M * s.K, rsA, csA, b + g * s.N * s.K, c + g * s.M * s.N, s.M, s.N, s.K, s.accumulate);
  }
}

}  // namespace rt
