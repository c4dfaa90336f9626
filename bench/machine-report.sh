#!/usr/bin/env bash
# The whole CPU-engine comparison on one machine, in one command: what the machine is, whether every
# kernel set it has computes what the AVX2 set computes (bit-identity op tests, kernel-agreement on a
# random model), then fugaku vs node-llama-cpp on the same random GGUF files (bench/peers/compare.mjs:
# STREAM bounds, threads 1 and 2, f16 KV cache for both). The procedure behind docs/BENCHMARKS.md's
# runs on the lent Sapphire Rapids machine, so that another machine is measured the same way.
#
#   npm install && NODE_LLAMA_CPP_SKIP_DOWNLOAD=true npm --prefix bench/peers install
#   bench/machine-report.sh [--work DIR] [--presets gpt2-small,1b] [--dtypes q8_0,q4_0] [--threads 1,2]
#                           [--reps 3] [--with-13b] [--cpus 0,1]
#
# --cpus pins everything to those CPUs with taskset (e.g. two CPUs on different cores, to measure a
# "2-core machine" on a larger one). --with-13b adds Fugaku-LLM-13B's shape at q4_0 (a 7.5 GB GGUF
# file written directly; 2 threads, 2 runs, 32 + 16 tokens). Everything is also written to
# DIR/report.txt. Each step's own command is printed before it runs.
set -euo pipefail
cd "$(dirname "$0")/.."

work=/tmp/fugaku-bench presets=gpt2-small,1b dtypes=q8_0,q4_0 threads=1,2 reps=3 with13b=0 cpus=
usage() { echo "usage: bench/machine-report.sh [--work DIR] [--presets gpt2-small,1b] [--dtypes q8_0,q4_0] [--threads 1,2] [--reps 3] [--with-13b] [--cpus 0,1]"; }
while [ $# -gt 0 ]; do
  case "$1" in
    --work) work=$2; shift 2 ;;
    --presets) presets=$2; shift 2 ;;
    --dtypes) dtypes=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --cpus) cpus=$2; shift 2 ;;
    --with-13b) with13b=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "machine-report: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
done
[ -f dist/src/backend/native.js ] || { echo "machine-report: run npm install first (dist/ is missing)" >&2; exit 2; }
[ -d bench/peers/node_modules/node-llama-cpp ] || {
  echo "machine-report: node-llama-cpp is missing; run NODE_LLAMA_CPP_SKIP_DOWNLOAD=true npm --prefix bench/peers install" >&2; exit 2; }
mkdir -p "$work"
exec > >(tee "$work/report.txt") 2>&1

pin=()
[ -n "$cpus" ] && pin=(taskset -c "$cpus")
pre=${cpus:+taskset -c $cpus }
step() { echo; echo "\$ $pre$*"; "${pin[@]}" "$@"; }

echo "== machine ($(date -u +%Y-%m-%dT%H:%MZ))"
grep -m1 'model name' /proc/cpuinfo || true
echo "cpus: $(nproc) online${cpus:+, pinned to $cpus}; memory: $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)"
# The kernel set auto picks, the default thread count, and every non-portable set this CPU has (avx2 or
# neon first: kernel-agreement compares the others with the first).
read -r auto nthreads sets < <(node -e "import('./dist/src/backend/native.js').then(({ NativeBackend, availableKernels }) => import('./dist/src/backend/native-addon.js').then(({ loadNativeAddon }) => {
  const b = NativeBackend.create({});
  console.log(b.kernels, b.threads, availableKernels(loadNativeAddon().addon.cpuFeatures()).filter((k) => k !== 'portable').reverse().join(','));
}))")
echo "node $(node --version); kernels: $auto (auto, of $sets), $nthreads threads by default"

echo; echo "== correctness of this machine's kernel sets"
# The op tests that hold this machine's x86 kernel sets to the same bits, and the quantization corner cases.
echo; echo "\$ ${pre}node --test --test-name-pattern='bit-identical|bit-exact' dist/test/backend-ops.test.js"
"${pin[@]}" node --test --test-name-pattern='bit-identical|bit-exact' dist/test/backend-ops.test.js | grep -E '^not ok|^# (pass|fail) '
# A small random model through every set against the avx2 (or neon) one: logits and greedy tokens.
if [ ! -f "$work/tiny/config.json" ]; then step node dist/bench/make-checkpoint.js --preset tiny --out "$work/tiny" --force; fi
step node dist/bench/kernel-agreement.js --model "$work/tiny" --simd "$sets" --dtypes q8_0,q4_0

echo; echo "== fugaku vs node-llama-cpp (same GGUF files, f16 KV cache for both)"
step node bench/peers/compare.mjs --work "$work" --presets "$presets" --dtypes "$dtypes" --threads "$threads" --reps "$reps" --kv-cache-dtype f16
if [ "$with13b" = 1 ]; then
  step node bench/peers/compare.mjs --work "$work" --presets 13b --dtypes q4_0 --threads 2 --reps 2 --prompt-tokens 32 --new-tokens 16 --kv-cache-dtype f16
fi
echo; echo "report: $work/report.txt"
