// Puts the app on a socket: plain HTTP, or HTTPS whose certificate is reloaded when its files change
// (cert-manager renews in place), and a graceful close on SIGTERM/SIGINT: stop accepting, let requests in
// flight finish (bounded), then close the app and the sources.

import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { dirname } from 'node:path';
import { closeServer, trackSockets } from '../wire/close-server.js';
import { assemble, type AppOptions } from './app.js';
import { serveTokenGet } from './routes/token-get.js';
import { clientAddress, trustHop } from './trust-proxy.js';

export interface TlsFiles {
  certFile: string;
  keyFile: string;
}

export interface StartServerOptions {
  app: AppOptions;
  host: string;
  port: number;
  tls?: TlsFiles;
  /** How long requests in flight may take to finish after a shutdown signal. Default 10 s. */
  shutdownGraceMs?: number;
  /** Install SIGTERM/SIGINT handlers that close the server. Default true. */
  handleSignals?: boolean;
  /** Called once the server and app are closed (close the sources here). */
  onClosed?: () => void | Promise<void>;
  /** How often TLS files are re-read when no watch event arrives. Default 30 s. */
  tlsPollIntervalMs?: number;
}

export interface RunningServer {
  url: string;
  address: AddressInfo;
  close(): Promise<void>;
  /** Resolves once the server has fully closed, whoever asked for it. */
  closed: Promise<void>;
}

/** Node refuses larger headers itself (431 without our JSON); keep it above the app's own limit. */
const NODE_MAX_HEADER_SIZE = 32 * 1024;

export async function startServer(options: StartServerOptions): Promise<RunningServer> {
  const { app, ctx } = await assemble(options.app);
  await app.ready();
  const logger = options.app.logger;
  const trust = trustHop(options.app.trustProxy);
  const durations = ctx.metrics.requestDuration;
  const tokenRoute = { route: '/token' };
  let closing: Promise<void> | undefined;
  // GET /token skips fastify (routes/token-get.ts); while closing, fastify answers everything with its 503.
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const url = req.url;
    if (closing === undefined && req.method === 'GET' && url !== undefined && (url === '/token' || url.startsWith('/token?'))) {
      const started = performance.now();
      const ip = clientAddress(req.socket.remoteAddress, req.headers['x-forwarded-for'], trust);
      const observe = (): void => durations.observe(tokenRoute, (performance.now() - started) / 1000);
      const pending = serveTokenGet(ctx, req, res, ip);
      if (pending === undefined) observe();
      else void pending.then(observe);
      return;
    }
    app.routing(req, res);
  };

  let server: Server | HttpsServer;
  let stopTlsReload = () => {};
  if (options.tls !== undefined) {
    const material = await readTls(options.tls);
    const https = createHttpsServer({ ...material, maxHeaderSize: NODE_MAX_HEADER_SIZE }, handler);
    stopTlsReload = watchTls(https, options.tls, material, logger, options.tlsPollIntervalMs ?? 30_000);
    server = https;
  } else {
    server = createHttpServer({ maxHeaderSize: NODE_MAX_HEADER_SIZE }, handler);
  }
  server.keepAliveTimeout = 72_000;
  trackSockets(server);

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `${options.tls === undefined ? 'http' : 'https'}://${host}:${address.port}`;

  let resolveClosed: () => void = () => {};
  const closed = new Promise<void>((resolve) => (resolveClosed = resolve));
  const close = (): Promise<void> => {
    closing ??= (async () => {
      stopTlsReload();
      await closeServer(server, options.shutdownGraceMs);
      await app.close();
      await options.onClosed?.();
      if (signalHandler !== undefined) {
        process.off('SIGTERM', signalHandler);
        process.off('SIGINT', signalHandler);
      }
      resolveClosed();
    })();
    return closing;
  };

  let signalHandler: ((signal: NodeJS.Signals) => void) | undefined;
  if (options.handleSignals ?? true) {
    signalHandler = (signal) => {
      logger.info({ signal }, 'shutting down');
      void close();
    };
    process.once('SIGTERM', signalHandler);
    process.once('SIGINT', signalHandler);
  }
  return { url, address, close, closed };
}

async function readTls(files: TlsFiles): Promise<{ cert: string; key: string }> {
  const [cert, key] = await Promise.all([readFile(files.certFile, 'utf8'), readFile(files.keyFile, 'utf8')]);
  return { cert, key };
}

/** Re-reads the certificate and key on change; a broken pair is logged and the previous one kept. */
function watchTls(
  server: HttpsServer,
  files: TlsFiles,
  initial: { cert: string; key: string },
  logger: AppOptions['logger'],
  pollIntervalMs: number,
): () => void {
  let current = `${initial.cert}\u0000${initial.key}`;
  const reload = async () => {
    try {
      const next = await readTls(files);
      const fingerprint = `${next.cert}\u0000${next.key}`;
      if (fingerprint === current) return;
      server.setSecureContext(next);
      current = fingerprint;
      logger.info('TLS certificate reloaded');
    } catch (err) {
      logger.error({ reason: (err as Error).message.split('\n')[0] }, 'TLS certificate reload failed; keeping the previous one');
    }
  };
  let debounce: NodeJS.Timeout | undefined;
  const schedule = () => {
    if (debounce !== undefined) clearTimeout(debounce);
    debounce = setTimeout(() => void reload(), 200);
    debounce.unref();
  };
  const watchers: FSWatcher[] = [];
  for (const dir of new Set([dirname(files.certFile), dirname(files.keyFile)])) {
    try {
      const w = watch(dir, { persistent: false }, schedule);
      w.on('error', () => undefined);
      watchers.push(w);
    } catch {
      // polling covers it
    }
  }
  const poll = setInterval(() => void reload(), pollIntervalMs);
  poll.unref();
  return () => {
    clearInterval(poll);
    if (debounce !== undefined) clearTimeout(debounce);
    for (const w of watchers) w.close();
  };
}
