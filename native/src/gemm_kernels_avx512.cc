// The AVX-512 build of the GEMM micro-kernel (gemm_micro.inc): a 12x32 tile of C in 24 zmm registers; per k two
// 16-float loads of B, twelve broadcasts of A (folded into the FMAs as memory operands) and 24 FMAs. Only this
// file's own functions are compiled for AVX-512 (the pragma comes after every header), so the addon still loads and
// runs on a CPU without it; gemm_kernel() picks this build only where cpu.h says the CPU and OS run it.
#include <cstring>

#include "gemm.h"
#include "simd.h"

namespace rt {

#ifdef RT_HAVE_AVX2_PATH
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,avx512f,avx512dq,avx512bw,avx512vl"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma,avx512f,avx512dq,avx512bw,avx512vl")
#endif
#define RT_W 16
#define RT_MR 12
#define RT_NR 32
#define RT_NS avx512
#define RT_NAME "avx512 12x32"
#include "gemm_micro.inc"
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

const GemmKernel& gemm_kernel_avx512() { return avx512::kKernel; }
#endif

}  // namespace rt
