/**
 * JSON Lines files for the evaluation commands: every line is validated with a zod schema, and a bad
 * line is reported with its file and line number. Writers append one line per record (crash-safe
 * resumption: a finished record is on disk before the next starts).
 */
import { appendFile, mkdir, readFile } from 'node:fs/promises';
import * as path from 'node:path';
import type { z } from 'zod';
import { FugakuError } from '../errors.js';

/** Reads `file` as text; a missing or unreadable file is FILE_NOT_FOUND with `hint`. */
export async function readText(file: string, hint: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (e) {
    throw new FugakuError('FILE_NOT_FOUND', `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, hint);
  }
}

/** Parses JSONL text: one JSON value per non-blank line, each checked against `schema`. */
export function parseJsonl<T>(text: string, schema: z.ZodType<T>, file: string, what: string): T[] {
  const out: T[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (e) {
      throw new FugakuError('INVALID_ARGUMENT', `${file}:${i + 1} is not valid JSON (${(e as Error).message})`, `each line of ${file} must be one JSON object (${what}); fix or delete that line`);
    }
    const r = schema.safeParse(value);
    if (!r.success) {
      const issue = r.error.issues[0];
      const where = issue.path.length > 0 ? ` at ${issue.path.join('.')}` : '';
      throw new FugakuError('INVALID_ARGUMENT', `${file}:${i + 1} is not ${what}: ${issue.message}${where}`, `each line of ${file} must be ${what}; fix or delete that line`);
    }
    out.push(r.data);
  }
  return out;
}

/** Reads and validates a JSONL file. `missingHint` is shown when the file does not exist. */
export async function readJsonl<T>(file: string, schema: z.ZodType<T>, what: string, missingHint: string): Promise<T[]> {
  return parseJsonl(await readText(file, missingHint), schema, file, what);
}

/** Like readJsonl, but a file that does not exist yet reads as no records (resumable outputs). */
export async function readJsonlIfExists<T>(file: string, schema: z.ZodType<T>, what: string): Promise<T[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new FugakuError('FILE_NOT_FOUND', `cannot read ${file}: ${(e as Error).message}`, 'check the permissions of the output file');
  }
  return parseJsonl(text, schema, file, what);
}

/** Appends records to a JSONL file (creating its folder), non-ASCII kept as is like FastChat's ensure_ascii=False. */
export async function appendJsonl(file: string, records: readonly unknown[]): Promise<void> {
  if (records.length === 0) return;
  await mkdir(path.dirname(path.resolve(file)), { recursive: true });
  await appendFile(file, records.map((r) => JSON.stringify(r) + '\n').join(''), 'utf8');
}

/**
 * Serializes appends to one file so concurrent workers never interleave partial lines.
 * Each writer is an ordinary object owned by its caller.
 */
export function createJsonlAppender(file: string): { append(record: unknown): Promise<void>; flushed(): Promise<void> } {
  let chain: Promise<void> = Promise.resolve();
  return {
    append(record: unknown): Promise<void> {
      chain = chain.then(() => appendJsonl(file, [record]));
      return chain;
    },
    flushed: () => chain,
  };
}
