#!/bin/sh
# Runs native/check/neon-emulated.cc: the NEON kernels (native/arch/arm/neon.h, neon_float.h) cross-compiled for aarch64 and
# run under qemu-aarch64, for machines that are not 64-bit Arm. Needs g++-aarch64-linux-gnu and
# qemu-user (apt-get install g++-aarch64-linux-gnu qemu-user). A development check, not part of `npm test`.
set -eu
cd "$(dirname "$0")/.."
if ! command -v aarch64-linux-gnu-g++ >/dev/null || ! command -v qemu-aarch64 >/dev/null; then
  echo "needs aarch64-linux-gnu-g++ and qemu-aarch64: apt-get install g++-aarch64-linux-gnu qemu-user" >&2
  exit 2
fi
out="${TMPDIR:-/tmp}/fugaku-neon-emulated"
flags="-std=c++17 -O2 -static -ffp-contract=off -Wall -Wno-unused-function native/check/neon-emulated.cc"
# With --dotprod the check refuses to run (exit 2) on a CPU without the extension, so a CPU model
# lacking it cannot pass the DotProd checks.
echo "GCC, plain ARMv8-A with the DotProd target attribute (as node-gyp builds the addon on Linux):"
aarch64-linux-gnu-g++ $flags -o "$out" && qemu-aarch64 -cpu max "$out" --dotprod
echo "the same build on a Cortex-A72 (ARMv8.0, no DotProd: the plain NEON kernels):"
qemu-aarch64 -cpu cortex-a72 "$out"
echo "ggml's other block types (native/check/blocks-sets.cc), neon set vs portable, with and without DotProd:"
blocks="native/check/blocks-sets.cc native/blocks.cc native/cpu.cc native/quant.cc native/load.cc native/matmul.cc native/attention.cc native/ops.cc native/arch/portable.cc native/arch/portable_blocks.cc native/arch/arm/kernels.cc native/arch/arm/blocks_neon.cc"
aarch64-linux-gnu-g++ -std=c++17 -O2 -static -ffp-contract=off -fno-math-errno -pthread -Wall -Wno-unused-function $blocks -o "$out-blocks"
qemu-aarch64 -cpu max "$out-blocks" && qemu-aarch64 -cpu cortex-a72 "$out-blocks"
if command -v clang++ >/dev/null; then
  echo "clang, plain ARMv8-A (sdot as inline assembly in DotProd functions):"
  clang++ --target=aarch64-linux-gnu $flags -o "$out" && qemu-aarch64 -cpu max "$out" --dotprod && qemu-aarch64 -cpu cortex-a72 "$out"
  echo "clang with DotProd on for the whole file (as Apple Silicon's default target has it):"
  clang++ --target=aarch64-linux-gnu -march=armv8.2-a+dotprod $flags -o "$out" && qemu-aarch64 -cpu max "$out" --dotprod
fi
