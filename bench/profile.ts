/**
 * Where a forward pass spends its time, per backend op: one P-token prefill, then G greedy decode
 * steps over the growing cache, with every Backend method wrapped in a timer. A diagnostic next to
 * `fugaku bench` (which only gives totals), e.g. to see attention's share at long contexts. To compare
 * two builds of the native addon, run it twice with FUGAKU_NATIVE_ADDON pointing at each.
 *
 *   npx tsc -p tsconfig.json && node dist/bench/profile.js --model FILE.gguf|DIR [--dtype D] [--threads N]
 *       [--prompt-tokens P] [--new-tokens G] [--kv-cache-dtype f32|f16] [--simd SET] [--json]
 */
import { benchArgs } from './args.js';
import { AutoModelForCausalLM } from '../src/generation/causal-lm.js';
import type { WeightFormat } from '../src/model/load.js';
import type { KVCacheDType } from '../src/model/kv-cache.js';
import type { Backend } from '../src/backend/backend.js';
import type { SimdChoice } from '../src/backend/select.js';
import { argmax } from '../src/generation/sampling.js';
import { benchPrompt } from '../src/cli/bench.js';
import { defaultModelDir } from '../src/paths.js';

const values = benchArgs('profile', 'node dist/bench/profile.js --model FILE.gguf|DIR [--dtype D] [--threads N] [--prompt-tokens P] [--new-tokens G] [--kv-cache-dtype f32|f16] [--simd SET] [--json]', {
  model: { type: 'string' }, dtype: { type: 'string' }, threads: { type: 'string' },
  'prompt-tokens': { type: 'string' }, 'new-tokens': { type: 'string' }, 'kv-cache-dtype': { type: 'string' }, simd: { type: 'string' }, json: { type: 'boolean' },
});
const P = Number(values['prompt-tokens'] ?? 128);
const G = Number(values['new-tokens'] ?? 32);
const lm = await AutoModelForCausalLM.fromPretrained(values.model ?? defaultModelDir, {
  dtype: values.dtype as WeightFormat | undefined,
  threads: values.threads ? Number(values.threads) : undefined,
  kvCacheDtype: (values['kv-cache-dtype'] ?? 'f32') as KVCacheDType,
  simd: (values.simd ?? 'auto') as SimdChoice,
});
const model = lm.model;
const OPS = ['matmul', 'attention', 'layerNorm', 'activation', 'copyRows', 'addInPlace', 'embedding'] as const;
const spent: Record<string, number> = Object.fromEntries(OPS.map((k) => [k, 0]));
// Wrap each op of this model's backend instance (the instance only, nothing shared is patched).
const be = model.backend as unknown as Record<string, (...a: unknown[]) => unknown>;
for (const op of OPS) {
  const f = be[op].bind(model.backend as Backend);
  be[op] = (...a: unknown[]) => {
    const t0 = performance.now();
    try { return f(...a); } finally { spent[op] += performance.now() - t0; }
  };
}
const reset = () => { for (const k of OPS) spent[k] = 0; };
const ms = (x: number) => Math.round(x * 100) / 100;

const prompt = benchPrompt(P, model.config.vocabSize);
const cache = model.newCache(P + G + 1);
reset();
let t0 = performance.now();
let logits = await model.forward(prompt, cache, { logits: 'last' });
const prefillMs = performance.now() - t0;
const prefillOps = Object.fromEntries(OPS.map((k) => [k, ms(spent[k])]));
reset();
let tok = argmax(logits);
t0 = performance.now();
for (let i = 0; i < G; i++) {
  logits = await model.forward([tok], cache);
  tok = argmax(logits);
}
const decodeMs = (performance.now() - t0) / G;
const decodeOps = Object.fromEntries(OPS.map((k) => [k, ms(spent[k] / G)]));
const result = {
  backend: model.backend.name, prompt_tokens: P, new_tokens: G,
  prefill: { ms: ms(prefillMs), tok_s: ms((P * 1000) / prefillMs), ops_ms: prefillOps },
  decode: { ms_per_token: ms(decodeMs), tok_s: ms(1000 / decodeMs), ops_ms_per_token: decodeOps },
};
if (values.json) console.log(JSON.stringify(result));
else {
  const fmt = (o: Record<string, number>) => Object.entries(o).map(([k, v]) => `${k} ${v}`).join(', ');
  console.log(`prefill ${P} tokens: ${result.prefill.ms} ms (${result.prefill.tok_s} tok/s); ops (ms): ${fmt(prefillOps)}`);
  console.log(`decode ${G} tokens after it: ${result.decode.ms_per_token} ms/token (${result.decode.tok_s} tok/s); ops (ms/token): ${fmt(decodeOps)}`);
}
