#!/usr/bin/env node
/**
 * Side by side: `fugaku bench` vs node-llama-cpp (llama.cpp's prebuilt CPU binary) on the SAME GGUF
 * file (random weights of a given shape: converted by `fugaku convert` from a random folder, or
 * written directly by `make-checkpoint --gguf`; both engines read identical quantized values), same
 * thread counts, same prompt and generation lengths, runs alternating, each run in a fresh process.
 * STREAM triad is measured in the same run to give the bandwidth bound: decode tok/s ≤ triad GB/s ÷
 * weight bytes read per token (and the same with a read-only stream).
 *
 *   npm run build && NODE_LLAMA_CPP_SKIP_DOWNLOAD=true npm --prefix bench/peers install
 *   node bench/peers/compare.mjs --presets gpt2-small,1b --dtypes q8_0,q4_0 --threads 1,2 --reps 3
 *   node bench/peers/compare.mjs --presets 13b --dtypes q4_0 --threads 2 --reps 2 --prompt-tokens 32 --new-tokens 16
 *
 * llama.cpp file types (upper case: Q4_K_M, Q5_K_M, Q6_K, IQ4_XS, ...) are made by llama.cpp's own
 * quantizer from an f16 conversion of the random folder: --llama-quantize PATH/TO/llama-quantize
 * (built from the llama.cpp source node-llama-cpp bundles, docs/GGUF.md), e.g.
 *   node bench/peers/compare.mjs --presets 1b --dtypes Q4_K_M,Q6_K --threads 2 --llama-quantize ~/llama.cpp/build/bin/llama-quantize
 *
 * Options: --work DIR (checkpoints and GGUF files, created if missing; default /tmp/fugaku-bench), --kv-cache-dtype f32|f16
 * (ours; llama.cpp's own default is f16), --simd avx512,avx2 (our kernel sets, each run and reported
 * against the same llama runs; default auto), --json (one JSON line).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : def;
};
const presets = opt('--presets', 'gpt2-small').split(',');
const dtypes = opt('--dtypes', 'q8_0,q4_0').split(',');
const threadList = opt('--threads', '1,2').split(',').map(Number);
const reps = Number(opt('--reps', '3'));
const P = Number(opt('--prompt-tokens', '128'));
const G = Number(opt('--new-tokens', '64'));
const work = opt('--work', '/tmp/fugaku-bench');
mkdirSync(work, { recursive: true }); // checkpoints and GGUF files are written here (make-checkpoint, convert)
// Our KV cache element type (llama.cpp's default cache is f16; ours defaults to f32 for HF parity).
const kvDtype = opt('--kv-cache-dtype', 'f32');
const asJSON = args.includes('--json');
const simdList = opt('--simd', 'auto').split(',');
const llamaQuantize = opt('--llama-quantize', null);

function run(cmd, argv, env = {}) {
  const r = spawnSync(cmd, argv, { cwd: root, encoding: 'utf8', env: { ...process.env, ...env }, maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`${cmd} ${argv.join(' ')} failed (${r.status}):\n${r.stderr}`);
  return r.stdout;
}
const lastJSON = (out) => JSON.parse(out.trim().split('\n').filter((l) => l.startsWith('{')).at(-1));
const stats = (a) => {
  const s = [...a].sort((x, y) => x - y);
  return { min: s[0], median: s[Math.floor(s.length / 2)], max: s.at(-1) };
};
const log = (s) => { if (!asJSON) console.log(s); };

// STREAM triad with our thread pool, per thread count (same machine, same run).
// Also a read-only stream: a GEMV only reads its weights, and on some machines reads alone reach less
// than the triad figure, so decode is reported against both bounds.
const triad = {};
const readBw = {};
for (const t of threadList) {
  const [tr, rd] = run('node', ['-e', `import('${path.join(root, 'dist/src/backend/native.js')}').then(({NativeBackend}) => { const b = NativeBackend.create({threads:${t}}); console.log(b.streamTriad(64*2**20, 8), b.streamRead(128*2**20, 8)); })`]).trim().split(' ').map(Number);
  triad[t] = tr;
  readBw[t] = rd;
  log(`STREAM triad, ${t} thread(s): ${triad[t].toFixed(1)} GB/s; read-only stream: ${readBw[t].toFixed(1)} GB/s`);
}

const report = { prompt_tokens: P, new_tokens: G, reps, kv_cache_dtype: kvDtype, simd: simdList, triad_gb_s: triad, read_gb_s: readBw, cases: [] };
for (const preset of presets) {
  const ckpt = path.join(work, preset);
  for (const dtype of dtypes) {
    const gguf = path.join(work, `${preset}-${dtype}.gguf`);
    // A missing GGUF file is converted from the random HF folder (our quantizer), or, with no folder
    // there and a quantized type, written directly with random blocks (make-checkpoint --gguf: seconds,
    // where making the 13B folder and converting it takes minutes). Either way both engines read it.
    if (!existsSync(gguf) && /^[A-Z]/.test(dtype)) {
      if (!llamaQuantize) throw new Error(`${dtype} is a llama.cpp file type: pass --llama-quantize PATH (or put ${gguf} there)`);
      const f16 = path.join(work, `${preset}-f16.gguf`);
      if (!existsSync(f16)) {
        if (!existsSync(path.join(ckpt, 'config.json'))) run('node', ['dist/bench/make-checkpoint.js', '--preset', preset, '--out', ckpt, '--force']);
        run('node', ['bin/fugaku.js', 'convert', '--model', ckpt, '--dtype', 'f16', '--out', f16, '--force', '--json']);
      }
      log(`llama-quantize ${f16} → ${gguf} (${dtype}) ...`);
      run(llamaQuantize, [f16, gguf, dtype, '2'], { LD_LIBRARY_PATH: path.dirname(llamaQuantize) });
    }
    if (!existsSync(gguf)) {
      const haveFolder = existsSync(path.join(ckpt, 'config.json'));
      if (!haveFolder && (dtype === 'q8_0' || dtype === 'q4_0')) {
        log(`writing a random ${preset} ${dtype} GGUF file ${gguf} ...`);
        run('node', ['dist/bench/make-checkpoint.js', '--preset', preset, '--gguf', dtype, '--out', gguf]);
      } else {
        if (!haveFolder) {
          log(`making a random ${preset} checkpoint in ${ckpt} ...`);
          run('node', ['dist/bench/make-checkpoint.js', '--preset', preset, '--out', ckpt, '--force']);
        }
        log(`converting to ${gguf} ...`);
        run('node', ['bin/fugaku.js', 'convert', '--model', ckpt, '--dtype', dtype, '--out', gguf, '--force', '--json']);
      }
    }
    // Weight bytes read per decoded token: every matrix once (the tied head reads token_embd whole);
    // the position table contributes one row, so the file size is a close upper estimate.
    const bytesPerToken = statSync(gguf).size;
    for (const threads of threadList) {
      const ours = Object.fromEntries(simdList.map((k) => [k, []]));
      const peer = [];
      for (let r = 0; r < reps; r++) {
        for (const simd of simdList) {
          ours[simd].push(lastJSON(run('node', ['bin/fugaku.js', 'bench', '--model', gguf, '--threads', String(threads), '--simd', simd, '--prompt-tokens', String(P), '--new-tokens', String(G), '--kv-cache-dtype', kvDtype, '--json'])));
        }
        peer.push(lastJSON(run('node', [path.join(here, 'llama-bench.mjs'), '--model', gguf, '--threads', String(threads), '--prompt-tokens', String(P), '--new-tokens', String(G)], { NODE_LLAMA_CPP_SKIP_DOWNLOAD: 'true' })));
      }
      const summary = (runs) => ({ decode: stats(runs.map((o) => o.decode_tok_s)), prefill: stats(runs.map((o) => o.prefill_tok_s)), load_s: stats(runs.map((o) => o.load_s)), peak_rss_mb: stats(runs.map((o) => o.peak_rss_mb)) });
      const llama = summary(peer);
      for (const simd of simdList) {
        const c = { preset, dtype, threads, simd, kernels: ours[simd][0].kernels, gguf_bytes: bytesPerToken, ours: summary(ours[simd]), llama };
        c.decode_ratio = c.ours.decode.median / c.llama.decode.median;
        c.prefill_ratio = c.ours.prefill.median / c.llama.prefill.median;
        c.bound_tok_s = (triad[threads] * 1e9) / bytesPerToken;
        c.ours_of_bound = c.ours.decode.median / c.bound_tok_s;
        c.llama_of_bound = c.llama.decode.median / c.bound_tok_s;
        c.read_bound_tok_s = (readBw[threads] * 1e9) / bytesPerToken;
        c.ours_of_read_bound = c.ours.decode.median / c.read_bound_tok_s;
        c.llama_of_read_bound = c.llama.decode.median / c.read_bound_tok_s;
        report.cases.push(c);
        const f = (s) => `${s.median.toFixed(2)} [${s.min.toFixed(2)}–${s.max.toFixed(2)}]`;
        log(`${preset} ${dtype} ×${threads} (ours ${c.kernels}): decode ours ${f(c.ours.decode)} vs llama ${f(c.llama.decode)} tok/s → ${c.decode_ratio.toFixed(2)}×; ` +
          `prefill ours ${f(c.ours.prefill)} vs llama ${f(c.llama.prefill)} → ${c.prefill_ratio.toFixed(2)}×; ` +
          `bound ${c.bound_tok_s.toFixed(2)} tok/s (ours ${(c.ours_of_bound * 100).toFixed(0)}%, llama ${(c.llama_of_bound * 100).toFixed(0)}%); ` +
          `read bound ${c.read_bound_tok_s.toFixed(2)} (ours ${(c.ours_of_read_bound * 100).toFixed(0)}%, llama ${(c.llama_of_read_bound * 100).toFixed(0)}%); ` +
          `load ours ${c.ours.load_s.median}s / llama ${c.llama.load_s.median}s; RSS ours ${c.ours.peak_rss_mb.median} / llama ${c.llama.peak_rss_mb.median} MB`);
      }
    }
    // Against the peer's best thread count.
    const mine = report.cases.filter((c) => c.preset === preset && c.dtype === dtype && !c.summary);
    const bestPeer = Math.max(...mine.map((c) => c.llama.decode.median));
    for (const simd of simdList) {
      const bestOurs = Math.max(...mine.filter((c) => c.simd === simd).map((c) => c.ours.decode.median));
      report.cases.push({ preset, dtype, simd, summary: true, best_ours_decode: bestOurs, best_llama_decode: bestPeer, ratio_vs_llama_best: bestOurs / bestPeer });
      log(`${preset} ${dtype} (ours ${simd}): best ours ${bestOurs.toFixed(2)} vs llama's best ${bestPeer.toFixed(2)} tok/s → ${(bestOurs / bestPeer).toFixed(2)}×`);
    }
  }
}
if (asJSON) console.log(JSON.stringify(report));
