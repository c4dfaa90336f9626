/**
 * `--backend webgpu` end to end, with real processes on the test GPU (SwiftShader from npm, see
 * software-gpu.ts): generate, chat, bench and perplexity print what the native backend prints (greedy
 * tokens, the same loss to 1e-4), the adapter is named in one stderr line, `serve` answers an OpenAI
 * client from the GPU, and with no adapter the CLI fails with what to install.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import OpenAI from 'openai';
import { modelDirs, repoRoot, runFugaku } from './helpers.js';
import { gpuTestEnv } from './software-gpu.js';

const env = gpuTestEnv() as Record<string, string>;
const demo = modelDirs['tiny-ja-demo'];

test('generate --backend webgpu: the same greedy text as the native backend, and the adapter in one line', async () => {
  const args = ['generate', '--model', demo, '--prompt', '以下は、タスクを説明する指示です。', '--max-new-tokens', '12'];
  const gpu = await runFugaku([...args, '--backend', 'webgpu'], { env });
  assert.equal(gpu.code, 0, gpu.stderr);
  assert.match(gpu.stderr, /^WebGPU adapter: .+$/m);
  const cpu = await runFugaku([...args, '--backend', 'native'], { env });
  assert.equal(cpu.code, 0, cpu.stderr);
  assert.ok(gpu.stdout.length > 0);
  assert.equal(gpu.stdout, cpu.stdout);
});

test('chat --backend webgpu answers piped lines like the native backend', async () => {
  const args = ['chat', '--model', demo, '--max-new-tokens', '10'];
  const gpu = await runFugaku([...args, '--backend', 'webgpu'], { env, stdin: '日本の首都は？\n' });
  const cpu = await runFugaku([...args, '--backend', 'native'], { env, stdin: '日本の首都は？\n' });
  assert.equal(gpu.code, 0, gpu.stderr);
  assert.equal(cpu.code, 0, cpu.stderr);
  assert.ok(gpu.stdout.trim().length > 0);
  assert.equal(gpu.stdout, cpu.stdout);
});

test('perplexity and eval perplexity --backend webgpu equal the native loss to 1e-4; bench --backend webgpu reports the webgpu backend', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fugaku-webgpu-'));
  const file = path.join(dir, 'text.txt');
  fs.writeFileSync(file, '吾輩は猫である。名前はまだ無い。どこで生れたかとんと見当がつかぬ。');
  const loss = async (backend: string) => {
    const r = await runFugaku(['perplexity', '--model', demo, '--file', file, '--json', '--backend', backend], { env });
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as { loss: number; tokens: number };
  };
  const [g, c] = [await loss('webgpu'), await loss('native')];
  assert.equal(g.tokens, c.tokens);
  assert.ok(Math.abs(g.loss - c.loss) < 1e-4, `${g.loss} vs ${c.loss}`);
  // `eval perplexity` (one JSON line per file, then the total) on the GPU gives the same total loss.
  const evalLoss = async (backend: string) => {
    const r = await runFugaku(['eval', 'perplexity', file, '--model', demo, '--json', '--backend', backend], { env });
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { file: string | null; loss: number });
    return lines.find((l) => l.file === null)!.loss;
  };
  const [eg, ec] = [await evalLoss('webgpu'), await evalLoss('native')];
  assert.ok(Math.abs(eg - ec) < 1e-4, `eval perplexity: ${eg} vs ${ec}`);
  const b = await runFugaku(['bench', '--model', demo, '--backend', 'webgpu', '--prompt-tokens', '16', '--new-tokens', '4', '--runs', '1', '--json'], { env });
  assert.equal(b.code, 0, b.stderr);
  const report = JSON.parse(b.stdout) as { backend: string; decodeTokensPerSecond?: number };
  assert.equal(report.backend, 'webgpu');
  fs.rmSync(dir, { recursive: true, force: true });
});

test('serve --backend webgpu: an OpenAI client gets the greedy completion the native server gives', async () => {
  const complete = async (backend: string) => {
    const child = spawn(process.execPath, [path.join(repoRoot, 'bin', 'fugaku.js'), 'serve', '--port', '0', '--model', demo, '--backend', backend], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      let err = '';
      child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
      const url = await new Promise<string>((resolve, reject) => {
        let out = '';
        const timer = setTimeout(() => reject(new Error(`serve did not start; stderr:\n${err}`)), 60_000);
        child.stdout!.setEncoding('utf8').on('data', (d: string) => {
          out += d;
          const m = /listening on (http:\/\/\S+)/.exec(out);
          if (m) {
            clearTimeout(timer);
            resolve(m[1]);
          }
        });
        child.on('exit', (code) => reject(new Error(`serve exited with ${code}; stderr:\n${err}`)));
      });
      const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'none', maxRetries: 0 });
      const r = await client.completions.create({ model: 'tiny-ja-demo', prompt: '吾輩は猫である。', max_tokens: 8, temperature: 0 });
      if (backend === 'webgpu') assert.match(err, /WebGPU adapter: /);
      return r.choices[0].text;
    } finally {
      child.kill('SIGKILL');
    }
  };
  const gpu = await complete('webgpu');
  assert.ok(gpu.length > 0);
  assert.equal(gpu, await complete('native'));
});

test('--backend webgpu without any adapter fails with error[BACKEND_UNAVAILABLE] and what to install', async () => {
  const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'fugaku-novulkan-'));
  const r = await runFugaku(['generate', '--model', demo, '--prompt', 'a', '--backend', 'webgpu'], { env: { FUGAKU_VULKAN_DIR: empty } });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /error\[BACKEND_UNAVAILABLE\].*libvulkan/);
  fs.rmSync(empty, { recursive: true, force: true });
});
