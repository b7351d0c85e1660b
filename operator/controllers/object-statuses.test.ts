import { describe, expect, it } from 'vitest';
import type { RegistryResource, RepositoryGrantResource } from '../../crds/types.js';
import type { KubeClient } from '../../kube/request.js';
import type { ObjectStatus } from '../../policy/snapshot.js';
import type { EventRecorder } from '../writes/events.js';
import type { StatusJob, StatusQueue } from '../writes/status-queue.js';
import { statusComparisons, submitObjectStatuses } from './object-statuses.js';

/** The submissions a StatusQueue would get; nothing is written. */
function capture() {
  const submissions: StatusJob[][] = [];
  const queue = { submit: (_key: string, jobs: readonly StatusJob[]) => void submissions.push([...jobs]) } as unknown as StatusQueue;
  const deps = { client: {} as KubeClient, events: {} as EventRecorder, now: () => new Date('2026-11-28T00:00:00Z'), queue, compared: statusComparisons() };
  const submit = (grant: RepositoryGrantResource, status: ObjectStatus) =>
    submitObjectStatuses(deps, {
      registryKey: 'ns/main',
      registry: undefined,
      users: [],
      grants: [grant],
      statuses: [status],
      generation: 'g1',
      snapshotWritten: false,
    });
  return { submissions, submit };
}

const grant = (status?: RepositoryGrantResource['status']): RepositoryGrantResource => ({
  apiVersion: 'portcullis.dev/v1alpha1',
  kind: 'RepositoryGrant',
  metadata: { name: 'g', namespace: 'ns', generation: 1 },
  spec: { registryRef: { name: 'main' }, subjects: [{ kind: 'User', name: 'alice' }], repositories: ['a/**'], actions: ['pull'] },
  ...(status ? { status } : {}),
});

const compiled = (ready: 'True' | 'False', reason: string): ObjectStatus => ({
  kind: 'RepositoryGrant',
  namespace: 'ns',
  name: 'g',
  observedGeneration: 1,
  conditions: [{ type: 'Ready', status: ready, reason, message: reason }],
});

describe('submitObjectStatuses', () => {
  it('asks again for the same write when nothing changed, and compares again when the status or the object did', () => {
    const { submissions, submit } = capture();
    const object = grant();
    const ready = compiled('True', 'Compiled');
    submit(object, ready);
    submit(object, ready);
    expect(submissions.map((jobs) => jobs.map((j) => j.content))).toEqual([[submissions[0]![0]!.content], [submissions[0]![0]!.content]]);
    expect(submissions[0]![0]!.followUp?.warning).toBe(false);
    // Nothing compared again: the same job is handed over.
    expect(submissions[1]![0]).toBe(submissions[0]![0]);

    // A new compiled status for the same cached object: compared again, a Warning this time.
    submit(object, compiled('False', 'OutsideDelegatedPrefix'));
    expect(submissions[2]![0]!.content).toContain('OutsideDelegatedPrefix');
    expect(submissions[2]![0]!.followUp?.warning).toBe(true);

    // The cache's next object already shows the status: nothing to write, with the same compiled status.
    const written = grant({
      observedGeneration: 1,
      conditions: [
        { type: 'Ready', status: 'True', reason: 'Compiled', message: 'Compiled', observedGeneration: 1, lastTransitionTime: '2026-11-28T00:00:00Z' },
      ],
    });
    submit(written, ready);
    expect(submissions[3]).toEqual([]);
  });
});

/** A controller whose status writes are answered at resourceVersion 42; `submit` returns what it handed over. */
function writing(registry?: RegistryResource) {
  const submissions: StatusJob[][] = [];
  const queue = { submit: (_key: string, jobs: readonly StatusJob[]) => void submissions.push([...jobs]) } as unknown as StatusQueue;
  const client = { apply: async () => ({ metadata: { name: 'g', namespace: 'ns', resourceVersion: '42' } }) } as unknown as KubeClient;
  const compared = statusComparisons();
  const deps = { client, events: {} as EventRecorder, now: () => new Date('2026-11-28T00:00:00Z'), queue, compared };
  const submit = (object: RepositoryGrantResource, status: ObjectStatus): StatusJob[] => {
    submitObjectStatuses(deps, {
      registryKey: 'ns/main',
      registry,
      users: [],
      grants: [object],
      statuses: [status],
      generation: 'g1',
      snapshotWritten: false,
    });
    return submissions[submissions.length - 1]!;
  };
  return { compared, submit };
}

describe('a status written by the controller', () => {
  it('is not compared again on the cached object at the version the write was answered with, and is on any other', async () => {
    const { submit } = writing();
    const ready = compiled('True', 'Compiled');
    const [job] = submit(grant(), ready);
    await job!.write();
    // Cached objects with no status at all: only the one at version 42 is known to hold what was written.
    const at = (resourceVersion: string): RepositoryGrantResource => ({ ...grant(), metadata: { ...grant().metadata, resourceVersion } });
    expect(submit(at('41'), ready)).toHaveLength(1);
    await job!.write();
    expect(submit(at('42'), ready)).toEqual([]);
    // Known once: a later object at another version is compared.
    expect(submit(at('43'), ready)).toHaveLength(1);
  });

  it('lets go of the job once written: the same object version calls for nothing, so no closure outlives the write', async () => {
    const { compared, submit } = writing();
    const object = grant();
    const ready = compiled('True', 'Compiled');
    const [job] = submit(object, ready);
    expect(compared.byObject.get(object)?.job).toBe(job);

    await job!.write();
    expect(compared.byObject.get(object)).toEqual({ status: ready, job: undefined });
    expect(submit(object, ready)).toEqual([]);

    // A write answered after the object was compared against another status leaves that comparison alone.
    const other = grant();
    const [first] = submit(other, ready);
    const conflicted = compiled('False', 'OutsideDelegatedPrefix');
    const [second] = submit(other, conflicted);
    await first!.write();
    expect(compared.byObject.get(other)).toEqual({ status: conflicted, job: second });
  });
});

