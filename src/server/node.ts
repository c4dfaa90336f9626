/**
 * The thin Node adapter: serves a Hono app with @hono/node-server on host:port and shuts it down
 * gracefully (stop accepting, let the engine finish or cancel in-flight work, close connections).
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

export function listen(app: Hono, engine: Engine, opts: { host: string; port: number }): Promise<ListeningServer> {
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
    server = serve({ fetch: app.fetch, port: opts.port, hostname: opts.host }, (info: AddressInfo) => {
      server.off('error', onError);
      const host = info.address.includes(':') ? `[${info.address}]` : info.address;
      let closing: Promise<void> | null = null;
      resolve({
        url: `http://${host}:${info.port}`,
        host: info.address,
        port: info.port,
        shutdown(graceMs = 5000) {
          closing ??= (async () => {
            const closed = new Promise<void>((r) => server.close(() => r()));
            server.closeIdleConnections();
            await engine.shutdown(graceMs);
            // Streams write their last events and [DONE] right after the engine settles.
            const timer = setTimeout(() => server.closeAllConnections(), 1000);
            await closed;
            clearTimeout(timer);
          })();
          return closing;
        },
      });
    }) as Server;
    server.once('error', onError);
  });
}
