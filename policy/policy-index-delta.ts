// buildPolicyIndex for a token server that reloads one changed shard at a time: the new index shares
// every subject bucket, user and tenancy entry the change did not touch with the previous index, and
// indexes only the entries that are new. Entries are compared by identity: the snapshot reader hands
// back the same objects for shards whose content did not change, so "not the same object" is "changed".
// The previous index is never modified (requests may still be reading it): touched buckets are copied,
// and the new index's maps are new versions of the previous ones' (layered-map.ts), not copies.
// Decisions are buildPolicyIndex's (policy-index-delta.test.ts compares authorize on both).

import { buildPolicyIndex, type PolicyIndex } from './authorize.js';
import { LayeredMap } from './layered-map.js';
import type { GrantEntry, RegistryPolicy, UserEntry } from './types.js';

type Bucket = PolicyIndex['subjects'] extends ReadonlyMap<string, infer B> ? B : never;

/** Past this share of changed entries a full build is cheaper than patching. */
const PATCH_LIMIT = 0.25;

/** Which entries of a policy are not in the policy it was made from, and which of that one's are gone. */
export interface EntryChanges {
  users: { removed: UserEntry[]; added: UserEntry[] };
  grants: { removed: GrantEntry[]; added: GrantEntry[] };
}

/**
 * What the shard reader knew when it made a policy from the one before: finding it again costs four sets
 * of every entry. `from` is held weakly, so a chain of generations is never kept alive through it.
 */
const recorded = new WeakMap<RegistryPolicy, { from: WeakRef<RegistryPolicy>; changes: EntryChanges }>();

/** Records that `next` is `from` with `changes` (by identity: an entry in both is the same object). */
export function recordEntryChanges(next: RegistryPolicy, from: RegistryPolicy, changes: EntryChanges): void {
  recorded.set(next, {
    from: new WeakRef(from),
    changes: {
      users: { removed: changes.users.removed, added: changes.users.added },
      grants: { removed: changes.grants.removed, added: changes.grants.added },
    },
  });
}

function entryChanges(before: RegistryPolicy, next: RegistryPolicy): EntryChanges {
  const known = recorded.get(next);
  recorded.delete(next);
  if (known?.from.deref() === before) return known.changes;
  const nowUsers = new Set(next.users);
  const nowGrants = new Set(next.grants);
  const hadUsers = new Set(before.users);
  const hadGrants = new Set(before.grants);
  return {
    users: { removed: difference(before.users, nowUsers), added: difference(next.users, hadUsers) },
    grants: { removed: difference(before.grants, nowGrants), added: difference(next.grants, hadGrants) },
  };
}

function difference<T>(from: readonly T[], without: ReadonlySet<T>): T[] {
  return from.filter((e) => !without.has(e));
}

/**
 * `old` without what `drop` says, merged with `added`: a new value, neither input touched. Walks the
 * bucket's shape generically (plain objects, Maps, lists of indexed patterns or catalog sources), so it
 * keeps working as authorize.ts refines how a bucket is keyed.
 */
function merged(old: unknown, added: unknown, drop: (item: unknown) => boolean): unknown {
  const shape = old ?? added;
  if (Array.isArray(shape)) return [...((old as unknown[] | undefined) ?? []).filter((i) => !drop(i)), ...((added as unknown[] | undefined) ?? [])];
  if (shape instanceof Map) {
    const out = new Map<unknown, unknown>();
    const a = (old as Map<unknown, unknown> | undefined) ?? new Map();
    const b = (added as Map<unknown, unknown> | undefined) ?? new Map();
    for (const key of new Set([...a.keys(), ...b.keys()])) {
      const value = merged(a.get(key), b.get(key), drop);
      if (!isEmpty(value)) out.set(key, value);
    }
    return out;
  }
  if (shape instanceof Set) throw new Error('policy-index-delta: a subject bucket holds a Set, which it does not know how to patch');
  if (shape !== null && typeof shape === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(shape))
      out[key] = merged((old as Record<string, unknown> | undefined)?.[key], (added as Record<string, unknown> | undefined)?.[key], drop);
    return out;
  }
  return shape;
}

function isEmpty(value: unknown): boolean {
  if (Array.isArray(value)) return value.length === 0;
  if (value instanceof Map) return value.size === 0;
  if (value !== null && typeof value === 'object') return Object.values(value).every(isEmpty);
  return false;
}

/** The index of `next`, from `previous` (an index of an earlier policy of the same Registry) and the entries that changed. */
export function updatePolicyIndex(previous: PolicyIndex, next: RegistryPolicy): PolicyIndex {
  const before = previous.registry;
  if (before.id !== next.id) return buildPolicyIndex(next);
  const changes = entryChanges(before, next);
  const { removed: removedUsers, added: addedUsers } = changes.users;
  const { removed: removedGrants, added: addedGrants } = changes.grants;
  const changed = removedUsers.length + removedGrants.length + addedUsers.length + addedGrants.length;
  if (changed > PATCH_LIMIT * (next.users.length + next.grants.length) + 64) return buildPolicyIndex(next);

  // The added entries indexed on their own: the same buckets and tenancies buildPolicyIndex makes for them.
  const fresh = buildPolicyIndex({ ...next, users: addedUsers, grants: addedGrants });
  const removedNames = removedUsers.map((u) => u.username);
  const users = layered(previous.users).with({ remove: removedNames, set: addedUsers.map((u) => [u.username, u] as const) });
  const tenancy = layered(previous.tenancy).with({ remove: removedNames, set: fresh.tenancy });

  const removed = new Set<unknown>(removedGrants);
  const removedSources = new Set<unknown>(removedGrants.map((g) => g.source));
  // A bucket lists indexed patterns (which name their grant) and catalog sources.
  const drop = (item: unknown): boolean => (typeof item === 'string' ? removedSources.has(item) : removed.has((item as { grant?: unknown } | null)?.grant));
  // The subject keys of the removed grants, as buildPolicyIndex derives them.
  const touched = new Set<string>(buildPolicyIndex({ ...before, users: [], grants: removedGrants }).subjects.keys());
  for (const key of fresh.subjects.keys()) touched.add(key);
  const emptied: string[] = [];
  const patched: [string, Bucket][] = [];
  for (const key of touched) {
    const bucket = merged(previous.subjects.get(key), fresh.subjects.get(key), drop) as Bucket;
    if (isEmpty(bucket)) emptied.push(key);
    else patched.push([key, bucket]);
  }
  const subjects = layered(previous.subjects).with({ remove: emptied, set: patched });
  return { registry: next, users, tenancy, subjects };
}

/** The index's map as a LayeredMap: buildPolicyIndex makes plain Maps, which nothing changes once built. */
function layered<K, V extends NonNullable<unknown>>(map: ReadonlyMap<K, V>): LayeredMap<K, V> {
  // instanceof cannot carry the type arguments: a LayeredMap in this slot is one of K to V.
  return map instanceof LayeredMap ? (map as LayeredMap<K, V>) : LayeredMap.of(map);
}
