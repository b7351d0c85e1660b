// Which of a reconcile's compiled statuses can skip their comparison with the cached object. A grant
// change reconciles the whole Registry, and submitObjectStatuses (object-statuses.ts) looked at every
// status: at 10,000 users and grants that was half of each reconcile's CPU (bench:operator profile),
// mostly indexing 20,000 cached objects by key and looking each status's object up again.
//
// Here a Registry's last pass is kept: its lists of cached users and grants, its statuses and which of
// them called for a write. The informer keeps an object's place in its list while the object changes
// and hands out a new object on every change, so comparing the new lists with the last ones position by
// position finds the objects that changed in one walk of pointers. A status needs comparing again only
// when it is not the status compiled last time at its position, its object changed, or it called for a
// write last time (the write may have finished since). Anything else (lists of another length, more than
// MAX_MOVED changed positions) makes a full pass, the way it was before.

import type { ObjectStatus } from '../../policy/snapshot.js';

/** Past this many changed positions in a list, a full pass is about as cheap as patching. */
const MAX_MOVED = 1024;

type Keyed = object;

interface Pass<O extends Keyed> {
  users: readonly O[];
  grants: readonly O[];
  statuses: readonly ObjectStatus[];
  /** `Kind/namespace/name` -> the cached user or grant, for this pass's lists. */
  objects: Map<string, O>;
  /** `Kind/namespace/name` -> the position of its status in `statuses`. */
  positionOf: Map<string, number>;
  /** Positions whose comparison called for a write. */
  pending: ReadonlySet<number>;
}

/** What a pass may skip, and the cached objects by key. */
export interface StatusPassPlan<O extends Keyed> {
  objects: ReadonlyMap<string, O>;
  /** Whether the status at `i` was compared with this very object last time and called for nothing. */
  settled(i: number): boolean;
  /** Ends the pass: `pending` are the positions whose comparison called for a write. */
  finish(pending: ReadonlySet<number>): void;
}

/**
 * The cached object `after` is what our own status write of `before` was answered with: the status written
 * (which `after` shows) and the object's key. Undefined for any other change.
 */
export type OwnWriteOf<O> = (before: O, after: O, kind: ListKind) => { status: ObjectStatus; key: string } | undefined;

type ListKind = 'RegistryUser' | 'RepositoryGrant';

/** Positions where two lists of one length hold different objects, apart from our own writes' answers. */
interface Moved {
  moved: number[];
  /** Positions whose new object is our status write's answer, with the status written and the key. */
  written: { at: number; status: ObjectStatus; key: string }[];
}

/** Where two lists of one length differ; undefined past MAX_MOVED changes other than our own writes, or for other lengths. */
function movedPositions<O>(before: readonly O[], after: readonly O[], kind: ListKind, ownWriteOf: OwnWriteOf<O>): Moved | undefined {
  if (before.length !== after.length) return undefined;
  const moved: number[] = [];
  const written: Moved['written'] = [];
  for (let i = 0; i < after.length; i++) {
    if (before[i] === after[i]) continue;
    const answer = ownWriteOf(before[i] as O, after[i] as O, kind);
    if (answer !== undefined) {
      written.push({ at: i, ...answer });
      continue;
    }
    if (moved.length === MAX_MOVED) return undefined;
    moved.push(i);
  }
  return { moved, written };
}

export class StatusPasses<O extends Keyed> {
  private readonly last = new Map<string, Pass<O>>();

  /**
   * `ownWriteOf` tells our own status writes' answers from other changes: a first start writes a status
   * for every object, and the informer then holds a new object at every position. Without it the first
   * pass after those writes was a full one: at 100,000 users and grants, 2.6 s after the snapshot was
   * published, during which the next change waited (bench:operator, "registry reconciled" lines).
   */
  constructor(
    private readonly keyOfObject: (object: O, kind: ListKind) => string,
    private readonly keyOfStatus: (status: ObjectStatus) => string,
    private readonly ownWriteOf: OwnWriteOf<O> = () => undefined,
  ) {}

  /** Starts `registryKey`'s pass over these lists (the caller must not change them until `finish`). */
  plan(registryKey: string, users: readonly O[], grants: readonly O[], statuses: readonly ObjectStatus[]): StatusPassPlan<O> {
    const last = this.last.get(registryKey);
    const movedUsers = last && movedPositions(last.users, users, 'RegistryUser', this.ownWriteOf);
    const movedGrants = last && movedPositions(last.grants, grants, 'RepositoryGrant', this.ownWriteOf);
    if (last === undefined || movedUsers === undefined || movedGrants === undefined || last.statuses.length !== statuses.length) {
      return this.fullPass(registryKey, users, grants, statuses);
    }
    const { objects, positionOf } = last;
    // Patched in place from here: until `finish` records this pass, the next one starts over.
    this.last.delete(registryKey);
    const previous = last.statuses;
    // Positions whose object changed, found through the last pass's positions (its statuses' places).
    const changed = new Set<number>();
    // Positions whose write is answered: the object shows the status compiled there, whether or not the
    // last pass called for a write.
    const answered = new Set<number>();
    for (const [{ moved, written }, list, before, kind] of [
      [movedUsers, users, last.users, 'RegistryUser'],
      [movedGrants, grants, last.grants, 'RepositoryGrant'],
    ] as const) {
      for (const i of moved) {
        for (const o of [before[i] as O, list[i] as O]) {
          const at = positionOf.get(this.keyOfObject(o, kind));
          if (at !== undefined) changed.add(at);
        }
      }
      // Deletions first: an object may have moved to a position another one left.
      for (const i of moved) objects.delete(this.keyOfObject(before[i] as O, kind));
      for (const i of moved) objects.set(this.keyOfObject(list[i] as O, kind), list[i] as O);
      // The same object at a new version: its key, and its status's position, stay.
      for (const { at: i, status, key } of written) {
        objects.set(key, list[i] as O);
        const at = positionOf.get(key);
        if (at === undefined) continue;
        if (statuses[at] === status && previous[at] === status) answered.add(at);
        else changed.add(at);
      }
    }
    return {
      objects,
      settled: (i) => previous[i] === statuses[i] && !changed.has(i) && (!last.pending.has(i) || answered.has(i)),
      finish: (pending) => {
        // A status at another position than last time: its key's position moves with it.
        for (let i = 0; i < statuses.length; i++) if (previous[i] !== statuses[i]) positionOf.set(this.keyOfStatus(statuses[i] as ObjectStatus), i);
        this.last.set(registryKey, { users: [...users], grants: [...grants], statuses: [...statuses], objects, positionOf, pending });
      },
    };
  }

  /** The Registry is gone: its last pass goes with it. */
  forget(registryKey: string): void {
    this.last.delete(registryKey);
  }

  private fullPass(registryKey: string, users: readonly O[], grants: readonly O[], statuses: readonly ObjectStatus[]): StatusPassPlan<O> {
    const objects = new Map<string, O>();
    for (const u of users) objects.set(this.keyOfObject(u, 'RegistryUser'), u);
    for (const g of grants) objects.set(this.keyOfObject(g, 'RepositoryGrant'), g);
    return {
      objects,
      settled: () => false,
      finish: (pending) => {
        const positionOf = new Map<string, number>();
        for (const [i, status] of statuses.entries()) positionOf.set(this.keyOfStatus(status), i);
        this.last.set(registryKey, { users: [...users], grants: [...grants], statuses: [...statuses], objects, positionOf, pending });
      },
    };
  }
}
