/**
 * Fugaku-LLM's terms of use travel with the model: a folder's LICENSE/LICENSE_ja (and the GGUF file
 * `fugaku convert` makes from it, as general.license.text) are served at /terms, linked from the chat
 * page and announced at start by `fugaku serve` (a real process); a model without them gets 404.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { readModelTerms } from '../src/io/terms.js';
import { modelDirs, repoRoot, runFugaku } from './helpers.js';

const TERMS = 'Fugaku-LLM利用規約\n\nこの利用規約（以下「本規約」といいます）は、…（テスト用の文面）\n';
const TERMS_EN = 'Fugaku-LLM Terms of Use (test text)\n';

function serveOnce(model: string): Promise<{ terms: Response; page: string; stderr: string }> {
  const child = spawn(process.execPath, [path.join(repoRoot, 'bin', 'fugaku.js'), 'serve', '--port', '0', '--model', model], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`no start in 30 s: ${err}`)); }, 30_000);
    child.on('exit', (code) => { if (!out.includes('listening')) { clearTimeout(timer); reject(new Error(`exited ${code}: ${err}`)); } });
    child.stdout.setEncoding('utf8').on('data', async (d: string) => {
      out += d;
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (!m) return;
      clearTimeout(timer);
      try {
        const terms = await fetch(`${m[1]}/terms`);
        await terms.clone().text();
        const page = await (await fetch(`${m[1]}/`)).text();
        child.kill('SIGTERM');
        await new Promise((r) => child.on('exit', r));
        resolve({ terms, page, stderr: err });
      } catch (e) {
        child.kill('SIGKILL');
        reject(e);
      }
    });
  });
}

test('a folder with LICENSE and LICENSE_ja, and the GGUF converted from it: /terms, the chat page link, the start line', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'fugaku-terms-'));
  try {
    const model = path.join(dir, 'Fugaku-LLM-demo');
    cpSync(modelDirs['tiny-ja-demo'], model, { recursive: true });
    writeFileSync(path.join(model, 'LICENSE'), TERMS_EN);
    writeFileSync(path.join(model, 'LICENSE_ja'), TERMS);
    assert.equal(await readModelTerms(model), `${TERMS_EN.trimEnd()}\n\n${TERMS.trimEnd()}\n`);
    const folder = await serveOnce(model);
    assert.equal(folder.terms.status, 200);
    assert.match(folder.terms.headers.get('content-type') ?? '', /^text\/plain/);
    assert.equal(await folder.terms.text(), await readModelTerms(model));
    assert.match(folder.page, /<a id="terms" href="\/terms"/);
    assert.match(folder.stderr, /terms of use .* are served at http:\/\/\S+\/terms/);

    const gguf = path.join(dir, 'demo-q8_0.gguf');
    const conv = await runFugaku(['convert', '--model', model, '--dtype', 'q8_0', '--out', gguf]);
    assert.equal(conv.code, 0, conv.stderr);
    assert.equal(await readModelTerms(gguf), await readModelTerms(model), 'convert embeds both files');
    const file = await serveOnce(gguf);
    assert.equal(file.terms.status, 200);
    assert.equal(await file.terms.text(), await readModelTerms(model));
    assert.match(file.page, /href="\/terms"/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the embedded demo model carries no terms: /terms is 404, no link, no start line', async () => {
  assert.equal(await readModelTerms(modelDirs['tiny-ja-demo']), null);
  const r = await serveOnce(modelDirs['tiny-ja-demo']);
  assert.equal(r.terms.status, 404);
  assert.equal(((await r.terms.json()) as { error: { code: string } }).error.code, 'no_terms');
  assert.doesNotMatch(r.page, /href="\/terms"/);
  assert.doesNotMatch(r.stderr, /terms of use/);
});
