// Whether a RetentionPolicy runs on a schedule, as a pure function of the policy and what the caches say:
// admitted (its Registry exists, admits its namespace, and every pattern lies within the namespace's
// prefixes: policy/retention/tenancy.ts), then scheduled, by hand, or suspended. The Ready condition says
// which, and why; only `scheduled` gets a CronJob.

import type { NamespaceInfo, RegistryResource, RetentionPolicyResource } from '../../../crds/types.js';
import { isRefusal } from '../../../policy/compile/status.js';
import { Reasons } from '../../../policy/reasons.js';
import { retentionScope } from '../../../policy/retention/tenancy.js';

export interface ScheduleDecision {
  /** Keep a CronJob for the policy. */
  scheduled: boolean;
  ready: { status: 'True' | 'False'; reason: string; message: string };
}

export function scheduleDecision(
  policy: RetentionPolicyResource,
  registries: ReadonlyMap<string, RegistryResource>,
  namespaces: ReadonlyMap<string, NamespaceInfo>,
): ScheduleDecision {
  const scope = retentionScope(policy, registries, namespaces);
  if (isRefusal(scope)) return { scheduled: false, ready: { status: 'False', ...scope.refused } };
  const covers = `covers ${scope.patterns.map((p) => JSON.stringify(p)).join(', ')} of Registry ${scope.registry}`;
  if (policy.spec.schedule === undefined || policy.spec.schedule === '') {
    return { scheduled: false, ready: { status: 'True', reason: Reasons.RunsByHand, message: `no schedule: runs by hand (portcullis retention); ${covers}` } };
  }
  if (policy.spec.suspend === true) {
    return { scheduled: false, ready: { status: 'True', reason: Reasons.RetentionSuspended, message: `suspended: scheduled runs stopped; ${covers}` } };
  }
  return { scheduled: true, ready: { status: 'True', reason: Reasons.RetentionScheduled, message: `runs on "${policy.spec.schedule}" (UTC); ${covers}` } };
}
