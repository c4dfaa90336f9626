/**
 * End to end: the real `fugaku serve` process (node bin/fugaku.js serve --port 0) on loopback, used
 * through the official `openai` client: API key from the environment, concurrent streams give the
 * same outputs as the same requests one at a time, one log line per request, SIGTERM with a request in
 * flight lets it finish and exits 0.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import OpenAI from 'openai';
import { repoRoot } from './helpers.js';

interface Spawned {
  child: ChildProcess;
  url: string;
  stderr: () => string;
  exited: Promise<number | null>;
}

/** Starts `fugaku serve` and waits for its "listening on URL" line (fails with its stderr if it exits first). */
function startServe(args: string[], env: Record<string, string> = {}): Promise<Spawned> {
  const child = spawn(process.execPath, [path.join(repoRoot, 'bin', 'fugaku.js'), 'serve', '--port', '0', ...args], {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`fugaku serve did not start in 30 s; stderr:\n${err}`)), 30_000);
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const m = /fugaku serve: listening on (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, url: m[1], stderr: () => err, exited });
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`fugaku serve exited with ${code} before listening; stderr:\n${err}`));
    });
  });
}

const KEY = 'e2e-secret';
let srv: Spawned;
let client: OpenAI;

before(async () => {
  srv = await startServe(['--max-batch', '4', '--dtype', 'f32', '--alias', 'fugaku-demo'], { FUGAKU_API_KEY: KEY });
  client = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: KEY, maxRetries: 0 });
});

after(() => {
  if (srv.child.exitCode === null) srv.child.kill('SIGKILL');
});

test('listens on loopback with the real port; the API key comes from FUGAKU_API_KEY', async () => {
  assert.match(srv.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.notEqual(srv.url, 'http://127.0.0.1:0');
  await assert.rejects(new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: 'nope', maxRetries: 0 }).models.list(), (e: unknown) => e instanceof OpenAI.AuthenticationError);
  const models = await client.models.list();
  assert.deepEqual(models.data.map((m) => m.id), ['tiny-ja-demo', 'fugaku-demo']);
});

test('concurrent streaming requests get the same outputs as alone (greedy identical, seeded identical)', async () => {
  const questions = ['日本の首都はどこですか？', '富士山について教えてください。', 'おすすめの本は？', '猫と犬、どちらが好き？'];
  const params = (q: string, i: number) => ({
    model: 'fugaku-demo',
    messages: [{ role: 'user' as const, content: q }],
    max_tokens: 10,
    ...(i % 2 === 0 ? { temperature: 0 } : { temperature: 0.8, seed: 1000 + i }),
  });
  const streamText = async (q: string, i: number): Promise<string> => {
    let s = '';
    for await (const c of await client.chat.completions.create({ ...params(q, i), stream: true })) s += c.choices[0]?.delta.content ?? '';
    return s;
  };
  const alone: string[] = [];
  for (let i = 0; i < questions.length; i++) alone.push(await streamText(questions[i], i));
  const together = await Promise.all(questions.map((q, i) => streamText(q, i)));
  assert.deepEqual(together, alone);
  assert.ok(alone.every((a) => a.length > 0));
  const m = await (await fetch(`${srv.url}/metrics`)).text();
  const le1 = Number(/^fugaku_batch_size_bucket\{le="1"\} (\d+)$/m.exec(m)![1]);
  const all = Number(/^fugaku_batch_size_count (\d+)$/m.exec(m)![1]);
  assert.ok(all - le1 > 0, 'some steps ran several sequences at once');
});

test('SIGTERM with a request in flight: /health and new requests get 503 shutting_down while it completes; the process logs and exits 0', async () => {
  // ignore_eos and 400 tokens: the answer runs long enough for the checks below.
  const stream = await client.completions.create({ model: 'tiny-ja-demo', prompt: '昔々', max_tokens: 400, temperature: 0, stream: true, ignore_eos: true } as never) as unknown as AsyncIterable<OpenAI.Completion>;
  const it = stream[Symbol.asyncIterator]();
  const first = await it.next();
  assert.equal(first.done, false);
  srv.child.kill('SIGTERM');
  // The listener stays open while the request drains (before, connections were refused at once).
  let health: Response | null = null;
  for (let i = 0; i < 100; i++) {
    health = await fetch(`${srv.url}/health`);
    if (health.status === 503) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(health!.status, 503);
  assert.deepEqual(await health!.json(), { status: 'shutting_down' });
  const late = await fetch(`${srv.url}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
    body: JSON.stringify({ model: 'tiny-ja-demo', prompt: '今日は', max_tokens: 4 }),
  });
  assert.equal(late.status, 503);
  assert.equal(((await late.json()) as { error: { code: string } }).error.code, 'shutting_down');
  let finish: string | null = null;
  let text = (first.value as OpenAI.Completion).choices[0].text;
  for (let r = await it.next(); !r.done; r = await it.next()) {
    for (const c of r.value.choices) {
      text += c.text;
      finish = c.finish_reason ?? finish;
    }
  }
  assert.ok(finish === 'length' || finish === 'stop', `the in-flight request finished normally (${finish})`);
  assert.ok(text.length > 0);
  assert.equal(await srv.exited, 0, srv.stderr());
  const lines = srv.stderr().split('\n');
  assert.ok(lines.some((l) => /SIGTERM: shutting down/.test(l)));
  assert.ok(lines.some((l) => /POST \/v1\/chat\/completions 200 \d+ms stream \d+ tokens$/.test(l)), 'one line per request');
  assert.ok(lines.some((l) => /GET \/v1\/models 401 \d+ms$/.test(l)));
  assert.equal(lines.filter((l) => / \/v1\/chat\/completions /.test(l)).length, 8, 'exactly one log line for each of the 8 chat requests');
  assert.match(srv.stderr(), /server stopped/);
});
