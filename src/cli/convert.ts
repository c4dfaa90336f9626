/**
 * `fugaku convert`: a Hugging Face GPT-2 checkpoint folder → one GGUF file (q8_0, q4_0, the
 * k-quant mixes q4_k_m/q5_k_m/q6_k/q3_k_m/iq4_xs, f16, bf16 or f32) that llama.cpp / node-llama-cpp load as architecture "gpt2" and that every fugaku
 * command reads back. Progress bar on stderr (TTY only); a summary (or --json) on stdout.
 */
import type { Command } from 'commander';
import { CONVERT_DTYPES, convertToGGUF, type ConvertSummary, type TokenizerModel } from '../convert/to-gguf.js';
import type { QuantizerChoice } from '../convert/ggml-quantizer.js';
import { createTtyProgress, formatBytes } from '../io/progress.js';

interface ConvertCliOptions {
  model: string;
  dtype: string;
  out: string;
  force: boolean;
  json: boolean;
  name?: string;
  licenseName?: string;
  licenseLink?: string;
  licenseFile?: string;
  embedLicense: boolean;
  tokenizerModel: string;
  imatrix?: string;
  quantizer?: string;
}

function printSummary(s: ConvertSummary): void {
  const types = Object.entries(s.types).map(([t, n]) => `${n} ${t}`).join(', ');
  const lines = [
    `wrote ${s.out}`,
    `  ${s.dtype} (general.file_type ${s.fileType}), architecture ${s.architecture}, ${s.tensors} tensors (${types}), tokenizer.ggml.model ${s.tokenizerModel}`,
    `  ${formatBytes(s.bytes)} written, ${formatBytes(s.bytesRead)} read, ${s.seconds.toFixed(1)} s`,
    `  vocabulary: ${s.vocab.tokens} tokens (${s.vocab.pieces} from tokenizer.json + ${s.vocab.padded} unused padding), bos ${s.vocab.bos}, eos ${s.vocab.eos}, unk ${s.vocab.unk}, pad ${s.vocab.pad}`,
    `  licence: ${s.license.name} <${s.license.link}>${s.license.textFrom ? ` (text embedded from ${s.license.textFrom})` : ''}`,
  ];
  if (s.quantizer) lines.push(`  quantizer: ${s.quantizer}`);
  if (s.imatrix) lines.push(`  importance matrix: ${s.imatrix.file} (${s.imatrix.format}, ${s.imatrix.entries} entries, used for ${s.imatrix.used} tensors)`);
  for (const w of s.warnings) lines.push(`  warning: ${w}`);
  process.stdout.write(lines.join('\n') + '\n');
}

/** Registers `fugaku convert`. */
export function registerConvertCommand(program: Command): void {
  program
    .command('convert')
    .description('convert a Hugging Face GPT-2 checkpoint folder (Fugaku-LLM) to GGUF for llama.cpp / node-llama-cpp and fugaku')
    .requiredOption('--model <dir>', 'Hugging Face model folder (config.json, *.safetensors, tokenizer.json)')
    .requiredOption('--dtype <type>', `tensor type of the weight matrices: ${CONVERT_DTYPES.join(', ')} (q4_k_m, q5_k_m, q6_k, q3_k_m, iq4_xs: llama.cpp's per-tensor mixes, bit-identical to llama-quantize)`)
    .requiredOption('--out <file>', 'GGUF file to write, e.g. fugaku-llm-13b-q8_0.gguf')
    .option('--force', 'overwrite --out if it exists', false)
    .option('--name <name>', 'general.name (default: the folder name)')
    .option('--license-name <name>', 'general.license.name (default: "Fugaku-LLM Terms of Use")')
    .option('--license-link <url>', 'general.license.link (default: the Fugaku-LLM-13B LICENSE on Hugging Face)')
    .option('--license-file <file>', 'embed this text as general.license.text (default: the folder\'s LICENSE file, if any)')
    .option('--no-embed-license', 'do not embed any licence text')
    .option('--tokenizer-model <model>', 'tokenizer.ggml.model for llama.cpp: llama (SentencePiece merges, byte fallback) or t5 (Unigram/Viterbi, no byte fallback); see docs/GGUF.md', 'llama')
    .option('--imatrix <file>', 'importance matrix (llama-imatrix GGUF or legacy .dat) for the k-quant types, as llama-quantize --imatrix')
    .option('--quantizer <which>', 'k-quant quantizer: native (the addon), typescript (the spec) or auto (native when the addon loads; default, or FUGAKU_QUANTIZER); the same bytes')
    .option('--json', 'print the summary as one JSON object', false)
    .action(async (o: ConvertCliOptions) => {
      const summary = await convertToGGUF({
        model: o.model,
        out: o.out,
        dtype: o.dtype,
        force: o.force,
        name: o.name,
        licenseName: o.licenseName,
        licenseLink: o.licenseLink,
        licenseFile: o.embedLicense ? o.licenseFile : null,
        tokenizerModel: o.tokenizerModel as TokenizerModel,
        imatrix: o.imatrix,
        quantizer: o.quantizer as QuantizerChoice | undefined,
        progress: createTtyProgress(process.stderr),
      });
      if (o.json) process.stdout.write(JSON.stringify(summary) + '\n');
      else printSummary(summary);
    });
}
