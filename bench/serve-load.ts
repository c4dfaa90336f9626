/**
 * Load test for `fugaku serve`: spawns the real server on loopback (port 0), then sends the same fixed
 * set of streaming completion requests twice — once with 1 client (one request at a time), once with
 * N concurrent clients — through the official `openai` client. Reports aggregate generated tokens/s and
 * p50/p99 time to first token for both runs, the throughput ratio, and checks that every request got a
 * complete response (a finish_reason, usage, [DONE]) or a proper OpenAI error.
 *
 *   npx tsc -p tsconfig.json && node dist/bench/serve-load.js [--requests 32] [--concurrency 8]
 *        [--max-tokens 64] [--dtype f32] [--model DIR]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.basename(path.dirname(here)) === 'dist' ? path.resolve(here, '../..') : path.resolve(here, '..');

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1] : fallback;
}
const requests = Number(arg('requests', '32'));
const concurrency = Number(arg('concurrency', '8'));
const maxTokens = Number(arg('max-tokens', '64'));
const dtype = arg('dtype', 'auto');
const modelArgs = process.argv.includes('--model') ? ['--model', arg('model', '')] : [];
/** The server answers to the model folder's name. */
const modelName = process.argv.includes('--model') ? path.basename(path.resolve(arg('model', ''))) : 'tiny-ja-demo';

const PROMPTS = ['日本の首都は', '富士山は', '昔々あるところに', 'スーパーコンピュータ「富岳」は', '今日の天気は', '猫という動物は', '東京タワーは', '人工知能とは'];

function startServer(): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [path.join(root, 'bin', 'fugaku.js'), 'serve', '--port', '0', '--max-batch', String(concurrency), '--max-queue', String(requests), '--dtype', dtype, ...modelArgs], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve({ child, url: m[1] });
    });
    child.on('exit', (code) => reject(new Error(`server exited (${code}) before listening:\n${err}`)));
  });
}

interface Outcome {
  ok: boolean;
  error?: string;
  ttftMs: number;
  tokens: number;
}

async function one(client: OpenAI, i: number): Promise<Outcome> {
  const t0 = performance.now();
  let ttft = NaN;
  let finish: string | null = null;
  let tokens = -1;
  try {
    const stream = await client.completions.create({
      model: modelName,
      prompt: PROMPTS[i % PROMPTS.length],
      max_tokens: maxTokens,
      temperature: 0.8,
      seed: i,
      stream: true,
      stream_options: { include_usage: true },
    });
    for await (const c of stream) {
      if (Number.isNaN(ttft) && c.choices.some((x) => x.text !== '')) ttft = performance.now() - t0;
      for (const x of c.choices) finish = x.finish_reason ?? finish;
      if (c.usage) tokens = c.usage.completion_tokens;
    }
  } catch (e) {
    const ok = e instanceof OpenAI.APIError && typeof e.status === 'number' && typeof (e.error as { message?: unknown } | undefined)?.message === 'string';
    return { ok, error: String(e), ttftMs: NaN, tokens: 0 };
  }
  if (finish === null || tokens < 0) return { ok: false, error: `incomplete stream (finish ${finish}, usage ${tokens})`, ttftMs: ttft, tokens: Math.max(0, tokens) };
  return { ok: true, ttftMs: Number.isNaN(ttft) ? performance.now() - t0 : ttft, tokens };
}

function pct(xs: number[], p: number): number {
  const s = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
}

async function run(client: OpenAI, clients: number): Promise<{ tps: number; p50: number; p99: number; wall: number; tokens: number; outcomes: Outcome[] }> {
  const outcomes: Outcome[] = new Array(requests);
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (next < requests) {
        const i = next++;
        outcomes[i] = await one(client, i);
      }
    }),
  );
  const wall = (performance.now() - t0) / 1000;
  const tokens = outcomes.reduce((a, o) => a + o.tokens, 0);
  const ttfts = outcomes.map((o) => o.ttftMs);
  return { tps: tokens / wall, p50: pct(ttfts, 50), p99: pct(ttfts, 99), wall, tokens, outcomes };
}

const { child, url } = await startServer();
try {
  const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 600_000 });
  await one(client, 0); // warm-up
  console.log(`fugaku serve load test: ${requests} streaming completions, max_tokens ${maxTokens}, dtype ${dtype}, server --max-batch ${concurrency}`);
  console.log(`machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, node ${process.version}`);
  const single = await run(client, 1);
  const multi = await run(client, concurrency);
  const row = (name: string, r: typeof single) =>
    `${name.padEnd(12)} ${r.tokens.toString().padStart(6)} tok  ${r.wall.toFixed(2).padStart(7)} s  ${r.tps.toFixed(1).padStart(8)} tok/s  TTFT p50 ${r.p50.toFixed(0).padStart(6)} ms  p99 ${r.p99.toFixed(0).padStart(6)} ms`;
  console.log(row('1 stream', single));
  console.log(row(`${concurrency} streams`, multi));
  console.log(`aggregate throughput ratio (${concurrency} streams / 1 stream): ${(multi.tps / single.tps).toFixed(2)}×`);
  let bad = 0;
  for (const [name, r] of [['1 stream', single], [`${concurrency} streams`, multi]] as const) {
    const errors = r.outcomes.filter((o) => o.error !== undefined);
    const broken = r.outcomes.filter((o) => !o.ok);
    bad += broken.length;
    console.log(`${name}: ${r.outcomes.length - errors.length}/${requests} complete responses, ${errors.length - broken.length} proper errors, ${broken.length} broken`);
    for (const o of broken) console.log(`  broken: ${o.error}`);
  }
  process.exitCode = bad === 0 ? 0 : 1;
} finally {
  child.kill('SIGTERM');
}
