// Group commit for intake: each request's events wait here briefly so that many requests share one
// store transaction (one fsync on SQLite, one round trip on PostgreSQL), and each request is answered
// only once its own events are committed. Distribution redelivers anything not answered 2xx, so
// "answered = stored" is what makes an intake restart lossless.
//
// One write runs at a time; submissions arriving meanwhile form the next batch. A batch is written as
// soon as `maxBatch` events wait, or `maxDelayMs` after the first of them arrived. The queue is bounded
// in events: past `maxPending` a submission is refused at once with a retryable error instead of piling
// up behind a slow store.

import type { EventStore, RegistryEvent } from './event.js';

export interface BatcherOptions {
  store: Pick<EventStore, 'append'>;
  /** Write as soon as this many events wait. */
  maxBatch: number;
  /** ...or this long after the first waiting one arrived. */
  maxDelayMs: number;
  /** Events waiting or being written, at most; more are refused with QueueFullError. */
  maxPending: number;
  /** Told about every write, for metrics. */
  onWrite?: (write: BatchWrite) => void;
  /** Default: the wall clock (milliseconds). */
  now?: () => number;
}

export interface BatchWrite {
  events: readonly RegistryEvent[];
  /** How many were new; undefined when the write failed. */
  stored?: number;
  durationMs: number;
  error?: unknown;
}

export const DEFAULT_BATCHING = { maxBatch: 256, maxDelayMs: 10, maxPending: 10_000 } as const;

/** The queue is full: answer 503 and let the sender retry. */
export class QueueFullError extends Error {
  readonly retryable = true;
  constructor(pending: number) {
    super(`intake queue full (${pending} events waiting); retry shortly`);
  }
}

/** The batcher is closing or closed (shutdown): the sender retries against a live instance. */
export class BatcherClosedError extends Error {
  readonly retryable = true;
  constructor() {
    super('intake is shutting down; retry shortly');
  }
}

/** The store refused or failed the write; nothing of the batch was committed. */
export class StoreWriteError extends Error {
  readonly retryable = true;
  constructor(cause: unknown) {
    super('the event store did not commit the batch', { cause });
  }
}

interface Waiting {
  events: readonly RegistryEvent[];
  resolve: () => void;
  reject: (err: Error) => void;
}

export class IntakeBatcher {
  private waiting: Waiting[] = [];
  private waitingEvents = 0;
  private writingEvents = 0;
  private writing: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly now: () => number;

  constructor(private readonly options: BatcherOptions) {
    if (!(options.maxBatch >= 1 && options.maxPending >= options.maxBatch && options.maxDelayMs >= 0)) {
      throw new Error('batcher: need maxBatch >= 1, maxPending >= maxBatch and maxDelayMs >= 0');
    }
    this.now = options.now ?? Date.now;
  }

  /** Events waiting or being written now. */
  get pending(): number {
    return this.waitingEvents + this.writingEvents;
  }

  /** Resolves once `events` are committed (duplicates count as committed); rejects with a retryable error. */
  submit(events: readonly RegistryEvent[]): Promise<void> {
    if (this.closed) return Promise.reject(new BatcherClosedError());
    if (events.length === 0) return Promise.resolve();
    if (this.pending + events.length > this.options.maxPending) return Promise.reject(new QueueFullError(this.pending));
    return new Promise<void>((resolve, reject) => {
      this.waiting.push({ events, resolve, reject });
      this.waitingEvents += events.length;
      this.schedule();
    });
  }

  /** Stops taking submissions and writes everything still waiting. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    this.clearTimer();
    while (this.writing !== undefined || this.waiting.length > 0) {
      if (this.writing === undefined) this.startWrite();
      await this.writing;
    }
  }

  private schedule(): void {
    if (this.writing !== undefined) return; // the running write schedules the next one when it ends
    if (this.waitingEvents >= this.options.maxBatch) {
      this.startWrite();
      return;
    }
    if (this.timer === undefined && this.waiting.length > 0) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        if (this.writing === undefined) this.startWrite();
      }, this.options.maxDelayMs);
    }
  }

  private clearTimer(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private startWrite(): void {
    this.clearTimer();
    const batch = this.waiting;
    this.waiting = [];
    this.writingEvents = this.waitingEvents;
    this.waitingEvents = 0;
    if (batch.length === 0) return;
    this.writing = this.write(batch).finally(() => {
      this.writing = undefined;
      this.writingEvents = 0;
      if (!this.closed) this.schedule();
    });
  }

  private async write(batch: Waiting[]): Promise<void> {
    const events = batch.flatMap((w) => w.events);
    const started = this.now();
    try {
      const stored = await this.options.store.append(events);
      this.report({ events, stored, durationMs: this.now() - started });
      for (const w of batch) w.resolve();
    } catch (error) {
      this.report({ events, durationMs: this.now() - started, error });
      const refused = new StoreWriteError(error);
      for (const w of batch) w.reject(refused);
    }
  }

  private report(write: BatchWrite): void {
    try {
      this.options.onWrite?.(write);
    } catch {
      // metrics must never decide whether a commit is acknowledged
    }
  }
}
