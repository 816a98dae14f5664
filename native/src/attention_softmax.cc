// The softmax steps of the attention kernels (see attention_softmax.h), one version per kernel path.
#include "attention_softmax.h"

#include <cmath>

#include "simd.h"

namespace rt {
namespace {

constexpr int64_t kB = kAttentionBlock;

// Online-softmax update of one block of raw scores s (kB, kB) for all kB rows: rescales the running sums and acc
// rows (kB, hdp) by exp(mOld - mNew) and leaves the block's probabilities (relative to the new max) in p, zero where
// masked. Masked entries of s may hold anything (skipped tiles of a diagonal block): they are only selected away.
void online_softmax_portable(const float* s, const unsigned char* mask, bool full, int64_t hdp, float scale, float* p,
                             float* rowMax, float* rowSum, float* acc) {
  for (int64_t i = 0; i < kB; i++) {
    const float* si = s + i * kB;
    const unsigned char* mi = mask + i * kB;
    float* pi = p + i * kB;
    for (int64_t j = 0; j < kB; j++) pi[j] = full || mi[j] ? si[j] * scale : -INFINITY;
    float blockMax = -INFINITY;
    for (int64_t j = 0; j < kB; j++) blockMax = pi[j] > blockMax ? pi[j] : blockMax;
    if (blockMax == -INFINITY) {
      for (int64_t j = 0; j < kB; j++) pi[j] = 0.0f;
      continue;
    }
    const float mNew = blockMax > rowMax[i] ? blockMax : rowMax[i];
    const float alpha = fast_exp(rowMax[i] - mNew);
    for (int64_t j = 0; j < kB; j++) pi[j] = full || mi[j] ? fast_exp(pi[j] - mNew) : 0.0f;
    float sum = 0.0f;
    for (int64_t j = 0; j < kB; j++) sum += pi[j];
    rowSum[i] = rowSum[i] * alpha + sum;
    rowMax[i] = mNew;
    if (alpha != 1.0f)
      for (int64_t d = 0; d < hdp; d++) acc[i * hdp + d] *= alpha;
  }
}

#ifdef RT_HAVE_AVX2_PATH
// fast_exp on 8 lanes (same range reduction and polynomial), with FMAs: half the instructions, and the score
// gradients spend most of their time here. It rounds a little differently from the scalar fast_exp, but always the
// same way on a given machine.
RT_AVX2 inline __m256 exp8(__m256 x) {
  const __m256 lo = _mm256_set1_ps(-87.33654f);
  x = _mm256_min_ps(_mm256_max_ps(x, lo), _mm256_set1_ps(88.0f));
  const __m256 magic = _mm256_set1_ps(12582912.0f);
  const __m256 n = _mm256_sub_ps(_mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), magic), magic);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  p = _mm256_add_ps(_mm256_fmadd_ps(_mm256_mul_ps(p, r), r, r), _mm256_set1_ps(1.0f));
  const __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvttps_epi32(n), _mm256_set1_epi32(127)), 23);
  const __m256 y = _mm256_mul_ps(p, _mm256_castsi256_ps(bits));
  return _mm256_andnot_ps(_mm256_cmp_ps(x, lo, _CMP_LE_OQ), y);
}

// Lanes where the mask byte is nonzero, as an all-ones float mask.
RT_AVX2 inline __m256 visible8(const unsigned char* m) {
  const __m256i wide = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(m)));
  return _mm256_castsi256_ps(_mm256_cmpgt_epi32(wide, _mm256_setzero_si256()));
}

RT_AVX2 inline float hmax8(__m256 v) {
  __m128 x = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  x = _mm_max_ps(x, _mm_movehl_ps(x, x));
  x = _mm_max_ss(x, _mm_shuffle_ps(x, x, 1));
  return _mm_cvtss_f32(x);
}

RT_AVX2 inline float hsum8(__m256 v) {
  __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  x = _mm_add_ps(x, _mm_movehl_ps(x, x));
  x = _mm_add_ss(x, _mm_shuffle_ps(x, x, 1));
  return _mm_cvtss_f32(x);
}

