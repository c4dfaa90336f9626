/**
 * The WebGPU backend's speed on a model shape with random weights made on the GPU (no checkpoint, no host
 * copy of 26 GB): decode tok/s at batch 1 and aggregate over --streams sequences, prefill tok/s of a
 * --prompt-tokens prompt, and the read-bandwidth bound (a probe kernel measured in the same run ÷ bytes of
 * weights per token). Prints one JSON line (for bench/gpu-report.sh) after a readable summary.
 *
 *   node dist/bench/gpu.js --preset 13b --dtype bf16 [--streams 8 --prompt-tokens 512 --new-tokens 32]
 *
 * Presets: bench/presets.ts (13b = Fugaku-LLM-13B, 1b, gpt2-small, tiny: head_dim 144, a smoke test for software adapters).
 */
import { parseArgs } from 'node:util';
import { tensorFrom } from '../src/backend/backend.js';
import { WebGPUBackend } from '../src/backend/webgpu/webgpu.js';
import { parseGPT2Config } from '../src/model/config.js';
import { GPT2Model, type GPT2Block } from '../src/model/gpt2.js';
import { PRESETS } from './presets.js';

const { values } = parseArgs({
  options: {
    preset: { type: 'string', default: '13b' },
    dtype: { type: 'string', default: 'bf16' },
    streams: { type: 'string', default: '8' },
    'prompt-tokens': { type: 'string', default: '512' },
    'new-tokens': { type: 'string', default: '32' },
    'kv-cache-dtype': { type: 'string', default: 'f16' },
    'probe-mib': { type: 'string', default: '1024' },
  },
});
const preset = PRESETS[values.preset!];
if (!preset) throw new Error(`unknown preset ${values.preset}; use ${Object.keys(PRESETS).join(', ')}`);
const format = ({ bf16: 'BF16', f16: 'F16', q8_0: 'Q8_0', q4_0: 'Q4_0' } as const)[values.dtype as 'bf16'];
if (!format) throw new Error(`unknown dtype ${values.dtype}; use bf16, f16, q8_0, q4_0`);
const streams = Number(values.streams);
const P = Number(values['prompt-tokens']);
const G = Number(values['new-tokens']);
const kv = values['kv-cache-dtype'] === 'f32' ? 'f32' : 'f16';

const now = () => performance.now();
const be = await WebGPUBackend.create();
const cfg = parseGPT2Config(
  { model_type: 'gpt2', activation_function: preset.activation, n_embd: preset.nEmbd, n_head: preset.nHead, n_layer: preset.nLayer, n_inner: preset.nInner, vocab_size: preset.vocab, n_positions: preset.nPositions },
  values.preset,
);
const E = cfg.nEmbd;
let seed = 1;
const vec = (n: number, v: number) => tensorFrom(be, new Float32Array(n).fill(v));
const mat = (inDim: number, outDim: number, layout: 'in_out' | 'out_in') => be.randomMatrix(format, inDim, outDim, format === 'BF16' || format === 'F16' ? layout : 'out_in', seed++);
const t0 = now();
const blocks: GPT2Block[] = [];
for (let l = 0; l < cfg.nLayer; l++) {
  blocks.push({
    ln1Weight: vec(E, 1), ln1Bias: vec(E, 0),
    attnQKV: mat(E, 3 * E, 'in_out'), attnQKVBias: vec(3 * E, 0),
    attnProj: mat(E, E, 'in_out'), attnProjBias: vec(E, 0),
    ln2Weight: vec(E, 1), ln2Bias: vec(E, 0),
    mlpFc: mat(E, cfg.nInner, 'in_out'), mlpFcBias: vec(cfg.nInner, 0),
    mlpProj: mat(cfg.nInner, E, 'in_out'), mlpProjBias: vec(E, 0),
  });
}
const wte = mat(E, cfg.vocabSize, 'out_in');
const wpe = be.randomMatrix('BF16', E, cfg.nPositions, 'out_in', seed++);
const model = new GPT2Model(cfg, { wte, wpe, blocks, lnFWeight: vec(E, 1), lnFBias: vec(E, 0), lmHead: wte }, be, kv);
await be.finish();
const weightBytes = blocks.reduce((a, b) => a + b.attnQKV.byteSize + b.attnProj.byteSize + b.mlpFc.byteSize + b.mlpProj.byteSize, 0) + wte.byteSize;
const setupS = (now() - t0) / 1000;

const ids = (n: number) => Array.from({ length: n }, (_, i) => (i * 7919) % cfg.vocabSize);
// Warm-up: compiles every pipeline (prefill GEMM, decode GEMV, batched decode) before timing.
{
  const c = model.newCache(P + G + 2);
  await model.forward(ids(P), c);
  await model.forward([1], c);
  const cs = Array.from({ length: streams }, () => model.newCache(8));
  await model.forwardBatch(cs.map((cache) => ({ ids: [1], cache })));
  await model.forwardBatch(cs.map((cache) => ({ ids: [2], cache })));
  [c, ...cs].forEach((x) => x.free());
}

// Prefill of a P-token prompt.
const cache = model.newCache(P + G + 2);
let t = now();
await model.forward(ids(P), cache);
const prefillS = (now() - t) / 1000;

// Decode at batch 1: each step reads back the last logits (what the sampler needs).
t = now();
for (let i = 0; i < G; i++) await model.forward([(i * 31) % cfg.vocabSize], cache);
const decodeS = (now() - t) / 1000;
cache.free();

// Aggregate decode over `streams` sequences, one batched step per token.
const caches = Array.from({ length: streams }, () => model.newCache(G + 4));
await model.forwardBatch(caches.map((c, k) => ({ ids: [k + 1], cache: c })));
t = now();
for (let i = 0; i < G; i++) await model.forwardBatch(caches.map((c, k) => ({ ids: [(i * 31 + k) % cfg.vocabSize], cache: c })));
const batchS = (now() - t) / 1000;
caches.forEach((c) => c.free());

const probeBytes = Number(values['probe-mib']) * 2 ** 20;
const bandwidth = await be.readBandwidth(probeBytes, 10, now);
const result = {
  adapter: be.adapterLine,
  preset: values.preset,
  dtype: values.dtype,
  kvCache: kv,
  weightGiB: weightBytes / 2 ** 30,
  setupS,
  prefillTokS: P / prefillS,
  decodeTokS: G / decodeS,
  batchStreams: streams,
  batchTokS: (G * streams) / batchS,
  readGBs: bandwidth,
  boundTokS: (bandwidth * 1e9) / weightBytes,
};
console.log(`${result.adapter}: ${values.preset} ${values.dtype} (${result.weightGiB.toFixed(2)} GiB of weights, KV ${kv})`);
console.log(`  prefill ${P} tokens: ${result.prefillTokS.toFixed(1)} tok/s`);
console.log(`  decode bs1: ${result.decodeTokS.toFixed(2)} tok/s = ${((100 * result.decodeTokS) / result.boundTokS).toFixed(0)}% of the bandwidth bound ${result.boundTokS.toFixed(1)} tok/s (read probe ${bandwidth.toFixed(0)} GB/s)`);
console.log(`  decode ${streams} streams: ${result.batchTokS.toFixed(1)} tok/s aggregate = ${(result.batchTokS / result.decodeTokS).toFixed(2)}× bs1`);
console.log(`JSON ${JSON.stringify(result)}`);
be.destroy();
