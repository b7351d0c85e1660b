import { describe, expect, it } from 'vitest';
import { retryDelayMs, RETRY_MAX_MS } from './retry.js';

describe('retryDelayMs', () => {
  it.each([
    ['the first failure waits a second', 1, 1000],
    ['the second two', 2, 2000],
    ['the fifth sixteen', 5, 16_000],
    ['the ninth 256', 9, 256_000],
    ['the tenth reaches the 5 min cap', 10, RETRY_MAX_MS],
    ['the thousandth stays at the cap', 1000, RETRY_MAX_MS],
  ])('%s (no jitter)', (_sentence, failures, ms) => {
    expect(retryDelayMs(failures, () => 0)).toBe(ms);
  });

  it('jitter only shortens a wait, by at most a fifth, so the cap holds', () => {
    expect(retryDelayMs(3, () => 0.999_999)).toBe(3200);
    expect(retryDelayMs(20, () => 0.5)).toBe(RETRY_MAX_MS * 0.9);
    for (let failures = 1; failures < 40; failures++) expect(retryDelayMs(failures, Math.random)).toBeLessThanOrEqual(RETRY_MAX_MS);
  });
});
