import { describe, expect, it } from 'vitest';
import { fullCollector } from './heap-compaction.js';
import { watchGcPauses, type GcPause, type GcSecond } from './gc-pauses.js';

/** Runs `collect` under a watch; entries arrive after the collection, asynchronously. */
async function watched(minPauseMs: number, collect: () => void): Promise<{ pauses: GcPause[]; seconds: GcSecond[] }> {
  const pauses: GcPause[] = [];
  const seconds: GcSecond[] = [];
  const stop = watchGcPauses({ minPauseMs, onPause: (p) => pauses.push(p), onSecond: (s) => seconds.push(s) });
  collect();
  await new Promise((r) => setTimeout(r, 100));
  stop();
  return { pauses, seconds };
}

describe('watchGcPauses', () => {
  it('reports a full collection as a major pause with when it began, and its time in that second', async () => {
    const collect = fullCollector();
    expect(collect).toBeDefined();
    const before = Date.now();
    const { pauses, seconds } = await watched(0, () => collect?.());
    const major = pauses.find((p) => p.kind === 'major');
    expect(major).toBeDefined();
    expect(major!.at).toBeGreaterThanOrEqual(before - 1);
    expect(major!.at).toBeLessThanOrEqual(Date.now());
    // Every pause is counted in the second it began in, by kind.
    const total = seconds.reduce((sum, s) => sum + s.ms, 0);
    expect(total).toBeCloseTo(
      pauses.reduce((sum, p) => sum + p.ms, 0),
      0,
    );
    const second = seconds.find((s) => s.at === major!.at - (major!.at % 1000));
    expect(second?.byKind.major).toBeGreaterThanOrEqual(major!.ms - 0.1);
  });

  it('reports pauses shorter than the minimum only in their second, and nothing once stopped', async () => {
    const { pauses, seconds } = await watched(60_000, () => fullCollector()?.());
    expect(pauses).toEqual([]);
    expect(seconds.some((s) => (s.byKind.major ?? 0) > 0)).toBe(true);
    const after: GcPause[] = [];
    const stop = watchGcPauses({ minPauseMs: 0, onPause: (p) => after.push(p) });
    stop();
    fullCollector()?.();
    await new Promise((r) => setTimeout(r, 50));
    expect(after).toEqual([]);
  });
});
