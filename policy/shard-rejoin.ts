// The entries of a sharded snapshot joined again after a few shards changed: the previous joined list
// with the changed shards' old entries taken out and their new ones put in place, rather than every
// entry gathered and sorted again (at 100,000 users and grants the sort was a third of a token server's
// reload). The result is what joinShards builds: entries sorted by key, keys unique across shards.
// Pure; the token server's shard reader calls it.

import { compareStrings } from './compile/status.js';

export interface Rejoined<T> {
  joined: T[];
  /** The entries of the changed shards as they were, and as they are (sorted by key). */
  removed: T[];
  added: T[];
}

/** Past this share of changed shards, gathering and sorting everything costs about the same. */
const REJOIN_LIMIT = 0.25;

/**
 * `joined`: the sorted join of the shards `before`; `after`: the same shards now, an unchanged shard
 * being the very same array. Undefined when the shard count differs or too many shards changed.
 */
export function rejoinShards<T>(
  joined: readonly T[],
  before: readonly (readonly T[])[],
  after: readonly (readonly T[])[],
  key: (entry: T) => string,
): Rejoined<T> | undefined {
  if (before.length !== after.length) return undefined;
  const changed: number[] = [];
  for (let i = 0; i < after.length; i++) if (before[i] !== after[i]) changed.push(i);
  if (changed.length > REJOIN_LIMIT * after.length) return undefined;
  const removed = changed.flatMap((i) => before[i] ?? []);
  const added = changed.flatMap((i) => after[i] ?? []).sort((a, b) => compareStrings(key(a), key(b)));
  const gone = new Set(removed);
  const kept = gone.size === 0 ? joined : joined.filter((e) => !gone.has(e));
  return { joined: insertSorted(kept, added, key), removed, added };
}

/** `sorted` with `added` (sorted, keys not in `sorted`) put in order: binary searches, one copy. */
function insertSorted<T>(sorted: readonly T[], added: readonly T[], key: (entry: T) => string): T[] {
  const out: T[] = [];
  let from = 0;
  for (const entry of added) {
    const k = key(entry);
    let lo = from;
    let hi = sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (key(sorted[mid] as T) < k) lo = mid + 1;
      else hi = mid;
    }
    for (let i = from; i < lo; i++) out.push(sorted[i] as T);
    out.push(entry);
    from = lo;
  }
  for (let i = from; i < sorted.length; i++) out.push(sorted[i] as T);
  return out;
}
