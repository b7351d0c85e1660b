// Status writes in the background, a bounded number at a time, so a reconcile returns as soon as its
// snapshot is published. A first start has one status to write per object (20,000 at 10,000 users and
// grants); written inside the reconcile, they held the Registry's key for over a minute and a change
// made meanwhile waited for all of them. Here:
// - each reconcile hands over the statuses it wants for its Registry (`submit`): the latest wins, a status
//   no longer wanted is dropped, and one already pending with the same content keeps its place;
// - the newest submission is written first: a change made during a first start's backlog is one of the
//   few statuses new in its reconcile's submission, so it is written next, not after the backlog;
// - one object is never written twice at once, and content just written is not written again before
//   the cache shows it (the next reconcile's submission no longer asks for it);
// - a failed write is reported (`onError`) so the Registry is reconciled again with backoff: once until
//   the Registry's next submission, so a burst of failures (an API server timing out a backlog) is one
//   retry, not thousands pushing the backoff to its ceiling;
// - a job's follow-up (its Event) is written after its status, and only in a slot no status wants: a
//   first start's 20,000 Events would otherwise take half the API server's writes from the statuses.
//   Events are best effort in Kubernetes (client-go drops them past a full queue of 1,000); here at most
//   `maxFollowUps` wait, Warnings before Normal ones, and one past the limit is dropped and counted;
// - once every status is written, a Registry with many writes since its last submission is reported
//   (`onDrained`): each write gave an object a new version in the cache, and the reconcile that takes
//   in those answers costs time in proportion to them (1.0-2.8 s at 100,000 users and grants). Reconciled
//   then, while nothing waits, that cost is not charged to the next change someone makes.

/** One status to write; `content` identifies what it writes (without timestamps), for comparisons. */
export interface StatusJob {
  /** `Kind/namespace/name`. */
  key: string;
  content: string;
  write: () => Promise<void>;
  /** Written once `write` succeeded, when no status is waiting; must not throw (an Event is best effort). */
  followUp?: FollowUp;
}

export interface FollowUp {
  /** A Warning is kept and written before Normal follow-ups. */
  warning: boolean;
  run: () => Promise<void>;
}

interface Pending {
  job: StatusJob;
  registryKey: string;
  batch: number;
}

export interface StatusQueueOptions {
  /** Writes in flight at most. */
  concurrency: number;
  /** A write failed: the Registry's statuses need another reconcile. */
  onError: (registryKey: string, error: unknown) => void;
  /** Follow-ups waiting at most (default 1,000); one more is dropped. */
  maxFollowUps?: number;
  /** Every status is written, and `registryKey` had at least `drainedAfter` writes since its last submission. */
  onDrained?: (registryKey: string) => void;
  /** Default 1,000. */
  drainedAfter?: number;
}