// The same update as online_softmax_portable, in three passes so that the per-row scalars (new max, rescale factor,
// sum) are computed 8 rows at a time: scaled scores and row maxima; the factors; probabilities and row sums. full:
// every pair of the block is visible, so the mask need not be read. The max and sum combine lanes in a different
// (fixed) order from the portable version.
RT_AVX2 void online_softmax_avx2(const float* s, const unsigned char* mask, bool full, int64_t hdp, float scale,
                                 float* p, float* rowMax, float* rowSum, float* acc) {
  static_assert(kB == 32, "four vectors per row");
  alignas(32) float blockMax[kB], alpha[kB], shift[kB], sums[kB];
  const __m256 vscale = _mm256_set1_ps(scale), ninf = _mm256_set1_ps(-INFINITY), one = _mm256_set1_ps(1.0f);
  for (int64_t i = 0; i < kB; i++) {
    __m256 x[4];
    for (int v = 0; v < 4; v++) {
      x[v] = _mm256_mul_ps(_mm256_loadu_ps(s + i * kB + 8 * v), vscale);
      if (!full) x[v] = _mm256_blendv_ps(ninf, x[v], visible8(mask + i * kB + 8 * v));
      _mm256_storeu_ps(p + i * kB + 8 * v, x[v]);
    }
    blockMax[i] = hmax8(_mm256_max_ps(_mm256_max_ps(x[0], x[1]), _mm256_max_ps(x[2], x[3])));
  }
  // A row with nothing visible yet has max -inf: its factor is 1 and its scores are shifted by 0 (exp(-inf) = 0).
  for (int64_t i = 0; i < kB; i += 8) {
    const __m256 old = _mm256_loadu_ps(rowMax + i);
    const __m256 mNew = _mm256_max_ps(_mm256_load_ps(blockMax + i), old);
    const __m256 none = _mm256_cmp_ps(mNew, ninf, _CMP_EQ_OQ);
    _mm256_store_ps(alpha + i, _mm256_blendv_ps(exp8(_mm256_sub_ps(old, mNew)), one, none));
    _mm256_store_ps(shift + i, _mm256_andnot_ps(none, mNew));
    _mm256_storeu_ps(rowMax + i, mNew);
  }
  for (int64_t i = 0; i < kB; i++) {
    const __m256 m = _mm256_set1_ps(shift[i]);
    __m256 sum = _mm256_setzero_ps();
    for (int v = 0; v < 4; v++) {
      const __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(p + i * kB + 8 * v), m));  // masked: -inf -> 0
      _mm256_storeu_ps(p + i * kB + 8 * v, e);
      sum = _mm256_add_ps(sum, e);
    }
    sums[i] = hsum8(sum);
  }
  for (int64_t i = 0; i < kB; i += 8) {
    const __m256 l = _mm256_mul_ps(_mm256_loadu_ps(rowSum + i), _mm256_load_ps(alpha + i));
    _mm256_storeu_ps(rowSum + i, _mm256_add_ps(l, _mm256_load_ps(sums + i)));
  }
  for (int64_t i = 0; i < kB; i++) {
    if (alpha[i] == 1.0f) continue;
    const __m256 a = _mm256_set1_ps(alpha[i]);
    for (int64_t d = 0; d < hdp; d += 8)
      _mm256_storeu_ps(acc + i * hdp + d, _mm256_mul_ps(_mm256_loadu_ps(acc + i * hdp + d), a));
  }
}

// ---- The same two kernels on zmm for the AVX-512 paths: every lane runs exp8's instructions, and the row maxima
// and sums combine the lanes in the order of the ymm versions, so both give the same bits.
// The all-lanes mask forms of some intrinsics below: GCC 12 warns about the plain forms' undefined source register.
constexpr __mmask16 kAll16 = 0xffff;

RT_AVX512 inline __m512 exp16(__m512 x) {
  const __m512 lo = _mm512_set1_ps(-87.33654f);
  x = _mm512_maskz_min_ps(kAll16, _mm512_maskz_max_ps(kAll16, x, lo), _mm512_set1_ps(88.0f));
  const __m512 magic = _mm512_set1_ps(12582912.0f);
  const __m512 n = _mm512_sub_ps(_mm512_fmadd_ps(x, _mm512_set1_ps(1.44269504088896341f), magic), magic);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  p = _mm512_add_ps(_mm512_fmadd_ps(_mm512_mul_ps(p, r), r, r), _mm512_set1_ps(1.0f));
  const __m512i biased = _mm512_add_epi32(_mm512_maskz_cvttps_epi32(kAll16, n), _mm512_set1_epi32(127));
  const __m512i bits = _mm512_maskz_slli_epi32(kAll16, biased, 23);
  const __m512 y = _mm512_mul_ps(p, _mm512_castsi512_ps(bits));
  return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(x, lo, _CMP_NLE_UQ), y);
}

