// One webhook's delivery loop. It reads its Registry's events after its cursor, passes over those its
// filter does not want, and POSTs the others one at a time, in seq order; a failure retries the SAME
// event after a growing wait, so order is kept and nothing is skipped, and only this loop waits. The
// cursor (the last seq delivered or passed over) is stored under the webhook's uid after each delivery,
// so a restart continues where this one stopped; a webhook seen for the first time starts at the newest
// event (no history is replayed). The status shows only the id of the last event this webhook was
// sent, never the cursor nor any seq: the tenant who owns the webhook can read its status, and a cursor
// that moves past events its filter rejects would tell it, within seconds, that something happened in
// another tenant's repositories (as would the step between the store-wide seqs of two of its own
// events). Every loop is an independent async task: a slow receiver holds up only its own events, never
// intake and never another webhook.

import type { RegistryWebhookStatus } from '../../crds/types.js';
import type { Timers } from '../../kube/backoff.js';
import { Reasons } from '../../policy/reasons.js';
import type { EventStore, StoredEvent } from '../event.js';
import { countBacklog } from './backlog.js';
import { wants, type EventFilter } from './filter.js';
import type { WebhookMetrics } from './metrics.js';
import { deliveryId, webhookPayload } from './payload.js';
import type { WebhookPlan, WebhookTarget } from './plan.js';
import { retryDelayMs } from './retry.js';
import type { KeyRead, SecretKeyRef } from './secret.js';
import type { Sender } from './send.js';
import { DeliveryHeaders, signDelivery } from './signature.js';
import type { DeliveryState, ReadyState, StatusReporter } from './status.js';

export interface LoopOptions {
  /** The webhook's uid: its cursor's key. */
  uid: string;
  /** `namespace/name`, for logs and metrics. */
  key: string;
  store: EventStore;
  sender: Sender;
  readKey: (ref: SecretKeyRef) => Promise<KeyRead>;
  reporter: (backlog: () => Promise<number | undefined>) => StatusReporter;
  metrics: WebhookMetrics;
  timers: Timers;
  /** How often the store is read when no nudge came. */
  pollMs: number;
  /** How long a read key is used before it is read again (a rotated key is picked up within this). */
  keyTtlMs: number;
  log: { warn(fields: object, message: string): void };
  /** Counts the backlog (the dispatcher's BacklogCounter); default: countBacklog on `store` every time. */
  countBacklog?: (filter: EventFilter, cursor: number) => Promise<number>;
}

const BATCH = 100;
const KEY_RETRY_MAX_MS = 30_000;
const DELIVERING: ReadyState = { status: 'True', reason: Reasons.Delivering, message: 'events are delivered as they arrive' };

type Wake = 'timer' | 'nudge' | 'plan' | 'stop';

export class DeliveryLoop {
  private plan: WebhookPlan;
  private stopped = false;
  private running: Promise<void> | undefined;
  private wake: ((why: Wake) => void) | undefined;
  private waitingFor: 'events' | 'retry' | undefined;
  private cursor = 0;
  private state: Omit<DeliveryState, 'ready' | 'generation'> = {};
  private cachedKey: { ref: string; key: Buffer; readAt: number } | undefined;
  private readonly reporter: StatusReporter;
  private readonly countBacklog: (filter: EventFilter, cursor: number) => Promise<number>;
  private lastReported: string | undefined;

  constructor(
    plan: WebhookPlan,
    private readonly options: LoopOptions,
    initial?: RegistryWebhookStatus,
  ) {
    this.plan = plan;
    // A restart keeps showing the last success and failure the object already records.
    if (initial?.lastSuccessTime !== undefined) this.state.lastSuccessTime = initial.lastSuccessTime;
    if (initial?.lastFailure !== undefined) this.state.lastFailure = initial.lastFailure;
    if (initial?.lastDeliveredEventId !== undefined) this.state.lastDeliveredEventId = initial.lastDeliveredEventId;
    this.countBacklog = options.countBacklog ?? ((filter, cursor) => countBacklog(options.store, filter, cursor));
    this.reporter = options.reporter(() => this.backlog());
  }

