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
    // Our own status writes' answers: the next version of the object a pending status was written for.
    const answers = new WeakMap<Obj, { version: number; status: ObjectStatus }>();
    const ownWriteOf = (before: Obj, after: Obj): { status: ObjectStatus; key: string } | undefined => {
      const answer = answers.get(before);
      return answer?.version === after.version && after.name === before.name ? { status: answer.status, key: keyOfObject(after) } : undefined;
    };
    const passes = new StatusPasses<Obj>(keyOfObject, keyOfStatus, ownWriteOf);
    const lists = { RegistryUser: [] as Obj[], RepositoryGrant: [] as Obj[] };
    for (let i = 0; i < 30; i++)
      lists[i % 2 ? 'RegistryUser' : 'RepositoryGrant'].push({ kind: i % 2 ? 'RegistryUser' : 'RepositoryGrant', name: `o${i}`, version: 0, generation: 0 });
    const statusFor = new Map<string, ObjectStatus>();
    let last: { statuses: ObjectStatus[]; objectAt: Map<string, Obj>; pending: Set<number> } | undefined;
    let next = 30;
    let settledSeen = 0;
    let answeredSeen = 0;
    for (let step = 0; step < 150; step++) {
      // Some writes the last pass called for are answered: the informer now holds the written version.
      for (const i of last?.pending ?? []) {
        const status = last!.statuses[i] as ObjectStatus;
        const list = lists[status.kind as Obj['kind']];
        const at = list.findIndex((o) => o.name === status.name);
        if (at < 0 || rnd() < 0.5) continue;
        const before = list[at] as Obj;
        list[at] = { ...before, version: before.version + 1 };
        answers.set(before, { version: before.version + 1, status });
      }
      for (const kind of ['RegistryUser', 'RepositoryGrant'] as const) {
        const list = lists[kind];
        const r = rnd();
        const at = Math.floor(rnd() * list.length);
        const o = list[at] as Obj;
        if (o === undefined) {
          list.push({ kind, name: `o${next++}`, version: 0, generation: 0 });
          continue;
        }
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
          const compared = last?.objectAt.get(keyOfStatus(s));
          if (compared === object) expect(last?.pending.has(i)).toBe(false);
          else {
            // Only our write of this very status, answered with this very object, settles a new object.
            expect(compared && answers.get(compared)).toEqual({ version: object!.version, status: s });
            answeredSeen++;
          }
        } else if (rnd() < 0.2) pending.add(i);
      }
      plan.finish(pending);
      last = { statuses, objectAt: new Map(all.map((o) => [keyOfObject(o), o])), pending };
    }
    // The walk must have settled something, or the test checks nothing.
    expect(settledSeen).toBeGreaterThan(100);
    expect(answeredSeen).toBeGreaterThan(5);
  });

  it("settles every status whose write was answered, past the limit of changed positions; not someone else's edit", () => {
    const answers = new WeakMap<Obj, Obj>();
    const written = new Map<Obj, ObjectStatus>();
    const passes = new StatusPasses<Obj>(keyOfObject, keyOfStatus, (before, after) =>
      answers.get(before) === after ? { status: written.get(before)!, key: keyOfObject(after) } : undefined,
    );
    const grants = Array.from({ length: 3000 }, (_, i): Obj => ({
      kind: 'RepositoryGrant',
      name: `g${String(i).padStart(4, '0')}`,
      version: 0,
      generation: 1,
    }));
    const statuses = grants.map(statusOf);
    // A first start: every status calls for a write.
    passes.plan('ns/main', [], grants, statuses).finish(new Set(statuses.keys()));
    const next = grants.map((g, i) => {
      const answer = { ...g, version: 1 };
      answers.set(g, answer);
      written.set(g, statuses[i]!);
      return answer;
    });
    // Someone else edits g0001's status after our write was answered; g0002's compiled status is new since;
    // g0003's answer is to the write of an older status than the one the last pass called for.
    next[1] = { ...next[1]!, version: 2 };
    written.set(grants[3]!, statusOf(grants[3]!));
    const changedStatuses = [...statuses];
    changedStatuses[2] = statusOf(grants[2]!);
    const plan = passes.plan('ns/main', [], next, changedStatuses);
    expect(plan.objects.get('RepositoryGrant/ns/g0000')).toBe(next[0]);
    expect(plan.objects.get('RepositoryGrant/ns/g0001')).toBe(next[1]);
    const unsettled = changedStatuses.map((_, i) => i).filter((i) => !plan.settled(i));
    expect(unsettled).toEqual([1, 2, 3]);
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
