// Webhook delivery metrics, registered on the activity server's registry (activity/metrics.ts) so that
// GET /metrics serves them with the rest. The backlog is labelled by webhook (namespace and name): the
// objects are few, and a growing backlog is the one thing an operator wants to find by name.

import { Counter, Gauge, type Registry } from 'prom-client';
import { splitKey } from '../../policy/object-keys.js';

export type DeliveryOutcome = 'success' | 'failure';

export class WebhookMetrics {
  private readonly deliveries: Counter<'outcome'>;
  private readonly backlogGauge: Gauge<'namespace' | 'name'>;

  constructor(registry: Registry) {
    this.deliveries = new Counter({
      name: 'portcullis_webhook_deliveries_total',
      help: 'Webhook delivery attempts by outcome: success (the receiver answered 2xx) or failure (anything else, a timeout, a refused address).',
      labelNames: ['outcome'],
      registers: [registry],
    });
    this.backlogGauge = new Gauge({
      name: 'portcullis_webhook_backlog_events',
      help: 'Matching events a webhook has not delivered yet (counted up to 10000), by webhook namespace and name.',
      labelNames: ['namespace', 'name'],
      registers: [registry],
    });
  }

  delivered(outcome: DeliveryOutcome): void {
    this.deliveries.inc({ outcome });
  }

  /** `webhook` is `namespace/name`. */
  backlog(webhook: string, events: number): void {
    this.backlogGauge.set(splitKey(webhook), events);
  }

  forget(webhook: string): void {
    this.backlogGauge.remove(splitKey(webhook));
  }
}
