import v8 from 'node:v8';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { fullCollector, heapCompaction, shouldCompact } from './heap-compaction.js';

const MB = 2 ** 20;

describe('shouldCompact', () => {
  const base = {
    rss: 500 * MB,
    rssAfterLast: 300 * MB,
    sinceLastMs: 60_000,
    minGrowthBytes: 64 * MB,
    minIntervalMs: 30_000,
    heapUsed: 200 * MB,
    maxHeapUsedBytes: 768 * MB,
  };
  it.each([
    ['grew 200 MB, a minute after the last', base, true],
    ['never compacted before', { ...base, sinceLastMs: Infinity }, true],
    ['grew less than the minimum', { ...base, rss: 350 * MB }, false],
    ['grew the minimum but under a quarter of its size', { ...base, rss: 1100 * MB, rssAfterLast: 1000 * MB }, false],
    ['too soon after the last', { ...base, sinceLastMs: 10_000 }, false],
    ['shrank', { ...base, rss: 200 * MB }, false],
    ['grew, but the heap in use is past the most a pause is paid for', { ...base, rss: 1500 * MB, rssAfterLast: 450 * MB, heapUsed: 1060 * MB }, false],
    ['grew, with the heap in use just at that most', { ...base, heapUsed: 768 * MB }, true],
  ])('%s', (_name, decision, expected) => {
    expect(shouldCompact(decision)).toBe(expected);
  });
});

describe('fullCollector', () => {
  it('is V8 full collection: garbage the process dropped is gone after it', () => {
    const gc = fullCollector();
    expect(typeof gc).toBe('function');
    gc!();
    const floor = v8.getHeapStatistics().used_heap_size;
    const held: { garbage?: { name: string; parts: number[] }[] } = {
      garbage: Array.from({ length: 300_000 }, (_, i) => ({ name: `entry-${i}`, parts: [i, i + 1] })),
    };
    expect(v8.getHeapStatistics().used_heap_size - floor).toBeGreaterThan(20 * MB);
    expect(held.garbage?.length).toBe(300_000);
    delete held.garbage;
    gc!();
    expect(v8.getHeapStatistics().used_heap_size - floor).toBeLessThan(5 * MB);
  });
});

describe('heapCompaction', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('collects once after a load that grew the process, then not again within the interval', async () => {
    vi.useFakeTimers();
    let rss = 100 * MB;
    let clock = 0;
    const compacted: [number, number][] = [];
    const compaction = heapCompaction({
      rss: () => rss,
      now: () => clock,
      settleMs: 2000,
      minIntervalMs: 30_000,
      onCompacted: (f) => compacted.push([f.rssBeforeMB, f.rssAfterMB]),
    });
    rss = 500 * MB;
    compaction.afterLoad();
    compaction.afterLoad(); // a burst: looked at once
    await vi.advanceTimersByTimeAsync(2000);
    rss = 300 * MB;
    await vi.advanceTimersByTimeAsync(1000);
    expect(compacted).toEqual([[500, 300]]);

    // Grown again, but within the interval: no pause.
    clock = 10_000;
    rss = 600 * MB;
    compaction.afterLoad();
    await vi.advanceTimersByTimeAsync(3000);
    expect(compacted).toHaveLength(1);

    // After the interval, the same growth is collected.
    clock = 40_000;
    compaction.afterLoad();
    await vi.advanceTimersByTimeAsync(3000);
    expect(compacted).toEqual([
      [500, 300],
      [600, 600],
    ]);
    compaction.stop();
  });

  it('leaves a process that grew little alone', async () => {
    vi.useFakeTimers();
    let rss = 100 * MB;
    const compacted: number[] = [];
    const compaction = heapCompaction({ rss: () => rss, now: () => 60_000, onCompacted: (f) => compacted.push(f.rssBeforeMB) });
    rss = 140 * MB;
    compaction.afterLoad();
    await vi.advanceTimersByTimeAsync(5000);
    expect(compacted).toEqual([]);
    compaction.stop();
  });

  it('leaves a process alone whose heap in use is past the most a pause is paid for, however much it grew', async () => {
    vi.useFakeTimers();
    let rss = 450 * MB;
    const compacted: number[] = [];
    const compaction = heapCompaction({ rss: () => rss, heapUsed: () => 1060 * MB, now: () => 60_000, onCompacted: (f) => compacted.push(f.rssBeforeMB) });
    rss = 1460 * MB;
    compaction.afterLoad();
    await vi.advanceTimersByTimeAsync(5000);
    expect(compacted).toEqual([]);
    compaction.stop();
  });
});
