// A small path-based client for the Kubernetes REST API on top of client-node's KubeConfig (TLS, tokens,
// exec plugins). Everything the operator and the Kubernetes source do is list, get, server-side apply,
// status patch, delete and create on a handful of paths, so one generic request keeps the paths that
// informers watch and the paths controllers write in one vocabulary instead of five generated clients.

import https from 'node:https';
import http from 'node:http';
import type { KubeConfig } from '@kubernetes/client-node';

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

export function isConflict(error: unknown): boolean {
  return error instanceof KubeApiError && error.code === 409;
}

export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  /** Default application/json; apply patches use application/apply-patch+yaml (JSON is valid YAML). */
  contentType?: string;
  timeoutMs?: number;
}

export const APPLY_PATCH = 'application/apply-patch+yaml';
export const MERGE_PATCH = 'application/merge-patch+json';

export class KubeClient {
  private agent: https.Agent | undefined;

  constructor(readonly kc: KubeConfig) {}

  get server(): string {
    const cluster = this.kc.getCurrentCluster();
    if (!cluster) throw new Error('kubeconfig has no current cluster');
    return cluster.server;
  }

  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const url = new URL(this.server + path);
    for (const [k, v] of Object.entries(options.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    // applyToHTTPSOptions reads the current token (in-cluster tokens rotate) and TLS material each time;
    // the agent, which pools connections, is built once from the TLS part.
    const opts: https.RequestOptions = { headers: {} };
    await this.kc.applyToHTTPSOptions(opts);
    this.agent ??= new https.Agent({
      keepAlive: true,
      maxSockets: 16,
      ...(opts.ca ? { ca: opts.ca } : {}),
      ...(opts.cert ? { cert: opts.cert } : {}),
      ...(opts.key ? { key: opts.key } : {}),
      ...(opts.rejectUnauthorized !== undefined ? { rejectUnauthorized: opts.rejectUnauthorized } : {}),
      ...(opts.servername ? { servername: opts.servername } : {}),
    });
    const headers: Record<string, string> = { accept: 'application/json' };
    for (const [k, v] of Object.entries(opts.headers ?? {})) if (typeof v === 'string') headers[k] = v;
    if (opts.auth) headers.authorization = `Basic ${Buffer.from(opts.auth).toString('base64')}`;
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
        { method, headers, ...(url.protocol === 'https:' ? { agent: this.agent } : {}), timeout: options.timeoutMs ?? 30_000 },
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
                reject(error);
              }
              return;
            }
            let reason = http.STATUS_CODES[status] ?? 'Unknown';
            let message = `${method} ${path}: HTTP ${status}`;
            try {
              const body = JSON.parse(text) as { reason?: string; message?: string };
              if (body.reason) reason = body.reason;
              if (body.message) message = `${method} ${path}: ${body.message}`;
            } catch {
              // Not a Status object (e.g. a proxy's HTML page); the status line says enough.
            }
            reject(new KubeApiError(status, reason, message));
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${method} ${path}: timed out`)));
      req.on('error', reject);
      req.end(payload);
    });
  }

  get<T>(path: string, query?: RequestOptions['query']): Promise<T> {
    return this.request<T>('GET', path, query ? { query } : {});
  }

  /** Server-side apply as `fieldManager`, forcing ownership of the fields it sets. */
  apply<T>(path: string, body: unknown, fieldManager: string): Promise<T> {
    return this.request<T>('PATCH', path, { body, contentType: APPLY_PATCH, query: { fieldManager, force: true } });
  }

  close(): void {
    this.agent?.destroy();
    this.agent = undefined;
  }
}

/** REST paths for the resources Portcullis touches. `namespace` undefined means all namespaces. */
export interface ResourceType {
  /** `/api/v1` or `/apis/GROUP/VERSION`. */
  base: string;
  plural: string;
  namespaced: boolean;
}

export function collectionPath(type: ResourceType, namespace?: string): string {
  return type.namespaced && namespace !== undefined
    ? `${type.base}/namespaces/${encodeURIComponent(namespace)}/${type.plural}`
    : `${type.base}/${type.plural}`;
}

export function objectPath(type: ResourceType, namespace: string | undefined, name: string, subresource?: string): string {
  const path = `${collectionPath(type, type.namespaced ? namespace : undefined)}/${encodeURIComponent(name)}`;
  return subresource ? `${path}/${subresource}` : path;
}

export const Resources = {
  registries: { base: '/apis/portcullis.dev/v1alpha1', plural: 'registries', namespaced: true },
  registryUsers: { base: '/apis/portcullis.dev/v1alpha1', plural: 'registryusers', namespaced: true },
  repositoryGrants: { base: '/apis/portcullis.dev/v1alpha1', plural: 'repositorygrants', namespaced: true },
  namespaces: { base: '/api/v1', plural: 'namespaces', namespaced: false },
  secrets: { base: '/api/v1', plural: 'secrets', namespaced: true },
  configMaps: { base: '/api/v1', plural: 'configmaps', namespaced: true },
  leases: { base: '/apis/coordination.k8s.io/v1', plural: 'leases', namespaced: true },
  events: { base: '/apis/events.k8s.io/v1', plural: 'events', namespaced: true },
} as const satisfies Record<string, ResourceType>;
