// Retention: events older than the age limit, and the oldest beyond the row limit, are removed at start
// and then every interval. A failed run is logged and tried again at the next one; stop() waits for a
// run in progress, so the store is never closed under it.

import type { Logger } from 'pino';
import type { EventStore, RetentionLimits } from './event.js';

export interface RetentionOptions {
  store: Pick<EventStore, 'prune'>;
  limits: RetentionLimits;
  logger: Logger;
  /** Default one hour. */
  intervalMs?: number;
  now?: () => Date;
  onPruned?: (removed: number) => void;
}

export const DEFAULT_RETENTION_INTERVAL_MS = 3600_000;

export class RetentionSchedule {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(private readonly options: RetentionOptions) {}

  /** Whether any limit is set; without one there is nothing to run. */
  get active(): boolean {
    return this.options.limits.maxAgeMs !== undefined || this.options.limits.maxRows !== undefined;
  }

  /** Runs once now (in the background) and then every interval. */
  start(): void {
    if (!this.active) return;
    void this.runOnce();
    this.timer = setInterval(() => void this.runOnce(), this.options.intervalMs ?? DEFAULT_RETENTION_INTERVAL_MS);
    this.timer.unref();
  }

  /** One run; a run already in progress is joined, not doubled. */
  runOnce(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    this.running ??= (async () => {
      try {
        const removed = await this.options.store.prune(this.options.limits, (this.options.now ?? (() => new Date()))());
        this.options.onPruned?.(removed);
        if (removed > 0) this.options.logger.info({ removed }, 'retention removed old events');
      } catch (err) {
        this.options.logger.error({ reason: (err as Error).message }, 'retention run failed; retrying at the next interval');
      } finally {
        this.running = undefined;
      }
    })();
    return this.running;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    await this.running;
  }
}
