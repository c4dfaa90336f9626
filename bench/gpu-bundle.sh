#!/usr/bin/env bash
# Packs what bench/gpu-report.sh needs on a machine without npm access into .gpu-bundle/ (≈ 25 MB, git-ignored):
# the compiled dist/ and the WebGPU runtime (npm webgpu, linux-x64 build only). Run here after `npm test`
# (which compiles dist/), then carry .gpu-bundle (and .gl, the Vulkan loader; see bench/gpu-report.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
npx tsc -p tsconfig.json
rm -rf .gpu-bundle
mkdir -p .gpu-bundle/node_modules/webgpu/dist .gpu-bundle/node_modules/@webgpu
cp -r dist .gpu-bundle/dist
cp bench/hf_eager.py .gpu-bundle/
cp package.json .gpu-bundle/
for f in index.js package.json types.d.ts LICENSE.md; do cp "node_modules/webgpu/$f" .gpu-bundle/node_modules/webgpu/; done
cp -r node_modules/webgpu/dist/linux-x64 .gpu-bundle/node_modules/webgpu/dist/
cp -r node_modules/@webgpu/types .gpu-bundle/node_modules/@webgpu/
for p in debug ms; do [ -d "node_modules/$p" ] && cp -r "node_modules/$p" .gpu-bundle/node_modules/; done
du -sh .gpu-bundle
