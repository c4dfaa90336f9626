/**
 * The chat template a model file declares: a GGUF file's `tokenizer.chat_template` (llama.cpp's key,
 * which other converters write), or a folder's tokenizer_config.json `chat_template` (a string).
 * This runtime renders chats with the built-in Fugaku-LLM instruct format (src/chat/template.ts) and
 * does not interpret Jinja at run time: the CLI compares what this returns with that format and says
 * so when they differ.
 */
import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { metaString, openGGUF } from './gguf.js';

export async function readModelChatTemplate(modelPath: string): Promise<string | null> {
  if (/\.gguf$/i.test(modelPath)) {
    const g = await openGGUF(modelPath);
    try {
      return metaString(g, 'tokenizer.chat_template') ?? null;
    } finally {
      await g.close();
    }
  }
  const text = await readFile(path.join(modelPath, 'tokenizer_config.json'), 'utf8').catch(() => null);
  if (text === null) return null;
  try {
    const v = (JSON.parse(text) as Record<string, unknown>).chat_template;
    return typeof v === 'string' ? v : null;
  } catch {
    return null;
  }
}
