// StatusPasses along random edits of the informer's lists (objects changed in place, added, removed) and
// of the compiled statuses: a status is settled only when it is the one at its position last time, its
// cached object is the one compared last time, and that comparison called for no write; and the objects
// by key are always those of the lists handed over.
import { describe, expect, it } from 'vitest';
import type { ObjectStatus } from '../../policy/snapshot.js';
import { random } from '../../local/seeded-random.js';
import { StatusPasses } from './status-pass.js';

/** `version` moves on every change (the informer's new object), `generation` only on a spec change. */
type Obj = { kind: 'RegistryUser' | 'RepositoryGrant'; name: string; version: number; generation: number };

const keyOfObject = (o: Obj): string => `${o.kind}/ns/${o.name}`;
const keyOfStatus = (s: ObjectStatus): string => `${s.kind}/${s.namespace}/${s.name}`;
const statusOf = (o: Obj): ObjectStatus => ({ kind: o.kind, namespace: 'ns', name: o.name, conditions: [] });

describe('StatusPasses', () => {
  it.each([1, 2, 3, 4, 5])('settles only a status compared with the same object that called for nothing (seed %i)', (seed) => {
    const rnd = random(seed);
    const passes = new StatusPasses<Obj>(keyOfObject, keyOfStatus);
    const lists = { RegistryUser: [] as Obj[], RepositoryGrant: [] as Obj[] };
    for (let i = 0; i < 30; i++)
      lists[i % 2 ? 'RegistryUser' : 'RepositoryGrant'].push({ kind: i % 2 ? 'RegistryUser' : 'RepositoryGrant', name: `o${i}`, version: 0, generation: 0 });
    const statusFor = new Map<string, ObjectStatus>();
    let last: { statuses: ObjectStatus[]; objectAt: Map<string, Obj>; pending: Set<number> } | undefined;
    let next = 30;
    let settledSeen = 0;
    for (let step = 0; step < 150; step++) {
      for (const kind of ['RegistryUser', 'RepositoryGrant'] as const) {
        const list = lists[kind];
        const r = rnd();
        const at = Math.floor(rnd() * list.length);
        const o = list[at] as Obj;
        // A status-only change (someone else's, or our own write) keeps the generation and the compiled status.
        if (r < 0.2) list[at] = { ...o, version: o.version + 1 };
        else if (r < 0.4) list[at] = { ...o, version: o.version + 1, generation: o.generation + 1 };
        else if (r < 0.45) list[at] = { kind, name: `o${next++}`, version: 0, generation: 0 };
        else if (r < 0.5) list.push({ kind, name: `o${next++}`, version: 0, generation: 0 });
        else if (r < 0.6) list.splice(at, 1);
        else if (r < 0.65) lists[kind] = [...list.slice(at), ...list.slice(0, at)];
        // Otherwise this list is unchanged.
      }
      // Compiled statuses: the same object per key and generation (now and then a new one all the same).
      const all = [...lists.RegistryUser, ...lists.RepositoryGrant];
      const statuses = all
        .map((o) => {
          const key = `${keyOfObject(o)}@${o.generation}`;
          let s = statusFor.get(key);
          if (s === undefined || rnd() < 0.05) statusFor.set(key, (s = statusOf(o)));
          return s;
        })
        .sort((a, b) => (keyOfStatus(a) < keyOfStatus(b) ? -1 : 1));
      const plan = passes.plan('ns/main', lists.RegistryUser, lists.RepositoryGrant, statuses);
      expect(new Map(plan.objects)).toEqual(new Map(all.map((o) => [keyOfObject(o), o])));
      const pending = new Set<number>();
      for (const [i, s] of statuses.entries()) {
        const object = plan.objects.get(keyOfStatus(s));
        if (plan.settled(i)) {
          settledSeen++;
          expect(last?.statuses[i]).toBe(s);
          expect(last?.objectAt.get(keyOfStatus(s))).toBe(object);
          expect(last?.pending.has(i)).toBe(false);
        } else if (rnd() < 0.2) pending.add(i);
      }
      plan.finish(pending);
      last = { statuses, objectAt: new Map(all.map((o) => [keyOfObject(o), o])), pending };
    }
    // The walk must have settled something, or the test checks nothing.
    expect(settledSeen).toBeGreaterThan(100);
  });

  it('starts over after a pass that never finished (an exception mid-pass)', () => {
    const passes = new StatusPasses<Obj>(keyOfObject, keyOfStatus);
    const a: Obj = { kind: 'RepositoryGrant', name: 'a', version: 0, generation: 0 };
    const a1 = { ...a, version: 1 };
    const s = statusOf(a);
    passes.plan('ns/main', [], [a], [s]).finish(new Set());
    passes.plan('ns/main', [], [a1], [s]); // not finished
    const plan = passes.plan('ns/main', [], [a], [s]);
    expect(plan.objects.get('RepositoryGrant/ns/a')).toBe(a);
    expect(plan.settled(0)).toBe(false);
  });
});
