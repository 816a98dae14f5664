// CPUID and XGETBV probing. On a compiler or architecture without them every feature reads false and the portable
// path is the only one.
#include "cpu.h"

#include <atomic>
#include <cstdint>
#include <cstring>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#define RT_HAVE_CPUID 1
#endif

namespace rt {
namespace {

#ifdef RT_HAVE_CPUID
// XCR0 through XGETBV, only after CPUID says the OS enabled XSAVE (OSXSAVE), since the instruction faults otherwise.
uint64_t xcr0() {
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27))) return 0;
  uint32_t lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<uint64_t>(hi) << 32) | lo;
}

CpuFeatures probe() {
  CpuFeatures f{};
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
  const bool fma = c & (1u << 12);
  if (__get_cpuid_max(0, nullptr) < 7) return f;
  __cpuid_count(7, 0, a, b, c, d);
  const unsigned b7 = b, d7 = d;
  __cpuid_count(7, 1, a, b, c, d);
  const unsigned a71 = a;
  const uint64_t x = xcr0();
  const bool osYmm = (x & 0x6) == 0x6;     // SSE + AVX state
  const bool osZmm = (x & 0xE6) == 0xE6;   // plus opmask, upper halves of zmm0-15, zmm16-31
  const bool osAmx = (x & 0x60000) == 0x60000;  // XTILECFG + XTILEDATA
  f.avx2_fma = osYmm && fma && (b7 & (1u << 5));
  const bool avx512 = (b7 & (1u << 16)) && (b7 & (1u << 17)) && (b7 & (1u << 30)) && (b7 & (1u << 31));  // F DQ BW VL
  f.avx512 = f.avx2_fma && osZmm && avx512;
  f.avx512_bf16 = f.avx512 && (a71 & (1u << 5));
  f.amx_tile = osAmx && (d7 & (1u << 24));
  f.amx_bf16 = f.amx_tile && (d7 & (1u << 22));
  return f;
}
#else
CpuFeatures probe() { return CpuFeatures{}; }
#endif

Isa widest(const CpuFeatures& f) {
  if (f.avx512_bf16 && f.amx_bf16) return Isa::amx;
  if (f.avx512_bf16) return Isa::avx512bf16;
  if (f.avx512) return Isa::avx512;
  if (f.avx2_fma) return Isa::avx2;
  return Isa::portable;
}

const char* const kNames[] = {"portable", "avx2", "avx512", "avx512bf16", "amx"};

std::atomic<int> gActive{-1};

}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures f = probe();
  return f;
}

Isa host_isa() {
  static const Isa isa = widest(cpu_features());
  return isa;
}

Isa active_isa() {
  const int a = gActive.load(std::memory_order_relaxed);
  return a < 0 ? host_isa() : static_cast<Isa>(a);
}

bool set_isa(Isa isa) {
  const int want = static_cast<int>(isa), host = static_cast<int>(host_isa());
  if (want > host || (isa == Isa::portable && host_isa() != Isa::portable)) return false;
  gActive.store(want, std::memory_order_relaxed);
  return true;
}

const char* isa_name(Isa isa) { return kNames[static_cast<int>(isa)]; }

bool isa_from_name(const char* name, Isa* isa) {
  for (int i = 0; i < 5; i++) {
    if (std::strcmp(name, kNames[i]) == 0) {
      *isa = static_cast<Isa>(i);
      return true;
    }
  }
  return false;
}

}  // namespace rt
