/**
 * A model's terms of use, as its files carry them: Fugaku-LLM's terms require that a service built on
 * the model include them in its own terms, so `fugaku serve` shows what this finds (at /terms, with a
 * link on the chat page and a line at start). A checkpoint folder carries them as `LICENSE` and/or
 * `LICENSE_ja` (the Fugaku-LLM repositories' files); a GGUF file as `general.license.text`
 * (`fugaku convert` embeds the folder's LICENSE there). A GGUF file of another converter often names
 * its licence only (`general.license` id, `general.license.name`, `general.license.link`): then these
 * are shown as a short text pointing at the terms, since that is all the file carries.
 */
import { readFile, stat } from 'node:fs/promises';
import * as path from 'node:path';
import { metaString, openGGUF } from './gguf.js';

export const TERMS_FILES = ['LICENSE', 'LICENSE_ja', 'LICENSE.txt', 'LICENSE_ja.txt'] as const;

/** The terms text of the model at `modelPath` (folder or .gguf), or null when it carries none. */
export async function readModelTerms(modelPath: string): Promise<string | null> {
  if (/\.gguf$/i.test(modelPath)) {
    const g = await openGGUF(modelPath);
    try {
      const text = metaString(g, 'general.license.text');
      if (text !== undefined && text.trim() !== '') return text;
      return licenceReference(metaString(g, 'general.license'), metaString(g, 'general.license.name'), metaString(g, 'general.license.link'));
    } finally {
      await g.close();
    }
  }
  const parts: string[] = [];
  for (const name of TERMS_FILES) {
    const file = path.join(modelPath, name);
    const st = await stat(file).catch(() => null);
    if (!st?.isFile()) continue;
    const text = await readFile(file, 'utf8');
    if (text.trim() !== '') parts.push(text.trimEnd());
  }
  return parts.length > 0 ? parts.join('\n\n') + '\n' : null;
}

/** The text shown for a GGUF file that names its licence but does not embed it (null: names none). */
export function licenceReference(id: string | undefined, name: string | undefined, link: string | undefined): string | null {
  const clean = (v: string | undefined): string | null => (v === undefined || v.trim() === '' ? null : v.trim());
  const [i, n, l] = [clean(id), clean(name), clean(link)];
  if (n === null && l === null && (i === null || i === 'other')) return null;
  const lines = [`This model's GGUF file names its licence but does not include its text.`];
  if (n !== null) lines.push(`Licence: ${n}${i !== null && i !== 'other' ? ` (${i})` : ''}`);
  else if (i !== null) lines.push(`Licence: ${i}`);
  if (l !== null) lines.push(`Terms: ${l}`);
  return lines.join('\n') + '\n';
}
