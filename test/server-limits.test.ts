/**
 * Slow and idle clients cannot hold the server: a client trickling its headers or its body is cut off
 * near the headers / whole-request timeout, and connections past the cap are closed at once while the
 * ones already open keep working. Real sockets (node:net) against an in-process server on loopback
 * with small limits (before, only Node's defaults applied: 40 connections trickling a chunked body at
 * 1 byte / 2 s stayed open past 30 s).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { AutoTokenizer } from '../src/tokenizer/index.js';
import { AutoModelForCausalLM } from '../src/generation/causal-lm.js';
import { createServer, listen, type ListeningServer } from '../src/server/index.js';
import { modelDirs } from './helpers.js';

let server: ListeningServer;

before(async () => {
  const dir = modelDirs['tiny-ja-demo'];
  const tokenizer = await AutoTokenizer.fromPretrained(dir);
  const model = await AutoModelForCausalLM.fromPretrained(dir, { dtype: 'f32' });
  const { app, engine } = createServer({ model, tokenizer, log: () => {} });
  server = await listen(app, engine, { host: '127.0.0.1', port: 0, headersTimeoutMs: 600, requestTimeoutMs: 1200, maxConnections: 4 });
});

after(async () => {
  await server.shutdown(500);
});

interface Conn {
  socket: net.Socket;
  /** Resolves with the ms from connect to close and what the server sent. */
  closed: Promise<{ ms: number; data: string }>;
}

function connect(): Promise<Conn> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    let data = '';
    const socket = net.connect(server.port, '127.0.0.1');
    const closed = new Promise<{ ms: number; data: string }>((r) => socket.on('close', () => r({ ms: performance.now() - t0, data })));
    socket.setEncoding('utf8').on('data', (d: string) => (data += d));
    socket.on('error', () => {});
    socket.once('connect', () => resolve({ socket, closed }));
    socket.once('error', reject);
  });
}

/** Writes `chunks` one by one every `everyMs` until the socket closes; resolves how many were sent. */
function trickle(c: Conn, chunks: string[], everyMs: number): Promise<number> {
  return new Promise((resolve) => {
    let i = 0;
    const timer = setInterval(() => {
      if (c.socket.destroyed || i >= chunks.length) {
        clearInterval(timer);
        resolve(i);
        return;
      }
      c.socket.write(chunks[i++]);
    }, everyMs);
  });
}

test('a client trickling its headers is cut off near --timeout-headers', async () => {
  const c = await connect();
  const sent = trickle(c, [...'GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: '.split(''), ...new Array(200).fill('a')], 100);
  const { ms, data } = await c.closed;
  assert.ok(ms < 3000, `closed after ${ms.toFixed(0)} ms (headers timeout 600 ms)`);
  assert.ok(data === '' || /^HTTP\/1\.1 408/.test(data), `no answer but a timeout: ${JSON.stringify(data.slice(0, 40))}`);
  assert.ok((await sent) < 100, 'the server closed before the client finished');
});

test('a client trickling a chunked body is cut off near --timeout-request; the server still answers others', async () => {
  const slow = await Promise.all([connect(), connect()]);
  const head = 'POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n';
  for (const c of slow) c.socket.write(head);
  const body = [...'{"model":"tiny-ja-demo","prompt":"a"}'].map((ch) => `1\r\n${ch}\r\n`);
  const sends = slow.map((c) => trickle(c, body, 150));
  const ok = await fetch(`${server.url}/health`);
  assert.equal(ok.status, 200, 'another client is served meanwhile');
  for (const c of slow) {
    const { ms } = await c.closed;
    assert.ok(ms < 4000, `closed after ${ms.toFixed(0)} ms (request timeout 1200 ms)`);
  }
  for (const s of sends) assert.ok((await s) < body.length, 'cut off before the body was complete');
});

test('connections past --max-connections are closed at once; the open ones keep working', async () => {
  const open = await Promise.all([connect(), connect(), connect(), connect()]);
  await new Promise((r) => setTimeout(r, 50));
  const extra = await connect();
  const { ms } = await extra.closed;
  assert.ok(ms < 500, `the 5th connection was closed after ${ms.toFixed(0)} ms`);
  // One of the open connections still gets its answer.
  open[0].socket.write('GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
  const { data } = await open[0].closed;
  assert.match(data, /^HTTP\/1\.1 200/);
  for (const c of open.slice(1)) c.socket.destroy();
  await Promise.all(open.slice(1).map((c) => c.closed));
  const again = await fetch(`${server.url}/health`);
  assert.equal(again.status, 200, 'below the cap again: new connections are served');
});

test('listen refuses limits that are not positive integers', async () => {
  const dir = modelDirs['tiny-ja-demo'];
  const { app, engine } = createServer({ model: await AutoModelForCausalLM.fromPretrained(dir, { dtype: 'f32' }), tokenizer: await AutoTokenizer.fromPretrained(dir), log: () => {} });
  assert.throws(() => listen(app, engine, { host: '127.0.0.1', port: 0, maxConnections: 0 }), /maxConnections must be an integer >= 1/);
});
