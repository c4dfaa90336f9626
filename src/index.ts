/**
 * fugaku-llm: run Fugaku-LLM (and any Hugging Face GPT-2 checkpoint with a tokenizer.json) from
 * TypeScript. Names mirror Python transformers: AutoTokenizer, AutoModelForCausalLM, generate.
 */
export { FugakuError, isFugakuError, type ErrorCode } from './errors.js';
export { AutoTokenizer, PreTrainedTokenizer, type EncodeOptions, type DecodeOptions } from './tokenizer/index.js';
export {
  AutoModelForCausalLM,
  GPT2LMHeadModel,
  type FromPretrainedOptions,
  type GenerateCallOptions,
  type InputIds,
} from './generation/causal-lm.js';
export { generate, type GeneratedSequence, type GenerateDeps, type FinishReason, type TokenLogprob } from './generation/generate.js';
export { resolveGenerationConfig, type GenerationConfig, type GenerationOptions } from './generation/config.js';
export { buildLogitsProcessors, type LogitsProcessor } from './generation/processors.js';
export { Rng } from './generation/rng.js';
export { TextStreamer, type TextStreamerOptions } from './generation/streamer.js';
export { sequenceText } from './generation/generate.js';
export {
  applyChatTemplate,
  fitHistory,
  FUGAKU_CHAT_TEMPLATE,
  DEFAULT_SYSTEM_PROMPT,
  INPUT_SYSTEM_PROMPT,
  type ChatMessage,
} from './chat/index.js';
export { causalLMLoss, perplexity, combinePerplexity, type PerplexityResult } from './eval/perplexity.js';
export { generateAnswers } from './eval/mt-bench/answer.js';
export { runJudge, parseScore } from './eval/mt-bench/judge.js';
export { scoreJudgments, formatScoreTable } from './eval/mt-bench/score.js';
export { renderBarChart } from './eval/mt-bench/chart.js';
export { extractAnswer as extractGsm8kAnswer, buildGsm8kPrompt } from './eval/gsm8k.js';
export { createServer, createApp, Engine, listen } from './server/index.js';
export { GPT2Model } from './model/gpt2.js';
export { KVCache, type KVCacheDType } from './model/kv-cache.js';
export { parseGPT2Config, type GPT2Config } from './model/config.js';
export { loadGPT2, WEIGHT_FORMATS, type WeightFormat } from './model/load.js';
export type { Backend, Matrix, MatrixFormat, WeightTensor } from './backend/backend.js';
export { ReferenceBackend } from './backend/reference.js';
export { NativeBackend, type NativeBackendOptions } from './backend/native.js';
export { createBackend, type BackendName, type BackendChoice } from './backend/select.js';
export { quantizeRow, dequantizeRow, type QuantType } from './tensor/quant.js';
export { openGGUF } from './io/gguf.js';
export { openCheckpoint, type CheckpointFolder } from './io/checkpoint.js';
export { createTtyProgress, createNoopProgress, type ProgressReporter } from './io/progress.js';
export { defaultModelDir } from './paths.js';
