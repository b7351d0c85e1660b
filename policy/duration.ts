// Go-style durations (`300s`, `5m`, `1h30m`, `720h`) as the CRDs spell them, in whole seconds.
// Only the units a policy needs are accepted (h, m, s, ms): sub-second precision is rounded away
// rather than silently truncated to zero, which would turn `500ms` into "no lifetime at all".

const UNIT_SECONDS: Record<string, number> = { h: 3600, m: 60, s: 1, ms: 0.001 };
const PART = /(\d+(?:\.\d+)?)(ms|h|m|s)/y;

/** Parses a Go-style duration into seconds. Throws an Error naming the input if it is not one. */
export function parseDuration(s: string): number {
  if (typeof s !== 'string' || s.length === 0) throw new Error('invalid duration "": empty');
  if (s.length > 64) throw new Error(`invalid duration "${s.slice(0, 64)}…": too long`);
  if (s === '0') return 0;
  let total = 0;
  PART.lastIndex = 0;
  let pos = 0;
  while (pos < s.length) {
    PART.lastIndex = pos;
    const m = PART.exec(s);
    if (m === null) {
      throw new Error(`invalid duration ${JSON.stringify(s)}: expected a number followed by h, m, s or ms (e.g. 5m, 1h30m)`);
    }
    total += Number(m[1]) * (UNIT_SECONDS[m[2] as string] as number);
    pos = PART.lastIndex;
  }
  if (!Number.isFinite(total)) throw new Error(`invalid duration ${JSON.stringify(s)}: out of range`);
  return Math.round(total);
}

/** Formats seconds as the shortest Go-style duration: 300 -> "5m", 5400 -> "1h30m", 0 -> "0s". */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) throw new Error(`cannot format duration of ${seconds} seconds`);
  let rest = Math.round(seconds);
  if (rest === 0) return '0s';
  const h = Math.floor(rest / 3600);
  rest -= h * 3600;
  const m = Math.floor(rest / 60);
  rest -= m * 60;
  return `${h > 0 ? `${h}h` : ''}${m > 0 ? `${m}m` : ''}${rest > 0 ? `${rest}s` : ''}`;
}
