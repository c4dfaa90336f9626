// CPU features, the kernel sets they allow, and the kernel table of a level (kernels.h).
#include "cpu.h"

#include "common.h"
#include "kernels.h"

#ifdef FUGAKU_X86
#include <cpuid.h>
#endif
#ifdef __linux__
#include <sys/syscall.h>
#include <unistd.h>
#endif
#if defined(FUGAKU_ARM64) && defined(__linux__)
#include <sys/auxv.h>
#endif

namespace fugaku {
namespace {

#ifdef FUGAKU_X86
bool cpu_has_f16c() {
  unsigned a, b, c, d;
  return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C);
}
bool cpu_has_avx2_kernels() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && cpu_has_f16c();
}
// AVX-VNNI: CPUID leaf 7, sub-leaf 1, EAX bit 4 (VEX-encoded, so the OS support AVX2 needs is enough).
bool cpu_reports_avxvnni() {
  unsigned a, b, c, d;
  return __get_cpuid_count(7, 1, &a, &b, &c, &d) && (a & (1u << 4));
}
bool cpu_has_avxvnni_kernels() { return cpu_has_avx2_kernels() && cpu_reports_avxvnni(); }
// libgcc's checks include the OS saving the 512-bit state (XCR0).
bool cpu_has_avx512_kernels() {
  __builtin_cpu_init();
  return cpu_has_avx2_kernels() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
}
// AMX-TILE and AMX-INT8 (CPUID leaf 7 EDX bits 24 and 25), the OS saving the tile state (XCR0 bits 17
// and 18), and, on Linux, this process's permission to use it: the kernel hands out the 8 KiB tile
// state only on request (arch_prctl ARCH_REQ_XCOMP_PERM, Linux 5.16 and later); asking again is
// harmless. Elsewhere AMX is not used.
bool cpu_has_amx_kernels() {
  if (!cpu_has_avx512_kernels()) return false;
  unsigned a, b, c, d;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d) || !(d & (1u << 24)) || !(d & (1u << 25))) return false;
  if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27))) return false;  // OSXSAVE: xgetbv is usable
  unsigned lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  if ((lo & (3u << 17)) != (3u << 17)) return false;
#if defined(__linux__)
  constexpr long kReqXcompPerm = 0x1023, kXtiledata = 18;
  return syscall(SYS_arch_prctl, kReqXcompPerm, kXtiledata) == 0;
#else
  return false;
#endif
}
#endif

#ifdef FUGAKU_ARM64
// ARMv8.2 DotProd (sdot/udot): a compile-time feature (Apple Silicon builds) or the kernel's HWCAP.
bool cpu_has_dotprod() {
#if defined(__ARM_FEATURE_DOTPROD)
  return true;
#elif defined(__linux__) && defined(HWCAP_ASIMDDP)
  return (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
#else
  return false;
#endif
}
#endif

}  // namespace

CpuFeatures cpu_features() {
  CpuFeatures f;
#ifdef FUGAKU_X86
  __builtin_cpu_init();
  f.x86 = true;
  f.avx2 = __builtin_cpu_supports("avx2");
  f.fma = __builtin_cpu_supports("fma");
  f.f16c = cpu_has_f16c();
  f.avx512f = __builtin_cpu_supports("avx512f");
  f.avx512bw = __builtin_cpu_supports("avx512bw");
  f.avx512vl = __builtin_cpu_supports("avx512vl");
  f.avx512vnni = __builtin_cpu_supports("avx512vnni");
  f.avx512bf16 = __builtin_cpu_supports("avx512bf16");
  f.avxvnni = cpu_reports_avxvnni();
  f.amx = cpu_has_amx_kernels();
#endif
#ifdef FUGAKU_ARM64
  f.aarch64 = true;
  f.dotprod = cpu_has_dotprod();
#endif
  return f;
}

const char* level_unavailable(int level) {
#ifdef FUGAKU_X86
  if (x86_level(level) && !cpu_has_avx2_kernels()) return "this CPU lacks AVX2/FMA/F16C";
  if ((level == AVX512 || level == AMX) && !cpu_has_avx512_kernels()) return "this CPU lacks AVX-512 F/BW/VL/VNNI";
  if (level == AVXVNNI && !cpu_has_avxvnni_kernels()) return "this CPU lacks AVX-VNNI";
  if (level == AMX && !cpu_has_amx_kernels()) return "this CPU lacks AMX-INT8, or the OS did not grant the tile state (Linux 5.16 or later)";
  if (level == NEON) return "NEON kernels need a 64-bit Arm CPU";
#elif defined(FUGAKU_ARM64)
  if (x86_level(level)) return "AVX2/AVX-512/AVX-VNNI/AMX kernels need an x86-64 CPU";
#else
  if (level > PORTABLE) return "SIMD kernels need an x86-64 or 64-bit Arm CPU";
#endif
  return nullptr;
}

Kernels make_kernels(int level) {
  Kernels k = portable_kernels();
#ifdef FUGAKU_X86
  if (x86_level(level)) x86::fill(k, level);
#endif
#ifdef FUGAKU_ARM64
  if (level == NEON) arm::fill_neon(k, cpu_has_dotprod());
#endif
  return k;
}

}  // namespace fugaku
