#!/bin/sh
# Runs native/check/blocks-sets.cc natively: every kernel set this CPU has against the portable one on
# ggml's other block types (Q4_1 ... IQ1_M). A development check, not part of `npm test`.
set -eu
cd "$(dirname "$0")/.."
out="${TMPDIR:-/tmp}/fugaku-blocks-sets"
srcs="native/check/blocks-sets.cc native/blocks.cc native/cpu.cc native/quant.cc native/load.cc native/matmul.cc native/attention.cc native/ops.cc native/arch/portable.cc native/arch/portable_blocks.cc native/arch/x86/kernels.cc native/arch/x86/blocks_avx2.cc native/arch/x86/blocks_avx512.cc native/arch/arm/kernels.cc native/arch/arm/blocks_neon.cc"
${CXX:-g++} -std=c++17 -O2 -ffp-contract=off -fno-math-errno -pthread -Wall -Wno-unused-function $srcs -o "$out"
"$out"
