// A de-duplicating, rate-limited queue of string keys with controller-runtime's semantics:
// - a key is queued at most once however many events name it (events only say "look again"), also
//   when a worker is waiting for it (it is handed over in a microtask, after the adds of the same tick);
// - a key being processed is never handed to a second worker; if it is added meanwhile, it is
//   handed out again after `done`, so the change that arrived mid-reconcile is not lost;
// - `addRateLimited` backs off per key exponentially (5 ms .. 5 min, with jitter) until `forget`.
// Time comes in through `Timers` so tests drive it without sleeping.

import { backoffDelay, DEFAULT_BACKOFF, realTimers, type BackoffOptions, type Timers } from '../kube/backoff.js';

export class WorkQueue {
  private readonly queue: string[] = [];
  /** Keys that need processing (queued, or added again while processing). */
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly delayed = new Map<string, { due: number; handle: unknown }>();
  private readonly waiters: ((key: string | undefined) => void)[] = [];
  private readonly idleWaiters: (() => void)[] = [];
  private shuttingDown = false;
  /** A microtask is about to hand queued keys to waiting workers. */
  private dispatching = false;

  constructor(
    private readonly timers: Timers = realTimers,
    private readonly backoff: BackoffOptions = DEFAULT_BACKOFF,
    /** Only used to keep the earliest of several `addAfter` calls for one key. */
    private readonly now: () => number = Date.now,
  ) {}

  get length(): number {
    return this.queue.length;
  }

  get isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  add(key: string): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.dirty.add(key);
    if (this.processing.has(key)) return; // handed out again by done()
    this.enqueue(key);
  }

  /** Adds the key after `ms`; of several pending delays for one key the earliest wins. */
  addAfter(key: string, ms: number): void {
    if (this.shuttingDown) return;
    if (ms <= 0) {
      this.add(key);
      return;
    }
    const due = this.now() + ms;
    const pending = this.delayed.get(key);
    if (pending && pending.due <= due) return;
    if (pending) this.timers.clearTimeout(pending.handle);
    const handle = this.timers.setTimeout(() => {
      this.delayed.delete(key);
      this.add(key);
    }, ms);
    this.delayed.set(key, { due, handle });
  }

  /** Re-adds the key after its next backoff delay; the delay doubles until `forget`. */
  addRateLimited(key: string): void {
    const failures = this.failures.get(key) ?? 0;
    this.failures.set(key, failures + 1);
    this.addAfter(key, backoffDelay(failures, this.backoff, this.timers.random));
  }

  /** Resets the key's backoff (after a successful reconcile). */
  forget(key: string): void {
    this.failures.delete(key);
  }

  numRequeues(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /** The next key to process, or undefined once shut down and drained. Call `done` after. */
  get(): Promise<string | undefined> {
    const key = this.queue.shift();
    if (key !== undefined) return Promise.resolve(this.handOut(key));
    if (this.shuttingDown) return Promise.resolve(undefined);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  done(key: string): void {
    this.processing.delete(key);
    if (this.dirty.has(key)) this.enqueue(key);
    if (this.processing.size === 0 && (this.queue.length === 0 || this.shuttingDown)) {
      for (const wake of this.idleWaiters.splice(0)) wake();
    }
  }

  /** Stops accepting keys and drops pending delays; workers still get what is queued, then undefined. */
  shutDown(): void {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    for (const { handle } of this.delayed.values()) this.timers.clearTimeout(handle);
    this.delayed.clear();
    for (const wake of this.waiters.splice(0)) wake(undefined);
    if (this.processing.size === 0) for (const wake of this.idleWaiters.splice(0)) wake();
  }

  /** Resolves when no key is being processed (after shutDown: when workers have finished). */
  idle(): Promise<void> {
    if (this.processing.size === 0 && (this.queue.length === 0 || this.shuttingDown)) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * A waiting worker is handed the key in a microtask, not at once: the key stays dirty until then, so
   * adds of it in the same tick (an event that names the key twice, a burst of events) are one run, not a
   * run and then another because the key was already being processed.
   */
  private enqueue(key: string): void {
    this.queue.push(key);
    if (this.waiters.length === 0 || this.dispatching) return;
    this.dispatching = true;
    queueMicrotask(() => {
      this.dispatching = false;
      for (;;) {
        const waiter = this.waiters[0];
        const next = this.queue[0];
        if (waiter === undefined || next === undefined) return;
        this.waiters.shift();
        this.queue.shift();
        waiter(this.handOut(next));
      }
    });
  }

  private handOut(key: string): string {
    this.dirty.delete(key);
    this.processing.add(key);
    return key;
  }
}
