import { describe, expect, it } from 'vitest';
import { Limiter, mapLimit } from './pool.js';

/** A task that records how many tasks were running when it started, and finishes when told. */
function gate(): { started: Promise<void>; finish: () => void; running: Promise<void>; start: () => void } {
  let start!: () => void;
  let finish!: () => void;
  const started = new Promise<void>((r) => (start = r));
  const running = new Promise<void>((r) => (finish = r));
  return { started, finish, running, start };
}

describe('Limiter', () => {
  it('never runs more than its limit at once, even when a finished slot and a newcomer race', async () => {
    const limiter = new Limiter(2);
    let active = 0;
    let most = 0;
    const gates = Array.from({ length: 6 }, gate);
    const runs = gates.map((g) =>
      limiter.run(async () => {
        active++;
        most = Math.max(most, active);
        g.start();
        await g.running;
        active--;
      }),
    );
    await Promise.all([gates[0]!.started, gates[1]!.started]);
    gates[0]!.finish();
    // A newcomer arriving just as a slot frees must wait behind the queue.
    runs.push(limiter.run(async () => void (most = Math.max(most, active + 1))));
    for (const g of gates.slice(1)) g.finish();
    await Promise.all(runs);
    expect(most).toBe(2);
  });

  it('frees the slot of a task that failed', async () => {
    const limiter = new Limiter(1);
    await expect(limiter.run(() => Promise.reject(new Error('refused')))).rejects.toThrow('refused');
    await expect(limiter.run(() => Promise.resolve('next'))).resolves.toBe('next');
  });

  it('refuses a limit that is not a whole number >= 1', () => {
    expect(() => new Limiter(0)).toThrow('concurrency must be a whole number >= 1, not 0');
  });
});

describe('mapLimit', () => {
  it('returns results in the order of the items', async () => {
    const delays = [30, 0, 10, 5];
    expect(await mapLimit(delays, 2, (ms, i) => new Promise<number>((r) => setTimeout(() => r(i), ms)))).toEqual([0, 1, 2, 3]);
  });

  it('stops taking items after the first failure, and rejects with it', async () => {
    const seen: number[] = [];
    const failing = mapLimit([1, 2, 3, 4, 5], 1, async (n) => {
      seen.push(n);
      if (n === 2) throw new Error('two');
      return n;
    });
    await expect(failing).rejects.toThrow('two');
    expect(seen).toEqual([1, 2]);
  });
});
