// The operator against a real API server, with only the permissions deploy/rbac/operator.yaml grants:
// it publishes snapshot ConfigMaps and credentials Secrets owned by the Registry, writes statuses that
// explain themselves, stays silent across a restart, shards a >1 MiB snapshot that the token server's
// Kubernetes source reads back whole, and hands over leadership when the leader stops.
import { readFile } from 'node:fs/promises';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MANIFEST_KEY, parseManifest } from '../../wire/chunked.js';
import { startOperator, type OperatorOptions, type RunningOperator } from '../../operator/main.js';
import { collectionPath, KubeClient, objectPath, Resources, isNotFound } from '../../kube/request.js';
import { kubernetesSources } from '../../token-server/sources/kubernetes.js';
import { kubectl, startControlPlane, type ControlPlane } from '../../local/controlPlane.js';
import { freePort, waitFor } from '../../local/process.js';
import type { KubeConfig } from '@kubernetes/client-node';
import { applyOperatorCrds } from '../support/crds.js';

const API = 'portcullis.dev/v1alpha1';
// A pre-computed bcrypt hash (of "secret"): users in bulk need no bcrypt work from the operator.
const HTPASSWD = '$2y$04$qpWk4xMnvI3vbd3irWfnZeURM.f9S5N5AZw0FjrkJ3RJTGeW8yipO';

interface Obj {
  metadata: {
    name: string;
    namespace?: string;
    resourceVersion?: string;
    generation?: number;
    ownerReferences?: { uid: string; controller?: boolean; kind: string }[];
    uid?: string;
  };
  status?: { observedGeneration?: number; conditions?: { type: string; status: string; reason: string }[]; users?: number };
  data?: Record<string, string>;
}

let cp: ControlPlane;
let admin: KubeClient;
let operatorKc: KubeConfig;
const running: RunningOperator[] = [];
const log = pino({ level: process.env.PORTCULLIS_TEST_LOG ?? 'silent' });

async function create(resource: keyof typeof Resources, namespace: string, body: Record<string, unknown>): Promise<void> {
  const res = Resources[resource];
  await admin.request('POST', `${res.base}/namespaces/${namespace}/${res.plural}`, { body });
}

