// A small path-based client for the Kubernetes REST API on top of a KubeConnection (kube/connection.ts,
// or client-node's KubeConfig: TLS, tokens, exec plugins). Everything the operator and the Kubernetes
// source do is list, get, server-side apply, status patch, delete and create on a handful of paths, so
// one generic request keeps the paths that informers watch and the paths controllers write in one
// vocabulary instead of five generated clients.

import https from 'node:https';
import http from 'node:http';
import type { KubeConnection } from './connection.js';

/** An API error: the HTTP status and the Status reason/message the API server sent (never request bodies). */
export class KubeApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
    this.name = 'KubeApiError';
  }
}

export function isNotFound(error: unknown): boolean {
  return error instanceof KubeApiError && error.code === 404;
}

/** GET `path`, or undefined when the object does not exist (404); every other failure still throws. */
export async function getIfExists<T>(client: KubeClient, path: string): Promise<T | undefined> {
  try {
    return await client.get<T>(path);
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

export function isConflict(error: unknown): boolean {
  return error instanceof KubeApiError && error.code === 409;
}

export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  /** Default application/json; apply patches use application/apply-patch+yaml (JSON is valid YAML). */
  contentType?: string;
  /** Default application/json; METADATA_LIST asks for names, labels and versions only. */
  accept?: string;
  timeoutMs?: number;
  /** Aborts the request (an informer's stop ends a list in progress rather than wait up to `timeoutMs`). */
  signal?: AbortSignal;
}

/** A list of PartialObjectMetadata: names, labels, uid and resourceVersion, never data. */
export const METADATA_LIST = 'application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io';
/** Watch events carrying PartialObjectMetadata. */
export const METADATA_OBJECT = 'application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io';

/** One open watch: `abort` closes it; `ended` resolves with null (closed by the server) or the error. */
export interface OpenWatch {
  abort(): void;
  ended: Promise<Error | null>;
}

export const APPLY_PATCH = 'application/apply-patch+yaml';
export const MERGE_PATCH = 'application/merge-patch+json';

export class KubeClient {
  private agent: https.Agent | undefined;
  /** Watches hold their connection for minutes: they get their own pool, so they never starve requests. */
  private watchAgent: https.Agent | undefined;

  constructor(readonly kc: KubeConnection) {}

  get server(): string {
    const cluster = this.kc.getCurrentCluster();
    if (!cluster) throw new Error('kubeconfig has no current cluster');
    return cluster.server;
  }

  /** URL, headers and agent for one request: the current token (in-cluster tokens rotate) each time. */
  private async prepare(
    path: string,
    query: RequestOptions['query'],
    accept: string,
    pool: 'request' | 'watch',
  ): Promise<{ url: URL; headers: Record<string, string>; agent: https.Agent }> {
    const url = new URL(this.server + path);
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    // applyToHTTPSOptions reads the current token and TLS material each time; the agents, which pool
    // connections, are built once from the TLS part.
    const opts: https.RequestOptions = { headers: {} };
    await this.kc.applyToHTTPSOptions(opts);
    const tls = {
      ...(opts.ca ? { ca: opts.ca } : {}),
      ...(opts.cert ? { cert: opts.cert } : {}),
      ...(opts.key ? { key: opts.key } : {}),
      ...(opts.rejectUnauthorized !== undefined ? { rejectUnauthorized: opts.rejectUnauthorized } : {}),
      ...(opts.servername ? { servername: opts.servername } : {}),
    };
    // 32: the operator's 16 background status writes leave room for a reconcile's own requests.
    this.agent ??= new https.Agent({ keepAlive: true, maxSockets: 32, ...tls });
    this.watchAgent ??= new https.Agent({ keepAlive: false, ...tls });
    const headers: Record<string, string> = { accept };
    for (const [k, v] of Object.entries(opts.headers ?? {})) if (typeof v === 'string') headers[k] = v;
    if (opts.auth) headers.authorization = `Basic ${Buffer.from(opts.auth).toString('base64')}`;
    return { url, headers, agent: pool === 'watch' ? this.watchAgent : this.agent };
  }

  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const { url, headers, agent } = await this.prepare(path, options.query, options.accept ?? 'application/json', 'request');
    let payload: Buffer | undefined;
    if (options.body !== undefined) {
      payload = Buffer.from(JSON.stringify(options.body));
      headers['content-type'] = options.contentType ?? 'application/json';
      headers['content-length'] = String(payload.length);
    }
    const transport = url.protocol === 'http:' ? http : https;
    return new Promise<T>((resolve, reject) => {
      const req = transport.request(
        url,
        {
          method,
          headers,
          ...(url.protocol === 'https:' ? { agent } : {}),
          ...(options.signal ? { signal: options.signal } : {}),
          timeout: options.timeoutMs ?? 30_000,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            const status = res.statusCode ?? 0;
            if (status >= 200 && status < 300) {
              try {
                resolve((text === '' ? undefined : JSON.parse(text)) as T);
              } catch (error) {
                reject(error instanceof Error ? error : new Error(String(error)));
              }
              return;
            }
            reject(apiError(method, path, status, text));
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${method} ${path}: timed out`)));
      req.on('error', reject);
      req.end(payload);
    });
  }

  get<T>(path: string, query?: RequestOptions['query'], accept?: string, signal?: AbortSignal): Promise<T> {
    return this.request<T>('GET', path, { ...(query ? { query } : {}), ...(accept ? { accept } : {}), ...(signal ? { signal } : {}) });
  }

  /**
   * Opens a watch (`?watch=true`): each event line is parsed and passed to `onEvent`. Resolves once the
   * server has answered 200; rejects with the API error otherwise. Has no client-side timeout: the
   * server ends it after `timeoutSeconds`, and the informer's watchdog notices a dead connection.
   */
  async watch(path: string, query: RequestOptions['query'], onEvent: (type: string, object: unknown) => void, accept = 'application/json'): Promise<OpenWatch> {
    const { url, headers, agent } = await this.prepare(path, { ...query, watch: true }, accept, 'watch');
    const transport = url.protocol === 'http:' ? http : https;
    return new Promise<OpenWatch>((resolve, reject) => {
      let settle: (error: Error | null) => void = () => undefined;
      const ended = new Promise<Error | null>((r) => (settle = r));
      let done = false;
      const end = (error: Error | null): void => {
        if (done) return;
        done = true;
        settle(error);
      };
      const req = transport.request(url, { method: 'GET', headers, ...(url.protocol === 'https:' ? { agent } : {}) }, (res) => {
        const status = res.statusCode ?? 0;
        if (status !== 200) {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => reject(apiError('WATCH', path, status, Buffer.concat(chunks).toString('utf8'))));
          res.on('error', reject);
          return;
        }
        res.socket?.setKeepAlive(true, 30_000);
        let pending = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          pending += chunk;
          let newline = pending.indexOf('\n');
          while (newline >= 0) {
            const line = pending.slice(0, newline);
            pending = pending.slice(newline + 1);
            newline = pending.indexOf('\n');
            if (line.trim() === '') continue;
            let event: { type?: string; object?: unknown };
            try {
              event = JSON.parse(line) as { type?: string; object?: unknown };
            } catch {
              end(new Error(`watch ${path}: unparsable event`));
              req.destroy();
              return;
            }
            if (!done) onEvent(event.type ?? '', event.object);
          }
        });
        res.on('end', () => end(null));
        res.on('close', () => end(null));
        res.on('error', (error) => end(error));
        resolve({
          abort: () => {
            end(null);
            req.destroy();
          },
          ended,
        });
      });
      req.on('error', (error) => {
        if (!done) reject(error);
        end(error);
      });
      req.end();
    });
  }

  /** Server-side apply as `fieldManager`, forcing ownership of the fields it sets. */
  apply<T>(path: string, body: unknown, fieldManager: string): Promise<T> {
    return this.request<T>('PATCH', path, { body, contentType: APPLY_PATCH, query: { fieldManager, force: true } });
  }

  close(): void {
    this.agent?.destroy();
    this.agent = undefined;
    this.watchAgent?.destroy();
    this.watchAgent = undefined;
  }
}

function apiError(method: string, path: string, status: number, text: string): KubeApiError {
  let reason = http.STATUS_CODES[status] ?? 'Unknown';
  let message = `${method} ${path}: HTTP ${status}`;
  try {
    const body = JSON.parse(text) as { reason?: string; message?: string };
    if (body.reason) reason = body.reason;
    if (body.message) message = `${method} ${path}: ${body.message}`;
  } catch {
    // Not a Status object (e.g. a proxy's HTML page); the status line says enough.
  }
  return new KubeApiError(status, reason, message);
}

/** REST paths for the resources Portcullis touches. `namespace` undefined means all namespaces. */
export interface ResourceType {
  /** `/api/v1` or `/apis/GROUP/VERSION`. */
  base: string;
  plural: string;
  namespaced: boolean;
}

export function collectionPath(type: ResourceType, namespace?: string): string {
  return type.namespaced && namespace !== undefined ? `${type.base}/namespaces/${encodeURIComponent(namespace)}/${type.plural}` : `${type.base}/${type.plural}`;
}

export function objectPath(type: ResourceType, namespace: string | undefined, name: string, subresource?: string): string {
  const path = `${collectionPath(type, type.namespaced ? namespace : undefined)}/${encodeURIComponent(name)}`;
  return subresource ? `${path}/${subresource}` : path;
}

export const Resources = {
  registries: { base: '/apis/portcullis.dev/v1alpha1', plural: 'registries', namespaced: true },
  registryUsers: { base: '/apis/portcullis.dev/v1alpha1', plural: 'registryusers', namespaced: true },
  repositoryGrants: { base: '/apis/portcullis.dev/v1alpha1', plural: 'repositorygrants', namespaced: true },
  registryWebhooks: { base: '/apis/portcullis.dev/v1alpha1', plural: 'registrywebhooks', namespaced: true },
  retentionPolicies: { base: '/apis/portcullis.dev/v1alpha1', plural: 'retentionpolicies', namespaced: true },
  namespaces: { base: '/api/v1', plural: 'namespaces', namespaced: false },
  secrets: { base: '/api/v1', plural: 'secrets', namespaced: true },
  configMaps: { base: '/api/v1', plural: 'configmaps', namespaced: true },
  leases: { base: '/apis/coordination.k8s.io/v1', plural: 'leases', namespaced: true },
  events: { base: '/apis/events.k8s.io/v1', plural: 'events', namespaced: true },
} as const satisfies Record<string, ResourceType>;
