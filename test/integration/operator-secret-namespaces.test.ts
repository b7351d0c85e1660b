// The operator confined by --secret-namespaces, against a real API server and RBAC shaped as the chart
// renders it with operator.secretNamespaces: deploy/rbac's rules, except that Secrets are readable only by a
// RoleBinding in `registry` (where the Registry is) and `team-a` (listed). The Registry delegates to both
// team-a and team-b. A RegistryUser in team-a gets its hash and is Ready; one in team-b, delegated but not
// listed, is Ready=False, SecretNamespaceNotServed, naming what to set; the Secret metadata reaching the
// operator is only that of the two namespaces; and no request of the operator was refused as forbidden
// (it watches and reads nowhere its rights do not reach). team-a holds only password Secrets, over a
// hundred, so they are read with one LIST at the version team-a's own watch reached (not a version of
// several watches, which the API server would refuse, leaving them to a GET each).
import { readFile } from 'node:fs/promises';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOperator, type RunningOperator } from '../../operator/main.js';
import { getIfExists, KubeClient, objectPath, Resources } from '../../kube/request.js';
import { startControlPlane, type ControlPlane } from '../../local/controlPlane.js';
import { waitFor } from '../../local/process.js';
import { OperatorLogMessages } from '../../operator/log-messages.js';
import { forEachLimited } from '../../operator/controllers/for-each-limited.js';
import { serviceAccountMay } from '../support/access-review.js';
import { applyOperatorCrds } from '../support/crds.js';
import { applyOperatorRbacWithSecretsIn } from '../support/operator-rbac.js';

const API = 'portcullis.dev/v1alpha1';
const OPERATOR = { namespace: 'portcullis-system', name: 'portcullis-operator' };
const HTPASSWD = '$2y$04$qpWk4xMnvI3vbd3irWfnZeURM.f9S5N5AZw0FjrkJ3RJTGeW8yipO';

interface Obj {
  metadata: { name: string; namespace?: string };
  status?: { conditions?: { type: string; status: string; reason: string; message: string }[] };
  data?: Record<string, string>;
}
interface LogLine {
  level: number;
  msg: string;
  secretNamespaces?: string[];
}
/** Enough users, each with its own Secret, that team-a is read whole (password-hashes.ts bulkReadAt). */
const BULK = 110;

let cp: ControlPlane;
let admin: KubeClient;
let op: RunningOperator | undefined;
const lines: LogLine[] = [];
/** Every line the operator logs, as written. */
const raw: string[] = [];

async function create(resource: keyof typeof Resources, namespace: string, body: Record<string, unknown>): Promise<void> {
  const res = Resources[resource];
  await admin.request('POST', `${res.base}/namespaces/${namespace}/${res.plural}`, { body });
}

function get(resource: keyof typeof Resources, namespace: string, name: string): Promise<Obj | undefined> {
  return getIfExists<Obj>(admin, objectPath(Resources[resource], namespace, name));
}

const ready = async (namespace: string, name: string) => (await get('registryUsers', namespace, name))?.status?.conditions?.find((c) => c.type === 'Ready');

/** A delegated user of Registry registry/main, with its password Secret in its own namespace. */
async function tenantUser(namespace: string, name: string): Promise<void> {
  await create('secrets', namespace, { apiVersion: 'v1', kind: 'Secret', metadata: { name: `${name}-password` }, stringData: { htpasswd: HTPASSWD } });
  await create('registryUsers', namespace, {
    apiVersion: API,
    kind: 'RegistryUser',
    metadata: { name },
    spec: { registryRef: { name: 'main', namespace: 'registry' }, passwordSecretRef: { name: `${name}-password`, key: 'htpasswd' } },
  });
}

