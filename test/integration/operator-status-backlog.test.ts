// A first start's status backlog does not hold up a change made meanwhile: the operator, writing one
// status at a time (so the backlog of a few hundred lasts long enough to act during it), publishes a
// grant created mid-backlog and writes its status while statuses of the backlog are still unwritten.
// What is asserted is the order (the late grant's status before the backlog's last), never a duration;
// and that the drained backlog sends the Registry round once more.
import { pino } from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { KubeClient, type OpenWatch } from '../../kube/request.js';
import { startControlPlane, type ControlPlane } from '../../local/controlPlane.js';
import { waitFor } from '../../local/process.js';
import { startOperator, type RunningOperator } from '../../operator/main.js';
import { OperatorLogMessages } from '../../operator/log-messages.js';
import { applyOperatorCrds } from '../support/crds.js';

const API = 'portcullis.dev/v1alpha1';
const GROUP = '/apis/portcullis.dev/v1alpha1';
const NS = 'backlog';
const BACKLOG = 300;
// A pre-computed bcrypt hash (of "secret"): no bcrypt work for the operator.
const HTPASSWD = '$2y$04$qpWk4xMnvI3vbd3irWfnZeURM.f9S5N5AZw0FjrkJ3RJTGeW8yipO';

let cp: ControlPlane;
let admin: KubeClient;
let operator: RunningOperator | undefined;
let watch: OpenWatch | undefined;

beforeAll(async () => {
  cp = await startControlPlane();
  admin = new KubeClient(cp.kubeConfig);
  await applyOperatorCrds(cp);
  await admin.request('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } } });
  await admin.request('POST', `/api/v1/namespaces/${NS}/secrets`, {
    body: { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'pw' }, stringData: { htpasswd: HTPASSWD } },
  });
  await admin.request('POST', `${GROUP}/namespaces/${NS}/registries`, {
    body: { apiVersion: API, kind: 'Registry', metadata: { name: 'main' }, spec: { service: 'backlog.example.com' } },
  });
  await admin.request('POST', `${GROUP}/namespaces/${NS}/registryusers`, {
    body: {
      apiVersion: API,
      kind: 'RegistryUser',
      metadata: { name: 'dev' },
      spec: { registryRef: { name: 'main' }, passwordSecretRef: { name: 'pw', key: 'htpasswd' } },
    },
  });
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < BACKLOG) await admin.request('POST', `${GROUP}/namespaces/${NS}/repositorygrants`, { body: grant(`g-${next++}`) });
    }),
  );
}, 180_000);

afterAll(async () => {
  watch?.abort();
  await operator?.stop();
  await cp?.stop();
});

function grant(name: string): Record<string, unknown> {
  return {
    apiVersion: API,
    kind: 'RepositoryGrant',
    metadata: { name },
    spec: { registryRef: { name: 'main' }, subjects: [{ kind: 'User', name: 'dev' }], repositories: [`${name}/app`], actions: ['pull'] },
  };
}

it('writes the status of a grant created during a first start backlog before the backlog is done, with the grant published', async () => {
  const since = (await admin.get<{ metadata: { resourceVersion: string } }>(`${GROUP}/namespaces/${NS}/repositorygrants`, { limit: 1 })).metadata
    .resourceVersion;
  /** Grant names in the order their Ready status arrived. */
  const ready: string[] = [];
  watch = await admin.watch(`${GROUP}/namespaces/${NS}/repositorygrants`, { resourceVersion: since }, (_type, object) => {
    const o = object as { metadata: { name: string }; status?: { conditions?: { type: string; status: string }[] } };
    if (!ready.includes(o.metadata.name) && o.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')) ready.push(o.metadata.name);
  });

  // At debug, for the lines that tell a drained backlog and the reconcile it calls for.
  const lines: { msg: string }[] = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line) as { msg: string }) });
  operator = await startOperator({ kubeConfig: cp.kubeConfig, log, leaderElect: false, statusWriteConcurrency: 1, statusesDrainedAfter: 100 });
  await waitFor('the backlog under way', () => Promise.resolve(ready.length >= 10), 120_000);
  await admin.request('POST', `${GROUP}/namespaces/${NS}/repositorygrants`, { body: grant('late') });
  await waitFor('the late grant Ready', () => Promise.resolve(ready.includes('late')), 120_000);
  const backlogWrittenBefore = ready.indexOf('late');
  expect(backlogWrittenBefore).toBeLessThan(BACKLOG);

  // Published: the Registry's status counts it (written with the snapshot's generation, after the publish).
  await waitFor(
    'the Registry counting the late grant',
    async () => (await admin.get<{ status?: { grants?: number } }>(`${GROUP}/namespaces/${NS}/registries/main`)).status?.grants === BACKLOG + 1,
    120_000,
  );
  // And the backlog is still written, every grant once.
  await waitFor('every status written', () => Promise.resolve(ready.length === BACKLOG + 1), 300_000);
  expect(new Set(ready).size).toBe(BACKLOG + 1);

  // Once drained, the Registry is reconciled again, so the next change's reconcile need not take in
  // the backlog's answers.
  const drainedAt = (): number => lines.findIndex((l) => l.msg === OperatorLogMessages.statusesDrained);
  await waitFor('the drained backlog reported', () => Promise.resolve(drainedAt() >= 0), 60_000);
  await waitFor('a reconcile after the drain', () => Promise.resolve(lines.slice(drainedAt()).some((l) => l.msg === OperatorLogMessages.reconciled)), 60_000);
}, 600_000);
