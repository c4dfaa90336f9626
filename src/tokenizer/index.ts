/** The Hugging Face-compatible tokenizer (pure TypeScript port of `tokenizers` for Unigram tokenizer.json files). */
export {
  PreTrainedTokenizer,
  AutoTokenizer,
  type EncodeOptions,
  type DecodeOptions,
  type EncodingWithOffsets,
} from './tokenizer.js';
export { translateOnigRegex, OnigPattern } from './regex.js';
