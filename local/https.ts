// One HTTPS request trusting a given CA (the test CA of the demo's and the tests' registries and token servers).
import { request } from 'node:https';

export interface HttpsResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

export function httpsRequest(
  url: string,
  ca: string | Buffer,
  options: {
    method?: string;
    headers?: Record<string, string>;
    body?: string;
    timeoutMs?: number;
    /** Source address, e.g. 127.0.0.2: a client of its own to per-address limits. */
    localAddress?: string;
  } = {},
): Promise<HttpsResponse> {
  return new Promise((resolve, reject) => {
    const settings = { ca, method: options.method ?? 'GET', headers: options.headers ?? {}, timeout: options.timeoutMs ?? 10_000 };
    const req = request(url, options.localAddress === undefined ? settings : { ...settings, localAddress: options.localAddress }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
    });
    req.on('timeout', () => req.destroy(new Error(`${url}: no answer`)));
    req.on('error', reject);
    req.end(options.body);
  });
}
