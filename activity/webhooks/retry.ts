// How long a failing delivery waits before the same event is tried again: 1 s, doubling, at most 5 min,
// each wait shortened by up to a fifth at random so that webhooks failing together (a receiver that was
// down for all of them) do not retry in lockstep. The cap is never exceeded.

export const RETRY_BASE_MS = 1000;
export const RETRY_MAX_MS = 5 * 60_000;
const JITTER = 0.2;

/** The wait after the `failures`-th consecutive failure (1 for the first). */
export function retryDelayMs(failures: number, random: () => number = Math.random): number {
  const exponent = Math.min(Math.max(failures - 1, 0), 30);
  const capped = Math.min(RETRY_BASE_MS * 2 ** exponent, RETRY_MAX_MS);
  return Math.round(capped * (1 - JITTER * random()));
}