  start(): void {
    this.running ??= this.run();
  }

  /** A new plan (the object, its Registry or its namespace changed): a waiting loop acts on it at once. */
  update(plan: WebhookPlan): void {
    if (plan.fingerprint === this.plan.fingerprint) return;
    this.plan = plan;
    this.cachedKey = undefined;
    this.wake?.('plan');
  }

  /** New events were committed: an idle loop reads them now instead of at its next poll. */
  nudge(): void {
    if (this.waitingFor === 'events') this.wake?.('nudge');
  }

  /** Stops after the request in flight, if any (bounded by the send timeout); the cursor is already stored. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.('stop');
    await this.running;
    await this.reporter.stop();
  }

  /** Tells the reporter, unless nothing changed since the last time (an idle loop reports every poll). */
  private report(ready: ReadyState): void {
    const state: DeliveryState = { ...this.state, ready, ...(this.plan.generation !== undefined ? { generation: this.plan.generation } : {}) };
    const json = JSON.stringify(state);
    if (json === this.lastReported) return;
    this.lastReported = json;
    this.reporter.report(state);
  }

  private sleep(ms: number, waitingFor: 'events' | 'retry'): Promise<Wake> {
    if (this.stopped) return Promise.resolve('stop');
    return new Promise((resolve) => {
      const handle = this.options.timers.setTimeout(() => done('timer'), ms);
      const done = (why: Wake): void => {
        this.options.timers.clearTimeout(handle);
        this.wake = undefined;
        this.waitingFor = undefined;
        resolve(why);
      };
      this.wake = done;
      this.waitingFor = waitingFor;
    });
  }

  private async run(): Promise<void> {
    this.cursor = await this.startingCursor();
    let keyFailures = 0;
    while (!this.stopped) {
      const plan = this.plan;
      if ('blocked' in plan) {
        this.report({ status: 'False', ...plan.blocked });
        await this.sleep(60_000, 'retry');
        continue;
      }
      const key = await this.key(plan.target.secret);
      if (!('key' in key)) {
        this.report({ status: 'False', reason: key.reason, message: key.message });
        keyFailures++;
        await this.sleep(Math.min(1000 * 2 ** Math.min(keyFailures - 1, 5), KEY_RETRY_MAX_MS), 'retry');
        continue;
      }
      keyFailures = 0;
      let batch: StoredEvent[];
      try {
        batch = await this.options.store.after(plan.target.filter.registry, this.cursor, BATCH);
      } catch (error) {
        this.options.log.warn({ webhook: this.options.key, err: (error as Error).message }, 'webhook: reading events failed; retrying');
        await this.sleep(this.options.pollMs, 'retry');
        continue;
      }
      if (batch.length === 0) {
        this.report(DELIVERING);
        await this.sleep(this.options.pollMs, 'events');
        continue;
      }
      await this.deliverBatch(batch);
    }
  }

  private async startingCursor(): Promise<number> {
    for (let attempt = 1; !this.stopped; attempt++) {
      try {
        const stored = await this.options.store.cursor(this.options.uid);
        if (stored !== undefined) return stored;
        const newest = await this.options.store.maxSeq();
        await this.options.store.setCursor(this.options.uid, newest);
        return newest;
      } catch (error) {
        this.options.log.warn({ webhook: this.options.key, err: (error as Error).message }, 'webhook: reading the cursor failed; retrying');
        await this.sleep(retryDelayMs(attempt), 'retry');
      }
    }
    return 0;
  }

  private async deliverBatch(batch: readonly StoredEvent[]): Promise<void> {
    const plan = this.plan;
    let passedOver = false;
    for (const event of batch) {
      if (this.stopped || this.plan !== plan || !('target' in plan)) break;
      if (!wants(plan.target.filter, event)) {
        this.cursor = event.seq;
        passedOver = true;
        continue;
      }
      const outcome = await this.deliver(event);
      if (outcome === 'interrupted') break;
      this.cursor = event.seq;
      passedOver = false;
      await this.saveCursor();
    }
    if (passedOver) await this.saveCursor();
  }

