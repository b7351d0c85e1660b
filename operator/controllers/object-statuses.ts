// Writing what compileSnapshot says about each object to its status, and an Event when its Ready
// condition (or a Conflicted one) changes. Only statuses that differ from what the object shows are
// handed to the StatusQueue (writes/status-queue.ts), which writes them in the background, a bounded
// number at a time, newest first, so the reconcile does not wait for them; the Events follow in slots no
// status wants.

import { API_VERSION, type RegistryResource, type RegistryUserResource, type RepositoryGrantResource } from '../../crds/types.js';
import { Resources, type KubeClient, type ResourceType } from '../../kube/request.js';
import { BoundedMap } from '../../policy/bounded-map.js';
import { objectKey } from '../../policy/object-keys.js';
import { ConditionTypes } from '../../policy/reasons.js';
import type { ObjectStatus } from '../../policy/snapshot.js';
import { usernameOf } from '../../policy/compile/users.js';
import type { EventRecorder, EventType } from '../writes/events.js';
import type { FollowUp, StatusJob, StatusQueue } from '../writes/status-queue.js';
import { stableJson, statusUpdate, writeStatus } from '../writes/status.js';
import type { OwnWrites } from '../own-writes.js';
import { StatusPasses } from './status-pass.js';

type Compiled = RegistryResource | RegistryUserResource | RepositoryGrantResource;

const KIND_RESOURCE: Record<ObjectStatus['kind'], ResourceType> = {
  Registry: Resources.registries,
  RegistryUser: Resources.registryUsers,
  RepositoryGrant: Resources.repositoryGrants,
};

/** The condition types the Registry controller writes; one missing from a new status is removed. */
const OWNED_CONDITIONS = [ConditionTypes.Ready, ConditionTypes.Conflicted];

function conditionOf(conditions: { type: string; status: string; reason: string; message: string }[] | undefined, type: string) {
  return conditions?.find((c) => c.type === type);
}

export interface StatusWriteInput {
  registryKey: string;
  registry: RegistryResource | undefined;
  users: readonly RegistryUserResource[];
  grants: readonly RepositoryGrantResource[];
  statuses: readonly ObjectStatus[];
  /** The published snapshot's generation, shown on the Registry. */
  generation: string | undefined;
  /** The Registry's SnapshotPublished Event already said it is Ready: no second Event. */
  snapshotWritten: boolean;
}

interface Work {
  status: ObjectStatus;
  object: Compiled;
  update: Record<string, unknown>;
  content: string;
}

/** One per controller: a job holds that controller's client and Event recorder. */
export interface StatusComparisons {
  /**
   * Per cached object (the informer hands out a new object on every change, status writes included): the
   * compiled status it was last compared with, and the job that called for (none when equal).
   */
  byObject: WeakMap<Compiled, { status: ObjectStatus; job: StatusJob | undefined }>;
  /**
   * Per object written, by `kind/namespace/name`: the resourceVersion our status write was answered with
   * and the status it wrote, until the object in the cache is compared. A cached object at that version
   * holds exactly that status, so it needs no comparison. Without this, the first reconcile after a first
   * start's writes compared every object again (200,000 at 100,000 users and grants, seconds of CPU that
   * held up the next change).
   */
  written: BoundedMap<{ resourceVersion: string; status: ObjectStatus }>;
  /** Per Registry, the last pass: which statuses can skip their comparison (status-pass.ts). */
  passes: StatusPasses<Compiled>;
}

/** Bounds `written` should the cache never show a written version (the object changed again first). */
const MAX_WRITTEN = 250_000;

export function statusComparisons(): StatusComparisons {
  const byObject = new WeakMap<Compiled, { status: ObjectStatus; job: StatusJob | undefined }>();
  const written = new BoundedMap<{ resourceVersion: string; status: ObjectStatus }>(MAX_WRITTEN);
  const passes = new StatusPasses<Compiled>(
    (o, kind) => cachedKeyOf(kind, o),
    keyOf,
    (before, after, kind) => answeredWrite(written, before, after, kind),
  );
  return { byObject, written, passes };
}

