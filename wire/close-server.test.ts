import { Agent, createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { closeServer } from './close-server.js';

let server: Server | undefined;
const agent = new Agent({ keepAlive: true });
afterEach(() => {
  server?.closeAllConnections();
  agent.destroy();
});

/** A keep-alive server whose responses take `delayMs`. */
async function slowServer(delayMs: number): Promise<number> {
  server = createServer((_req, res) => setTimeout(() => res.end('done'), delayMs));
  server.keepAliveTimeout = 72_000;
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

function get(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, agent, path: '/' }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve(body));
    })
      .on('error', reject)
      .end();
  });
}

const tick = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('closeServer', () => {
  it('lets requests in flight finish, then closes their keep-alive connections without waiting for the grace period', async () => {
    const port = await slowServer(200);
    const inFlight = [get(port), get(port)];
    await tick(50);
    // A grace period far beyond the test's timeout: the close must not depend on it. Node's own close
    // leaves both connections open (keep-alive, 72 s) once answered, and this test times out.
    await closeServer(server!, 3_600_000);
    expect(await Promise.all(inFlight)).toEqual(['done', 'done']);
  });

  it('cuts a request that outlasts the grace period', async () => {
    const port = await slowServer(3_600_000);
    const inFlight = get(port).then(
      () => 'answered',
      () => 'cut',
    );
    await tick(50);
    await closeServer(server!, 100);
    expect(await inFlight).toBe('cut');
  });
});
