// Webhook delivery on one replica at a time. Every activity replica on a shared PostgreSQL store sees
// every event; if each ran its own loops, every receiver would get each event once per replica. A
// Lease (kube/lease.ts, the operator's elector) decides which replica delivers: the holder runs the
// dispatcher, the others only take in events. Cursors live in the store, so a new holder continues
// exactly where the last one stopped (at least once: an event in flight when the lease moved may
// arrive twice, with the same X-Portcullis-Delivery id).

import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { LeaderElector } from '../../kube/lease.js';
import { WebhookMetrics } from './metrics.js';
import { startWebhookDispatcher, type WebhookDispatcher, type WebhookDispatcherOptions } from './dispatcher.js';

export interface WebhookLease {
  namespace: string;
  name: string;
  /** Default: hostname and pid. */
  identity?: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
}

export type LeadingDispatcherOptions = Omit<WebhookDispatcherOptions, 'log'> & { lease: WebhookLease; log: Logger };

/** A dispatcher that runs only while this process holds the lease; the same interface as one that always runs. */
export function startLeadingWebhookDispatcher(options: LeadingDispatcherOptions): WebhookDispatcher & { isLeader(): boolean } {
  const { lease, ...dispatcherOptions } = options;
  const metrics = options.metrics ?? new WebhookMetrics(options.metricsRegistry);
  let current: WebhookDispatcher | undefined;
  let stopping: Promise<void> = Promise.resolve();
  const elector = new LeaderElector({
    client: options.client,
    namespace: lease.namespace,
    name: lease.name,
    identity: lease.identity ?? `${hostname()}-${process.pid}`,
    log: options.log,
    ...(lease.leaseDurationMs === undefined ? {} : { leaseDurationMs: lease.leaseDurationMs }),
    ...(lease.renewDeadlineMs === undefined ? {} : { renewDeadlineMs: lease.renewDeadlineMs }),
    ...(lease.retryPeriodMs === undefined ? {} : { retryPeriodMs: lease.retryPeriodMs }),
  });
  elector.start({
    onStartedLeading: () => {
      options.log.info({ lease: `${lease.namespace}/${lease.name}` }, 'delivering webhooks (lease held)');
      // A previous term's loops must have stopped before new ones read the cursors.
      stopping = stopping.then(() => {
        if (elector.isLeader) current = startWebhookDispatcher({ ...dispatcherOptions, metrics });
      });
    },
    onStoppedLeading: async () => {
      const running = current;
      current = undefined;
      stopping = stopping.then(() => running?.stop());
      await stopping;
    },
  });
  return {
    nudge: () => current?.nudge(),
    waitForSync: async () => {
      await stopping;
      await current?.waitForSync();
    },
    isLeader: () => elector.isLeader,
    async stop() {
      await elector.stop();
      await stopping;
      await current?.stop();
      current = undefined;
    },
  };
}
