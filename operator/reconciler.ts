// The reconcile contract (controller-runtime's): a work item is only a key; an error means a
// rate-limited retry; an expected wait is a requeue-after; success forgets the key's backoff;
// a throw of any kind is caught and treated as an error, so one bad object cannot stop a worker.
// Every controller runs through here, so reconciles are counted once, labelled by controller, and
// the reconciles in flight are known to the health check (a worker stuck in one is wedged).

import type { Logger } from 'pino';
import type { Counter } from 'prom-client';
import type { WorkQueue } from './workqueue.js';

export interface ReconcileResult {
  /** Look again after this long even if nothing changes (e.g. a rotation is due). */
  requeueAfterMs?: number;
}

export type Reconcile = (key: string) => Promise<ReconcileResult | void>;

/** Reconciles in flight, by controller and key, with when each started (epoch ms). */
export class InFlight {
  private readonly started = new Map<string, number>();

  begin(controller: string, key: string, now: number): void {
    this.started.set(`${controller}\u0000${key}`, now);
  }

  end(controller: string, key: string): void {
    this.started.delete(`${controller}\u0000${key}`);
  }

  /** The longest-running reconcile, if any: `controller`, `key` and how long it has run. */
  oldest(now: number): { controller: string; key: string; ms: number } | undefined {
    let oldest: { controller: string; key: string; ms: number } | undefined;
    for (const [id, at] of this.started) {
      if (oldest !== undefined && now - at <= oldest.ms) continue;
      const [controller = '', key = ''] = id.split('\u0000');
      oldest = { controller, key, ms: now - at };
    }
    return oldest;
  }
}

export interface RunOptions {
  /** The controller's name: the `controller` label of the reconcile counter and in logs. */
  name: string;
  queue: WorkQueue;
  workers: number;
  reconcile: Reconcile;
  log: Logger;
  /** portcullis_operator_reconcile_total{controller, result}. */
  counter?: Counter<'controller' | 'result'>;
  inFlight?: InFlight;
  now?: () => number;
}

/** Runs `workers` loops taking keys from the queue until it is shut down and drained. */
export async function runWorkers(options: RunOptions): Promise<void> {
  const { name, queue, reconcile, log } = options;
  const now = options.now ?? Date.now;
  const loop = async (): Promise<void> => {
    for (;;) {
      const key = await queue.get();
      if (key === undefined) return;
      options.inFlight?.begin(name, key, now());
      try {
        const result = await reconcile(key);
        options.counter?.inc({ controller: name, result: 'success' });
        queue.forget(key);
        if (result?.requeueAfterMs !== undefined) queue.addAfter(key, result.requeueAfterMs);
      } catch (error) {
        options.counter?.inc({ controller: name, result: 'error' });
        const retries = queue.numRequeues(key);
        log.warn({ controller: name, key, retries, err: describeError(error) }, 'reconcile failed; retrying with backoff');
        queue.addRateLimited(key);
      } finally {
        options.inFlight?.end(name, key);
        queue.done(key);
      }
    }
  };
  await Promise.all(Array.from({ length: options.workers }, loop));
}

/** A loggable description of a thrown value; API errors carry their status code and reason. */
export function describeError(error: unknown): { message: string; code?: number } {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === 'number' ? { message: error.message, code } : { message: error.message };
  }
  return { message: String(error) };
}
