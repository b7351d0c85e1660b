// The retention controller: for each RetentionPolicy, the Ready condition (admitted, scheduled, by hand,
// suspended, or why not) and, for a scheduled one, the CronJob that runs it, with the ServiceAccount and
// RoleBinding it runs as in the policy's namespace. A policy that is not scheduled (no schedule,
// suspended, or refused: an attack from a tenant namespace must never get a CronJob) loses the CronJob we
// made for it. The ServiceAccount and RoleBinding go when no policy of the namespace has a schedule.
// Deleting the policy garbage-collects its CronJob through the owner reference; the controller also
// deletes it, so nothing waits on the garbage collector. With --retention-namespaces the operator may
// write only in those namespaces: a policy elsewhere gets its Ready condition (a status write, allowed
// everywhere) and no request for a CronJob, ServiceAccount or RoleBinding, not even a read.

import type { Logger } from 'pino';
import type { NamespaceInfo, RegistryResource, RetentionPolicyResource } from '../../../crds/types.js';
import type { Informer } from '../../../kube/informer.js';
import { getIfExists, KubeApiError, objectPath, Resources, type KubeClient } from '../../../kube/request.js';
import { namespaceOf, objectKey, splitKey } from '../../../policy/object-keys.js';
import { ConditionTypes, Reasons } from '../../../policy/reasons.js';
import { Labels, MANAGED_BY } from '../../../wire/labels.js';
import { namespaceInfos } from '../../caches.js';
import { servesNamespace } from '../../served-namespaces.js';
import type { ReconcileResult } from '../../reconciler.js';
import { applyObject, deleteObject } from '../../writes/apply.js';
import { statusUpdate, writeStatus } from '../../writes/status.js';
import type { NamespaceObject } from '../registry.js';
import { scheduleDecision, type ScheduleDecision } from './decision.js';
import {
  cronJobName,
  cronJobs,
  RETENTION_POLICY_LABEL,
  RETENTION_ROLE_BINDING,
  RETENTION_SERVICE_ACCOUNT,
  retentionCronJob,
  retentionRoleBinding,
  retentionServiceAccount,
  roleBindings,
  serviceAccounts,
} from './schedule-objects.js';

export interface RetentionCaches {
  retentionPolicies: Informer<RetentionPolicyResource>;
  registries: Informer<RegistryResource>;
  namespaces: Informer<NamespaceObject>;
}

export interface RetentionControllerOptions {
  client: KubeClient;
  caches: RetentionCaches;
  log: Logger;
  /** The image scheduled runs use: the Portcullis image (`--retention-image`). */
  image: string;
  /** The ClusterRole the runs are bound to (`--retention-cluster-role`). Default portcullis-retention. */
  clusterRole?: string;
  /** The only namespaces it may create runs in (`--retention-namespaces`); undefined: every namespace. */
  retentionNamespaces?: readonly string[];
  now?: () => Date;
  /** A scheduled policy is looked at again this often, so a CronJob someone deleted comes back. Default 10 min. */
  recheckMs?: number;
}

interface OwnedObject {
  metadata: { labels?: Record<string, string>; ownerReferences?: { uid: string }[] };
}

export class RetentionScheduleController {
  constructor(private readonly options: RetentionControllerOptions) {}

