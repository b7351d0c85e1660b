// Puts a fastify app on a socket (plain HTTP, or HTTPS with the options given) and closes it gracefully:
// stop accepting, let requests in flight finish (bounded by a grace period: wire/close-server.ts), then
// close the app.

import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type ServerOptions as HttpsOptions } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { closeServer, trackSockets } from '../wire/close-server.js';

export interface ListeningServer {
  /** What it serves, for log lines ("events", "api"). */
  name: string;
  url: string;
  /** Stops accepting, waits for requests in flight (at most the grace period), closes the app. */
  close(): Promise<void>;
}

export interface ListenOptions {
  name: string;
  host: string;
  port: number;
  /** HTTPS with these options (certificate, key, client-certificate settings); plain HTTP without. */
  tls?: HttpsOptions;
  /** Default 10 s. */
  shutdownGraceMs?: number;
}

export async function listen(app: FastifyInstance, options: ListenOptions): Promise<ListeningServer> {
  await app.ready();
  const handler = (req: IncomingMessage, res: ServerResponse) => app.routing(req, res);
  const server: Server = options.tls === undefined ? createHttpServer(handler) : createHttpsServer(options.tls, handler);
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
  let closing: Promise<void> | undefined;
  return {
    name: options.name,
    url: `${options.tls === undefined ? 'http' : 'https'}://${host}:${address.port}`,
    close() {
      closing ??= (async () => {
        await closeServer(server, options.shutdownGraceMs);
        await app.close();
      })();
      return closing;
    },
  };
}
