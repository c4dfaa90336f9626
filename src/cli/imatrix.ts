/**
 * `fugaku imatrix`: llama.cpp's importance matrix of a model over a text file (src/eval/imatrix.ts),
 * written in llama.cpp's GGUF imatrix format (src/io/imatrix-writer.ts) for `llama-quantize --imatrix`
 * and `fugaku convert --imatrix`. A summary (or --json) on stdout, progress on stderr.
 */
import { readFile } from 'node:fs/promises';
import { Option, type Command } from 'commander';
import { FugakuError } from '../errors.js';
import { AutoTokenizer } from '../tokenizer/index.js';
import { AutoModelForCausalLM } from '../generation/causal-lm.js';
import { createBackend, type BackendName, type SimdChoice } from '../backend/select.js';
import type { WeightFormat } from '../model/load.js';
import { computeImatrix } from '../eval/imatrix.js';
import { writeImatrixGGUF } from '../io/imatrix-writer.js';
import { createTtyProgress } from '../io/progress.js';
import { dtypeOption, intArg, modelOption, simdOption, threadsOption } from './options.js';

interface ImatrixCliOptions {
  model: string;
  file: string;
  out: string;
  chunkSize: number;
  chunks?: number;
  processOutput: boolean;
  dtype: string;
  backend: string;
  threads?: number;
  simd: string;
  json: boolean;
}

/** Registers `fugaku imatrix`. */
export function registerImatrixCommand(program: Command): void {
  program
    .command('imatrix')
    .description("compute llama.cpp's importance matrix (Σx² of every matrix input column) over a text file, as a GGUF imatrix file (llama-imatrix's format)")
    .addOption(modelOption())
    .requiredOption('--file <path>', 'UTF-8 text file (one trailing newline is dropped, as llama-imatrix -f does)')
    .requiredOption('--out <file>', 'imatrix GGUF file to write (overwritten if it exists), e.g. imatrix.gguf')
    .option('--chunk-size <n>', 'tokens per chunk, each evaluated as one sequence (llama-imatrix -c)', intArg('--chunk-size', 1), 512)
    .option('--chunks <n>', 'evaluate at most N chunks (default: all whole chunks of the text)', intArg('--chunks', 1))
    .option('--process-output', 'also record output.weight (an untied LM head; llama-imatrix --process-output)', false)
    .addOption(dtypeOption())
    .addOption(new Option('--backend <name>', 'compute backend: auto (native addon, else reference), native, reference (activations are read on the host, so not webgpu)').choices(['auto', 'native', 'reference']).default('auto'))
    .addOption(threadsOption())
    .addOption(simdOption())
    .option('--json', 'print the summary as one JSON object', false)
    .action(async (o: ImatrixCliOptions) => {
      let text: string;
      try {
        text = await readFile(o.file, 'utf8');
      } catch (e) {
        throw new FugakuError('FILE_NOT_FOUND', `cannot read ${o.file}: ${(e as Error).message}`, 'pass an existing UTF-8 text file with --file');
      }
      if (text.endsWith('\n')) text = text.slice(0, -1);
      const started = Date.now();
      const tok = await AutoTokenizer.fromPretrained(o.model);
      const backend = await createBackend({ backend: o.backend as BackendName, gpu: false, threads: o.threads, simd: o.simd as SimdChoice, warn: (m) => process.stderr.write(`warning: ${m}\n`) });
      const lm = await AutoModelForCausalLM.fromPretrained(o.model, { backend, dtype: o.dtype as WeightFormat, progress: createTtyProgress(process.stderr) });
      const ids = tok.encode(text, { addSpecialTokens: false });
      const progress = createTtyProgress(process.stderr);
      const r = await computeImatrix(lm.model, ids, {
        chunkSize: o.chunkSize,
        maxChunks: o.chunks,
        processOutput: o.processOutput,
        onStart: (total) => progress.start(total, `imatrix: ${total} chunks of ${o.chunkSize} tokens`),
        onProgress: () => progress.advance(1),
      }).finally(() => progress.stop());
      const written = await writeImatrixGGUF(o.out, { entries: r.entries, datasets: [o.file], chunkCount: r.chunkCount, chunkSize: r.chunkSize });
      const summary = {
        out: written.file,
        bytes: written.bytes,
        tokens: ids.length,
        chunks: r.chunkCount,
        chunk_size: r.chunkSize,
        tensors: [...r.entries.keys()],
        backend: backend.name,
        seconds: (Date.now() - started) / 1000,
      };
      if (o.json) process.stdout.write(JSON.stringify(summary) + '\n');
      else process.stdout.write(`wrote ${summary.out}\n  ${summary.tensors.length} matrices, ${summary.chunks} chunks of ${summary.chunk_size} tokens (text: ${summary.tokens} tokens), ${summary.backend} backend, ${summary.seconds.toFixed(1)} s\n`);
    });
}
