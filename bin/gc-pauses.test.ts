import { describe, expect, it } from 'vitest';
import { fullCollector } from './heap-compaction.js';
import { watchGcPauses, type GcPause } from './gc-pauses.js';

describe('watchGcPauses', () => {
  it('reports a full collection as a major pause, with when it began', async () => {
    const collect = fullCollector();
    expect(collect).toBeDefined();
    const pauses: GcPause[] = [];
    const stop = watchGcPauses(0, (p) => pauses.push(p));
    const before = Date.now();
    collect?.();
    // Entries are delivered after the collection, asynchronously.
    for (let i = 0; i < 50 && !pauses.some((p) => p.kind === 'major'); i++) await new Promise((r) => setTimeout(r, 10));
    stop();
    const major = pauses.find((p) => p.kind === 'major');
    expect(major).toBeDefined();
    expect(major!.at).toBeGreaterThanOrEqual(before - 1);
    expect(major!.at).toBeLessThanOrEqual(Date.now());
  });

  it('leaves out pauses shorter than the minimum, and stops when told', async () => {
    const pauses: GcPause[] = [];
    const stop = watchGcPauses(60_000, (p) => pauses.push(p));
    fullCollector()?.();
    await new Promise((r) => setTimeout(r, 50));
    stop();
    expect(pauses).toEqual([]);
    const after: GcPause[] = [];
    const stopAfter = watchGcPauses(0, (p) => after.push(p));
    stopAfter();
    fullCollector()?.();
    await new Promise((r) => setTimeout(r, 50));
    expect(after).toEqual([]);
  });
});
