// A namespace the operator is told to serve or read Secrets in can be deleted: a tenant's namespace goes,
// and the RoleBinding that let the operator watch it goes with it. Its watches then fail as forbidden
// for ever. Counted like the others, that one namespace kept every per-namespace cache unsynced, so at
// the next start no controller ran for any Registry, and the operator stayed unhealthy. Against a real
// API server and deploy/rbac's permissions: with `retired` (which does not exist) among both lists, the
// operator still starts, serves the Registry in `registry` and reads team-a's password Secret, and the
// caches report healthy. (A namespace deleted while the operator runs is the unit tests' case,
// kube/object-cache.test.ts: this control plane has no namespace controller to finish a deletion.)
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOperator, type RunningOperator } from '../../operator/main.js';
import { getIfExists, KubeClient, objectPath, Resources } from '../../kube/request.js';
import { kubectl, startControlPlane, type ControlPlane } from '../../local/controlPlane.js';
import { waitFor } from '../../local/process.js';
import { applyOperatorCrds } from '../support/crds.js';
import { applyOperatorRbacWithSecretsIn } from '../support/operator-rbac.js';

const API = 'portcullis.dev/v1alpha1';
const HTPASSWD = '$2y$04$qpWk4xMnvI3vbd3irWfnZeURM.f9S5N5AZw0FjrkJ3RJTGeW8yipO';
const OPERATOR = 'system:serviceaccount:portcullis-system:portcullis-operator';

interface Obj {
  status?: { conditions?: { type: string; status: string; reason: string }[] };
}

let cp: ControlPlane;
let admin: KubeClient;
let op: RunningOperator | undefined;

async function create(resource: keyof typeof Resources, namespace: string, body: Record<string, unknown>): Promise<void> {
  const res = Resources[resource];
  await admin.request('POST', `${res.base}/namespaces/${namespace}/${res.plural}`, { body });
}

const ready = async (namespace: string, name: string) =>
  (await getIfExists<Obj>(admin, objectPath(Resources.registryUsers, namespace, name)))?.status?.conditions?.find((c) => c.type === 'Ready');

beforeAll(async () => {
  cp = await startControlPlane();
  admin = new KubeClient(cp.kubeConfig);
  await applyOperatorCrds(cp);
  for (const name of ['registry', 'team-a']) {
    await admin.request('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name } } });
  }
  // deploy/rbac, with Secrets confined as its header describes: readable in `registry` and team-a only.
  await applyOperatorRbacWithSecretsIn(cp, admin, ['registry', 'team-a']);
  await create('registries', 'registry', {
    apiVersion: API,
    kind: 'Registry',
    metadata: { name: 'main' },
    spec: { service: 'main.example.com', delegation: [{ namespaces: { from: 'All' }, repositories: ['${namespace}/**'] }] },
  });
  await create('secrets', 'team-a', { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'alice-password' }, stringData: { htpasswd: HTPASSWD } });
  await create('registryUsers', 'team-a', {
    apiVersion: API,
    kind: 'RegistryUser',
    metadata: { name: 'alice' },
    spec: { registryRef: { name: 'main', namespace: 'registry' }, passwordSecretRef: { name: 'alice-password', key: 'htpasswd' } },
  });
  op = await startOperator({
    kubeConfig: (await cp.kubeconfigForServiceAccount('portcullis-system', 'portcullis-operator')).kubeConfig,
    log: pino({ level: process.env.PORTCULLIS_TEST_LOG ?? 'silent' }),
    leaderElect: false,
    registryNamespaces: ['registry', 'retired'],
    secretNamespaces: ['team-a', 'retired'],
  });
}, 180_000);

afterAll(async () => {
  await op?.stop();
  admin?.close();
  await cp?.stop();
});

describe('operator: a listed namespace that does not exist', () => {
  it('holds nothing: the operator starts and serves the rest, reading the listed password Secret', async () => {
    // Its watches there are refused (no RoleBinding can exist in a namespace that does not).
    const probe = await kubectl(cp, ['auth', 'can-i', 'list', 'secrets', '-n', 'retired', `--as=${OPERATOR}`]);
    expect(probe.stdout.trim()).toBe('no');
    await waitFor('alice Ready', async () => (await ready('team-a', 'alice'))?.status === 'True', 60_000);
    expect(op!.caches.secretMetadata.get('team-a/alice-password')).toBeDefined();
    for (const cache of [op!.caches.secretMetadata, op!.caches.configMaps, op!.caches.ownedSecrets, op!.caches.deployments]) {
      expect(cache.health()).toMatchObject({ synced: true, failing: false });
    }
  });
});
