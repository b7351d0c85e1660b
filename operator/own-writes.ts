// The Registry controller's own writes, told apart from everyone else's when the watch reports them.
// Each publish applies ConfigMaps and Secrets (and deletes stale parts), and each reconcile applies the
// Registry's status; every one of those comes back as a watch event, and each event used to queue the
// Registry again: one grant change cost two or three compiles, and a change arriving meanwhile waited
// behind a compile that could find nothing new (bench:operator).
// An event is an echo only when it carries exactly the resourceVersion our write was answered with (or is
// the deletion we made), so anyone else's edit, even one right after ours, still triggers. The watch may
// deliver the event before the write's answer is read: an event for an object being written waits for
// the answer, and triggers then unless it was the echo.

import { BoundedMap } from '../policy/bounded-map.js';

/** What a write was answered with: enough to know its echo. */
export interface WrittenObject {
  metadata: { name: string; namespace?: string; resourceVersion?: string };
}

export interface WatchedEvent {
  type: 'added' | 'updated' | 'deleted';
  object: WrittenObject;
}

const DELETED = '\u0000deleted';

/**
 * Owned objects are rewritten in place (or named by content and deleted when stale), so about one entry
 * per owned object is kept; the cap only bounds echoes that never come (a watch that relisted past them).
 */
const MAX_REMEMBERED = 20_000;

interface InFlight {
  /** The versions events reported while the write was under way (DELETED for a deletion). */
  seen: string[];
  trigger: (() => void) | undefined;
}

export class OwnWrites {
  private readonly answered = new BoundedMap<string>(MAX_REMEMBERED);
  private readonly inFlight = new Map<string, InFlight>();

  /**
   * Runs a write of the object and remembers its outcome: `write` resolves to the object as written, or
   * to undefined for a deletion. An event that arrived meanwhile and was not the echo triggers now.
   */
  async write<T extends WrittenObject | void>(kind: string, namespace: string, name: string, write: () => Promise<T>): Promise<T> {
    const key = keyOf(kind, namespace, name);
    const flight: InFlight = { seen: [], trigger: undefined };
    this.inFlight.set(key, flight);
    let outcome: string | undefined;
    try {
      const result = await write();
      outcome = result === undefined ? DELETED : result.metadata.resourceVersion;
      return result;
    } finally {
      if (this.inFlight.get(key) === flight) this.inFlight.delete(key);
      const early = outcome === undefined ? -1 : flight.seen.indexOf(outcome);
      if (early >= 0) flight.seen.splice(early, 1);
      else if (outcome !== undefined && outcome !== '') this.answered.set(key, outcome);
      if (flight.seen.length > 0) flight.trigger?.();
    }
  }

  /**
   * Whether the event needs no reconcile: it reports one of our writes (recognised once), or arrived
   * while that object was being written, in which case `trigger` runs afterwards unless it was the echo.
   */
  isEcho(kind: string, event: WatchedEvent, trigger: () => void): boolean {
    const key = keyOf(kind, event.object.metadata.namespace ?? '', event.object.metadata.name);
    const version = event.type === 'deleted' ? DELETED : (event.object.metadata.resourceVersion ?? '');
    const flight = this.inFlight.get(key);
    if (flight !== undefined) {
      flight.seen.push(version);
      flight.trigger = trigger;
      return true;
    }
    const expected = this.answered.get(key);
    if (expected === undefined || expected !== version) return false;
    this.answered.delete(key);
    return true;
  }
}

function keyOf(kind: string, namespace: string, name: string): string {
  return `${kind}/${namespace}/${name}`;
}