/**
 * `kind/namespace/name` of each compiled status and cached object, made once per object: both live through
 * many reconciles (the incremental compiler keeps an unchanged object's status, the informer an unchanged
 * object). At 100,000 users and grants this function took 0.8 s of a 2 s grant change (bench:operator,
 * CPU profile), most of it making 400,000 such strings and looking them up, on every reconcile.
 */
const keys = new WeakMap<ObjectStatus | Compiled, string>();

function keyOf(status: ObjectStatus): string {
  let key = keys.get(status);
  if (key === undefined) keys.set(status, (key = `${status.kind}/${status.namespace}/${status.name}`));
  return key;
}

function cachedKeyOf(kind: ObjectStatus['kind'], object: Compiled): string {
  let key = keys.get(object);
  if (key === undefined) keys.set(object, (key = `${kind}/${objectKey(object)}`));
  return key;
}

/**
 * Whether the cached `after` is the answer to our status write of `before` (see `written`): then the status
 * written, which `after` shows, and the key. Found by position (status-pass.ts), so a first start's
 * 200,000 answered writes at 100,000 users and grants cost no key built and no full pass; the pass
 * settles them, and one compared later (its compiled status changed) is compared in full.
 */
function answeredWrite(
  written: StatusComparisons['written'],
  before: Compiled,
  after: Compiled,
  kind: 'RegistryUser' | 'RepositoryGrant',
): { status: ObjectStatus; key: string } | undefined {
  const key = cachedKeyOf(kind, before);
  const record = written.get(key);
  // A resourceVersion names one version of one object: the one our write made.
  if (record === undefined || record.resourceVersion !== after.metadata.resourceVersion) return undefined;
  written.delete(key);
  return { status: record.status, key };
}

/** The comparison known for a cached object that shows our own status write of `status` (see `written`). */
function writtenAs(compared: StatusComparisons, key: string, object: Compiled, status: ObjectStatus): { status: ObjectStatus; job: undefined } | undefined {
  const written = compared.written.get(key);
  if (written === undefined) return undefined;
  compared.written.delete(key);
  if (written.resourceVersion !== object.metadata.resourceVersion || written.status !== status) return undefined;
  const known = { status, job: undefined };
  compared.byObject.set(object, known);
  return known;
}

