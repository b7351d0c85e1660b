// How every HTTP(S) listener of Portcullis stops (the token server, the activity server's two, the
// operator's metrics): stop accepting, let the requests in flight finish within a grace period, then
// close their connections.
//
// Node's `server.close()` closes only the connections idle at that moment. A connection whose response
// is still being written becomes an idle keep-alive connection once it is sent, and stays open until
// its keep-alive timeout (72 s here) or the grace period: a SIGTERM that arrives during one request
// (a kube-apiserver availability check, a probe, a login) held the process for the whole grace period,
// past what a harness or the kubelet waits. So connections are also closed as they fall idle.
//
// A TLS listener has connections its HTTP layer never sees: those still in their handshake (a TCP probe,
// a port scan, a client that stalled). `server.close()` waits for them too, and neither the idle sweep nor
// `closeAllConnections()` reaches them, so one such connection held a stop for the TLS handshake timeout
// (120 s; it made the activity server miss the harness's 5 s in CI). trackSockets, called when the
// server is made, lets closeServer close those at once: they carry no request. (No new connection is
// accepted once closing, and every connection past its handshake is HTTP's.)

import type { Server } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import { Server as TlsServer, type TLSSocket } from 'node:tls';

/** How often idle connections are looked for while closing: the longest a finished one stays open. */
const IDLE_SWEEP_MS = 50;

/** Per TLS server, the connections not yet through their handshake, by their addresses and ports (peerOf). */
const handshakes = new WeakMap<Server | HttpsServer, Map<string, Socket>>();

/**
 * A connection's local and peer addresses and ports: the same for a TLS socket and the TCP socket it runs
 * over, and unique among open connections (the peer's alone is not, on a server listening on several
 * addresses).
 */
export const peerOf = (socket: Socket): string =>
  `${socket.localAddress ?? ''}:${socket.localPort ?? ''}|${socket.remoteAddress ?? ''}:${socket.remotePort ?? ''}`;

/** Remembers `server`'s connections in their TLS handshake for closeServer; call it before the server listens. */
export function trackSockets(server: Server | HttpsServer): void {
  if (!(server instanceof TlsServer)) return;
  const handshaking = new Map<string, Socket>();
  server.on('connection', (socket: Socket) => {
    // The TLS socket made over it has the same peer: its secureConnection says the handshake is done.
    const peer = peerOf(socket);
    handshaking.set(peer, socket);
    socket.once('close', () => {
      if (handshaking.get(peer) === socket) handshaking.delete(peer);
    });
  });
  server.on('secureConnection', (socket: TLSSocket) => handshaking.delete(peerOf(socket)));
  handshakes.set(server, handshaking);
}

/** Stops accepting, lets requests in flight finish for up to `graceMs` (default 10 s), then cuts what is left. */
export async function closeServer(server: Server | HttpsServer, graceMs = 10_000): Promise<void> {
  const sweep = setInterval(() => server.closeIdleConnections(), IDLE_SWEEP_MS);
  const grace = setTimeout(() => server.closeAllConnections(), graceMs);
  sweep.unref();
  grace.unref();
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  for (const socket of handshakes.get(server)?.values() ?? []) socket.destroy();
  await closed;
  clearInterval(sweep);
  clearTimeout(grace);
}
