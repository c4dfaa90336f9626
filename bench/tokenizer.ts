/**
 * Tokenizer benchmark: encodes every Aozora Bunko text in data/aozora-bunko/plain/ (one whole novel per
 * call, no special tokens) with our TypeScript tokenizer and with the Rust Hugging Face `tokenizers`
 * package (the Node binding, dev dependency), in the same process, alternating, after a warm-up pass,
 * and checks that both give identical ids. Prints per-file and total throughput (MB/s of UTF-8 input,
 * tokens/s) from the median of the repetitions, and the speed ratio ours/Rust (> 1: ours is faster).
 *
 *   npm run bench:tokenizer        (or: node dist/bench/tokenizer.js [repetitions])
 */
import { readdirSync, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tokenizer } from 'tokenizers';
import { PreTrainedTokenizer } from '../src/tokenizer/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.basename(path.dirname(here)) === 'dist' ? path.resolve(here, '../..') : path.resolve(here, '..');
const dataDir = path.join(root, 'data', 'aozora-bunko', 'plain');
const tokDir = path.join(root, 'test', 'fixtures', 'tokenizer');
const reps = Math.max(1, Number(process.argv[2] ?? 5));

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const fmt = (x: number, w: number, d = 2): string => x.toFixed(d).padStart(w);

async function main(): Promise<void> {
  const files = readdirSync(dataDir)
    .filter((f) => f.endsWith('.txt'))
    .sort();
  const texts = files.map((f) => readFileSync(path.join(dataDir, f), 'utf8'));
  const ours = await PreTrainedTokenizer.fromPretrained(tokDir);
  const rust = Tokenizer.fromFile(path.join(tokDir, 'tokenizer.json'));
  const rustEncode = async (t: string): Promise<number[]> => (await rust.encode(t, null, { addSpecialTokens: false })).getIds();
  const oursEncode = (t: string): number[] => ours.encode(t, { addSpecialTokens: false });

  console.log(`tokenizer bench: ${files.length} Aozora texts, ${reps} repetitions (median), node ${process.version}, ${os.cpus()[0]?.model ?? '?'}`);
  // Warm-up (JIT, caches) and identity check.
  let mismatches = 0;
  for (let k = 0; k < texts.length; k++) {
    const a = oursEncode(texts[k]);
    const b = await rustEncode(texts[k]);
    const same = a.length === b.length && a.every((x, i) => x === b[i]);
    if (!same) {
      mismatches++;
      console.log(`MISMATCH: ${files[k]}: ours ${a.length} tokens, Rust ${b.length}`);
    }
  }

  const header = `${'file'.padEnd(44)} ${'MB'.padStart(6)} ${'tokens'.padStart(7)} | ${'ours MB/s'.padStart(9)} ${'tok/s'.padStart(9)} | ${'Rust MB/s'.padStart(9)} ${'tok/s'.padStart(9)} | ${'ours/Rust'.padStart(9)}`;
  console.log(header);
  console.log('-'.repeat(header.length));
  let totalBytes = 0;
  let totalTokens = 0;
  let totalOurs = 0;
  let totalRust = 0;
  for (let k = 0; k < texts.length; k++) {
    const text = texts[k];
    const bytes = Buffer.byteLength(text, 'utf8');
    const tOurs: number[] = [];
    const tRust: number[] = [];
    let nTokens = 0;
    for (let r = 0; r < reps; r++) {
      // Alternate which one goes first.
      for (const which of r % 2 === 0 ? ['ours', 'rust'] : ['rust', 'ours']) {
        const t0 = performance.now();
        const ids = which === 'ours' ? oursEncode(text) : await rustEncode(text);
        const dt = (performance.now() - t0) / 1000;
        (which === 'ours' ? tOurs : tRust).push(dt);
        nTokens = ids.length;
      }
    }
    const mo = median(tOurs);
    const mr = median(tRust);
    totalBytes += bytes;
    totalTokens += nTokens;
    totalOurs += mo;
    totalRust += mr;
    console.log(
      `${files[k].padEnd(44)} ${fmt(bytes / 1e6, 6, 3)} ${String(nTokens).padStart(7)} | ${fmt(bytes / 1e6 / mo, 9)} ${fmt(nTokens / mo, 9, 0)} | ${fmt(bytes / 1e6 / mr, 9)} ${fmt(nTokens / mr, 9, 0)} | ${fmt(mr / mo, 9)}`,
    );
  }
  console.log('-'.repeat(header.length));
  console.log(
    `${'TOTAL'.padEnd(44)} ${fmt(totalBytes / 1e6, 6, 3)} ${String(totalTokens).padStart(7)} | ${fmt(totalBytes / 1e6 / totalOurs, 9)} ${fmt(totalTokens / totalOurs, 9, 0)} | ${fmt(totalBytes / 1e6 / totalRust, 9)} ${fmt(totalTokens / totalRust, 9, 0)} | ${fmt(totalRust / totalOurs, 9)}`,
  );
  console.log('ours/Rust = speed ratio (Rust time / our time; > 1 means ours is faster). MB = 10^6 bytes of UTF-8 input.');
  console.log(`ids identical: ${mismatches === 0 ? 'yes, all files' : `NO (${mismatches} files differ)`}`);
  if (mismatches > 0) process.exitCode = 1;
}

await main();
