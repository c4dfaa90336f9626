/** Paths shared by the tests. Tests run compiled from dist/test/, fixtures stay in test/fixtures/. */
import { fileURLToPath } from 'node:url';
import * as path from 'node:path';

/** The repository root (works from both test/ and dist/test/). */
export const repoRoot: string = (() => {
  const here = path.dirname(fileURLToPath(import.meta.url));
  return path.basename(path.dirname(here)) === 'dist' ? path.resolve(here, '../..') : path.resolve(here, '..');
})();
export const fixturesDir = path.join(repoRoot, 'test', 'fixtures');
export const goldenDir = path.join(fixturesDir, 'golden');
export const tokenizerDir = path.join(fixturesDir, 'tokenizer');
export const modelDirs = {
  'tiny-fugaku': path.join(fixturesDir, 'models', 'tiny-fugaku'),
  'tiny-gpt2-f16': path.join(fixturesDir, 'models', 'tiny-gpt2-f16'),
  'tiny-ja-demo': path.join(repoRoot, 'models', 'tiny-ja-demo'),
} as const;
export type TinyModelName = keyof typeof modelDirs;
