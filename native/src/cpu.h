// What the CPU and the OS let the kernels use, and which kernel path is in force. Kernels ask active_isa() (or
// isa_at_least) when they choose code, so one switch moves every kernel to the same path; the path is part of what
// makes results reproducible (same inputs, thread count and path: same bits).
#pragma once

namespace rt {

// CPUID feature bits, each already combined with the OS support its registers need (XGETBV: ymm state for AVX2,
// opmask + zmm state for AVX-512, tile config + data state for AMX). The AMX bits say the CPU and kernel support
// tiles; a process must still ask Linux for tile data (arch_prctl ARCH_REQ_XCOMP_PERM) before its first tile
// instruction.
struct CpuFeatures {
  bool avx2_fma;
  bool avx512;  // F, BW, VL and DQ together
  bool avx512_bf16;
  bool amx_tile;
  bool amx_bf16;
};

const CpuFeatures& cpu_features();

// Kernel paths, each a superset of the one before: portable (no AVX2; cannot be chosen where AVX2 exists, since the
// compiler-cloned loops pick AVX2 by themselves), avx2 (AVX2+FMA), avx512 (fp32 on zmm), avx512bf16 (plus
// vdpbf16ps), amx (plus AMX-BF16 tiles).
enum class Isa : int { portable = 0, avx2 = 1, avx512 = 2, avx512bf16 = 3, amx = 4 };

// The widest path this CPU and OS run.
Isa host_isa();
// The path in force: host_isa() until set_isa picks another.
Isa active_isa();
inline bool isa_at_least(Isa isa) { return static_cast<int>(active_isa()) >= static_cast<int>(isa); }
// Picks a path; false (and nothing changes) when the host cannot run it or it is below avx2 on an AVX2 host.
bool set_isa(Isa isa);

const char* isa_name(Isa isa);
// false when the name is not one of isa_name's.
bool isa_from_name(const char* name, Isa* isa);

}  // namespace rt
