/**
 * The thin Node adapter: serves a Hono app with @hono/node-server on host:port, with bounded reads
 * (headers and whole-request timeouts, a connection cap: slow or idle clients cannot hold the server),
 * and shuts it down gracefully: the engine stops admitting work first while the listener stays open
 * (new requests and /health answer 503 `shutting_down`), running requests finish or are cancelled,
 * then the listener and every connection close.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import type { Hono } from 'hono';
import { FugakuError } from '../errors.js';
import type { Engine } from './engine.js';

export interface ListeningServer {
  /** e.g. http://127.0.0.1:8000 (the real port when 0 was asked for). */
  url: string;
  host: string;
  port: number;
  /** Stops accepting, lets running requests finish for `graceMs` (then cancels them), closes every connection. */
  shutdown(graceMs?: number): Promise<void>;
}

export interface ListenOptions {
  host: string;
  port: number;
  /** Most milliseconds a client may take to send the request headers (default 10 000). */
  headersTimeoutMs?: number;
  /** Most milliseconds a client may take to send the whole request, body included (default 600 000, llama-server's read timeout). */
  requestTimeoutMs?: number;
  /** Most open connections; more are closed at once (default 512). */
  maxConnections?: number;
}

/** The defaults of ListenOptions' limits (also the CLI's). */
export const LISTEN_DEFAULTS = { headersTimeoutMs: 10_000, requestTimeoutMs: 600_000, maxConnections: 512 } as const;

export function listen(app: Hono, engine: Engine, opts: ListenOptions): Promise<ListeningServer> {
  const headersTimeout = opts.headersTimeoutMs ?? LISTEN_DEFAULTS.headersTimeoutMs;
  const requestTimeout = opts.requestTimeoutMs ?? LISTEN_DEFAULTS.requestTimeoutMs;
  const maxConnections = opts.maxConnections ?? LISTEN_DEFAULTS.maxConnections;
  for (const [name, v] of [['headersTimeoutMs', headersTimeout], ['requestTimeoutMs', requestTimeout], ['maxConnections', maxConnections]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new FugakuError('INVALID_ARGUMENT', `${name} must be an integer >= 1, got ${v}`, 'e.g. --timeout-headers 10 --timeout-request 600 --max-connections 512');
  }
  return new Promise((resolve, reject) => {
    let server: Server;
    const onError = (e: NodeJS.ErrnoException) => {
      reject(
        new FugakuError(
          'INVALID_ARGUMENT',
          `cannot listen on ${opts.host}:${opts.port}: ${e.code ?? e.message}`,
          e.code === 'EADDRINUSE' ? 'the port is taken: choose another --port (0 picks a free one)' : 'check --host and --port',
        ),
      );
    };
    // Node checks the timeouts every connectionsCheckingInterval (30 s by default): check often enough
    // that a trickling client is dropped close to its limit. (headersTimeout must not exceed requestTimeout.)
    const serverOptions = {
      headersTimeout: Math.min(headersTimeout, requestTimeout),
      requestTimeout,
      connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(Math.min(headersTimeout, requestTimeout) / 4))),
    };
    server = serve({ fetch: app.fetch, port: opts.port, hostname: opts.host, serverOptions }, (info: AddressInfo) => {
      server.off('error', onError);
      const host = info.address.includes(':') ? `[${info.address}]` : info.address;
      let closing: Promise<void> | null = null;
      resolve({
        url: `http://${host}:${info.port}`,
        host: info.address,
        port: info.port,
        shutdown(graceMs = 5000) {
          closing ??= (async () => {
            // Stop admitting work while still listening: until running requests are done (or cancelled
            // after graceMs), new requests and /health get 503 shutting_down rather than a refused connection.
            await engine.shutdown(graceMs);
            const closed = new Promise<void>((r) => server.close(() => r()));
            server.closeIdleConnections();
            // Streams write their last events and [DONE] right after the engine settles.
            const timer = setTimeout(() => server.closeAllConnections(), 1000);
            await closed;
            clearTimeout(timer);
          })();
          return closing;
        },
      });
    }) as Server;
    server.maxConnections = maxConnections;
    server.once('error', onError);
  });
}
