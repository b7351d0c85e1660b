// The attack: anyone who may create a ConfigMap or Secret in some namespace labels it
// app.kubernetes.io/managed-by=portcullis-operator, and an operator watching that label cluster-wide
// caches it, data and all (100 such ConfigMaps of 1 MiB OOM-killed the chart's 384 Mi operator at every
// start). With --registry-namespaces, against a real API server and deploy/rbac's permissions: labelled
// objects in a namespace outside the list never reach the operator's caches, whether there before it
// started or created after; the Registry in the served namespace is still published (snapshot,
// credentials, keys) and its objects are in the caches; a Registry outside says why it is not served.
// Deployments likewise: a Registry's is in its own namespace, so only served namespaces' are cached.
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOperator, type RunningOperator } from '../../operator/main.js';
import { getIfExists, KubeClient, objectPath, Resources } from '../../kube/request.js';
import { kubectl, startControlPlane, type ControlPlane } from '../../local/controlPlane.js';
import { freePort, waitFor } from '../../local/process.js';
import { Labels, MANAGED_BY } from '../../wire/labels.js';
import { applyOperatorCrds } from '../support/crds.js';

const API = 'portcullis.dev/v1alpha1';
const HTPASSWD = '$2y$04$qpWk4xMnvI3vbd3irWfnZeURM.f9S5N5AZw0FjrkJ3RJTGeW8yipO';
/** Labels that make an object look like the operator's, a Registry's label included. */
const FORGED = { [Labels.managedBy]: MANAGED_BY, [Labels.registry]: 'main' };
const PAYLOAD = 'x'.repeat(256 * 1024);

interface Obj {
  metadata: { name: string; namespace?: string; resourceVersion?: string };
  status?: { conditions?: { type: string; status: string; reason: string; message: string }[] };
  data?: Record<string, string>;
}

let cp: ControlPlane;
let admin: KubeClient;
let op: RunningOperator | undefined;
let port: number;

async function create(resource: keyof typeof Resources, namespace: string, body: Record<string, unknown>): Promise<void> {
  const res = Resources[resource];
  await admin.request('POST', `${res.base}/namespaces/${namespace}/${res.plural}`, { body });
}

function get(resource: keyof typeof Resources, namespace: string, name: string): Promise<Obj | undefined> {
  return getIfExists<Obj>(admin, objectPath(Resources[resource], namespace, name));
}

const condition = (o: Obj | undefined, type = 'Ready') => o?.status?.conditions?.find((c) => c.type === type);

async function flood(namespace: string, prefix: string, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const metadata = { name: `${prefix}-${i}`, labels: FORGED };
    await create('configMaps', namespace, { apiVersion: 'v1', kind: 'ConfigMap', metadata, data: { 'snapshot.json': PAYLOAD } });
    await create('secrets', namespace, { apiVersion: 'v1', kind: 'Secret', metadata, stringData: { 'credentials.json': PAYLOAD } });
  }
}

/** Anyone's Deployment, with a pod template as large as the payload (env values are often secrets). */
async function deployment(namespace: string, name: string): Promise<void> {
  const labels = { app: name };
  const container = { name: 'app', image: 'example.invalid/app:1', env: [{ name: 'SETTINGS', value: PAYLOAD }] };
  await admin.request('POST', `/apis/apps/v1/namespaces/${namespace}/deployments`, {
    body: {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name, labels },
      spec: { selector: { matchLabels: labels }, template: { metadata: { labels }, spec: { containers: [container] } } },
    },
  });
}

function registry(name: string): Record<string, unknown> {
  return { apiVersion: API, kind: 'Registry', metadata: { name }, spec: { service: `${name}.example.com` } };
}

beforeAll(async () => {
  cp = await startControlPlane();
  admin = new KubeClient(cp.kubeConfig);
  await applyOperatorCrds(cp);
  for (const name of ['registry', 'elsewhere']) {
    await admin.request('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name } } });
  }
  // deploy/rbac: read cluster-wide, write only in `registry`.
  const r = await kubectl(cp, ['apply', '-f', 'deploy/rbac/operator.yaml']);
  if (r.code !== 0) throw new Error(`kubectl apply: ${r.stderr}`);
  await create('registries', 'registry', registry('main'));
  await create('secrets', 'registry', { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'alice-password' }, stringData: { htpasswd: HTPASSWD } });
  await create('registryUsers', 'registry', {
    apiVersion: API,
    kind: 'RegistryUser',
    metadata: { name: 'alice' },
    spec: { registryRef: { name: 'main' }, passwordSecretRef: { name: 'alice-password', key: 'htpasswd' } },
  });
  // A Registry where the operator may not write, with a user of its own.
  await create('registries', 'elsewhere', registry('stray'));
  await create('registryUsers', 'elsewhere', {
    apiVersion: API,
    kind: 'RegistryUser',
    metadata: { name: 'mallory' },
    spec: { registryRef: { name: 'stray' }, passwordSecretRef: { name: 'mallory-password', key: 'htpasswd' } },
  });
  await create('secrets', 'elsewhere', { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'mallory-password' }, stringData: { htpasswd: HTPASSWD } });
  // The flood that is there before the operator starts (what a restart loads).
  await flood('elsewhere', 'flood', 8);
  await deployment('elsewhere', 'theirs');
  await deployment('registry', 'ours');
  const operatorKc = (await cp.kubeconfigForServiceAccount('portcullis-system', 'portcullis-operator')).kubeConfig;
  port = await freePort();
  op = await startOperator({
    kubeConfig: operatorKc,
    log: pino({ level: process.env.PORTCULLIS_TEST_LOG ?? 'silent' }),
    leaderElect: false,
    registryNamespaces: ['registry'],
    metricsListen: { host: '127.0.0.1', port },
  });
}, 180_000);

