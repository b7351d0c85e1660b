// The activity server's Prometheus metrics, on a registry of its own (never prom-client's global one, so
// several servers in one test process do not collide). `registry` is public: webhook delivery and the
// query API register their metrics on it, and GET /metrics on the events listener serves them all.
// The `registry` label is only ever set after the notification token was checked, so an unauthenticated
// caller cannot grow the label set.

import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { BatchWrite } from './batcher.js';

export type IntakeOutcome = 'accepted' | 'malformed' | 'unauthorized' | 'too_large' | 'unsupported_media_type' | 'busy' | 'store_failed' | 'not_found';

export class ActivityMetrics {
  readonly registry = new Registry();
  readonly registryEvents: Counter<'registry' | 'action' | 'outcome'>;
  readonly ignoredEvents: Counter<'registry'>;
  readonly intakeRequests: Counter<'outcome'>;
  readonly intakeLag: Histogram;
  readonly batchWriteDuration: Histogram<'result'>;
  readonly intakeQueue: Gauge;
  readonly pruned: Counter;
  private queueSize: () => number = () => 0;

  constructor(private readonly now: () => Date = () => new Date()) {
    const registers = [this.registry];
    this.registryEvents = new Counter({
      name: 'portcullis_activity_registry_events_total',
      help: 'Manifest events committed, by Registry (namespace/name), action, and outcome: stored (new) or duplicate (a redelivery).',
      labelNames: ['registry', 'action', 'outcome'],
      registers,
    });
    this.ignoredEvents = new Counter({
      name: 'portcullis_activity_ignored_events_total',
      help: 'Valid events not kept (blob events, mounts, unknown actions), by Registry: a registry not ignoring blobs at the source shows here.',
      labelNames: ['registry'],
      registers,
    });
    this.intakeRequests = new Counter({
      name: 'portcullis_activity_intake_requests_total',
      help: 'Notification deliveries by outcome (accepted, malformed, unauthorized, too_large, unsupported_media_type, busy, store_failed).',
      labelNames: ['outcome'],
      registers,
    });
    this.intakeLag = new Histogram({
      name: 'portcullis_activity_intake_lag_seconds',
      help: 'From the registry seeing an event (its timestamp) to its commit here; grows while deliveries are retried.',
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600],
      registers,
    });
    this.batchWriteDuration = new Histogram({
      name: 'portcullis_activity_batch_write_duration_seconds',
      help: 'Time of one group-commit write to the event store, by result (ok or error).',
      labelNames: ['result'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    const size = (): number => this.queueSize();
    this.intakeQueue = new Gauge({
      name: 'portcullis_activity_intake_queue_events',
      help: 'Events waiting for or in a store write.',
      registers,
      collect() {
        this.set(size());
      },
    });
    this.pruned = new Counter({
      name: 'portcullis_activity_events_pruned_total',
      help: 'Events removed by retention (age or row limit).',
      registers,
    });
  }

  /** Where the queue gauge reads the batcher's pending count from. */
  observeQueue(size: () => number): void {
    this.queueSize = size;
  }

  /**
   * Counts one batch write. The store reports how many of a batch were new, not which: a batch that is
   * all new or all duplicates is counted exactly; in a mixed one (rare: a redelivery written together
   * with new events) the totals are exact and the duplicates are attributed to the batch's last events.
   */
  batchWritten(write: BatchWrite): void {
    this.batchWriteDuration.observe({ result: write.error === undefined ? 'ok' : 'error' }, write.durationMs / 1000);
    if (write.stored === undefined) return;
    const firstDuplicate = write.stored;
    const nowMs = this.now().getTime();
    write.events.forEach((e, i) => {
      this.registryEvents.inc({ registry: e.registry, action: e.action, outcome: i < firstDuplicate ? 'stored' : 'duplicate' });
      if (i < firstDuplicate) this.intakeLag.observe(Math.max(0, (nowMs - Date.parse(e.timestamp)) / 1000));
    });
  }

  /** Adds process and Node.js metrics; only the server entry calls it (tests build many in one process). */
  withProcessMetrics(): this {
    collectDefaultMetrics({ register: this.registry });
    return this;
  }
}
