// bf16 compute for products with a frozen bf16 weight, as PyTorch runs a bf16 model: the float32 activations A are
// rounded to bf16 (nearest even), each product of two bf16 values is exact in float32, and the sums are float32.
// C (batch, M, N) (=|+=) bf16(op(A)) (batch, M, K) @ op(B) (batch, K, N), B the bf16 weight.
#pragma once

#include <cstdint>
#include <string>

#include "gemm.h"

namespace rt {

// The kernel paths, fastest first. Each gives its own bits; one path, the same inputs and thread count give the
// same bits every time.
enum class Bf16Path { kAmx = 0, kAvx512Bf16 = 1, kFloat32 = 2 };
constexpr int kBf16PathCount = 3;

void gemm_bf16_compute(const float* a, const uint16_t* b, float* c, const GemmShape& s);

const char* bf16_path_name(Bf16Path p);
// Whether the host runs the path and it passed its self-check (the float32 path always does). The first call for a
// path runs the check; a path that disagrees with the float32 path is switched off with one notice on stderr.
bool bf16_path_usable(Bf16Path p);
// The path gemm_bf16_compute uses: the fastest usable one unless set_bf16_path chose another.
Bf16Path bf16_path();
// Forces a usable path (tests compare every path against the reference); false when it is not usable.
bool set_bf16_path(Bf16Path p);

}  // namespace rt
