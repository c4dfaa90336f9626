#!/usr/bin/env node
/**
 * Does llama.cpp (through node-llama-cpp) load the GGUF files `fugaku convert` writes, and does it
 * compute what this runtime computes?
 *
 *   npm run build
 *   NODE_LLAMA_CPP_SKIP_DOWNLOAD=true npm --prefix bench/peers install
 *   node bench/peers/llama-load-check.mjs [--model DIR] [--dtypes q8_0,q4_0,f16] [--tokens 16] [--tokenizer-model llama|t5] [--json]
 *
 * For each dtype: converts DIR (default: the embedded models/tiny-ja-demo) into a temp folder, loads
 * the file with node-llama-cpp (CPU, no mmap), and compares with this runtime loading DIR with the
 * same --dtype (which quantizes/rounds exactly as the converter does):
 *   - tokenization of Japanese/English strings (llama.cpp's SPM tokenizer vs our Unigram port),
 *   - next-token probabilities for a prompt (top-1 agreement, max |Δ log p| over our top 10),
 *   - a greedy continuation (how many leading tokens agree).
 * Exit code 0 when every file loads; the numbers are printed (and with --json as one JSON object).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const dist = (p) => path.join(root, 'dist', 'src', p);

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const modelDir = path.resolve(opt('--model', path.join(root, 'models', 'tiny-ja-demo')));
const dtypes = opt('--dtypes', 'q8_0,q4_0,f16').split(',');
const nTokens = Number(opt('--tokens', '16'));
const asJSON = args.includes('--json');
const tokenizerModel = opt('--tokenizer-model', 'llama');

const { convertToGGUF } = await import(dist('convert/to-gguf.js'));
const { AutoModelForCausalLM } = await import(dist('generation/causal-lm.js'));
const { AutoTokenizer } = await import(dist('tokenizer/index.js'));
const { KVCache } = await import(dist('model/kv-cache.js'));
const { getLlama, LlamaLogLevel } = await import('node-llama-cpp');

const TEXTS = [
  'スーパーコンピュータ「富岳」という名称は',
  '以下は、タスクを説明する指示です。要求を適切に満たす応答を書きなさい。\n\n### 指示:\n日本の首都はどこですか?\n\n### 応答:\n',
  '吾輩は猫である。名前はまだ無い。',
  'Hello, world! The quick brown fox jumps over the lazy dog.',
  '東京都千代田区1-2-3　全角スペースと  二つの半角スペース',
  '𠮷野家で🍣を食べた',
  'def f(x):\n    return x * 2\n',
];
const PROMPT = TEXTS[0];

function logSoftmax(logits) {
  let max = -Infinity;
  for (const v of logits) if (v > max) max = v;
  let sum = 0;
  for (const v of logits) sum += Math.exp(v - max);
  const lse = max + Math.log(sum);
  return Float64Array.from(logits, (v) => v - lse);
}

function argmax(a) {
  let best = 0;
  for (let i = 1; i < a.length; i++) if (a[i] > a[best]) best = i;
  return best;
}

const tok = await AutoTokenizer.fromPretrained(modelDir);
const llama = await getLlama({ gpu: false, logLevel: LlamaLogLevel.error });
const tmp = await mkdtemp(path.join(tmpdir(), 'fugaku-llama-check-'));
const report = { model: modelDir, nodeLlamaCpp: '3.21.1', llamaCppRelease: llama.llamaCppRelease?.release ?? null, results: [] };
let allLoaded = true;

try {
  for (const dtype of dtypes) {
    const file = path.join(tmp, `model-${dtype}.gguf`);
    const summary = await convertToGGUF({ model: modelDir, out: file, dtype, tokenizerModel });
    const r = { dtype, tokenizerModel, file: path.basename(file), bytes: summary.bytes, warnings: summary.warnings };
    report.results.push(r);
    let model;
    try {
      model = await llama.loadModel({ modelPath: file, useMmap: false, gpuLayers: 0 });
      r.loaded = true;
    } catch (e) {
      r.loaded = false;
      r.error = String(e?.message ?? e);
      allLoaded = false;
      continue;
    }
    try {
      // 1. Tokenization.
      r.tokenization = TEXTS.map((text) => {
        const ours = tok.encode(text, { addSpecialTokens: false });
        const theirs = Array.from(model.tokenize(text, false));
        const same = ours.length === theirs.length && ours.every((t, i) => t === theirs[i]);
        const detok = model.detokenize(ours);
        return { text, same, ours: ours.length, llama: theirs.length, ...(same ? {} : { oursIds: ours, llamaIds: theirs }), llamaDetokenizesOursTo: detok === text ? 'same text' : detok };
      });

      // 2. Next-token distribution after the prompt (both fed our token ids).
      const ids = tok.encode(PROMPT, { addSpecialTokens: false });
      const ourModel = await AutoModelForCausalLM.fromPretrained(modelDir, { dtype, backend: 'reference' });
      const cfg = ourModel.config;
      const cache = new KVCache(ourModel.model.backend, cfg.nLayer, cfg.nEmbd, cfg.nPositions);
      const ourLogits = await ourModel.model.forward(ids, cache, { logits: 'last' });
      const ourLogp = logSoftmax(ourLogits);
      const context = await model.createContext({ contextSize: Math.min(512, cfg.nPositions), batchSize: 512 });
      const seq = context.getSequence();
      const input = ids.map((t, i) => (i === ids.length - 1 ? [t, { generateNext: { probabilities: true, options: { temperature: 1, topK: 0, topP: 1, minP: 0 } } }] : t));
      const out = await seq.controlledEvaluate(input);
      const probs = out[ids.length - 1]?.next?.probabilities ?? new Map();
      const llamaTop = [...probs.entries()][0]?.[0];
      const ourTop10 = [...ourLogp.keys()].sort((a, b) => ourLogp[b] - ourLogp[a]).slice(0, 10);
      let maxDiff = 0;
      for (const t of ourTop10) {
        const p = probs.get(t);
        const d = p === undefined ? Infinity : Math.abs(Math.log(p) - ourLogp[t]);
        maxDiff = Math.max(maxDiff, d);
      }
      r.nextToken = {
        ourTop1: argmax(ourLogits),
        llamaTop1: llamaTop,
        top1Agrees: llamaTop === argmax(ourLogits),
        probabilitiesReturned: probs.size,
        maxAbsLogProbDiffOverOurTop10: Number(maxDiff.toFixed(5)),
        ourTop5: ourTop10.slice(0, 5).map((t) => [t, Number(Math.exp(ourLogp[t]).toFixed(5))]),
        llamaTop5: [...probs.entries()].slice(0, 5).map(([t, p]) => [t, Number(p.toFixed(5))]),
      };
      await context.dispose();

      // 3. Greedy continuation.
      const ourGreedy = (await ourModel.generate(ids, { maxNewTokens: nTokens, doSample: false, minNewTokens: nTokens }))[0].slice(ids.length);
      const ctx2 = await model.createContext({ contextSize: Math.min(512, cfg.nPositions) });
      const seq2 = ctx2.getSequence();
      const llamaGreedy = [];
      for await (const t of seq2.evaluate(ids, { temperature: 0 })) {
        llamaGreedy.push(t);
        if (llamaGreedy.length >= nTokens) break;
      }
      await ctx2.dispose();
      let agree = 0;
      while (agree < Math.min(ourGreedy.length, llamaGreedy.length) && ourGreedy[agree] === llamaGreedy[agree]) agree++;
      r.greedy = { tokens: nTokens, leadingTokensAgree: agree, ours: ourGreedy, llama: llamaGreedy, oursText: tok.decode(ourGreedy), llamaText: tok.decode(llamaGreedy) };
    } finally {
      await model.dispose();
    }
  }
} finally {
  await rm(tmp, { recursive: true, force: true });
}

if (asJSON) {
  process.stdout.write(JSON.stringify(report, null, 1) + '\n');
} else {
  console.log(`model ${report.model}; node-llama-cpp ${report.nodeLlamaCpp} (llama.cpp ${report.llamaCppRelease})`);
  for (const r of report.results) {
    console.log(`\n== ${r.dtype} (tokenizer.ggml.model ${r.tokenizerModel}): ${r.loaded ? 'LOADED by llama.cpp' : 'REJECTED by llama.cpp'} (${r.bytes} bytes)`);
    if (!r.loaded) {
      console.log(`   error: ${r.error}`);
      continue;
    }
    for (const t of r.tokenization) {
      console.log(`   tokenize ${JSON.stringify(t.text).slice(0, 40)}: ${t.same ? 'identical' : `DIFFERENT (ours ${t.ours} tokens, llama ${t.llama})`}${t.llamaDetokenizesOursTo === 'same text' ? '' : `; llama detokenizes our ids to ${JSON.stringify(t.llamaDetokenizesOursTo)}`}`);
      if (!t.same) console.log(`      ours  ${JSON.stringify(t.oursIds)}\n      llama ${JSON.stringify(t.llamaIds)}`);
    }
    const n = r.nextToken;
    console.log(`   next token: ours ${n.ourTop1}, llama ${n.llamaTop1} (${n.top1Agrees ? 'agree' : 'DIFFER'}); max |Δ log p| over our top 10 = ${n.maxAbsLogProbDiffOverOurTop10} (${n.probabilitiesReturned} probabilities returned)`);
    console.log(`      ours  top5 ${JSON.stringify(n.ourTop5)}\n      llama top5 ${JSON.stringify(n.llamaTop5)}`);
    console.log(`   greedy ${r.greedy.tokens} tokens: ${r.greedy.leadingTokensAgree} leading tokens agree`);
    console.log(`      ours  ${JSON.stringify(r.greedy.oursText)}\n      llama ${JSON.stringify(r.greedy.llamaText)}`);
    for (const w of r.warnings) console.log(`   converter warning: ${w}`);
  }
}
process.exitCode = allLoaded ? 0 : 1;
