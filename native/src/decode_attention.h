// Attention for generation: Tq new query rows of one sequence over the Tk keys and values its KV cache holds (the
// new rows' own included: the queries are the last Tq positions). Grouped-query heads; RoPE already applied.
#pragma once

#include <cstdint>

namespace rt {

struct CachedAttentionShape {
  int64_t Tq, Tk, nHead, nKV, hd;
  float scale;
  int64_t window;  // query at position p sees keys j with p - window < j <= p; 0: every key up to p
};

// q, out (Tq, nHead, hd); k, v (Tk, nKV, hd).
void attention_cached(const float* q, const float* k, const float* v, float* out, const CachedAttentionShape& s);

}  // namespace rt
