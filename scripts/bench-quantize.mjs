#!/usr/bin/env node
// Single-threaded speed of the k-quant quantizers: native (the addon's quantizeRows) vs the TypeScript
// spec (quantizeTensorGGML), in M weights/s, on one rows × cols tensor of random weights (default
// 4096 × 4096), with an importance matrix. The TypeScript side runs on the first --ts-rows rows only
// (default 256; it is 10–100× slower). Needs `npx tsc` (dist/) and the built addon.
//   node scripts/bench-quantize.mjs [--rows 4096] [--cols 4096] [--ts-rows 256] [--no-imatrix]
import { loadNativeAddon } from '../dist/src/backend/native-addon.js';
import { quantizeTensorGGML, QUANT_BLOCKS } from '../dist/src/tensor/ggml/quantize.js';

const arg = (k, d) => { const i = process.argv.indexOf(k); return i > 0 ? Number(process.argv[i + 1]) : d; };
const rows = arg('--rows', 4096), cols = arg('--cols', 4096), tsRows = Math.min(rows, arg('--ts-rows', 256));
const useImatrix = !process.argv.includes('--no-imatrix');
const load = loadNativeAddon();
if (!load.ok) throw new Error(load.reason);
const addon = load.addon;
const ctx = addon.createContext(1, addon.constants.levels.portable);
let s = 12345;
const rnd = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32) - 0.5;
const x = new Float32Array(rows * cols).map(() => 0.04 * (rnd() + rnd() + rnd()));
const qw = useImatrix ? new Float32Array(cols).map(() => Math.exp(4 * rnd())) : null;
console.log(`${rows} × ${cols}, ${useImatrix ? 'with' : 'without'} an imatrix, 1 thread (TypeScript: ${tsRows} rows)`);
for (const type of Object.keys(QUANT_BLOCKS)) {
  const { blockSize, typeSize } = QUANT_BLOCKS[type];
  const dst = new Uint8Array(rows * (cols / blockSize) * typeSize);
  let t = performance.now();
  addon.quantizeRows(ctx, addon.constants.formats[type], x, rows, cols, qw, dst);
  const nat = (rows * cols) / ((performance.now() - t) / 1000) / 1e6;
  t = performance.now();
  const ts = quantizeTensorGGML(type, x.subarray(0, tsRows * cols), tsRows, cols, qw);
  const tsr = (tsRows * cols) / ((performance.now() - t) / 1000) / 1e6;
  const same = Buffer.from(ts).equals(Buffer.from(dst.subarray(0, ts.length)));
  console.log(`${type.padEnd(7)} native ${nat.toFixed(1).padStart(6)} M/s   typescript ${tsr.toFixed(2).padStart(6)} M/s   ×${(nat / tsr).toFixed(0).padStart(3)}   ${same ? 'same bytes' : 'BYTES DIFFER'}`);
}
