#!/usr/bin/env node
/**
 * The peer side of bench/peers/compare.mjs: node-llama-cpp (llama.cpp's prebuilt CPU binary) on a
 * GGUF file, measured like `fugaku bench`: load time, peak RSS, prefill tokens/s for a P-token
 * prompt, greedy decode tokens/s for G tokens after the first generated one. Prints one JSON line.
 *
 *   node bench/peers/llama-bench.mjs --model FILE.gguf --threads T --prompt-tokens P --new-tokens G [--runs R]
 */
import { getLlama, LlamaLogLevel } from 'node-llama-cpp';
// The same deterministic prompt as `fugaku bench` (needs `npm run build`).
import { benchPrompt } from '../../dist/src/cli/bench.js';

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : def;
};
const modelPath = opt('--model');
const threads = Number(opt('--threads', '1'));
const P = Number(opt('--prompt-tokens', '128'));
const G = Number(opt('--new-tokens', '64'));
const runs = Number(opt('--runs', '1'));
if (!modelPath) throw new Error('--model FILE.gguf is required');

const llama = await getLlama({ gpu: false, logLevel: LlamaLogLevel.error });
const t0 = performance.now();
const model = await llama.loadModel({ modelPath, useMmap: false, gpuLayers: 0 });
const loadS = (performance.now() - t0) / 1000;
const context = await model.createContext({ contextSize: P + G + 16, batchSize: Math.max(P, 32), threads });
const prompt = benchPrompt(P, 49152);
const prefill = [];
const decode = [];
for (let r = 0; r < runs; r++) {
  const seq = context.getSequence();
  // Prefill P − 1 tokens (timed), then evaluate the last prompt token to get the first new token.
  const a = performance.now();
  await seq.evaluateWithoutGeneratingNewTokens(prompt.slice(0, P - 1));
  const b = performance.now();
  prefill.push((P - 1) / ((b - a) / 1000));
  let n = 0;
  let tFirst = 0;
  for await (const _ of seq.evaluate(prompt.slice(P - 1), { temperature: 0 })) {
    if (n === 0) tFirst = performance.now();
    n++;
    if (n === G + 1) break;
  }
  decode.push(G / ((performance.now() - tFirst) / 1000));
  seq.dispose();
}
const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const round = (x) => Math.round(x * 100) / 100;
console.log(JSON.stringify({
  prefill_tok_s: round(median(prefill)),
  decode_tok_s: round(median(decode)),
  load_s: round(loadS),
  peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024),
  threads,
  runs: { prefill_tok_s: prefill.map(round), decode_tok_s: decode.map(round) },
}));
await context.dispose();
await model.dispose();