afterAll(async () => {
  await op?.stop();
  admin?.close();
  await cp?.stop();
});

describe('operator --registry-namespaces', () => {
  it('publishes the served Registry while labelled objects elsewhere never reach its caches', async () => {
    const running = op!;
    await waitFor('Registry main Ready', async () => condition(await get('registries', 'registry', 'main'))?.status === 'True', 60_000);
    const snapshot = await get('configMaps', 'registry', 'portcullis-main-snapshot');
    expect(snapshot?.data?.['snapshot.json']).toContain('"alice"');
    // The keys controller works from the API server, in the served namespace.
    await waitFor('KeysReady', async () => condition(await get('registries', 'registry', 'main'), 'KeysReady')?.status === 'True', 60_000);

    // Objects labelled after the start arrive by the watch: they must not either.
    await flood('elsewhere', 'late', 2);
    await deployment('elsewhere', 'theirs-late');
    // A touch of the operator's own snapshot after the late flood: once a cache shows it, a watch of
    // all namespaces (one stream, in resourceVersion order) would have delivered the flood before it.
    const touched = await admin.request<Obj>('PATCH', objectPath(Resources.configMaps, 'registry', 'portcullis-main-snapshot'), {
      body: { metadata: { annotations: { 'test/touched': 'yes' } } },
      contentType: 'application/merge-patch+json',
    });
    const { configMaps, ownedSecrets, deployments } = running.caches;
    const seen = (o: Obj | undefined) => Number(o?.metadata.resourceVersion ?? 0) >= Number(touched.metadata.resourceVersion);
    await waitFor('the touch seen', async () => seen(configMaps.get('registry/portcullis-main-snapshot')), 10_000);

    const namespacesOf = (objects: { metadata: { namespace?: string } }[]) => [...new Set(objects.map((o) => o.metadata.namespace))];
    expect(namespacesOf(configMaps.list())).toEqual(['registry']);
    expect(namespacesOf(ownedSecrets.list())).toEqual(['registry']);
    expect(configMaps.get('elsewhere/flood-0')).toBeUndefined();
    expect(ownedSecrets.get('elsewhere/late-1')).toBeUndefined();
    // Deployments: a Registry's is in its own namespace, so nobody else's is cached.
    expect(namespacesOf(deployments.list())).toEqual(['registry']);
    expect(deployments.get('registry/ours')).toBeDefined();
    expect(deployments.get('elsewhere/theirs')).toBeUndefined();
    expect(deployments.get('elsewhere/theirs-late')).toBeUndefined();
    const cachedBytes = JSON.stringify([...configMaps.list(), ...ownedSecrets.list()]).length;
    expect(cachedBytes).toBeLessThan(PAYLOAD.length);
    // What the operator needs is there, with its data.
    expect(configMaps.get('registry/portcullis-main-snapshot')?.data?.['snapshot.json']).toContain('"alice"');
    expect(ownedSecrets.get('registry/portcullis-main-credentials')?.data).toBeDefined();
  });

  it('refuses a Registry outside the served namespaces, saying why, and writes nothing there', async () => {
    await waitFor('Registry stray refused', async () => condition(await get('registries', 'elsewhere', 'stray')) !== undefined, 30_000);
    const ready = condition(await get('registries', 'elsewhere', 'stray'));
    expect(ready).toMatchObject({ status: 'False', reason: 'RegistryNamespaceNotServed' });
    expect(ready?.message).toMatch(/--registry-namespaces.*elsewhere/);
    await waitFor('user mallory refused', async () => condition(await get('registryUsers', 'elsewhere', 'mallory')) !== undefined, 30_000);
    expect(condition(await get('registryUsers', 'elsewhere', 'mallory'))).toMatchObject({ status: 'False', reason: 'RegistryNotReady' });
    expect(await get('configMaps', 'elsewhere', 'portcullis-stray-snapshot')).toBeUndefined();
    expect(await get('secrets', 'elsewhere', 'portcullis-stray-credentials')).toBeUndefined();
    // The keys controller leaves it alone too: no signing Secret, no KeysReady.
    expect(await get('secrets', 'elsewhere', 'portcullis-stray-signing')).toBeUndefined();
    expect(condition(await get('registries', 'elsewhere', 'stray'), 'KeysReady')).toBeUndefined();
  });

  it('is ready: every namespace of the owned caches listed and watching', async () => {
    const res = await fetch(`http://127.0.0.1:${port}/readyz`);
    expect(res.status).toBe(200);
  });
});