// Lanes where the mask byte is nonzero.
RT_AVX512 inline __mmask16 visible16(const unsigned char* m) {
  const __m512i wide = _mm512_maskz_cvtepu8_epi32(kAll16, _mm_loadu_si128(reinterpret_cast<const __m128i*>(m)));
  return _mm512_cmpgt_epi32_mask(wide, _mm512_setzero_si512());
}

RT_AVX512 inline __m256 low8(__m512 x) { return _mm512_maskz_extractf32x8_ps(0xff, x, 0); }
RT_AVX512 inline __m256 high8(__m512 x) { return _mm512_maskz_extractf32x8_ps(0xff, x, 1); }

RT_AVX512 void online_softmax_avx512(const float* s, const unsigned char* mask, bool full, int64_t hdp, float scale,
                                     float* p, float* rowMax, float* rowSum, float* acc) {
  static_assert(kB == 32, "two vectors per row");
  alignas(64) float blockMax[kB], alpha[kB], shift[kB], sums[kB];
  const __m512 vscale = _mm512_set1_ps(scale), ninf = _mm512_set1_ps(-INFINITY);
  for (int64_t i = 0; i < kB; i++) {
    __m512 x[2];
    for (int v = 0; v < 2; v++) {
      x[v] = _mm512_mul_ps(_mm512_loadu_ps(s + i * kB + 16 * v), vscale);
      if (!full) x[v] = _mm512_mask_blend_ps(visible16(mask + i * kB + 16 * v), ninf, x[v]);
      _mm512_storeu_ps(p + i * kB + 16 * v, x[v]);
    }
    // The ymm version's max(max(x0, x1), max(x2, x3)), 8-lane vectors x0..x3 being the halves.
    blockMax[i] = hmax8(_mm256_max_ps(_mm256_max_ps(low8(x[0]), high8(x[0])), _mm256_max_ps(low8(x[1]), high8(x[1]))));
  }
  const __m512 one = _mm512_set1_ps(1.0f);
  for (int64_t i = 0; i < kB; i += 16) {
    const __m512 old = _mm512_loadu_ps(rowMax + i);
    const __m512 mNew = _mm512_maskz_max_ps(kAll16, _mm512_load_ps(blockMax + i), old);
    const __mmask16 none = _mm512_cmp_ps_mask(mNew, ninf, _CMP_EQ_OQ);
    _mm512_store_ps(alpha + i, _mm512_mask_blend_ps(none, exp16(_mm512_sub_ps(old, mNew)), one));
    _mm512_store_ps(shift + i, _mm512_maskz_mov_ps(static_cast<__mmask16>(~none), mNew));
    _mm512_storeu_ps(rowMax + i, mNew);
  }
  for (int64_t i = 0; i < kB; i++) {
    const __m512 m = _mm512_set1_ps(shift[i]);
    const __m512 e0 = exp16(_mm512_sub_ps(_mm512_loadu_ps(p + i * kB), m));  // masked: -inf -> 0
    const __m512 e1 = exp16(_mm512_sub_ps(_mm512_loadu_ps(p + i * kB + 16), m));
    _mm512_storeu_ps(p + i * kB, e0);
    _mm512_storeu_ps(p + i * kB + 16, e1);
    // ((0 + e0) + e1) + e2) + e3 as the ymm version sums its four 8-lane vectors.
    __m256 sum = _mm256_add_ps(_mm256_add_ps(_mm256_setzero_ps(), low8(e0)), high8(e0));
    sum = _mm256_add_ps(_mm256_add_ps(sum, low8(e1)), high8(e1));
    sums[i] = hsum8(sum);
  }
  for (int64_t i = 0; i < kB; i += 16) {
    const __m512 l = _mm512_mul_ps(_mm512_loadu_ps(rowSum + i), _mm512_load_ps(alpha + i));
    _mm512_storeu_ps(rowSum + i, _mm512_add_ps(l, _mm512_load_ps(sums + i)));
  }
  for (int64_t i = 0; i < kB; i++) {
    if (alpha[i] == 1.0f) continue;
    const __m512 a = _mm512_set1_ps(alpha[i]);
    int64_t d = 0;
    for (; d + 16 <= hdp; d += 16)
      _mm512_storeu_ps(acc + i * hdp + d, _mm512_mul_ps(_mm512_loadu_ps(acc + i * hdp + d), a));
    for (; d < hdp; d += 8)
      _mm256_storeu_ps(acc + i * hdp + d, _mm256_mul_ps(_mm256_loadu_ps(acc + i * hdp + d), low8(a)));
  }
}

