// Time and retry pacing shared by the informers and the operator's work queue: timers that tests can
// drive without sleeping, and jittered exponential backoff.

export interface Timers {
  setTimeout(this: void, fn: () => void, ms: number): unknown;
  clearTimeout(this: void, handle: unknown): void;
  /** In [0, 1): used for jitter. */
  random(this: void): number;
  /** Epoch milliseconds. */
  now(this: void): number;
}

export const realTimers: Timers = {
  setTimeout: (fn, ms) => {
    const handle = setTimeout(fn, ms);
    // A pending requeue must not keep the process alive after shutdown.
    handle.unref?.();
    return handle;
  },
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
  random: Math.random,
  now: Date.now,
};

export interface BackoffOptions {
  baseMs: number;
  maxMs: number;
  /** Fraction of the delay added at random, e.g. 0.1 adds up to 10 %. */
  jitter: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 5, maxMs: 5 * 60_000, jitter: 0.1 };

/** The delay before the (failures+1)-th retry: base * 2^failures, capped, plus jitter. */
export function backoffDelay(failures: number, options: BackoffOptions, random: () => number): number {
  // 2^60 already exceeds any cap; clamping the exponent keeps the arithmetic finite.
  const exponential = options.baseMs * 2 ** Math.min(failures, 60);
  const capped = Math.min(exponential, options.maxMs);
  return capped + capped * options.jitter * random();
}