  readonly reconcile = async (key: string): Promise<ReconcileResult | void> => {
    const { caches, client } = this.options;
    const { namespace, name } = splitKey(key);
    const registries = new Map(caches.registries.list().map((r) => [objectKey(r), r]));
    const namespaces = namespaceInfos(caches);
    const policy = caches.retentionPolicies.get(key);
    const writes = this.writesIn(namespace);
    if (policy === undefined) {
      if (!writes) return;
      await this.removeCronJob(namespace, name, undefined);
      await this.removeSharedObjectsIfUnused(namespace, registries, namespaces);
      return;
    }
    let decision = this.decide(policy, registries, namespaces);
    if (decision.scheduled) {
      await applyObject(client, serviceAccounts, retentionServiceAccount(namespace));
      await applyObject(client, roleBindings, retentionRoleBinding(namespace, this.options.clusterRole));
      try {
        await applyObject(client, cronJobs, retentionCronJob(policy, this.options.image));
      } catch (error) {
        // The CRD checks the schedule's shape; the CronJob's own validation (e.g. minute 99) has the last word.
        if (!(error instanceof KubeApiError && error.code === 422)) throw error;
        decision = { scheduled: false, ready: { status: 'False', reason: Reasons.InvalidSpec, message: `the CronJob was refused: ${error.message}` } };
      }
    }
    if (!decision.scheduled && writes) {
      await this.removeCronJob(namespace, name, policy.metadata.uid);
      await this.removeSharedObjectsIfUnused(namespace, registries, namespaces);
    }
    await this.writeReady(policy, decision.ready);
    if (decision.scheduled) this.options.log.debug({ policy: key }, 'retention scheduled');
    return decision.scheduled ? { requeueAfterMs: this.options.recheckMs ?? 10 * 60_000 } : undefined;
  };

  private writesIn(namespace: string): boolean {
    return servesNamespace(this.options.retentionNamespaces, namespace);
  }

  private decide(
    policy: RetentionPolicyResource,
    registries: ReadonlyMap<string, RegistryResource>,
    namespaces: ReadonlyMap<string, NamespaceInfo>,
  ): ScheduleDecision {
    return scheduleDecision(policy, registries, namespaces, this.writesIn(namespaceOf(policy)));
  }

  private async writeReady(policy: RetentionPolicyResource, ready: { status: 'True' | 'False'; reason: string; message: string }): Promise<void> {
    const generation = policy.metadata.generation;
    const update = statusUpdate(
      policy.status,
      { ...(generation === undefined ? {} : { observedGeneration: generation }), conditions: [{ type: ConditionTypes.Ready, ...ready }] },
      (this.options.now ?? (() => new Date()))(),
    );
    if (update === undefined) return;
    await writeStatus(
      this.options.client,
      { resource: Resources.retentionPolicies, apiVersion: policy.apiVersion, kind: 'RetentionPolicy' },
      namespaceOf(policy),
      policy.metadata.name,
      update,
    );
  }

  /** Deletes the policy's CronJob if we made it (our label names this policy; the owner is this policy when known). */
  private async removeCronJob(namespace: string, policyName: string, uid: string | undefined): Promise<void> {
    const name = cronJobName(policyName);
    const existing = await this.getOwned(objectPath(cronJobs, namespace, name));
    if (existing === undefined || existing.metadata.labels?.[RETENTION_POLICY_LABEL] !== policyName) return;
    if (uid !== undefined && !(existing.metadata.ownerReferences ?? []).some((o) => o.uid === uid)) return;
    await deleteObject(this.options.client, cronJobs, namespace, name);
    this.options.log.info({ namespace, policy: policyName, cronJob: name }, 'retention CronJob removed');
  }

  /**
   * The shared ServiceAccount and RoleBinding stay only while a policy of the namespace is scheduled: a
   * refused policy with a schedule does not keep the runner's rights alive.
   */
  private async removeSharedObjectsIfUnused(
    namespace: string,
    registries: ReadonlyMap<string, RegistryResource>,
    namespaces: ReadonlyMap<string, NamespaceInfo>,
  ): Promise<void> {
    const scheduled = this.options.caches.retentionPolicies
      .list()
      .some((p) => namespaceOf(p) === namespace && this.decide(p, registries, namespaces).scheduled);
    if (scheduled) return;
    for (const [resource, name] of [
      [roleBindings, RETENTION_ROLE_BINDING],
      [serviceAccounts, RETENTION_SERVICE_ACCOUNT],
    ] as const) {
      const existing = await this.getOwned(objectPath(resource, namespace, name));
      if (existing?.metadata.labels?.[Labels.managedBy] === MANAGED_BY) await deleteObject(this.options.client, resource, namespace, name);
    }
  }

  private getOwned(path: string): Promise<OwnedObject | undefined> {
    return getIfExists<OwnedObject>(this.options.client, path);
  }
}
