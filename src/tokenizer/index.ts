/**
 * The Hugging Face-compatible tokenizer: a pure TypeScript port of what `tokenizers` (0.23) does with a
 * Unigram tokenizer.json, such as the llm-jp v2.2 tokenizer of Fugaku-LLM.
 */
export {
  PreTrainedTokenizer,
  AutoTokenizer,
  type EncodeOptions,
  type DecodeOptions,
  type EncodingWithOffsets,
} from './tokenizer.js';
