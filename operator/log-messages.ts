// The operator's log lines that other code reads back: bench:operator prints them per grant change and
// the status-backlog integration test waits for them. One spelling here, so a renamed line cannot leave
// a reader silently finding nothing.

import { MANAGED_SELECTOR } from '../wire/labels.js';

export const OperatorLogMessages = {
  /** Debug: one reconcile's phases (operator/controllers/registry.ts). */
  reconciled: 'registry reconciled',
  /** Debug: a Registry's status writes drained; it is reconciled once more (operator/main.ts). */
  statusesDrained: 'status writes drained; reconciling to take in their answers',
  /**
   * Warn, at start: neither --registry-namespaces nor --namespace, so every ConfigMap and Secret anyone
   * labels managed-by=portcullis-operator, anywhere, is cached with its data (operator/main.ts).
   */
  ownedObjectsClusterWide:
    `caching ConfigMaps and Secrets labelled ${MANAGED_SELECTOR} from every namespace, with their data: ` +
    'anyone who may create one anywhere can fill this process; pass --registry-namespaces with the namespaces that hold Registries ' +
    '(the RBAC of deploy/rbac and of the chart lets it read ConfigMaps and Deployments only there: without the flag its watches are forbidden)',
  /**
   * Warn, at start: neither --retention-namespaces nor --namespace, so the operator creates retention
   * CronJobs wherever a scheduled RetentionPolicy is, and holds the rights to do so in every namespace.
   */
  retentionRunsAnyNamespace:
    'scheduled retention runs (a CronJob, its ServiceAccount and RoleBinding) may be created in any namespace, so this operator ' +
    'must hold the rights to create them, and so to start pods, in every namespace; pass --retention-namespaces with the ' +
    'namespaces that may schedule RetentionPolicies (the chart: operator.retentionNamespaces)',
  /**
   * Info, at start: neither --secret-namespaces nor --namespace, so Secrets are read wherever a
   * RegistryUser may be, and the operator holds the right to read every Secret in the cluster. Info, not
   * warn: the chart's default, kept so a namespace delegated later works without a chart change.
   */
  secretsAnyNamespace:
    'reading Secrets in every namespace (their metadata, and the password Secrets users name), so this operator must hold the ' +
    'right to read every Secret; pass --secret-namespaces with the namespaces holding RegistryUsers (the chart: operator.secretNamespaces)',
  /** Info, at start, with --secret-namespaces: the namespaces Secrets are read in (operator/main.ts). */
  secretNamespaces: 'reading Secrets only in these namespaces',
  /** Info: a full collection gave memory back (bin/heap-compaction.ts). */
  heapCompacted: 'heap compacted',
  /** Debug: one collection pausing the process 50 ms or more (bin/gc-pauses.ts). */
  gcPause: 'gc pause',
  /** Debug: the time collections paused the process within one second. */
  gcTime: 'gc time',
} as const;
