// Prometheus metrics on a registry of our own (never prom-client's global one), so several apps in one
// process (tests, the demo) do not collide.

import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import { LabelledHistogram, Tally } from './hot-metrics.js';

export type Outcome =
  'issued' | 'bad_credentials' | 'invalid_refresh_token' | 'throttled' | 'bad_request' | 'not_ready' | 'source_unavailable' | 'registry_read_only' | 'error';

export class TokenServerMetrics {
  readonly registry = new Registry();
  /** Bumped per request; read through the `portcullis_token_requests_total` counter (hot-metrics.ts). */
  readonly tokenRequests = new Tally('outcome');
  readonly requestDuration: LabelledHistogram<'route'>;
  readonly snapshotInfo: Gauge<'generation'>;
  readonly snapshotLoadedAt: Gauge;
  readonly snapshotAge: Gauge;
  readonly keysLoadedAt: Gauge;
  /** Bumped per login; read through `portcullis_credential_cache_lookups_total`. */
  readonly credentialCache = new Tally('result');
  readonly reloadsRejected: Counter<'source'>;
  readonly passwordComparisons: Counter<'cost'>;
  readonly passwordChecksRefused: Counter<'reason'>;
  readonly passwordQueue: Gauge<'state'>;
  readonly identityChecks: Counter<'source' | 'result'>;
  private queueStats: () => { running: number; queued: number } = () => ({ running: 0, queued: 0 });

  constructor(now: () => Date) {
    const registers = [this.registry];
    const tokenRequests = this.tokenRequests;
    new Counter({
      name: 'portcullis_token_requests_total',
      help: 'Token requests by outcome (registry_read_only: a write refused during a garbage-collection window).',
      labelNames: ['outcome'],
      registers,
      collect() {
        tokenRequests.drainInto(this);
      },
    });
    this.requestDuration = new LabelledHistogram(
      'portcullis_http_request_duration_seconds',
      'Time to answer an HTTP request, by route.',
      'route',
      [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    ).registerIn(this.registry);
    this.snapshotInfo = new Gauge({
      name: 'portcullis_snapshot_info',
      help: 'The generation of the policy snapshot in use (value: how many processes serve it, 1 without --workers).',
      labelNames: ['generation'],
      registers,
      aggregator: 'sum',
    });
    this.snapshotLoadedAt = new Gauge({
      name: 'portcullis_snapshot_loaded_timestamp_seconds',
      help: 'When the policy snapshot in use was loaded (with --workers: the earliest of the workers).',
      registers,
      aggregator: 'min',
    });
    const loadedAt = this.snapshotLoadedAt;
    this.snapshotAge = new Gauge({
      name: 'portcullis_snapshot_age_seconds',
      help: 'Seconds since the policy snapshot in use was loaded.',
      registers,
      aggregator: 'max',
      async collect() {
        const value = (await loadedAt.get()).values[0]?.value;
        if (value !== undefined && value > 0) this.set(now().getTime() / 1000 - value);
      },
    });
    this.keysLoadedAt = new Gauge({
      name: 'portcullis_signing_keys_loaded_timestamp_seconds',
      help: 'When the signing-key set in use was loaded.',
      registers,
      aggregator: 'min',
    });
    const credentialCache = this.credentialCache;
    new Counter({
      name: 'portcullis_credential_cache_lookups_total',
      help: 'Verified-credential cache lookups by result (hit or miss).',
      labelNames: ['result'],
      registers,
      collect() {
        credentialCache.drainInto(this);
      },
    });
    this.reloadsRejected = new Counter({
      name: 'portcullis_reloads_rejected_total',
      help: 'New policy or key inputs refused (the previous ones stay in use).',
      labelNames: ['source'],
      registers,
    });
    this.passwordComparisons = new Counter({
      name: 'portcullis_password_comparisons_total',
      help: 'bcrypt comparisons run, by the cost of the hash compared against.',
      labelNames: ['cost'],
      registers,
    });
    this.passwordChecksRefused = new Counter({
      name: 'portcullis_password_checks_refused_total',
      help: 'Logins answered 429 before any comparison: budget (too many failures), queue (too many checks waiting) or turn (too many of one client waiting for its turn).',
      labelNames: ['reason'],
      registers,
    });
    this.identityChecks = new Counter({
      name: 'portcullis_identity_checks_total',
      help: 'Logins checked by an identity source (ldap, oidc, serviceaccount): ok, cached, refused or unavailable.',
      labelNames: ['source', 'result'],
      registers,
    });
    const queueStats = (): { running: number; queued: number } => this.queueStats();
    this.passwordQueue = new Gauge({
      name: 'portcullis_password_checks',
      help: 'Password checks running and waiting in the verification queue.',
      labelNames: ['state'],
      registers,
      collect() {
        const { running, queued } = queueStats();
        this.set({ state: 'running' }, running);
        this.set({ state: 'waiting' }, queued);
      },
    });
  }

  /** Where the password-check gauge reads the verification queue's state from. */
  observePasswordQueue(stats: () => { running: number; queued: number }): void {
    this.queueStats = stats;
  }

  snapshotLoaded(generation: string, loadedAt: Date): void {
    this.snapshotInfo.reset();
    this.snapshotInfo.set({ generation }, 1);
    this.snapshotLoadedAt.set(loadedAt.getTime() / 1000);
  }

  /**
   * Adds the process and Node.js metrics (resident memory, heap, event-loop lag, GC) to this registry.
   * Only the server entry calls it: tests build many apps in one process and need none of it.
   */
  withProcessMetrics(): this {
    collectDefaultMetrics({ register: this.registry });
    return this;
  }
}
