import { describe, expect, it } from 'vitest';
import { healthReport, type WatchHealth } from './health.js';
import { InFlight } from './reconciler.js';

const MIN = 60_000;
const watch = (w: Partial<WatchHealth>): WatchHealth => ({ synced: true, lastActivityAt: 0, failing: false, staleAfterMs: 3 * MIN, ...w });

describe('operator health', () => {
  const cases: [string, Record<string, WatchHealth>, number | undefined, number, { live: boolean; ready: boolean }][] = [
    ['watches that spoke recently and no work: live and ready', { secrets: watch({ lastActivityAt: 0 }) }, undefined, 1 * MIN, { live: true, ready: true }],
    ['a cache not listed yet: live, not ready', { secrets: watch({ synced: false }) }, undefined, 1 * MIN, { live: true, ready: false }],
    [
      'a watch failing past its deadline (API server away): live, not ready',
      { secrets: watch({ failing: true }) },
      undefined,
      7 * MIN,
      { live: true, ready: false },
    ],
    ['a watch silent past its deadline: live, not ready', { secrets: watch({}) }, undefined, 4 * MIN, { live: true, ready: false }],
    ['a watch silent past twice its deadline without failing (stuck): not live', { secrets: watch({}) }, undefined, 7 * MIN, { live: false, ready: false }],
    ['a worker stuck in one reconcile past the limit: not live', { secrets: watch({ lastActivityAt: 19 * MIN }) }, 0, 20 * MIN, { live: false, ready: true }],
    ['a long reconcile under the limit: live', { secrets: watch({ lastActivityAt: 5 * MIN }) }, 0, 6 * MIN, { live: true, ready: true }],
  ];
  it.each(cases)('%s', (_sentence, watches, reconcileStartedAt, now, expected) => {
    const inFlight = new InFlight();
    if (reconcileStartedAt !== undefined) inFlight.begin('registry', 'ns/main', reconcileStartedAt);
    const report = healthReport(new Map(Object.entries(watches)), inFlight, now, 10 * MIN);
    expect({ live: report.live, ready: report.ready }).toEqual(expected);
    expect(report.problems.length > 0).toBe(!expected.live || !expected.ready);
  });
});
