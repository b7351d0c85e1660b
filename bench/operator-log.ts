// The operator's pino lines as bench:operator reads them: parsed once from its output, the cold start's
// account, and the reconciles that ended within each grant change.

/** A pino line of the operator's (none of its fields secret). */
export interface OperatorLine {
  time: number;
  msg: string;
  resource?: string;
  count?: number;
  parts?: number;
  [field: string]: unknown;
}

/** The line parsed, or undefined for anything that is not one of pino's JSON lines. */
export function parseLogLine(line: string): OperatorLine | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const entry = JSON.parse(line) as Partial<OperatorLine>;
    return typeof entry.time === 'number' && typeof entry.msg === 'string' ? (entry as OperatorLine) : undefined;
  } catch {
    return undefined;
  }
}

/** What a cold start's line says beyond its message: the resource, and the counts it carries. */
export function detailOf(entry: OperatorLine): string {
  const detail = [
    entry.resource,
    entry.count === undefined ? undefined : `${entry.count} objects`,
    entry.parts === undefined ? undefined : `${entry.parts} parts`,
  ].filter(Boolean);
  return detail.length > 0 ? ` (${detail.join(', ')})` : '';
}

/** The operator's "registry reconciled" debug line (operator/controllers/registry.ts). */
export interface ReconcileLine extends OperatorLine {
  ms: Record<string, number>;
  statusQueue: number;
}

/** The reconciles that ended between `start` and `end` (epoch ms), each as its phases. */
export function reconcilesWithin(lines: readonly ReconcileLine[], { start, end }: { start: number; end: number }): string {
  const within = lines.filter((l) => l.time >= start && l.time <= end);
  if (within.length === 0) return 'none';
  return within
    .map((l) => {
      const { total, ...phases } = l.ms;
      const parts = Object.entries(phases).map(([phase, ms]) => `${phase} ${Math.round(ms)}`);
      return `${Math.round(total ?? 0)} ending at +${l.time - start} (${parts.join(', ')}; queue ${l.statusQueue})`;
    })
    .join(' | ');
}

/** The operator's "gc pause" debug line (bin/gc-pauses.ts). */
export interface GcPauseLine extends OperatorLine {
  kind: string;
  ms: number;
  at: number;
}

/** The operator's "gc time" debug line: the time collections paused it within one second, by kind. */
export interface GcSecondLine extends OperatorLine {
  at: number;
  ms: number;
  byKind: Record<string, number>;
}

/**
 * The collections that paused the operator between `start` and `end`: those of 50 ms or more, each with
 * when, and the time of all of them in the seconds the window overlaps (so up to a second either side).
 */
export function gcPausesWithin(pauses: readonly GcPauseLine[], seconds: readonly GcSecondLine[], { start, end }: { start: number; end: number }): string {
  const long = pauses.filter((l) => l.at >= start && l.at <= end).map((l) => `${l.kind} ${Math.round(l.ms)} at +${l.at - start}`);
  const overlapping = seconds.filter((s) => s.at + 1000 > start && s.at <= end);
  const byKind = new Map<string, number>();
  for (const s of overlapping) for (const [kind, ms] of Object.entries(s.byKind)) byKind.set(kind, (byKind.get(kind) ?? 0) + ms);
  const total = [...byKind.values()].reduce((sum, ms) => sum + ms, 0);
  const kinds = [...byKind].map(([kind, ms]) => `${kind} ${Math.round(ms)}`).join(', ');
  return `${long.length === 0 ? 'none of 50 ms' : long.join(', ')}; ${Math.round(total)} ms in its ${overlapping.length} s${kinds === '' ? '' : ` (${kinds})`}`;
}
