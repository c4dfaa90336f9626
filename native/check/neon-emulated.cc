// Checks native/neon.h without an Arm machine: cross-compiled for aarch64 (Debian's
// g++-aarch64-linux-gnu) and run under qemu-aarch64 (qemu-user), whose "max" CPU has the dot-product
// extension, by scripts/check-neon-emulated.sh. The kernels are built exactly as in the addon (for
// plain ARMv8-A with the DotProd target attribute) and compared with plain double-precision sums over
// the same quantized values.
#include <arm_neon.h>
#if defined(__linux__)
#include <sys/auxv.h>
#endif

#include "common.h"
#include "../neon.h"

namespace {
check::Tally tally;

template <int NR>
void check_group(bool q4, int64_t nb) {
  check::check_kernel(tally, q4 ? "group_q4_0" : "group_q8_0", q4, nb, 1, NR, [&](const check::QuantCase& c, float* got) {
    if (q4) neon::group_q4_0<NR>(c.groups[0].data(), nb, c.xqp.data(), c.xdp.data(), got);
    else neon::group_q8_0<NR>(c.groups[0].data(), nb, c.xqp.data(), c.xdp.data(), got);
  });
}

template <int NR>
void check_all() {
  for (int64_t nb : {1, 2, 3, 7, 162, 648}) { check_group<NR>(true, nb); check_group<NR>(false, nb); }
}
}  // namespace

int main() {
#if defined(__linux__) && defined(HWCAP_ASIMDDP)
  if (!(getauxval(AT_HWCAP) & HWCAP_ASIMDDP)) {
    std::printf("this CPU does not report the dot-product extension (HWCAP_ASIMDDP); run with qemu-aarch64 -cpu max\n");
    return 2;
  }
#endif
  check_all<1>();
  check_all<2>();
  check_all<3>();
  check_all<4>();
  std::printf("%d checks, %d failures\n", tally.checks, tally.failures);
  return tally.failures == 0 ? 0 : 1;
}