async function get(resource: keyof typeof Resources, namespace: string, name: string): Promise<Obj | undefined> {
  try {
    return await admin.get<Obj>(objectPath(Resources[resource], namespace, name));
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

function ready(o: Obj | undefined): { status: string; reason: string } | undefined {
  return o?.status?.conditions?.find((c) => c.type === 'Ready');
}

async function operator(extra: Partial<OperatorOptions> = {}): Promise<RunningOperator> {
  const op = await startOperator({
    kubeConfig: operatorKc,
    log,
    // deploy/rbac's write Role is bound in these two (beforeAll).
    registryNamespaces: ['registry', 'big'],
    leaseNamespace: 'portcullis-system',
    leaseDurationMs: 3000,
    renewDeadlineMs: 2000,
    retryPeriodMs: 500,
    ...extra,
  });
  running.push(op);
  return op;
}

async function stopOperator(op: RunningOperator): Promise<void> {
  await op.stop();
  running.splice(running.indexOf(op), 1);
}

beforeAll(async () => {
  cp = await startControlPlane();
  admin = new KubeClient(cp.kubeConfig);
  await applyOperatorCrds(cp);
  for (const ns of [{ name: 'registry' }, { name: 'team-a', labels: { team: 'a' } }, { name: 'big' }]) {
    await admin.request('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: ns } });
  }
  // The RBAC as deploy/rbac writes it (the operator writes where Registries are: `registry`), plus the
  // same write binding in `big`, the other namespace here that holds a Registry.
  for (const args of [
    ['apply', '-f', 'deploy/rbac/operator.yaml'],
    [
      'create',
      'rolebinding',
      'portcullis-operator-registry',
      '-n',
      'big',
      '--clusterrole=portcullis-operator-registry',
      '--serviceaccount=portcullis-system:portcullis-operator',
    ],
  ]) {
    const r = await kubectl(cp, args);
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
  }
  operatorKc = (await cp.kubeconfigForServiceAccount('portcullis-system', 'portcullis-operator')).kubeConfig;
  await create('registries', 'registry', {
    apiVersion: API,
    kind: 'Registry',
    metadata: { name: 'main' },
    spec: {
      service: 'registry.example.com',
      delegation: [{ namespaces: { from: 'Selector', selector: { matchLabels: { team: 'a' } } }, repositories: ['${namespace}/**'] }],
    },
  });
  await create('secrets', 'registry', { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'alice-password' }, stringData: { password: 'alice-secret' } });
  await create('registryUsers', 'registry', {
    apiVersion: API,
    kind: 'RegistryUser',
    metadata: { name: 'alice' },
    spec: { registryRef: { name: 'main' }, passwordSecretRef: { name: 'alice-password' }, groups: ['team-a'] },
  });
  await create('registryUsers', 'registry', {
    apiVersion: API,
    kind: 'RegistryUser',
    metadata: { name: 'bob' },
    spec: { registryRef: { name: 'main' }, passwordSecretRef: { name: 'bob-password' } },
  });
  await create('repositoryGrants', 'registry', {
    apiVersion: API,
    kind: 'RepositoryGrant',
    metadata: { name: 'team-a-write' },
    spec: { registryRef: { name: 'main' }, subjects: [{ kind: 'Group', name: 'team-a' }], repositories: ['team-a/**'], actions: ['pull', 'push'] },
  });
  await create('repositoryGrants', 'team-a', {
    apiVersion: API,
    kind: 'RepositoryGrant',
    metadata: { name: 'sneaky' },
    spec: { registryRef: { name: 'main', namespace: 'registry' }, subjects: [{ kind: 'Authenticated' }], repositories: ['team-b/**'], actions: ['pull'] },
  });
}, 180_000);

afterAll(async () => {
  for (const op of [...running]) await op.stop();
  admin?.close();
  await cp?.stop();
});

describe('operator', () => {
  it('publishes the snapshot and credentials owned by the Registry and writes explaining statuses', async () => {
    await operator();
    await waitFor('Registry main Ready', async () => ready(await get('registries', 'registry', 'main'))?.status === 'True', 60_000);
    const registry = (await get('registries', 'registry', 'main'))!;
    expect(registry.status?.observedGeneration).toBe(registry.metadata.generation);

    const cm = (await get('configMaps', 'registry', 'portcullis-main-snapshot'))!;
    expect(cm.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'Registry', uid: registry.metadata.uid, controller: true })]);
    const snapshot = JSON.parse(cm.data!['snapshot.json']!) as { registries: { users: { username: string }[] }[] };
    // bob's Secret does not exist yet: he is left out of the snapshot until it does.
    expect(snapshot.registries[0]!.users.map((u) => u.username)).toEqual(['alice']);
    expect(parseManifest(cm.data![MANIFEST_KEY]!).files['snapshot.json']!.encoding).toBe('inline');
    expect(JSON.stringify(cm.data)).not.toContain('$2');

    const secret = (await get('secrets', 'registry', 'portcullis-main-credentials'))!;
    expect(secret.metadata.ownerReferences?.[0]?.uid).toBe(registry.metadata.uid);
    const credentials = JSON.parse(Buffer.from(secret.data!['credentials.json']!, 'base64').toString()) as {
      registries: Record<string, Record<string, string>>;
    };
    expect(Object.keys(credentials.registries['registry/main'] ?? {})).toEqual(['alice']);

    await waitFor(
      'user and grant statuses',
      async () => ready(await get('repositoryGrants', 'team-a', 'sneaky')) !== undefined && ready(await get('registryUsers', 'registry', 'bob')) !== undefined,
      30_000,
    );
    const alice = (await get('registryUsers', 'registry', 'alice'))!;
    expect(ready(alice)?.status).toBe('True');
    expect(alice.status?.observedGeneration).toBe(alice.metadata.generation);
    expect(ready(await get('registryUsers', 'registry', 'bob'))).toMatchObject({ status: 'False', reason: 'SecretNotFound' });
    expect(ready(await get('repositoryGrants', 'team-a', 'sneaky'))).toMatchObject({ status: 'False', reason: 'OutsideDelegatedPrefix' });
    expect(ready(await get('repositoryGrants', 'registry', 'team-a-write'))?.status).toBe('True');

    // Each status's Event follows it (written once no status waits): what kubectl describe shows.
    const eventsOf = async (namespace: string, name: string) =>
      (await admin.get<{ items: { type: string; reason: string; regarding: { name: string } }[] }>(collectionPath(Resources.events, namespace))).items
        .filter((e) => e.regarding.name === name)
        .map((e) => `${e.type}/${e.reason}`);
    await waitFor(
      'the Events after the statuses',
      async () => (await eventsOf('team-a', 'sneaky')).length > 0 && (await eventsOf('registry', 'alice')).length > 0,
      30_000,
    );
    expect(await eventsOf('team-a', 'sneaky')).toEqual(['Warning/OutsideDelegatedPrefix']);
    expect(await eventsOf('registry', 'alice')).toEqual([`Normal/${ready(alice)!.reason}`]);
  });

  it('serves /healthz and /readyz (with what is wrong, if anything) and counts reconciles per controller', async () => {
    const port = await freePort();
    const op = await operator({ metricsListen: { host: '127.0.0.1', port }, leaderElect: false });
    try {
      const get = async (path: string) => {
        const res = await fetch(`http://127.0.0.1:${port}${path}`);
        return { status: res.status, text: await res.text() };
      };
      await waitFor('ready', async () => (await get('/readyz')).status === 200, 30_000);
      expect(JSON.parse((await get('/healthz')).text)).toEqual({ ok: true, problems: [] });
      await waitFor(
        'both controllers reconciled',
        async () => {
          const text = (await get('/metrics')).text;
          return (
            /portcullis_operator_reconcile_total\{controller="registry",result="success"\} [1-9]/.test(text) &&
            /portcullis_operator_reconcile_total\{controller="keys",result="success"\} [1-9]/.test(text)
          );
        },
        30_000,
      );
    } finally {
      await stopOperator(op);
    }
  });

  it('writes nothing when restarted over an unchanged cluster', async () => {
    const names: [keyof typeof Resources, string, string][] = [
      ['configMaps', 'registry', 'portcullis-main-snapshot'],
      ['secrets', 'registry', 'portcullis-main-credentials'],
      ['registries', 'registry', 'main'],
      ['registryUsers', 'registry', 'alice'],
      ['registryUsers', 'registry', 'bob'],
      ['repositoryGrants', 'team-a', 'sneaky'],
    ];
    const versions = async () => Promise.all(names.map(async ([r, ns, n]) => (await get(r, ns, n))?.metadata.resourceVersion));
    const before = await versions();
    await stopOperator(running[0]!);
    const op = await operator();
    await waitFor('new operator leads', async () => op.isLeader(), 15_000);
    // Give the new leader time to sync and reconcile everything once.
    await new Promise((r) => setTimeout(r, 4000));
    expect(await versions()).toEqual(before);
  });

  it('publishes a password change and a newly created Secret', async () => {
    await create('secrets', 'registry', {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'bob-password' },
      stringData: { password: 'bob-secret', htpasswd: HTPASSWD },
    });
    await waitFor('bob Ready', async () => ready(await get('registryUsers', 'registry', 'bob'))?.status === 'True', 30_000);
    const secret = (await get('secrets', 'registry', 'portcullis-main-credentials'))!;
    const credentials = JSON.parse(Buffer.from(secret.data!['credentials.json']!, 'base64').toString()) as {
      registries: Record<string, Record<string, string>>;
    };
    expect(Object.keys(credentials.registries['registry/main'] ?? {})).toEqual(['alice', 'bob']);
  });

  it("puts back a published ConfigMap that someone else edits or deletes (its own writes' echoes are skipped, no one else's)", async () => {
    const published = (await get('configMaps', 'registry', 'portcullis-main-snapshot'))!;
    const original = published.data!;
    const [file] = Object.keys(original);
    await admin.request('PATCH', objectPath(Resources.configMaps, 'registry', 'portcullis-main-snapshot'), {
      body: { data: { [file!]: '{"format":"tampered"}' } },
      contentType: 'application/merge-patch+json',
    });
    await waitFor(
      'the edited snapshot put back',
      async () => JSON.stringify((await get('configMaps', 'registry', 'portcullis-main-snapshot'))?.data) === JSON.stringify(original),
      30_000,
    );
    await admin.request('DELETE', objectPath(Resources.configMaps, 'registry', 'portcullis-main-snapshot'));
    await waitFor(
      'the deleted snapshot written again',
      async () => JSON.stringify((await get('configMaps', 'registry', 'portcullis-main-snapshot'))?.data) === JSON.stringify(original),
      30_000,
    );
  });

  it('splits a snapshot above 1 MiB into shards that the Kubernetes source reads back whole', async () => {
    const USERS = 9000;
    await create('registries', 'big', { apiVersion: API, kind: 'Registry', metadata: { name: 'big' }, spec: { service: 'big.example.com' } });
    await create('secrets', 'big', { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'shared' }, stringData: { htpasswd: HTPASSWD } });
    const names = Array.from({ length: USERS }, (_, i) => `user-${String(i).padStart(5, '0')}-with-a-rather-long-name`);
    for (let i = 0; i < names.length; i += 100) {
      await Promise.all(
        names.slice(i, i + 100).map((name) =>
          create('registryUsers', 'big', {
            apiVersion: API,
            kind: 'RegistryUser',
            metadata: { name },
            spec: { registryRef: { name: 'big' }, passwordSecretRef: { name: 'shared', key: 'htpasswd' }, groups: ['bulk', 'everyone'] },
          }),
        ),
      );
    }
    await waitFor(
      'big snapshot with every user',
      async () => {
        const r = await get('registries', 'big', 'big');
        return ready(r)?.status === 'True' && r?.status?.users === USERS;
      },
      // Creating 9,000 objects and compiling them takes 1-2 minutes on a busy 2-core machine (the fresh-clone
      // run met the old 150 s while another suite ran); nothing here measures time.
      300_000,
    );
    const main = (await get('configMaps', 'big', 'portcullis-big-snapshot'))!;
    const manifest = parseManifest(main.data![MANIFEST_KEY]!);
    // Past the inline limit the snapshot is split into a head and shards (policy/snapshot-shards.ts), each gzipped in its own ConfigMap.
    expect(manifest.files['snapshot.json']).toBeUndefined();
    expect(Object.keys(manifest.files)).toContain('head.json');
    expect(Object.keys(manifest.files).filter((f) => f.startsWith('users-'))).toHaveLength(16);
    expect(main.data!['snapshot.json']).toBeUndefined();
    for (const file of Object.values(manifest.files)) {
      expect(file.encoding).toBe('gzip');
      for (const part of file.parts) expect(await get('configMaps', 'big', part.name)).toBeDefined();
    }

    // The token server reads with exactly what deploy/rbac/token-server.yaml grants, in namespace `big`.
    const rbac = (await readFile('deploy/rbac/token-server.yaml', 'utf8'))
      .replaceAll('namespace: registry', 'namespace: big')
      .replaceAll('portcullis-main-', 'portcullis-big-');
    const applied = await kubectl(cp, ['apply', '-f', '-'], rbac);
    expect(applied.stderr).toBe('');
    const tokenKc = (await cp.kubeconfigForServiceAccount('big', 'portcullis-token-server')).kubeConfig;
    const sources = kubernetesSources({ kubeConfig: tokenKc, namespace: 'big', registry: 'big' });
    const rejected: string[] = [];
    sources.policy.onRejected((reason) => rejected.push(reason));
    try {
      await sources.start();
      await waitFor(
        'policy loaded',
        async () => sources.policy.current() !== undefined,
        30_000,
        () => rejected.join('\n'),
      );
      const state = sources.policy.current()!;
      expect(state.generation).toBe(manifest.generation);
      const loaded = state.registries.get('big.example.com')!;
      expect(loaded.policy.users).toHaveLength(USERS);
      expect(loaded.credentials.size).toBe(USERS);
      expect(Buffer.byteLength(JSON.stringify(loaded.policy))).toBeGreaterThan(1024 * 1024);
    } finally {
      await sources.close();
    }
  }, 360_000);

  it('fails over to the second operator when the leader stops', async () => {
    const first = running[0]!;
    const second = await operator();
    await new Promise((r) => setTimeout(r, 1500));
    expect(first.isLeader()).toBe(true);
    expect(second.isLeader()).toBe(false);
    await stopOperator(first);
    await waitFor('second operator leads', async () => second.isLeader(), 10_000);
    await create('registryUsers', 'registry', {
      apiVersion: API,
      kind: 'RegistryUser',
      metadata: { name: 'carol' },
      spec: { registryRef: { name: 'main' }, passwordSecretRef: { name: 'bob-password', key: 'htpasswd' } },
    });
    await waitFor(
      'carol published by the new leader',
      async () => {
        const cm = await get('configMaps', 'registry', 'portcullis-main-snapshot');
        return (cm?.data?.['snapshot.json'] ?? '').includes('"carol"');
      },
      30_000,
    );
  });
});
