// What the operator creates in a RetentionPolicy's namespace so the policy runs on its schedule: the
// ServiceAccount and RoleBinding every policy of the namespace shares (bound to the ClusterRole
// portcullis-retention, deploy/retention/rbac.yaml), and one CronJob per policy running the Portcullis
// image as `portcullis retention --registry NS/NAME -n NS --policy NAME`. Pure builders: the controller
// applies them. The pod gets no automatic service-account token, only a projected one that expires, and
// runs as non-root on a read-only root filesystem.

import { createHash } from 'node:crypto';
import type { RetentionPolicyResource } from '../../../crds/types.js';
import type { ResourceType } from '../../../kube/request.js';
import { namespaceOf, registryKeyOf } from '../../../policy/object-keys.js';
import { Labels, MANAGED_BY } from '../../../wire/labels.js';
import { controllerReference, type AppliedObject } from '../../writes/apply.js';

export const RETENTION_SERVICE_ACCOUNT = 'portcullis-retention';
export const RETENTION_ROLE_BINDING = 'portcullis-retention';
export const RETENTION_CLUSTER_ROLE = 'portcullis-retention';
/** On the CronJob and its pods: the RetentionPolicy (same namespace) it runs. */
export const RETENTION_POLICY_LABEL = 'portcullis.dev/retention-policy';

export const cronJobs: ResourceType = { base: '/apis/batch/v1', plural: 'cronjobs', namespaced: true };
export const serviceAccounts: ResourceType = { base: '/api/v1', plural: 'serviceaccounts', namespaced: true };
export const roleBindings: ResourceType = { base: '/apis/rbac.authorization.k8s.io/v1', plural: 'rolebindings', namespaced: true };

const PREFIX = 'portcullis-retention-';
/** A CronJob's name leaves 11 characters for the Jobs it creates: 52 at most. */
const MAX_CRONJOB_NAME = 52;
/** A token that outlives the longest run by little; the kubelet refreshes it anyway. */
const TOKEN_SECONDS = 3607;
/** A run that takes longer than this is stopped; the next schedule tries again. */
const RUN_DEADLINE_SECONDS = 3 * 3600;
const TOKEN_MOUNT = '/var/run/secrets/kubernetes.io/serviceaccount';

/** `portcullis-retention-<policy>`, shortened with a hash of the full name when that is too long. */
export function cronJobName(policyName: string): string {
  const full = `${PREFIX}${policyName}`;
  if (full.length <= MAX_CRONJOB_NAME) return full;
  const hash = createHash('sha256').update(policyName).digest('hex').slice(0, 8);
  const kept = policyName.slice(0, MAX_CRONJOB_NAME - PREFIX.length - hash.length - 1).replace(/[-.]+$/, '');
  return `${PREFIX}${kept}-${hash}`;
}

function labels(policyName?: string): Record<string, string> {
  return {
    [Labels.managedBy]: MANAGED_BY,
    'app.kubernetes.io/name': 'portcullis',
    'app.kubernetes.io/component': 'retention',
    ...(policyName === undefined ? {} : { [RETENTION_POLICY_LABEL]: policyName }),
  };
}

export function retentionServiceAccount(namespace: string): AppliedObject {
  return {
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: { name: RETENTION_SERVICE_ACCOUNT, namespace, labels: labels() },
    automountServiceAccountToken: false,
  };
}

/** Binds `clusterRole` (portcullis-retention, or the chart's `<release>-retention`) to the runner's ServiceAccount. */
export function retentionRoleBinding(namespace: string, clusterRole: string = RETENTION_CLUSTER_ROLE): AppliedObject {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: { name: RETENTION_ROLE_BINDING, namespace, labels: labels() },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: clusterRole },
    subjects: [{ kind: 'ServiceAccount', name: RETENTION_SERVICE_ACCOUNT, namespace }],
  };
}

/** The arguments of a scheduled run. */
export function retentionArgs(policy: RetentionPolicyResource): string[] {
  const namespace = namespaceOf(policy);
  return ['retention', '--registry', registryKeyOf(policy), '-n', namespace, '--policy', policy.metadata.name];
}

export function retentionCronJob(policy: RetentionPolicyResource & { metadata: { uid?: string } }, image: string): AppliedObject {
  const namespace = namespaceOf(policy);
  const name = policy.metadata.name;
  const podLabels = labels(name);
  return {
    apiVersion: 'batch/v1',
    kind: 'CronJob',
    metadata: { name: cronJobName(name), namespace, labels: podLabels, ownerReferences: [controllerReference(policy)] },
    spec: {
      schedule: policy.spec.schedule,
      timeZone: 'Etc/UTC',
      // Two runs of one policy at once would plan against each other's deletions.
      concurrencyPolicy: 'Forbid',
      startingDeadlineSeconds: 3600,
      successfulJobsHistoryLimit: 3,
      failedJobsHistoryLimit: 3,
      jobTemplate: {
        metadata: { labels: podLabels },
        spec: {
          // A failed run reports on the policy's status; the next schedule is the retry.
          backoffLimit: 0,
          activeDeadlineSeconds: RUN_DEADLINE_SECONDS,
          ttlSecondsAfterFinished: 7 * 86_400,
          template: {
            metadata: { labels: podLabels },
            spec: {
              serviceAccountName: RETENTION_SERVICE_ACCOUNT,
              automountServiceAccountToken: false,
              restartPolicy: 'Never',
              securityContext: { runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, seccompProfile: { type: 'RuntimeDefault' } },
              containers: [
                {
                  name: 'retention',
                  image,
                  args: retentionArgs(policy),
                  securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: { drop: ['ALL'] } },
                  resources: { requests: { cpu: '50m', memory: '128Mi' }, limits: { memory: '512Mi' } },
                  // The root filesystem is read-only; Node and TLS libraries may still want a scratch /tmp.
                  volumeMounts: [
                    { name: 'kube-api-access', mountPath: TOKEN_MOUNT, readOnly: true },
                    { name: 'tmp', mountPath: '/tmp' },
                  ],
                },
              ],
              volumes: [
                { name: 'tmp', emptyDir: { sizeLimit: '64Mi' } },
                {
                  name: 'kube-api-access',
                  projected: {
                    sources: [
                      { serviceAccountToken: { path: 'token', expirationSeconds: TOKEN_SECONDS } },
                      { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
                      { downwardAPI: { items: [{ path: 'namespace', fieldRef: { fieldPath: 'metadata.namespace' } }] } },
                    ],
                  },
                },
              ],
            },
          },
        },
      },
    },
  };
}