export function submitObjectStatuses(
  deps: { client: KubeClient; events: EventRecorder; now: () => Date; queue: StatusQueue; compared: StatusComparisons; ownWrites?: OwnWrites },
  input: StatusWriteInput,
): void {
  const pass = deps.compared.passes.plan(input.registryKey, input.users, input.grants, input.statuses);
  const objectOf = (status: ObjectStatus): Compiled | undefined =>
    status.kind === 'Registry' ? (status.namespace + '/' + status.name === input.registryKey ? input.registry : undefined) : pass.objects.get(keyOf(status));
  const write = async ({ status, object, update }: Work): Promise<void> => {
    const target = { resource: KIND_RESOURCE[status.kind], apiVersion: API_VERSION, kind: status.kind };
    const written = (): ReturnType<typeof writeStatus> => writeStatus(deps.client, target, status.namespace, status.name, update);
    // The Registry's status changes with every publish, and Registry events queue a reconcile (users' and
    // grants' status-only events do not: triggers.ts); its echo must not.
    if (status.kind === 'Registry') {
      if (deps.ownWrites !== undefined) await deps.ownWrites.write('Registry', status.namespace, status.name, written);
      else await written();
      return;
    }
    const answer = await written();
    const resourceVersion = answer?.metadata?.resourceVersion;
    if (resourceVersion) deps.compared.written.set(keyOf(status), { resourceVersion, status });
    // This version of the object is answered: compared again, it calls for nothing (the queue would drop
    // the write as done). Its job is let go: the compile memos keep the version a status write replaced
    // (same generation), and with it this entry, whose closures hold the whole reconcile's input. At
    // 10,000 users and grants, a first start's written jobs held 49 MB of the operator's 165 MB heap.
    if (deps.compared.byObject.get(object)?.status === status) deps.compared.byObject.set(object, { status, job: undefined });
  };
  // The Events a written status calls for, recorded after it in a slot no status wants (best effort).
  const followUp = ({ status, object }: Work): FollowUp | undefined => {
    const regarding = { apiVersion: API_VERSION, kind: status.kind, metadata: object.metadata };
    const events: [EventType, string, string][] = [];
    const before = conditionOf(object.status?.conditions, ConditionTypes.Ready);
    const after = conditionOf(status.conditions, ConditionTypes.Ready);
    if (
      after &&
      (before?.status !== after.status || before.reason !== after.reason) &&
      !(status.kind === 'Registry' && input.snapshotWritten && after.status === 'True')
    ) {
      events.push([after.status === 'True' ? 'Normal' : 'Warning', after.reason, after.message]);
    }
    const conflict = conditionOf(status.conditions, ConditionTypes.Conflicted);
    if (conflict && conditionOf(object.status?.conditions, ConditionTypes.Conflicted)?.reason !== conflict.reason) {
      events.push(['Warning', conflict.reason, conflict.message]);
    }
    if (events.length === 0) return undefined;
    return {
      warning: events.some(([type]) => type === 'Warning'),
      run: async () => {
        for (const [type, reason, message] of events) await deps.events.record(regarding, type, reason, message);
      },
    };
  };
  const jobOf = (w: Work): StatusJob => {
    const then = followUp(w);
    return { key: keyOf(w.status), content: w.content, write: () => write(w), ...(then ? { followUp: then } : {}) };
  };
  const pending = new Set<number>();
  const jobs: StatusJob[] = [];
  // A plain loop: at 100,000 users and grants this walks 200,000 statuses per reconcile, most of them settled.
  for (let i = 0; i < input.statuses.length; i++) {
    const status = input.statuses[i] as ObjectStatus;
    if (status.kind !== 'Registry' && pass.settled(i)) continue;
    const job = jobFor(status);
    if (job === undefined) continue;
    jobs.push(job);
    pending.add(i);
  }
  pass.finish(pending);
  // A Registry that is gone keeps no pass (its objects' statuses are few and written once).
  if (input.registry === undefined) deps.compared.passes.forget(input.registryKey);
  deps.queue.submit(input.registryKey, jobs);
  function jobFor(status: ObjectStatus): StatusJob | undefined {
    const key = keyOf(status);
    const object = objectOf(status);
    if (!object) return undefined;
    // The same cached object against the same compiled status (the incremental compiler keeps an unchanged
    // object's status): the comparison's outcome is known. At 10,000 users and grants the comparisons were
    // 80% of a reconcile's time. The Registry's status carries the generation and counts: always compared.
    const known = status.kind === 'Registry' ? undefined : (deps.compared.byObject.get(object) ?? writtenAs(deps.compared, key, object, status));
    if (known?.status === status) return known.job;
    const extra: Record<string, unknown> = {};
    if (status.kind === 'Registry') {
      if (status.counts) Object.assign(extra, status.counts);
      if (input.generation !== undefined) extra.snapshotGeneration = input.generation;
    }
    // `kubectl get registryusers` shows the name in effect, also when spec.username defaults to the object's.
    if (status.kind === 'RegistryUser') extra.username = usernameOf(object as RegistryUserResource);
    const desired = {
      ...(status.observedGeneration !== undefined ? { observedGeneration: status.observedGeneration } : {}),
      conditions: status.conditions,
      extra,
      owns: OWNED_CONDITIONS,
    };
    const update = statusUpdate(object.status, desired, deps.now());
    const job = update ? jobOf({ status, object, update, content: stableJson(desired) }) : undefined;
    if (status.kind !== 'Registry') deps.compared.byObject.set(object, { status, job });
    return job;
  }
}
