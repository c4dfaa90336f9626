/** Shared by the eval tests: run the real `fugaku` binary, and a scripted OpenAI-compatible chat server. */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { repoRoot, runFugaku, type CliRun } from './helpers.js';

export const BIN = path.join(repoRoot, 'bin', 'fugaku.js');
export const MT_DATA = path.join(repoRoot, 'data', 'japanese_mt_bench');

export type Run = CliRun;

export function fugaku(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): Promise<Run> {
  return runFugaku(args, opts);
}

export interface ChatRequestLog {
  headers: IncomingMessage['headers'];
  body: {
    model: string;
    messages: { role: string; content: string }[];
    temperature?: number;
    max_tokens?: number;
    seed?: number;
  };
}

/** What the scripted server answers: a status + headers + body, or content for a 200 reply. */
export type Reply = { status: number; headers?: Record<string, string>; body?: string } | { content: string };

/**
 * A local OpenAI-chat-compatible server on 127.0.0.1 (port 0). `script(req, n)` decides each reply
 * (n = 0-based request number); every request is logged.
 */
export async function startChatServer(script: (req: ChatRequestLog, n: number) => Reply): Promise<{ baseUrl: string; log: ChatRequestLog[]; close(): Promise<void> }> {
  const log: ChatRequestLog[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let data = '';
    req.setEncoding('utf8');
    req.on('data', (c) => (data += c));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/chat/completions') {
        res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: `no route ${req.method} ${req.url}` } }));
        return;
      }
      const entry: ChatRequestLog = { headers: req.headers, body: JSON.parse(data) };
      const n = log.length;
      log.push(entry);
      const reply = script(entry, n);
      if ('content' in reply) {
        res.writeHead(200, { 'content-type': 'application/json' }).end(
          JSON.stringify({
            id: `chatcmpl-${n}`,
            object: 'chat.completion',
            created: 0,
            model: entry.body.model,
            choices: [{ index: 0, message: { role: 'assistant', content: reply.content }, finish_reason: 'stop' }],
          }),
        );
      } else {
        res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers }).end(reply.body ?? JSON.stringify({ error: { message: `scripted ${reply.status}` } }));
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    log,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
