// Gives memory back after a large load. Parsing and indexing a whole snapshot allocates several times
// what it keeps (100,000 users and grants: a 30 MB file, 190 MB kept, over 400 MB allocated). Without a
// heap cap V8 sizes its heap from the machine's memory, collects that garbage late, and keeps the freed
// pages: the token server stayed at 540-575 MB RSS after such a load, with 190 MB live. One full
// collection after the load, when the process has grown since the last one, returns them (measured:
// 369-371 MB). It pauses the event loop (0.1-0.3 s at that size), so it runs only when the process grew
// by at least `minGrowthBytes`, not after every small change, never more often than `minIntervalMs`, and
// not once the heap in use is past `maxHeapUsedBytes` (the pause would be seconds).

import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';

export interface CompactionDecision {
  /** RSS now. */
  rss: number;
  /** RSS right after the last compaction (or at start). */
  rssAfterLast: number;
  /** Milliseconds since the last compaction. */
  sinceLastMs: number;
  minGrowthBytes: number;
  minIntervalMs: number;
  /** V8 heap in use now, and the most a collection is paid for (the pause grows with it). */
  heapUsed: number;
  maxHeapUsedBytes: number;
}

/** Whether the process grew enough, and long enough after the last compaction, to be worth a pause. */
export function shouldCompact(d: CompactionDecision): boolean {
  return d.sinceLastMs >= d.minIntervalMs && d.rss - d.rssAfterLast >= d.minGrowthBytes && d.rss >= d.rssAfterLast * 1.25 && d.heapUsed <= d.maxHeapUsedBytes;
}

type Collect = () => void;
let collector: Collect | null | undefined;

/**
 * V8's full collection, as `--expose-gc` exposes it. Turning the flag on at run time makes `gc` exist in
 * contexts created afterwards; the process's own global is left as it was. Undefined when the runtime refuses.
 */
export function fullCollector(): Collect | undefined {
  if (collector === undefined) {
    try {
      v8.setFlagsFromString('--expose-gc');
      const gc: unknown = runInNewContext('typeof gc === "function" ? gc : undefined');
      collector = typeof gc === 'function' ? (gc as Collect) : null;
    } catch {
      collector = null;
    }
  }
  return collector ?? undefined;
}

export interface HeapCompactionOptions {
  /** Default 64 MiB. */
  minGrowthBytes?: number;
  /** Default 30 s. */
  minIntervalMs?: number;
  /**
   * Default 768 MiB. Past this much heap in use the collection is skipped: its pause grows with the live
   * heap (2.1 s at 1.06 GB in use, the operator at 100,000 users and grants, for 66 MB back of 1.46 GB),
   * and an operator or token server that large is sized for its memory anyway. A pause of seconds at
   * an arbitrary moment is what a grant change then waits for.
   */
  maxHeapUsedBytes?: number;
  heapUsed?: () => number;
  /** How long after a load to look (a burst of loads is looked at once). Default 2 s. */
  settleMs?: number;
  rss?: () => number;
  now?: () => number;
  /** Called once the freed pages are returned, with figures ready for a log line. */
  onCompacted?: (figures: CompactionFigures) => void;
}

export interface CompactionFigures {
  rssBeforeMB: number;
  rssAfterMB: number;
  pauseMs: number;
}

/** `afterLoad()` after each large load; the collection, if any, runs once loads have settled. */
export function heapCompaction(options: HeapCompactionOptions = {}): { afterLoad(): void; stop(): void } {
  const rss = options.rss ?? (() => process.memoryUsage.rss());
  const now = options.now ?? (() => performance.now());
  const minGrowthBytes = options.minGrowthBytes ?? 64 * 2 ** 20;
  const minIntervalMs = options.minIntervalMs ?? 30_000;
  const maxHeapUsedBytes = options.maxHeapUsedBytes ?? 768 * 2 ** 20;
  const heapUsed = options.heapUsed ?? (() => v8.getHeapStatistics().used_heap_size);
  let rssAfterLast = rss();
  let lastAt = -Infinity;
  let timer: NodeJS.Timeout | undefined;
  const check = (): void => {
    timer = undefined;
    const before = rss();
    const decision = { rss: before, rssAfterLast, sinceLastMs: now() - lastAt, minGrowthBytes, minIntervalMs, heapUsed: heapUsed(), maxHeapUsedBytes };
    if (!shouldCompact(decision)) return;
    const gc = fullCollector();
    if (gc === undefined) return;
    const start = now();
    gc();
    lastAt = now();
    // V8 returns the freed pages from a thread of its own shortly after; the figure is taken then.
    setTimeout(() => {
      rssAfterLast = rss();
      const mb = (bytes: number): number => Math.round(bytes / 2 ** 20);
      options.onCompacted?.({ rssBeforeMB: mb(before), rssAfterMB: mb(rssAfterLast), pauseMs: Math.round(lastAt - start) });
    }, 1000).unref();
  };
  return {
    afterLoad() {
      timer ??= setTimeout(check, options.settleMs ?? 2000).unref();
    },
    stop() {
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
    },
  };
}