  private async saveCursor(): Promise<void> {
    try {
      await this.options.store.setCursor(this.options.uid, this.cursor);
    } catch (error) {
      // The next save carries it; until then a restart would repeat what was delivered since (at least once).
      this.options.log.warn({ webhook: this.options.key, err: (error as Error).message }, 'webhook: storing the cursor failed');
    }
  }

  /** Sends one event until the receiver takes it, it is no longer wanted, or the loop must re-plan. */
  private async deliver(event: StoredEvent): Promise<'delivered' | 'passed' | 'interrupted'> {
    const body = JSON.stringify(webhookPayload(event));
    const id = deliveryId(this.options.uid, event.seq);
    for (let attempts = 0; !this.stopped;) {
      const plan = this.plan;
      if (!('target' in plan)) return 'interrupted';
      if (!wants(plan.target.filter, event)) return 'passed';
      const key = await this.key(plan.target.secret);
      if (!('key' in key)) return 'interrupted';
      const outcome = await this.options.sender.send({ url: plan.target.url, headers: this.headers(plan.target, key.key, id, event, body), body });
      const now = new Date(this.options.timers.now()).toISOString();
      if (outcome.delivered) {
        this.options.metrics.delivered('success');
        this.state = { ...this.state, lastSuccessTime: now, lastDeliveredEventId: event.id };
        this.report(DELIVERING);
        return 'delivered';
      }
      attempts++;
      this.options.metrics.delivered('failure');
      this.state = { ...this.state, lastFailure: { time: now, reason: outcome.reason, attempts } };
      const waitMs = retryDelayMs(attempts, this.options.timers.random);
      this.report({
        status: 'False',
        reason: Reasons.DeliveryFailing,
        message:
          `delivering event ${event.id} (${event.action} ${event.repository}) to ${plan.target.url.host} failed ${attempts} time(s), ` +
          `last with ${outcome.reason}; retrying in ${Math.ceil(waitMs / 1000)}s, later events wait`,
      });
      this.options.log.warn({ webhook: this.options.key, host: plan.target.url.host, reason: outcome.reason, attempts }, 'webhook: delivery failed; retrying');
      await this.sleep(waitMs, 'retry');
    }
    return 'interrupted';
  }

  private headers(target: WebhookTarget, key: Buffer, id: string, event: StoredEvent, body: string): Record<string, string> {
    const timestamp = String(Math.floor(this.options.timers.now() / 1000));
    return {
      ...target.headers,
      [DeliveryHeaders.event]: event.action,
      [DeliveryHeaders.delivery]: id,
      [DeliveryHeaders.timestamp]: timestamp,
      [DeliveryHeaders.signature]: signDelivery(key, timestamp, body),
    };
  }

  /** The signing key: read again after keyTtlMs; a transient read error keeps the key already known. */
  private async key(ref: SecretKeyRef): Promise<KeyRead> {
    const refKey = `${ref.namespace}/${ref.name}/${ref.key}`;
    const cached = this.cachedKey;
    const now = this.options.timers.now();
    if (cached !== undefined && cached.ref === refKey && now - cached.readAt < this.options.keyTtlMs) return { key: cached.key };
    const read = await this.options.readKey(ref);
    if ('key' in read) {
      this.cachedKey = { ref: refKey, key: read.key, readAt: now };
      return read;
    }
    if (read.transient && cached !== undefined && cached.ref === refKey) return { key: cached.key };
    this.cachedKey = undefined;
    return read;
  }

  private async backlog(): Promise<number | undefined> {
    const plan = this.plan;
    if (!('target' in plan)) return undefined;
    try {
      const backlog = await this.countBacklog(plan.target.filter, this.cursor);
      this.options.metrics.backlog(this.options.key, backlog);
      return backlog;
    } catch {
      return undefined;
    }
  }
}
