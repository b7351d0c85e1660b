// `portcullis activity` wired together: the event store, the group-commit batcher, retention, and the
// listeners, started together and stopped together.
//
// Stopping (SIGTERM/SIGINT or close()): every listener stops accepting and lets its requests in flight
// finish — an intake request in flight is waiting for its commit, which still happens — then the
// batcher writes anything left, retention finishes a run in progress, and the store closes. Nothing is
// answered 200 without being committed, so what Distribution did not get a 200 for it sends again.
//
// Listeners are a list: the events listener always, and any other server (the query API on its own TLS
// listener) is one more entry in `servers`, given the same store, metrics and logger.

import type { Logger } from 'pino';
import { DEFAULT_BATCHING, IntakeBatcher, type BatcherOptions } from './batcher.js';
import type { EventStore, RetentionLimits } from './event.js';
import { buildEventsApp } from './events-app.js';
import { listen, type ListeningServer } from './listener.js';
import { ActivityMetrics } from './metrics.js';
import { RetentionSchedule } from './retention.js';
import { openEventStore } from './store/open.js';
import { startWebhookDispatcher, type WebhookDispatcher, type WebhookDispatcherOptions } from './webhooks/dispatcher.js';
import { startLeadingWebhookDispatcher, type WebhookLease } from './webhooks/leading.js';

/** What every server of the activity process is given. */
export interface ActivityContext {
  store: EventStore;
  metrics: ActivityMetrics;
  logger: Logger;
}

/** Starts one listener; called in order at start, closed in reverse order at stop. */
export type ServerStarter = (ctx: ActivityContext) => Promise<ListeningServer>;

export interface ActivityConfig {
  /** sqlite:/path.db, sqlite::memory: or postgres://... (activity/store/open.ts). */
  databaseUrl: string;
  /** SQLite on a worker thread (the CLI, running from dist/, sets it; in-process tests open it directly). */
  storeThread?: boolean;
  activityKey: Buffer;
  events: { host: string; port: number };
  retention: RetentionLimits;
  logger: Logger;
  /** Default: a fresh registry with the process metrics. */
  metrics?: ActivityMetrics;
  batching?: Partial<Pick<BatcherOptions, 'maxBatch' | 'maxDelayMs' | 'maxPending'>>;
  retentionIntervalMs?: number;
  /** How long requests in flight may take to finish after a stop. Default 10 s. */
  shutdownGraceMs?: number;
  /** Servers started after the events listener (the query API adds itself here). */
  servers?: ServerStarter[];
  /** Install SIGTERM/SIGINT handlers that stop everything. Default true. */
  handleSignals?: boolean;
  /** Deliver RegistryWebhooks (needs the cluster); absent: no webhook delivery. */
  webhooks?: Omit<WebhookDispatcherOptions, 'store' | 'log' | 'metricsRegistry'> & {
    /** Deliver only while holding this Lease (several replicas on one store); absent: always deliver. */
    lease?: WebhookLease;
  };
}

export interface RunningActivity {
  servers: readonly ListeningServer[];
  /** The events listener's base URL. */
  eventsUrl: string;
  close(): Promise<void>;
  /** Settles once everything is closed, whoever asked for it; rejects if something failed to close. */
  closed: Promise<void>;
}

export async function startActivity(config: ActivityConfig): Promise<RunningActivity> {
  const { logger } = config;
  const metrics = config.metrics ?? new ActivityMetrics().withProcessMetrics();
  const store = await openEventStore(config.databaseUrl, { thread: config.storeThread === true });
  let webhooks: WebhookDispatcher | undefined;
  const batcher = new IntakeBatcher({
    store,
    ...DEFAULT_BATCHING,
    ...config.batching,
    onWrite: (w) => {
      metrics.batchWritten(w);
      // New events are committed: webhook loops waiting for events read them now rather than at their next poll.
      if (w.stored !== undefined && w.stored > 0) webhooks?.nudge();
    },
  });
  metrics.observeQueue(() => batcher.pending);
  const retention = new RetentionSchedule({
    store,
    limits: config.retention,
    logger,
    ...(config.retentionIntervalMs === undefined ? {} : { intervalMs: config.retentionIntervalMs }),
    onPruned: (n) => metrics.pruned.inc(n),
  });
  const ctx: ActivityContext = { store, metrics, logger };
  const grace = config.shutdownGraceMs === undefined ? {} : { shutdownGraceMs: config.shutdownGraceMs };

  const eventsServer: ServerStarter = async () =>
    listen(await buildEventsApp({ activityKey: config.activityKey, batcher, metrics, logger }), { name: 'events', ...config.events, ...grace });
  const servers: ListeningServer[] = [];
  // One line per step with its time: a stop that outlasts the kubelet's grace names what held it.
  const step = async (what: string, stop: () => Promise<void> | void): Promise<void> => {
    const started = performance.now();
    await stop();
    logger.info({ step: what, ms: Math.round(performance.now() - started) }, 'stopped');
  };
  const stopEverything = async (): Promise<void> => {
    for (const server of [...servers].reverse()) await step(`${server.name} listener`, () => server.close());
    await step('batcher', () => batcher.close());
    if (webhooks !== undefined) await step('webhooks', () => webhooks?.stop());
    await step('retention', () => retention.stop());
    await step('store', () => store.close());
  };
  try {
    for (const start of [eventsServer, ...(config.servers ?? [])]) servers.push(await start(ctx));
  } catch (err) {
    await stopEverything();
    throw err;
  }
  retention.start();
  if (config.webhooks !== undefined) {
    const { lease, ...options } = config.webhooks;
    const dispatcherOptions = { ...options, store, metricsRegistry: metrics.registry };
    webhooks =
      lease === undefined
        ? startWebhookDispatcher({ ...dispatcherOptions, log: logger })
        : startLeadingWebhookDispatcher({ ...dispatcherOptions, lease, log: logger });
  }
  for (const server of servers) logger.info({ server: server.name, url: server.url }, 'listening');

  const settle = { resolve: () => {}, reject: (_err: unknown) => {} };
  const closed = new Promise<void>((resolve, reject) => Object.assign(settle, { resolve, reject }));
  let closing: Promise<void> | undefined;
  let onSignal: ((signal: NodeJS.Signals) => void) | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      if (onSignal !== undefined) {
        process.off('SIGTERM', onSignal);
        process.off('SIGINT', onSignal);
      }
      await stopEverything();
    })();
    closing.then(
      () => settle.resolve(),
      (err: unknown) => settle.reject(err),
    );
    return closing;
  };
  if (config.handleSignals ?? true) {
    onSignal = (signal) => {
      logger.info({ signal }, 'shutting down: finishing requests in flight, writing what is queued');
      close().catch((err: unknown) => logger.error({ reason: (err as Error).message }, 'shutdown failed'));
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  }
  return { servers, eventsUrl: servers[0]!.url, close, closed };
}
