// Long garbage-collection pauses, as figures for a log line. At 100,000 users and grants the operator's
// heap is over 1 GB, and the slowest grant change of a bench:operator run (1.7 s against 0.4-0.6 s) had
// every phase of its reconcile slower at once: the mark of a collection pausing the process, which
// nothing showed. perf_hooks reports each collection's pause without a V8 flag.

import { constants, performance, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';

export interface GcPause {
  kind: 'major' | 'minor' | 'incremental' | 'weak callbacks' | 'other';
  ms: number;
  /** When the pause began (epoch ms). */
  at: number;
}

function kindOf(entry: PerformanceEntry): GcPause['kind'] {
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

/** Calls `onPause` for each pause of at least `minMs`; returns the function that stops watching. */
export function watchGcPauses(minMs: number, onPause: (pause: GcPause) => void): () => void {
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      if (entry.duration >= minMs) onPause({ kind: kindOf(entry), ms: Math.round(entry.duration), at: Math.round(performance.timeOrigin + entry.startTime) });
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  return () => observer.disconnect();
}