export class StatusQueue {
  private readonly pending = new Map<string, Pending>();
  /** Keys per submission, newest last; a key's entry is stale once `pending` holds it under another batch. */
  private readonly batches: { id: number; keys: string[]; next: number }[] = [];
  private batchCounter = 0;
  private readonly inFlight = new Map<string, string>();
  /** Pending keys found in flight when their turn came. */
  private readonly deferred = new Set<string>();
  /** Content written per key, until a submission no longer asks for the key (the cache has caught up). */
  private readonly written = new Map<string, { registryKey: string; content: string }>();
  /** Registries whose failure was reported and that have not submitted since. */
  private readonly failed = new Set<string>();
  /** Follow-ups waiting for a free slot: Warnings first, each list oldest first. */
  private readonly followUps: { warning: FollowUp[]; normal: FollowUp[] } = { warning: [], normal: [] };
  /** Successful writes per Registry since its last submission (or the last drain). */
  private readonly writtenSince = new Map<string, number>();
  private dropped = 0;
  private running = 0;
  private stopped = false;
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly options: StatusQueueOptions) {}

  /** The statuses `registryKey` wants written now; replaces what it asked for before. */
  submit(registryKey: string, jobs: readonly StatusJob[]): void {
    if (this.stopped) return;
    this.failed.delete(registryKey);
    this.writtenSince.delete(registryKey);
    const wanted = new Set(jobs.map((j) => j.key));
    for (const [key, p] of this.pending) if (p.registryKey === registryKey && !wanted.has(key)) this.pending.delete(key);
    for (const [key, w] of this.written) if (w.registryKey === registryKey && !wanted.has(key)) this.written.delete(key);
    const batch = { id: ++this.batchCounter, keys: [] as string[], next: 0 };
    for (const job of jobs) {
      if (this.pending.get(job.key)?.job.content === job.content) continue;
      if (this.inFlight.get(job.key) === job.content || this.written.get(job.key)?.content === job.content) {
        this.pending.delete(job.key);
        continue;
      }
      this.pending.set(job.key, { job, registryKey, batch: batch.id });
      batch.keys.push(job.key);
    }
    if (batch.keys.length > 0) this.batches.push(batch);
    this.pump();
  }

  /** Statuses waiting to be written (not counting those in flight). */
  get size(): number {
    return this.pending.size;
  }

  /** Follow-ups dropped so far because `maxFollowUps` were already waiting. */
  get droppedFollowUps(): number {
    return this.dropped;
  }

  /** Drops everything pending; writes in flight finish. `start` accepts submissions again. */
  stop(): Promise<void> {
    this.stopped = true;
    this.pending.clear();
    this.batches.length = 0;
    this.deferred.clear();
    this.written.clear();
    this.writtenSince.clear();
    this.followUps.warning.length = 0;
    this.followUps.normal.length = 0;
    return this.idle();
  }

  start(): void {
    this.stopped = false;
  }

  /** Resolves once nothing is pending or in flight. */
  idle(): Promise<void> {
    if (this.running === 0 && this.pending.size === 0 && this.waitingFollowUps === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** The next job to write: from the newest submission that still has one. */
  private take(): Pending | undefined {
    for (let b = this.batches.length - 1; b >= 0; b--) {
      const batch = this.batches[b]!;
      while (batch.next < batch.keys.length) {
        const key = batch.keys[batch.next++]!;
        const p = this.pending.get(key);
        if (p?.batch !== batch.id) continue;
        // The object is being written with older content: this goes back in its batch when that ends.
        if (this.inFlight.has(key)) {
          this.deferred.add(key);
          continue;
        }
        this.pending.delete(key);
        return p;
      }
      this.batches.splice(b, 1);
    }
    return undefined;
  }

  /** Puts a deferred key back into its submission, which keeps its place among the others. */
  private requeue(key: string): void {
    this.deferred.delete(key);
    const p = this.pending.get(key);
    if (!p) return;
    const existing = this.batches.find((b) => b.id === p.batch);
    if (existing) existing.keys.push(key);
    else {
      const at = this.batches.findIndex((b) => b.id > p.batch);
      this.batches.splice(at < 0 ? this.batches.length : at, 0, { id: p.batch, keys: [key], next: 0 });
    }
  }

  private get waitingFollowUps(): number {
    return this.followUps.warning.length + this.followUps.normal.length;
  }

  private addFollowUp(followUp: FollowUp): void {
    if (this.waitingFollowUps >= (this.options.maxFollowUps ?? 1000)) {
      // A Warning takes the place of the newest Normal one; otherwise the newcomer is the one dropped.
      if (!followUp.warning || this.followUps.normal.pop() === undefined) {
        this.dropped++;
        return;
      }
      this.dropped++;
    }
    (followUp.warning ? this.followUps.warning : this.followUps.normal).push(followUp);
  }

  private pump(): void {
    while (!this.stopped && this.running < this.options.concurrency) {
      const next = this.take();
      if (next) {
        this.run(next);
        continue;
      }
      const followUp = this.followUps.warning.shift() ?? this.followUps.normal.shift();
      if (!followUp) break;
      this.running++;
      void followUp
        .run()
        .catch(() => undefined)
        .finally(() => {
          this.running--;
          this.pump();
        });
    }
    if (this.running === 0 && ((this.pending.size === 0 && this.waitingFollowUps === 0) || this.stopped)) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  private run({ job, registryKey }: Pending): void {
    this.running++;
    this.inFlight.set(job.key, job.content);
    void job
      .write()
      .then(
        () => {
          if (this.stopped) return;
          this.written.set(job.key, { registryKey, content: job.content });
          this.writtenSince.set(registryKey, (this.writtenSince.get(registryKey) ?? 0) + 1);
          if (job.followUp) this.addFollowUp(job.followUp);
        },
        (error: unknown) => {
          if (this.failed.has(registryKey)) return;
          this.failed.add(registryKey);
          this.options.onError(registryKey, error);
        },
      )
      .finally(() => {
        this.inFlight.delete(job.key);
        if (this.deferred.has(job.key)) this.requeue(job.key);
        this.running--;
        this.pump();
        this.reportDrained();
      });
  }

  private reportDrained(): void {
    if (this.stopped || this.pending.size > 0 || this.inFlight.size > 0) return;
    const drained = [...this.writtenSince].filter(([, count]) => count >= (this.options.drainedAfter ?? 1000));
    this.writtenSince.clear();
    for (const [registryKey] of drained) this.options.onDrained?.(registryKey);
  }
}
