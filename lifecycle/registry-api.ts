// The few Distribution API calls the admin commands and retention make, with a bearer token already in
// hand: the catalog and a repository's tags (following `Link` pages), a manifest's digest (HEAD with
// every manifest and index type, so the digest is the one the registry stores, not a converted one), a
// manifest's body by digest, and a manifest delete by tag or digest. A refusal becomes a RegistryError carrying the registry's own code
// (DENIED, UNAUTHORIZED, UNSUPPORTED, MANIFEST_UNKNOWN, ...), so commands can say what happened.

import http from 'node:http';
import https from 'node:https';

/** Everything a manifest or index may be stored as; HEAD with these returns the stored digest. */
export const MANIFEST_TYPES = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
] as const;

const PAGE_SIZE = 1000;
/** A catalog page of 1000 long names is well under this; anything larger is not the registry talking. */
const MAX_RESPONSE_BYTES = 8 * 1024 * 1024;

export class RegistryError extends Error {
  constructor(
    readonly status: number,
    /** The registry's error code, or one derived from the status when the answer had no body (HEAD). */
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'RegistryError';
  }
}

export interface DistributionClientOptions {
  /** https://HOST[:PORT] */
  server: string;
  token: string;
  /** PEM: trust only this CA for the registry; absent: the system's trust. */
  ca?: Buffer;
  timeoutMs?: number;
}

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
}

const CODE_BY_STATUS: Record<number, string> = { 401: 'UNAUTHORIZED', 403: 'DENIED', 404: 'MANIFEST_UNKNOWN', 405: 'UNSUPPORTED' };

function refusal(method: string, what: string, answer: Answer): RegistryError {
  let code = CODE_BY_STATUS[answer.status] ?? `HTTP_${answer.status}`;
  let message = '';
  try {
    const first = (JSON.parse(answer.text) as { errors?: { code?: string; message?: string }[] }).errors?.[0];
    if (first?.code) code = first.code;
    if (first?.message) message = first.message;
  } catch {
    // HEAD answers and proxies' pages carry no registry error.
  }
  // Distribution names the missing access in the challenge: error="insufficient_scope".
  const challenge = /error="([^"]+)"/.exec(String(answer.headers['www-authenticate'] ?? ''))?.[1];
  const detail = [message, challenge].filter((s) => s !== undefined && s !== '').join('; ');
  return new RegistryError(answer.status, code, `${method} ${what}: ${code}${detail === '' ? '' : `: ${detail}`} (HTTP ${answer.status})`);
}

/** `NAME:TAG` or `NAME@DIGEST`, as people write references (a tag never holds ':'). */
export function referenceText(repository: string, reference: string): string {
  return `${repository}${reference.includes(':') ? '@' : ':'}${reference}`;
}

/** What a HEAD of a manifest tells: the stored digest and media type, without the body (and without a pull event). */
export interface ManifestHead {
  digest: string;
  mediaType: string;
}

/** A manifest as stored: its media type and its bytes as text. */
export interface ManifestBody {
  mediaType: string;
  text: string;
}

export class DistributionClient {
  private readonly agent: https.Agent | undefined;
  /** Requests sent so far (what the retention bench reports as registry API calls). */
  requests = 0;

  constructor(private readonly options: DistributionClientOptions) {
    this.agent = options.server.startsWith('https:') ? new https.Agent({ keepAlive: true, ...(options.ca ? { ca: options.ca } : {}) }) : undefined;
  }

  private send(method: string, path: string, accept?: string): Promise<Answer> {
    const url = new URL(path, this.options.server);
    const headers: Record<string, string> = { authorization: `Bearer ${this.options.token}`, ...(accept ? { accept } : {}) };
    const transport = url.protocol === 'https:' ? https : http;
    this.requests++;
    return new Promise((resolve, reject) => {
      const req = transport.request(
        url,
        { method, headers, ...(this.agent ? { agent: this.agent } : {}), timeout: this.options.timeoutMs ?? 30_000 },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > MAX_RESPONSE_BYTES) req.destroy(new Error(`${method} ${url.pathname}: the answer is larger than ${MAX_RESPONSE_BYTES} bytes`));
            else chunks.push(chunk);
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${method} ${url.origin}${url.pathname}: timed out`)));
      req.on('error', reject);
      req.end();
    });
  }

  /** Every page of a list (`/v2/_catalog`, `/v2/NAME/tags/list`), following `Link: <...>; rel="next"`. */
  private async pages(first: string, what: string, field: 'repositories' | 'tags'): Promise<string[]> {
    const all: string[] = [];
    let next: string | undefined = first;
    while (next !== undefined) {
      const answer = await this.send('GET', next);
      if (answer.status !== 200) throw refusal('GET', what, answer);
      all.push(...((JSON.parse(answer.text) as Record<string, string[] | null>)[field] ?? []));
      next = /<([^>]+)>;\s*rel="?next"?/.exec(String(answer.headers.link ?? ''))?.[1];
      // The next page is asked with the token too: never of another origin than the registry's.
      const origin = next === undefined ? undefined : new URL(next, this.options.server).origin;
      if (origin !== undefined && origin !== new URL(this.options.server).origin) {
        throw new Error(`${what}: the registry's next page names another origin (${origin}); not followed with the token`);
      }
    }
    return all;
  }

  catalog(): Promise<string[]> {
    return this.pages(`/v2/_catalog?n=${PAGE_SIZE}`, 'the catalog', 'repositories');
  }

  tags(repository: string): Promise<string[]> {
    return this.pages(`/v2/${repository}/tags/list?n=${PAGE_SIZE}`, `the tags of ${repository}`, 'tags');
  }

  /** The digest `reference` (a tag or a digest) names, as the registry stores it. */
  async digest(repository: string, reference: string): Promise<string> {
    return (await this.head(repository, reference)).digest;
  }

  /** Digest and media type of what `reference` names, as stored. */
  async head(repository: string, reference: string): Promise<ManifestHead> {
    const answer = await this.send('HEAD', `/v2/${repository}/manifests/${reference}`, MANIFEST_TYPES.join(', '));
    const digest = answer.headers['docker-content-digest'];
    if (answer.status !== 200 || typeof digest !== 'string') throw refusal('HEAD', referenceText(repository, reference), answer);
    return {
      digest,
      mediaType:
        String(answer.headers['content-type'] ?? '')
          .split(';')[0]
          ?.trim() ?? '',
    };
  }

  /** The manifest or index stored under `digest` (a GET: the registry reports it as a pull). */
  async manifest(repository: string, digest: string): Promise<ManifestBody> {
    const answer = await this.send('GET', `/v2/${repository}/manifests/${digest}`, MANIFEST_TYPES.join(', '));
    if (answer.status !== 200) throw refusal('GET', referenceText(repository, digest), answer);
    return {
      mediaType:
        String(answer.headers['content-type'] ?? '')
          .split(';')[0]
          ?.trim() ?? '',
      text: answer.text,
    };
  }

  /** DELETE /v2/NAME/manifests/REFERENCE: by digest everywhere; by tag only where the registry allows it (v3). */
  async deleteManifest(repository: string, reference: string): Promise<void> {
    const answer = await this.send('DELETE', `/v2/${repository}/manifests/${reference}`);
    if (answer.status !== 202 && answer.status !== 200) throw refusal('DELETE', referenceText(repository, reference), answer);
  }

  close(): void {
    this.agent?.destroy();
  }
}
