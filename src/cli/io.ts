/** Line-oriented stdin/stdout helpers for the filter commands (tokenize, detokenize). */
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { FugakuError } from '../errors.js';

/** Calls `fn` for each line of `input` (1-based line numbers), writing each result as a line. */
export async function mapLines(input: Readable, output: Writable, fn: (line: string, lineNo: number) => string): Promise<void> {
  const rl = createInterface({ input, crlfDelay: Infinity });
  let n = 0;
  for await (const line of rl) {
    n++;
    if (line.trim() === '') continue;
    output.write(fn(line, n) + '\n');
  }
}

export function parseJSONLine(line: string, lineNo: number, expected: string): unknown {
  try {
    return JSON.parse(line);
  } catch {
    throw new FugakuError('INVALID_ARGUMENT', `stdin line ${lineNo} is not valid JSON`, `each line must be ${expected}`);
  }
}
