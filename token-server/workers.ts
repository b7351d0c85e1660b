// `token-server --workers N`: N processes (node:cluster) serving one listening socket, so a pod given N
// CPUs uses them. The primary only supervises: it forks the workers (each loads the policy and keys and
// watches them itself, so a reload reaches every worker), prints the listening line once all listen,
// replaces a worker that dies, answers /metrics requests with every worker's metrics added up (prom-client's
// AggregatorRegistry: counters and histograms summed, gauges as each declares), and on SIGTERM/SIGINT
// passes the signal on and exits 0 once every worker has closed gracefully.

import cluster, { type Address, type Worker } from 'node:cluster';
import type { Logger } from 'pino';
import { AggregatorRegistry, type Registry } from 'prom-client';

const METRICS_REQUEST = 'portcullis:metrics-request';
const METRICS_RESPONSE = 'portcullis:metrics-response';

interface MetricsRequest {
  type: typeof METRICS_REQUEST;
  id: number;
}

interface MetricsResponse {
  type: typeof METRICS_RESPONSE;
  id: number;
  text?: string;
  error?: string;
}

export interface PrimaryOptions {
  workers: number;
  logger: Logger;
  tls: boolean;
  /** How long workers may take to close after the signal before they are killed. */
  shutdownGraceMs: number;
  /** Called once with the URL every worker listens on. */
  onListening(url: string): void;
}

/** Runs the primary until a signal stops every worker; resolves with the exit status. */
export function runPrimary(options: PrimaryOptions): Promise<number> {
  const { logger } = options;
  const aggregator = new AggregatorRegistry();
  let stopping = false;
  let failed = false;
  let announced = false;
  const listening = new Set<number>();

  cluster.on('listening', (worker: Worker, address: Address) => {
    listening.add(worker.id);
    if (announced || listening.size < options.workers) return;
    announced = true;
    const host = address.addressType === 6 ? `[${address.address}]` : address.address;
    options.onListening(`${options.tls ? 'https' : 'http'}://${host}:${address.port}`);
  });
  cluster.on('message', (worker: Worker, message: unknown) => {
    if ((message as MetricsRequest | undefined)?.type !== METRICS_REQUEST) return;
    const { id } = message as MetricsRequest;
    aggregator.clusterMetrics().then(
      (text) => worker.isConnected() && worker.send({ type: METRICS_RESPONSE, id, text } satisfies MetricsResponse),
      (err: unknown) => worker.isConnected() && worker.send({ type: METRICS_RESPONSE, id, error: (err as Error).message } satisfies MetricsResponse),
    );
  });

  // Not `cluster.workers` being empty: node:cluster removes a worker from it only once the worker has both
  // exited and disconnected, in either order, so at the last 'exit' it may still be listed. Waiting for an
  // empty list then left the promise pending with nothing else to run, and node exited with 13
  // (unsettled top-level await) instead of 0.
  const allExited = (): boolean => Object.values(cluster.workers ?? {}).every((w) => w === undefined || w.isDead());

  return new Promise((resolve) => {
    cluster.on('exit', (worker: Worker, code: number | null, signal: string | null) => {
      const wasListening = listening.delete(worker.id);
      if (!stopping && !announced && !wasListening) {
        // It could not start (its error is in the log): the others would fail the same way.
        logger.error({ worker: worker.id, code, signal }, 'a token-server worker could not start; stopping');
        failed = true;
        stop('SIGTERM');
      }
      if (stopping) {
        if (allExited()) resolve(failed ? 1 : 0);
        return;
      }
      // A worker that died on its own: the others keep serving; a new one takes its place shortly.
      logger.error({ worker: worker.id, code, signal }, 'token-server worker exited; starting another');
      setTimeout(() => stopping || cluster.fork(), 1000).unref();
    });
    const stop = (signal: NodeJS.Signals): void => {
      if (stopping) return;
      stopping = true;
      if (!failed) logger.info({ signal }, 'shutting down');
      const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined);
      if (workers.length === 0) resolve(failed ? 1 : 0);
      for (const worker of workers) worker.process.kill('SIGTERM');
      const kill = setTimeout(() => {
        for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGKILL');
      }, options.shutdownGraceMs + 5000);
      kill.unref();
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
    for (let i = 0; i < options.workers; i++) cluster.fork();
  });
}

/** In a worker: lets the primary collect this worker's metrics (prom-client's cluster protocol). */
export function shareWorkerMetrics(registry: Registry): void {
  new AggregatorRegistry();
  AggregatorRegistry.setRegistries([registry]);
}

let nextRequest = 0;

/** In a worker: every worker's metrics, added up by the primary (the text a /metrics scrape returns). */
export function clusterMetricsText(timeoutMs = 10_000): Promise<string> {
  const id = nextRequest++;
  return new Promise((resolve, reject) => {
    const done = (): void => {
      clearTimeout(timer);
      process.off('message', onMessage);
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`the workers' metrics did not arrive within ${timeoutMs} ms`));
    }, timeoutMs);
    const onMessage = (message: unknown): void => {
      const response = message as MetricsResponse | undefined;
      if (response?.type !== METRICS_RESPONSE || response.id !== id) return;
      done();
      if (response.text !== undefined) resolve(response.text);
      else reject(new Error(response.error ?? 'no metrics'));
    };
    process.on('message', onMessage);
    process.send?.({ type: METRICS_REQUEST, id } satisfies MetricsRequest);
  });
}
