// How every HTTP(S) listener of Portcullis stops (the token server, the activity server's two, the
// operator's metrics): stop accepting, let the requests in flight finish within a grace period, then
// close their connections.
//
// Node's `server.close()` closes only the connections idle at that moment. A connection whose response
// is still being written becomes an idle keep-alive connection once it is sent, and stays open until
// its keep-alive timeout (72 s here) or the grace period: a SIGTERM that arrives during one request
// (a kube-apiserver availability check, a probe, a login) held the process for the whole grace period,
// past what a harness or the kubelet waits. So connections are also closed as they fall idle.

import type { Server } from 'node:http';
import type { Server as HttpsServer } from 'node:https';

/** How often idle connections are looked for while closing: the longest a finished one stays open. */
const IDLE_SWEEP_MS = 50;

/** Stops accepting, lets requests in flight finish for up to `graceMs` (default 10 s), then cuts what is left. */
export async function closeServer(server: Server | HttpsServer, graceMs = 10_000): Promise<void> {
  const sweep = setInterval(() => server.closeIdleConnections(), IDLE_SWEEP_MS);
  const grace = setTimeout(() => server.closeAllConnections(), graceMs);
  sweep.unref();
  grace.unref();
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  await closed;
  clearInterval(sweep);
  clearTimeout(grace);
}
