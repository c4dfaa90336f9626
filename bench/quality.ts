/**
 * Quality of the quantized formats: perplexity on the Aozora Bunko texts and top-1 agreement of
 * next-token predictions with bf16, for q8_0 and q4_0 (and f16), all on the native backend with
 * the same non-overlapping windows of n_positions tokens.
 *
 *   npx tsc -p tsconfig.json && node dist/bench/quality.js [--model DIR] [--max-tokens-per-file N] [--json]
 *
 * GGUF files of the same model (`fugaku convert --dtype q4_k_m ...`, or llama.cpp's llama-quantize, any
 * mix of block types) join the table with --gguf FILE,... (labelled by file name), measured the same
 * way against the folder's bf16 (the vocabulary comes from --model's tokenizer.json).
 */
import { benchArgs } from './args.js';
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { AutoModelForCausalLM } from '../src/generation/causal-lm.js';
import { AutoTokenizer } from '../src/tokenizer/index.js';
import { defaultModelDir, packageRoot } from '../src/paths.js';
import type { WeightFormat } from '../src/model/load.js';
import { lossFromLogits } from '../src/eval/perplexity.js';
import { argmax } from '../src/generation/sampling.js';

const values = benchArgs('quality', 'node dist/bench/quality.js [--model DIR] [--max-tokens-per-file N] [--formats F,...] [--gguf FILE,...] [--json]', { model: { type: 'string' }, 'max-tokens-per-file': { type: 'string' }, formats: { type: 'string' }, gguf: { type: 'string' }, json: { type: 'boolean' } });
const dir = values.model ?? defaultModelDir;
const maxTokens = Number(values['max-tokens-per-file'] ?? 8192);
const formats = (values.formats ?? 'bf16,f16,q8_0,q4_0').split(',') as WeightFormat[];
const textDir = path.join(packageRoot, 'data', 'aozora-bunko', 'plain');

const tok = await AutoTokenizer.fromPretrained(dir);
const files = readdirSync(textDir).filter((f) => f.endsWith('.txt')).sort();
const docs = files.map((f) => tok.encode(readFileSync(path.join(textDir, f), 'utf8'), { addSpecialTokens: false }).slice(0, maxTokens));

interface Run { format: string; nll: number; count: number; argmax: Int32Array[] }
const runs: Run[] = [];
const ggufFiles = values.gguf ? values.gguf.split(',') : [];
const sources: Array<{ path: string; dtype?: WeightFormat; label?: string }> = [
  ...formats.map((dtype) => ({ path: dir, dtype })),
  ...ggufFiles.map((f) => ({ path: f, label: path.basename(f, '.gguf') })),
];
for (const src of sources) {
  const lm = await AutoModelForCausalLM.fromPretrained(src.path, { dtype: src.dtype, backend: 'native' });
  const model = lm.model;
  const W = model.config.nPositions;
  const V = model.config.vocabSize;
  let nll = 0;
  let count = 0;
  const argmaxes: Int32Array[] = [];
  for (const ids of docs) {
    const am = new Int32Array(ids.length);
    for (let s = 0; s < ids.length - 1; s += W) {
      const win = ids.slice(s, Math.min(ids.length, s + W));
      if (win.length < 2) break;
      const logits = await model.forward(win, model.newCache(win.length), { logits: 'all' });
      for (let i = 0; i < win.length; i++) am[s + i] = argmax(logits.subarray(i * V, (i + 1) * V));
      const loss = lossFromLogits(logits, V, win);
      nll += loss.nllSum;
      count += loss.predicted;
    }
    argmaxes.push(am);
  }
  runs.push({ format: src.label ?? lm.model.weights.blocks[0].mlpFc.format, nll, count, argmax: argmaxes });
}

const base = runs.find((r) => r.format === 'BF16') ?? runs[0];
const results = runs.map((r) => {
  let agree = 0;
  let total = 0;
  r.argmax.forEach((a, d) => a.forEach((v, i) => { total++; if (v === base.argmax[d][i]) agree++; }));
  const ppl = Math.exp(r.nll / r.count);
  return { format: r.format, tokens: r.count, perplexity: Number(ppl.toFixed(4)), ppl_vs_bf16: Number((ppl / Math.exp(base.nll / base.count) - 1).toFixed(5)), top1_agreement_with_bf16: Number((agree / total).toFixed(5)) };
});
if (values.json) console.log(JSON.stringify({ model: dir, files: files.length, max_tokens_per_file: maxTokens, results }));
else {
  console.log(`${dir}: ${files.length} Aozora texts, first ${maxTokens} tokens each, windows of the model's n_positions`);
  for (const r of results) console.log(`${r.format.padEnd(12)} perplexity ${r.perplexity.toFixed(3).padStart(9)}  (${(r.ppl_vs_bf16 * 100).toFixed(2).padStart(6)}% vs bf16)  top-1 agreement with bf16 ${(r.top1_agreement_with_bf16 * 100).toFixed(2)}%  over ${r.tokens} predictions`);
}
