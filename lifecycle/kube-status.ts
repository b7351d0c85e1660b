// Where a run is recorded: the RetentionPolicy's status subresource, status.lastRun and the
// LastRunSucceeded condition, with the caller's kubeconfig (RBAC: patch on retentionpolicies/status).
// A merge patch replaces lists whole, so the policy's other conditions (Ready, from the operator) are
// read first and written back beside this one; the patch carries the resourceVersion read, and a
// conflict (someone wrote meanwhile) is read and patched again.

import type { Condition, RetentionPolicyResource, RetentionRunSummary } from '../crds/types.js';
import { isConflict, MERGE_PATCH, objectPath, type KubeClient, type ResourceType } from '../kube/request.js';
import type { StatusSink } from './sources.js';

export const RETENTION_POLICIES: ResourceType = { base: '/apis/portcullis.dev/v1alpha1', plural: 'retentionpolicies', namespaced: true };

const ATTEMPTS = 3;

/** The conditions with `next` in place of its type's old entry; the transition time kept while the status is unchanged. */
export function withCondition(conditions: readonly Condition[], next: Condition, now: Date): Condition[] {
  const old = conditions.find((c) => c.type === next.type);
  const lastTransitionTime =
    old !== undefined && old.status === next.status && old.lastTransitionTime !== undefined ? old.lastTransitionTime : now.toISOString();
  return [...conditions.filter((c) => c.type !== next.type), { ...next, lastTransitionTime }];
}

export class KubeStatusSink implements StatusSink {
  constructor(
    private readonly client: KubeClient,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async record(policy: { namespace: string; name: string }, lastRun: RetentionRunSummary, condition: Condition): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const current = await this.client.get<RetentionPolicyResource & { status?: { conditions?: Condition[] } }>(
        objectPath(RETENTION_POLICIES, policy.namespace, policy.name),
      );
      const conditions = withCondition(current.status?.conditions ?? [], { ...condition, observedGeneration: current.metadata.generation ?? 0 }, this.now());
      try {
        await this.client.request('PATCH', objectPath(RETENTION_POLICIES, policy.namespace, policy.name, 'status'), {
          contentType: MERGE_PATCH,
          // A merge patch keeps what it does not name: the last run's optional fields are named, null when
          // absent, or a previous run's would outlive it (leftAlone listing a repository planned since).
          body: { metadata: { resourceVersion: current.metadata.resourceVersion }, status: { lastRun: withAbsentAsNull(lastRun), conditions } },
        });
        return;
      } catch (error) {
        if (!isConflict(error) || attempt >= ATTEMPTS) throw error;
      }
    }
  }
}

/** The run summary with its optional fields present, null where this run has none. */
export function withAbsentAsNull(lastRun: RetentionRunSummary): Record<string, unknown> {
  return { completionTime: null, bytesFreed: null, leftAlone: null, ...lastRun };
}
