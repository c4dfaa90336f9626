#!/bin/sh
# Runs native/check/blocks-sets.cc natively: every kernel set this CPU has against the portable one on
# ggml's other block types (Q4_1 ... IQ1_M). A development check, not part of `npm test`.
set -eu
cd "$(dirname "$0")/.."
out="${TMPDIR:-/tmp}/fugaku-blocks-sets"
# binding.gyp's sources but the N-API glue (one list to keep)
srcs="native/check/blocks-sets.cc $(node -e 'const g = eval("(" + require("fs").readFileSync("binding.gyp", "utf8").replace(/^\s*#.*$/gm, "") + ")"); console.log(g.targets[0].sources.filter((s) => !s.endsWith("napi.cc")).join(" "))')"
${CXX:-g++} -std=c++17 -O2 -ffp-contract=off -fno-math-errno -pthread -Wall -Wno-unused-function $srcs -o "$out"
"$out"