/** deploy/rbac, with the Secrets rule moved out of the cluster-wide role into RoleBindings in `namespaces`. */
beforeAll(async () => {
  // Who read which Secret, never its content: the bulk LIST and the GETs are told apart by the API server itself.
  cp = await startControlPlane({ auditLog: 'secret-reads' });
  admin = new KubeClient(cp.kubeConfig);
  await applyOperatorCrds(cp);
  for (const ns of [{ name: 'registry' }, { name: 'team-a', labels: { tenant: 'yes' } }, { name: 'team-b', labels: { tenant: 'yes' } }]) {
    await admin.request('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: ns } });
  }
  await applyOperatorRbacWithSecretsIn(cp, admin, ['registry', 'team-a']);
  // Delegated, but not among them.
  expect(await serviceAccountMay(admin, OPERATOR, { verb: 'list', group: '', resource: 'secrets', namespace: 'team-b' })).toBe(false);
  await create('registries', 'registry', {
    apiVersion: API,
    kind: 'Registry',
    metadata: { name: 'main' },
    spec: {
      service: 'registry.example.com',
      delegation: [{ namespaces: { from: 'Selector', selector: { matchLabels: { tenant: 'yes' } } }, repositories: ['${namespace}/**'] }],
    },
  });
  await tenantUser('team-a', 'alice');
  await tenantUser('team-b', 'bob');
  await forEachLimited(
    Array.from({ length: BULK }, (_, i) => `bulk-${i}`),
    16,
    (name) => tenantUser('team-a', name),
  );
  const operatorKc = (await cp.kubeconfigForServiceAccount(OPERATOR.namespace, OPERATOR.name)).kubeConfig;
  const log = pino(
    { level: 'debug' },
    {
      write: (line: string) => {
        raw.push(line);
        lines.push(JSON.parse(line) as LogLine);
      },
    },
  );
  op = await startOperator({ kubeConfig: operatorKc, log, leaderElect: false, registryNamespaces: ['registry'], secretNamespaces: ['team-a'] });
}, 180_000);

afterAll(async () => {
  await op?.stop();
  admin?.close();
  await cp?.stop();
});

describe('operator --secret-namespaces', () => {
  it('says at start where it reads Secrets: the listed namespaces and those holding Registries', () => {
    expect(lines.filter((l) => l.secretNamespaces !== undefined).map((l) => [l.level, l.msg, l.secretNamespaces])).toEqual([
      [30, OperatorLogMessages.secretNamespaces, ['registry', 'team-a']],
    ]);
    expect(lines.filter((l) => l.msg === OperatorLogMessages.secretsAnyNamespace)).toEqual([]);
  });

  it('gives a user in a listed namespace its hash: Ready, and in the published snapshot', async () => {
    await waitFor('alice Ready', async () => (await ready('team-a', 'alice'))?.status === 'True', 60_000);
    expect(await ready('team-a', 'alice')).toMatchObject({ status: 'True', reason: 'Compiled' });
    const snapshot = await get('configMaps', 'registry', 'portcullis-main-snapshot');
    expect(snapshot?.data?.['snapshot.json']).toContain('"alice"');
  });

  it("reads a namespace of password Secrets with one LIST at that namespace's own watch version", async () => {
    await waitFor('every bulk user Ready', async () => (await ready('team-a', `bulk-${BULK - 1}`))?.status === 'True', 60_000);
    expect(await ready('team-a', 'bulk-0')).toMatchObject({ status: 'True', reason: 'Compiled' });
    expect(lines.filter((l) => l.msg.startsWith('listing password Secrets failed'))).toEqual([]);
    const reads = (await readFile(cp.auditLogPath!, 'utf8'))
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as { verb: string; requestURI: string; user: { username: string }; objectRef?: { namespace?: string; name?: string } })
      .filter((e) => e.user.username === `system:serviceaccount:${OPERATOR.namespace}:${OPERATOR.name}` && e.objectRef?.namespace === 'team-a');
    // The LIST at team-a's own watch version happened, and no bulk user's Secret needed a GET of its own.
    expect(reads.filter((e) => e.verb === 'list' && e.requestURI.includes('resourceVersionMatch=Exact'))).not.toEqual([]);
    expect(reads.filter((e) => e.verb === 'get' && e.objectRef?.name?.startsWith('bulk-'))).toEqual([]);
  });

  it('refuses a delegated user in a namespace not listed, SecretNamespaceNotServed, saying what to set', async () => {
    await waitFor('bob refused', async () => (await ready('team-b', 'bob')) !== undefined, 60_000);
    const refused = await ready('team-b', 'bob');
    expect(refused).toMatchObject({ status: 'False', reason: 'SecretNamespaceNotServed' });
    expect(refused?.message).toMatch(/--secret-namespaces.*add team-b to operator\.secretNamespaces/);
    // Which other namespaces are listed is no business of team-b's.
    expect(refused?.message).not.toContain('team-a');
    expect(refused?.message).not.toContain(HTPASSWD);
    const snapshot = await get('configMaps', 'registry', 'portcullis-main-snapshot');
    expect(snapshot?.data?.['snapshot.json']).not.toContain('"bob"');
  });

  it("holds only the listed namespaces' Secret metadata, and no request of its was forbidden", async () => {
    await waitFor('bob refused', async () => (await ready('team-b', 'bob')) !== undefined, 60_000);
    const { secretMetadata } = op!.caches;
    expect([...new Set(secretMetadata.list().map((s) => s.metadata.namespace))].sort()).toEqual(['registry', 'team-a']);
    expect(secretMetadata.get('team-a/alice-password')).toBeDefined();
    expect(secretMetadata.get('team-b/bob-password')).toBeUndefined();
    expect(raw.filter((line) => /forbidden/i.test(line))).toEqual([]);
    expect(raw.filter((line) => line.includes(HTPASSWD))).toEqual([]);
  });
});
