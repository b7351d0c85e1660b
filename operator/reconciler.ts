// The reconcile contract (controller-runtime's): a work item is only a key; an error means a
// rate-limited retry; an expected wait is a requeue-after; success forgets the key's backoff;
// a throw of any kind is caught and treated as an error, so one bad object cannot stop a worker.

import type { Logger } from 'pino';
import type { WorkQueue } from './workqueue.js';

export interface ReconcileResult {
  /** Look again after this long even if nothing changes (e.g. a rotation is due). */
  requeueAfterMs?: number;
}

export type Reconcile = (key: string) => Promise<ReconcileResult | void>;

/** Runs `workers` loops taking keys from the queue until it is shut down and drained. */
export async function runWorkers(queue: WorkQueue, workers: number, reconcile: Reconcile, log: Logger): Promise<void> {
  const loop = async (): Promise<void> => {
    for (;;) {
      const key = await queue.get();
      if (key === undefined) return;
      try {
        const result = await reconcile(key);
        queue.forget(key);
        if (result?.requeueAfterMs !== undefined) queue.addAfter(key, result.requeueAfterMs);
      } catch (error) {
        const retries = queue.numRequeues(key);
        log.warn({ key, retries, err: describeError(error) }, 'reconcile failed; retrying with backoff');
        queue.addRateLimited(key);
      } finally {
        queue.done(key);
      }
    }
  };
  await Promise.all(Array.from({ length: workers }, loop));
}

/** A loggable description of a thrown value; API errors carry their status code and reason. */
export function describeError(error: unknown): { message: string; code?: number } {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === 'number' ? { message: error.message, code } : { message: error.message };
  }
  return { message: String(error) };
}
