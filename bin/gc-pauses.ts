// Garbage-collection pauses, as figures for log lines. At 100,000 users and grants the operator's heap
// is about 1 GB, and the slowest grant change of a bench:operator run (1.6 s against 0.4-0.6 s) had every
// phase of its reconcile slower at once, which nothing explained. A major collection pauses the process
// many times for a few milliseconds each (incremental marking) before its last pause, so besides long
// pauses the time paused per second is reported. (What these lines then showed: a major collection ran
// in each such change, but paused the process for only 0.1-0.2 s of it.) perf_hooks reports each pause
// without a V8 flag.

import { constants, performance, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';

export type GcKind = 'major' | 'minor' | 'incremental' | 'weak callbacks' | 'other';

export interface GcPause {
  kind: GcKind;
  ms: number;
  /** When the pause began (epoch ms). */
  at: number;
}

/** The time paused within one second, by kind. */
export interface GcSecond {
  /** The second's start (epoch ms). */
  at: number;
  ms: number;
  byKind: Partial<Record<GcKind, number>>;
}

function kindOf(entry: PerformanceEntry): GcKind {
  // `detail` is on gc entries since Node 16; these type definitions leave it off PerformanceEntry.
  switch ((entry as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind) {
    case constants.NODE_PERFORMANCE_GC_MAJOR:
      return 'major';
    case constants.NODE_PERFORMANCE_GC_MINOR:
      return 'minor';
    case constants.NODE_PERFORMANCE_GC_INCREMENTAL:
      return 'incremental';
    case constants.NODE_PERFORMANCE_GC_WEAKCB:
      return 'weak callbacks';
    default:
      return 'other';
  }
}

export interface GcWatch {
  /** Pauses of at least this long are reported one by one. */
  minPauseMs: number;
  onPause: (pause: GcPause) => void;
  /** Each second with any pause, once it is over (a second later, or when the watch stops). */
  onSecond?: (second: GcSecond) => void;
}

/** Watches collections; returns the function that stops watching (and reports the seconds not yet reported). */
export function watchGcPauses({ minPauseMs, onPause, onSecond }: GcWatch): () => void {
  const seconds = new Map<number, GcSecond>();
  const flush = (before: number): void => {
    for (const [at, second] of seconds) {
      if (at >= before) continue;
      seconds.delete(at);
      onSecond?.(second);
    }
  };
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const pause: GcPause = { kind: kindOf(entry), ms: Math.round(entry.duration * 10) / 10, at: Math.round(performance.timeOrigin + entry.startTime) };
      if (entry.duration >= minPauseMs) onPause(pause);
      const at = pause.at - (pause.at % 1000);
      let second = seconds.get(at);
      if (second === undefined) seconds.set(at, (second = { at, ms: 0, byKind: {} }));
      second.ms = Math.round((second.ms + entry.duration) * 10) / 10;
      second.byKind[pause.kind] = Math.round(((second.byKind[pause.kind] ?? 0) + entry.duration) * 10) / 10;
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  const timer = setInterval(() => flush(Date.now() - 1000), 1000).unref();
  return () => {
    observer.disconnect();
    clearInterval(timer);
    flush(Infinity);
  };
}
