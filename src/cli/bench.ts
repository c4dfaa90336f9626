/**
 * `fugaku bench`: load time, peak RSS, prefill tokens/s for a P-token prompt and greedy decode
 * tokens/s for G tokens after the first generated one, on any model folder or GGUF file.
 */
import { Option, type Command } from 'commander';
import { FugakuError } from '../errors.js';
import { argmax } from '../generation/sampling.js';
import type { GPT2Model } from '../model/gpt2.js';
import { addModelLoadOptions, intArg, modelOption } from './options.js';
import { loadModel } from './load-model.js';

export interface BenchResult {
  prefill_tok_s: number;
  decode_tok_s: number;
  load_s: number;
  peak_rss_mb: number;
  dtype: string;
  threads: number | null;
  backend: string;
  /** The native backend's kernel set ('avx512', 'avxvnni', 'avx2', 'neon', 'portable'); null for the reference backend. */
  kernels: string | null;
  /** The GPU adapter of the WebGPU backend, in one line. */
  adapter: string | null;
  prompt_tokens: number;
  new_tokens: number;
  runs: { prefill_tok_s: number[]; decode_tok_s: number[] };
}

/** A deterministic prompt of `n` token ids spread over the vocabulary (no special tokens). */
export function benchPrompt(n: number, vocab: number): number[] {
  const ids: number[] = [];
  let s = 12345;
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) % 2147483648;
    ids.push(100 + (s % Math.max(1, Math.min(vocab, 48000) - 100)));
  }
  return ids;
}

/** Times one prefill of `prompt` and `newTokens` greedy decode steps after the first new token. */
export async function timeGeneration(model: GPT2Model, prompt: number[], newTokens: number, now: () => number): Promise<{ prefillS: number; decodeS: number }> {
  const cache = model.newCache(prompt.length + newTokens + 1);
  try {
    const t0 = now();
    let logits = await model.forward(prompt, cache, { logits: 'last' });
    const t1 = now();
    let tok = argmax(logits);
    logits = await model.forward([tok], cache); // feeding back the first generated token is not timed
    const t2 = now();
    for (let i = 0; i < newTokens; i++) {
      tok = argmax(logits);
      logits = await model.forward([tok], cache);
    }
    const t3 = now();
    return { prefillS: (t1 - t0) / 1000, decodeS: (t3 - t2) / 1000 };
  } finally {
    cache.free();
  }
}

export function registerBenchCommand(program: Command): void {
  const cmd = program
    .command('bench')
    .description('measure load time, peak RSS, prefill and decode tokens/s')
    .addOption(modelOption())
    .option('--prompt-tokens <P>', 'prompt length for prefill', intArg('--prompt-tokens', 1), 128)
    .option('--new-tokens <G>', 'greedy tokens timed after the first generated one', intArg('--new-tokens', 1), 64)
    .option('--runs <n>', 'repeat prefill+decode this many times after one load (medians reported)', intArg('--runs', 1, 100), 1)
    .addOption(new Option('--json', 'print one JSON object').default(false));
  addModelLoadOptions(cmd).action(async (o: { model: string; promptTokens: number; newTokens: number; runs: number; json: boolean; dtype: string; backend: string; threads?: number; simd?: string; kvCacheDtype: string }) => {
    const now = () => performance.now();
    const t0 = now();
    const lm = await loadModel(o.model, { dtype: o.dtype, backend: o.backend, threads: o.threads, simd: o.simd, kvCacheDtype: o.kvCacheDtype, progress: !o.json });
    const loadS = (now() - t0) / 1000;
    const model = lm.model;
    const need = o.promptTokens + o.newTokens + 1;
    if (need > model.config.nPositions) {
      throw new FugakuError('CONTEXT_OVERFLOW', `--prompt-tokens + --new-tokens + 1 = ${need} exceeds n_positions ${model.config.nPositions}`, 'use a shorter prompt or fewer new tokens');
    }
    const prompt = benchPrompt(o.promptTokens, model.config.vocabSize);
    const prefill: number[] = [];
    const decode: number[] = [];
    for (let r = 0; r < o.runs; r++) {
      const t = await timeGeneration(model, prompt, o.newTokens, now);
      prefill.push(o.promptTokens / t.prefillS);
      decode.push(o.newTokens / t.decodeS);
    }
    const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
    const be = model.backend as { name: string; threads?: number; kernels?: string; adapterLine?: string };
    const res: BenchResult = {
      prefill_tok_s: round(median(prefill)),
      decode_tok_s: round(median(decode)),
      load_s: round(loadS),
      peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024),
      dtype: model.weights.blocks[0]?.mlpFc.format ?? model.weights.wte.format,
      threads: be.threads ?? null,
      backend: be.name,
      kernels: be.kernels ?? null,
      adapter: be.adapterLine ?? null,
      prompt_tokens: o.promptTokens,
      new_tokens: o.newTokens,
      runs: { prefill_tok_s: prefill.map(round), decode_tok_s: decode.map(round) },
    };
    if (o.json) process.stdout.write(JSON.stringify(res) + '\n');
    else {
      process.stdout.write(
        `backend ${res.backend}${res.kernels ? ` ${res.kernels}` : ''}${res.adapter ? ` on ${res.adapter}` : ` (${res.threads ?? 1} threads)`}, weights ${res.dtype}\n` +
          `load      ${res.load_s} s, peak RSS ${res.peak_rss_mb} MB\n` +
          `prefill   ${res.prefill_tok_s} tok/s (${o.promptTokens}-token prompt)\n` +
          `decode    ${res.decode_tok_s} tok/s (${o.newTokens} greedy tokens)\n`,
      );
    }
  });
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}
