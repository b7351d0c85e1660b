// The dispatcher's backlog counter: one count at a time on the store, and a large count reused for its
// refresh interval, so many webhooks far behind cannot keep the store's one connection busy.
import { describe, expect, it } from 'vitest';
import type { StoredEvent } from '../event.js';
import { compilePattern } from '../../policy/match.js';
import { BacklogCounter } from './backlog.js';
import type { EventFilter } from './filter.js';

const filter: EventFilter = { registry: 'registry/main', actions: new Set(['push']), patterns: [compilePattern('**')] };

/** A store of `total` pushes after seq 0, answering each page when the test releases it. */
function heldStore(total: number) {
  const calls: number[] = [];
  const waiting: (() => void)[] = [];
  const store = {
    after: (_registry: string, afterSeq: number, limit: number): Promise<StoredEvent[]> => {
      calls.push(afterSeq);
      const page = Array.from({ length: Math.max(0, Math.min(limit, total - afterSeq)) }, (_, i) => ({
        seq: afterSeq + i + 1,
        id: `e${afterSeq + i + 1}`,
        registry: 'registry/main',
        action: 'push' as const,
        repository: 'team/app',
        timestamp: '2026-11-30T00:00:00Z',
        receivedAt: '2026-11-30T00:00:00Z',
      }));
      return new Promise((resolve) => waiting.push(() => resolve(page)));
    },
  };
  /** Answers pages as they are asked for, until none is asked for any more. */
  const releaseAll = async (): Promise<void> => {
    for (;;) {
      await new Promise((resolve) => setImmediate(resolve));
      const next = waiting.shift();
      if (next === undefined) return;
      next();
    }
  };
  return { store, calls, waiting, releaseAll };
}

describe('BacklogCounter', () => {
  it('runs one count at a time: a second webhook reads nothing until the first count is done', async () => {
    const { store, calls, releaseAll } = heldStore(1200);
    const counter = new BacklogCounter(store, () => 0);
    const a = counter.count('ns/a', filter, 0);
    const b = counter.count('ns/b', filter, 0);
    await new Promise((resolve) => setImmediate(resolve));
    // Before: both scans at once, their pages interleaved on the store's one connection.
    expect(calls).toEqual([0]);
    await releaseAll();
    expect(await a).toBe(1200);
    expect(await b).toBe(1200);
    expect(calls).toEqual([0, 500, 1000, 0, 500, 1000]);
  });

  it('reuses a count of a page or more for its refresh interval, then counts again', async () => {
    const { store, calls, releaseAll } = heldStore(1200);
    let now = 0;
    const counter = new BacklogCounter(store, () => now, 30_000);
    const first = counter.count('ns/a', filter, 0);
    await releaseAll();
    expect(await first).toBe(1200);
    const scans = calls.length;
    now = 29_000;
    expect(await counter.count('ns/a', filter, 0)).toBe(1200);
    expect(calls.length).toBe(scans);
    now = 31_000;
    const again = counter.count('ns/a', filter, 0);
    await releaseAll();
    expect(await again).toBe(1200);
    expect(calls.length).toBe(2 * scans);
  });

  it('counts a small backlog every time (one page: the status stays exact as a webhook catches up)', async () => {
    const { store, calls, releaseAll } = heldStore(3);
    const counter = new BacklogCounter(store, () => 0);
    for (let i = 0; i < 2; i++) {
      const n = counter.count('ns/a', filter, 0);
      await releaseAll();
      expect(await n).toBe(3);
    }
    expect(calls).toEqual([0, 0]);
  });

  it('a count that finishes after its webhook was forgotten is not kept', async () => {
    const { store, calls, releaseAll } = heldStore(1200);
    const counter = new BacklogCounter(store, () => 0, 30_000);
    const running = counter.count('uid-1', filter, 0);
    counter.forget('uid-1');
    await releaseAll();
    expect(await running).toBe(1200);
    const scans = calls.length;
    // Before: kept, and reused within the interval (and never removed).
    const again = counter.count('uid-1', filter, 0);
    await releaseAll();
    expect(await again).toBe(1200);
    expect(calls.length).toBe(2 * scans);
  });

  it('a failed count does not stop the next one', async () => {
    let fail = true;
    const store = {
      after: (): Promise<StoredEvent[]> => (fail ? Promise.reject(new Error('store closed')) : Promise.resolve([])),
    };
    const counter = new BacklogCounter(store, () => 0);
    await expect(counter.count('ns/a', filter, 0)).rejects.toThrow('store closed');
    fail = false;
    expect(await counter.count('ns/b', filter, 0)).toBe(0);
  });
});
