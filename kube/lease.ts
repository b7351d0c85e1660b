// Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection does it:
// - expiry is judged by when *this process observed* the holder's record change, never by comparing the
//   holder's renewTime with our clock, so clock skew between nodes cannot make two leaders;
// - the leader renews every retryPeriod and steps down (onStoppedLeading) when it could not renew for
//   renewDeadline, which is shorter than the lease duration, so it stops before a peer can take over;
// - on clean shutdown the leader releases (empty holder, 1 s duration) so a peer takes over at once.
// Writes are optimistic (PUT with resourceVersion); a 409 just means someone else wrote first.

import type { Logger } from 'pino';
import { KubeApiError, isConflict, isNotFound, type KubeClient, objectPath, Resources, collectionPath } from '../kube/request.js';
import { realTimers, type Timers } from '../kube/backoff.js';

export interface LeaseSpec {
  holderIdentity?: string | null;
  leaseDurationSeconds?: number;
  acquireTime?: string | null;
  renewTime?: string | null;
  leaseTransitions?: number;
}

export interface Lease {
  apiVersion: 'coordination.k8s.io/v1';
  kind: 'Lease';
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec?: LeaseSpec;
}

export interface LeaderElectionOptions {
  client: KubeClient;
  namespace: string;
  name: string;
  identity: string;
  log: Logger;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  now?: () => number;
  timers?: Timers;
}

export interface LeaderCallbacks {
  /** Called each time this process becomes the leader. */
  onStartedLeading(): void;
  /** Called when it stops being the leader (lost the lease, or stop()). Await what it returns. */
  onStoppedLeading(): void | Promise<void>;
  onNewLeader?(identity: string): void;
}

/** Formats a Lease MicroTime (RFC 3339 with microseconds). */
function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export class LeaderElector {
  private readonly leaseDurationMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private readonly now: () => number;
  private readonly timers: Timers;
  private observed: { record: string; at: number; holder: string } | undefined;
  private leading = false;
  private lastRenewAt = 0;
  private stopped = false;
  private wake: (() => void) | undefined;
  private running: Promise<void> | undefined;
  private callbacks: LeaderCallbacks | undefined;

  constructor(private readonly options: LeaderElectionOptions) {
    this.leaseDurationMs = options.leaseDurationMs ?? 10_000;
    this.renewDeadlineMs = options.renewDeadlineMs ?? 7_000;
    this.retryPeriodMs = options.retryPeriodMs ?? 2_000;
    if (!(this.renewDeadlineMs < this.leaseDurationMs)) throw new Error('renewDeadline must be shorter than the lease duration');
    this.now = options.now ?? Date.now;
    this.timers = options.timers ?? realTimers;
  }

  get isLeader(): boolean {
    return this.leading;
  }

  start(callbacks: LeaderCallbacks): void {
    this.callbacks = callbacks;
    this.running = this.loop();
  }

  /** Stops trying, calls onStoppedLeading if leading, and releases the lease. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.running;
    if (this.leading) {
      this.leading = false;
      await this.callbacks?.onStoppedLeading();
      await this.release().catch((error: unknown) =>
        this.options.log.warn({ err: error instanceof Error ? error.message : String(error) }, 'could not release the lease; the peer waits for it to expire'),
      );
    }
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      let ok = false;
      try {
        ok = await this.tryAcquireOrRenew();
      } catch (error) {
        this.options.log.warn({ err: error instanceof Error ? error.message : String(error) }, 'lease acquire/renew failed');
      }
      if (this.stopped) break;
      const t = this.now();
      if (ok) {
        this.lastRenewAt = t;
        if (!this.leading) {
          this.leading = true;
          this.options.log.info({ lease: `${this.options.namespace}/${this.options.name}`, identity: this.options.identity }, 'became leader');
          this.callbacks?.onStartedLeading();
        }
      } else if (this.leading && t - this.lastRenewAt >= this.renewDeadlineMs) {
        this.leading = false;
        this.options.log.warn({ lease: `${this.options.namespace}/${this.options.name}` }, 'lost the lease; stopping controllers');
        await this.callbacks?.onStoppedLeading();
      }
      // Followers poll with jitter so two candidates do not keep colliding.
      const delay = this.leading ? this.retryPeriodMs : this.retryPeriodMs * (1 + 0.2 * this.timers.random());
      await new Promise<void>((resolve) => {
        const handle = this.timers.setTimeout(resolve, delay);
        this.wake = () => {
          this.timers.clearTimeout(handle);
          resolve();
        };
      });
      this.wake = undefined;
    }
  }

  private path(): string {
    return objectPath(Resources.leases, this.options.namespace, this.options.name);
  }

  /** One attempt; true when this process holds the lease afterwards. */
  async tryAcquireOrRenew(): Promise<boolean> {
    const { client, identity, namespace, name } = this.options;
    const t = this.now();
    const durationSeconds = Math.ceil(this.leaseDurationMs / 1000);
    let lease: Lease;
    try {
      lease = await client.get<Lease>(this.path());
    } catch (error) {
      if (!isNotFound(error)) throw error;
      const fresh: Lease = {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name, namespace },
        spec: { holderIdentity: identity, leaseDurationSeconds: durationSeconds, acquireTime: microTime(t), renewTime: microTime(t), leaseTransitions: 0 },
      };
      try {
        await client.request('POST', collectionPath(Resources.leases, namespace), { body: fresh });
      } catch (createError) {
        if (createError instanceof KubeApiError && createError.code === 409) return false;
        throw createError;
      }
      this.observe(fresh, t);
      return true;
    }
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity ?? '';
    this.observe(lease, t);
    const observed = this.observed!;
    const expiresAt = observed.at + (spec.leaseDurationSeconds ?? durationSeconds) * 1000;
    if (holder !== '' && holder !== identity && t < expiresAt) return false;
    const updated: Lease = {
      ...lease,
      spec: {
        holderIdentity: identity,
        leaseDurationSeconds: durationSeconds,
        acquireTime: holder === identity ? (spec.acquireTime ?? microTime(t)) : microTime(t),
        renewTime: microTime(t),
        leaseTransitions: holder === identity ? (spec.leaseTransitions ?? 0) : (spec.leaseTransitions ?? 0) + 1,
      },
    };
    try {
      const written = await client.request<Lease>('PUT', this.path(), { body: updated });
      this.observe(written, t);
      return true;
    } catch (error) {
      if (isConflict(error)) return false;
      throw error;
    }
  }

  private observe(lease: Lease, t: number): void {
    const record = JSON.stringify([lease.spec?.holderIdentity ?? '', lease.spec?.renewTime ?? '', lease.spec?.leaseDurationSeconds ?? 0]);
    if (this.observed?.record !== record) {
      const holder = lease.spec?.holderIdentity ?? '';
      if (holder !== '' && holder !== this.observed?.holder) this.callbacks?.onNewLeader?.(holder);
      this.observed = { record, at: t, holder };
    }
  }

  private async release(): Promise<void> {
    const lease = await this.options.client.get<Lease>(this.path());
    if (lease.spec?.holderIdentity !== this.options.identity) return;
    await this.options.client.request('PUT', this.path(), {
      body: { ...lease, spec: { ...lease.spec, holderIdentity: null, leaseDurationSeconds: 1, renewTime: microTime(this.now()) } },
    });
  }
}
