// The operator's log lines that other code reads back: bench:operator prints them per grant change and
// the status-backlog integration test waits for them. One spelling here, so a renamed line cannot leave
// a reader silently finding nothing.

export const OperatorLogMessages = {
  /** Debug: one reconcile's phases (operator/controllers/registry.ts). */
  reconciled: 'registry reconciled',
  /** Debug: a Registry's status writes drained; it is reconciled once more (operator/main.ts). */
  statusesDrained: 'status writes drained; reconciling to take in their answers',
  /** Info: a full collection gave memory back (bin/heap-compaction.ts). */
  heapCompacted: 'heap compacted',
  /** Debug: one collection pausing the process 50 ms or more (bin/gc-pauses.ts). */
  gcPause: 'gc pause',
  /** Debug: the time collections paused the process within one second. */
  gcTime: 'gc time',
} as const;
