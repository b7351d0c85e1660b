// Retention ages as RetentionPolicy spells them: days (`7d`), which is how people think about
// retention, or a Go duration (`168h`, `90m`, `1h30m`) like every other duration in the CRDs. One
// parser, so the CRD's pattern, the planner and the runner cannot disagree about what `7d` means.

import { parseDuration } from '../duration.js';

const DAYS = /^(\d{1,6})d$/;
const SECONDS_PER_DAY = 86_400;

/** The CRD's pattern for the same syntax (crds/retentionpolicies.yaml repeats it; a test keeps them equal). */
export const RETENTION_AGE_PATTERN = '^([0-9]{1,6}d|([0-9]+(\\.[0-9]+)?(ms|h|m|s))+)$';

/** Parses a retention age into milliseconds. Throws an Error naming the input if it is not one. */
export function parseRetentionAge(s: string): number {
  const days = DAYS.exec(s);
  if (days !== null) return Number(days[1]) * SECONDS_PER_DAY * 1000;
  try {
    return parseDuration(s) * 1000;
  } catch {
    throw new Error(`invalid age ${JSON.stringify(s)}: expected days such as 7d or a Go duration such as 168h or 90m`);
  }
}
