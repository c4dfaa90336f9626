/** Paths shared by the tests. Tests run compiled from dist/test/, fixtures stay in test/fixtures/. */
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { defaultModelDir, packageRoot } from '../src/paths.js';
import type { Rng } from '../src/generation/rng.js';

/** The repository root (works from both test/ and dist/test/). */
export const repoRoot: string = packageRoot;
export const fixturesDir = path.join(repoRoot, 'test', 'fixtures');
export const goldenDir = path.join(fixturesDir, 'golden');
export const tokenizerDir = path.join(fixturesDir, 'tokenizer');
export const modelDirs = {
  'tiny-fugaku': path.join(fixturesDir, 'models', 'tiny-fugaku'),
  'tiny-gpt2-f16': path.join(fixturesDir, 'models', 'tiny-gpt2-f16'),
  'tiny-ja-demo': defaultModelDir,
} as const;
export type TinyModelName = keyof typeof modelDirs;

import { readFileSync } from 'node:fs';

export interface GoldenRef { offset: number; shape: number[] }
export interface GoldenCase {
  name: string;
  input_ids: number[];
  last_logits: GoldenRef;
  all_logits?: GoldenRef;
  greedy: number[];
  'greedy_rep1.3': number[];
  loss?: number;
}
export interface ModelGolden {
  model: string;
  cases: GoldenCase[];
  batched_left_padded: { input_ids: number[][]; attention_mask: number[][]; greedy: number[][] };
  bf16_gpu_last_logits?: Record<string, GoldenRef>;
}

/** Loads `<model>.json` and a reader for arrays in `<model>.f32` (offsets are in bytes). */
export function loadModelGolden(name: TinyModelName): { golden: ModelGolden; array: (ref: GoldenRef) => Float32Array } {
  const golden = JSON.parse(readFileSync(`${goldenDir}/${name}.json`, 'utf8')) as ModelGolden;
  const buf = readFileSync(`${goldenDir}/${name}.f32`);
  const all = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
  return {
    golden,
    array: (ref) => all.subarray(ref.offset / 4, ref.offset / 4 + ref.shape.reduce((a, b) => a * b, 1)),
  };
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

import assert from 'node:assert/strict';
import { FugakuError, type ErrorCode } from '../src/errors.js';

/** Asserts that `p` rejects with a FugakuError of `code` whose message contains every `parts`, with a hint. */
export async function rejectsWith(p: Promise<unknown>, code: ErrorCode, ...parts: string[]): Promise<FugakuError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof FugakuError, `expected FugakuError, got ${String(e)}`);
    assert.equal(e.code, code, `wrong code; message: ${e.message}`);
    for (const part of parts) assert.ok(e.message.includes(part), `message "${e.message}" lacks "${part}"`);
    assert.ok(e.hint && e.hint.length > 0, 'error has a hint');
    return e;
  }
  assert.fail(`expected ${code}, but it resolved`);
}

export interface CliRun { code: number | null; stdout: string; stderr: string }

/** Runs the real `fugaku` binary in a child process (stdin text, extra env, working folder). */
export function runFugaku(args: string[], opts: { stdin?: string; cwd?: string; env?: Record<string, string> } = {}): Promise<CliRun> {
  return runNode([path.join(repoRoot, 'bin', 'fugaku.js'), ...args], opts);
}

/** Runs `node ARGS…` (a script and its arguments) in a child process. */
export function runNode(args: string[], opts: { stdin?: string; cwd?: string; env?: Record<string, string> } = {}): Promise<CliRun> {
  return runCommand(process.execPath, args, opts);
}

/** Runs a program (e.g. `bash`) with its arguments in a child process. */
export function runCommand(cmd: string, args: string[], opts: { stdin?: string; cwd?: string; env?: Record<string, string> } = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], cwd: opts.cwd, env: { ...process.env, ...opts.env } });
    let stdout = '';
    let stderr = '';
    p.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
    p.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code, stdout, stderr }));
    p.stdin.end(opts.stdin ?? '');
  });
}

/** n normal samples (Box–Muller) times `scale`, from a seeded Rng. */
export function randn(rng: Rng, n: number, scale = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = Math.max(rng.nextFloat(), 1e-12);
    a[i] = scale * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng.nextFloat());
  }
  return a;
}

/** max |a − b| over max |b|: the op tests' error measure. */
export function relErr(a: Float32Array, b: Float32Array): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num = Math.max(num, Math.abs(a[i] - b[i]));
    den = Math.max(den, Math.abs(b[i]));
  }
  return num / Math.max(den, 1e-30);
}
