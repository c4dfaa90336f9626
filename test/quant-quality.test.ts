/**
 * Quantized weights keep the model's quality (regression guard for the quantizers and kernels):
 * perplexity of tiny-ja-demo on an Aozora text with q8_0 within 1% of bf16 (the bar) and q4_0
 * within 10%; the full measurement over all texts is bench/quality.ts (docs/BENCHMARKS.md).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { AutoModelForCausalLM } from '../src/generation/causal-lm.js';
import { AutoTokenizer } from '../src/tokenizer/index.js';
import { perplexity } from '../src/eval/perplexity.js';
import { modelDirs, repoRoot } from './helpers.js';

test('q8_0 perplexity within 1% of bf16, q4_0 within 10% (tiny-ja-demo, native backend)', async () => {
  const dir = modelDirs['tiny-ja-demo'];
  const tok = await AutoTokenizer.fromPretrained(dir);
  const text = readFileSync(path.join(repoRoot, 'data', 'aozora-bunko', 'plain', 'natsume_soseki-kokoro.txt'), 'utf8');
  const ids = tok.encode(text, { addSpecialTokens: false }).slice(0, 1024);
  const ppl: Record<string, number> = {};
  for (const dtype of ['bf16', 'q8_0', 'q4_0'] as const) {
    const lm = await AutoModelForCausalLM.fromPretrained(dir, { dtype, backend: 'native' });
    ppl[dtype] = (await perplexity(lm.model, ids)).perplexity;
  }
  assert.ok(Number.isFinite(ppl.bf16) && ppl.bf16 > 1, `bf16 perplexity ${ppl.bf16}`);
  assert.ok(Math.abs(ppl.q8_0 / ppl.bf16 - 1) < 0.01, `q8_0 ${ppl.q8_0} vs bf16 ${ppl.bf16}`);
  assert.ok(Math.abs(ppl.q4_0 / ppl.bf16 - 1) < 0.1, `q4_0 ${ppl.q4_0} vs bf16 ${ppl.bf16}`);
});
