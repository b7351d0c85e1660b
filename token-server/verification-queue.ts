// Password verification is the one expensive thing the token server does (bcrypt runs on libuv's thread
// pool), so it is scheduled: at most `concurrency` comparisons run at once, the rest wait in a bounded
// queue served round-robin by client (client-key.ts: an address, an IPv6 /64). One client runs at most
// `runningPerClient` comparisons at a time and holds at most `perClient` places, so an honest client
// elsewhere finds a free slot (or waits for at most one comparison) however hard another client floods.
// Work that cannot be queued is refused at once (the caller answers 429), so a flood costs the attacker
// round trips, not the server memory or thread-pool time.

import type { ClientKey } from './client-key.js';

export interface VerificationQueueOptions {
  /** Comparisons running at once. Default 2: half of libuv's default pool, leaving threads for I/O. */
  concurrency: number;
  /** Waiting comparisons, all clients together. Default 128. */
  maxQueued: number;
  /** Running plus waiting comparisons of one client. Default 8. */
  perClient: number;
  /** Comparisons of one client running at once. Default 1: with concurrency 2, one is always another's. */
  runningPerClient: number;
}

export const DEFAULT_VERIFICATION_QUEUE: VerificationQueueOptions = { concurrency: 2, maxQueued: 128, perClient: 8, runningPerClient: 1 };

/** Thrown (as a rejection) when the queue cannot take more work from this client. */
export class VerificationBusy extends Error {
  constructor(readonly scope: 'client' | 'server') {
    super(scope === 'client' ? 'too many password checks in flight from this client' : 'too many password checks waiting');
    this.name = 'VerificationBusy';
  }
}

interface Waiting {
  start: () => void;
}

export class VerificationQueue {
  private running = 0;
  private queued = 0;
  /** Per client: waiting tasks in order; a client is in `turns` while it has any. */
  private readonly waiting = new Map<ClientKey, Waiting[]>();
  /** Clients with waiting tasks, in round-robin order. */
  private readonly turns: ClientKey[] = [];
  /** Per client: running + waiting. */
  private readonly load = new Map<ClientKey, number>();
  /** Per client: running. */
  private readonly runningBy = new Map<ClientKey, number>();

  constructor(private readonly options: VerificationQueueOptions = DEFAULT_VERIFICATION_QUEUE) {}

  get stats(): { running: number; queued: number } {
    return { running: this.running, queued: this.queued };
  }

  /** Why `run` would refuse a task of `client` now, or undefined when it would take it. */
  refusal(client: ClientKey): VerificationBusy | undefined {
    if ((this.load.get(client) ?? 0) >= this.options.perClient) return new VerificationBusy('client');
    if (!this.canStart(client) && this.queued >= this.options.maxQueued) return new VerificationBusy('server');
    return undefined;
  }

  /** Runs `task` when its turn comes; rejects with VerificationBusy, without running it, when full. */
  run<T>(client: ClientKey, task: () => Promise<T>): Promise<T> {
    const busy = this.refusal(client);
    if (busy !== undefined) return Promise.reject(busy);
    const canStart = this.canStart(client);
    this.load.set(client, (this.load.get(client) ?? 0) + 1);
    const execute = (): Promise<T> => {
      this.running++;
      this.runningBy.set(client, (this.runningBy.get(client) ?? 0) + 1);
      let result: Promise<T>;
      try {
        result = task();
      } catch (error) {
        result = Promise.reject(error instanceof Error ? error : new Error(String(error)));
      }
      return result.finally(() => this.finish(client));
    };
    if (canStart) return execute();
    return new Promise<T>((resolve, reject) => {
      const list = this.waiting.get(client);
      const entry: Waiting = { start: () => void execute().then(resolve, reject) };
      if (list === undefined) {
        this.waiting.set(client, [entry]);
        this.turns.push(client);
      } else list.push(entry);
      this.queued++;
    });
  }

  /**
   * Waiting tasks are all ineligible whenever a slot is free (dispatch starts eligible ones at once), so a
   * client with nothing waiting and a free slot of its own may start now.
   */
  private canStart(client: ClientKey): boolean {
    return this.running < this.options.concurrency && this.eligible(client) && !this.waiting.has(client);
  }

  private eligible(client: ClientKey): boolean {
    return (this.runningBy.get(client) ?? 0) < this.options.runningPerClient;
  }

  private finish(client: ClientKey): void {
    this.running--;
    const running = (this.runningBy.get(client) ?? 1) - 1;
    if (running === 0) this.runningBy.delete(client);
    else this.runningBy.set(client, running);
    const left = (this.load.get(client) ?? 1) - 1;
    if (left === 0) this.load.delete(client);
    else this.load.set(client, left);
    this.dispatch();
  }

  /** Starts waiting tasks round-robin by client, skipping clients already at their running limit. */
  private dispatch(): void {
    let skipped = 0;
    while (this.running < this.options.concurrency && skipped < this.turns.length) {
      const client = this.turns.shift() as ClientKey;
      if (!this.eligible(client)) {
        this.turns.push(client);
        skipped++;
        continue;
      }
      skipped = 0;
      const list = this.waiting.get(client) as Waiting[];
      const next = list.shift() as Waiting;
      if (list.length === 0) this.waiting.delete(client);
      else this.turns.push(client);
      this.queued--;
      next.start();
    }
  }
}