RT_AVX512 void score_grads_avx512(const float* __restrict s, const unsigned char* __restrict mask, bool full,
                                  const float* lse, const float* D, float scale, float* __restrict p,
                                  float* __restrict dp) {
  const __m512 vs = _mm512_set1_ps(scale);
  for (int64_t i = 0; i < kB; i++) {
    const __m512 li = _mm512_set1_ps(lse[i]), di = _mm512_set1_ps(D[i]);
    for (int64_t j = 0; j < kB; j += 16) {
      const int64_t o = i * kB + j;
      const __mmask16 visible = full ? static_cast<__mmask16>(0xffff) : visible16(mask + o);
      const __m512 pij = _mm512_maskz_mov_ps(visible, exp16(_mm512_fmsub_ps(_mm512_loadu_ps(s + o), vs, li)));
      _mm512_storeu_ps(p + o, pij);
      const __m512 g = _mm512_mul_ps(_mm512_mul_ps(pij, _mm512_sub_ps(_mm512_loadu_ps(dp + o), di)), vs);
      _mm512_storeu_ps(dp + o, _mm512_maskz_mov_ps(visible, g));
    }
  }
}
#endif


// p = exp(s * scale - lse_i) where visible, else 0; dp becomes dS = p * (dp - D_i) * scale where visible, else 0.
// Both are selected rather than multiplied by a zero p, as masked s and dp may hold anything.
void score_grads_portable(const float* __restrict s, const unsigned char* __restrict mask, bool full, const float* lse,
                          const float* D, float scale, float* __restrict p, float* __restrict dp) {
  for (int64_t i = 0; i < kB; i++) {
    const float li = lse[i], di = D[i];
    for (int64_t j = 0; j < kB; j++) {
      const int64_t o = i * kB + j;
      const float e = fast_exp(s[o] * scale - li);  // computed everywhere, then selected, so the loop vectorizes
      const bool visible = full || mask[o] != 0;
      const float pij = visible ? e : 0.0f;
      p[o] = pij;
      dp[o] = visible ? pij * (dp[o] - di) * scale : 0.0f;
    }
  }
}

#ifdef RT_HAVE_AVX2_PATH
RT_AVX2 void score_grads_avx2(const float* __restrict s, const unsigned char* __restrict mask, bool full,
                              const float* lse, const float* D, float scale, float* __restrict p,
                              float* __restrict dp) {
  const __m256 vs = _mm256_set1_ps(scale), all = _mm256_castsi256_ps(_mm256_set1_epi32(-1));
  for (int64_t i = 0; i < kB; i++) {
    const __m256 li = _mm256_set1_ps(lse[i]), di = _mm256_set1_ps(D[i]);
    for (int64_t j = 0; j < kB; j += 8) {
      const int64_t o = i * kB + j;
      const __m256 visible = full ? all : visible8(mask + o);
      const __m256 pij = _mm256_and_ps(visible, exp8(_mm256_fmsub_ps(_mm256_loadu_ps(s + o), vs, li)));
      _mm256_storeu_ps(p + o, pij);
      const __m256 g = _mm256_mul_ps(_mm256_mul_ps(pij, _mm256_sub_ps(_mm256_loadu_ps(dp + o), di)), vs);
      _mm256_storeu_ps(dp + o, _mm256_and_ps(visible, g));
    }
  }
}
#endif

}  // namespace

void online_softmax(const float* s, const unsigned char* mask, bool full, int64_t hdp, float scale, float* p,
                    float* rowMax, float* rowSum, float* acc) {
#ifdef RT_HAVE_AVX2_PATH
  if (isa_at_least(Isa::avx512)) return online_softmax_avx512(s, mask, full, hdp, scale, p, rowMax, rowSum, acc);
  if (cpu_has_avx2_fma()) return online_softmax_avx2(s, mask, full, hdp, scale, p, rowMax, rowSum, acc);
#endif
  online_softmax_portable(s, mask, full, hdp, scale, p, rowMax, rowSum, acc);
}

void score_grads(const float* s, const unsigned char* mask, bool full, const float* lse, const float* D, float scale,
                 float* p, float* dp) {
#ifdef RT_HAVE_AVX2_PATH
  if (isa_at_least(Isa::avx512)) return score_grads_avx512(s, mask, full, lse, D, scale, p, dp);
  if (cpu_has_avx2_fma()) return score_grads_avx2(s, mask, full, lse, D, scale, p, dp);
#endif
  score_grads_portable(s, mask, full, lse, D, scale, p, dp);
}

}  // namespace rt
