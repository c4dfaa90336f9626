/** bench/make-checkpoint.js: creates the folders its --out needs (benchmarks on a fresh machine), and --help. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { repoRoot, runFugaku, runNode } from './helpers.js';
import { withTempDir } from './build-safetensors.js';

const script = path.join(repoRoot, 'dist', 'bench', 'make-checkpoint.js');
// A shape small enough to write in well under a second (the vocabulary is the tokenizer's).
const SMALL = ['--preset', 'tiny', '--n-embd', '64', '--n-layer', '1', '--n-head', '2', '--n-inner', '128', '--n-positions', '64'];

test('make-checkpoint writes a GGUF file or a folder under parent folders that do not exist yet', async () => {
  await withTempDir(async (t) => {
    const gguf = path.join(t.dir, 'fresh', 'bench', 'tiny-q8_0.gguf');
    const made = await runNode([script, ...SMALL, '--gguf', 'q8_0', '--out', gguf]);
    assert.equal(made.code, 0, made.stderr);
    assert.ok(existsSync(gguf));
    const folder = path.join(t.dir, 'other', 'fresh', 'tiny');
    const madeFolder = await runNode([script, ...SMALL, '--out', folder]);
    assert.equal(madeFolder.code, 0, madeFolder.stderr);
    for (const f of ['config.json', 'model.safetensors.index.json', 'tokenizer.json']) assert.ok(existsSync(path.join(folder, f)), f);
    // Both load.
    for (const model of [gguf, folder]) {
      const r = await runFugaku(['generate', '--model', model, '--prompt', 'a', '--max-new-tokens', '2', '--json']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(JSON.parse(r.stdout).output_ids.length, 2);
    }
  });
});

test('make-checkpoint --help prints the usage and exits 0', async () => {
  const r = await runNode([script, '--help']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^usage: node dist\/bench\/make-checkpoint\.js --out /);
});
