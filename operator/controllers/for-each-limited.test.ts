import { describe, expect, it } from 'vitest';
import { forEachLimited, limiter } from './for-each-limited.js';

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('limiter', () => {
  it('runs at most `limit` tasks at once, the rest in the order given, and a failure frees its slot', async () => {
    const limit = limiter(3);
    let inFlight = 0;
    let most = 0;
    const started: number[] = [];
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, (_, i) =>
        limit(async () => {
          started.push(i);
          inFlight++;
          most = Math.max(most, inFlight);
          await tick();
          inFlight--;
          if (i === 1) throw new Error('task 1 failed');
          return i * 10;
        }),
      ),
    );
    expect(most).toBe(3);
    expect(started).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(results.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message))).toEqual([
      0,
      'task 1 failed',
      20,
      30,
      40,
      50,
      60,
      70,
      80,
      90,
    ]);
  });

  it('inside forEachLimited, bounds the inner step below the loop', async () => {
    const inner = limiter(2);
    let reading = 0;
    let mostReading = 0;
    let hashing = 0;
    let mostHashing = 0;
    await forEachLimited(
      Array.from({ length: 20 }, (_, i) => i),
      8,
      async () => {
        reading++;
        mostReading = Math.max(mostReading, reading);
        await tick();
        reading--;
        await inner(async () => {
          hashing++;
          mostHashing = Math.max(mostHashing, hashing);
          await tick();
          hashing--;
        });
      },
    );
    expect(mostReading).toBe(8);
    expect(mostHashing).toBe(2);
  });
});
