import { describe, expect, it } from 'vitest';
import type { Condition } from '../crds/types.js';
import { withAbsentAsNull, withCondition } from './kube-status.js';

const ready: Condition = { type: 'Ready', status: 'True', reason: 'Scheduled', message: 'runs on 0 3 * * *', lastTransitionTime: '2026-11-01T00:00:00Z' };
const earlier = new Date('2026-11-20T10:00:00Z');
const now = new Date('2026-11-27T10:00:00Z');

describe('withCondition', () => {
  it("keeps the operator's Ready beside the run's condition", () => {
    const next = withCondition([ready], { type: 'LastRunSucceeded', status: 'True', reason: 'RetentionSucceeded', message: 'dry run' }, now);
    expect(next).toEqual([
      ready,
      { type: 'LastRunSucceeded', status: 'True', reason: 'RetentionSucceeded', message: 'dry run', lastTransitionTime: now.toISOString() },
    ]);
  });

  it('keeps the transition time while the status stays the same, and moves it when the status changes', () => {
    const first = withCondition([], { type: 'LastRunSucceeded', status: 'True', reason: 'RetentionSucceeded', message: 'a' }, earlier);
    const same = withCondition(first, { type: 'LastRunSucceeded', status: 'True', reason: 'RetentionSucceeded', message: 'b' }, now);
    expect(same).toEqual([{ type: 'LastRunSucceeded', status: 'True', reason: 'RetentionSucceeded', message: 'b', lastTransitionTime: earlier.toISOString() }]);
    const changed = withCondition(same, { type: 'LastRunSucceeded', status: 'False', reason: 'CapExceeded', message: 'c' }, now);
    expect(changed[0]?.lastTransitionTime).toBe(now.toISOString());
  });
});

describe('withAbsentAsNull: what the merge patch sends as lastRun', () => {
  it("names every optional field, null where this run has none, so a previous run's value is cleared", () => {
    const run = {
      startTime: '2026-11-30T03:00:00Z',
      dryRun: false,
      result: 'Succeeded' as const,
      repositories: 1,
      tagsSeen: 2,
      candidates: 0,
      deleted: 0,
      keptByRule: {},
      sample: [],
      errors: [],
    };
    // Before: a run without leftAlone left the previous run's list in the status for good.
    expect(withAbsentAsNull(run)).toEqual({ ...run, completionTime: null, bytesFreed: null, leftAlone: null });
    expect(withAbsentAsNull({ ...run, leftAlone: ['team-a/flood: too long'], bytesFreed: 5 })).toMatchObject({
      leftAlone: ['team-a/flood: too long'],
      bytesFreed: 5,
    });
  });
});
