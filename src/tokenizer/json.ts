/**
 * Types of the parts of a Hugging Face `tokenizer.json` that this runtime reads, and small checked
 * accessors that turn malformed JSON into a `TOKENIZER_INVALID` FugakuError naming the field.
 *
 * Only the shapes we support are typed precisely; everything arrives as `unknown` and is checked.
 */
import { FugakuError } from '../errors.js';

/** `{"String": "..."}` or `{"Regex": "..."}` (the `pattern` of Replace / Split). */
export type PatternJson = { String: string } | { Regex: string };

export interface AddedTokenJson {
  id: number;
  content: string;
  single_word?: boolean;
  lstrip?: boolean;
  rstrip?: boolean;
  normalized?: boolean;
  special?: boolean;
}

export interface UnigramModelJson {
  type: 'Unigram';
  unk_id: number | null;
  vocab: [string, number][];
  byte_fallback?: boolean;
}

export type TemplatePieceJson =
  | { Sequence: { id: 'A' | 'B'; type_id: number } }
  | { SpecialToken: { id: string; type_id: number } };

export interface TemplateProcessingJson {
  type: 'TemplateProcessing';
  single: TemplatePieceJson[];
  pair: TemplatePieceJson[];
  special_tokens: Record<string, { id: string; ids: number[]; tokens: string[] }>;
}

/** A parsed JSON object (after `isObject`). */
export type JsonObject = Record<string, unknown>;

export function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function invalid(where: string, what: string): FugakuError {
  return new FugakuError(
    'TOKENIZER_INVALID',
    `tokenizer.json: ${where}: ${what}`,
    'the file must be a tokenizer.json written by Hugging Face tokenizers (PreTrainedTokenizerFast)',
  );
}

export function unsupported(where: string, what: string): FugakuError {
  return new FugakuError(
    'TOKENIZER_UNSUPPORTED',
    `tokenizer.json: ${where}: ${what}`,
    'this runtime implements the components the llm-jp (Fugaku-LLM) tokenizer uses: Unigram model, ' +
      'Replace/Sequence/Strip/Prepend/NFC/NFD/NFKC/NFKD/Lowercase/StripAccents normalizers, TemplateProcessing, ' +
      'ByteFallback/Replace/Fuse/Strip/Sequence decoders',
  );
}

export function getObject(o: JsonObject, key: string, where: string): JsonObject {
  const v = o[key];
  if (!isObject(v)) throw invalid(where, `"${key}" must be an object`);
  return v;
}

export function getArray(o: JsonObject, key: string, where: string): unknown[] {
  const v = o[key];
  if (!Array.isArray(v)) throw invalid(where, `"${key}" must be an array`);
  return v;
}

export function getString(o: JsonObject, key: string, where: string): string {
  const v = o[key];
  if (typeof v !== 'string') throw invalid(where, `"${key}" must be a string`);
  return v;
}

export function getNumber(o: JsonObject, key: string, where: string): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isFinite(v)) throw invalid(where, `"${key}" must be a number`);
  return v;
}

/** A non-negative integer field (ids, counts). */
export function getIndex(o: JsonObject, key: string, where: string): number {
  const v = getNumber(o, key, where);
  if (!Number.isInteger(v) || v < 0) throw invalid(where, `"${key}" must be a non-negative integer`);
  return v;
}

/** A boolean field that defaults when absent (serde `#[serde(default)]`). */
export function getBool(o: JsonObject, key: string, where: string, dflt: boolean): boolean {
  const v = o[key];
  if (v === undefined || v === null) return dflt;
  if (typeof v !== 'boolean') throw invalid(where, `"${key}" must be a boolean`);
  return v;
}

/** The `type` tag of a component (`{"type": "Replace", ...}`). */
export function getType(o: unknown, where: string): string {
  if (!isObject(o)) throw invalid(where, 'must be an object');
  const t = o['type'];
  if (typeof t !== 'string') throw invalid(where, 'missing "type"');
  return t;
}
