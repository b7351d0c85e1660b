// GET over HTTPS with a chosen CA bundle, for OIDC discovery and JWKS. Node's fetch cannot be given a CA
// per request without undici's Agent (not a dependency), so this is a small node:https GET with a timeout,
// a body limit and no redirects, returning a standard Response (what jose's remote key set expects).

import { request } from 'node:https';

const MAX_BODY_BYTES = 1024 * 1024;

export interface HttpsGetOptions {
  /** PEM bundle to trust; absent: the system roots. */
  ca?: string;
  timeoutMs: number;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

export function httpsGet(url: string, options: HttpsGetOptions): Promise<Response> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    if (target.protocol !== 'https:') {
      reject(new Error(`${target.origin} is not https`));
      return;
    }
    const req = request(
      target,
      {
        method: 'GET',
        // Key sets are often served as application/jwk-set+json; some servers (kube-apiserver) answer 406 without it.
        headers: { accept: 'application/json, application/jwk-set+json', ...options.headers },
        timeout: options.timeoutMs,
        ...(options.ca === undefined ? {} : { ca: options.ca }),
        ...(options.signal === undefined ? {} : { signal: options.signal }),
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_BODY_BYTES) {
            req.destroy(new Error(`${target.origin}${target.pathname}: response larger than ${MAX_BODY_BYTES} bytes`));
            return;
          }
          chunks.push(chunk);
        });
        res.on('error', reject);
        res.on('end', () => {
          const headers = new Headers();
          for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') headers.set(k, v);
          resolve(new Response(Buffer.concat(chunks), { status: res.statusCode ?? 502, headers }));
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${target.origin}${target.pathname}: timed out after ${options.timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/** GET and parse JSON; rejects on a status other than 200. */
export async function httpsGetJson(url: string, options: HttpsGetOptions): Promise<unknown> {
  const res = await httpsGet(url, options);
  if (res.status !== 200) throw new Error(`${new URL(url).origin}${new URL(url).pathname} answered ${res.status}`);
  return await res.json();
}
