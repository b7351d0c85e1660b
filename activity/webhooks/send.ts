// One POST of one event to one receiver. The outcome is all a caller learns: delivered (any 2xx) or a
// failure reason that is safe to show in a status — the HTTP status ("HTTP 500", "HTTP 302": redirects
// are not followed, since a tenant's receiver could otherwise bounce the request anywhere) or an error
// code ("Timeout", "ECONNREFUSED", "ForbiddenAddress"). The response body is never read into memory or
// repeated: it is the receiver's, and may echo anything.

import http from 'node:http';
import https from 'node:https';
import { connectHost, FORBIDDEN_ADDRESS, guardedLookup, isForbiddenAddress } from './destination.js';

export interface Delivery {
  url: URL;
  headers: Record<string, string>;
  body: string;
}

export type SendOutcome = { delivered: true; status: number } | { delivered: false; reason: string };

export interface SendOptions {
  timeoutMs: number;
  /** Let deliveries reach link-local and metadata addresses (off by default; see destination.ts). */
  allowLinkLocal: boolean;
}

export const DEFAULT_TIMEOUT_MS = 5000;

function errorReason(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' && /^[A-Za-z_]{1,40}$/.test(code) ? code : 'RequestFailed';
}

export interface Sender {
  send(delivery: Delivery): Promise<SendOutcome>;
  /** Closes the pooled connections. */
  close(): void;
}

/** A sender with keep-alive pools shared by every webhook: a receiver's connection is reused from one event to the next. */
export function createSender(options: SendOptions): Sender {
  const agents = { http: new http.Agent({ keepAlive: true, maxFreeSockets: 64 }), https: new https.Agent({ keepAlive: true, maxFreeSockets: 64 }) };
  return {
    send: (delivery) => sendWith(delivery, options, delivery.url.protocol === 'https:' ? agents.https : agents.http),
    close() {
      agents.http.destroy();
      agents.https.destroy();
    },
  };
}

function sendWith(delivery: Delivery, options: SendOptions, agent: http.Agent): Promise<SendOutcome> {
  const { url, headers, body } = delivery;
  if (!options.allowLinkLocal && isForbiddenAddress(connectHost(url))) return Promise.resolve({ delivered: false, reason: FORBIDDEN_ADDRESS });
  const transport = url.protocol === 'https:' ? https : http;
  const payload = Buffer.from(body);
  return new Promise<SendOutcome>((resolve) => {
    let settled = false;
    const settle = (outcome: SendOutcome): void => {
      if (settled) return;
      settled = true;
      resolve(outcome);
    };
    const req = transport.request(
      url,
      {
        method: 'POST',
        agent,
        headers: { ...headers, 'content-type': 'application/json', 'content-length': String(payload.length), 'user-agent': 'portcullis-activity' },
        ...(options.allowLinkLocal ? {} : { lookup: guardedLookup }),
      },
      (res) => {
        const status = res.statusCode ?? 0;
        // Drained, never looked at; once it ends the connection goes back to the pool.
        res.on('end', () => clearTimeout(timer));
        res.on('error', () => undefined);
        res.resume();
        settle(status >= 200 && status < 300 ? { delivered: true, status } : { delivered: false, reason: `HTTP ${status}` });
      },
    );
    // Bounds the whole exchange, the response body included: a receiver that trickles is cut off.
    const timer = setTimeout(() => {
      settle({ delivered: false, reason: 'Timeout' });
      req.destroy();
    }, options.timeoutMs);
    req.on('error', (error) => {
      clearTimeout(timer);
      settle({ delivered: false, reason: errorReason(error) });
    });
    req.end(payload);
  });
}
