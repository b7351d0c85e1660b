// deploy/rbac/operator.yaml with Secret reads confined as its header describes (and as the chart does with
// operator.secretNamespaces): the Secrets rule leaves the operator's ClusterRole for a
// portcullis-operator-secrets ClusterRole bound by a RoleBinding in each given namespace only.
import { kubectl, type ControlPlane } from '../../local/controlPlane.js';
import { waitFor } from '../../local/process.js';
import type { KubeClient } from '../../kube/request.js';
import { serviceAccountMay } from './access-review.js';

const RBAC = 'rbac.authorization.k8s.io';
export const OPERATOR_ACCOUNT = { namespace: 'portcullis-system', name: 'portcullis-operator' };

/** Applies deploy/rbac's operator RBAC with Secrets readable in `namespaces` alone; resolves once the API server judges so. */
export async function applyOperatorRbacWithSecretsIn(cp: ControlPlane, admin: KubeClient, namespaces: readonly string[]): Promise<void> {
  const r = await kubectl(cp, ['apply', '-f', 'deploy/rbac/operator.yaml']);
  if (r.code !== 0) throw new Error(`kubectl apply: ${r.stderr}`);
  const path = `/apis/${RBAC}/v1/clusterroles/portcullis-operator`;
  const role = await admin.get<{ rules: { resources: string[] }[] }>(path);
  await admin.request('PUT', path, { body: { ...role, rules: role.rules.filter((rule) => !rule.resources.includes('secrets')) } });
  await admin.request('POST', `/apis/${RBAC}/v1/clusterroles`, {
    body: {
      apiVersion: `${RBAC}/v1`,
      kind: 'ClusterRole',
      metadata: { name: 'portcullis-operator-secrets' },
      rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['get', 'list', 'watch'] }],
    },
  });
  for (const namespace of namespaces) {
    await admin.request('POST', `/apis/${RBAC}/v1/namespaces/${namespace}/rolebindings`, {
      body: {
        apiVersion: `${RBAC}/v1`,
        kind: 'RoleBinding',
        metadata: { name: 'portcullis-operator-secrets' },
        roleRef: { apiGroup: RBAC, kind: 'ClusterRole', name: 'portcullis-operator-secrets' },
        subjects: [{ kind: 'ServiceAccount', ...OPERATOR_ACCOUNT }],
      },
    });
  }
  const mayList = (namespace?: string) =>
    serviceAccountMay(admin, OPERATOR_ACCOUNT, { verb: 'list', group: '', resource: 'secrets', ...(namespace === undefined ? {} : { namespace }) });
  await waitFor('Secret reads confined', async () => !(await mayList()) && (await Promise.all(namespaces.map((n) => mayList(n)))).every(Boolean), 30_000);
}
