/**
 * What a model path names: a Hugging Face checkpoint folder or a GGUF file. The tokenizer and the
 * model loader both start here, so a path that is neither (a README, a missing path) is one typed
 * error wherever the library is entered, not an ENOTDIR from deep inside.
 */
import { open, stat } from 'node:fs/promises';
import * as path from 'node:path';
import { FugakuError } from '../errors.js';

export type ModelPathKind = 'folder' | 'gguf';

const MODEL_PATH_HINT =
  'pass a Hugging Face model folder (config.json, tokenizer.json, *.safetensors) or a .gguf file written by `fugaku convert`';

/** The GGUF magic: the first four bytes of every GGUF file. */
const GGUF_MAGIC = 'GGUF';

/** A GGUF file by its name (the loaders open it as GGUF and report a bad header there). */
export function hasGGUFExtension(p: string): boolean {
  return p.toLowerCase().endsWith('.gguf');
}

async function startsWithGGUFMagic(file: string): Promise<boolean> {
  const fh = await open(file, 'r');
  try {
    const buf = Buffer.alloc(4);
    const { bytesRead } = await fh.read(buf, 0, 4, 0);
    return bytesRead === 4 && buf.toString('latin1') === GGUF_MAGIC;
  } finally {
    await fh.close();
  }
}

/**
 * Classifies `p`: a folder, or a GGUF file (named *.gguf, or any file starting with the GGUF magic).
 * Throws FILE_NOT_FOUND when nothing is there and MODEL_INVALID for any other kind of file.
 */
export async function resolveModelPath(p: string): Promise<ModelPathKind> {
  const abs = path.resolve(p);
  let st;
  try {
    st = await stat(abs);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' || code === 'ENOTDIR' ? 'does not exist' : `cannot be read (${(e as Error).message})`;
    throw new FugakuError('FILE_NOT_FOUND', `model path ${abs} ${why}`, MODEL_PATH_HINT, { cause: e });
  }
  if (st.isDirectory()) return 'folder';
  if (!st.isFile()) throw new FugakuError('MODEL_INVALID', `model path ${abs} is neither a model folder nor a GGUF file`, MODEL_PATH_HINT);
  if (hasGGUFExtension(abs)) return 'gguf';
  let magic: boolean;
  try {
    magic = await startsWithGGUFMagic(abs);
  } catch (e) {
    throw new FugakuError('FILE_NOT_FOUND', `model path ${abs} cannot be read (${(e as Error).message})`, MODEL_PATH_HINT, { cause: e });
  }
  if (magic) return 'gguf';
  throw new FugakuError('MODEL_INVALID', `model path ${abs} is a file but neither a model folder nor a GGUF file`, MODEL_PATH_HINT);
}
