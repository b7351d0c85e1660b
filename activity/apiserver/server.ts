// The aggregated API on a TLS socket. The client certificate is requested from everyone and checked by
// TLS against the request-header CA of the moment; what TLS established is believed only for
// connections made under the current CA (connection-trust.ts). The serving certificate is reloaded
// when its files change (cert-manager renews in place).

import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { EventStore } from '../event.js';
import { KubeClient } from '../../kube/request.js';
import { Authorizer, SUBJECT_ACCESS_REVIEWS_PATH, type ReviewAccess } from './authorizer.js';
import { clusterView } from './cluster-view.js';
import { ConnectionTrust } from './connection-trust.js';
import { EventReader } from './event-reader.js';
import { frontProxySource } from './front-proxy-source.js';
import type { FrontProxyConfig } from './front-proxy.js';
import { createHandler, type ApiResponse } from './handler.js';
import { kubernetesTokenSources } from './registry-token-sources.js';
import { createRegistryToken } from './registry-tokens.js';
import { badRequest } from './status.js';
import { closeServer, trackSockets } from '../../wire/close-server.js';

/** A RegistryToken create is a few hundred bytes; anything much larger is not one. */
const MAX_BODY_BYTES = 64 * 1024;

/** The body of a POST, or undefined when it is larger than MAX_BODY_BYTES (the rest is read and dropped). */
function readBody(req: import('node:http').IncomingMessage): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    req.on('end', () => resolve(size <= MAX_BODY_BYTES ? Buffer.concat(chunks) : undefined));
    req.on('error', reject);
  });
}

export interface ActivityApiOptions {
  host: string;
  port: number;
  tls: { certFile: string; keyFile: string };
  kubeConfig: KubeConfig;
  store: EventStore;
  logger: Pick<Logger, 'info' | 'warn' | 'error'>;
  /** How often the front-proxy ConfigMap and the TLS files are re-read. Default 30 s. */
  reloadIntervalMs?: number;
  /** How long a SubjectAccessReview's answer is reused. Default 10 s. */
  authorizationTtlMs?: number;
  /** How long requests in flight may take after close() begins. Default 10 s. */
  shutdownGraceMs?: number;
}

/** Shaped as activity/listener.ts's ListeningServer, so main.ts closes it with the other listeners. */
export interface RunningActivityApi {
  name: 'api';
  /** https://HOST:PORT */
  url: string;
  address: AddressInfo;
  close(): Promise<void>;
}

async function readTls(files: ActivityApiOptions['tls']): Promise<{ cert: string; key: string }> {
  const [cert, key] = await Promise.all([readFile(files.certFile, 'utf8'), readFile(files.keyFile, 'utf8')]);
  return { cert, key };
}