describe('a settled status (status-pass.ts)', () => {
  it('is not compared again while its object stays, and is once someone else edits the object’s status', async () => {
    // A Registry that exists: a gone one keeps no pass.
    const { compared, submit } = writing({
      apiVersion: 'portcullis.dev/v1alpha1',
      kind: 'Registry',
      metadata: { name: 'main', namespace: 'ns' },
      spec: { service: 'r' },
    });
    const ready = compiled('True', 'Compiled');
    const shown = grant({
      observedGeneration: 1,
      conditions: [
        { type: 'Ready', status: 'True', reason: 'Compiled', message: 'Compiled', observedGeneration: 1, lastTransitionTime: '2026-11-28T00:00:00Z' },
      ],
    });
    expect(submit(shown, ready)).toEqual([]);
    // Settled: the comparison is not made again (a forgotten comparison would otherwise be made anew).
    compared.byObject.delete(shown);
    expect(submit(shown, ready)).toEqual([]);
    expect(compared.byObject.has(shown)).toBe(false);
    // A tenant (or anyone with status rights) marks the grant Ready for a wider scope: the informer's new
    // object at the same place is compared, and the compiled status is written back over it.
    const forged = grant({ observedGeneration: 1, conditions: [{ type: 'Ready', status: 'True', reason: 'Forged', message: 'team-b/** too' }] });
    const [job] = submit(forged, ready);
    expect(job?.content).toContain('"reason":"Compiled"');
  });
});

describe("a first start's status writes, answered", () => {
  it('call for nothing once the cache shows them, past the status pass limit; a status forged after them is written back', async () => {
    const registry: RegistryResource = {
      apiVersion: 'portcullis.dev/v1alpha1',
      kind: 'Registry',
      metadata: { name: 'main', namespace: 'ns' },
      spec: { service: 'r' },
    };
    const submissions: StatusJob[][] = [];
    const queue = { submit: (_key: string, jobs: readonly StatusJob[]) => void submissions.push([...jobs]) } as unknown as StatusQueue;
    // Each write is answered at resourceVersion "<name>-written".
    const client = {
      apply: async (_path: string, body: { metadata: { name: string } }) => ({
        metadata: { ...body.metadata, resourceVersion: `${body.metadata.name}-written` },
      }),
    } as unknown as KubeClient;
    const compared = statusComparisons();
    const deps = { client, events: {} as EventRecorder, now: () => new Date('2026-11-28T00:00:00Z'), queue, compared };
    const named = (name: string, resourceVersion: string, status?: RepositoryGrantResource['status']): RepositoryGrantResource => ({
      ...grant(status),
      metadata: { name, namespace: 'ns', generation: 1, resourceVersion },
    });
    const names = Array.from({ length: 1500 }, (_, i) => `g${String(i).padStart(4, '0')}`);
    const statuses = names.map((name): ObjectStatus => ({ ...compiled('True', 'Compiled'), name }));
    const submit = (grants: RepositoryGrantResource[]): StatusJob[] => {
      submitObjectStatuses(deps, { registryKey: 'ns/main', registry, users: [], grants, statuses, generation: 'g1', snapshotWritten: false });
      return submissions[submissions.length - 1]!;
    };

    const jobs = submit(names.map((name) => named(name, '1')));
    expect(jobs).toHaveLength(1500);
    for (const job of jobs) await job.write();

    const shown = { observedGeneration: 1, conditions: [{ type: 'Ready', status: 'True', reason: 'Compiled', message: 'Compiled', observedGeneration: 1 }] };
    const cached = names.map((name) => named(name, `${name}-written`, shown as RepositoryGrantResource['status']));
    // g0007 was edited by someone else after our write: its version is not the one our write was answered with.
    cached[7] = named('g0007', '99', { conditions: [{ type: 'Ready', status: 'True', reason: 'Forged', message: 'team-b/** too' }] });
    const again = submit(cached);
    expect(again.map((j) => j.key)).toEqual(['RepositoryGrant/ns/g0007']);
    expect(again[0]?.content).toContain('"reason":"Compiled"');
    expect(compared.written.size).toBe(0);
    // Later a status compiled anew for an answered object: compared in full, and written.
    const withdrawn = statuses.map((s, i): ObjectStatus => (i === 3 ? { ...compiled('False', 'Withdrawn'), name: s.name } : s));
    submitObjectStatuses(deps, { registryKey: 'ns/main', registry, users: [], grants: cached, statuses: withdrawn, generation: 'g1', snapshotWritten: false });
    expect(submissions[submissions.length - 1]!.map((j) => j.key)).toEqual(['RepositoryGrant/ns/g0003', 'RepositoryGrant/ns/g0007']);
  });
});
