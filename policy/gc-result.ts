// The collector Job's report, shared by its writer (the shell wrapper the operator puts in the Job, and
// the test harness that plays the kubelet) and its reader (the operator, from the pod's termination
// message): one line `bytesFreed=N blobsDeleted=N manifestsDeleted=N`, a field left out when unknown
// (bytesFreed is only measured on filesystem storage).
//
// The counts come from the summary line both Distribution 2.8 and v3 print at the end of
// `registry garbage-collect`: `N blobs marked, N blobs and N manifests eligible for deletion`. Without
// --dry-run every eligible blob is deleted, so "eligible" is what was deleted.

export interface GcResult {
  bytesFreed?: number;
  blobsDeleted?: number;
  manifestsDeleted?: number;
}

const FIELDS = ['bytesFreed', 'blobsDeleted', 'manifestsDeleted'] as const;

/** Distribution's summary line, as a regular expression (the shell wrapper uses the same one with sed). */
export const GC_SUMMARY = /^(\d+) blobs marked, (\d+) blobs and (\d+) manifests eligible for deletion$/m;

/** The counts in `registry garbage-collect`'s output; undefined when it printed no summary. */
export function parseGcSummary(output: string): { blobsDeleted: number; manifestsDeleted: number } | undefined {
  const lines = output.split('\n').filter((l) => GC_SUMMARY.test(l));
  const m = GC_SUMMARY.exec(lines.at(-1) ?? '');
  return m === null ? undefined : { blobsDeleted: Number(m[2]), manifestsDeleted: Number(m[3]) };
}

export function formatGcResult(result: GcResult): string {
  return FIELDS.filter((f) => result[f] !== undefined)
    .map((f) => `${f}=${result[f]}`)
    .join(' ');
}

/**
 * The report in a termination message; undefined when the message holds none. The message may carry
 * more (a failing wrapper writes the tail of the collector's output): only `key=N` words count.
 */
export function parseGcResult(message: string): GcResult | undefined {
  const result: GcResult = {};
  let found = false;
  for (const word of message.split(/\s+/)) {
    const m = /^(bytesFreed|blobsDeleted|manifestsDeleted)=(\d+)$/.exec(word);
    if (m === null) continue;
    result[m[1] as (typeof FIELDS)[number]] = Number(m[2]);
    found = true;
  }
  return found ? result : undefined;
}