function send(res: import('node:http').ServerResponse, answer: ApiResponse): void {
  const text = answer.text ?? JSON.stringify(answer.body);
  res.writeHead(answer.status, {
    'content-type': answer.text === undefined ? 'application/json' : 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
}

export async function startActivityApi(options: ActivityApiOptions): Promise<RunningActivityApi> {
  const log = options.logger;
  const client = new KubeClient(options.kubeConfig);
  const view = clusterView({
    kc: options.kubeConfig,
    client,
    onError: (what, error) => log.warn({ reason: error.message }, `watching ${what} failed; retrying`),
  });
  let tls = await readTls(options.tls);
  const trust = new ConnectionTrust();
  let requestCount = 0;
  let clientCA: string | undefined;

  // `handle` is defined below: the server exists first so that the CA can be applied to its context.
  // Requests being answered, so that a stop held by one says which (method and path, no query).
  const inFlight = new Set<string>();
  const server: Server = createServer({ ...tls, requestCert: true, rejectUnauthorized: false }, (req, res) => {
    const entry = `${req.method ?? 'GET'} ${(req.url ?? '/').split('?')[0]} #${++requestCount}`;
    inFlight.add(entry);
    res.once('close', () => inFlight.delete(entry));
    const socket = req.socket as TLSSocket;
    const peer = trust.current(socket) && socket.authorized ? socket.getPeerCertificate() : undefined;
    const commonName = peer?.subject?.CN;
    const method = req.method ?? 'GET';
    const request = {
      method,
      url: req.url ?? '/',
      headers: req.headersDistinct,
      peer: { verified: peer !== undefined, ...(typeof commonName === 'string' ? { commonName } : {}) },
    };
    if (method !== 'POST') {
      void handle(request).then((answer) => send(res, answer));
      return;
    }
    readBody(req).then(
      async (body) => {
        if (body === undefined) return send(res, { status: 400, body: badRequest(`the request body is larger than ${MAX_BODY_BYTES} bytes`).toStatus() });
        send(res, await handle({ ...request, body }));
      },
      () => res.destroy(),
    );
  });
  trust.attach(server);
  server.keepAliveTimeout = 72_000;
  trackSockets(server);

  const applyCA = (config: FrontProxyConfig): void => {
    clientCA = config.clientCA;
    server.setSecureContext({ ...tls, ca: clientCA });
    trust.caChanged();
    log.info({ allowedNames: config.allowedNames }, 'front-proxy configuration loaded');
  };
  const frontProxy = frontProxySource({
    client,
    ...(options.reloadIntervalMs === undefined ? {} : { intervalMs: options.reloadIntervalMs }),
    onChange: applyCA,
    onError: (message) => log.error({ reason: message }, 'front proxy'),
  });

  const review: ReviewAccess = async (sar) =>
    (await client.request<{ status?: Awaited<ReturnType<ReviewAccess>> }>('POST', SUBJECT_ACCESS_REVIEWS_PATH, { body: sar })).status ?? {};
  const authorizer = new Authorizer({ review, ...(options.authorizationTtlMs === undefined ? {} : { ttlMs: options.authorizationTtlMs }) });
  const tokenSources = kubernetesTokenSources({ client });
  const handle = createHandler({
    frontProxy: () => (trust.hasCA ? frontProxy.current() : undefined),
    authorizer,
    reader: new EventReader(options.store),
    view,
    now: () => new Date(),
    logError: (what, error) => log.error({ reason: error.message }, `${what} failed`),
    registryTokens: async (user, namespace, body) => {
      const created = await createRegistryToken({ sources: tokenSources, authorizer }, user, namespace, body);
      // Who obtained what, never the token itself.
      log.info(created.audit, 'registry token issued');
      return { status: created.status, body: created.body };
    },
  });

  view.start();
  await frontProxy.start();

  const reloadTls = setInterval(() => {
    readTls(options.tls).then(
      (next) => {
        if (next.cert === tls.cert && next.key === tls.key) return;
        tls = next;
        server.setSecureContext({ ...tls, ...(clientCA === undefined ? {} : { ca: clientCA }) });
        log.info({}, 'TLS certificate reloaded');
      },
      (error: unknown) => log.error({ reason: (error as Error).message.split('\n')[0] }, 'TLS certificate reload failed; keeping the previous one'),
    );
  }, options.reloadIntervalMs ?? 30_000);
  reloadTls.unref();

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port, options.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    clearInterval(reloadTls);
    frontProxy.stop();
    await view.stop();
    client.close();
    throw error;
  }
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;

  let closing: Promise<void> | undefined;
  return {
    name: 'api',
    url: `https://${host}:${address.port}`,
    address,
    close() {
      closing ??= (async () => {
        clearInterval(reloadTls);
        frontProxy.stop();
        if (inFlight.size > 0) log.info({ requests: [...inFlight] }, 'closing with requests in flight');
        // Its two waits apart, so that a stop held here says which held it.
        const started = performance.now();
        await closeServer(server, options.shutdownGraceMs);
        log.info({ ms: Math.round(performance.now() - started) }, 'api connections closed');
        await view.stop();
        client.close();
      })();
      return closing;
    },
  };
}
