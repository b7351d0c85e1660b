// One delivery against real sockets on loopback: what counts as delivered, and that a failure says only
// a status or an error code.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FORBIDDEN_ADDRESS, guardLookup } from './destination.js';
import { createSender, type Sender } from './send.js';

let server: http.Server;
let base: string;
const received: { path: string; headers: http.IncomingHttpHeaders; body: string }[] = [];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      received.push({ path: req.url ?? '', headers: req.headers, body });
      if (req.url === '/ok') res.writeHead(204).end();
      else if (req.url === '/fail') res.writeHead(500, { 'content-type': 'text/plain' }).end('stack trace with a password=hunter2');
      else if (req.url === '/redirect') res.writeHead(302, { location: `${base}/ok` }).end();
      else if (req.url === '/slow') setTimeout(() => res.writeHead(200).end(), 3000);
      else res.writeHead(404).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

function sender(timeoutMs = 2000): Sender {
  return createSender({ timeoutMs, allowLinkLocal: false });
}

const delivery = (path: string) => ({ url: new URL(base + path), headers: { 'X-Team': 'a' }, body: '{"id":"e"}' });

describe('sendDelivery', () => {
  it('POSTs the body as JSON with the given headers; a 2xx is delivered', async () => {
    const s = sender();
    expect(await s.send(delivery('/ok'))).toEqual({ delivered: true, status: 204 });
    const last = received.at(-1);
    expect([last?.body, last?.headers['content-type'], last?.headers['x-team']]).toEqual(['{"id":"e"}', 'application/json', 'a']);
    s.close();
  });

  it('a 500 is a failure named by its status, never by what the body says', async () => {
    const s = sender();
    const outcome = await s.send(delivery('/fail'));
    expect(outcome).toEqual({ delivered: false, reason: 'HTTP 500' });
    expect(JSON.stringify(outcome)).not.toContain('hunter2');
    s.close();
  });

  it('does not follow a redirect: the 302 is the failure and its target hears nothing', async () => {
    const s = sender();
    const before = received.length;
    expect(await s.send(delivery('/redirect'))).toEqual({ delivered: false, reason: 'HTTP 302' });
    expect(received.slice(before).map((r) => r.path)).toEqual(['/redirect']);
    s.close();
  });

  it('gives up on a receiver that does not answer within the timeout', async () => {
    const s = sender(200);
    expect(await s.send(delivery('/slow'))).toEqual({ delivered: false, reason: 'Timeout' });
    s.close();
  });

  it('names a refused connection by its error code', async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const s = sender();
    expect(await s.send({ ...delivery('/ok'), url: new URL(`http://127.0.0.1:${port}/`) })).toEqual({ delivered: false, reason: 'ECONNREFUSED' });
    s.close();
  });

  it('attack: refuses the metadata address without connecting', async () => {
    const s = sender();
    expect(await s.send({ ...delivery('/ok'), url: new URL('http://169.254.169.254/latest/meta-data/iam/') })).toEqual({
      delivered: false,
      reason: FORBIDDEN_ADDRESS,
    });
    s.close();
  });
});

describe('guardLookup', () => {
  const resolver =
    (addresses: string[]) =>
    (_host: string, _options: unknown, callback: (e: null, a: { address: string; family: number }[]) => void): void =>
      callback(
        null,
        addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 })),
      );

  it('attack: a name that resolves to the metadata address fails with ForbiddenAddress, so nothing connects', async () => {
    const lookup = guardLookup(resolver(['169.254.169.254']));
    const req = http.request({ host: 'metadata.internal', port: 80, path: '/', lookup });
    const error = await new Promise<NodeJS.ErrnoException>((resolve) => req.on('error', resolve).end());
    expect(error.code).toBe(FORBIDDEN_ADDRESS);
  });

  it('a name with a forbidden and an allowed address connects to the allowed one only', async () => {
    const lookup = guardLookup(resolver(['169.254.169.254', '127.0.0.1']));
    const port = Number(new URL(base).port);
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request({ host: 'receiver.internal', port, path: '/ok', method: 'POST', lookup }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject).end();
    });
    expect(status).toBe(204);
  });
});
