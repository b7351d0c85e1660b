import { Agent, createServer, request, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { closeServer, peerOf, trackSockets } from './close-server.js';

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

  // A TCP probe, a port scan or a stalled client on a TLS port: no ClientHello yet, so HTTP never sees
  // the connection, and server.close() waited for it until the TLS handshake timeout (120 s).
  it('closes a TLS connection still in its handshake at once, whatever the grace period', async () => {
    // No certificate: nothing here completes a handshake, and the server only has to accept.
    const tls = createHttpsServer({}, (_req, res) => res.end('never'));
    trackSockets(tls);
    await new Promise<void>((resolve) => tls.listen(0, '127.0.0.1', resolve));
    const probe: Socket = connect((tls.address() as AddressInfo).port, '127.0.0.1');
    await new Promise((resolve) => probe.once('connect', resolve));
    const ended = new Promise((resolve) => probe.once('close', resolve));
    // An hour's grace: without trackSockets this waits for the 120 s handshake timeout (below).
    await closeServer(tls, 3_600_000);
    await ended;
  });

  it('without trackSockets, a TLS connection in its handshake holds the close (why servers call it)', async () => {
    const tls = createHttpsServer({}, (_req, res) => res.end('never'));
    await new Promise<void>((resolve) => tls.listen(0, '127.0.0.1', resolve));
    const probe: Socket = connect((tls.address() as AddressInfo).port, '127.0.0.1');
    await new Promise((resolve) => probe.once('connect', resolve));
    const closing = closeServer(tls, 100).then(() => 'closed');
    const waited = await Promise.race([closing, tick(500).then(() => 'still open')]);
    probe.destroy();
    await closing;
    expect(waited).toBe('still open');
  });
});

describe('peerOf', () => {
  it('tells apart connections from one peer address and port to two local addresses (a server on several)', () => {
    const socket = (localAddress: string) => ({ localAddress, localPort: 443, remoteAddress: '10.0.0.9', remotePort: 50000 }) as Socket;
    expect(peerOf(socket('10.0.0.1'))).not.toBe(peerOf(socket('10.0.0.2')));
    expect(peerOf(socket('10.0.0.1'))).toBe(peerOf(socket('10.0.0.1')));
  });
});
