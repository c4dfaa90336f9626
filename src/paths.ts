/** Locations inside the installed package (works from src/ under tsx and from dist/src/). */
import { fileURLToPath } from 'node:url';
import * as path from 'node:path';

const here = path.dirname(fileURLToPath(import.meta.url));
/** The package root (the folder with package.json). */
export const packageRoot: string = path.basename(path.dirname(here)) === 'dist' ? path.resolve(here, '../..') : path.resolve(here, '..');
/** The embedded default model: a small GPT-2 trained on Japanese text in the instruct format. */
export const defaultModelDir: string = path.join(packageRoot, 'models', 'tiny-ja-demo');
