#!/bin/sh
# Runs native/check/avx512-emulated.cc: the AVX-512, AVX-VNNI and AMX kernels (native/arch/x86/avx512.h, avxvnni.h, amx.h) on SIMDe's portable
# intrinsics under AddressSanitizer, for machines without AVX-512. Needs libsimde-dev
# (apt-get install libsimde-dev). A development check, not part of `npm test`.
set -eu
cd "$(dirname "$0")/.."
if [ ! -f /usr/include/simde/x86/avx512.h ]; then
  echo "SIMDe headers not found: apt-get install libsimde-dev" >&2
  exit 2
fi
out="${TMPDIR:-/tmp}/fugaku-avx512-emulated"
g++ -std=c++17 -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -Wall -Wno-unused-function \
  native/check/avx512-emulated.cc -o "$out"
"$out"
