#!/usr/bin/env bash
# The GPU report, one command (about 5-8 minutes on an H200): Fugaku-LLM-13B's shape with random weights,
# our WebGPU backend (bf16, q8_0, q4_0) against HF transformers eager bf16 on the same GPU, in this run,
# and against the read-bandwidth bound (a probe kernel ÷ bytes of weights per token).
#
# On the lent device machine (no npm there): here, once, `bash bench/gpu-bundle.sh` and fetch the Vulkan
# loader into .gl/ (see the device tool's README: apt-get download libvulkan1 ...); then run
#   bash bench/gpu-report.sh            with carry [".gpu-bundle", ".gl"]
# Elsewhere (a machine with npm install done and a Vulkan driver), just run it.
# PRESET=tiny PROBE_MIB=64 bash bench/gpu-report.sh runs a small shape (e.g. on a software adapter, to prove it runs).
set -uo pipefail
cd "$(dirname "$0")/.."
PRESET="${PRESET:-13b}"
DTYPES="${DTYPES:-bf16 q8_0 q4_0}"
STREAMS="${STREAMS:-8}"
PROMPT="${PROMPT_TOKENS:-512}"
NEW="${NEW_TOKENS:-32}"
PROBE="${PROBE_MIB:-1024}"
OUT="${OUT:-${TMPDIR:-/tmp}/fugaku-gpu-report}"
mkdir -p "$OUT"

if ls .gl/*.deb >/dev/null 2>&1 && ! ldconfig -p 2>/dev/null | grep -q libvulkan.so.1; then
  for f in .gl/*.deb; do dpkg -x "$f" /; done
  ldconfig
fi
ICD=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ -z "${VK_DRIVER_FILES:-}" ] && [ -z "${VK_ICD_FILENAMES:-}" ] && [ -f "$ICD" ]; then export VK_DRIVER_FILES="$ICD"; fi

ROOT=.
[ -f .gpu-bundle/dist/bench/gpu.js ] && ROOT=.gpu-bundle
[ -f "$ROOT/dist/bench/gpu.js" ] || { echo "no $ROOT/dist/bench/gpu.js: run npm install (or bench/gpu-bundle.sh) first"; exit 1; }
command -v node >/dev/null || { echo "node is not installed on this machine"; exit 1; }
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader

echo "== HF transformers eager bf16 ($PRESET)"
if python3 -c 'import torch, transformers; assert torch.cuda.is_available()' 2>/dev/null; then
  timeout 300 python3 bench/hf_eager.py --preset "$PRESET" --streams "$STREAMS" --prompt-tokens "$PROMPT" --new-tokens "$NEW" | tee "$OUT/hf.txt"
else
  echo "PyTorch with CUDA is not available here: no HF peer in this run" | tee "$OUT/hf.txt"
fi

for d in $DTYPES; do
  echo "== fugaku webgpu $d ($PRESET)"
  timeout 300 node "$ROOT/dist/bench/gpu.js" --preset "$PRESET" --dtype "$d" --streams "$STREAMS" --prompt-tokens "$PROMPT" --new-tokens "$NEW" --probe-mib "$PROBE" | tee "$OUT/ours-$d.txt"
done

node - "$OUT" $DTYPES <<'JS'
const fs = require('fs');
const [out, ...dtypes] = process.argv.slice(2);
const json = (f) => { try { const l = fs.readFileSync(f, 'utf8').split('\n').find((x) => x.startsWith('JSON ')); return l ? JSON.parse(l.slice(5)) : null; } catch { return null; } };
const hf = json(`${out}/hf.txt`);
console.log('\n| dtype | decode bs1 tok/s | × HF eager bs1 | % of bandwidth bound | streams tok/s | × our bs1 | prefill tok/s | × HF eager prefill |');
console.log('|---|---|---|---|---|---|---|---|');
if (hf) console.log(`| HF eager bf16 | ${hf.decodeTokS.toFixed(2)} | 1.00 | | ${hf.batchTokS.toFixed(1)} | ${(hf.batchTokS / hf.decodeTokS).toFixed(2)} | ${hf.prefillTokS.toFixed(0)} | 1.00 |`);
for (const d of dtypes) {
  const r = json(`${out}/ours-${d}.txt`);
  if (!r) { console.log(`| ${d} | failed, see ${out}/ours-${d}.txt |`); continue; }
  const x = (a, b) => (b ? (a / b).toFixed(2) : 'n/a');
  console.log(`| ${d} | ${r.decodeTokS.toFixed(2)} | ${x(r.decodeTokS, hf?.decodeTokS)} | ${((100 * r.decodeTokS) / r.boundTokS).toFixed(0)}% of ${r.boundTokS.toFixed(1)} (${r.readGBs.toFixed(0)} GB/s) | ${r.batchTokS.toFixed(1)} | ${x(r.batchTokS, r.decodeTokS)} | ${r.prefillTokS.toFixed(0)} | ${x(r.prefillTokS, hf?.prefillTokS)} |`);
}
JS
