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

// Products of at most kDecodeRows rows with a (N, K) weight run gemm_bf16_rows (decode_rows.h) on every path.
void gemm_bf16_compute(const float* a, const uint16_t* b, float* c, const GemmShape& s);

// out[i] = the bf16 bits of x[i]: nearest even, NaN kept quiet (torch's cast), the same on every path.
void round_bf16_array(const float* x, uint16_t* out, int64_t n);

const char* bf16_path_name(Bf16Path p);
// The path gemm_bf16_compute takes: the fastest that the kernel path in force (cpu.h) allows and that passed its
// self-check. The first use of a bf16 path checks it against the float32 path on small products; one that
// disagrees is switched off for the process, with one notice on stderr.
Bf16Path bf16_path();

}  // namespace rt
