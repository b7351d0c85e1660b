// Whether a RetentionPolicy runs on a schedule, as a pure function of the policy and what the caches say:
// admitted (its Registry exists, admits its namespace, and every pattern lies within the namespace's
// prefixes: policy/retention/tenancy.ts), then scheduled, by hand, or suspended. The Ready condition says
// which, and why; only `scheduled` gets a CronJob. An operator confined to some namespaces
// (--retention-namespaces) refuses a schedule elsewhere: it could not create the CronJob there, and a
// refusal it states beats a 403 it retries forever.

import type { NamespaceInfo, RegistryResource, RetentionPolicyResource } from '../../../crds/types.js';
import { isRefusal } from '../../../policy/compile/status.js';
import { namespaceOf } from '../../../policy/object-keys.js';
import { Reasons } from '../../../policy/reasons.js';
import { retentionScope } from '../../../policy/retention/tenancy.js';

export interface ScheduleDecision {
  /** Keep a CronJob for the policy. */
  scheduled: boolean;
  ready: { status: 'True' | 'False'; reason: string; message: string };
}

/** `served`: the operator may create scheduled runs in the policy's namespace (--retention-namespaces). */
export function scheduleDecision(
  policy: RetentionPolicyResource,
  registries: ReadonlyMap<string, RegistryResource>,
  namespaces: ReadonlyMap<string, NamespaceInfo>,
  served = true,
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
  if (!served) {
    const namespace = namespaceOf(policy);
    // The served namespaces stay out of the message: a tenant reads it, and they are other tenants' names.
    const message =
      `schedule "${policy.spec.schedule}" not run: the operator creates scheduled runs only in the namespaces it is given ` +
      `(--retention-namespaces, the chart's operator.retentionNamespaces), and ${namespace} is not one of them, so it makes no CronJob here; ` +
      `add ${namespace} there, or run the policy by hand (portcullis retention); ${covers}`;
    return { scheduled: false, ready: { status: 'False', reason: Reasons.RetentionNamespaceNotServed, message } };
  }
  return { scheduled: true, ready: { status: 'True', reason: Reasons.RetentionScheduled, message: `runs on "${policy.spec.schedule}" (UTC); ${covers}` } };
}
